"""The L-BFGS two-loop recursion in C: dispatched kernel vs reference twin vs a dense NumPy BFGS matrix."""

import numpy as np
import pytest

import fastgd
from fastgd import _core

SIZES = [1, 3, 4, 5, 8, 17, 64, 1001]


def make_history(rng, n, m, count, newest, dtype):
    """A ring buffer holding `count` curvature pairs with positive s·y, newest at row `newest`."""
    s = np.zeros((m, n), dtype)
    y = np.zeros((m, n), dtype)
    rho = np.zeros(m)
    for k in range(count):
        j = (newest - k) % m
        s[j] = rng.standard_normal(n)
        y[j] = s[j] * rng.uniform(0.5, 2.0, n) + 0.1 * rng.standard_normal(n)
        sy = float(np.dot(s[j].astype(np.float64), y[j].astype(np.float64)))
        if sy <= 0:
            y[j] = s[j]
            sy = float(np.dot(s[j].astype(np.float64), s[j].astype(np.float64)))
        rho[j] = 1.0 / sy
    return s, y, rho


def dense_direction(g, s, y, count, newest, gamma):
    """-H g with H built by the BFGS inverse update, oldest pair first."""
    n = g.shape[0]
    H = gamma * np.eye(n)
    identity = np.eye(n)
    m = s.shape[0]
    for k in range(count - 1, -1, -1):
        j = (newest - k) % m
        sj, yj = s[j].astype(np.float64), y[j].astype(np.float64)
        r = 1.0 / np.dot(sj, yj)
        left = identity - r * np.outer(sj, yj)
        H = left @ H @ left.T + r * np.outer(sj, sj)
    return -H @ g.astype(np.float64)


def run(kernel, g, s, y, rho, count, newest, gamma):
    d = np.empty_like(g)
    alpha = np.zeros(s.shape[0])
    kernel(d, g, s, y, rho, alpha, count, newest, gamma)
    return d


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("m,count,newest", [(1, 1, 0), (3, 0, 2), (3, 2, 1), (5, 5, 0), (5, 5, 3), (4, 3, 0)])
def test_kernel_matches_reference_and_dense_bfgs(isa, dtype, rng, n, m, count, newest):
    s, y, rho = make_history(rng, n, m, count, newest, dtype)
    g = rng.standard_normal(n).astype(dtype)
    gamma = 0.7
    fast = run(_core.lbfgs_direction, g, s, y, rho, count, newest, gamma)
    ref = run(_core.lbfgs_direction_ref, g, s, y, rho, count, newest, gamma)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    scale = np.abs(ref).max() + 1e-30
    np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol * scale)
    if n <= 64:
        dense = dense_direction(g, s, y, count, newest, gamma)
        np.testing.assert_allclose(ref, dense, rtol=10 * tol, atol=10 * tol * scale)


def test_no_history_is_scaled_steepest_descent(isa, dtype, rng):
    s, y, rho = make_history(rng, 7, 3, 0, 0, dtype)
    g = rng.standard_normal(7).astype(dtype)
    d = run(_core.lbfgs_direction, g, s, y, rho, 0, 0, 0.25)
    np.testing.assert_array_equal(d, (-0.25 * g.astype(np.float64)).astype(dtype))


def test_secant_condition_of_newest_pair(isa, rng):
    """H y_newest = s_newest holds exactly for the BFGS update, so -direction(y) = s."""
    n, m = 20, 4
    s, y, rho = make_history(rng, n, m, 4, 2, np.float64)
    d = run(_core.lbfgs_direction, y[2].copy(), s, y, rho, 4, 2, 0.3)
    np.testing.assert_allclose(-d, s[2], rtol=1e-9, atol=1e-9)


def test_bit_identical_across_thread_counts(isa, dtype, rng):
    s, y, rho = make_history(rng, 5000, 6, 6, 4, dtype)
    g = rng.standard_normal(5000).astype(dtype)
    results = []
    for threads in (1, 2):
        with fastgd.threads(threads):
            results.append(run(_core.lbfgs_direction, g, s, y, rho, 6, 4, 1.3))
    np.testing.assert_array_equal(results[0], results[1])


def test_bad_arguments(rng):
    n, m = 4, 3
    s, y, rho = make_history(rng, n, m, 2, 1, np.float64)
    g = rng.standard_normal(n)
    d = np.empty(n)
    alpha = np.zeros(m)
    f = _core.lbfgs_direction
    with pytest.raises(ValueError, match="count"):
        f(d, g, s, y, rho, alpha, 4, 1, 1.0)
    with pytest.raises(ValueError, match="newest"):
        f(d, g, s, y, rho, alpha, 2, 3, 1.0)
    with pytest.raises(ValueError, match="s_hist"):
        f(d, g, s[:, :3].copy(), y, rho, alpha, 2, 1, 1.0)
    with pytest.raises(TypeError, match="s_hist"):
        f(d, g, s.astype(np.float32), y, rho, alpha, 2, 1, 1.0)
    with pytest.raises(ValueError, match="y_hist"):
        f(d, g, s, y[:2].copy(), rho, alpha, 2, 1, 1.0)
    with pytest.raises(TypeError, match="rho"):
        f(d, g, s, y, rho.astype(np.float32), alpha, 2, 1, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        f(d, g, s, y, rho, np.zeros(2), 2, 1, 1.0)
    with pytest.raises(ValueError, match="share memory"):
        f(g, g, s, y, rho, alpha, 2, 1, 1.0)
    with pytest.raises(ValueError, match="gamma"):
        f(d, g, s, y, rho, alpha, 2, 1, float("nan"))
    with pytest.raises(TypeError, match="direction"):
        f([0.0] * n, g, s, y, rho, alpha, 2, 1, 1.0)
