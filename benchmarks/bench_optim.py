"""asv benchmarks of the optimizer steps and the gradient norm/clipping kernels."""

import numpy as np

import fastgd

MLP = 235_146
BIG = 1 << 24

_MAKERS = {
    "sgd": lambda: fastgd.optim.SGD(1e-3),
    "momentum": lambda: fastgd.optim.SGD(1e-3, momentum=0.9),
    "nesterov": lambda: fastgd.optim.SGD(1e-3, momentum=0.9, nesterov=True),
    "adagrad": lambda: fastgd.optim.AdaGrad(1e-2),
    "rmsprop": lambda: fastgd.optim.RMSProp(1e-2, centered=True, momentum=0.9),
    "adam": lambda: fastgd.optim.Adam(1e-3),
    "adamw_amsgrad": lambda: fastgd.optim.AdamW(1e-3, amsgrad=True),
}


class _Threads:
    """Runs each benchmark with fastgd set to the `threads` parameter (the last one)."""

    def _set_threads(self, threads):
        self.previous = fastgd.get_num_threads()
        fastgd.set_num_threads(threads)

    def teardown(self, *args):
        fastgd.set_num_threads(self.previous)


class OptimizerStep(_Threads):
    params = ([MLP, BIG], list(_MAKERS), ["float32", "float64"], [1, 2])
    param_names = ["n", "optimizer", "dtype", "threads"]

    def setup(self, n, optimizer, dtype, threads):
        rng = np.random.default_rng(0)
        self.p = rng.standard_normal(n).astype(dtype)
        self.g = (rng.standard_normal(n) * 1e-2).astype(dtype)
        self.opt = _MAKERS[optimizer]()
        self.opt.step(self.p, self.g)  # allocates the state
        self._set_threads(threads)

    def time_step(self, *args):
        self.opt.step(self.p, self.g)


class NoisySGDStep(_Threads):
    params = ([MLP], [1, 2])
    param_names = ["n", "threads"]

    def setup(self, n, threads):
        self.p = np.zeros(n, dtype=np.float32)
        self.g = np.ones(n, dtype=np.float32)
        self.opt = fastgd.optim.SGD(1e-3, noise=1e-2, seed=0)
        self._set_threads(threads)

    def time_step(self, *args):
        self.opt.step(self.p, self.g)


class GradClip(_Threads):
    params = ([MLP, BIG], ["float32", "float64"], [1, 2])
    param_names = ["n", "dtype", "threads"]

    def setup(self, n, dtype, threads):
        self.g = np.random.default_rng(0).standard_normal(n).astype(dtype)
        self._set_threads(threads)

    def time_grad_norm(self, *args):
        fastgd.grad_norm(self.g)

    def time_clip_grad_norm(self, *args):
        fastgd.clip_grad_norm(self.g, 1e9)  # norm only: no rescale, the data stay the same

    def time_clip_grad_value(self, *args):
        fastgd.clip_grad_value(self.g, 1e9)
