"""asv benchmarks of the minimize area: the L-BFGS two-loop recursion and whole solves."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastgd  # noqa: E402
from baselines_minimize import rosenbrock, rosenbrock_start  # noqa: E402
from fastgd import _core  # noqa: E402


class LBFGSDirection:
    """One two-loop recursion over a full ring buffer (memory bound: 4·m passes over n)."""

    params = ([10_000, 1_000_000], [5, 10, 20], ["float32", "float64"])
    param_names = ["n", "history_size", "dtype"]

    def setup(self, n, history_size, dtype):
        rng = np.random.default_rng(0)
        self.memory = _core.LBFGSMemory(n, history_size, dtype)
        x_old = rng.standard_normal(n).astype(dtype)
        g_old = x_old * 2
        for _ in range(history_size):
            x_new = x_old + rng.standard_normal(n).astype(dtype)
            g_new = 2 * x_new
            self.memory.push(x_new, x_old, g_new, g_old)
            x_old, g_old = x_new, g_new
        self.grad = rng.standard_normal(n).astype(dtype)

    def time_direction(self, n, history_size, dtype):
        self.memory.compute_direction(self.grad)


class MinimizeRosenbrock:
    """fastgd.minimize with L-BFGS on the chained Rosenbrock function, to ‖g‖ <= 1e-6."""

    params = [2, 100, 1000]
    param_names = ["d"]
    timeout = 120

    def setup(self, d):
        self.x0 = rosenbrock_start(d)

    def _solve(self, d):
        return fastgd.minimize(rosenbrock, self.x0, jac=True, tol=1e-6, max_iter=20000)

    def time_lbfgs(self, d):
        self._solve(d)

    def track_nfev(self, d):
        return self._solve(d).nfev

    track_nfev.unit = "evaluations"


class MinimizeOverhead:
    """Per-iteration driver overhead: fixed-step L-BFGS iterations on a cheap quadratic."""

    params = [1, 1000]
    param_names = ["d"]

    def setup(self, d):
        self.x0 = np.linspace(-1.0, 1.0, d)
        self.scales = np.linspace(1.0, 3.0, d)

    def time_100_iterations(self, d):
        scales = self.scales
        fastgd.minimize(lambda x: (float(np.dot(scales * x, x)), 2 * scales * x), self.x0, jac=True,
                        tol=0.0, max_iter=100, optimizer=fastgd.LBFGS(line_search=None))
