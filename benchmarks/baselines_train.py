"""Baselines for training throughput: a NumPy MLP (array-wise, float32, Adam), a plain
PyTorch loop and a jax.jit-compiled JAX step. They implement the same model, loss and
optimizer as fastgd's benchmarks."""

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


def jax_single_thread():
    """Import jax with XLA's CPU backend on one thread (see benchmarks._timing.jax_environment),
    or None when jax or optax is not installed."""
    from benchmarks._timing import jax_environment

    jax_environment()
    try:
        import jax
        import optax  # noqa: F401
    except ImportError:
        return None
    return jax


class JaxLoop:
    """The same relu MLP, softmax cross-entropy and Adam as a JAX user writes them: one
    jax.jit-compiled step (optax.adam) that takes and returns parameters and optimizer state,
    their buffers donated to the next step."""

    def __init__(self, widths, lr=1e-3, seed=0):
        jax = jax_single_thread()
        import jax.numpy as jnp
        import optax

        key = jax.random.PRNGKey(seed)
        params = []
        for a, b in zip(widths[:-1], widths[1:]):
            key, sub = jax.random.split(key)
            params.append((jax.random.normal(sub, (a, b), jnp.float32) * np.sqrt(2 / a), jnp.zeros(b, jnp.float32)))
        opt = optax.adam(lr)

        def loss_fn(p, x, y):
            h = x
            for W, b in p[:-1]:
                h = jax.nn.relu(h @ W + b)
            W, b = p[-1]
            return optax.softmax_cross_entropy_with_integer_labels(h @ W + b, y).mean()

        def step(p, state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
            updates, state = opt.update(grads, state, p)
            return optax.apply_updates(p, updates), state, loss

        self._step = jax.jit(step, donate_argnums=(0, 1))
        self.params, self.state = params, opt.init(params)
        self._jnp = jnp

    def inputs(self, x, y):
        return self._jnp.asarray(x), self._jnp.asarray(y)

    def step(self, x, y):
        self.params, self.state, loss = self._step(self.params, self.state, x, y)
        return loss.block_until_ready()
