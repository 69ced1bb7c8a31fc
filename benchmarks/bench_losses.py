"""asv benchmarks of the fused loss + gradient kernels (one class per loss), with the NumPy
baseline timed in the same run. Allocation happens in setup; only the call is timed."""

import numpy as np

import fastgd
from fastgd import _core, losses

try:
    from benchmarks import baselines_losses
except ImportError:
    import baselines_losses


class _LossBench:
    params = ([32, 512, 4096], [10, 1000], ["float32", "float64"], [1, 2])
    param_names = ["batch", "classes", "dtype", "threads"]
    loss_name = "mse"

    def make_target(self, rng, n, c, dtype):
        return rng.uniform(0, 1, (n, c)).astype(dtype)

    # the NumPy baseline of benchmarks/baselines_losses.py: f(pred, target)
    numpy_baseline = staticmethod(baselines_losses.mse)

    def setup(self, batch, classes, dtype, threads):
        rng = np.random.default_rng(0)
        self.pred = rng.standard_normal((batch, classes)).astype(dtype)
        self.target = self.make_target(rng, batch, classes, dtype)
        self.loss = losses.get(self.loss_name)
        self.spec = self.loss._c_spec()
        self.prepared = self.loss.prepare_target(self.target, classes, self.pred.dtype, n_samples=batch)
        self.grad = np.empty_like(self.pred)
        self.previous_threads = fastgd.get_num_threads()
        fastgd.set_num_threads(threads)

    def teardown(self, *args):
        fastgd.set_num_threads(self.previous_threads)

    def time_fastgd_kernel(self, *args):
        _core.loss_value_and_grad(self.pred, self.spec, self.prepared, None, None,
                                  _core.REDUCE_MEAN, self.grad)

    def time_fastgd_forward_backward(self, *args):
        self.loss.forward(self.pred, self.target)
        self.loss.backward()

    def time_numpy(self, *args):
        self.numpy_baseline(self.pred, self.target)


class SoftmaxCrossEntropy(_LossBench):
    loss_name = "softmax_cross_entropy"

    def make_target(self, rng, n, c, dtype):
        return rng.integers(0, c, n)

    numpy_baseline = staticmethod(baselines_losses.softmax_cross_entropy)


class BinaryCrossEntropy(_LossBench):
    loss_name = "bce"

    numpy_baseline = staticmethod(baselines_losses.binary_cross_entropy_with_logits)


class MSE(_LossBench):
    loss_name = "mse"

    numpy_baseline = staticmethod(baselines_losses.mse)


class Huber(_LossBench):
    loss_name = "huber"

    numpy_baseline = staticmethod(baselines_losses.huber)
