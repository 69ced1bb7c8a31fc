"""Saving and loading models and training checkpoints, without pickle.

File format (version 1): a NumPy ``.npz`` archive (``numpy.load(..., allow_pickle=False)`` reads
it) holding

- ``__meta__``: a UTF-8 JSON document as a uint8 array: ``{"format": "fastgd-model" or
  "fastgd-checkpoint", "version": 1, "model": {"dtype", "layers": [Dense configs]}, "loss": loss
  config or null, ...}``; for checkpoints also the optimizer and schedule configs, the
  non-array parts of their states, and the History;
- ``params``: the model's flat parameter arena (layout: every W, then every b);
- ``state/<key>``: the arrays of the optimizer and schedule states (checkpoints only).

Writes go to a temporary file in the same directory, then an atomic rename, so a crash never
leaves a half-written file under the final name. Loading checks the format tag, the version,
the JSON and every array's shape and dtype, and raises :class:`FileFormatError` on anything
unexpected. Nothing in a file is ever executed.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "Checkpoint", "FileFormatError", "FORMAT_VERSION"]

FORMAT_VERSION = 1


class FileFormatError(ValueError):
    """A file is not a fastgd file, is truncated or corrupted, or has an unsupported version."""


def _atomic_savez(path, arrays):
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastgd-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _meta_array(meta):
    return np.frombuffer(json.dumps(meta, allow_nan=True).encode("utf-8"), dtype=np.uint8)


def _read(path, expected_format):
    """(meta, arrays) of a fastgd file whose format tag is `expected_format` (a str or a tuple)."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise FileFormatError(f"{path}: not a readable fastgd file (truncated or corrupted?): {exc}") from None
    if "__meta__" not in arrays:
        raise FileFormatError(f"{path}: no __meta__ entry; not a fastgd file")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: corrupted metadata: {exc}") from None
    accepted = (expected_format,) if isinstance(expected_format, str) else tuple(expected_format)
    if not isinstance(meta, dict) or meta.get("format") not in accepted:
        raise FileFormatError(f"{path}: expected a {' or '.join(map(repr, accepted))} file, got "
                              f"{meta.get('format') if isinstance(meta, dict) else meta!r}")
    if meta.get("version") != FORMAT_VERSION:
        raise FileFormatError(f"{path}: format version {meta.get('version')!r} is not supported "
                              f"(this fastgd reads version {FORMAT_VERSION})")
    return meta, arrays


def _model_meta(model):
    loss = getattr(model, "loss", None)
    return {"model": model.get_config(), "loss": None if loss is None else loss.get_config()}


def _build_model(path, meta, arrays):
    from fastgd import losses as _losses
    from fastgd.model import Sequential

    try:
        model = Sequential.from_config(meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{path}: invalid model description: {exc}") from None
    params = arrays.get("params")
    if params is None or params.shape != model.params.shape or params.dtype != model.dtype:
        got = None if params is None else (params.shape, str(params.dtype))
        raise FileFormatError(f"{path}: params must be {model.params.shape} {model.dtype}, got {got}")
    if not np.all(np.isfinite(params)):
        raise FileFormatError(f"{path}: params contain NaN or infinity")
    model.params[...] = params
    if meta.get("loss") is not None:
        try:
            model.loss = _losses.from_config(meta["loss"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path}: invalid loss description: {exc}") from None
    return model


def save(model, path):
    """Save the model (architecture, dtype, parameters, loss) to ``path`` (.npz appended if
    missing). Returns the path written."""
    meta = {"format": "fastgd-model", "version": FORMAT_VERSION, **_model_meta(model)}
    return _atomic_savez(path, {"__meta__": _meta_array(meta), "params": model.params})


def load(path):
    """Load a model saved by :func:`save` (or the model inside a checkpoint)."""
    path = os.fspath(path)
    meta, arrays = _read(path, ("fastgd-model", "fastgd-checkpoint"))
    return _build_model(path, meta, arrays)


# ---- nested state dicts: arrays go to npz entries, the rest to JSON ---------------------------


def _split_state(state, prefix, arrays):
    if isinstance(state, dict):
        return {"__dict__": {str(k): _split_state(v, f"{prefix}/{k}", arrays) for k, v in state.items()}}
    if isinstance(state, (list, tuple)):
        return {"__list__": [_split_state(v, f"{prefix}/{i}", arrays) for i, v in enumerate(state)]}
    if isinstance(state, np.ndarray):
        arrays[prefix] = state
        return {"__array__": prefix}
    if isinstance(state, np.generic):
        return state.item()
    if state is None or isinstance(state, (bool, int, float, str)):
        return state
    raise TypeError(f"cannot save a state entry of type {type(state).__name__} at {prefix}")


def _join_state(desc, arrays, path):
    if isinstance(desc, dict):
        if "__dict__" in desc:
            return {k: _join_state(v, arrays, path) for k, v in desc["__dict__"].items()}
        if "__list__" in desc:
            return [_join_state(v, arrays, path) for v in desc["__list__"]]
        if "__array__" in desc:
            key = desc["__array__"]
            if key not in arrays:
                raise FileFormatError(f"{path}: missing array entry {key!r}")
            return arrays[key]
        raise FileFormatError(f"{path}: malformed state description")
    return desc


class Checkpoint:
    """What :func:`load_checkpoint` returns: ``model``, ``optimizer``, ``schedule`` (or None),
    ``history`` (or None), and ``epoch`` (the next epoch to run: pass it as ``initial_epoch``,
    with ``seed=checkpoint.seed``, to continue exactly)."""

    def __init__(self, model, optimizer, schedule, history):
        self.model, self.optimizer, self.schedule, self.history = model, optimizer, schedule, history

    @property
    def epoch(self):
        if self.history is None or not self.history.epochs:
            return 0
        return self.history.epochs[-1] + 1

    @property
    def seed(self):
        return None if self.history is None else self.history.params.get("seed")

    def __iter__(self):
        return iter((self.model, self.optimizer, self.schedule, self.history))

    def __repr__(self):
        model = self.model
        return (f"Checkpoint(epoch={self.epoch}, seed={self.seed}, model=<Sequential {model.n_inputs} -> "
                f"{model.n_outputs}, {len(model.layers)} layers, {model.n_params:,} parameters, "
                f"{model.dtype.name}>, optimizer={self.optimizer!r}, schedule={self.schedule!r}, "
                f"history={self.history!r})")


def save_checkpoint(path, model, optimizer, schedule=None, history=None):
    """Save everything needed to resume training bit for bit: model, optimizer (config and
    state), schedule (config and state), history. Atomic. Returns the path written."""
    arrays = {"params": model.params}
    meta = {"format": "fastgd-checkpoint", "version": FORMAT_VERSION, **_model_meta(model)}
    meta["optimizer"] = {"config": optimizer.get_config(),
                         "state": _split_state(optimizer.state_dict(), "state/optimizer", arrays)}
    if schedule is not None:
        meta["schedule"] = {"config": schedule.get_config(),
                            "state": _split_state(schedule.state_dict(), "state/schedule", arrays)}
    if history is not None:
        meta["history"] = history.to_dict()
    arrays["__meta__"] = _meta_array(meta)
    return _atomic_savez(path, arrays)


def _optimizer_from_config(config):
    from fastgd import optim as _optim
    from fastgd.lbfgs import LBFGS

    if isinstance(config, dict) and config.get("name") == "lbfgs":
        cfg = dict(config)
        cfg.pop("name")
        return LBFGS(**cfg)
    if isinstance(config, dict) and config.get("name") == "newton_cg":
        from fastgd.newton_cg import NewtonCG
        return NewtonCG(**{k: v for k, v in config.items() if k != "name"})
    return _optim.from_config(config)


def load_checkpoint(path):
    """Load a checkpoint written by :func:`save_checkpoint` (or ``ModelCheckpoint``)."""
    from fastgd import schedules as _schedules
    from fastgd.training import History

    path = os.fspath(path)
    meta, arrays = _read(path, "fastgd-checkpoint")
    model = _build_model(path, meta, arrays)
    try:
        opt_meta = meta["optimizer"]
        optimizer = _optimizer_from_config(opt_meta["config"])
        optimizer.load_state_dict(_join_state(opt_meta["state"], arrays, path))
        schedule = None
        if meta.get("schedule") is not None:
            schedule = _schedules.from_config(optimizer, meta["schedule"]["config"])
            schedule.load_state_dict(_join_state(meta["schedule"]["state"], arrays, path))
        history = History.from_dict(meta["history"]) if meta.get("history") is not None else None
    except FileFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{path}: invalid checkpoint contents: {exc}") from None
    return Checkpoint(model, optimizer, schedule, history)
