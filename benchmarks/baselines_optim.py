"""Array-wise NumPy optimizers: the best a NumPy user writes without a compiled kernel.

Every operation is an in-place ufunc with ``out=`` into preallocated buffers (no temporaries
allocated per step), one array (layer) at a time. Update rules as torch.optim / fastgd.optim.
"""

from __future__ import annotations

import math

import numpy as np


class NumpySGD:
    """θ ← θ − η·d, d = g or the momentum buffer b ← μb + g."""

    def __init__(self, params, lr=0.01, momentum=0.0):
        self.lr, self.momentum = lr, momentum
        self.tmp = [np.empty_like(p) for p in params]
        self.buf = [np.zeros_like(p) for p in params] if momentum else None

    def step(self, params, grads):
        for i, (p, g, tmp) in enumerate(zip(params, grads, self.tmp)):
            d = g
            if self.buf is not None:
                b = self.buf[i]
                np.multiply(b, self.momentum, out=b)
                np.add(b, g, out=b)
                d = b
            np.multiply(d, self.lr, out=tmp)
            np.subtract(p, tmp, out=p)


class NumpyAdaGrad:
    """r ← r + g², θ ← θ − η·g/(√r + eps)."""

    def __init__(self, params, lr=0.01, eps=1e-10):
        self.lr, self.eps = lr, eps
        self.tmp = [np.empty_like(p) for p in params]
        self.sum = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        for p, g, r, tmp in zip(params, grads, self.sum, self.tmp):
            np.multiply(g, g, out=tmp)
            np.add(r, tmp, out=r)
            np.sqrt(r, out=tmp)
            np.add(tmp, self.eps, out=tmp)
            np.divide(g, tmp, out=tmp)
            np.multiply(tmp, self.lr, out=tmp)
            np.subtract(p, tmp, out=p)


class NumpyAdam:
    """m ← β1m + (1−β1)g, v ← β2v + (1−β2)g², θ ← θ − (η/bc1)·m/(√v/√bc2 + eps)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.t = 0
        self.tmp = [np.empty_like(p) for p in params]
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.b1, self.b2
        step_size = self.lr / (1 - b1 ** self.t)
        bc2_sqrt = math.sqrt(1 - b2 ** self.t)
        for p, g, m, v, tmp in zip(params, grads, self.m, self.v, self.tmp):
            np.multiply(m, b1, out=m)
            np.multiply(g, 1 - b1, out=tmp)
            np.add(m, tmp, out=m)
            np.multiply(v, b2, out=v)
            np.multiply(g, g, out=tmp)
            np.multiply(tmp, 1 - b2, out=tmp)
            np.add(v, tmp, out=v)
            np.sqrt(v, out=tmp)
            np.divide(tmp, bc2_sqrt, out=tmp)
            np.add(tmp, self.eps, out=tmp)
            np.divide(m, tmp, out=tmp)
            np.multiply(tmp, step_size, out=tmp)
            np.subtract(p, tmp, out=p)
