"""Dense layer forward/backward: vs the GEMM, the reference twin, NumPy and
float64 finite differences."""

import numpy as np
import pytest

import fastgd
from fastgd import _core
from fastgd.ops import dense_backward, dense_forward

from _gemm_oracle import (ACTIVATIONS, ALPHA, activate, activation_grad, assert_close, forward_keeping,
                          gemm_oracle)

SHAPES = [(1, 1, 1), (5, 7, 17), (32, 784, 256), (128, 128, 10), (7, 300, 6), (77, 33, 65), (0, 3, 4),
          (3, 0, 4)]


def layer(rng, dtype, n, k, m):
    x = rng.standard_normal((n, k)).astype(dtype)
    W = (rng.standard_normal((k, m)) / np.sqrt(max(k, 1))).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return x, W, b


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_is_the_fused_gemm(isa, dtype, rng, activation):
    for n, k, m in SHAPES:
        x, W, b = layer(rng, dtype, n, k, m)
        out = dense_forward(x, W, b, activation=activation, alpha=ALPHA)
        C = np.full((n, m), np.nan, dtype=dtype)
        _core.gemm(C, x, W, False, False, 0.0, b, activation, ALPHA)
        np.testing.assert_array_equal(out, C, err_msg=f"shape {(n, k, m)} {activation}")
        expected, tol = gemm_oracle(C, x, W, False, False, 0.0, b, activation)
        assert_close(out, expected, tol, f"dense_forward n,k,m={(n, k, m)} {activation}")
        # keeping the pre-activation: the GEMM without activation, and the same output
        pre = np.full((n, m), np.nan, dtype=dtype)
        out_kept = dense_forward(x, W, b, activation=activation, alpha=ALPHA, pre_activation=pre)
        Z = np.full((n, m), np.nan, dtype=dtype)
        _core.gemm(Z, x, W, False, False, 0.0, b, "identity")
        np.testing.assert_array_equal(pre, Z, err_msg=f"pre_activation {(n, k, m)} {activation}")
        np.testing.assert_array_equal(out_kept, out, err_msg=f"output keeping z {(n, k, m)} {activation}")


def test_forward_without_bias_and_out(dtype, rng):
    x, W, _ = layer(rng, dtype, 9, 20, 30)
    out = np.full((9, 30), np.nan, dtype=dtype)
    r = dense_forward(x, W, activation=None, out=out)
    assert r is out
    np.testing.assert_allclose(out, x.astype(np.float64) @ W, rtol=1e-4, atol=1e-5)


def backward_oracle(grad_out, x, W, out, activation, beta, dW0, db0):
    g = grad_out.astype(np.float64) * activation_grad(out.astype(np.float64), activation)
    x64, W64 = x.astype(np.float64), W.astype(np.float64)
    return g @ W64.T, beta * dW0 + x64.T @ g, beta * db0 + g.sum(0), g


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_backward_vs_reference_and_numpy(isa, dtype, rng, activation, beta):
    eps = np.finfo(dtype).eps
    for n, k, m in SHAPES:
        x, W, b = layer(rng, dtype, n, k, m)
        out, saved, keep = forward_keeping(x, W, b, activation)
        grad_out = rng.standard_normal((n, m)).astype(dtype)
        dW0 = rng.standard_normal((k, m)).astype(dtype)
        db0 = rng.standard_normal(m).astype(dtype)
        dW = dW0.copy() if beta else np.full((k, m), np.nan, dtype=dtype)
        db = db0.copy() if beta else np.full(m, np.nan, dtype=dtype)
        grad_x = np.full((n, k), np.nan, dtype=dtype)
        g_before = grad_out.copy()
        gx, dW_, db_ = dense_backward(grad_out, x, W, out, activation=activation, alpha=ALPHA, beta=beta,
                                      grad_x=grad_x, dW=dW, db=db, **keep)
        assert gx is grad_x and dW_ is dW and db_ is db
        np.testing.assert_array_equal(grad_out, g_before)  # left untouched by default

        e_gx, e_dW, e_db, g = backward_oracle(grad_out, x, W, saved, activation, beta, dW0, db0)
        what = f"{np.dtype(dtype).name} n,k,m={(n, k, m)} {activation} beta={beta} isa={_core.isa_current()}"
        ag = np.abs(g) + np.abs(grad_out)  # act' may cancel: its rounding is relative to grad_out
        assert_close(grad_x, e_gx, 4 * eps * (m + 4) * (ag @ np.abs(W.astype(np.float64)).T) + 1e-30,
                     "grad_x " + what)
        assert_close(dW, e_dW, 4 * eps * (n + 4) * (np.abs(x.astype(np.float64)).T @ ag + abs(beta * dW0))
                     + 1e-30, "dW " + what)
        assert_close(db, e_db, 4 * eps * (n + 4) * (ag.sum(0) + abs(beta * db0)) + 1e-30, "db " + what)

        # the reference twin agrees too
        rg, rW, rb, rx = grad_out.copy(), dW0.copy(), db0.copy(), np.empty((n, k), dtype=dtype)
        _core.dense_backward_ref(rg, x, W, saved, rx, rW, rb, activation, ALPHA, beta)
        assert_close(rx, e_gx, 4 * eps * (m + 4) * (ag @ np.abs(W.astype(np.float64)).T) + 1e-30,
                     "ref grad_x " + what)
        assert_close(rb, e_db, 4 * eps * (n + 4) * (ag.sum(0) + abs(beta * db0)) + 1e-30, "ref db " + what)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_skips_grad_x_and_db(dtype, rng, activation):
    # without db the act' pass still runs (m = 300 spans two column blocks of the db pass)
    x, W, b = layer(rng, dtype, 10, 6, 300)
    out, _, keep = forward_keeping(x, W, b, activation)
    grad_out = rng.standard_normal((10, 300)).astype(dtype)
    gx, dW, db = dense_backward(grad_out, x, W, out, activation=activation, alpha=ALPHA, need_grad_x=False,
                                need_db=False, **keep)
    assert gx is None and db is None
    _, dW_full, _ = dense_backward(grad_out, x, W, out, activation=activation, alpha=ALPHA, **keep)
    np.testing.assert_array_equal(dW, dW_full)


def test_backward_overwrite_grad_out_gives_grad_z(dtype, rng):
    x, W, b = layer(rng, dtype, 10, 6, 4)
    out = dense_forward(x, W, b, activation="tanh")
    grad_out = rng.standard_normal((10, 4)).astype(dtype)
    expected = grad_out * (1 - out * out)
    dense_backward(grad_out, x, W, out, activation="tanh", overwrite_grad_out=True)
    np.testing.assert_allclose(grad_out, expected, rtol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_finite_differences(isa, rng, activation):
    """float64 central differences of L = sum(R * act(x W + b))."""
    n, k, m = 5, 4, 3
    x, W, b = layer(rng, np.float64, n, k, m)
    R = rng.standard_normal((n, m))

    def loss(x_, W_, b_):
        return float((R * dense_forward(x_, W_, b_, activation=activation, alpha=ALPHA)).sum())

    out, _, keep = forward_keeping(x, W, b, activation)
    gx, dW, db = dense_backward(R, x, W, out, activation=activation, alpha=ALPHA, **keep)
    h = 1e-6
    for name, param, grad in (("x", x, gx), ("W", W, dW), ("b", b, db)):
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + h
            up = loss(x, W, b)
            param[idx] = saved - h
            down = loss(x, W, b)
            param[idx] = saved
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7,
                                   err_msg=f"d loss / d {name}, activation {activation}")


def test_backward_identical_across_thread_counts(isa, dtype, rng):
    x, W, b = layer(rng, dtype, 200, 300, 70)
    out = dense_forward(x, W, b)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        with fastgd.threads(threads):
            results.append(dense_backward(grad_out, x, W, out))
    for r in results[1:]:
        for got, want in zip(r, results[0]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_keeping_z_identical_across_thread_counts(isa, dtype, activation, rng):
    """The activation pass after the GEMM splits over threads (300 x 256 outputs: two ranges)
    and gives the same bits for any count."""
    x, W, b = layer(rng, dtype, 300, 9, 256)
    results = []
    for threads in (1, 2):
        with fastgd.threads(threads):
            pre = np.empty((300, 256), dtype)
            results.append((dense_forward(x, W, b, activation=activation, pre_activation=pre), pre))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])


@pytest.mark.parametrize("call, exc, message", [
    (lambda x, W, o: dense_forward(x.astype(np.float32), W), TypeError,
     r"W must have the dtype of x \(float32\), got float64"),
    (lambda x, W, o: dense_forward(x, W[:2]), ValueError, r"W must have shape \(in_features, out_features\)"),
    (lambda x, W, o: dense_forward(x, W, np.ones(5)), ValueError, r"b must have shape \(2,\), got \(5,\)"),
    (lambda x, W, o: dense_forward(x, W, activation="rleu"), ValueError, "activation must be one of"),
    (lambda x, W, o: dense_backward(o, x, W, o, activation="gelu"), ValueError,
     "activation .gelu. takes its derivative from the pre-activation: pass pre_activation"),
    (lambda x, W, o: dense_backward(o, x, W, o, activation="tanh", pre_activation=o), ValueError,
     "pre_activation is only read for the activations"),
    (lambda x, W, o: dense_backward(o, x, W, o, activation="silu", pre_activation=o[:2]), ValueError,
     r"pre_activation must have shape \(4, 2\), got \(2, 2\)"),
    (lambda x, W, o: dense_forward(x, W, activation="silu", pre_activation=o[:3]), ValueError,
     "pre_activation must have shape"),
    (lambda x, W, o: dense_forward(x, W, out=np.ones((4, 3))), ValueError, r"out must have shape \(4, 2\)"),
    (lambda x, W, o: dense_forward(x, W, out=x), ValueError, "out must have shape"),
    (lambda x, W, o: dense_backward(o, x, W, o[:2]), ValueError, r"out must have shape \(4, 2\), got \(2, 2\)"),
    (lambda x, W, o: dense_backward(o, x, W, o, beta=1.0), ValueError, "dW must be given"),
    (lambda x, W, o: dense_backward(o, x, W, o, dW=np.ones((2, 2))), ValueError,
     r"dW must have shape \(3, 2\)"),
    (lambda x, W, o: dense_backward(o.astype(np.float32), x, W, o), TypeError,
     r"grad_out must have the dtype of x \(float64\)"),
    (lambda x, W, o: dense_backward(o, x, W, o, dW=W), ValueError, "dW must not share memory with W"),
    (lambda x, W, o: dense_backward(o, x, W, o, need_db=False, db=np.ones(2)), ValueError,
     "db was given but is not computed"),
])
def test_dense_bad_arguments(call, exc, message):
    x = np.ones((4, 3))
    W = np.ones((3, 2))
    o = np.ones((4, 2))
    with pytest.raises(exc, match=message):
        call(x, W, o)


@pytest.mark.parametrize("shape", [(32, 784, 256), (128, 128, 10), (7, 300, 6)])
def test_backward_is_exactly_its_gemms(isa, dtype, rng, shape):
    """dense_backward = the relu' mask, then fg_gemm for dW (xᵀ·grad_z) and grad_x
    (grad_z·Wᵀ), bit for bit; dense_forward = fg_gemm with bias + activation."""
    n, k, m = shape
    x, W, b = layer(rng, dtype, n, k, m)
    out = dense_forward(x, W, b)
    grad_out = rng.standard_normal((n, m)).astype(dtype)
    grad_z = grad_out.copy()
    gx, dW, db = dense_backward(grad_z, x, W, out, overwrite_grad_out=True)
    np.testing.assert_array_equal(grad_z, np.where(out > 0, grad_out, 0))
    dW2 = np.full((k, m), np.nan, dtype=dtype)
    _core.gemm(dW2, x, grad_z, True, False)
    gx2 = np.full((n, k), np.nan, dtype=dtype)
    _core.gemm(gx2, grad_z, W, False, True)
    np.testing.assert_array_equal(dW, dW2)
    np.testing.assert_array_equal(gx, gx2)


@pytest.mark.parametrize("activation", _core.ACTIVATIONS_GRAD_FROM_PRE)
def test_vector_activations_match_their_libm_twin(isa, dtype, activation):
    """The vector forms (GELU's erfc by a Chebyshev series, exp for the sigmoids) against the
    C library's erfc and exp in the reference twins, element by element over both tails and
    the special values, value and derivative."""
    z = np.concatenate([np.linspace(-40, 40, 40001), [0.0, -0.0, 1e-30, -1e-30, np.inf, -np.inf, np.nan]])
    z = z.astype(dtype).reshape(-1, 1)
    W = np.ones((1, 1), dtype)
    eps = np.finfo(dtype).eps
    rtol = 8e-6 if dtype == np.float32 else 2e-13  # fg_act_vec.h: the rounding of z² in exp(-z²)

    def check(got, want, what):
        both_nan = np.isnan(got) & np.isnan(want)
        with np.errstate(invalid="ignore"):
            ok = both_nan | (got == want) | (np.abs(got - want) <= rtol * np.abs(want) + 4 * eps)
        bad = np.flatnonzero(~ok)
        assert bad.size == 0, f"{what} {activation} isa={_core.isa_current()}: at z={z.ravel()[bad[:3]]} " \
                              f"got {got.ravel()[bad[:3]]}, want {want.ravel()[bad[:3]]}"

    pre = np.empty_like(z)
    out = dense_forward(z, W, None, activation=activation, pre_activation=pre)
    want = np.empty_like(z)
    _core.gemm_ref(want, z, W, activation=activation)
    check(out, want, "value")
    g = np.ones_like(z)
    dense_backward(g, z, W, out, activation=activation, pre_activation=pre, overwrite_grad_out=True,
                   need_grad_x=False, need_db=False)
    g_ref, dW = np.ones_like(z), np.empty_like(W)
    _core.dense_backward_ref(g_ref, z, W, pre, None, dW, None, activation)
    check(g, g_ref, "derivative")


@pytest.mark.parametrize("alpha", [-0.5, 1.0, np.nan])
def test_leaky_slope_is_refused_as_dense_refuses_it(alpha):
    # the backward pass reads the side of the slope from the sign of out, which a negative slope
    # flips: the gradient came out wrong; the ops take the slopes Dense takes, by the same rule
    x, W = np.ones((4, 3)), np.ones((3, 2))
    x[0] = -1.0
    out = dense_forward(x, W, activation="leaky_relu", alpha=0.1)
    with pytest.raises(ValueError, match=r"^alpha must be in \[0, 1\), got"):
        dense_forward(x, W, activation="leaky_relu", alpha=alpha)
    with pytest.raises(ValueError, match=r"^alpha must be in \[0, 1\), got"):
        dense_backward(np.ones((4, 2)), x, W, out, activation="leaky_relu", alpha=alpha)
    with pytest.raises(ValueError, match=r"^negative_slope must be in \[0, 1\), got"):
        fastgd.Dense(3, 2, activation="leaky_relu", negative_slope=alpha)
    with pytest.raises(TypeError, match=r"^alpha must be in \[0, 1\), got '0.1' \(str\)"):
        dense_forward(x, W, activation="leaky_relu", alpha="0.1")


def act_column(z, activation):
    """act(z) and act'(z) for a column z of pre-activations (an activation of
    ACTIVATIONS_GRAD_FROM_PRE): dense_forward keeping z, dense_backward with grad_out 1."""
    W = np.ones((1, 1), z.dtype)
    pre = np.empty_like(z)
    out = dense_forward(z, W, None, activation=activation, pre_activation=pre)
    g = np.ones_like(z)
    dense_backward(g, z, W, out, activation=activation, pre_activation=pre, overwrite_grad_out=True,
                   need_grad_x=False, need_db=False)
    return out, g


def test_elu_derivative_is_read_from_z_and_matches_torch_in_the_far_tail(dtype):
    # read from the output, e^z = o + 1 cancels: in float32 it was 2.6 % off at z = -16 and 0
    # below -17, where PyTorch's ELU (not in place) takes it from z
    torch = pytest.importorskip("torch")
    z = np.array([[-100.0], [-40.0], [-17.5], [-16.0], [-1e-30], [-0.0], [0.0], [1e-30], [3.0], [np.nan]],
                 dtype=dtype)
    _, g = act_column(z, "elu")
    zt = torch.tensor(z, requires_grad=True)
    torch.nn.functional.elu(zt).sum().backward()
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=4 * np.finfo(dtype).eps, atol=0)
    assert g[2, 0] > 0 and g[3, 0] > 0


@pytest.mark.parametrize("activation", ["selu", "mish"])
def test_activation_matches_torch_over_the_whole_float_range(isa, dtype, activation):
    # value and derivative (through the GEMM epilogue or the vector forms, the derivative from the
    # kept z) against torch in float64 from the tiniest to the largest magnitudes, in ulps of the
    # dtype. mish' crosses 0 at z = -1.19, so its ulps are those of the size of its two terms,
    # tanh(softplus(z)) and z σ(z) sech²(softplus(z)) (the latter from cosh: torch's 1 - tanh²
    # cancels to 0 from z = 18 in float64, where the term still counts). Torch's value rounded to
    # the dtype counts as equal (selu overflows to inf above the largest float over its scale), and
    # so do magnitudes below 1000 times the smallest normal number (fgv_exp flushes e^z to 0 there).
    torch = pytest.importorskip("torch")
    info = np.finfo(dtype)
    with np.errstate(over="ignore"):
        mags = np.geomspace(info.smallest_subnormal, info.max, 4000)
    z = np.concatenate([-mags, mags, np.linspace(-50, 50, 20001), [0.0, -0.0, np.inf, -np.inf, np.nan]])
    z = z.astype(dtype).reshape(-1, 1)
    out, g = act_column(z, activation)
    zt = torch.tensor(z.astype(np.float64), requires_grad=True)
    value = getattr(torch.nn.functional, activation)(zt)
    value.sum().backward()
    want_value, want_grad, grad_scale = value.detach().numpy(), zt.grad.numpy(), np.abs(zt.grad.numpy())
    if activation == "mish":
        with torch.no_grad():
            zz = zt.detach()
            sp = torch.logaddexp(zz, torch.zeros_like(zz))
            gate, term = torch.tanh(sp), zz * torch.sigmoid(zz) / torch.cosh(sp) ** 2
            want_grad, grad_scale = (gate + term).numpy(), (gate.abs() + term.abs()).numpy()
    for what, got, want, scale, limit in (("value", out, want_value, np.abs(want_value), 4),
                                          ("derivative", g, want_grad, grad_scale, 6)):
        limit *= 1 if dtype == np.float32 else 2
        got = got.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(got - want)
            ulps = err / np.spacing(scale.astype(dtype)).astype(np.float64)
            ok = (np.isnan(got) & np.isnan(want)) | (got == want.astype(dtype)) | (err <= 1000 * info.tiny) \
                | (ulps <= limit)
        bad = np.flatnonzero(~ok)
        assert bad.size == 0, f"{activation} {what} isa={isa}: at z={z.ravel()[bad[:3]]} got {got.ravel()[bad[:3]]}, " \
                              f"want {want.ravel()[bad[:3]]} ({ulps.ravel()[bad[:3]]} ulps)"


@pytest.mark.parametrize("activation", ["gelu_tanh", "silu"])
def test_sigmoid_based_derivatives_keep_their_digits_where_the_sigmoid_nears_one(isa, dtype, activation):
    # their derivatives hold σ(v)(1 - σ(v)); 1 - σ(v) computed as such lost all its digits once σ(v)
    # rounds near 1, which left the derivative 16 (float32) and 43 (float64) ulps off for z
    # around 5 to 7; 1 - σ(v) = e^-v σ(v) keeps them
    z = np.linspace(0, 40, 8001).astype(dtype).reshape(-1, 1)
    _, g = act_column(z, activation)
    x = z.astype(np.float64).ravel()
    if activation == "silu":
        v, dv = x, 1.0
    else:
        v = 1.5957691216057308 * (x + 0.044715 * x ** 3)
        dv = 1.5957691216057308 * (1 + 0.134145 * x * x)
    e = np.exp(-np.abs(v))
    s = np.where(v >= 0, 1 / (1 + e), e / (1 + e))
    c = np.where(v >= 0, e / (1 + e), 1 / (1 + e))
    want = s + x * s * c * dv
    ulps = np.abs(g.ravel() - want) / np.spacing(np.abs(want).astype(dtype))
    assert ulps.max() <= (4 if dtype == np.float32 else 8), f"{ulps.max():.1f} ulps at z={x[np.argmax(ulps)]}"
