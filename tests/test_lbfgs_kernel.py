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


# ---- the curvature-pair kernel and the ring buffer ------------------------------------


@pytest.mark.parametrize("n", [1, 3, 4, 9, 1000])
def test_pair_kernel_matches_reference_and_numpy(isa, dtype, rng, n):
    x_new, x_old, g_new, g_old = (rng.standard_normal(n).astype(dtype) for _ in range(4))
    s, y = np.empty(n, dtype), np.empty(n, dtype)
    sy, yy = _core.lbfgs_pair(s, y, x_new, x_old, g_new, g_old)
    s_ref, y_ref = np.empty(n, dtype), np.empty(n, dtype)
    sy_ref, yy_ref = _core.lbfgs_pair(s_ref, y_ref, x_new, x_old, g_new, g_old, reference=True)
    np.testing.assert_array_equal(s, x_new - x_old)
    np.testing.assert_array_equal(y, g_new - g_old)
    np.testing.assert_array_equal(s_ref, s)
    expected_sy = float(np.dot(s.astype(np.float64), y.astype(np.float64)))
    expected_yy = float(np.dot(y.astype(np.float64), y.astype(np.float64)))
    assert sy == pytest.approx(expected_sy, rel=1e-12, abs=1e-12)
    assert yy == pytest.approx(expected_yy, rel=1e-12)
    assert sy_ref == pytest.approx(sy, rel=1e-12, abs=1e-12) and yy_ref == pytest.approx(yy, rel=1e-12)


def test_pair_bad_arguments():
    a = np.zeros(3)
    with pytest.raises(ValueError, match="x_old"):
        _core.lbfgs_pair(np.empty(3), np.empty(3), a, np.zeros(4), a.copy(), a.copy())
    with pytest.raises(ValueError, match="share memory"):
        _core.lbfgs_pair(a, np.empty(3), a, np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="g_old"):
        _core.lbfgs_pair(np.empty(3), np.empty(3), a, np.zeros(3), np.zeros(3), np.zeros(3, np.float32))


def test_memory_matches_dense_bfgs_after_wraparound(isa, dtype, rng):
    """Push more pairs than history_size: the direction uses exactly the newest ones."""
    n, m = 12, 3
    memory = _core.LBFGSMemory(n, m, dtype)
    A = rng.standard_normal((n, n))
    A = (A @ A.T + n * np.eye(n)).astype(dtype)  # SPD: y = A s gives s·y > 0
    xs = [rng.standard_normal(n).astype(dtype) for _ in range(7)]
    pairs = []
    for a, b in zip(xs[:-1], xs[1:]):
        assert memory.push(b, a, (A @ b).astype(dtype), (A @ a).astype(dtype))
        pairs.append((b - a, (A @ b).astype(dtype) - (A @ a).astype(dtype)))
    assert memory.count == m
    g = rng.standard_normal(n).astype(dtype)
    d = memory.compute_direction(g).copy()
    s = np.array([p[0] for p in pairs[-m:]])
    y = np.array([p[1] for p in pairs[-m:]])
    last_s, last_y = s[-1].astype(np.float64), y[-1].astype(np.float64)
    gamma = np.dot(last_s, last_y) / np.dot(last_y, last_y)
    assert memory.gamma == pytest.approx(gamma, rel=1e-5)
    expected = dense_direction(g, s, y, m, m - 1, gamma)
    tol = 1e-3 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(d, expected, rtol=tol, atol=tol * np.abs(expected).max())


def test_memory_rejects_negative_curvature_without_losing_a_pair(rng):
    n, m = 4, 2
    memory = _core.LBFGSMemory(n, m, np.float64)
    x0, x1, x2 = (rng.standard_normal(n) for _ in range(3))
    assert memory.push(x1, x0, 2 * x1, 2 * x0)
    assert memory.push(x2, x1, 3 * x2, 3 * x1)
    g = rng.standard_normal(n)
    before = memory.compute_direction(g).copy()
    state = memory.get_state()
    assert not memory.push(x2, x1, -x2, -x1)  # s·y < 0: rejected
    assert memory.count == 2
    np.testing.assert_array_equal(memory.compute_direction(g), before)
    other = _core.LBFGSMemory(n, m, np.float64)
    other.set_state(state)
    np.testing.assert_array_equal(other.compute_direction(g), before)
    memory.reset()
    np.testing.assert_array_equal(memory.compute_direction(g), -g)


def test_memory_bad_arguments():
    with pytest.raises(ValueError, match="history_size"):
        _core.LBFGSMemory(3, 0, np.float64)
    with pytest.raises(TypeError, match="dtype"):
        _core.LBFGSMemory(3, 2, np.int32)
    memory = _core.LBFGSMemory(3, 2, np.float64)
    with pytest.raises(ValueError, match="grad"):
        memory.compute_direction(np.zeros(4))
    with pytest.raises(ValueError, match="grad"):
        memory.compute_direction(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="share memory"):
        memory.compute_direction(memory.direction)
    with pytest.raises(ValueError, match="x_old"):
        memory.push(np.zeros(3), np.zeros(2), np.zeros(3), np.zeros(3))
