"""Property-based fuzzing (hypothesis) of the ops, the losses, fit/predict and the loaders.

Every property is derandomized (the same examples every run, so no test depends on luck) and
sized for CI. The properties that drive whole models or parse mutated files run in a child
interpreter (``python tests/test_fuzz.py <name>``), so a crash there is reported as a failure
with the falsifying example instead of taking the test run down.
"""

import io
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import fastgd  # noqa: E402
from _gemm_oracle import activate, forward_keeping  # noqa: E402
from fastgd import losses, ops, optim  # noqa: E402
from fastgd.io import FileFormatError  # noqa: E402
from fastgd.training import DivergenceError  # noqa: E402

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = st.sampled_from([np.float32, np.float64])
ACTIVATIONS = list(fastgd.ACTIVATIONS)
FINITE = {"allow_nan": False, "allow_infinity": False, "min_value": -1e3, "max_value": 1e3}


def arrays(dtype, shape, **elements):
    return hnp.arrays(dtype, shape, elements=st.floats(width=32 if dtype == np.float32 else 64,
                                                       **(elements or FINITE)))


# ---- ops ------------------------------------------------------------------------------------

@settings(FUZZ, max_examples=120)
@given(data=st.data(), dtype=DTYPES, m=st.integers(0, 37), n=st.integers(0, 37), k=st.integers(0, 37),
       trans_a=st.booleans(), trans_b=st.booleans())
def test_matmul_matches_numpy(data, dtype, m, n, k, trans_a, trans_b):
    a = data.draw(arrays(dtype, (k, m) if trans_a else (m, k)))
    b = data.draw(arrays(dtype, (n, k) if trans_b else (k, n)))
    got = ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
    expect = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    scale = np.abs(a).max(initial=0) * np.abs(b).max(initial=0) * max(k, 1)
    np.testing.assert_allclose(got, expect, rtol=0, atol=scale * (1e-5 if dtype == np.float32 else 1e-12) + 1e-30)


@settings(FUZZ, max_examples=120)
@given(data=st.data(), dtype=DTYPES, n=st.integers(1, 20), k=st.integers(1, 20), m=st.integers(1, 20),
       act=st.sampled_from(ACTIVATIONS), bias=st.booleans())
def test_dense_forward_and_backward_match_numpy(data, dtype, n, k, m, act, bias):
    x = data.draw(arrays(dtype, (n, k), min_value=-3, max_value=3, allow_nan=False))
    W = data.draw(arrays(dtype, (k, m), min_value=-3, max_value=3, allow_nan=False))
    b = data.draw(arrays(dtype, (m,), min_value=-3, max_value=3, allow_nan=False)) if bias else None
    out, _, keep = forward_keeping(x, W, b, act, alpha=0.01)
    z = x.astype(np.float64) @ W + (0 if b is None else b)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, activate(z, act, alpha=0.01), rtol=tol, atol=tol)
    grad_out = data.draw(arrays(dtype, (n, m), min_value=-3, max_value=3, allow_nan=False))
    gx, dW, db = ops.dense_backward(grad_out, x, W, out, activation=act, **keep)
    assert gx.shape == (n, k) and dW.shape == (k, m) and db.shape == (m,)
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(dW)) and np.all(np.isfinite(db))


JUNK = st.one_of(st.none(), st.integers(-5, 5), st.floats(), st.text(max_size=3), st.lists(st.integers(), max_size=3),
                 hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.complex64]),
                            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))


@settings(FUZZ, max_examples=150)
@given(a=JUNK, b=JUNK, c=JUNK, which=st.sampled_from(["matmul", "dense_forward", "dense_backward", "sgd"]))
def test_ops_reject_junk_with_python_errors(a, b, c, which):
    try:
        if which == "matmul":
            ops.matmul(a, b, out=c)
        elif which == "dense_forward":
            ops.dense_forward(a, b, c)
        elif which == "dense_backward":
            ops.dense_backward(a, b, c, a, overwrite_grad_out=True)
        else:
            ops.inplace_sgd_step(a, b, c)
    except (TypeError, ValueError):
        pass


# ---- losses ---------------------------------------------------------------------------------------

@settings(FUZZ, max_examples=200)
@given(data=st.data(), dtype=DTYPES, n=st.integers(1, 12), c=st.integers(1, 6),
       name=st.sampled_from(["cross_entropy", "bce", "mse", "l1", "huber"]),
       reduction=st.sampled_from(["mean", "sum"]), weighted=st.booleans())
def test_losses_are_finite_with_gradients_of_the_right_shape(data, dtype, n, c, name, reduction, weighted):
    pred = data.draw(arrays(dtype, (n, c), min_value=-1e4, max_value=1e4, allow_nan=False))
    # weights are 0 or normal numbers (a positive sum below the smallest normal is refused: 1/sum overflows)
    sw = (data.draw(arrays(dtype, (n,), min_value=0.0, max_value=10.0, allow_nan=False, allow_subnormal=False))
          if weighted else None)
    if weighted and not sw.sum() > 0:
        sw[0] = 1
    if name == "cross_entropy":
        target = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
        value, grad = ops.cross_entropy(pred, target, sw, reduction=reduction, return_grad=True)
    else:
        lo = 0.0 if name == "bce" else -1e4
        target = data.draw(arrays(dtype, (n, c), min_value=lo, max_value=1.0 if name == "bce" else 1e4,
                                  allow_nan=False))
        fn = {"bce": ops.binary_cross_entropy_with_logits, "mse": ops.mse_loss, "l1": ops.l1_loss,
              "huber": ops.huber_loss}[name]
        value, grad = fn(pred, target, sw, reduction=reduction, return_grad=True)
    assert np.isfinite(value)
    assert np.shape(grad) == pred.shape and np.all(np.isfinite(grad))


@settings(FUZZ, max_examples=200)
@given(pred=JUNK, target=JUNK, sw=JUNK, name=st.sampled_from(["mse", "l1", "huber", "bce", "cross_entropy"]))
def test_losses_reject_junk_with_python_errors(pred, target, sw, name):
    fn = {"bce": ops.binary_cross_entropy_with_logits, "mse": ops.mse_loss, "l1": ops.l1_loss,
          "huber": ops.huber_loss, "cross_entropy": ops.cross_entropy}[name]
    try:
        fn(pred, target, sw)
    except (TypeError, ValueError):
        pass


# ---- fit / predict (child interpreter) -------------------------------------------------------------

@settings(FUZZ, max_examples=40)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), widths=st.lists(st.integers(1, 9), min_size=2,
       max_size=4), act=st.sampled_from(ACTIVATIONS), n=st.integers(1, 40),
       batch=st.one_of(st.none(), st.integers(1, 50)), opt=st.sampled_from(["sgd", "adam", "rmsprop", "adagrad", "adamw"]),
       lr=st.sampled_from([1e-3, 0.1, 10.0, 1e12]), task=st.sampled_from(["mse", "softmax_cross_entropy", "huber"]),
       scale=st.sampled_from([1.0, 1e3, 1e-3]))
def fuzz_fit_predict(data, dtype, widths, act, n, batch, opt, lr, task, scale):
    if task == "softmax_cross_entropy":
        widths[-1] = max(widths[-1], 2)
    layers = [fastgd.Dense(a, b, activation=act) for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastgd.Dense(widths[-2], widths[-1], activation="identity"))
    model = fastgd.Sequential(layers, dtype=dtype, seed=0)
    X = data.draw(arrays(np.float64, (n, widths[0]), min_value=-1, max_value=1, allow_nan=False)) * scale
    if task == "softmax_cross_entropy":
        y = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, widths[-1] - 1)))
    else:
        y = data.draw(arrays(np.float64, (n, widths[-1]), min_value=-1, max_value=1, allow_nan=False)) * scale
    optimizer = optim.get(opt, lr=lr)
    try:
        model.fit(X, y, loss=task, optimizer=optimizer, epochs=2, batch_size=batch, progress=False, seed=1)
    except DivergenceError:
        pass
    assert np.all(np.isfinite(model.params))
    out = model.predict(X, batch_size=7)
    assert out.shape == (n, widths[-1]) and out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, model.forward(X), rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-30)


# ---- loaders (child interpreter) ----------------------------------------------------------------

def _valid_files():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    model = fastgd.Sequential([fastgd.Dense(3, 4), fastgd.Dense(4, 2, activation="identity")], dtype="float64",
                              seed=0)
    opt = optim.Adam(lr=1e-2, amsgrad=True)
    with tempfile.TemporaryDirectory() as d:
        # and a checkpoint with an early stopping's state and a best-only ModelCheckpoint's
        model.fit(X, y, loss="mse", optimizer=opt, epochs=2, batch_size=8, progress=False, early_stopping=5,
                  callbacks=[fastgd.callbacks.ModelCheckpoint(os.path.join(d, "e")),
                             fastgd.callbacks.ModelCheckpoint(os.path.join(d, "b"), save_best_only=True)])
        model.save(os.path.join(d, "m"))
        fastgd.save_checkpoint(os.path.join(d, "c"), model, opt)
        files = [open(os.path.join(d, name), "rb").read() for name in ("m.npz", "c.npz", "e.npz")]
    # the same checkpoint deflated, so mutations also hit compressed streams
    with zipfile.ZipFile(io.BytesIO(files[1])) as src:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info))
    return files + [buf.getvalue()]


_FILES = None


@settings(FUZZ, max_examples=400)
@given(which=st.integers(0, 3), edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1,
       max_size=8), cut=st.one_of(st.none(), st.floats(0, 1)), checkpoint=st.booleans())
def fuzz_loaders(which, edits, cut, checkpoint):
    global _FILES
    if _FILES is None:
        _FILES = _valid_files()
    data = bytearray(_FILES[which])
    for where, value in edits:
        data[min(int(where * len(data)), len(data) - 1)] = value
    if cut is not None:
        data = data[:int(cut * len(data))]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.npz")
        with open(path, "wb") as f:
            f.write(bytes(data))
        try:
            loaded = fastgd.load_checkpoint(path) if checkpoint else fastgd.load(path)
        except FileFormatError:
            return
    model = loaded.model if checkpoint else loaded
    assert np.all(np.isfinite(model.params))
    model.predict(np.zeros((2, model.n_inputs)))
    if checkpoint:
        rng = np.random.default_rng(1)
        # resumed as the README says, with the early stopping and best values the file holds
        model.fit(rng.normal(size=(8, model.n_inputs)), rng.normal(size=(8, model.n_outputs)), loss="mse",
                  optimizer=loaded.optimizer, epochs=1, batch_size=4, progress=False, initial_epoch=loaded.epoch,
                  early_stopping=loaded.early_stopping, callbacks=loaded.resume_callbacks([]))


CHILD_PROPERTIES = {"fit_predict": fuzz_fit_predict, "loaders": fuzz_loaders}


@pytest.mark.parametrize("name", sorted(CHILD_PROPERTIES))
def test_in_a_child_interpreter(name):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    try:
        proc = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, timeout=400,
                              env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"fuzzing {name} did not finish within 400 s")
    assert proc.returncode == 0, (f"fuzzing {name} failed (exit status {proc.returncode}; negative = killed by "
                                  f"that signal):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")


if __name__ == "__main__":
    CHILD_PROPERTIES[sys.argv[1]]()
