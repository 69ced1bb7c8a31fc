"""Gradient norm and clipping kernels vs NumPy, the reference twin and torch.nn.utils."""

import math

import numpy as np
import pytest

import fastgd
from fastgd import _core

SIZES = [0, 1, 7, 8, 9, 4095, 4096, 4097, 100_003]


def exact_sum_squares(x):
    return float(np.sum(x.astype(np.float64) ** 2))


@pytest.mark.parametrize("n", SIZES)
def test_sum_squares_matches_numpy_and_reference(isa, dtype, rng, n):
    x = rng.standard_normal(n).astype(dtype)
    got = _core.sum_squares(x)
    np.testing.assert_allclose(got, exact_sum_squares(x), rtol=1e-12)
    np.testing.assert_allclose(got, _core.sum_squares(x, reference=True), rtol=1e-12)
    np.testing.assert_allclose(fastgd.grad_norm(x), np.linalg.norm(x.astype(np.float64)), rtol=1e-12)


def test_sum_squares_across_groups_of_blocks(isa):
    """More than one parallel region's worth of blocks (4096 x 4096 elements)."""
    n = 4096 * 4096 + 5
    x = np.full(n, 0.5, dtype=np.float32)
    x[[0, 4096 * 4096 - 1, 4096 * 4096 + 4]] = [3.0, -2.0, 4.0]
    expected = 0.25 * (n - 3) + 9.0 + 4.0 + 16.0
    assert _core.sum_squares(x) == expected
    assert _core.sum_squares(x, reference=True) == expected


def test_sum_squares_is_identical_across_threads_and_targets(dtype, rng):
    x = rng.standard_normal(3_000_001).astype(dtype)
    values = set()
    for isa in [i for i in _core.isa_compiled() if i in _core.isa_cpu_supported()]:
        previous = _core.isa_current()
        _core.isa_select(isa)
        try:
            for threads in (1, 2, 3, 5):
                with fastgd.threads(threads):
                    values.add(_core.sum_squares(x))
        finally:
            _core.isa_select(previous)
    assert len(values) == 1


def test_norm_of_nonfinite_gradients(dtype):
    x = np.ones(100, dtype=dtype)
    x[17] = np.inf
    assert fastgd.grad_norm(x) == np.inf
    x[18] = np.nan
    assert np.isnan(fastgd.grad_norm(x))
    assert _core.count_nonfinite(x) == 2
    x[19] = -np.inf
    assert _core.count_nonfinite(x) == 3
    with pytest.raises(ValueError, match="non-finite"):
        fastgd.clip_grad_norm(x, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("n", [0, 1, 9, 70_001])
def test_count_nonfinite(isa, dtype, rng, n):
    x = rng.standard_normal(n).astype(dtype)
    bad = rng.random(n) < 0.1
    x[bad] = rng.choice([np.nan, np.inf, -np.inf], size=bad.sum())
    assert _core.count_nonfinite(x) == np.count_nonzero(~np.isfinite(x))


@pytest.mark.parametrize("n", [0, 1, 9, 4096, 70_001])
@pytest.mark.parametrize("exponent", [-5000, -1022, -126, -1, 0, 3, 127, 128, 1023, 1024, 5000])
def test_count_large_matches_reference_and_numpy(isa, dtype, rng, n, exponent):
    x = rng.standard_normal(n).astype(dtype) * 8
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, 8.0, -8.0, np.nextafter(dtype.type(8), dtype.type(0)), 0.0, -0.0,
                        np.finfo(dtype).max, np.finfo(dtype).tiny, np.finfo(dtype).tiny / 4], dtype=dtype)
    k = min(n, len(special))
    x[rng.choice(n, size=k, replace=False)] = special[:k]
    lo, hi = np.finfo(dtype).minexp, np.finfo(dtype).maxexp
    e = min(max(exponent, lo), hi)
    limit = math.inf if e >= 1024 else math.ldexp(1.0, e)
    expected = int(np.count_nonzero(np.isnan(x) | (np.abs(x.astype(np.float64)) >= limit)))
    assert _core.count_large(x, exponent) == expected
    assert _core.count_large(x, exponent, reference=True) == expected
    with fastgd.threads(3):
        assert _core.count_large(x, exponent) == expected


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_formula(isa, dtype, rng, max_norm):
    g = rng.standard_normal(10_001).astype(dtype)
    g0 = g.copy()
    total = np.linalg.norm(g.astype(np.float64))
    got = fastgd.clip_grad_norm(g, max_norm)
    np.testing.assert_allclose(got, total, rtol=1e-12)
    # the scale comes from the norm clip_grad_norm returns, which may differ from NumPy's in the
    # last bits (its BLAS sums in an order of its own, by CPU and thread count)
    coef = min(1.0, max_norm / (got + 1e-6))
    expected = g0 * dtype.type(coef)
    if coef < 1:
        np.testing.assert_array_equal(g, expected)
        np.testing.assert_allclose(np.linalg.norm(g.astype(np.float64)), max_norm, rtol=1e-5)
    else:
        np.testing.assert_array_equal(g, expected)


def test_clip_grad_norm_of_a_list_is_global(rng):
    a, b = rng.standard_normal(30), rng.standard_normal(50)
    total = np.sqrt(np.sum(a ** 2) + np.sum(b ** 2))
    a0, b0 = a.copy(), b.copy()
    assert fastgd.clip_grad_norm([a, b], 1.0) == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(a, a0 / (total + 1e-6), rtol=1e-14)
    np.testing.assert_allclose(b, b0 / (total + 1e-6), rtol=1e-14)


def test_clip_grad_norm_matches_torch(isa, dtype, rng):
    torch = pytest.importorskip("torch")
    g = (rng.standard_normal(5000) * 3).astype(dtype)
    t = torch.zeros(5000, dtype=torch.float32 if dtype == np.float32 else torch.float64, requires_grad=True)
    t.grad = torch.from_numpy(g.copy())
    t_norm = torch.nn.utils.clip_grad_norm_([t], 2.0)
    norm = fastgd.clip_grad_norm(g, 2.0)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(norm, float(t_norm), rtol=tol)
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_clip_grad_norm_of_nonfinite_gradients_matches_torch(dtype, bad):
    # torch scales by clamp(max_norm / (N + 1e-6), max=1): 0 for an infinite norm (NaN where the
    # gradient is infinite), NaN for a NaN norm, which left the gradients as they were here
    torch = pytest.importorskip("torch")
    a, b = np.array([bad, 1.0, -2.0], dtype), np.array([3.0, 0.0], dtype)
    tensors = [torch.zeros(len(a), dtype=torch.from_numpy(a).dtype, requires_grad=True),
               torch.zeros(len(b), dtype=torch.from_numpy(b).dtype, requires_grad=True)]
    for t, g in zip(tensors, (a, b)):
        t.grad = torch.from_numpy(g.copy())
    t_norm = torch.nn.utils.clip_grad_norm_(tensors, 1.0, foreach=False)
    norm = fastgd.clip_grad_norm([a, b], 1.0)
    np.testing.assert_equal(norm, float(t_norm))
    np.testing.assert_array_equal(a, tensors[0].grad.numpy())
    np.testing.assert_array_equal(b, tensors[1].grad.numpy())
    read_only = np.array([bad, 1.0], dtype)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match=r"^grads\[1\] is read-only"):
        fastgd.clip_grad_norm([np.ones(2, dtype), read_only], 1.0)


@pytest.mark.parametrize("n", [0, 1, 9, 70_001])
def test_clip_grad_value_matches_numpy_and_torch(isa, dtype, rng, n):
    g = (rng.standard_normal(n) * 2).astype(dtype)
    if n > 2:
        g[1] = np.nan
    expected = np.clip(g, -0.7, 0.7)
    fastgd.clip_grad_value(g, 0.7)
    np.testing.assert_array_equal(g, expected)
    torch = pytest.importorskip("torch")
    t = torch.from_numpy((rng.standard_normal(n) * 2).astype(dtype))
    t.requires_grad_(True)
    t.grad = t.detach().clone()
    mine = t.grad.numpy().copy()
    torch.nn.utils.clip_grad_value_([t], 0.7)
    fastgd.clip_grad_value(mine, 0.7)
    np.testing.assert_array_equal(mine, t.grad.numpy())


def test_scale_kernel(isa, dtype, rng):
    x = rng.standard_normal(100_001).astype(dtype)
    expected = x * dtype.type(0.3)
    _core.inplace_scale(x, 0.3)
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: fastgd.clip_grad_norm(np.ones(3), -1.0), ValueError, "max_norm"),
    (lambda: fastgd.clip_grad_norm(np.ones(3), float("nan")), ValueError, "max_norm"),
    (lambda: fastgd.clip_grad_value(np.ones(3), -0.1), ValueError, "clip"),
    (lambda: fastgd.clip_grad_norm("abc", 1.0), TypeError, "grads"),
    (lambda: fastgd.grad_norm(np.ones((2, 2))), ValueError, r"^grads must be 1-D"),
    (lambda: fastgd.grad_norm(np.ones(3, dtype=np.int32)), TypeError, "float32 or float64"),
    (lambda: fastgd.clip_grad_value(np.ones(6)[::2], 1.0), ValueError, "C-contiguous"),
])
def test_bad_arguments_raise(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_read_only_gradients_raise():
    g = np.ones(4) * 10
    g.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastgd.clip_grad_norm(g, 1.0)
    with pytest.raises(ValueError, match="read-only"):
        fastgd.clip_grad_value(g, 1.0)


def test_exported_from_ops():
    assert fastgd.ops.clip_grad_norm is fastgd.clip_grad_norm
    assert fastgd.ops.grad_norm is fastgd.grad_norm
    assert fastgd.ops.clip_grad_value is fastgd.clip_grad_value


def test_gradient_norm_and_clipping_errors_name_grads():
    # the kernels' checks called every gradient "x", an argument these functions do not have
    with pytest.raises(TypeError, match=r"^grads must have dtype float32 or float64, got int64"):
        fastgd.ops.grad_norm(np.ones(3, np.int64))
    with pytest.raises(ValueError, match=r"^grads\[1\] must be 1-D, got 2-D"):
        fastgd.ops.clip_grad_norm([np.ones(2), np.ones((2, 2))], 1.0)
    read_only = np.full(4, 10.0)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match=r"^grads is read-only"):
        fastgd.ops.clip_grad_norm(read_only, 1.0)
    with pytest.raises(ValueError, match=r"^grads\[0\] is read-only"):
        fastgd.ops.clip_grad_value([read_only], 1.0)


@pytest.mark.parametrize("bad", [None, np.nan, np.inf])
def test_clip_grad_norm_with_an_infinite_max_norm_returns_the_norm_as_torch(dtype, bad):
    # clip_grad_norm_(params, float("inf")) is torch's idiom for the norm alone; it was refused as
    # a non-finite hyperparameter: the gradients stay (NaN where the norm is not finite), N returned
    torch = pytest.importorskip("torch")
    g = np.array([3.0, -4.0, 0.0, -0.0] + ([] if bad is None else [bad]), dtype)
    t = torch.zeros(len(g), dtype=torch.from_numpy(g).dtype, requires_grad=True)
    t.grad = torch.from_numpy(g.copy())
    t_norm = torch.nn.utils.clip_grad_norm_([t], float("inf"), foreach=False)
    for max_norm in (np.inf, float("inf"), np.float32(np.inf)):
        mine = g.copy()
        norm = fastgd.clip_grad_norm(mine, max_norm)
        np.testing.assert_equal(norm, float(t_norm))
        np.testing.assert_array_equal(mine, t.grad.numpy())
        kept = ~np.isnan(mine)
        assert np.array_equal(np.signbit(mine[kept]), np.signbit(t.grad.numpy()[kept]))  # -0 stays -0


def test_clip_grad_norm_refuses_minus_inf_and_integers_past_the_float_range():
    for bad in (-np.inf, 10**400):
        with pytest.raises(ValueError, match=r"^max_norm must be a finite number >= 0 or inf, got "):
            fastgd.clip_grad_norm(np.ones(3), bad)
