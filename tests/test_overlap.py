"""The layer-by-layer backward pass behind the overlapped gradient reduction of data-parallel
training, and the buckets it reduces (one process; the MPI side is in test_distributed.py)."""

import numpy as np
import pytest
import scipy.sparse

import fastgd as fg
from fastgd import _core, distributed, losses


def batch(dtype, loss_name, n=30):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(dtype)
    y = rng.integers(0, 3, n) if loss_name == "softmax_cross_entropy" else rng.normal(size=(n, 3))
    w = rng.uniform(0.5, 2.0, n).astype(dtype)
    return x, y, w


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss_name", ["softmax_cross_entropy", "mse"])
@pytest.mark.parametrize("rows", ["indices", "range"])
def test_layer_by_layer_gradient_equals_the_fused_one_and_each_layer_is_final_when_announced(dtype, loss_name, rows,
                                                                                            make_mlp):
    m = make_mlp((5, 7, 6, 3), dtype, seed=1)
    loss = losses.get(loss_name)
    x, y, w = batch(dtype, loss_name)
    xs, target, sw = m._prepare(x, y, loss, w)
    if rows == "indices":
        idx, start, n = np.array([3, 1, 4, 15, 9, 26, 5, 29], dtype=np.int64), 0, 0
        picked = idx
    else:
        idx, start, n = None, 4, 16
        picked = np.arange(4, 20)
    value, grads = m.loss_and_grad(x[picked], y[picked], loss, sample_weight=w[picked])
    seen = []

    def on_layer(layer):
        seen.append((layer, m.layers[layer].dW.copy(), m.layers[layer].db.copy()))

    m.grads[...] = np.nan  # overwritten, never accumulated into
    value2, status = m._gradient_by_layer(xs, idx, start, n, m._loss_spec(loss), target, sw, on_layer)
    assert status == 0 and value2 == value
    np.testing.assert_array_equal(m.grads, grads)
    assert [layer for layer, _dw, _db in seen] == [2, 1, 0]
    for layer, dw, db in seen:
        np.testing.assert_array_equal(dw, m.layers[layer].dW)
        np.testing.assert_array_equal(db, m.layers[layer].db)


def test_layer_by_layer_gradient_stops_at_a_non_finite_loss_and_rejects_bad_rows(make_mlp):
    m = make_mlp((5, 7, 6, 3), seed=1)
    loss = losses.get("mse")
    x, y, _w = batch("float64", "mse")
    xs, target, _ = m._prepare(x, y, loss, None)
    m.params[...] = 1e200  # the outputs overflow
    calls = []
    value, status = m._gradient_by_layer(xs, None, 0, 30, m._loss_spec(loss), target, None, calls.append)
    assert status == 1 and not np.isfinite(value) and calls == []
    with pytest.raises(ValueError, match=r"rows \[25, 35\) are outside the 30 rows of x"):
        m._gradient_by_layer(xs, None, 25, 10, m._loss_spec(loss), target, None, calls.append)
    with pytest.raises(IndexError):
        m._gradient_by_layer(xs, np.array([0, 30], dtype=np.int64), 0, 0, m._loss_spec(loss), target, None, calls.append)
    with pytest.raises(TypeError, match="dense input"):
        m._gradient_by_layer(_core.as_csr(scipy.sparse.csr_matrix(xs), m.dtype, "x"), None, 0, 30, m._loss_spec(loss), target,
                             None, calls.append)


@pytest.mark.parametrize("cap", [0, 1, 200, 700, 1e9])
def test_buckets_tile_the_arena_once_and_close_at_the_cap(cap, make_mlp):
    m = make_mlp((4, 9, 8, 7, 3), seed=1)  # layer gradients of 360, 576, 448, 192 bytes
    plan = distributed._buckets(m, cap)
    covered = np.zeros(m.n_params, dtype=int)
    base = m.grads.__array_interface__["data"][0]
    for views in plan.values():
        for v in views:
            start = (v.__array_interface__["data"][0] - base) // v.itemsize
            assert np.shares_memory(v, m.grads)
            covered[start:start + v.size] += 1
    np.testing.assert_array_equal(covered, 1)
    assert 0 in plan  # the first layer closes the last bucket
    sizes = [(L.dW.nbytes + L.db.nbytes) for L in m.layers]
    firsts = sorted(plan, reverse=True)
    stop = len(m.layers)
    for first in firsts:
        nbytes = sum(sizes[first:stop])
        # a bucket closes as soon as it reaches the cap: without its first layer it is below it
        assert nbytes >= cap or first == 0
        assert sum(sizes[first + 1:stop]) < cap or first + 1 == stop
        # its W and b parts are contiguous runs: at most two views (every W, then every b)
        assert len(plan[first]) <= 2
        stop = first
    expected = {0: len(m.layers), 1: len(m.layers), 1e9: 1}
    if cap in expected:
        assert len(plan) == expected[cap]
