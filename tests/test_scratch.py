"""The process-wide cache of scratch blocks (_core.scratch_array): arrays are aligned and of the
asked shape; a block goes back to the cache only when its array and every view of it are gone,
so two live arrays never share memory (also under threads); the cache stays bounded; a finished
fit gives its model's buffers back, and fits that reuse them give bit-identical results."""

import gc
import threading

import numpy as np
import pytest

import fastgd
from fastgd import _core
from fastgd.sklearn import MLPClassifier, MLPRegressor

# the fits below stop before converging on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

BIG = (300, 100)  # 240,000 bytes in float64: above the size the cache keeps


@pytest.fixture(autouse=True)
def empty_cache():
    """An empty cache that only this test fills: models left by earlier tests are collected
    first, and no collection runs during the test to return their blocks meanwhile."""
    gc.collect()
    gc.disable()
    _core.scratch_cache_clear()
    try:
        yield
    finally:
        gc.enable()
        _core.scratch_cache_clear()


@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5), BIG, (100_000,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_arrays_are_aligned_and_shaped(shape, dtype):
    a = _core.scratch_array(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % 64 == 0
    a[...] = 3
    assert (a == 3).all()
    z = _core.scratch_array(shape, dtype, zeros=True)
    assert z.shape == shape and not z.any()


def test_a_block_returns_when_its_last_view_goes():
    a = _core.scratch_array(BIG, np.float64)
    address = a.ctypes.data
    view = a[10:]
    del a
    assert _core.scratch_cache_info()["blocks"] == 0  # the view still holds it
    b = _core.scratch_array(BIG, np.float64)
    assert b.ctypes.data != address
    del view
    info = _core.scratch_cache_info()
    assert info["blocks"] == 1 and info["hits"] == 0 and info["misses"] == 2
    c = _core.scratch_array(BIG, np.float64)
    assert c.ctypes.data == address  # reused, pages mapped already
    assert _core.scratch_cache_info()["hits"] == 1


def test_a_small_request_leaves_a_much_larger_block():
    big = _core.scratch_array((1_000_000,), np.float64)
    del big
    small = _core.scratch_array((20_000,), np.float64)
    assert _core.scratch_cache_info()["blocks"] == 1 and small.nbytes == 160_000
    del small


def test_small_blocks_are_not_kept():
    a = _core.scratch_array((10,), np.float64)
    del a
    assert _core.scratch_cache_info() == {"blocks": 0, "bytes": 0, "hits": 0, "misses": 0}


def test_the_cache_is_bounded():
    arrays = [_core.scratch_array((1 << 20,), np.float64) for _ in range(12)]  # 8 MiB each
    del arrays
    info = _core.scratch_cache_info()
    assert 0 < info["blocks"] <= 32 and info["bytes"] <= 64 << 20
    many = [_core.scratch_array((20_000 + 600 * i,), np.float64) for i in range(40)]
    del many
    info = _core.scratch_cache_info()
    assert info["blocks"] <= 32 and info["bytes"] <= 64 << 20


def test_a_reused_block_comes_back_at_its_whole_size():
    # a block handed to a smaller request than its size is counted at its size when it returns,
    # so the bytes the cache reports (and bounds) are the bytes it holds
    big = _core.scratch_array((1_000_000,), np.float64)
    del big
    whole = _core.scratch_cache_info()["bytes"]
    for n in (900_000, 700_000, 520_000):  # each at least half the block, which it gets
        a = _core.scratch_array((n,), np.float64)
        del a
        info = _core.scratch_cache_info()
        assert (info["blocks"], info["bytes"], info["misses"]) == (1, whole, 1)
    assert info["hits"] == 3


@pytest.mark.parametrize("shape", [(-1,), (1, 2, 3), (2**62, 2**62), (2**70,)])
def test_bad_shapes_are_refused(shape):
    with pytest.raises((ValueError, MemoryError, OverflowError)):
        _core.scratch_array(shape, np.float64)


def test_live_arrays_never_share_memory_across_threads():
    errors = []

    def work(k):
        rng = np.random.default_rng(k)
        for _ in range(200):
            held = []
            for _ in range(3):
                a = _core.scratch_array((int(rng.integers(8_000, 40_000)),), np.float64)
                a.fill(k)
                held.append(a)
            for a in held:
                if not (a == k).all():
                    errors.append(k)
            del held

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _core.scratch_cache_info()["blocks"] <= 32


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_fit_gives_its_buffers_back_and_reused_buffers_change_nothing(solver):
    X, y = _digits()
    kw = dict(hidden_layer_sizes=(40,), solver=solver, max_iter=15, random_state=0)
    first = MLPClassifier(**kw).fit(X, y)
    assert first.model_._engine.rows_cap == 0  # nothing kept for training after the fit
    assert _core.scratch_cache_info()["blocks"] > 0
    for _ in range(3):  # the later fits take the first one's buffers from the cache
        again = MLPClassifier(**kw).fit(X, y)
        np.testing.assert_array_equal(again.model_.params, first.model_.params)
        assert again.loss_ == first.loss_
    assert _core.scratch_cache_info()["hits"] > 0
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    if solver == "adam":  # a model that gave its buffers back trains on, and gives them back again
        params = first.model_.params.copy()
        first.partial_fit(X, y)
        assert first.model_._engine.rows_cap == 0
        assert not np.array_equal(first.model_.params, params)


def test_released_buffers_are_reserved_again_by_every_model_call():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 30))
    y = rng.integers(0, 4, 500)
    model = fastgd.Sequential([fastgd.Dense(30, 64), fastgd.Dense(64, 4, activation="identity")],
                              dtype="float64", seed=0)
    before = model.loss_and_grad(x, y, "softmax_cross_entropy")
    out = model.predict(x)
    model._release_buffers()
    assert model._engine.rows_cap == 0
    after = model.loss_and_grad(x, y, "softmax_cross_entropy")
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])
    model._release_buffers()
    np.testing.assert_array_equal(model.predict(x), out)
    model._release_buffers()
    model.forward(x)
    model.backward(np.ones((500, 4)))
    model._release_buffers()
    opt = fastgd.optim.Adam(lr=1e-3)
    assert np.isfinite(model.train_step(x, y, "softmax_cross_entropy", opt))


def test_regressor_fits_after_another_estimator_released_its_buffers():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 12))
    y = X @ rng.standard_normal(12)
    kw = dict(hidden_layer_sizes=(30,), solver="lbfgs", max_iter=30, random_state=0)
    ref = MLPRegressor(**kw).fit(X, y)
    MLPClassifier(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=5, random_state=0).fit(X, y > 0)
    again = MLPRegressor(**kw).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), ref.predict(X))
