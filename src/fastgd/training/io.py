"""Saving and loading models and training checkpoints, without pickle.

File format (version 1): a NumPy ``.npz`` archive (``numpy.load(..., allow_pickle=False)`` reads
it) holding

- ``__meta__``: a UTF-8 JSON document as a uint8 array: ``{"format": "fastgd-model" or
  "fastgd-checkpoint", "version": 1, "model": {"dtype", "layers": [Dense configs]}, "loss": loss
  config or null, ...}``; for checkpoints also the optimizer and schedule configs, the
  non-array parts of their states, and the History;
- ``params``: the model's flat parameter arena (layout: every W, then every b);
- ``state/<key>``: the arrays of the optimizer, schedule, early-stopping and callback states
  (checkpoints only; the early stopping's, ``state/early_stopping/...``, are its best
  parameters; the callbacks', ``state/callbacks/<n>``, are numbered in the order written).

A checkpoint's ``early_stopping`` entry (``{"config", "state"}``, as the schedule's) and its
``callbacks`` entry (a list of ``{"key", "index", "state"}``: a callback's ``state_key``, its
index among the callbacks of that key, and its non-empty ``state_dict()``) are absent from files
written before they were saved, and where there was nothing to save. Files written before the
callbacks' states were saved hold a ``model_checkpoints`` entry instead (the ``{"monitor",
"mode", "best"}`` states of ``save_best_only`` ModelCheckpoints, one for each monitor and mode),
which is still read.

Writes go to a temporary file in the same directory, then an atomic rename, so a crash never
leaves a half-written file under the final name. Loading reads only the entries it needs, one
at a time: the format tag, the version and the JSON first, then the sizes the JSON declares
(capped) against each entry's declared size and .npy header, and only then the data, so a
hostile file cannot make it allocate more than the model it describes; anything unexpected
raises :class:`FileFormatError`. Nothing in a file is ever executed.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import secrets
import stat
import struct
import sys
import tokenize
import zipfile
import zlib

from typing import TYPE_CHECKING, Iterable

import numpy as np

from fastgd import _validation
from fastgd.nn.layers import MAX_PARAMS, MAX_WIDTH

if TYPE_CHECKING:
    from fastgd.nn.model import Sequential
    from fastgd.optim import Optimizer
    from fastgd.optim.schedules import Schedule
    from fastgd.training import History
    from fastgd.training.callbacks import Callback, EarlyStopping, ModelCheckpoint

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "Checkpoint", "FileFormatError", "FORMAT_VERSION"]

FORMAT_VERSION = 1

# Sanity caps on what a file may declare, checked before anything is allocated (with the
# model's own caps on widths and parameters, MAX_WIDTH and MAX_PARAMS).
_MAX_META_BYTES = 64 << 20          # the JSON document (History of a long run included)
_MAX_JSON_DEPTH = 64                # nesting of the JSON document
# Python's objects for a JSON document take many times its bytes: an empty object ("{}", two
# bytes) becomes a dict of 64, so the document's lists and objects are counted before it is
# parsed (a model of _MAX_LAYERS layers and its state need a few per layer)
_MAX_JSON_CONTAINERS = 200_000
# a compressed entry may expand at most this much beyond the slack (fastgd stores its entries
# uncompressed; the numbers of a model compress little): deflated zeros expand a thousandfold,
# and a file of a few kilobytes declaring a large model made load allocate gigabytes
_MAX_EXPANSION, _EXPANSION_SLACK = 16, 4 << 20
_MAX_LAYERS = 10_000
_NPY_HEADER_BYTES = 1 << 16         # room for an .npy header (its largest standard size)
# zipfile builds an object per entry of the central directory when it opens an archive: a file
# declaring a million entries took 750 MB; fastgd's files hold a few dozen
_MAX_ZIP_ENTRIES, _MAX_ZIP_DIRECTORY_BYTES = 10_000, 4 << 20
# a state nests at most this many dicts and lists: each takes two levels of the JSON document
# (its {"__dict__": ...} or {"__list__": ...} wrapper), below the three of a callback's entry
# (document, list, entry), its values one more
_MAX_STATE_NESTING = (_MAX_JSON_DEPTH - 4) // 2
# the arrays of the callbacks' states together: as many bytes as this many copies of the model's
# parameters (an early stopping's best parameters are one), and 1 MiB for small arrays
_CALLBACK_STATE_PARAMS = 8
# an int of at most this many bits has fewer than 640 decimal digits, below any limit Python may set
_INT_DIGITS_BITS = 2048


class FileFormatError(ValueError):
    """A file is not a fastgd file, is truncated or corrupted, or has an unsupported version."""


def _save_path(path):
    """The file ``save(path)`` writes: ``path`` with ``.npz`` appended unless it ends so
    (numpy.savez's rule)."""
    path = _validation.path("path", path)
    return path if path.endswith(".npz") else path + ".npz"


def _load_path(path):
    """The file ``load(path)`` reads: the one ``save(path)`` writes, else ``path`` itself."""
    candidate = _save_path(path)
    path = os.fspath(path)
    if os.path.exists(candidate) or not os.path.exists(path):
        return candidate
    return path


def _atomic_savez(path, arrays):
    """Write the archive to a new file beside the target, then rename it over the target, as
    ``open(path, "wb")`` would see it: the mode follows the umask (or the replaced file's mode),
    a symbolic link is written through (its target is replaced, the link stays), and errors name
    ``path``."""
    path = _save_path(path)
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, path) from None
    try:
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        except FileNotFoundError:
            pass  # a new file: os.open applied the umask
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _meta_array(path, meta):
    """``meta`` as the ``__meta__`` entry of the file ``path``; ValueError, before anything is
    written, when loading the file would refuse it (the limits :func:`_read` and
    :func:`_model_size` apply): a file fastgd writes is one it reads back."""
    layers = len(meta["model"]["layers"])
    if layers > _MAX_LAYERS:
        raise ValueError(f"cannot save {path}: the model has {layers} layers, more than the {_MAX_LAYERS} "
                         f"fastgd loads")
    if _depth(meta, _MAX_JSON_DEPTH) > _MAX_JSON_DEPTH:
        raise ValueError(f"cannot save {path}: its description nests deeper than the {_MAX_JSON_DEPTH} levels "
                         f"fastgd loads")
    raw = np.frombuffer(json.dumps(meta, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    if raw.size > _MAX_META_BYTES:
        raise ValueError(f"cannot save {path}: its description (model, optimizer and schedule states, history) "
                         f"takes {raw.size} bytes of JSON, more than the {_MAX_META_BYTES} fastgd loads; "
                         f"save a shorter history (or none)")
    containers = _containers(raw)
    if containers > _MAX_JSON_CONTAINERS:
        raise ValueError(f"cannot save {path}: its description (callbacks' states, history) holds {containers} "
                         f"lists and objects of JSON (each '{{' and '[', in strs too), more than the "
                         f"{_MAX_JSON_CONTAINERS} fastgd loads")
    return raw


def _containers(raw):
    """The lists and objects of the JSON bytes ``raw``, as loading bounds them before parsing:
    every '{' and '[' (those inside strings too)."""
    return int(np.count_nonzero(raw == ord("{"))) + int(np.count_nonzero(raw == ord("[")))


def _depth(obj, limit):
    """Nesting depth of a parsed JSON value, stopping early past `limit`."""
    stack, deepest = [(obj, 1)], 0
    while stack:
        value, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            break
        if isinstance(value, dict):
            stack.extend((v, d + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, d + 1) for v in value)
    return deepest


class _Archive:
    """The entries of an .npz file, read one at a time on demand: each entry's declared size is
    checked against a bound before it is read, each .npy header against the expected dtype and
    shape before its data is allocated. Every problem is a FileFormatError."""

    def __init__(self, path, zf, file_bytes):
        self.path, self.zf, self.file_bytes = path, zf, file_bytes
        self.taken = set()  # entries read so far: each is read at most once

    def _info(self, name):
        try:
            return self.zf.getinfo(name + ".npy")
        except KeyError:
            return None

    def has(self, name):
        return self._info(name) is not None

    def read(self, name, max_bytes, check=None):
        """Entry `name` as an array; `check(dtype, shape)` may reject the header (raising
        FileFormatError) before the data is read."""
        info = self._info(name)
        if info is None:
            raise FileFormatError(f"{self.path}: missing array entry {name!r}")
        if name in self.taken:
            # fastgd writes every array once: a description naming an entry again would copy it
            # again, as many times as the JSON can name it
            raise FileFormatError(f"{self.path}: array entry {name!r} is named more than once")
        self.taken.add(name)
        if info.file_size > max_bytes + _NPY_HEADER_BYTES:
            raise FileFormatError(f"{self.path}: entry {name!r} declares {info.file_size} bytes, more than "
                                  f"the {max_bytes} its description allows")
        # what it is compressed from is no more than the file holds, whatever the entry declares
        packed = min(info.compress_size, self.file_bytes)
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > _MAX_EXPANSION * packed + _EXPANSION_SLACK:
            raise FileFormatError(f"{self.path}: entry {name!r} expands from {packed} to {info.file_size} bytes, "
                                  f"more than the entries of a fastgd file do")
        with self.zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise FileFormatError(f"{self.path}: entry {name!r} has .npy version {version}")
            if dtype.hasobject or dtype.kind not in "biuf" or fortran and len(shape) > 1:
                raise FileFormatError(f"{self.path}: entry {name!r} has dtype {dtype}"
                                      f"{' in Fortran order' if fortran else ''}; expected plain numbers")
            if check is not None:
                check(dtype, shape)
            count = 1
            for dim in shape:
                count *= dim
            nbytes = count * dtype.itemsize
            if nbytes > max_bytes or nbytes > info.file_size:
                raise FileFormatError(f"{self.path}: entry {name!r} declares shape {shape} ({nbytes} bytes) "
                                      f"in an entry of {info.file_size} bytes (at most {max_bytes} expected)")
            data = f.read(nbytes)
        if len(data) != nbytes:
            raise FileFormatError(f"{self.path}: entry {name!r} is truncated")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


# tokenize.TokenError: NumPy reads an .npy header that is no Python literal again through
# tokenize (to drop Python 2's long suffixes), which raises it for an unclosed bracket.
# SyntaxError: NumPy parses a header's comma-separated dtype string ("<,4", "f4,,f4") with
# ast.literal_eval, which raises it for one that is no Python expression
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
               RuntimeError, NotImplementedError, KeyError, TypeError, OverflowError, tokenize.TokenError,
               SyntaxError)


def _zip_directory(f):
    """(entries, bytes) of the zip central directory that the end record at the end of the
    open file `f` declares (its zip64 record's when a locator precedes it), read as zipfile finds it;
    None when there is no end record (zipfile then refuses the file)."""
    size = f.seek(0, os.SEEK_END)
    tail_len = min(size, 22 + 0xFFFF)  # the end record and the longest comment
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries, nbytes = struct.unpack_from("<HI", tail, at + 10)
    if at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":
        # zipfile then takes the zip64 record's counts: the record right before the locator, or
        # (newer versions) at the offset the locator gives; the larger of the two counts
        end = size - tail_len + at - 20
        (offset,) = struct.unpack_from("<Q", tail, at - 12)
        found = []
        for where in {end - 56, offset}:
            if 0 <= where and where + 56 <= size:
                f.seek(where)
                record = f.read(56)
                if record[:4] == b"PK\x06\x06":
                    found.append(struct.unpack_from("<QQ", record, 32))
        if found:
            entries, nbytes = max(c[0] for c in found), max(c[1] for c in found)
    return entries, nbytes


def _open_zip(path):
    """(path read, open file, ZipFile); a path that does not exist raises FileNotFoundError."""
    path = _load_path(path)
    # opened without blocking (a FIFO would wait for a writer) and refused unless a regular file:
    # a device such as /dev/zero would be read without end
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileFormatError(f"{path}: not a regular file")
    f = os.fdopen(fd, "rb")
    try:
        directory = _zip_directory(f)
        if directory is not None and (directory[0] > _MAX_ZIP_ENTRIES or directory[1] > _MAX_ZIP_DIRECTORY_BYTES):
            f.close()
            raise FileFormatError(f"{path}: its zip directory declares {directory[0]} entries in {directory[1]} "
                                  f"bytes, more than a fastgd file holds (at most {_MAX_ZIP_ENTRIES} entries, "
                                  f"{_MAX_ZIP_DIRECTORY_BYTES} bytes)")
        f.seek(0)
        return path, f, zipfile.ZipFile(f)
    except FileFormatError:
        raise
    except _ZIP_ERRORS as exc:
        f.close()
        raise FileFormatError(f"{path}: not a readable fastgd file (not a zip archive, truncated or "
                              f"corrupted?): {type(exc).__name__}: {exc}") from None


def _read(path, expected_format, build):
    """Open a fastgd file whose format tag is `expected_format` (a str or a tuple), check its
    metadata, and return ``build(path, meta, archive)``; every decoding error of the file
    (zip, .npy, JSON, unsupported compression or encryption) becomes a FileFormatError."""
    path, f, zf = _open_zip(path)
    with f, zf:
        archive = _Archive(path, zf, os.fstat(f.fileno()).st_size)
        try:
            raw = archive.read("__meta__", _MAX_META_BYTES,
                               lambda dtype, shape: None if dtype == np.uint8 and len(shape) == 1 else
                               _bad(path, f"__meta__ must be a 1-D uint8 array, got {dtype} {shape}"))
            containers = _containers(raw)
            if containers > _MAX_JSON_CONTAINERS:
                raise FileFormatError(f"{path}: metadata holds {containers} lists and objects, more than the "
                                      f"{_MAX_JSON_CONTAINERS} a fastgd description may")
            try:
                meta = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise FileFormatError(f"{path}: corrupted metadata: {type(exc).__name__}: {exc}") from None
            if _depth(meta, _MAX_JSON_DEPTH) > _MAX_JSON_DEPTH:
                raise FileFormatError(f"{path}: metadata nested deeper than {_MAX_JSON_DEPTH} levels")
            accepted = (expected_format,) if isinstance(expected_format, str) else tuple(expected_format)
            if not isinstance(meta, dict) or meta.get("format") not in accepted:
                raise FileFormatError(f"{path}: expected a {' or '.join(map(repr, accepted))} file, got "
                                      f"{meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r}")
            version = meta.get("version")
            if type(version) is not int or version != FORMAT_VERSION:  # JSON's true and 1.0 equal 1 in Python
                raise FileFormatError(f"{path}: format version {meta.get('version')!r} is not supported "
                                      f"(this fastgd reads version {FORMAT_VERSION})")
            return build(path, meta, archive)
        except FileFormatError:
            raise
        except _ZIP_ERRORS + (RecursionError,) as exc:
            raise FileFormatError(f"{path}: not a readable fastgd file (truncated or corrupted?): "
                                  f"{type(exc).__name__}: {exc}") from None
        except MemoryError:
            raise FileFormatError(f"{path}: the model it describes does not fit in memory") from None


def _bad(path, message):
    raise FileFormatError(f"{path}: {message}")


def _model_meta(model):
    loss = getattr(model, "loss", None)
    return {"model": model.get_config(), "loss": None if loss is None else loss.get_config()}


def _int_field(path, where, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FileFormatError(f"{path}: {where} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _model_size(path, cfg):
    """(dtype, n_params) the model description declares, checked (types, agreement between
    layers, sanity caps) without building anything."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list) or not cfg["layers"]:
        raise FileFormatError(f"{path}: invalid model description: expected {{'dtype', 'layers': [...]}}")
    if cfg.get("dtype") not in ("float32", "float64"):
        raise FileFormatError(f"{path}: model dtype must be 'float32' or 'float64', got {cfg.get('dtype')!r}")
    if len(cfg["layers"]) > _MAX_LAYERS:
        raise FileFormatError(f"{path}: {len(cfg['layers'])} layers, more than {_MAX_LAYERS}")
    n_params, previous = 0, None
    for i, layer in enumerate(cfg["layers"]):
        if not isinstance(layer, dict):
            raise FileFormatError(f"{path}: layers[{i}] must be a Dense description, got {type(layer).__name__}")
        k = _int_field(path, f"layers[{i}].in_features", layer.get("in_features"), 1, MAX_WIDTH)
        m = _int_field(path, f"layers[{i}].out_features", layer.get("out_features"), 1, MAX_WIDTH)
        if previous is not None and k != previous:
            raise FileFormatError(f"{path}: layers[{i}] expects {k} inputs but layers[{i - 1}] gives {previous}")
        previous = m
        n_params += k * m + m
        if n_params > MAX_PARAMS:
            raise FileFormatError(f"{path}: the model declares more than {MAX_PARAMS} parameters")
    return np.dtype(cfg["dtype"]), n_params


def _read_params(path, meta, archive):
    """The parameter arena, checked against the model description (nothing built yet)."""
    dtype, n_params = _model_size(path, meta.get("model"))

    def check(got_dtype, shape):
        if got_dtype != dtype or shape != (n_params,):
            raise FileFormatError(f"{path}: params must be ({n_params},) {dtype}, got {shape} {got_dtype}")

    params = archive.read("params", n_params * dtype.itemsize, check)
    if not np.all(np.isfinite(params)):
        raise FileFormatError(f"{path}: params contain NaN or infinity")
    return params


def _build_model(path, meta, archive, params=None):
    from fastgd.nn import losses as _losses
    from fastgd.nn.model import Sequential

    if params is None:
        params = _read_params(path, meta, archive)
    try:
        model = Sequential.from_config(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{path}: invalid model description: {exc}") from None
    model.params[...] = params
    if meta.get("loss") is not None:
        try:
            model.loss = _losses.from_config(meta["loss"])
            # the model would load, and refuse its own loss at the first evaluate or fit
            model.loss.check_outputs(model.n_outputs)
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path}: invalid loss description: {exc}") from None
    return model


def _check_saved(model, optimizer=None, schedule=None, history=None, early_stopping=None):
    """TypeError naming the argument that is not what save / save_checkpoint write."""
    from fastgd.nn.model import Sequential
    from fastgd.optim.lbfgs import LBFGS
    from fastgd.optim.newton_cg import NewtonCG
    from fastgd.optim.optimizers import Optimizer
    from fastgd.optim.schedules import Schedule
    from fastgd.training.callbacks import EarlyStopping
    from fastgd.training.loop import History

    for name, value, kinds, what in (("model", model, Sequential, "a fastgd.Sequential"),
                                     ("optimizer", optimizer, (Optimizer, LBFGS, NewtonCG), "a fastgd optimizer"),
                                     ("schedule", schedule, Schedule, "a fastgd schedule or None"),
                                     ("history", history, History, "a History or None"),
                                     ("early_stopping", early_stopping, EarlyStopping,
                                      "a fastgd.EarlyStopping or None")):
        if value is not None and not isinstance(value, kinds):
            raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def save(model: Sequential, path: str | os.PathLike[str]) -> str:
    """Save the model (architecture, dtype, parameters, loss) to ``path``, with ``.npz``
    appended unless it ends so (as ``numpy.savez`` does). Returns the path written.

    Written like ``open(path, "wb")`` would: a new file gets the mode the umask allows, an
    existing file keeps its mode, a symbolic link is written through. The write is atomic:
    the file appears complete under its name or not at all."""
    _check_saved(model)
    path = _save_path(path)
    meta = {"format": "fastgd-model", "version": FORMAT_VERSION, **_model_meta(model)}
    return _atomic_savez(path, {"__meta__": _meta_array(path, meta), "params": model.params})


def load(path: str | os.PathLike[str]) -> Sequential:
    """Load a model saved by :func:`save` (or the model inside a checkpoint). ``path`` is
    resolved as :func:`save` names files: ``load("m")`` reads ``m.npz`` (or ``m`` itself when
    only that exists). Anything wrong with the file raises :class:`FileFormatError`; a missing
    file raises FileNotFoundError."""
    return _read(path, ("fastgd-model", "fastgd-checkpoint"), _build_model)


# ---- nested state dicts: arrays go to npz entries, the rest to JSON ---------------------------


def _split_state(state, prefix, arrays, where=None, levels=_MAX_STATE_NESTING):
    """The JSON description of the state dict `state`, its arrays put in `arrays` under `prefix`
    (each under the path of its keys). With `where`, the state's name in errors (a callback's
    state, which anything may have built), it is checked as loading would: keys must be strs,
    arrays of numbers or bools (numbered under `prefix`, as a key may hold a '/'), NumPy scalars
    numbers or bools; anything else is a TypeError naming the entry. A state nesting more than
    `levels` dicts and lists (a list holding itself, say) is a ValueError."""
    name = where or prefix
    if isinstance(state, (dict, list, tuple)) and levels <= 0:
        raise ValueError(f"{name} nests deeper than the {_MAX_STATE_NESTING} dicts and lists a fastgd file holds")
    if isinstance(state, dict):
        out = {}
        for k, v in state.items():
            if where is not None and not isinstance(k, str):
                raise TypeError(f"{where} has the key {k!r}, a {type(k).__name__}: the keys of a state must be strs")
            out[str(k)] = _split_state(v, f"{prefix}/{k}" if where is None else prefix, arrays,
                                       None if where is None else f"{where}[{k!r}]", levels - 1)
        return {"__dict__": out}
    if isinstance(state, (list, tuple)):
        return {"__list__": [_split_state(v, f"{prefix}/{i}" if where is None else prefix, arrays,
                                          None if where is None else f"{where}[{i}]", levels - 1)
                             for i, v in enumerate(state)]}
    if isinstance(state, np.ndarray):
        if where is not None:
            if state.dtype.kind not in "biuf" or state.dtype.fields is not None:
                raise TypeError(f"{where} is an array of dtype {state.dtype}: a state's arrays must hold numbers "
                                f"or bools")
            if isinstance(state, np.ma.MaskedArray):  # a file keeps the data, not the mask
                raise TypeError(f"{where} is a masked array: a state's arrays are saved without a mask (save "
                                f"the mask as an array of its own)")
            prefix = f"{prefix}/{len(arrays)}"
            if not state.flags.c_contiguous:  # loading takes no Fortran-ordered array
                state = state.copy(order="C")
        arrays[prefix] = state
        return {"__array__": prefix}
    if isinstance(state, np.generic) and (where is None or isinstance(state, (np.bool_, np.integer, np.floating))):
        value = state.item()
        if where is not None and not isinstance(value, (bool, int, float)):  # a longdouble stays one: no JSON
            raise TypeError(f"{where} is a {type(state).__name__}, which has no JSON form: a state's NumPy scalars "
                            f"must be float64 or narrower (a 0-d array holds it exactly)")
        return value
    if where is not None and isinstance(state, int) and state.bit_length() > _INT_DIGITS_BITS:
        try:  # JSON writes it in decimal, and Python refuses to beyond sys.get_int_max_str_digits()
            str(state)
        except ValueError:
            raise ValueError(f"{where} is an int of {state.bit_length()} bits, more digits than Python converts to "
                             f"JSON (sys.get_int_max_str_digits() is {sys.get_int_max_str_digits()})") from None
    if state is None or isinstance(state, (bool, int, float, str)):
        return state
    raise TypeError(f"{name} is a {type(state).__name__}: a state holds None, bools, numbers, strs, NumPy arrays "
                    f"of numbers and lists and dicts of those")


def _state_digest(state):
    """``state`` as the ranks of a data-parallel fit compare it: its description with the digest
    of each array; None for an empty state; what keeps it from being saved, if anything (the
    same on every rank)."""
    if isinstance(state, dict) and not state:
        return None
    arrays = {}
    try:
        desc = _split_state(state, "state", arrays, "state")
    except (TypeError, ValueError) as exc:
        return f"cannot be saved: {exc}"
    return {"state": desc, "arrays": {name: f"{a.dtype} {a.shape} {hashlib.blake2b(a, digest_size=8).hexdigest()}"
                                      for name, a in arrays.items()}}


def _join_state(desc, archive, path, budget):
    """The state dict `desc` describes, its arrays read from `archive`: together at most
    ``budget[0]`` bytes, which each array read takes from."""
    if isinstance(desc, dict):
        if "__dict__" in desc and isinstance(desc["__dict__"], dict):
            return {k: _join_state(v, archive, path, budget) for k, v in desc["__dict__"].items()}
        if "__list__" in desc and isinstance(desc["__list__"], list):
            return [_join_state(v, archive, path, budget) for v in desc["__list__"]]
        if "__array__" in desc:
            key = desc["__array__"]
            if not isinstance(key, str) or not key.startswith("state/"):
                raise FileFormatError(f"{path}: state arrays live under 'state/', got {key!r}")
            array = archive.read(key, budget[0])
            budget[0] -= array.nbytes
            return array
        raise FileFormatError(f"{path}: malformed state description")
    return desc


class Checkpoint:
    """What :func:`load_checkpoint` returns: ``model``, ``optimizer``, ``schedule`` (or None),
    ``history`` (or None), ``early_stopping`` (an :class:`fastgd.EarlyStopping` holding the
    saved run's state, or None), ``callback_states`` (the states of the run's callbacks, keyed
    by ``(state_key, index)``: see :meth:`resume_callbacks`), ``best_values`` (the states of
    the run's ``ModelCheckpoint(save_best_only=True)`` callbacks, the best for each monitor and
    mode), and ``epoch`` (the next epoch to run: pass it as ``initial_epoch``, with
    ``seed=checkpoint.seed``, ``early_stopping=checkpoint.early_stopping`` and
    ``callbacks=checkpoint.resume_callbacks([...])``, to continue exactly). Unpacking gives the
    first four."""

    model: Sequential
    optimizer: Optimizer
    schedule: Schedule | None
    history: History | None
    early_stopping: EarlyStopping | None
    best_values: list[dict]
    callback_states: dict[tuple[str, int], dict]

    def __init__(self, model: Sequential, optimizer: Optimizer, schedule: Schedule | None,
                 history: History | None, early_stopping: EarlyStopping | None = None,
                 best_values: list[dict] | None = None,
                 callback_states: dict[tuple[str, int], dict] | None = None) -> None:
        self.model, self.optimizer, self.schedule, self.history = model, optimizer, schedule, history
        self.early_stopping = early_stopping
        self.best_values = list(best_values or ())
        self.callback_states = dict(callback_states or {})

    def resume_callbacks(self, callbacks):
        """``callbacks`` as a list, each given the state the saved run's callback of the same
        ``state_key`` and index had (its index counting the callbacks of that key before it,
        in the order of the fit's ``callbacks``): pass the callbacks of the interrupted fit, in
        its order (with others, or some left out, if you like), and the resumed fit continues
        them where they were. A callback the checkpoint holds no state for is left as it is,
        except that a ``ModelCheckpoint(save_best_only=True)`` is given the best value for its
        monitor and mode (``best_values``; what files written before the callbacks' states were
        saved hold); a state no callback takes is ignored. A callback whose
        ``load_state_dict`` refuses its state raises ValueError naming it (those before it in
        ``callbacks`` have taken theirs)."""
        from fastgd.training.callbacks import ModelCheckpoint, _state_keys

        callbacks = _validation.callbacks(callbacks)
        for i, (cb, key) in enumerate(zip(callbacks, _state_keys(callbacks))):
            if key in self.callback_states:
                try:
                    cb.load_state_dict(copy.deepcopy(self.callback_states[key]))
                except Exception as exc:
                    raise ValueError(f"callbacks[{i}] ({type(cb).__qualname__}) refused the state the checkpoint "
                                     f"holds for the callback {key[0]} #{key[1]}: {type(exc).__name__}: {exc}") from exc
            elif isinstance(cb, ModelCheckpoint) and cb.save_best_only:
                for state in self.best_values:
                    if (state["monitor"], state["mode"]) == (cb.monitor, cb.mode):
                        cb.load_state_dict(state)
        return callbacks

    @property
    def epoch(self) -> int:
        if self.history is None or not self.history.epochs:
            return 0
        return self.history.epochs[-1] + 1

    @property
    def seed(self) -> int | None:
        return None if self.history is None else self.history.params.get("seed")

    def __iter__(self):
        return iter((self.model, self.optimizer, self.schedule, self.history))

    def __repr__(self):
        model = self.model
        return (f"Checkpoint(epoch={self.epoch}, seed={self.seed}, model=<Sequential {model.n_inputs} -> "
                f"{model.n_outputs}, {len(model.layers)} layers, {model.n_params:,} parameters, "
                f"{model.dtype.name}>, optimizer={self.optimizer!r}, schedule={self.schedule!r}, "
                f"history={self.history!r}"
                + ("" if self.early_stopping is None else f", early_stopping={self.early_stopping!r}")
                + ("" if not self.callback_states else
                   f", callback_states=<{', '.join(f'{key} #{index}' for key, index in self.callback_states)}>")
                + ")")


def save_checkpoint(path: str | os.PathLike[str], model: Sequential, optimizer: Optimizer,
                    schedule: Schedule | None = None, history: History | None = None, *,
                    early_stopping: EarlyStopping | None = None, callbacks: Iterable[Callback] = (),
                    model_checkpoints: Iterable[ModelCheckpoint] = ()) -> str:
    """Save everything needed to resume training bit for bit: model, optimizer (config and
    state), schedule (config and state), history, early stopping (config and state: best value
    and epoch, wait count, best parameters), and the state of each of ``callbacks`` (the fit's,
    in its order) whose ``state_dict()`` is not empty, under its ``state_key`` and its index
    among the callbacks of that key (``Checkpoint.resume_callbacks`` matches them so).
    ``model_checkpoints`` (ModelCheckpoints only) is the older name of ``callbacks``: its
    callbacks are saved after those of ``callbacks``. A state that a file cannot hold (see
    :mod:`fastgd.training.callbacks`) raises TypeError (or ValueError: nested too deep, arrays
    together more than 8 times the model's parameters and 1 MiB) naming the callback and the
    entry, and nothing is written. Atomic. Returns the path written."""
    if optimizer is None:
        raise TypeError("optimizer must be a fastgd optimizer, got None")
    callbacks = _validation.callbacks(callbacks) + _model_checkpoints(model_checkpoints)
    return _write_checkpoint(path, model, optimizer, schedule, history, early_stopping, callbacks)


def _write_checkpoint(path, model, optimizer, schedule, history, early_stopping, callbacks, skipped=None):
    """save_checkpoint's work, ``callbacks`` a list. With a list ``skipped`` (a ModelCheckpoint
    inside fit, whose training a state the file cannot hold should not end), a callback's state
    the file cannot hold is left out, ``(callback, reason)`` appended to it, and the rest saved."""
    _check_saved(model, optimizer, schedule, history, early_stopping)
    path = _save_path(path)
    arrays = {"params": model.params}
    meta = {"format": "fastgd-checkpoint", "version": FORMAT_VERSION, **_model_meta(model)}
    meta["optimizer"] = {"config": optimizer.get_config(),
                         "state": _split_state(optimizer.state_dict(), "state/optimizer", arrays)}
    if schedule is not None:
        meta["schedule"] = {"config": schedule.get_config(),
                            "state": _split_state(schedule.state_dict(), "state/schedule", arrays)}
    if history is not None:
        meta["history"] = history.to_dict()
    if early_stopping is not None:
        mismatch = _epochs_apart(history, early_stopping)
        if mismatch:  # a checkpoint that would not resume: the one the file describes is not one run
            raise ValueError(f"cannot save {path}: {mismatch}; pass the early stopping and history of one fit")
        meta["early_stopping"] = {"config": early_stopping.get_config(),
                                  "state": _split_state(early_stopping.state_dict(), "state/early_stopping", arrays)}
    without = dict(arrays)
    entries = _callback_entries(path, callbacks, arrays, model.params.nbytes, skipped)
    if entries:
        meta["callbacks"] = entries
    try:
        arrays["__meta__"] = _meta_array(path, meta)
    except ValueError as exc:  # a description too large to load, by the callbacks' states
        if skipped is None or not entries:
            raise
        del meta["callbacks"]
        arrays = without
        arrays["__meta__"] = _meta_array(path, meta)
        kept = {(e["key"], e["index"]) for e in entries}
        from fastgd.training.callbacks import _state_keys
        skipped.extend((cb, str(exc)) for cb, key in zip(callbacks, _state_keys(callbacks)) if key in kept)
    return _atomic_savez(path, arrays)


def _model_checkpoints(model_checkpoints):
    """save_checkpoint's ``model_checkpoints`` as a list, checked."""
    from fastgd.training.callbacks import ModelCheckpoint

    try:
        model_checkpoints = list(model_checkpoints)
    except TypeError:
        raise TypeError(f"model_checkpoints must be a list of fastgd.callbacks.ModelCheckpoint objects, got "
                        f"{type(model_checkpoints).__name__}") from None
    for cb in model_checkpoints:
        if not isinstance(cb, ModelCheckpoint):
            raise TypeError(f"model_checkpoints must hold fastgd.callbacks.ModelCheckpoint objects, got "
                            f"{type(cb).__name__}")
    return model_checkpoints


def _callback_state_bytes(params_nbytes):
    """The most bytes the arrays of a checkpoint's callback states may take together."""
    return _CALLBACK_STATE_PARAMS * params_nbytes + (1 << 20)


def _callback_entries(path, callbacks, arrays, params_nbytes, skipped=None):
    """A checkpoint's ``callbacks`` entry: the non-empty state of each of ``callbacks`` with
    its ``state_key`` and index, its arrays added to ``arrays``. A state the file cannot hold
    (of a type it cannot hold, or whose arrays would take the file past what loading accepts)
    raises TypeError or ValueError naming the callback and the entry, before anything is
    written; with a list ``skipped``, it is left out instead and ``(callback, reason)``
    appended."""
    from fastgd.training.callbacks import _state_keys

    entries, added, most = [], {}, _callback_state_bytes(params_nbytes)
    for i, (cb, (key, index)) in enumerate(zip(callbacks, _state_keys(callbacks))):
        who = f"callbacks[{i}] ({type(cb).__qualname__})"
        state = cb.state_dict()
        before = len(added)
        try:
            if not isinstance(state, dict):
                raise TypeError(f"{who}.state_dict() must return a dict, got {_validation.shown(state)}")
            if not state:
                continue
            try:
                desc = _split_state(state, "state/callbacks", added, "state")
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"the state of {who}: {exc}") from None
            nbytes = sum(a.nbytes for a in added.values())
            if nbytes > most:
                raise ValueError(f"the arrays of the callbacks' states, with those of {who}, take {nbytes} bytes, "
                                 f"more than the {most} fastgd loads ({_CALLBACK_STATE_PARAMS} times the model's "
                                 f"parameters and 1 MiB)")
            # each array an entry of the archive, as are the others and __meta__: loading reads at most so many
            if len(arrays) + len(added) + 1 > _MAX_ZIP_ENTRIES:
                raise ValueError(f"the callbacks' states, with that of {who}, hold {len(added)} arrays, "
                                 f"each an entry of the file; with its {len(arrays) + 1} others, more than the "
                                 f"{_MAX_ZIP_ENTRIES} entries fastgd loads")
        except (TypeError, ValueError) as exc:
            if skipped is None:
                raise type(exc)(f"cannot save {path}: {exc}") from None
            skipped.append((cb, str(exc)))
            for name in list(added)[before:]:  # its arrays, numbered after the others'
                del added[name]
            continue
        entries.append({"key": key, "index": index, "state": desc})
    arrays.update(added)
    return entries


def _read_callback_states(path, entries, archive, params_nbytes):
    """A checkpoint's ``callbacks`` entry checked (ValueError, TypeError), as the dict of the
    states by ``(state_key, index)``; {} when absent."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise TypeError(f"callbacks must be a list of callback states, got {_validation.shown(entries)}")
    budget = [_callback_state_bytes(params_nbytes)]
    states = {}
    for i, entry in enumerate(entries):
        _validation.config(f"callbacks[{i}]", entry, "{'key', 'index', 'state'}", ("key", "index", "state"), ())
        key = entry["key"]
        if not isinstance(key, str):
            raise TypeError(f"callbacks[{i}]['key'] must be a str (a callback's state_key), got {_validation.shown(key)}")
        index = _validation.integer(f"callbacks[{i}]['index']", entry["index"], 0,
                                    maximum=_validation.MAX_RESTORED_COUNT)
        if (key, index) in states:
            raise ValueError(f"callbacks holds more than one state for the callback {key} #{index}")
        state = _join_state(entry["state"], archive, path, budget)
        if not isinstance(state, dict) or not state:
            raise TypeError(f"callbacks[{i}]['state'] must describe a non-empty dict, got {_validation.shown(state)}")
        states[(key, index)] = state
    return states


def _best_of(states):
    """Of the ModelCheckpoint ``states`` (checked), the best for each monitor and mode."""
    from fastgd.training.callbacks import _best_state

    best = {}
    for state in map(_best_state, states):
        key = (state["monitor"], state["mode"])
        if key not in best or (state["best"] < best[key]["best"] if key[1] == "min" else
                               state["best"] > best[key]["best"]):
            best[key] = state
    return list(best.values())


def _read_best_values(entries, callback_states):
    """A checkpoint's ``model_checkpoints`` entry checked (ValueError, TypeError), or, in a file
    that saves the callbacks' states instead, the best of its save_best_only ModelCheckpoints'."""
    from fastgd.training.callbacks import ModelCheckpoint, _state_key

    if entries is None:
        name = ModelCheckpoint.__qualname__
        return _best_of(state for (key, _), state in callback_states.items()
                        if key == _state_key(name, monitor=state.get("monitor"), mode=state.get("mode"),
                                             save_best_only=True))
    if not isinstance(entries, list):
        raise TypeError(f"model_checkpoints must be a list of states, got {type(entries).__name__}")
    states = _best_of(entries)
    if len(states) != len(entries):
        raise ValueError(f"model_checkpoints holds more than one state for one monitor and mode: "
                         f"{[(state['monitor'], state['mode']) for state in states]}")
    return states


def _optimizer_from_config(config):
    from fastgd import optim as _optim
    from fastgd.optim.lbfgs import LBFGS

    if isinstance(config, dict) and config.get("name") == "lbfgs":
        cfg = dict(config)
        cfg.pop("name")
        return LBFGS(**cfg)
    if isinstance(config, dict) and config.get("name") == "newton_cg":
        from fastgd.optim.newton_cg import NewtonCG
        return NewtonCG(**{k: v for k, v in config.items() if k != "name"})
    return _optim.from_config(config)


def _state_bytes(path, opt_config, n_params):
    """The most bytes the optimizer and schedule state arrays may take together: the
    optimizer's state slots (L-BFGS: its history of vector pairs) over the parameters, in
    float64, and 1 MiB for the small arrays beside them (L-BFGS's curvature scalars)."""
    vectors = 4
    if isinstance(opt_config, dict) and opt_config.get("name") == "lbfgs":
        history = opt_config.get("history_size", 10)
        vectors = 2 * _int_field(path, "optimizer history_size", history, 1, 100_000) + 4
    return vectors * n_params * 8 + (1 << 20)


def _check_state_fits(path, optimizer, params):
    """The loaded optimizer is for these parameters: its state's count and dtype, and its
    hyperparameters in their dtype (ValueError), which the kernels compute in: a checkpoint
    whose eps is 0 there would load, and its optimizer refuse the first step of the resumed fit."""
    from fastgd.optim.optimizers import Optimizer

    n, dtype = params.shape[0], params.dtype
    if isinstance(optimizer, Optimizer):
        optimizer._check_in_dtype(dtype)
    state = optimizer.state_dict()
    if "n" in state and state.get("state") is not None and (state["n"] != n or state["dtype"] != dtype.name):
        raise FileFormatError(f"{path}: the optimizer state is for {state['n']} {state['dtype']} parameters, "
                              f"the model has {n} {dtype.name}")
    memory = state.get("memory")
    if memory is not None:
        vectors = [("memory/s_hist", memory["s_hist"][0]), ("x", state.get("x")), ("grad", state.get("grad"))]
        for name, v in vectors:
            if v is not None and (v.shape != (n,) or v.dtype != dtype):
                raise FileFormatError(f"{path}: optimizer state {name} must be ({n},) {dtype.name}, "
                                      f"got {v.shape} {v.dtype}")


def _build_checkpoint(path, meta, archive):
    from fastgd.optim import schedules as _schedules
    from fastgd.training import History

    # every array is checked against the declared configuration before the model is built
    params = _read_params(path, meta, archive)
    try:
        opt_meta = meta["optimizer"]
        budget = [_state_bytes(path, opt_meta.get("config"), params.shape[0])]
        optimizer = _optimizer_from_config(opt_meta["config"])
        optimizer.load_state_dict(_join_state(opt_meta["state"], archive, path, budget))
        _check_state_fits(path, optimizer, params)
        schedule = None
        if meta.get("schedule") is not None:
            schedule = _schedules.from_config(optimizer, meta["schedule"]["config"])
            schedule.load_state_dict(_join_state(meta["schedule"]["state"], archive, path, budget))
        history = History.from_dict(meta["history"]) if meta.get("history") is not None else None
        if history is not None:  # what Checkpoint.seed hands to fit(seed=...)
            _validation.integer("history.params['seed']", history.params.get("seed"), 0, allow_none=True)
        early_stopping = _read_early_stopping(path, meta.get("early_stopping"), archive, params, history)
        callback_states = _read_callback_states(path, meta.get("callbacks"), archive, params.nbytes)
        best_values = _read_best_values(meta.get("model_checkpoints"), callback_states)
    except FileFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise FileFormatError(f"{path}: invalid checkpoint contents: {type(exc).__name__}: {exc}") from None
    return Checkpoint(_build_model(path, meta, archive, params), optimizer, schedule, history, early_stopping,
                      best_values, callback_states)


def _read_early_stopping(path, desc, archive, params, history):
    """The EarlyStopping a checkpoint's ``early_stopping`` entry describes (None when absent), its
    state loaded: its best parameters, read within the bytes of the model's, must be the model's
    size and dtype, and its next epoch the history's."""
    from fastgd.training.callbacks import EarlyStopping

    if desc is None:
        return None
    _validation.config("early_stopping", desc, "{'config', 'state'}", ("config", "state"), ())
    config = _validation.config("early_stopping['config']", desc["config"], "(EarlyStopping's arguments)",
                                ("monitor", "patience", "min_delta", "mode", "restore_best"), ())
    early_stopping = EarlyStopping(**config)
    early_stopping.load_state_dict(_join_state(desc["state"], archive, path, [params.nbytes]))
    best = early_stopping.best_params
    if best is not None and (best.shape != params.shape or best.dtype != params.dtype):
        raise FileFormatError(f"{path}: the early stopping's best parameters must be {params.shape} {params.dtype} "
                              f"as the model's, got {best.shape} {best.dtype}")
    mismatch = _epochs_apart(history, early_stopping)
    if mismatch:
        raise FileFormatError(f"{path}: {mismatch}")
    return early_stopping


def _epochs_apart(history, early_stopping):
    """What says that the early stopping has not seen the epochs the history ends with, or None."""
    if history is None or not history.epochs or history.epochs[-1] + 1 == early_stopping.next_epoch:
        return None
    return (f"the early stopping has seen the epochs before epoch {early_stopping.next_epoch}, the history those "
            f"before epoch {history.epochs[-1] + 1}")


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (or ``ModelCheckpoint``): a
    :class:`Checkpoint`, which says how to resume the fit. Every array is checked against the
    configuration the file declares before it is used; anything wrong raises
    :class:`FileFormatError`. A file written before checkpoints held the early stopping's state
    and the best values loads with ``early_stopping=None`` and ``best_values=[]``; one written
    before they held the callbacks' states, with ``callback_states={}`` (its ``best_values``
    still go to ``resume_callbacks``' save_best_only ModelCheckpoints)."""
    return _read(path, "fastgd-checkpoint", _build_checkpoint)
