"""NumPy oracle and comparison helpers shared by the GEMM and dense layer tests."""

import numpy as np
from scipy.special import erfc

from fastgd import ACTIVATIONS  # noqa: F401  (every registered activation is tested)
from fastgd._core import ACTIVATIONS_GRAD_FROM_PRE
from fastgd.ops import dense_forward

ALPHA = 0.1
GELU_TANH_C = np.sqrt(2 / np.pi)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sigmoid(v):
    return 0.5 * (1 + np.tanh(0.5 * v))


def activate(z, activation, alpha=ALPHA):
    """The activations in float64 NumPy."""
    if activation in (None, "identity"):
        return z
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "leaky_relu":
        return np.where(z < 0, alpha * z, z)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if activation == "tanh":
        return np.tanh(z)
    if activation == "softplus":
        return np.logaddexp(0, z)
    if activation == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if activation == "gelu":
        return 0.5 * z * erfc(-z / np.sqrt(2))
    if activation == "gelu_tanh":
        return 0.5 * z * (1 + np.tanh(GELU_TANH_C * (z + 0.044715 * z**3)))
    if activation == "silu":
        return z * _sigmoid(z)
    if activation == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0)))
    if activation == "mish":
        return z * np.tanh(np.logaddexp(0, z))
    raise ValueError(activation)


def activation_grad(out, activation, alpha=ALPHA):
    """d act / d z as a function of the output, or of the pre-activation z for the activations
    in ACTIVATIONS_GRAD_FROM_PRE."""
    z = out
    if activation == "elu":
        return np.where(z <= 0, np.exp(np.minimum(z, 0)), 1).astype(out.dtype)
    if activation == "gelu":
        return 0.5 * erfc(-z / np.sqrt(2)) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    if activation == "gelu_tanh":
        t = np.tanh(GELU_TANH_C * (z + 0.044715 * z**3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_TANH_C * (1 + 3 * 0.044715 * z * z)
    if activation == "silu":
        s = _sigmoid(z)
        return s * (1 + z * (1 - s))
    if activation == "selu":
        return SELU_SCALE * np.where(z <= 0, SELU_ALPHA * np.exp(np.minimum(z, 0)), 1)
    if activation == "mish":
        t = np.tanh(np.logaddexp(0, z))
        return t + z * (1 - t * t) * _sigmoid(z)
    if activation in (None, "identity"):
        return np.ones_like(out)
    if activation == "relu":
        return (out > 0).astype(out.dtype)
    if activation == "leaky_relu":
        return np.where(out > 0, 1, alpha).astype(out.dtype)
    if activation == "sigmoid":
        return out * (1 - out)
    if activation == "tanh":
        return 1 - out * out
    if activation == "softplus":
        return -np.expm1(-out)
    raise ValueError(activation)


def forward_keeping(x, W, b, activation, alpha=ALPHA):
    """dense_forward's output, the array act' reads (the kept pre-activation for the activations
    in ACTIVATIONS_GRAD_FROM_PRE, else the output) and the keywords dense_backward needs for it."""
    if activation not in ACTIVATIONS_GRAD_FROM_PRE:
        out = dense_forward(x, W, b, activation=activation, alpha=alpha)
        return out, out, {}
    pre = np.empty((x.shape[0], W.shape[1]), dtype=x.dtype)
    out = dense_forward(x, W, b, activation=activation, alpha=alpha, pre_activation=pre)
    return out, pre, {"pre_activation": pre}


def gemm_oracle(C, A, B, trans_a, trans_b, beta, bias, activation, alpha=ALPHA):
    """(expected, tolerance) in float64 for C := act(beta*C + op(A)op(B) + bias).

    The tolerance is a rounding-error bound: (k + 4) ulps of the sum of the
    magnitudes of every term, doubled (every activation's Lipschitz constant is
    below 1.2 for alpha <= 1), plus a few ulps of the result for the activation's
    own rounding."""
    dt = np.dtype(C.dtype)
    a = A.astype(np.float64).T if trans_a else A.astype(np.float64)
    b = B.astype(np.float64).T if trans_b else B.astype(np.float64)
    k = a.shape[1]
    z = a @ b
    mag = np.abs(a) @ np.abs(b)
    if bias is not None:
        z = z + bias.astype(np.float64)
        mag = mag + np.abs(bias.astype(np.float64))
    if beta != 0:
        z = z + beta * C.astype(np.float64)
        mag = mag + np.abs(beta * C.astype(np.float64))
    expected = activate(z, activation, alpha)
    eps = np.finfo(dt).eps
    tol = 2 * eps * (k + 4) * mag + 8 * eps * np.abs(expected) + np.finfo(dt).tiny
    return expected, tol


def assert_close(got, expected, tol, what):
    """Elementwise |got - expected| <= tol; the message names what, the shape and
    the worst index."""
    got64 = np.asarray(got, dtype=np.float64)
    assert got64.shape == expected.shape, f"{what}: shape {got64.shape} != expected {expected.shape}"
    if got64.size == 0:
        return
    err = np.abs(got64 - expected)
    bad = ~(err <= tol)  # NaN counts as bad
    if bad.any():
        excess = np.where(bad, np.nan_to_num(err - tol, nan=np.inf), -np.inf)
        idx = np.unravel_index(np.argmax(excess), got64.shape)
        raise AssertionError(
            f"{what}: shape {got64.shape}, {int(bad.sum())} element(s) off; worst at index {idx}: "
            f"got {got64[idx]!r}, expected {expected[idx]!r} (tolerance {tol[idx]:.3g})")
