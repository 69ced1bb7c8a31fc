"""NumPy baselines of the losses: value and gradient with respect to the predictions, written the
way a NumPy user would (vectorized, numerically stable, reduction='mean')."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy with class labels and its gradient ``(softmax - onehot) / n``."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.log(sums[:, 0]).sum() - shifted[rows, labels].sum()) / n
    grad = exp / sums
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad


def binary_cross_entropy_with_logits(z, t):
    e = np.exp(-np.abs(z))
    loss = float((np.maximum(z, 0) - z * t + np.log1p(e)).mean())
    sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return loss, (sig - t) / z.size


def mse(pred, target):
    d = pred - target
    return float((d * d).mean()), d * (2 / d.size)


def mae(pred, target):
    d = pred - target
    return float(np.abs(d).mean()), np.sign(d) / d.size


def huber(pred, target, delta=1.0):
    d = pred - target
    ad = np.abs(d)
    loss = float(np.where(ad <= delta, 0.5 * d * d, delta * (ad - 0.5 * delta)).mean())
    return loss, np.clip(d, -delta, delta) / d.size
