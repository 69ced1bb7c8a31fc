"""An input packed once for the first layer's products (Sequential._pack_input, the GEMM's
gemm_pack_a_whole / gemm_prepacked): training steps over it are bit-identical to the steps that
pack it on every call, on every CPU target and thread count; misuse is refused; the L-BFGS
solver of the scikit-learn estimators, which packs its full batch once per fit, gives the
unpacked path's fit and follows X when it changes between fits."""

import numpy as np
import pytest

import fastgd
from fastgd import _core, losses
from fastgd.sklearn import MLPClassifier, MLPRegressor

# (rows, inputs, first layer's outputs): both products packed, either one, neither; several
# k blocks of x·W (inputs > KC) and of xᵀ·grad_z (rows > KC); rows and inputs off MR multiples
SHAPES = [(1, 3, 5), (40, 33, 17), (14, 64, 100), (300, 64, 100), (600, 300, 17), (1347, 64, 100),
          (97, 1, 40), (45, 70, 9)]


def _model(n_in, width, act, n_out, dtype, seed=0):
    layers = [fastgd.Dense(n_in, width, activation=act), fastgd.Dense(width, n_out, activation="identity")]
    return fastgd.Sequential(layers, dtype=dtype.name, seed=seed)


def _step(model, x, y, loss, packed):
    value, _norm, status = model._train_step(x, loss_spec=model._loss_spec(loss),
                                             target=loss.prepare_target(y, model.n_outputs, model.dtype),
                                             packed=packed)
    return value, status, model.grads.copy()


@pytest.mark.parametrize("n, n_in, width", SHAPES)
@pytest.mark.parametrize("act", ["relu", "gelu", "tanh"])
def test_packed_step_is_bit_identical(isa, dtype, rng, n, n_in, width, act):
    x = rng.normal(size=(n, n_in)).astype(dtype)
    y = rng.integers(0, 4, size=n)
    model = _model(n_in, width, act, 4, dtype)
    loss = losses.SoftmaxCrossEntropy()
    packed = model._pack_input(x)
    # avx512 runs op(A) unpacked up to 128 rows and B up to 16 columns; the packing follows the GEMM
    expect_fwd = n > 128 and width > 16
    assert (packed.nbytes[0] > 0) == expect_fwd or isa != "avx512"
    for threads in (1, 2):
        with fastgd.threads(threads):
            plain = _step(model, x, y, loss, None)
            fast = _step(model, x, y, loss, packed)
        assert plain[:2] == fast[:2]
        np.testing.assert_array_equal(fast[2], plain[2], err_msg=f"n={n} in={n_in} width={width} threads={threads}")


def test_packed_step_with_a_regression_loss_and_sample_weights(dtype, rng):
    n, n_in = 200, 50
    x = rng.normal(size=(n, n_in)).astype(dtype)
    y = rng.normal(size=(n, 2))
    sw = rng.random(n).astype(dtype)
    model = _model(n_in, 40, "relu", 2, dtype, seed=3)
    loss = losses.MSE()
    spec, target = model._loss_spec(loss), loss.prepare_target(y, 2, model.dtype)
    packed = model._pack_input(x)
    plain = model._train_step(x, loss_spec=spec, target=target, sample_weight=sw)
    g = model.grads.copy()
    assert model._train_step(x, loss_spec=spec, target=target, sample_weight=sw, packed=packed) == plain
    np.testing.assert_array_equal(model.grads, g)


def test_packed_input_is_refused_where_it_does_not_apply(rng):
    dtype = np.dtype(np.float64)
    x = rng.normal(size=(50, 40))
    y = rng.integers(0, 4, size=50)
    model = _model(40, 30, "relu", 4, dtype)
    loss = losses.SoftmaxCrossEntropy()
    kwargs = dict(loss_spec=model._loss_spec(loss), target=loss.prepare_target(y, 4, model.dtype))
    packed = model._pack_input(x)
    with pytest.raises(ValueError, match="pack_input"):
        model._train_step(x.copy(), packed=packed, **kwargs)
    with pytest.raises(ValueError, match="pack_input"):
        _model(40, 30, "relu", 4, dtype)._train_step(x, packed=packed, **kwargs)
    with pytest.raises(ValueError, match="all of its 50 rows"):
        model._train_step(x, start=10, packed=packed, **kwargs)
    with pytest.raises(ValueError, match="all of its 50 rows"):
        model._train_step(x, indices=np.arange(5, dtype=np.int64), packed=packed, **kwargs)
    x.shape = (40, 50)  # same buffer, other shape
    with pytest.raises(ValueError, match="changed shape"):
        model._train_step(x, packed=packed, **kwargs)
    for bad in (x.astype(np.float32).reshape(50, 40), np.asfortranarray(x.reshape(50, 40)), x.reshape(100, 20)):
        with pytest.raises(ValueError, match="C-contiguous float64 array with 40 columns"):
            model._pack_input(bad)


def test_packing_again_after_x_is_written_in_place(rng):
    """A packing copies x as it was (the GEMM reads the copy where it packs and x itself where it
    runs unpacked), so after x is written in place the caller packs again: that packing gives
    bit for bit the unpacked step on the new rows."""
    dtype = np.dtype(np.float64)
    x = rng.normal(size=(300, 40))  # more rows than any target runs unpacked
    y = rng.integers(0, 4, size=300)
    model = _model(40, 30, "relu", 4, dtype)
    loss = losses.SoftmaxCrossEntropy()
    first = _step(model, x, y, loss, model._pack_input(x))
    x *= 2.0
    fresh = _step(model, x, y, loss, model._pack_input(x))
    plain = _step(model, x, y, loss, None)
    assert fresh[:2] == plain[:2] != first[:2]
    np.testing.assert_array_equal(fresh[2], plain[2])


def test_packed_step_with_an_optimizer(rng):
    """A step that updates reads the packing too: the same parameters as the unpacked step, and a
    packing of another x is refused as without an optimizer."""
    dtype = np.dtype(np.float32)
    x = rng.normal(size=(300, 50)).astype(dtype)
    y = rng.integers(0, 4, size=300)
    loss = losses.SoftmaxCrossEntropy()
    results = []
    for packed in (False, True):
        model = _model(50, 40, "gelu", 4, dtype, seed=5)
        opt = fastgd.optim.Adam(lr=1e-2)
        spec, target = model._loss_spec(loss), loss.prepare_target(y, 4, model.dtype)
        p = model._pack_input(x) if packed else None
        for _ in range(3):
            assert model._train_step(x, loss_spec=spec, target=target, optimizer=opt, packed=p)[2] == 0
        results.append(model.params.copy())
        if packed:
            with pytest.raises(ValueError, match="packed"):
                model._train_step(x, loss_spec=spec, target=target, optimizer=opt,
                                  packed=model._pack_input(x.copy()))
    np.testing.assert_array_equal(results[1], results[0])


def test_packing_for_another_cpu_target_is_not_used(rng):
    """A packing made on one target is laid out for its block sizes: after switching targets the
    step packs x itself, and matches the unpacked step of the new target."""
    dtype = np.dtype(np.float64)
    x = rng.normal(size=(300, 64))
    y = rng.integers(0, 4, size=300)
    model = _model(64, 100, "relu", 4, dtype)
    loss = losses.SoftmaxCrossEntropy()
    targets = [t for t in _core.isa_compiled() if t in _core.isa_cpu_supported()]
    previous = _core.isa_current()
    try:
        for packing_target in targets:
            _core.isa_select(packing_target)
            packed = model._pack_input(x)
            for target in targets:
                _core.isa_select(target)
                plain = _step(model, x, y, loss, None)
                fast = _step(model, x, y, loss, packed)
                assert fast[:2] == plain[:2]
                np.testing.assert_array_equal(fast[2], plain[2], err_msg=f"packed on {packing_target}, run on {target}")
    finally:
        _core.isa_select(previous)


def _unpacked(monkeypatch):
    """Make the estimators' L-BFGS objective take the path that packs x in every GEMM call."""
    monkeypatch.setattr(fastgd.Sequential, "_pack_input", lambda self, x: None)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_lbfgs_fit_with_the_packed_input_equals_the_unpacked_fit(monkeypatch, rng, Estimator):
    x = rng.normal(size=(400, 30))
    y = rng.integers(0, 3, size=400) if Estimator is MLPClassifier else x[:, :2] @ [1.0, -2.0]
    params = dict(solver="lbfgs", hidden_layer_sizes=(40,), max_iter=30, random_state=0)
    fast = Estimator(**params).fit(x, y)
    _unpacked(monkeypatch)
    plain = Estimator(**params).fit(x, y)
    assert (fast.n_iter_, fast.loss_) == (plain.n_iter_, plain.loss_)
    assert fast.n_iter_ > 5
    for a, b in zip(fast.coefs_ + fast.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_refit_follows_x_changed_in_place_or_replaced(monkeypatch, rng):
    """Each fit packs the X it is given: refitting after writing into X, or on another X, gives
    the fit a fresh estimator makes on that X with the unpacked path."""
    x = np.ascontiguousarray(rng.normal(size=(300, 30)))
    y = rng.integers(0, 3, size=300)
    params = dict(solver="lbfgs", hidden_layer_sizes=(40,), max_iter=20, random_state=0)
    est = MLPClassifier(**params)
    fits = []
    first = est.fit(x, y).coefs_[0].copy()
    x[:150] *= -1.5  # in place, between fits
    fits.append((est.fit(x, y).coefs_[0].copy(), x.copy()))
    other = rng.normal(size=(300, 30))
    fits.append((est.fit(other, y).coefs_[0].copy(), other))
    assert not np.array_equal(first, fits[0][0])
    _unpacked(monkeypatch)
    for coef, data in fits:
        np.testing.assert_array_equal(MLPClassifier(**params).fit(data, y).coefs_[0], coef)


def test_full_batch_lbfgs_fit_with_the_packed_input_equals_the_unpacked_fit(monkeypatch, rng):
    """Sequential.fit with fastgd.LBFGS packs x once per fit: the same parameters and history
    as packing it in every GEMM call."""
    x = rng.normal(size=(300, 40))
    y = rng.integers(0, 3, size=300)
    results = []
    for pack in (True, False):
        if not pack:
            _unpacked(monkeypatch)
        model = _model(40, 50, "relu", 3, np.dtype(np.float64), seed=4)
        history = model.fit(x, y, loss="softmax_cross_entropy", optimizer=fastgd.LBFGS(), epochs=8,
                            batch_size=None, progress=False)
        results.append((model.params.copy(), history.history["loss"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_large_input_is_not_packed(rng, monkeypatch):
    """Over the size limit the packing (about two copies of x) is not made: None, the GEMM packs."""
    from fastgd.nn import model as model_module
    x = rng.normal(size=(300, 64))
    model = _model(64, 100, "relu", 4, np.dtype(np.float64))
    monkeypatch.setattr(model_module, "_PACK_LIMIT", x.nbytes - 1)
    assert model._pack_input(x) is None
    monkeypatch.setattr(model_module, "_PACK_LIMIT", x.nbytes)
    assert sum(model._pack_input(x).nbytes) > 0
