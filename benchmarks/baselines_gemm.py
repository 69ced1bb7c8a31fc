"""NumPy (and PyTorch) baselines of the dense layer: what a user would write
without fastgd. Outputs are preallocated where the library allows it, so the
baselines are measured at their best."""

from __future__ import annotations

import numpy as np


def numpy_dense_forward(x, W, b, out):
    """out = relu(x @ W + b): matmul, then the bias and activation passes."""
    np.matmul(x, W, out=out)
    out += b
    np.maximum(out, 0, out=out)
    return out


def numpy_dense_backward(grad_out, x, W, out, grad_x, dW, db):
    """grad_z = grad_out * (out > 0); dW = x.T @ grad_z; db = Σ grad_z; grad_x = grad_z @ W.T."""
    grad_z = grad_out * (out > 0)
    np.matmul(x.T, grad_z, out=dW)
    np.sum(grad_z, axis=0, out=db)
    np.matmul(grad_z, W.T, out=grad_x)
    return grad_x, dW, db


def torch_dense_forward(torch, x, W, b, out):
    """relu(addmm(b, x, W)) into a preallocated tensor."""
    torch.addmm(b, x, W, out=out)
    torch.relu_(out)
    return out


def torch_dense_backward(torch, grad_out, x, W, out, grad_x, dW, db):
    grad_z = grad_out * (out > 0)
    torch.mm(x.t(), grad_z, out=dW)
    torch.sum(grad_z, 0, out=db)
    torch.mm(grad_z, W.t(), out=grad_x)
    return grad_x, dW, db
