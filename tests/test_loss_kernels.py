"""The fused loss kernels (fg_loss_f32/f64) against their reference twin (loss_ref.c), a NumPy
oracle written from the formulas and torch (when installed), on every CPU target; float64
finite-difference gradient checks; extreme logits; determinism across thread counts."""

import numpy as np
import pytest

import fastgd
from fastgd import _core, losses

KINDS = ["ce_labels", "ce_rows", "bce", "mse", "mae", "huber", "poisson"]
SHAPES = [(1, 1), (1, 2), (2, 3), (5, 7), (17, 10), (33, 8), (64, 16), (129, 33), (300, 1)]


def tolerance(dtype):
    return dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


def make_case(kind, n, c, dtype, rng, *, smoothing=0.0, class_weight=False, sample_weight=False,
              soft=False, delta=0.7):
    """(loss, pred, raw target, sample_weight) for one kind."""
    scale = 3.0 if kind.startswith("ce") or kind == "bce" else 1.0
    pred = (scale * rng.standard_normal((n, c))).astype(dtype)
    sw = rng.uniform(0.1, 2.0, n).astype(dtype) if sample_weight else None
    if kind.startswith("ce"):
        cw = rng.uniform(0.2, 3.0, c) if class_weight else None
        loss = losses.SoftmaxCrossEntropy(label_smoothing=smoothing, class_weight=cw)
        labels = rng.integers(0, c, n)
        if kind == "ce_labels":
            target = labels
        elif soft:
            target = rng.dirichlet(np.ones(c), n)
        else:
            target = np.eye(c)[labels]
    else:
        loss = {"bce": losses.BinaryCrossEntropy(), "mse": losses.MSE(), "mae": losses.MAE(),
                "huber": losses.Huber(delta=delta), "poisson": losses.Poisson()}[kind]
        if kind == "poisson":  # log-rates and counts
            target = rng.poisson(np.exp(pred.astype(np.float64))).astype(np.float64)
        else:
            target = rng.uniform(0, 1, (n, c)) if kind == "bce" else rng.standard_normal((n, c))
    return loss, pred, target, sw


def numpy_loss(loss, pred, target, sw, reduction="mean"):
    """The formulas of fg_loss.h in float64 NumPy: (loss, grad)."""
    z = pred.astype(np.float64)
    n, c = z.shape
    s = np.ones(n) if sw is None else sw.astype(np.float64)
    if isinstance(loss, losses.SoftmaxCrossEntropy):
        eps = loss.label_smoothing
        w = np.ones(c) if loss.class_weight is None else loss.class_weight
        m = z.max(axis=1, keepdims=True)
        logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        t = np.asarray(target)
        if t.ndim == 1:
            onehot = np.eye(c)[t]
            a = w * ((1 - eps) * onehot + eps / c)
            denom = (s * w[t]).sum()
        else:
            a = w * ((1 - eps) * t + eps / c)
            denom = s.sum()
        rows = -(a * logp).sum(axis=1)
        grad_rows = a.sum(axis=1, keepdims=True) * np.exp(logp) - a
    else:
        t = np.asarray(target, dtype=np.float64).reshape(n, c)
        d = z - t
        if isinstance(loss, losses.BinaryCrossEntropy):
            el = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
            gl = 1 / (1 + np.exp(-z)) - t
        elif isinstance(loss, losses.MSE):
            el, gl = d * d, 2 * d
        elif isinstance(loss, losses.MAE):
            el, gl = np.abs(d), np.sign(d)
        elif isinstance(loss, losses.Poisson):
            el, gl = np.exp(z) - t * z, np.exp(z) - t
        else:
            dl = loss.delta
            el = np.where(np.abs(d) <= dl, 0.5 * d * d, dl * (np.abs(d) - 0.5 * dl))
            gl = np.clip(d, -dl, dl)
        rows, grad_rows = el.mean(axis=1), gl / c
        denom = s.sum()
    norm = 1.0 if reduction == "sum" else 1.0 / denom
    return (s * rows).sum() * norm, grad_rows * s[:, None] * norm


def kernel(loss, pred, target, sw, *, reference=False, reduction=_core.REDUCE_MEAN):
    n, c = pred.shape
    prepared = loss.prepare_target(target, c, pred.dtype, n_samples=n)
    sw_arr = losses.check_sample_weight(sw, n, pred.dtype)
    grad = np.full_like(pred, np.nan)
    value = _core.loss_value_and_grad(pred, loss._c_spec(), prepared, sw_arr, loss._class_weight_array(pred.dtype),
                                      reduction, grad, reference)
    return value, grad


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kernel_matches_reference_and_numpy(isa, dtype, rng, kind, shape):
    n, c = shape
    for options in ({}, {"sample_weight": True},
                    {"class_weight": True, "smoothing": 0.2, "sample_weight": True, "soft": True}):
        if not kind.startswith("ce") and ("class_weight" in options):
            options = {"sample_weight": True}
        loss, pred, target, sw = make_case(kind, n, c, dtype, rng, **options)
        value, grad = kernel(loss, pred, target, sw)
        ref_value, ref_grad = kernel(loss, pred, target, sw, reference=True)
        np_value, np_grad = numpy_loss(loss, pred, target, sw)
        tol = tolerance(dtype)
        np.testing.assert_allclose(value, ref_value, **tol, err_msg=f"{kind} {shape} {options}")
        np.testing.assert_allclose(value, np_value, **tol)
        np.testing.assert_allclose(grad, ref_grad, **tol)
        np.testing.assert_allclose(grad, np_grad, **tol)
        # value only (grad NULL) gives the same loss
        prepared = loss.prepare_target(target, c, dtype, n_samples=n)
        sw_arr = losses.check_sample_weight(sw, n, dtype)
        alone = _core.loss_value_and_grad(pred, loss._c_spec(), prepared, sw_arr, loss._class_weight_array(dtype))
        assert alone == value


@pytest.mark.parametrize("kind", KINDS)
def test_sum_reduction(isa, dtype, rng, kind):
    loss, pred, target, sw = make_case(kind, 23, 5, dtype, rng, sample_weight=True)
    value, grad = kernel(loss, pred, target, sw, reduction=_core.REDUCE_SUM)
    np_value, np_grad = numpy_loss(loss, pred, target, sw, reduction="sum")
    np.testing.assert_allclose(value, np_value, **tolerance(dtype))
    np.testing.assert_allclose(grad, np_grad, **tolerance(dtype))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_gradient_matches_central_differences(isa, rng, kind, weighted):
    n, c = 5, 7
    loss, pred, target, sw = make_case(kind, n, c, np.float64, rng, smoothing=0.15 if weighted else 0.0,
                                       class_weight=weighted, sample_weight=weighted, soft=weighted)
    if kind in ("mae", "huber"):
        # keep every residual away from the kinks (0 for MAE, ±delta for Huber)
        t = np.asarray(target)
        d = pred - t
        d = np.where(np.abs(d) < 0.05, 0.3, d)
        if kind == "huber":
            d = np.where(np.abs(np.abs(d) - loss.delta) < 0.05, loss.delta + 0.3, d)
        pred = t + d
    _, grad = kernel(loss, pred, target, sw)
    h = 1e-6
    numeric = np.empty_like(pred)
    for idx in np.ndindex(pred.shape):
        up, down = pred.copy(), pred.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (kernel(loss, up, target, sw)[0] - kernel(loss, down, target, sw)[0]) / (2 * h)
    err = np.abs(grad - numeric).max() / max(np.abs(numeric).max(), 1e-12)
    assert err < 1e-6, f"{kind}: relative error {err:.2e}"


@pytest.mark.parametrize("magnitude", [1e2, 1e4, 3e4])
def test_softmax_ce_is_exact_for_huge_logits(isa, dtype, rng, magnitude):
    n, c = 9, 12
    pred = (magnitude * rng.uniform(-1, 1, (n, c))).astype(dtype)
    labels = rng.integers(0, c, n)
    loss = losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    value, grad = kernel(loss, pred, labels, None)
    ref_value, ref_grad = kernel(loss, pred, labels, None, reference=True)
    np_value, np_grad = numpy_loss(loss, pred, labels, None)
    assert np.isfinite(value) and np.isfinite(grad).all()
    np.testing.assert_allclose(value, np_value, rtol=1e-6 if dtype == np.float32 else 1e-13)
    np.testing.assert_allclose(grad, np_grad, **tolerance(dtype))
    np.testing.assert_allclose(grad, ref_grad, **tolerance(dtype))


def test_softmax_ce_of_a_confident_right_answer_is_tiny_not_zero(isa, dtype):
    # loss = log(1 + e^-30) ≈ 9.36e-14: assembling it as a sum of non-negative terms keeps it.
    pred = np.array([[30.0, 0.0]], dtype=dtype)
    value, grad = kernel(losses.SoftmaxCrossEntropy(), pred, np.array([0]), None)
    np.testing.assert_allclose(value, np.log1p(np.exp(-30.0)), rtol=1e-5)
    # p_0 - 1 = -9.4e-14 rounds to 0 next to 1 (as in torch); the other class keeps its e^-30
    assert grad[0, 0] <= 0 < grad[0, 1]
    np.testing.assert_allclose(grad[0, 1], np.exp(-30.0), rtol=1e-5)


@pytest.mark.parametrize("magnitude", [20.0, 1e3, 1e30])
def test_bce_is_stable_for_large_logits(isa, dtype, magnitude):
    z = np.array([[magnitude, -magnitude, magnitude, -magnitude]], dtype=dtype)
    t = np.array([[1.0, 0.0, 0.0, 1.0]])
    value, grad = kernel(losses.BinaryCrossEntropy(), z, t, None)
    m = float(dtype.type(magnitude))
    # right answers cost log1p(e^-m), wrong ones m + log1p(e^-m)
    expected = (2 * np.log1p(np.exp(-m)) + 2 * (m + np.log1p(np.exp(-m)))) / 4
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(grad, np.array([[0, 0, 1, -1]]) / 4 + np.array([[-1, 1, 0, 0]]) * np.exp(-m) / 4,
                               atol=1e-7)


def test_bce_vs_torch_at_extremes(isa, dtype, rng):
    torch = pytest.importorskip("torch")
    z = np.concatenate([rng.uniform(-1e3, 1e3, (8, 3)), rng.standard_normal((8, 3))]).astype(dtype)
    t = rng.uniform(0, 1, z.shape)
    value, grad = kernel(losses.BinaryCrossEntropy(), z, t, None)
    zt = torch.tensor(z.astype(np.float64), requires_grad=True)
    out = torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.tensor(t))
    out.backward()
    np.testing.assert_allclose(value, out.item(), rtol=1e-6)
    np.testing.assert_allclose(grad, zt.grad.numpy(), **tolerance(dtype))


@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch(isa, dtype, rng, kind):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for n, c in [(1, 3), (32, 10), (77, 5)]:
        ce = kind.startswith("ce")
        loss, pred, target, _ = make_case(kind, n, c, dtype, rng, smoothing=0.1 if ce else 0.0,
                                          class_weight=ce, soft=True)
        value, grad = kernel(loss, pred, target, None)
        z = torch.tensor(pred.astype(np.float64), requires_grad=True)
        tt = torch.tensor(np.asarray(target))
        if ce:
            out = F.cross_entropy(z, tt, weight=torch.tensor(loss.class_weight), label_smoothing=0.1)
        elif kind == "bce":
            out = F.binary_cross_entropy_with_logits(z, tt)
        elif kind == "mse":
            out = F.mse_loss(z, tt)
        elif kind == "mae":
            out = F.l1_loss(z, tt)
        elif kind == "poisson":
            out = F.poisson_nll_loss(z, tt, log_input=True, full=False)
        else:
            out = F.huber_loss(z, tt, delta=loss.delta)
        out.backward()
        tol = tolerance(dtype)
        np.testing.assert_allclose(value, out.item(), **tol, err_msg=f"{kind} ({n}, {c})")
        np.testing.assert_allclose(grad, z.grad.numpy(), **tol)


@pytest.mark.parametrize("kind", ["ce_labels", "ce_rows", "bce", "huber"])
@pytest.mark.parametrize("c", [1, 7, 1000])
def test_big_batch_and_thread_counts_are_deterministic(isa, dtype, rng, kind, c):
    n = max(97, 70_000 // c + 1)  # n*c > 2 grains of the kernel, so two threads really run
    loss, pred, target, sw = make_case(kind, n, c, dtype, rng, smoothing=0.05 if kind.startswith("ce") else 0.0,
                                       sample_weight=True)
    results = []
    for threads in (1, 2, 3):
        with fastgd.threads(threads):
            results.append(kernel(loss, pred, target, sw))
    for value, grad in results[1:]:
        assert value == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])
    np_value, np_grad = numpy_loss(loss, pred, target, sw)
    np.testing.assert_allclose(results[0][0], np_value, **tolerance(dtype))
    np.testing.assert_allclose(results[0][1], np_grad, **tolerance(dtype))


def test_zero_total_weight_gives_zero_loss_and_gradient(isa, dtype):
    pred = np.ones((3, 4), dtype=dtype)
    value, grad = kernel(losses.MSE(), pred, np.zeros((3, 4)), np.zeros(3))
    assert value == 0.0
    np.testing.assert_array_equal(grad, 0)


def test_invalid_label_returns_nan_in_c_and_raises_in_python(isa):
    pred = np.zeros((2, 3))
    loss = losses.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"target labels must be in \[0, 3\)"):
        _core.loss_value_and_grad(pred, loss._c_spec(), ("labels", np.array([0, 3])), None, None)


def test_exp_accuracy_through_softmax(isa, dtype):
    """Each target's exp (SIMD targets: the vectorized one of fg_vmath.h) through a 2-class
    softmax: softmax(0, x)_1 = e^x/(1+e^x)."""
    lo = -80.0 if dtype == np.float32 else -700.0
    x = np.linspace(lo, 0.0, 16 * 2001, dtype=dtype)
    # rows of 16: [0, x, x, x, ...] so SIMD targets run whole vectors (8 or 16 lanes)
    pred = np.zeros((x.size // 16, 16), dtype=dtype)
    pred[:, 1:] = x.reshape(-1, 16)[:, 1:]
    grad = kernel(losses.SoftmaxCrossEntropy(), pred, np.zeros(pred.shape[0], np.int64), None,
                  reduction=_core.REDUCE_SUM)[1]
    p64 = pred.astype(np.float64)
    expected = np.exp(p64) / np.exp(p64).sum(axis=1, keepdims=True)
    rel = np.abs(grad[:, 1:] - expected[:, 1:]) / expected[:, 1:]
    ok = expected[:, 1:] > (1e-36 if dtype == np.float32 else 1e-300)
    assert rel[ok].max() < (2e-6 if dtype == np.float32 else 5e-15), f"isa={isa}"


@pytest.mark.parametrize("kind", KINDS)
def test_scale_multiplies_loss_and_gradient(isa, dtype, rng, kind):
    loss, pred, target, sw = make_case(kind, 11, 9, dtype, rng, sample_weight=True)
    value, grad = kernel(loss, pred, target, sw)
    prepared = loss.prepare_target(target, 9, dtype, n_samples=11)
    scaled_grad = np.empty_like(pred)
    scaled = _core.loss_value_and_grad(pred, loss._c_spec(), prepared, losses.check_sample_weight(sw, 11, dtype),
                                       loss._class_weight_array(dtype), _core.REDUCE_MEAN, scaled_grad,
                                       False, -2.5)
    np.testing.assert_allclose(scaled, -2.5 * value, **tolerance(dtype))
    np.testing.assert_allclose(scaled_grad, -2.5 * grad, **tolerance(dtype))


def test_nan_in_pred_gives_nan_in_c_not_a_crash(isa, dtype):
    """fastgd.losses rejects NaN up front; the kernel itself propagates it."""
    pred = np.array([[0.0, np.nan, 1.0] * 4], dtype=dtype)
    for loss, target in ((losses.SoftmaxCrossEntropy(), ("labels", np.array([0]))),
                         (losses.BinaryCrossEntropy(), ("rows", np.zeros((1, 12), dtype))),
                         (losses.MSE(), ("rows", np.zeros((1, 12), dtype)))):
        assert np.isnan(_core.loss_value_and_grad(pred, loss._c_spec(), target, None, None))


def test_sum_with_class_weights_matches_torch(isa, dtype, rng):
    torch = pytest.importorskip("torch")
    z = rng.standard_normal((13, 6)).astype(dtype)
    y = rng.integers(0, 6, 13)
    w = rng.uniform(0.5, 2, 6)
    value, grad = fastgd.ops.cross_entropy(z, y, class_weight=w, label_smoothing=0.3, reduction="sum",
                                           return_grad=True)
    zt = torch.tensor(z.astype(np.float64), requires_grad=True)
    out = torch.nn.functional.cross_entropy(zt, torch.tensor(y), weight=torch.tensor(w), label_smoothing=0.3,
                                            reduction="sum")
    out.backward()
    np.testing.assert_allclose(value, out.item(), **tolerance(dtype))
    np.testing.assert_allclose(grad, zt.grad.numpy(), **tolerance(dtype))

