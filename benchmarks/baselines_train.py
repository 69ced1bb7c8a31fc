"""Baselines for training throughput: a NumPy MLP (array-wise, float32, Adam) and a plain
PyTorch loop. They implement the same model, loss and optimizer as fastgd's benchmarks."""

from __future__ import annotations

import numpy as np


class NumpyMLP:
    """relu MLP with a softmax cross-entropy head and Adam, written the way a NumPy user would
    (one array operation at a time, in-place where NumPy allows)."""

    def __init__(self, widths, lr=1e-3, seed=0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.W = [(rng.normal(0, np.sqrt(2 / a), size=(a, b))).astype(dtype) for a, b in zip(widths[:-1], widths[1:])]
        self.b = [np.zeros(b, dtype=dtype) for b in widths[1:]]
        self.params = self.W + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.lr, self.b1, self.b2, self.eps = lr, 0.9, 0.999, 1e-8

    def step(self, x, y):
        hs = [x]
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            z = hs[-1] @ W
            z += b
            if i < len(self.W) - 1:
                np.maximum(z, 0, out=z)
            hs.append(z)
        logits = hs[-1]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = -np.log(p[np.arange(n), y] + 1e-30).mean()
        g = p
        g[np.arange(n), y] -= 1
        g /= n
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for i in range(len(self.W) - 1, -1, -1):
            gW[i] = hs[i].T @ g
            gb[i] = g.sum(axis=0)
            if i:
                g = g @ self.W[i].T
                g *= hs[i] > 0
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for p_, g_, m, v in zip(self.params, gW + gb, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g_
            v *= self.b2
            v += (1 - self.b2) * g_ * g_
            p_ -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)
        return loss


def torch_mlp(widths, seed=0):
    import torch

    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class TorchLoop:
    """The plain PyTorch training step: forward, cross_entropy, backward, Adam.step."""

    def __init__(self, widths, lr=1e-3, seed=0):
        import torch

        self.torch = torch
        self.model = torch_mlp(widths, seed)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)

    def step(self, x, y):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss

    def epoch(self, X, y, batch_size, generator):
        torch = self.torch
        perm = torch.randperm(X.shape[0], generator=generator)
        for s in range(0, X.shape[0], batch_size):
            idx = perm[s:s + batch_size]
            self.step(X[idx], y[idx])
