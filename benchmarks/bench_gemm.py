"""asv benchmarks of the GEMM and the dense layer forward/backward,
with the NumPy baselines measured alongside (benchmarks/baselines_gemm.py)."""

import numpy as np

import fastgd
from fastgd import ops

try:
    from benchmarks import baselines_gemm
except ImportError:  # asv runs the benchmark directory as a package root
    import baselines_gemm

SHAPES = ["32x784x256", "128x784x256", "128x256x128", "128x128x10", "512x784x256", "1024x1024x1024"]


def _layer(shape, dtype):
    n, k, m = map(int, shape.split("x"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, k)).astype(dtype)
    W = (rng.standard_normal((k, m)) / np.sqrt(k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    g = rng.standard_normal((n, m)).astype(dtype)
    return n, k, m, x, W, b, g


class _Threads:
    """Runs each benchmark with fastgd (and NumPy's BLAS) set to `threads`, the last parameter."""

    def _set_threads(self, threads):
        self.previous = fastgd.get_num_threads()
        fastgd.set_num_threads(threads)
        try:
            from threadpoolctl import threadpool_limits
            self.limits = threadpool_limits(threads)
        except ImportError:
            self.limits = None

    def teardown(self, *args):
        fastgd.set_num_threads(self.previous)
        if self.limits is not None:
            self.limits.restore_original_limits()


class Matmul(_Threads):
    """The three products of a training step: x·W, xᵀ·g (dW), g·Wᵀ (grad_x)."""
    params = (SHAPES, ["xW", "xTg", "gWT"], ["float32", "float64"], [1, 2])
    param_names = ["n_k_m", "product", "dtype", "threads"]

    def setup(self, shape, product, dtype, threads):
        n, k, m, x, W, b, g = _layer(shape, dtype)
        self.args = {"xW": (x, W, False, False, np.empty((n, m), dtype)),
                     "xTg": (x, g, True, False, np.empty((k, m), dtype)),
                     "gWT": (g, W, False, True, np.empty((n, k), dtype))}[product]
        a, bb, ta, tb, _ = self.args
        self.np_a = a.T if ta else a
        self.np_b = bb.T if tb else bb
        self.flops = 2.0 * n * k * m
        self._set_threads(threads)

    def time_fastgd(self, *args):
        a, b, ta, tb, out = self.args
        ops.matmul(a, b, trans_a=ta, trans_b=tb, out=out)

    def time_numpy(self, *args):
        np.matmul(self.np_a, self.np_b, out=self.args[4])

    def track_fraction_of_peak(self, shape, product, dtype, threads):
        """fastgd's GFLOP/s on this product over the register-only FMA peak (best of 5 calls)."""
        import time

        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            self.time_fastgd()
            best = min(best, time.perf_counter() - t0)
        return self.flops / best / 1e9 / fastgd._core.peak_gflops(np.dtype(dtype), threads, 0.02)

    track_fraction_of_peak.unit = "fraction of peak"


class DenseForward(_Threads):
    """relu(x·W + b): one fused GEMM vs matmul + bias and relu passes."""
    params = (SHAPES, ["float32", "float64"], [1, 2])
    param_names = ["n_k_m", "dtype", "threads"]

    def setup(self, shape, dtype, threads):
        n, k, m, self.x, self.W, self.b, _ = _layer(shape, dtype)
        self.out = np.empty((n, m), dtype)
        self._set_threads(threads)

    def time_fastgd(self, *args):
        ops.dense_forward(self.x, self.W, self.b, out=self.out)

    def time_numpy(self, *args):
        baselines_gemm.numpy_dense_forward(self.x, self.W, self.b, self.out)


class DenseBackward(_Threads):
    """relu' mask, dW, db and grad_x of a dense layer."""
    params = (SHAPES, ["float32", "float64"], [1, 2])
    param_names = ["n_k_m", "dtype", "threads"]

    def setup(self, shape, dtype, threads):
        n, k, m, self.x, self.W, b, self.g = _layer(shape, dtype)
        self.out = ops.dense_forward(self.x, self.W, b)
        self.gz = self.g.copy()
        self.dW, self.db, self.gx = np.empty((k, m), dtype), np.empty(m, dtype), np.empty((n, k), dtype)
        self._set_threads(threads)

    def time_fastgd(self, *args):
        self.gz[...] = self.g
        ops.dense_backward(self.gz, self.x, self.W, self.out, grad_x=self.gx, dW=self.dW, db=self.db,
                           overwrite_grad_out=True)

    def time_numpy(self, *args):
        baselines_gemm.numpy_dense_backward(self.g, self.x, self.W, self.out, self.gx, self.dW, self.db)


class PeakFMA:
    """The machine's register-only FMA rate (the ceiling in compare_gemm.py's % peak)."""
    params = (["float32", "float64"], [1, 2])
    param_names = ["dtype", "threads"]

    def track_peak_gflops(self, dtype, threads):
        return fastgd._core.peak_gflops(np.dtype(dtype), threads, 0.05)

    track_peak_gflops.unit = "GFLOP/s"
