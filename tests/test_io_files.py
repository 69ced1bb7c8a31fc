"""Saving and loading against broken and hostile files, and save's file-system manners (mode,
symlinks, names, missing folders), on real files."""

import io
import json
import math
import os
import re
import stat
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import fastgd
from fastgd import optim
from fastgd.io import FileFormatError, load, load_checkpoint, save_checkpoint


def small_model(dtype="float32"):
    return fastgd.Sequential([fastgd.Dense(3, 4), fastgd.Dense(4, 2, activation="identity")], dtype=dtype, seed=0)


def write_npz(path, meta, **arrays):
    """A fastgd-looking archive with a hand-made __meta__ (dict or raw bytes)."""
    raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    np.savez(path, __meta__=np.frombuffer(raw, dtype=np.uint8), **arrays)
    return path


def model_meta(layers, dtype="float32"):
    return {"format": "fastgd-model", "version": 1, "loss": None,
            "model": {"dtype": dtype, "layers": [
                {"in_features": k, "out_features": m, "activation": "identity"} for k, m in layers]}}


def peak_memory(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_round_trip_and_names(tmp_path):
    model = small_model()
    written = model.save(tmp_path / "m")
    assert written == str(tmp_path / "m.npz") and os.path.exists(written)
    for name in ("m", "m.npz"):
        np.testing.assert_array_equal(load(tmp_path / name).params, model.params)
    # a file saved under another name by other means is still found by its exact name
    os.rename(written, tmp_path / "renamed.bin")
    np.testing.assert_array_equal(load(tmp_path / "renamed.bin").params, model.params)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "m")


@pytest.mark.parametrize("path", [123, None, b"m", 1.5])
def test_a_path_that_is_no_str_is_named(path):
    # os.fspath's "expected str, bytes or os.PathLike object, not int" named no argument
    model = small_model()
    calls = [lambda: model.save(path), lambda: load(path), lambda: load_checkpoint(path),
             lambda: save_checkpoint(path, model, optim.SGD(lr=0.1))]
    if not isinstance(path, bytes):  # the callbacks that write files decode a bytes path
        calls += [lambda: fastgd.training.callbacks.ModelCheckpoint(path),
                  lambda: fastgd.training.callbacks.CSVLogger(path)]
    for call in calls:
        with pytest.raises(TypeError, match=rf"^path must be a str or os.PathLike of str, got {type(path).__name__}$"):
            call()


def test_a_loss_whose_class_weights_do_not_fit_the_model_is_refused(tmp_path):
    # it loaded, and the model refused its own loss at the first evaluate or fit
    meta = model_meta([(3, 2)])
    meta["loss"] = {"name": "softmax_cross_entropy", "label_smoothing": 0.0, "class_weight": [1.0, 2.0, 3.0]}
    path = write_npz(tmp_path / "m.npz", meta, params=np.zeros(8, np.float32))
    with pytest.raises(FileFormatError, match="invalid loss description: class_weight has 3 entries but pred has 2 classes"):
        load(path)
    meta["loss"]["class_weight"] = [1.0, 2.0]
    np.testing.assert_array_equal(load(write_npz(tmp_path / "ok.npz", meta, params=np.zeros(8, np.float32)))
                                  .loss.class_weight, [1.0, 2.0])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_save_respects_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = small_model().save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_save_over_an_existing_file_keeps_its_mode(tmp_path):
    path = small_model().save(tmp_path / "m.npz")
    os.chmod(path, 0o640)
    small_model().save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_save_writes_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.npz"
    small_model().save(target)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    model = small_model()
    model.params[:] = 1.5
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(load(target).params, 1.5)
    assert sorted(os.listdir(tmp_path / "real")) == ["m.npz"]


def test_save_into_a_missing_folder_names_the_users_path(tmp_path):
    path = tmp_path / "no" / "such" / "m.npz"
    with pytest.raises(FileNotFoundError) as info:
        small_model().save(path)
    assert info.value.filename == str(path) and ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path):
    path = small_model().save(tmp_path / "m.npz")
    before = open(path, "rb").read()
    model = small_model()
    model.loss = object()  # get_config fails before anything is written
    with pytest.raises(AttributeError):
        model.save(path)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("limit, value, message", [
    ("_MAX_META_BYTES", 4096, r"its description .* takes \d+ bytes of JSON, more than the 4096 fastgd loads"),
    ("_MAX_LAYERS", 1, r"the model has 2 layers, more than the 1 fastgd loads"),
    ("_MAX_JSON_DEPTH", 3, r"its description nests deeper than the 3 levels fastgd loads"),
])
def test_what_load_would_refuse_is_not_saved_and_the_last_good_file_stays(tmp_path, monkeypatch, limit, value,
                                                                           message):
    # the limits were applied only when loading: a History of some 420,000 epochs (or a model of
    # 10,001 layers) was saved, over the last good checkpoint, into a file load refused
    import fastgd.training.io as fio

    model, optimizer = small_model("float64"), optim.SGD(lr=0.1)
    long_run = fastgd.History.from_dict({"epochs": list(range(500)), "history": {"loss": [0.5] * 500}})
    path = save_checkpoint(tmp_path / "ck.npz", model, optimizer)
    before = open(path, "rb").read()
    monkeypatch.setattr(fio, limit, value)
    saves = [lambda: save_checkpoint(path, model, optimizer, None, long_run)]
    if limit != "_MAX_META_BYTES":  # the model's own description is smaller
        saves.append(lambda: model.save(path))
    for save in saves:
        with pytest.raises(ValueError, match=f"cannot save {re.escape(path)}: {message}"):
            save()
        assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["ck.npz"]
    monkeypatch.undo()
    assert load_checkpoint(path).model.n_params == model.n_params


def test_only_needed_entries_are_read(tmp_path):
    path = small_model().save(tmp_path / "m.npz")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("junk.npy", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(256):  # 256 MiB of zeros, a few hundred kB deflated
                f.write(chunk)
    assert os.path.getsize(path) < 2 << 20
    peak = peak_memory(lambda: load(path))
    assert peak < 16 << 20, peak


def test_huge_declared_model_is_rejected_before_allocating(tmp_path):
    path = write_npz(tmp_path / "big.npz", model_meta([(15000, 15000)]), params=np.zeros(10, np.float32))
    peak = peak_memory(lambda: pytest.raises(FileFormatError, load, path))
    assert peak < 16 << 20, peak
    for layers in ([(2 ** 40, 2 ** 40)], [(10 ** 7, 10 ** 7)], [(3, -1)], [(3, 1.5)], [(3, True)],
                   [(3, 4), (5, 2)]):
        path = write_npz(tmp_path / "bad.npz", model_meta(layers), params=np.zeros(10, np.float32))
        with pytest.raises(FileFormatError):
            load(path)


def test_params_header_must_match_before_data_is_read(tmp_path):
    meta = model_meta([(3, 4)])
    for params in (np.zeros(16, np.float64), np.zeros(15, np.float32), np.zeros((4, 4), np.float32),
                   np.zeros(16, np.int32), np.array([1.0] * 15 + [np.nan], np.float32)):
        path = write_npz(tmp_path / "p.npz", meta, params=params)
        with pytest.raises(FileFormatError):
            load(path)
    # an .npy header lying about its shape (claims far more data than the entry holds)
    path = write_npz(tmp_path / "lie.npz", meta, params=np.zeros(16, np.float32))
    data = bytearray(open(path, "rb").read())
    old = b"'shape': (16,), }" + b" " * 7
    assert data.count(old) == 1
    data = data.replace(old, b"'shape': (999999999,), }")
    open(path, "wb").write(bytes(data))
    with pytest.raises(FileFormatError):
        load(path)


def _patch_zip_field(path, entry, local_offset, central_offset, value, width=2):
    """Overwrite a field of `width` bytes of `entry` in both its local and central headers."""
    data = bytearray(open(path, "rb").read())
    name = entry.encode()
    for sig, offset, name_at in ((b"PK\x03\x04", local_offset, 30), (b"PK\x01\x02", central_offset, 46)):
        pos = 0
        while True:
            pos = data.find(sig, pos)
            assert pos >= 0
            if data[pos + name_at:pos + name_at + len(name)] == name:
                break
            pos += 4
        data[pos + offset:pos + offset + width] = value.to_bytes(width, "little")
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("entry", ["__meta__.npy", "params.npy"])
@pytest.mark.parametrize("field", ["encrypted", "compression"])
def test_zip_features_fastgd_does_not_use_are_format_errors(tmp_path, entry, field):
    path = small_model().save(tmp_path / "m.npz")
    if field == "encrypted":
        _patch_zip_field(path, entry, 6, 8, 1)   # general purpose flag bit 0
    else:
        _patch_zip_field(path, entry, 8, 10, 97)  # an unsupported compression method
    with pytest.raises(FileFormatError):
        load(path)


@pytest.mark.parametrize("content", [
    b"", b"not a zip at all", b"PK\x03\x04" + bytes(100), b"[" * 200000, b"{" * 100 + b"}" * 100,
    b'{"format": "fastgd-model", "version": 1, "model": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'"just a string"', b"\xff\xfe", b"[1, 2]", b'{"format": "fastgd-model", "version": 2}',
    b'{"format": "fastgd-model", "version": 1, "model": {"dtype": "float16", "layers": []}}',
])
def test_broken_contents_are_format_errors(tmp_path, content):
    if content.startswith(b"PK") or not content or content == b"not a zip at all":
        path = tmp_path / "f.npz"
        path.write_bytes(content)
    else:  # as the JSON document of an otherwise valid archive
        path = write_npz(tmp_path / "f.npz", content, params=np.zeros(16, np.float32))
    with pytest.raises(FileFormatError):
        load(path)


@pytest.mark.parametrize("version", [True, 1.0, "1", [1]])
def test_a_version_that_only_compares_equal_to_1_is_refused(tmp_path, version):
    # JSON's true and 1.0 equal 1 in Python: a file declaring either loaded as version 1
    meta = dict(model_meta([(3, 2)]), version=version)
    path = write_npz(tmp_path / "v.npz", meta, params=np.zeros(8, np.float32))
    with pytest.raises(FileFormatError, match="format version"):
        load(path)
    assert load(write_npz(tmp_path / "ok.npz", model_meta([(3, 2)]), params=np.zeros(8, np.float32))).n_params == 8


def test_an_npy_file_is_a_format_error(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(FileFormatError, match="not a zip"):
        load(tmp_path / "a.npy")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX special files")
def test_only_regular_files_are_read(tmp_path):
    # a device was read without end (/dev/zero: memory without bound) and a FIFO blocked forever
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", tmp_path):
        if os.path.exists(path):
            with pytest.raises(FileFormatError, match="not a regular file"):
                load(path)
            with pytest.raises(FileFormatError, match="not a regular file"):
                load_checkpoint(path)


def test_every_truncation_is_a_format_error(tmp_path):
    path = small_model().save(tmp_path / "m.npz")
    data = open(path, "rb").read()
    cut = tmp_path / "cut.npz"
    for n in range(0, len(data), max(1, len(data) // 150)):
        cut.write_bytes(data[:n])
        with pytest.raises(FileFormatError):
            load(cut)


# ---- checkpoints --------------------------------------------------------------------------------

def checkpoint(tmp_path, optimizer):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    model = small_model("float64")
    model.fit(X, y, loss="mse", optimizer=optimizer, epochs=2, batch_size=8, progress=False)
    return save_checkpoint(tmp_path / "ck.npz", model, optimizer), X, y


def rewrite_entry(path, name, array):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[name] = array
    np.savez(path, **arrays)


@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros(5), np.zeros((2, 3)), np.zeros(3, dtype=np.complex128),
                                 np.array(["a", "b"])])
def test_checkpoint_with_edited_optimizer_state_is_refused(tmp_path, bad):
    path, X, y = checkpoint(tmp_path, optim.Adam(lr=1e-2, amsgrad=True))
    with np.load(path) as z:
        key = next(k for k in z.files if k.startswith("state/optimizer"))
    rewrite_entry(path, key, bad)
    with pytest.raises(FileFormatError):
        load_checkpoint(path)


def test_checkpoint_state_is_checked_against_its_declared_configuration(tmp_path):
    path, X, y = checkpoint(tmp_path, optim.SGD(lr=1e-2, momentum=0.9))
    with np.load(path) as z:
        meta = json.loads(z["__meta__"].tobytes())
        arrays = {k: z[k] for k in z.files}
    meta["optimizer"]["config"]["name"] = "adam"  # declares 2 slots, carries 1
    meta["optimizer"]["state"]["__dict__"]["name"] = "adam"
    meta["optimizer"]["state"]["__dict__"]["config"]["__dict__"] = {"name": "adam", "lr": 0.01}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(FileFormatError):
        load_checkpoint(path)


@pytest.mark.parametrize("optimizer, name, fitted", [
    (lambda: optim.Adam(lr=1e-2, eps=1e-60), "eps", False),
    (lambda: optim.Adam(lr=1e-2, eps=1e-60), "eps", True),
    (lambda: optim.SGD(lr=1e-2, momentum=0.9, weight_decay=1e39), "weight_decay", False)])
def test_checkpoint_whose_optimizer_cannot_step_in_the_models_dtype_is_refused(tmp_path, optimizer, name, fitted):
    # eps=1e-60 is 0 in float32, a weight decay of 1e39 infinite: such a checkpoint loaded, and its
    # optimizer refused the first step of the resumed fit
    model, opt = small_model("float32"), optimizer()
    if fitted:  # the state of a float64 run, its model's dtype then edited to float32 in the file
        model = small_model("float64")
        X, y = np.linspace(-1, 1, 24).reshape(8, 3), np.zeros((8, 2))
        model.fit(X, y, loss="mse", optimizer=opt, epochs=1, batch_size=4, progress=False)
    path = save_checkpoint(tmp_path / "ck.npz", model, opt)
    if fitted:
        with np.load(path) as z:
            meta = json.loads(z["__meta__"].tobytes())
            arrays = {k: z[k].astype(np.float32) if z[k].dtype == np.float64 else z[k] for k in z.files}
        meta["model"]["dtype"] = "float32"
        meta["optimizer"]["state"]["__dict__"]["dtype"] = "float32"
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(path, **arrays)
    with pytest.raises(FileFormatError, match=re.escape(path) + f".*{name}=.* in float32"):
        load_checkpoint(path)


def forge_adam_state(tmp_path, describe, arrays):
    """An Adam checkpoint whose optimizer state array is replaced by ``describe(key)`` (a state
    description) and whose archive also holds `arrays`, deflated."""
    path, X, y = checkpoint(tmp_path, optim.Adam(lr=1e-2))
    with np.load(path) as z:
        meta = json.loads(z["__meta__"].tobytes())
        entries = {k: z[k] for k in z.files}
    state = meta["optimizer"]["state"]["__dict__"]
    state["state"] = describe(state["state"]["__array__"])
    entries.update(arrays(state["state"]))
    entries["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez_compressed(path, **entries)
    return path


def test_checkpoint_naming_one_state_array_many_times_is_refused_without_copying_it(tmp_path):
    # a few kB of JSON naming one 1 MiB entry thousands of times copied it each time: 2 GiB
    # allocated from a small file (and without bound for a longer list)
    path = forge_adam_state(tmp_path, lambda key: {"__list__": [{"__array__": key}] * 2000},
                            lambda desc: {desc["__list__"][0]["__array__"]: np.zeros(1 << 20, np.uint8)})
    assert os.path.getsize(path) < 64 << 10

    def refused():
        with pytest.raises(FileFormatError, match="named more than once"):
            load_checkpoint(path)

    peak = peak_memory(refused)
    assert peak < 16 << 20, peak


def test_checkpoint_state_arrays_share_one_byte_budget(tmp_path):
    # distinct entries, each within the bound one state array may take, together past it
    path = forge_adam_state(tmp_path, lambda key: {"__list__": [{"__array__": f"state/pad{i}"} for i in range(64)]},
                            lambda desc: {f"state/pad{i}": np.zeros(1 << 19, np.uint8) for i in range(64)})
    peak = peak_memory(lambda: pytest.raises(FileFormatError, load_checkpoint, path))
    assert peak < 16 << 20, peak


def test_checkpoint_round_trip_then_fit(tmp_path):
    path, X, y = checkpoint(tmp_path, optim.Adam(lr=1e-2, amsgrad=True))
    ck = load_checkpoint(path)
    ck.model.fit(X, y, loss="mse", optimizer=ck.optimizer, epochs=1, batch_size=8, progress=False)
    assert np.all(np.isfinite(ck.model.params))


@pytest.mark.parametrize("entry", ["memory/s_hist", "memory/y_hist", "memory/rho", "x", "grad"])
@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros(3), np.zeros((11, 5))])
def test_lbfgs_checkpoint_arrays_must_fit_the_model(tmp_path, entry, bad):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    model = small_model("float64")
    lbfgs = fastgd.LBFGS()
    model.fit(X, y, loss="mse", optimizer=lbfgs, epochs=3, batch_size=None, progress=False)
    path = save_checkpoint(tmp_path / "ck.npz", model, lbfgs)
    rewrite_entry(path, f"state/optimizer/{entry}", bad)
    with pytest.raises(FileFormatError):
        load_checkpoint(path)


def test_saving_something_else_is_a_type_error_naming_it(tmp_path):
    model = fastgd.Sequential([fastgd.Dense(2, 1)])
    opt = optim.SGD()
    with pytest.raises(TypeError, match="model must be a fastgd.Sequential, got int"):
        fastgd.io.save(3, tmp_path / "m")
    with pytest.raises(TypeError, match="optimizer must be a fastgd optimizer, got int"):
        save_checkpoint(tmp_path / "c", model, 3)
    with pytest.raises(TypeError, match="optimizer must be a fastgd optimizer, got None"):
        save_checkpoint(tmp_path / "c", model, None)
    with pytest.raises(TypeError, match="schedule must be a fastgd schedule or None, got str"):
        save_checkpoint(tmp_path / "c", model, opt, schedule="cosine")
    with pytest.raises(TypeError, match="history must be a History or None, got dict"):
        save_checkpoint(tmp_path / "c", model, opt, history={})
    with pytest.raises(TypeError, match="model_checkpoints must hold fastgd.callbacks.ModelCheckpoint objects, got "
                                        "EarlyStopping"):
        save_checkpoint(tmp_path / "c", model, opt, model_checkpoints=[fastgd.EarlyStopping()])
    with pytest.raises(TypeError, match="model_checkpoints must be a list of fastgd.callbacks.ModelCheckpoint "
                                        "objects, got int"):
        save_checkpoint(tmp_path / "c", model, opt, model_checkpoints=3)
    assert not list(tmp_path.iterdir())
    save_checkpoint(tmp_path / "c", model, fastgd.LBFGS())


@pytest.mark.parametrize("seed", [-1, 1.5, "7", [3], {"__array__": "state/x"}, True])
def test_a_checkpoint_whose_history_holds_no_seed_fit_takes_is_refused(tmp_path, seed):
    # it loaded, and ck.seed, which the README passes to fit(seed=...), failed only in that fit
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    model, opt = small_model("float64"), optim.SGD(lr=0.01)
    history = model.fit(X, y, loss="mse", optimizer=opt, epochs=1, batch_size=8, progress=False, seed=3)
    path = save_checkpoint(tmp_path / "ck.npz", model, opt, history=history)
    assert load_checkpoint(path).seed == 3
    with np.load(path) as z:
        meta = json.loads(z["__meta__"].tobytes())
    meta["history"]["params"]["seed"] = seed
    rewrite_entry(path, "__meta__", np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(FileFormatError, match=r"history.params\['seed'\] must be an integer >= 0 or None"):
        load_checkpoint(path)


@pytest.mark.parametrize("header", [b"{'descr': '|u1', 'fortran_order': False, 'shape': (3, }",
                                    b"{'descr': '|u1', 'fortran_order': False, 'shape': [(3,",
                                    b"{'descr': '|u1', 'fortran_order': False, 'shape': (3,)} 'x",
                                    b"{'descr': '<,4', 'fortran_order': False, 'shape': (3,), }",
                                    b"{'descr': 'f4,,f4', 'fortran_order': False, 'shape': (3,), }",
                                    b"{'descr': 'f4,(', 'fortran_order': False, 'shape': (3,), }"])
def test_an_npy_header_numpy_cannot_parse_is_a_format_error(tmp_path, header):
    # NumPy tokenizes a header that is no Python literal again (for Python 2's long suffixes):
    # an unclosed bracket raised tokenize.TokenError out of load; it parses a comma-separated
    # dtype string with ast.literal_eval: "<,4" raised SyntaxError out of load
    header += b" " * (63 - 10 - len(header) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"abc"
    for name in ("__meta__", "params"):
        path = tmp_path / f"{name}.npz"
        with zipfile.ZipFile(path, "w") as z:
            if name == "params":
                z.writestr("__meta__.npy", _npy_bytes(np.frombuffer(json.dumps(model_meta([(1, 1)])).encode(),
                                                                    np.uint8)))
            z.writestr(f"{name}.npy", npy)
        with pytest.raises(FileFormatError):
            load(path)


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_metadata_of_many_small_objects_is_refused_before_it_is_parsed(tmp_path):
    """Each "{}" of two bytes becomes a dict of 64: 64 MiB of them took 3 GB and a minute to
    parse. The document's lists and objects are counted first."""
    meta = model_meta([(3, 2)])
    raw = json.dumps(meta)[:-1].encode() + b', "pad": [' + b",".join([b"{}"] * 300_000) + b"]}"
    path = write_npz(tmp_path / "m.npz", raw, params=np.zeros(8, np.float32))
    with pytest.raises(FileFormatError, match=r"holds 3000\d\d lists and objects, more than the 200000"):
        load(path)
    def refused():
        with pytest.raises(FileFormatError):
            load(path)

    assert peak_memory(refused) < 4 * len(raw)  # the bytes and their counts, no parse
    # the same document with fewer pads loads
    ok = json.dumps(meta)[:-1].encode() + b', "pad": [' + b",".join([b"{}"] * 1000) + b"]}"
    load(write_npz(tmp_path / "ok.npz", ok, params=np.zeros(8, np.float32)))


def test_compressed_metadata_that_expands_far_beyond_fastgds_is_refused(tmp_path):
    """A 62 kB file held 63 MB of deflated JSON; fastgd stores its description uncompressed."""
    meta = model_meta([(3, 2)])
    body = json.dumps(meta)[:-1].encode() + b', "pad": "' + b"a" * (24 << 20) + b'"}'
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__meta__.npy", _npy_bytes(np.frombuffer(body, np.uint8)))
        zf.writestr("params.npy", _npy_bytes(np.zeros(8, np.float32)))
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(FileFormatError, match=r"entry '__meta__' expands from \d+ to \d+ bytes"):
        load(path)
    # a fastgd file compressed by other means still loads
    model, saved = small_model(), tmp_path / "saved.npz"
    model.save(saved)
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(tmp_path / "deflated.npz", "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    np.testing.assert_array_equal(load(tmp_path / "deflated.npz").params, model.params)


@pytest.mark.parametrize("declared_packed", [None, 2**31 - 1])
def test_compressed_arrays_that_expand_far_beyond_fastgds_are_refused_before_they_are_read(tmp_path,
                                                                                           declared_packed):
    """A 62 kB file held the 64 MB of deflated zeros of the parameters of the model it declared,
    which load read (peaking at twice that); declaring the compressed size larger than the file
    does not raise the bound."""
    layers = [(1024, 8192)]
    n = 1024 * 8192 + 8192
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__meta__.npy", _npy_bytes(np.frombuffer(json.dumps(model_meta(layers, "float64")).encode(),
                                                             np.uint8)))
        zf.writestr("params.npy", _npy_bytes(np.zeros(n)))
    if declared_packed is not None:
        _patch_zip_field(path, "params.npy", 18, 20, declared_packed, width=4)
    assert os.path.getsize(path) < 1 << 20

    def refused():
        with pytest.raises(FileFormatError, match=r"entry 'params' expands from \d+ to \d+ bytes"):
            load(path)
    assert peak_memory(refused) < 8 << 20


def test_a_zip_directory_of_more_entries_than_fastgd_writes_is_refused_before_it_is_read(tmp_path):
    """zipfile builds an object per central-directory entry on opening: a 52 MB file declaring a
    million entries took 750 MB before fastgd saw any of them."""
    model = small_model()
    saved = model.save(tmp_path / "m")
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(tmp_path / "many.npz", "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        for i in range(10_001):
            dst.writestr(f"x{i}", b"")
    with pytest.raises(FileFormatError, match="zip directory declares 10003 entries"):
        load(tmp_path / "many.npz")
    # a zip64 record before the end record's locator, whose counts zipfile takes over the end record's
    data = open(saved, "rb").read()
    eocd = data.rfind(b"PK\x05\x06")
    entries, cd_size, cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    record = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 10**6, 10**6, 46 * 10**6, cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, eocd, 1)
    (tmp_path / "zip64.npz").write_bytes(data[:eocd] + record + locator + data[eocd:])
    with pytest.raises(FileFormatError, match="zip directory declares 1000000 entries in 46000000 bytes"):
        load(tmp_path / "zip64.npz")
    np.testing.assert_array_equal(load(saved).params, model.params)


# ---- checkpoints with early stopping --------------------------------------------------------------

def early_stopping_checkpoint(tmp_path, restore_best=True):
    """A checkpoint written by ModelCheckpoint in a fit with early stopping and a save_best_only
    ModelCheckpoint, after 6 epochs, the last ones past its best (epoch 3)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)), rng.normal(size=(32, 2))
    model, opt = small_model("float64"), optim.SGD(lr=0.05)
    path = tmp_path / "ck.npz"
    model.fit(X, y, loss="mse", optimizer=opt, epochs=6, batch_size=8, progress=False, seed=0,
              validation_data=(X, y + 100.0 * (1 + np.arange(2))),
              callbacks=[fastgd.callbacks.ModelCheckpoint(path),
                         fastgd.callbacks.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)],
              early_stopping=fastgd.EarlyStopping(patience=20, restore_best=restore_best, mode="min"))
    return str(path)


def edit_early_stopping(path, change, entry="early_stopping"):
    """Rewrite the checkpoint with ``change(entry, arrays)`` applied to its early_stopping entry (a
    description whose state's keys are under ``entry["state"]["__dict__"]``), or another
    ``entry``, and its arrays; an entry ``change`` returns replaces it."""
    with np.load(path) as z:
        meta = json.loads(z["__meta__"].tobytes())
        arrays = {k: z[k] for k in z.files}
    replaced = change(meta[entry], arrays)
    if replaced is not None:
        meta[entry] = replaced
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)


def _state(entry):
    return entry["state"]["__dict__"]


def _set(key, value):
    return lambda e, a: _state(e).__setitem__(key, value)


def _best_params(value):
    return lambda e, a: a.__setitem__("state/early_stopping/best_params", value)


@pytest.mark.parametrize("change, message", [
    (lambda e, a: "patience 3", "early_stopping must be a dict"),
    (lambda e, a: {"config": e["config"]}, "early_stopping lacks the key"),
    (lambda e, a: e["config"].__setitem__("patience", -1), "patience must be an integer >= 0"),
    (lambda e, a: e["config"].__setitem__("mode", "avg"), "mode"),
    (lambda e, a: e["config"].__setitem__("extra", 1), "unknown key"),
    (lambda e, a: e.__setitem__("state", {"__list__": []}), "state must be a dict"),
    (lambda e, a: e.__setitem__("state", {"__weird__": 1}), "malformed state description"),
    (lambda e, a: _state(e).pop("wait") and None, "lacks the key"),
    (lambda e, a: _state(e).__setitem__("monitor", "loss"), "state is for monitor='loss'"),
    (lambda e, a: _state(e).__setitem__("wait", _state(e)["wait"] + 1), r"state\['wait'\] must count the epochs after the best one"),
    (_set("wait", -1), r"state\['wait'\] must be an integer in"),
    (_set("best_epoch", 6), r"state\['best_epoch'\] must be an integer in \[0, 5\]"),
    (_set("best_epoch", "0"), r"state\['best_epoch'\]"),
    (_set("best", math.nan), r"state\['best'\] must be a finite number"),
    (_set("best", None), r"state\['best'\] must be a finite number"),
    (_set("next_epoch", 10**30), r"state\['next_epoch'\] must be an integer in"),
    (_set("next_epoch", True), r"state\['next_epoch'\]"),
    (_set("stopped_epoch", 2), r"state\['stopped_epoch'\] is 2"),
    (_set("best_params", None), r"restore_best=False"),
    (_set("best_params", {"__array__": "params"}), "state arrays live under 'state/'"),
    (lambda e, a: _state(e).__setitem__("best_params", {"__array__": "state/optimizer/x"}), "missing array entry"),
    (_best_params(np.zeros(5)), r"best parameters must be \(26,\) float64"),
    (_best_params(np.zeros(26, np.float32)), r"best parameters must be \(26,\) float64"),
    (_best_params(np.zeros((2, 13))), "1-D"),
    (_best_params(np.arange(26)), "float32 or float64"),
    (_best_params(np.full(26, np.nan)), "must be finite"),
    (_best_params(np.zeros(1 << 16)), "declares"),
])
def test_checkpoint_with_edited_early_stopping_is_refused(tmp_path, change, message):
    path = early_stopping_checkpoint(tmp_path)
    assert load_checkpoint(path).early_stopping.best_epoch == 3
    edit_early_stopping(path, change)
    with pytest.raises(FileFormatError, match=message):
        load_checkpoint(path)


def test_checkpoint_whose_early_stopping_saw_other_epochs_than_its_history_is_refused(tmp_path):
    path = early_stopping_checkpoint(tmp_path)

    def one_epoch_later(entry, arrays):  # a state that holds together, one epoch past the history
        _state(entry)["next_epoch"] += 1
        _state(entry)["wait"] += 1

    edit_early_stopping(path, one_epoch_later)
    with pytest.raises(FileFormatError, match="has seen the epochs before epoch 7, the history those before epoch 6"):
        load_checkpoint(path)
    ck = fastgd.load_checkpoint(early_stopping_checkpoint(tmp_path))
    with pytest.raises(ValueError, match="has seen the epochs before epoch 6, the history those before epoch 1"):
        save_checkpoint(tmp_path / "other.npz", ck.model, ck.optimizer, history=fastgd.History.from_dict(
            {"epochs": [0], "history": {}}), early_stopping=ck.early_stopping)
    with pytest.raises(TypeError, match="early_stopping must be a fastgd.EarlyStopping or None, got int"):
        save_checkpoint(tmp_path / "other.npz", ck.model, ck.optimizer, early_stopping=3)
    assert not os.path.exists(tmp_path / "other.npz")


@pytest.mark.parametrize("restore_best", [True, False])
def test_checkpoint_early_stopping_round_trip(tmp_path, restore_best):
    path = early_stopping_checkpoint(tmp_path, restore_best)
    ck = load_checkpoint(path)
    es = ck.early_stopping
    assert (es.monitor, es.patience, es.mode, es.restore_best) == ("val_loss", 20, "min", restore_best)
    assert (es.next_epoch, es.best_epoch, es.wait, es.stopped_epoch) == (6, 3, 2, None)
    assert es.best_epoch == ck.history.best_epoch and es.best == ck.history["val_loss"][3]
    assert (es.best_params is not None) == restore_best
    assert f"early_stopping=EarlyStopping(monitor='val_loss', patience=20, min_delta=0.0, mode='min', " \
           f"restore_best={restore_best})" in repr(ck)
    assert ck.best_values == [{"monitor": "val_loss", "mode": "min", "best": es.best}]


# A checkpoint written before checkpoints saved the callbacks' states (zlib-compressed, base64),
# by ModelCheckpoint in this fit on X, y = default_rng(0).normal(size=(8, 2)), .normal(size=(8, 1)):
# Sequential([Dense(2, 2), Dense(2, 1, activation="identity")], dtype="float64", seed=0).fit(X, y,
# loss="mse", optimizer=SGD(lr=0.05), epochs=3, batch_size=4, seed=0, validation_data=(X, y),
# callbacks=[ModelCheckpoint(path), ModelCheckpoint(best, save_best_only=True)],
# early_stopping=EarlyStopping(patience=20)). Its save_best_only ModelCheckpoint's state is its
# "model_checkpoints" entry, [{"monitor": "val_loss", "mode": "min", "best": 0.5624839885708544}].
LEGACY_CHECKPOINT = (
    "eNrlVj2IJEUUnr1bPVwvEBHksrG9dfWYva3uru6uPoRJRIRVmUADWZaidrpmprH/6KqZu3EdbzQ5DDS5xANzDURBwcTDTTcREzE6"
    "DUxU0EBNjNRX1d3zdzvLwl5wYA/TP69evfe9r+q9eq3ts6ubteJ6opa9N/7l3/Jaqz1Wy1jOYnE5yYYrtUdqh6Ve9bz58qsvtV5b"
    "qQ1q+xsBF+1840p949kO2WjUNzppLnOW0DQPuJI/zyLBQS56LOPw/bTfeKZRH9VPca39+fjN75777PPmW7996q+uf31w49G9W7cP"
    "f2q+89G28X7zdvOP3vXR7vUfDj54+6GPb/z4fXPn1w/vPPnKJweX1i/983PjVnP9y3fvPOV/1WzNceC+sCMqDi4AB0IyybfSTIZx"
    "+AbPt/R3Rcm4nDa+F5Sg01PSWrqcFyehcJZHQypkmmVh0t3a40LS/+NCv0i++Kti5zywQ2nMJaO0YuGbc4Vm9TyShTf75olYMIl7"
    "SiLW9g3wEjNpXKkbHSZkN9hs93j79SwNE2k06saA5yJMExg34StOAx7B+74RyGHG9awoZdLFSjdiQ9AG4c6+ESa0w5ns51wJLBhN"
    "+3JRxNoyHDBZ2DdyHvWVmb2QCRomoQKFLiOQJLwLWgNORZRqryBWcK7ysNuTla7R4zRR0UTGqFE/AQTzLghhwBMZyuG9grE7UrSk"
    "QmjOEhZrymLBFUJjkv96tJ0mnbA7pyi6geY1L3w5egVigNiPJ6ACFmc8gaSbgSkkz9MBCDrFlqkQBrzNhlO9NBR88iU4DxQnDnE9"
    "m2APOT7xTWJhSy88u6ahVjYVfJ35Gi+lQdiWlB4Ffias49TuxxiLIHkGAncBototvkJ2RBrM8sLynA11xMaRNd8YjbSbXgi1Mx/q"
    "WTxL2z2dRoAZgFm7CwoayE6BZHpXWt2cBXrzFQrEshE2MbJtG9uYKD0f26aJMXGwbVvYx0rmgYpvmTZCJiIW2dVMwboFovSDkG3C"
    "NAdeXERszzNd7RMhy7OwQ3wfI4TBiFfJwQMhvnp6GGFk7k7zAAy62LLBkecSD1mm56lJrum7jul7vmP5YFPLHGL5toltYjvg3lNG"
    "BiyiM4aQ64IpbDm258Nq6knw5hHkEOIBZEsjclwLE9snxPEQhI51Xhbnk2a03Bhqj0zYt1UNYLLdo6LYFFjx0ut3OpFeca2o1juh"
    "AvZnpEsKcGyoOhACzEIBrBb7CI5GHtCcM6FrTdKPIpUe/XygC1IpUrrzh+licYhTsJ+qLTAlQ0cjQ560lR1LxRFD+YNiLdlk96vi"
    "rctPmKgJUAPBDKfqrAaxzPvHZfUSrws2E35NTuLWBBbG716BcmyirMrzVVYU2xm6quGSrZm+YlmCLe9EqlzThxidHnPliXWyCJcG"
    "BLW+tb1yZvPsfKt0WLY8a7XpNV5R92l7tDhPdYvjsgG8MDdvFWYu7R2Pc39xzsy3EzPH922LFlV3ozoX9T8/Z/H3M7W5Xqe1/cCD"
    "amQVfg+Dt791/P8BPUVpTQ=="
)


def legacy_checkpoint(tmp_path):
    import base64
    import zlib

    path = tmp_path / "legacy.npz"
    path.write_bytes(zlib.decompress(base64.b64decode(LEGACY_CHECKPOINT)))
    return str(path)


def test_a_checkpoint_of_best_values_without_callback_states_still_loads_and_resumes(tmp_path):
    from fastgd.callbacks import ModelCheckpoint

    path = legacy_checkpoint(tmp_path)
    with np.load(path) as z:
        assert "callbacks" not in json.loads(z["__meta__"].tobytes())
    ck = load_checkpoint(path)
    best_value = 0.5624839885708544
    assert ck.best_values == [{"monitor": "val_loss", "mode": "min", "best": best_value}]
    assert ck.callback_states == {} and ck.epoch == 3 and ck.early_stopping.best == best_value
    every, best, best_loss = (ModelCheckpoint(tmp_path / "e"), ModelCheckpoint(tmp_path / "b", save_best_only=True),
                              ModelCheckpoint(tmp_path / "l", monitor="loss", save_best_only=True))
    assert ck.resume_callbacks([every, best, best_loss]) == [every, best, best_loss]
    assert (every.best, best.best, best_loss.best) == (math.inf, best_value, math.inf)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    h = ck.model.fit(X, y, loss="mse", optimizer=ck.optimizer, epochs=2, batch_size=4, seed=ck.seed,
                     validation_data=(X, y), initial_epoch=ck.epoch, early_stopping=ck.early_stopping,
                     callbacks=[every, best], progress=False)
    assert h.epochs == [3, 4] and best.best == min(h.history["val_loss"]) < best_value


@pytest.mark.parametrize("change, message", [
    (lambda e, a: {"monitor": "val_loss"}, "model_checkpoints must be a list"),
    (lambda e, a: [3], "state must be a dict"),
    (lambda e, a: [{**e[0], "extra": 1}], "unknown key"),
    (lambda e, a: [{"monitor": "val_loss", "mode": "min"}], "lacks the key"),
    (lambda e, a: [{**e[0], "best": math.nan}], r"state\['best'\] must be a number"),
    (lambda e, a: [{**e[0], "best": True}], r"state\['best'\] must be a number"),
    (lambda e, a: [{**e[0], "best": "0.5"}], r"state\['best'\] must be a number"),
    (lambda e, a: [{**e[0], "mode": "avg"}], "mode"),
    (lambda e, a: [{**e[0], "monitor": ["val_loss"]}], "monitor must be the name"),
    (lambda e, a: [e[0], {**e[0], "best": 1.0}], "more than one state for one monitor and mode"),
])
def test_checkpoint_with_edited_best_values_is_refused(tmp_path, change, message):
    path = legacy_checkpoint(tmp_path)
    edit_early_stopping(path, change, "model_checkpoints")
    with pytest.raises(FileFormatError, match=message):
        load_checkpoint(path)


def test_checkpoint_without_early_stopping_entry_still_loads(tmp_path):
    # the files written before checkpoints held the early stopping's state
    path = early_stopping_checkpoint(tmp_path)
    with np.load(path) as z:
        params = z["params"]

    with np.load(path) as z:
        meta = json.loads(z["__meta__"].tobytes())
        arrays = {k: z[k] for k in z.files}
    del meta["early_stopping"], meta["callbacks"], arrays["state/early_stopping/best_params"]
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    ck = load_checkpoint(path)
    assert ck.early_stopping is None and ck.best_values == [] and ck.callback_states == {} and ck.epoch == 6
    np.testing.assert_array_equal(ck.model.params, params)


def test_every_truncation_of_an_early_stopping_checkpoint_is_a_format_error(tmp_path):
    data = open(early_stopping_checkpoint(tmp_path), "rb").read()
    cut = tmp_path / "cut.npz"
    for n in range(0, len(data), max(1, len(data) // 150)):
        cut.write_bytes(data[:n])
        with pytest.raises(FileFormatError):
            load_checkpoint(cut)


# ---- checkpoints with the states of callbacks -----------------------------------------------------

class Stateful(fastgd.callbacks.Callback):
    """A callback whose state is whatever it is given."""

    def __init__(self, state=None):
        self.state = {} if state is None else state

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.state = state


def callback_checkpoint(tmp_path, state):
    model = small_model("float64")
    return save_checkpoint(tmp_path / "ck.npz", model, optim.SGD(), callbacks=[Stateful(state)])


def test_every_kind_of_callback_state_a_checkpoint_holds_comes_back(tmp_path):
    state = {"n": 3, "big": 10**30, "x": -0.5, "nan": math.nan, "inf": -math.inf, "flag": True, "none": None,
             "name": "a/b", "a/b": np.arange(6, dtype=np.int32).reshape(2, 3), "f": np.asfortranarray(np.eye(3)[:, :2]),
             "mask": np.array([True, False]), "scalar": np.array(2.5, np.float32), "np": np.float32(1.5),
             "nested": {"list": [1, [2, {"deep": np.zeros(2)}]], "tuple": (4, "five")}, "empty": {}}
    ck = load_checkpoint(callback_checkpoint(tmp_path, state))
    (key, loaded), = ck.callback_states.items()
    assert key == (Stateful.__qualname__, 0)
    assert loaded.keys() == state.keys()
    for k in ("a/b", "f", "mask", "scalar"):
        assert loaded[k].dtype == state[k].dtype and np.array_equal(loaded[k], state[k]), k
    assert loaded["nested"]["list"][1][1]["deep"].tolist() == [0.0, 0.0]
    assert loaded["nested"]["tuple"] == [4, "five"]  # a tuple comes back as a list
    assert math.isnan(loaded["nan"]) and loaded["np"] == 1.5 and type(loaded["np"]) is float
    assert {k: loaded[k] for k in ("n", "big", "x", "inf", "flag", "none", "name", "empty")} == \
           {k: state[k] for k in ("n", "big", "x", "inf", "flag", "none", "name", "empty")}


def _cyclic():
    cycle = []
    cycle.append(cycle)
    return {"cycle": cycle}


def _nested(depth):
    state = {}
    inner = state
    for _ in range(depth - 1):
        inner["x"] = {}
        inner = inner["x"]
    return state


@pytest.mark.parametrize("state, error, message", [
    ({"s": {1, 2}}, TypeError, r"state\['s'\] is a set: a state holds None, bools, numbers, strs, NumPy arrays"),
    ({"ok": 1, 2: "two"}, TypeError, r"state has the key 2, a int: the keys of a state must be strs"),
    ({"a": {"b": [0, object()]}}, TypeError, r"state\['a'\]\['b'\]\[1\] is a object"),
    ({"a": np.array(["x"])}, TypeError, r"state\['a'\] is an array of dtype <U1: a state's arrays must hold numbers"),
    ({"a": np.array([1 + 2j])}, TypeError, r"state\['a'\] is an array of dtype complex128"),
    ({"a": np.array([None])}, TypeError, r"state\['a'\] is an array of dtype object"),
    ({"a": np.zeros(2, [("x", "f8")])}, TypeError, r"state\['a'\] is an array of dtype \[\('x', '<f8'\)\]"),
    ({"d": np.datetime64("2020-01-01")}, TypeError, r"state\['d'\] is a datetime64"),
    ({"m": np.ma.masked_array([1, 2], mask=[0, 1])}, TypeError, r"state\['m'\] is a masked array: a state's arrays "
                                                                 r"are saved without a mask"),
    ({"x": np.longdouble(0.1)}, TypeError, r"state\['x'\] is a longdouble, which has no JSON form: a state's NumPy "
                                           r"scalars must be float64 or narrower"),
    ({"n": [10**5000]}, ValueError, r"state\['n'\]\[0\] is an int of 16610 bits, more digits than Python converts "
                                    r"to JSON"),
    ([1, 2], TypeError, r"callbacks\[\d\] \(.*Stateful\).state_dict\(\) must return a dict, got \[1, 2\]"),
    (_cyclic(), ValueError, r"state\['cycle'\]\[0\]\[0\].* nests deeper than the 30 dicts and lists"),
    (_nested(31), ValueError, r"nests deeper than the 30 dicts and lists a fastgd file holds"),
    # the model's 26 float64 parameters take 208 bytes: 8 times that and 1 MiB is 1050240 bytes
    ({"big": np.zeros(1050240 // 8 + 1)}, ValueError, r"the arrays of the callbacks' states, with those of "
                                                      r"callbacks\[\d\] \(.*Stateful\), take 1050248 bytes, more "
                                                      r"than the 1050240 fastgd loads \(8 times the model's"),
    # the file's other entries: params, __meta__ (and the optimizer's state, in a fit)
    ({"many": [np.zeros(1)] * 9999}, ValueError, r"the callbacks' states, with that of callbacks\[\d\] "
                                                 r"\(.*Stateful\), hold 9999 arrays, each an entry of the file; "
                                                 r"with its [23] others, more than the 10000 entries fastgd loads"),
])
def test_a_callback_state_a_checkpoint_cannot_hold_is_refused_at_save_naming_the_callback(tmp_path, state, error,
                                                                                         message):
    with pytest.raises(error, match=message) as info:
        callback_checkpoint(tmp_path, state)
    assert "cannot save" in str(info.value) and ("Stateful" in str(info.value) or "arrays" in str(info.value))
    assert not list(tmp_path.iterdir())
    # a fit's ModelCheckpoint leaves that state out, once warned, and the training goes on: a
    # callback's state that grows past what a file holds does not end a long run
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    every, best = (fastgd.callbacks.ModelCheckpoint(tmp_path / "fit{epoch}.npz"),
                   fastgd.callbacks.ModelCheckpoint(tmp_path / "best.npz", monitor="loss", save_best_only=True))
    kept = Stateful({"kept": np.arange(3.0)})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        h = small_model("float64").fit(X, y, loss="mse", optimizer=optim.SGD(), epochs=3, progress=False,
                                       callbacks=[every, Stateful(state), kept, best])
    assert h.epochs == [0, 1, 2]
    # once per ModelCheckpoint in the fit, naming the callback and why
    assert sorted(re.sub(r".*/", "", str(w.message)).split(" ")[0] for w in record) == ["best.npz", "fit1.npz"]
    for w in record:
        assert w.category is UserWarning and re.search(message, str(w.message)), str(w.message)
        assert re.match(r"ModelCheckpoint: .* leaves out a callback's state, as this fit's later checkpoints do while "
                        r"it cannot be saved \(", str(w.message)), str(w.message)
    for name in ("fit1.npz", "fit3.npz", "best.npz"):
        ck = load_checkpoint(tmp_path / name)
        assert set(ck.callback_states) == {(Stateful.__qualname__, 1), (every.state_key, 0), (best.state_key, 0)}
        assert np.array_equal(ck.callback_states[(Stateful.__qualname__, 1)]["kept"], np.arange(3.0))


@pytest.mark.parametrize("state", [{"lists": [[] for _ in range(100_000)]}, {"text": "{[" * 100_001}])
def test_a_callback_state_of_more_json_containers_than_loading_takes_is_refused_at_save(tmp_path, state):
    # loading bounds the '{' and '[' of the description before parsing it: the file was written,
    # then refused by load_checkpoint
    with pytest.raises(ValueError, match=r"cannot save .*: its description \(callbacks' states, history\) holds "
                                         r"2000\d\d lists and objects of JSON \(each '\{' and '\[', in strs too\), "
                                         r"more than the 200000 fastgd loads"):
        callback_checkpoint(tmp_path, state)
    assert not list(tmp_path.iterdir())
    # a fit's ModelCheckpoint writes the checkpoint without the callbacks' states, with a warning
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    with pytest.warns(UserWarning, match=r"leaves out a callback's state, .* holds 2000\d\d lists and objects of JSON"):
        small_model("float64").fit(X, y, loss="mse", optimizer=optim.SGD(), epochs=1, progress=False,
                                   callbacks=[fastgd.callbacks.ModelCheckpoint(tmp_path / "fit.npz"), Stateful(state)])
    assert load_checkpoint(tmp_path / "fit.npz").callback_states == {}
    (tmp_path / "fit.npz").unlink()
    del state[next(iter(state))]
    state["fewer"] = [[] for _ in range(90_000)]
    assert load_checkpoint(callback_checkpoint(tmp_path, state)).callback_states


def test_the_deepest_and_largest_callback_state_a_checkpoint_holds_loads(tmp_path):
    state = {**_nested(30), "big": np.zeros(1050240 // 8)}
    ck = load_checkpoint(callback_checkpoint(tmp_path, state))
    loaded = ck.callback_states[(Stateful.__qualname__, 0)]
    assert loaded["big"].shape == state["big"].shape and _nested(30) == {"x": loaded["x"]}


def edit_callbacks(path, change):
    """Rewrite the checkpoint with ``change(entries, arrays)`` applied to its callbacks entry; an
    entry ``change`` returns replaces it."""
    edit_early_stopping(path, change, "callbacks")


def _entry(key, value):
    return lambda e, a: e[0].__setitem__(key, value)


def _array(value):
    return lambda e, a: a.__setitem__("state/callbacks/0", value)


@pytest.mark.parametrize("change, message", [
    (lambda e, a: {"key": "x"}, "callbacks must be a list of callback states"),
    (lambda e, a: [3], r"callbacks\[0\] must be a dict"),
    (lambda e, a: [{"key": "x", "state": e[0]["state"]}], r"callbacks\[0\] lacks the key\(s\) 'index'"),
    (lambda e, a: [{**e[0], "extra": 1}], "unknown key"),
    (_entry("key", 7), r"callbacks\[0\]\['key'\] must be a str"),
    (_entry("index", -1), r"callbacks\[0\]\['index'\] must be an integer"),
    (_entry("index", True), r"callbacks\[0\]\['index'\]"),
    (_entry("index", 2**70), r"callbacks\[0\]\['index'\] must be an integer"),
    (_entry("index", 0.0), r"callbacks\[0\]\['index'\]"),
    (lambda e, a: [e[0], dict(e[0])], "more than one state for the callback .*Stateful #0"),
    (_entry("state", {"__list__": []}), r"callbacks\[0\]\['state'\] must describe a non-empty dict"),
    (_entry("state", {"__dict__": {}}), r"callbacks\[0\]\['state'\] must describe a non-empty dict"),
    (_entry("state", 5), r"callbacks\[0\]\['state'\] must describe a non-empty dict"),
    (_entry("state", {"__weird__": 1}), "malformed state description"),
    (_entry("state", {"__dict__": {"a": {"__array__": "params"}}}), "state arrays live under 'state/'"),
    (_entry("state", {"__dict__": {"a": {"__array__": 3}}}), "state arrays live under 'state/'"),
    (_entry("state", {"__dict__": {"a": {"__array__": "state/callbacks/9"}}}), "missing array entry"),
    (_entry("state", {"__dict__": {"a": {"__array__": "state/callbacks/0"},
                                   "b": {"__array__": "state/callbacks/0"}}}), "named more than once"),
    (_array(np.zeros(1 << 18)), "declares"),
    (_array(np.array(["x"])), "expected plain numbers"),
    (_array(np.array([1 + 1j])), "expected plain numbers"),
    (_array(np.array([{"a": 1}], dtype=object)), "dtype object; expected plain numbers"),
    # a ModelCheckpoint's state is checked as one (it gives best_values)
    (lambda e, a: [{"key": "ModelCheckpoint{'monitor': 'loss', 'mode': 'min', 'save_best_only': True}", "index": 0,
                    "state": {"__dict__": {"monitor": "loss", "mode": "min", "best": "low"}}}],
     r"state\['best'\] must be a number"),
])
def test_checkpoint_with_edited_callback_states_is_refused(tmp_path, change, message):
    path = callback_checkpoint(tmp_path, {"a": np.arange(3.0), "n": 1})
    assert load_checkpoint(path).callback_states[(Stateful.__qualname__, 0)]["n"] == 1
    edit_callbacks(path, change)
    with pytest.raises(FileFormatError, match=message):
        load_checkpoint(path)


def test_checkpoint_whose_callback_states_nest_deeper_than_fastgd_reads_is_refused(tmp_path):
    path = callback_checkpoint(tmp_path, {"n": 1})
    deep = 1
    for _ in range(40):
        deep = {"__dict__": {"x": deep}}
    edit_callbacks(path, _entry("state", deep))
    with pytest.raises(FileFormatError, match="nested deeper than 64 levels"):
        load_checkpoint(path)


# ---- the CSV log that CSVLogger(append=True) goes on with ------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"\n", r"its first row \[\] is not a CSVLogger header"),
    (b"\r\nepoch,loss\r\n1,0.5\r\n", r"its first row \[\] is not a CSVLogger header"),
    (b"loss,val_loss\n0.5,0.6\n", r"its first row \['loss', 'val_loss'\] is not a CSVLogger header"),
    (b"\x81epoch,loss\n1,0.5\n", r"it is not a CSV log \(UnicodeDecodeError"),
    (b"epoch," + b"x" * 200_000 + b"\n", r"it is not a CSV log \(Error: field larger than field limit"),
])
def test_csv_logger_refuses_to_append_to_a_file_that_is_no_log(tmp_path, content, message):
    # a blank first row was taken for a header without the epoch column, another program's CSV
    # for a log whose first column is the epoch: the appended values stood under other names
    # than theirs; bytes that are no text raised a UnicodeDecodeError naming no file after the
    # first epoch. The file is refused before training, and left as it was.
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    model = small_model()
    before = model.params.copy()
    X, y = np.linspace(-1, 1, 12).reshape(4, 3), np.zeros((4, 2))
    with pytest.raises(ValueError, match=re.escape(repr(str(path))) + ".*" + message):
        model.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.1), epochs=1, progress=False,
                  callbacks=[fastgd.callbacks.CSVLogger(path, append=True)])
    assert path.read_bytes() == content
    np.testing.assert_array_equal(model.params, before)
