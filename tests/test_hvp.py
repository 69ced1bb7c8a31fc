"""Exact Hessian-vector products of a model's loss (model.hvp / model.gnvp, the R-operator kernels):
against PyTorch's double-backward, float64 central differences of the gradient, the plain-loop
reference twin on every CPU target, and the Gauss-Newton matrix built from Jacobians."""

import numpy as np
import pytest

import fastgd as fg
from fastgd import curvature

torch = pytest.importorskip("torch")
F = torch.nn.functional

ACTS = fg.ACTIVATIONS
LOSSES = ("softmax_cross_entropy", "binary_cross_entropy", "mse", "mae", "huber", "poisson")
# odd sizes, depth 1 to 3
SHAPES = ([5, 3], [6, 7, 3], [4, 9, 5, 2])


def _model(sizes, act, loss, dtype, seed=0):
    layers = []
    for i in range(len(sizes) - 1):
        last = i == len(sizes) - 2
        # an output activation only for the regression losses, as a user would build them
        a = act if (not last or loss in ("mse", "mae", "huber")) else "identity"
        layers.append(fg.Dense(sizes[i], sizes[i + 1], activation=a, weight_init="glorot_normal"))
    m = fg.Sequential(layers, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for L in m.layers:  # nonzero biases, so no unit sits exactly at relu's kink
        L.b[...] = 0.3 * rng.standard_normal(L.b.shape)
    return m


def _data(loss, n, n_in, n_out, rng):
    X = rng.standard_normal((n, n_in))
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, n_out, n)
    elif loss == "binary_cross_entropy":
        y = (rng.random((n, n_out)) > 0.5).astype(float)
    elif loss == "poisson":
        y = rng.poisson(2.0, (n, n_out)).astype(float)
    else:
        y = rng.standard_normal((n, n_out))
    return X, y


def _torch_loss(model, X, y, loss, sample_weight=None):
    """The model's mean loss as a torch function of the flat parameters (float64)."""
    X = torch.tensor(np.asarray(X, dtype=np.float64))
    sw = None if sample_weight is None else torch.tensor(sample_weight, dtype=torch.float64)
    act = {"identity": lambda z, s: z, "relu": lambda z, s: torch.relu(z),
           "leaky_relu": lambda z, s: F.leaky_relu(z, s), "sigmoid": lambda z, s: torch.sigmoid(z),
           "tanh": lambda z, s: torch.tanh(z), "softplus": lambda z, s: F.softplus(z),
           "elu": lambda z, s: F.elu(z), "gelu": lambda z, s: F.gelu(z),
           "gelu_tanh": lambda z, s: F.gelu(z, approximate="tanh"), "silu": lambda z, s: F.silu(z),
           "selu": lambda z, s: F.selu(z), "mish": lambda z, s: F.mish(z)}

    def f(p):
        h, w_off, b_off = X, 0, model.n_weights
        for L in model.layers:
            k, m = L.in_features, L.out_features
            h = act[L.activation](h @ p[w_off:w_off + k * m].reshape(k, m) + p[b_off:b_off + m], L.negative_slope)
            w_off, b_off = w_off + k * m, b_off + m
        if loss == "softmax_cross_entropy":
            per = F.cross_entropy(h, torch.tensor(y), reduction="none")
        else:
            t = torch.tensor(np.asarray(y, dtype=np.float64))
            per = {"binary_cross_entropy": F.binary_cross_entropy_with_logits, "mse": F.mse_loss,
                   "mae": F.l1_loss, "huber": F.huber_loss, "poisson": F.poisson_nll_loss,
                   }[loss](h, t, reduction="none").mean(1)
        return per.mean() if sw is None else (sw * per).sum() / sw.sum()
    return f


def _rel(a, b):
    """max |a - b| relative to max |b| (absolute when b is all zero, e.g. MAE's Hessian)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / (scale if scale > 0 else 1.0)


@pytest.mark.parametrize("sizes", SHAPES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_hvp_matches_torch(act, loss, sizes, rng):
    m = _model(sizes, act, loss, "float64")
    X, y = _data(loss, 13, sizes[0], sizes[-1], rng)
    v = rng.standard_normal(m.n_params)
    hv = m.hvp(X, y, v, loss=loss)
    _, expected = torch.autograd.functional.hvp(_torch_loss(m, X, y, loss), torch.tensor(m.params.copy()),
                                                torch.tensor(v))
    assert hv.dtype == np.float64 and hv.shape == (m.n_params,)
    assert _rel(hv, expected.numpy()) < 1e-10, (act, loss, sizes)


@pytest.mark.parametrize("act", ACTS)
def test_loss_and_gradient_match_torch_on_every_target(isa, act, rng):
    """The model forward/backward (dense kernels, GEMM epilogue) of every activation against
    torch.autograd, float64."""
    m = _model([6, 9, 4], act, "mse", "float64")
    X, y = _data("mse", 17, 6, 4, rng)
    loss, grad = m.loss_and_grad(X, y, "mse")
    p = torch.tensor(m.params.copy(), requires_grad=True)
    expected = _torch_loss(m, X, y, "mse")(p)
    expected.backward()
    assert abs(loss - expected.item()) <= 1e-12 * max(1.0, abs(expected.item()))
    assert _rel(grad, p.grad.numpy()) < 1e-12, (isa, act)


@pytest.mark.parametrize("act", ACTS)
def test_float32_loss_gradient_and_hvp_match_torch(isa, act, rng):
    """float32 kernels (the vector GELU/SiLU forms included) against torch in float64."""
    m = _model([6, 9, 4], act, "mse", "float32")
    X, y = _data("mse", 17, 6, 4, rng)
    loss, grad = m.loss_and_grad(X.astype(np.float32), y, "mse")
    p = torch.tensor(m.params.astype(np.float64), requires_grad=True)
    f = _torch_loss(m, X.astype(np.float32), y, "mse")
    expected = f(p)
    expected.backward()
    assert abs(loss - expected.item()) <= 1e-5 * max(1.0, abs(expected.item()))
    assert _rel(grad, p.grad.numpy()) < 1e-5, (isa, act)
    v = rng.standard_normal(m.n_params)
    hv = m.hvp(X.astype(np.float32), y, v.astype(np.float32), loss="mse")
    _, hv_expected = torch.autograd.functional.hvp(f, p.detach(), torch.tensor(v))
    assert _rel(hv, hv_expected.numpy()) < 1e-4, (isa, act)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "huber", "mse", "poisson"])
@pytest.mark.parametrize("act", ACTS)
def test_hvp_matches_central_differences_of_the_gradient(act, loss, rng):
    m = _model([4, 7, 3, 3], act, loss, "float64", seed=3)
    X, y = _data(loss, 17, 4, 3, rng)
    v = rng.standard_normal(m.n_params)
    hv = m.hvp(X, y, v, loss=loss)
    p0 = m.params.copy()
    h = 1e-5
    m.params[...] = p0 + h * v
    g_plus = m.loss_and_grad(X, y, loss)[1]
    m.params[...] = p0 - h * v
    g_minus = m.loss_and_grad(X, y, loss)[1]
    m.params[...] = p0
    fd = (g_plus - g_minus) / (2 * h)
    assert _rel(hv, fd) < 1e-6


def test_hvp_with_weights_and_smoothing_matches_torch(rng):
    cw = np.array([0.5, 2.0, 1.0, 0.25])
    loss = fg.SoftmaxCrossEntropy(label_smoothing=0.1, class_weight=cw)
    m = _model([5, 6, 4], "tanh", "softmax_cross_entropy", "float64")
    X, y = _data("softmax_cross_entropy", 9, 5, 4, rng)
    sw = rng.random(9) + 0.1
    v = rng.standard_normal(m.n_params)
    hv = m.hvp(X, y, v, loss=loss, sample_weight=sw)

    def f(p):
        h, w_off, b_off = torch.tensor(X), 0, m.n_weights
        for L in m.layers:
            k, mm = L.in_features, L.out_features
            z = h @ p[w_off:w_off + k * mm].reshape(k, mm) + p[b_off:b_off + mm]
            h = torch.tanh(z) if L.activation == "tanh" else z
            w_off, b_off = w_off + k * mm, b_off + mm
        per = F.cross_entropy(h, torch.tensor(y), weight=torch.tensor(cw), label_smoothing=0.1, reduction="none")
        s = torch.tensor(sw)
        return (s * per).sum() / (s * torch.tensor(cw)[torch.tensor(y)]).sum()
    _, expected = torch.autograd.functional.hvp(f, torch.tensor(m.params.copy()), torch.tensor(v))
    assert _rel(hv, expected.numpy()) < 1e-10


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_kernel_matches_reference_twin_on_every_target(isa, dtype, act, loss, rng):
    m = _model([7, 5, 9, 3], act, loss, dtype)
    X, y = _data(loss, 19, 7, 3, rng)
    v = rng.standard_normal(m.n_params)
    for gauss_newton in (False, True):
        got = curvature._model_product(m, X, y, v, loss, None, gauss_newton)
        ref = curvature._model_product(m, X, y, v, loss, None, gauss_newton, reference=True)
        assert got.dtype == dtype
        tol = 1e-4 if dtype == np.float32 else 1e-12
        assert _rel(got, ref) < tol, (isa, gauss_newton)


def test_every_loss_kind_of_the_loss_kernels_is_tested():
    """The kinds the loss kernels know (fastgd._core.LOSS_*) are exactly those the products above test."""
    from fastgd import _core
    kinds = {getattr(_core, name) for name in dir(_core) if name.startswith("LOSS_")}
    assert {fg.losses.get(name)._kind for name in LOSSES} == kinds


def test_an_unknown_loss_kind_is_refused_before_the_kernel(rng):
    class Unknown(fg.MSE):
        _kind = 99
    m = _model([3, 4, 2], "tanh", "mse", "float64")
    X, y = _data("mse", 5, 3, 2, rng)
    with pytest.raises(ValueError, match="unknown loss kind 99"):
        m.hvp(X, y, rng.standard_normal(m.n_params), loss=Unknown())


@pytest.mark.parametrize("n", [1, 2, 33])
def test_batch_sizes_and_float32_against_float64(n, rng):
    m64 = _model([6, 11, 4], "softplus", "softmax_cross_entropy", "float64")
    m32 = _model([6, 11, 4], "softplus", "softmax_cross_entropy", "float32")
    m32.params[...] = m64.params
    X, y = _data("softmax_cross_entropy", n, 6, 4, rng)
    v = rng.standard_normal(m64.n_params)
    h64 = m64.hvp(X, y, v, loss="softmax_cross_entropy")
    h32 = m32.hvp(X, y, v, loss="softmax_cross_entropy")
    assert h32.dtype == np.float32
    assert _rel(h32, h64) < 1e-4


def _jacobian_of_outputs(m, X):
    """J (n·c, n_params) of the network's outputs by torch, for the Gauss-Newton oracle."""
    def outputs(p):
        h, w_off, b_off = torch.tensor(X), 0, m.n_weights
        for L in m.layers:
            k, mm = L.in_features, L.out_features
            z = h @ p[w_off:w_off + k * mm].reshape(k, mm) + p[b_off:b_off + mm]
            h = {"tanh": torch.tanh, "identity": lambda t: t, "sigmoid": torch.sigmoid}[L.activation](z)
            w_off, b_off = w_off + k * mm, b_off + mm
        return h.reshape(-1)
    return torch.autograd.functional.jacobian(outputs, torch.tensor(m.params.copy())).numpy()


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse", "binary_cross_entropy", "poisson"])
def test_gnvp_is_jacobian_transpose_loss_hessian_jacobian(loss, rng):
    m = _model([3, 5, 4], "tanh", loss, "float64")
    X, y = _data(loss, 7, 3, 4, rng)
    J = _jacobian_of_outputs(m, X)
    out = m.predict(X)

    def loss_of_outputs(o):  # the loss as a function of the flat outputs, through the last layer's identity
        if loss == "softmax_cross_entropy":
            return F.cross_entropy(o.reshape(7, 4), torch.tensor(y))
        t = torch.tensor(y)
        if loss == "mse":
            return F.mse_loss(o.reshape(7, 4), t)
        if loss == "poisson":
            return F.poisson_nll_loss(o.reshape(7, 4), t)
        return F.binary_cross_entropy_with_logits(o.reshape(7, 4), t)
    H_out = torch.autograd.functional.hessian(loss_of_outputs, torch.tensor(out.reshape(-1))).numpy()
    G = J.T @ H_out @ J
    v = rng.standard_normal(m.n_params)
    assert _rel(m.gnvp(X, y, v, loss=loss), G @ v) < 1e-10
    # positive semi-definite: vᵀGv >= 0 for random directions
    for _ in range(5):
        u = rng.standard_normal(m.n_params)
        assert u @ m.gnvp(X, y, u, loss=loss) >= -1e-12


def test_gnvp_equals_hvp_for_a_linear_model(rng):
    m = _model([6, 3], "identity", "softmax_cross_entropy", "float64")
    X, y = _data("softmax_cross_entropy", 10, 6, 3, rng)
    v = rng.standard_normal(m.n_params)
    np.testing.assert_allclose(m.gnvp(X, y, v, loss="softmax_cross_entropy"),
                               m.hvp(X, y, v, loss="softmax_cross_entropy"), rtol=1e-12, atol=1e-15)


def test_hvp_is_linear_and_symmetric(rng):
    m = _model([4, 6, 3], "sigmoid", "softmax_cross_entropy", "float64")
    X, y = _data("softmax_cross_entropy", 12, 4, 3, rng)
    u, w = rng.standard_normal((2, m.n_params))
    Hu = m.hvp(X, y, u, loss="softmax_cross_entropy")
    Hw = m.hvp(X, y, w, loss="softmax_cross_entropy")
    np.testing.assert_allclose(m.hvp(X, y, 2 * u - w, loss="softmax_cross_entropy"), 2 * Hu - Hw,
                               rtol=1e-10, atol=1e-13)
    assert abs(w @ Hu - u @ Hw) < 1e-12 * max(1.0, abs(w @ Hu))


def test_hvp_leaves_parameters_and_gradients_alone(rng):
    m = _model([4, 6, 3], "tanh", "mse", "float64")
    X, y = _data("mse", 8, 4, 3, rng)
    m.loss_and_grad(X, y, "mse")
    p, g = m.params.copy(), m.grads.copy()
    m.hvp(X, y, rng.standard_normal(m.n_params), loss="mse")
    assert np.array_equal(m.params, p) and np.array_equal(m.grads, g)


def test_hvp_bad_input_raises_clear_errors(rng):
    m = _model([4, 3], "tanh", "mse", "float64")
    X, y = _data("mse", 5, 4, 3, rng)
    with pytest.raises(ValueError, match=r"v must have shape \(15,\)"):
        m.hvp(X, y, np.zeros(14), loss="mse")
    with pytest.raises(ValueError, match="finite"):
        m.hvp(X, y, np.full(15, np.nan), loss="mse")
    with pytest.raises(TypeError, match="real numbers"):
        m.hvp(X, y, np.array(["a"] * 15), loss="mse")
    with pytest.raises(ValueError, match="loss is required"):
        m.hvp(X, y, np.zeros(15))
    c = _model([4, 3], "identity", "softmax_cross_entropy", "float64")
    with pytest.raises(ValueError):
        c.hvp(X, np.array([0, 1, 2, 3, 1]), np.zeros(15), loss="softmax_cross_entropy")
    # 1e300 is finite, past float32: it was named "v must hold finite numbers"
    m32 = _model([4, 3], "tanh", "mse", "float32")
    with pytest.raises(ValueError, match=r"v must be finite in float32, got 1e\+300 at flat index 2, past its range"):
        fg.curvature.model_hvp(m32, X, y, np.where(np.arange(15) == 2, 1e300, 0.0), loss="mse")


def test_hvp_is_identical_for_every_thread_count(rng):
    m = _model([30, 70, 40, 5], "tanh", "softmax_cross_entropy", "float32")
    X, y = _data("softmax_cross_entropy", 300, 30, 5, rng)
    v = rng.standard_normal(m.n_params)
    fg.set_num_threads(1)
    one = m.hvp(X, y, v, loss="softmax_cross_entropy")
    fg.set_num_threads(2)
    assert np.array_equal(m.hvp(X, y, v, loss="softmax_cross_entropy"), one)


@pytest.mark.parametrize("gauss_newton", [False, True])
def test_rows_in_chunks_give_the_same_product(gauss_newton, rng):
    cw = np.array([0.5, 2.0, 1.0])
    loss = fg.SoftmaxCrossEntropy(label_smoothing=0.05, class_weight=cw)
    m = _model([5, 8, 3], "softplus", "softmax_cross_entropy", "float64")
    X, y = _data("softmax_cross_entropy", 50, 5, 3, rng)
    sw = rng.random(50) + 0.1
    v = rng.standard_normal(m.n_params)
    x, target, swa = m._prepare(X, y, loss, sw)
    denominator = float((cw[y] * sw).sum())
    spec = m._loss_spec(loss)
    whole = m._hvp(x, v, loss_spec=spec, target=target, sample_weight=swa, gauss_newton=gauss_newton,
                   denominator=denominator)
    for rows in (1, 7, 49):
        chunked = m._hvp(x, v, loss_spec=spec, target=target, sample_weight=swa, gauss_newton=gauss_newton,
                         denominator=denominator, chunk_rows=rows)
        assert chunked[0] == pytest.approx(whole[0], rel=1e-12)
        np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-11, atol=1e-14)
    assert whole[0] == pytest.approx(m.loss_and_grad(X, y, loss, sample_weight=sw)[0], rel=1e-12)


@pytest.mark.parametrize("sizes", ([1, 1], [1, 1, 1], [3, 1, 2], [2, 17, 1, 4]), ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
def test_edge_widths_match_torch_and_the_twin(sizes, loss, rng):
    m = _model(sizes, "tanh", loss, "float64")
    X, y = _data(loss, 5, sizes[0], sizes[-1], rng)
    v = rng.standard_normal(m.n_params)
    hv = m.hvp(X, y, v, loss=loss)
    _, expected = torch.autograd.functional.hvp(_torch_loss(m, X, y, loss), torch.tensor(m.params.copy()),
                                                torch.tensor(v))
    assert _rel(hv, expected.numpy()) < 1e-10
    assert _rel(curvature._model_product(m, X, y, v, loss, None, False, reference=True), hv) < 1e-12


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_done_reuses_the_forward_pass_of_the_last_step(dtype, isa, rng):
    """After a gradient step on the same rows at the same parameters, a product that skips the
    forward pass (the layer outputs the step left) equals the full one, and a second such product
    still does (products leave the outputs as they are)."""
    loss = fg.losses.get("softmax_cross_entropy")
    m = _model([9, 13, 7, 4], "tanh", "softmax_cross_entropy", dtype)
    X, y = _data("softmax_cross_entropy", 37, 9, 4, rng)
    x, target, sw = m._prepare(X, y, loss, None)
    spec = m._loss_spec(loss)
    options = dict(loss_spec=spec, target=target, sample_weight=sw, gauss_newton=False, denominator=37.0)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for reference in (False, True):
        v, w = rng.standard_normal((2, m.n_params)).astype(dtype)
        full_v = m._hvp(x, v, reference=reference, **options)
        full_w = m._hvp(x, w, reference=reference, **options)
        m._train_step(x, loss_spec=spec, target=target, sample_weight=sw)
        for u, full in ((v, full_v), (w, full_w)):
            value, reused = m._hvp(x, u, reference=reference, forward_done=True, **options)
            assert value == pytest.approx(full[0], rel=tol)
            np.testing.assert_allclose(reused, full[1], rtol=tol, atol=tol * np.max(np.abs(full[1])))
    with pytest.raises(ValueError, match="one chunk"):
        m._hvp(x, v, forward_done=True, chunk_rows=8, **options)


@pytest.mark.parametrize("act", ACTS)
def test_forward_of_a_product_equals_the_training_forward_bit_for_bit(isa, dtype, act, rng):
    """A product's own forward pass runs the training forward's layer code: one that reruns it
    equals one that reuses the layer outputs a training step left, bit for bit."""
    loss = fg.losses.get("mse")
    m = _model([9, 13, 7, 4], act, "mse", dtype)
    X, y = _data("mse", 37, 9, 4, rng)
    x, target, sw = m._prepare(X, y, loss, None)
    spec = m._loss_spec(loss)
    options = dict(loss_spec=spec, target=target, sample_weight=sw, gauss_newton=False, denominator=37.0)
    v = rng.standard_normal(m.n_params).astype(dtype)
    rerun = m._hvp(x, v, **options)
    m._train_step(x, loss_spec=spec, target=target, sample_weight=sw)
    reused = m._hvp(x, v, forward_done=True, **options)
    assert rerun[0] == reused[0], (isa, act)
    np.testing.assert_array_equal(reused[1], rerun[1], err_msg=f"{isa} {act}")


def test_product_into_out(rng):
    m = _model([5, 7, 3], "tanh", "softmax_cross_entropy", "float32")
    X, y = _data("softmax_cross_entropy", 20, 5, 3, rng)
    loss = fg.losses.get("softmax_cross_entropy")
    x, target, sw = m._prepare(X, y, loss, None)
    options = dict(loss_spec=m._loss_spec(loss), target=target, sample_weight=sw, gauss_newton=False,
                   denominator=20.0)
    v = rng.standard_normal(m.n_params).astype(np.float32)
    value, expected = m._hvp(x, v, **options)
    out = np.full(m.n_params, np.nan, dtype=np.float32)
    got_value, got = m._hvp(x, v, out=out, **options)
    assert got is out and got_value == value and np.array_equal(out, expected)
    with pytest.raises(TypeError, match="out must have the dtype of params"):
        m._hvp(x, v, out=np.zeros(m.n_params), **options)
    with pytest.raises(ValueError, match="out must have the shape of params"):
        m._hvp(x, v, out=np.zeros(m.n_params + 1, dtype=np.float32), **options)
    with pytest.raises(ValueError, match="share memory"):
        m._hvp(x, v, out=v, **options)
    with pytest.raises(ValueError, match="read-only"):
        frozen = np.zeros(m.n_params, dtype=np.float32)
        frozen.flags.writeable = False
        m._hvp(x, v, out=frozen, **options)
