"""The loop core (fastgd._loop): batch bounds, the epoch's weighted mean, early ends, and the
chunked full-data passes against one full-batch call."""

import numpy as np
import pytest

import fastgd as fg
from fastgd import _loop, losses


def _model(dtype):
    return fg.Sequential([fg.Dense(5, 7, activation="tanh"), fg.Dense(7, 3, activation="identity")],
                         dtype=dtype, seed=4)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    return x, rng.integers(0, 3, size=n), rng.uniform(0.0, 2.0, size=n)


@pytest.mark.parametrize("n, size", [(1, 1), (7, 3), (9, 3), (5, 8)])
def test_chunks_cover_the_rows_once_in_order(n, size):
    bounds = list(_loop.chunks(n, size))
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(0 < e - s <= size for s, e in bounds)


def test_run_epoch_weights_batches_skips_and_stops():
    seen = []

    def train_batch(step, start, stop, indices):
        seen.append((step, start, stop, None if indices is None else list(indices)))
        if step == 1:
            return None  # left out of the mean
        return float(step + 1), float(stop - start)

    order = np.arange(10, dtype=np.int64)[::-1].copy()
    loss_sum, weight = _loop.run_epoch(train_batch, 10, 4, order=order)
    assert [s[:3] for s in seen] == [(0, 0, 4), (1, 4, 8), (2, 8, 10)]
    assert seen[0][3] == [9, 8, 7, 6]
    assert (loss_sum, weight) == (1.0 * 4 + 3.0 * 2, 6.0)

    seen.clear()
    _loop.run_epoch(train_batch, 10, 4, after_batch=lambda step, value: True)
    assert len(seen) == 1 and seen[0][3] is None

    # a data-parallel rank with fewer batches than the others takes the extra steps empty
    seen.clear()
    _loop.run_epoch(train_batch, 5, 4, steps=4)
    assert [s[1:3] for s in seen] == [(0, 4), (4, 5), (8, 5), (12, 5)]


@pytest.mark.parametrize("chunk", [1, 4, 13, 100])
def test_data_gradient_in_chunks_equals_one_full_batch_call(dtype, chunk):
    x, y, w = _data(37)
    w[:4] = 0.0  # a chunk of weight 0 is left out, not divided by
    model = _model(dtype)
    loss = losses.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5])
    full_value, full_grad = model.loss_and_grad(x, y, loss, sample_weight=w)
    xc, target, sw = model._prepare(x, y, loss, w)
    value, grad = _loop.data_gradient(model, xc, target, sw, loss, chunk, scale=2.0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(value, full_value, rtol=tol)
    np.testing.assert_allclose(grad, 2.0 * full_grad, rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(_loop.data_loss(model, xc, target, sw, loss, chunk), full_value, rtol=tol)


def test_memmap_batches_and_chunks_equal_in_memory(tmp_path, dtype):
    x, y, w = _data(23)
    np.save(tmp_path / "x.npy", x.astype(dtype))
    lazy = np.load(tmp_path / "x.npy", mmap_mode="r")
    model = _model(dtype)
    loss = losses.get("softmax_cross_entropy")
    xm, target, sw = model._prepare(x, y, loss, w)
    xl, target_l, sw_l = fg._outofcore.prepare(model, lazy, y, loss, w)
    np.testing.assert_array_equal(_loop.predict(model, xl, 5), _loop.predict(model, xm, 5))
    indices = np.array([7, 2, 19], dtype=np.int64)
    xb, idx, start, n, tb, swb = _loop.batch(xl, indices, 0, 3, target_l, sw_l, model.dtype)
    assert idx is None and (start, n) == (0, 3)
    np.testing.assert_array_equal(xb, xm[indices])
    np.testing.assert_array_equal(tb[1], target[1][indices])
    np.testing.assert_array_equal(swb, sw[indices])
    assert _loop.batch(xm, indices, 0, 3, target, sw, model.dtype)[0] is xm  # in memory: read by index
    a = _loop.data_gradient(model, xl, target_l, sw_l, loss, 6)
    b = _loop.data_gradient(model, xm, target, sw, loss, 6)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
