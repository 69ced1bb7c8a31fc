"""NumPy baselines of the minimize area: the objective and the L-BFGS two-loop recursion."""

import numpy as np


def rosenbrock(x):
    """Chained Rosenbrock Σ 100(x_{i+1} − x_i²)² + (1 − x_i)², value and gradient (NumPy)."""
    head, tail = x[:-1], x[1:]
    diff = tail - head * head
    value = float(np.sum(100.0 * diff * diff + (1.0 - head) ** 2))
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * head * diff - 2.0 * (1.0 - head)
    grad[1:] += 200.0 * diff
    return value, grad


def rosenbrock_start(d, dtype=np.float64):
    """The classic start (−1.2, 1, −1.2, 1, ...)."""
    x = np.full(d, -1.2, dtype)
    x[1::2] = 1.0
    return x


def two_loop_numpy(grad, s_hist, y_hist, rho, count, newest, gamma):
    """direction = −H·grad by the two-loop recursion, array by array in NumPy."""
    m = s_hist.shape[0]
    q = grad.copy()
    alpha = np.zeros(m)
    order = [(newest - k) % m for k in range(count)]
    for j in order:
        alpha[j] = rho[j] * np.dot(s_hist[j], q)
        q -= alpha[j] * y_hist[j]
    q *= gamma
    for j in reversed(order):
        beta = rho[j] * np.dot(y_hist[j], q)
        q += (alpha[j] - beta) * s_hist[j]
    return -q
