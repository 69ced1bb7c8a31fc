"""Sequential / Dense: arenas, forward/backward vs a NumPy reference, float64 finite-difference
gradient checks for every activation x loss, train_step fusion, input validation."""

import itertools
import zlib

import numpy as np
import pytest

import fastgd
from _gemm_oracle import activate
from fastgd import _core, losses

ACTS = fastgd.ACTIVATIONS


def ref_forward(model, x):
    h = np.asarray(x, dtype=np.float64)
    for L in model.layers:
        h = activate(h @ L.W.astype(np.float64) + L.b.astype(np.float64), L.activation, L.negative_slope)
    return h


def make_model(widths, acts, dtype="float64", seed=0):
    layers = [fastgd.Dense(a, b, activation=act) for a, b, act in zip(widths[:-1], widths[1:], acts)]
    return fastgd.Sequential(layers, dtype=dtype, seed=seed)


def make_target(loss_name, n, c, rng):
    if loss_name == "softmax_cross_entropy":
        return rng.integers(0, c, size=n)
    if loss_name == "binary_cross_entropy":
        return (rng.random((n, c)) > 0.5).astype(float)
    return rng.normal(size=(n, c))


LOSSES = {"softmax_cross_entropy": lambda: losses.SoftmaxCrossEntropy(),
          "binary_cross_entropy": lambda: losses.BinaryCrossEntropy(),
          "mse": lambda: losses.MSE(), "mae": lambda: losses.MAE(), "huber": lambda: losses.Huber(0.7)}


def test_arena_views_and_layout():
    m = make_model([5, 7, 3], ["relu", "identity"], dtype="float32")
    assert m.n_params == 5 * 7 + 7 * 3 + 7 + 3
    assert m.params.dtype == np.float32 and m.params.flags.c_contiguous
    L0, L1 = m.layers
    assert np.shares_memory(L0.W, m.params) and np.shares_memory(L1.db, m.grads)
    # weights first, then biases
    assert L0.W.ctypes.data == m.params.ctypes.data
    assert L0.b.ctypes.data == m.params[5 * 7 + 7 * 3:].ctypes.data
    m.params[:] = np.arange(m.n_params)
    assert L1.W[0, 0] == 5 * 7
    w = m.get_weights()
    m2 = make_model([5, 7, 3], ["relu", "identity"], dtype="float32", seed=9)
    m2.set_weights(w)
    np.testing.assert_array_equal(m2.params, m.params)


def test_assigning_params_or_a_layer_array_copies_into_the_model(rng):
    """The engine computes with the model's own buffers: assigning model.params or a layer's W
    copies into them (rebinding the name would leave predictions on the old values)."""
    m = make_model([5, 7, 3], ["tanh", "identity"], dtype="float64")
    x = rng.standard_normal((4, 5))
    arena, W = m.params, m.layers[0].W
    p = rng.standard_normal(m.n_params)
    m.params = p
    assert m.params is arena and m.layers[0].W is W
    np.testing.assert_array_equal(m.params, p)
    w = rng.standard_normal((5, 7))
    m.layers[0].W = w
    m.layers[1].b = [1.0, 2.0, 3.0]
    reference = make_model([5, 7, 3], ["tanh", "identity"], dtype="float64")
    reference.params[...] = m.params
    np.testing.assert_array_equal(reference.layers[0].W, w)
    np.testing.assert_allclose(m.predict(x), np.tanh(x @ w + m.layers[0].b) @ m.layers[1].W + [1.0, 2.0, 3.0],
                               rtol=1e-12, atol=1e-12)
    m.grads = np.ones(m.n_params)
    assert m.layers[1].db.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"params must have shape \(66,\), got \(3,\)"):
        m.params = np.ones(3)
    with pytest.raises(ValueError, match=r"W must have shape \(5, 7\), got \(\)"):
        m.layers[0].W = 0.0
    with pytest.raises(TypeError, match="b must hold real numbers"):
        m.layers[0].b = np.array(["a"] * 7)
    with pytest.raises(ValueError, match="belongs to a Sequential"):
        fastgd.Dense(2, 2).W = np.ones((2, 2))


def test_a_callable_init_must_give_finite_weights_of_the_layers_shape():
    def transposed(rng, fan_in, fan_out, dtype):
        return np.ones((fan_out, fan_in))

    def nan(rng, fan_in, fan_out, dtype):
        return np.full((fan_in, fan_out), np.nan)

    with pytest.raises(ValueError, match=r"layers\[0\].weight_init\(rng, 3, 2, dtype\) must have shape \(3, 2\), "
                                         r"got \(2, 3\)"):
        fastgd.Sequential([fastgd.Dense(3, 2, weight_init=transposed)])
    with pytest.raises(ValueError, match=r"layers\[1\].weight_init\(rng, 2, 1, dtype\) must be finite"):
        fastgd.Sequential([fastgd.Dense(3, 2), fastgd.Dense(2, 1, weight_init=nan)])


def test_seed_reproducible_and_inits():
    a = make_model([4, 6, 2], ["tanh", "identity"], seed=3)
    b = make_model([4, 6, 2], ["tanh", "identity"], seed=3)
    np.testing.assert_array_equal(a.params, b.params)
    d = fastgd.Dense(300, 200, weight_init="he_normal")
    fastgd.Sequential([d], dtype="float64", seed=0)
    assert abs(d.W.std() - np.sqrt(2 / 300)) < 0.005
    d = fastgd.Dense(300, 200, weight_init="glorot_uniform", bias_init=0.01)
    fastgd.Sequential([d], dtype="float64", seed=0)
    assert np.abs(d.W).max() <= np.sqrt(6 / 500) and np.all(d.b == 0.01)
    d = fastgd.Dense(300, 200, weight_init=fastgd.init.normal(0.02))
    fastgd.Sequential([d], seed=0)
    assert abs(d.W.std() - 0.02) < 0.001
    d = fastgd.Dense(3, 2, weight_init="zeros")
    fastgd.Sequential([d])
    assert not d.W.any()


@pytest.mark.parametrize("name,dist", [("lecun_normal", lambda fan_in: ("norm", (0, (1 / fan_in) ** 0.5))),
                                       ("lecun_uniform", lambda fan_in: ("uniform", (-(3 / fan_in) ** 0.5,
                                                                                     2 * (3 / fan_in) ** 0.5)))])
def test_lecun_initializers_draw_from_their_distribution(name, dist):
    # variance 1/fan_in, the initialization SELU's self-normalizing property assumes (Keras' lecun_*)
    stats = pytest.importorskip("scipy.stats")
    d = fastgd.Dense(400, 300, weight_init=name)
    fastgd.Sequential([d], dtype="float64", seed=0)
    family, params = dist(400)
    # the frozen distribution's cdf: SciPy 1.18's kstest passes a name's args to it wrongly
    assert stats.kstest(d.W.ravel(), getattr(stats, family)(*params).cdf).pvalue > 1e-3
    assert abs(d.W.var() * 400 - 1) < 0.02
    m = fastgd.Sequential([fastgd.Dense(4, 3, activation="selu", weight_init=name)])
    assert fastgd.Sequential.from_config(m.get_config()).layers[0].weight_init == name


def test_zeros_layers_draw_nothing_from_the_seeded_generator():
    # a zeros layer takes no numbers from the seed's generator: the layers after it get the
    # generator's first draws, as when the zeros layer is absent
    first, second = fastgd.Dense(3, 4, weight_init="zeros", bias_init=0.5), fastgd.Dense(4, 5, weight_init="he_uniform")
    m = fastgd.Sequential([first, second], dtype="float64", seed=7)
    alone = fastgd.Dense(4, 5, weight_init="he_uniform")
    fastgd.Sequential([alone], dtype="float64", seed=7)
    assert not first.W.any() and np.all(first.b == 0.5)
    np.testing.assert_array_equal(second.W, alone.W)
    first.W[...] = 1.0
    m.reset_parameters(7)  # a reset writes the zeros again
    assert not first.W.any()
    np.testing.assert_array_equal(second.W, alone.W)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_matches_reference(act, dtype, rng, isa):
    m = make_model([13, 17, 9, 4], [act, act, "identity"], dtype=dtype, seed=1)
    for n in (1, 5, 33, 300):
        x = rng.normal(size=(n, 13))
        got = m.forward(x)
        want = ref_forward(m, x.astype(dtype))
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"n={n}")
        np.testing.assert_allclose(m.predict(x, batch_size=7), got, rtol=tol, atol=tol)


def _numeric_grad(m, x, y, loss, sw, idx, eps=1e-6):
    g = np.empty(len(idx))
    for j, i in enumerate(idx):
        old = m.params[i]
        m.params[i] = old + eps
        fp, _ = m.loss_and_grad(x, y, loss, sample_weight=sw)
        m.params[i] = old - eps
        fm, _ = m.loss_and_grad(x, y, loss, sample_weight=sw)
        m.params[i] = old
        g[j] = (fp - fm) / (2 * eps)
    return g


CASES = list(itertools.product(ACTS, sorted(LOSSES), [1, 2, 3, 4]))


@pytest.mark.parametrize("act,loss_name,depth", CASES)
def test_gradient_finite_differences(act, loss_name, depth):
    rng = np.random.default_rng(zlib.crc32(f"{act}{loss_name}{depth}".encode()))
    widths = [5] + [7, 3, 5][: depth - 1] + [3]
    acts = [act] * (depth - 1) + ["identity"]
    m = make_model(widths, acts, seed=depth)
    # random biases: with zero biases a dead relu layer feeds exact zeros to the next one,
    # whose pre-activation then sits exactly on the kink, where finite differences are meaningless
    m.params[m.n_weights:] = rng.normal(0.0, 0.3, size=m.n_params - m.n_weights)
    for n, weighted in ((1, False), (7, True)):
        x = rng.normal(size=(n, 5))
        y = make_target(loss_name, n, 3, rng)
        sw = rng.uniform(0.2, 2.0, size=n) if weighted else None
        loss = LOSSES[loss_name]()
        if loss_name == "softmax_cross_entropy" and weighted:
            loss = losses.SoftmaxCrossEntropy(class_weight=[0.5, 2.0, 1.3])
        value, g = m.loss_and_grad(x, y, loss, sample_weight=sw)
        assert np.isfinite(value)
        idx = rng.choice(m.n_params, size=min(m.n_params, 40), replace=False)
        gn = _numeric_grad(m, x, y, loss, sw, idx)
        err = np.linalg.norm(g[idx] - gn) / max(np.linalg.norm(gn), np.linalg.norm(g[idx]), 1e-12)
        assert err < 1e-6, f"{act}/{loss_name}/depth {depth}/n={n}: relative error {err:.2e}"


def test_batch_gradient_is_the_mean_of_the_per_example_gradients(rng):
    """A linear unit ŷ = wᵀx + b under the squared error: the gradient over a batch is the mean of
    the per-example gradients 2(ŷᵢ − yᵢ)·xᵢ (MSE is twice ½(y − ŷ)²), and so is any mini-batch's."""
    m = make_model([5, 1], ["identity"], seed=1)
    x, y = rng.normal(size=(9, 5)), rng.normal(size=(9, 1))
    residual = x @ m.layers[0].W + m.layers[0].b - y
    expected = np.concatenate([(2 * residual * x).mean(axis=0), (2 * residual).mean(axis=0)])
    _value, g = m.loss_and_grad(x, y, "mse")
    np.testing.assert_allclose(g, expected, rtol=1e-13, atol=1e-15)
    singles = [m.loss_and_grad(x[i:i + 1], y[i:i + 1], "mse")[1] for i in range(9)]
    np.testing.assert_allclose(g, np.mean(singles, axis=0), rtol=1e-13, atol=1e-15)
    batch = [2, 5, 7]
    np.testing.assert_allclose(m.loss_and_grad(x[batch], y[batch], "mse")[1],
                               np.mean([singles[i] for i in batch], axis=0), rtol=1e-13, atol=1e-15)


def test_backward_returns_input_gradient(rng):
    m = make_model([4, 6, 3], ["tanh", "identity"], seed=2)
    x = rng.normal(size=(5, 4))
    out = m.forward(x)
    gout = rng.normal(size=out.shape)
    gx = m.backward(gout)
    # d/dx of sum(out * gout) by finite differences
    eps = 1e-6
    for i, j in [(0, 0), (2, 3), (4, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[i, j] += eps
        xm[i, j] -= eps
        num = (np.sum(ref_forward(m, xp) * gout) - np.sum(ref_forward(m, xm) * gout)) / (2 * eps)
        assert abs(num - gx[i, j]) < 1e-7
    # and dW matches loss_and_grad's notion through an MSE-like check: sum(out*gout)
    W0 = m.layers[0].dW.copy()
    assert np.any(W0 != 0)


def test_train_step_by_loss_name_matches_a_loss_instance(rng):
    """A loss named in train_step/loss_and_grad is built once and reused between calls: the steps
    equal those with fresh Loss instances, a change of name takes effect, and fit's model.loss
    is never that reused instance."""
    x = rng.normal(size=(9, 6))
    y = rng.integers(0, 4, size=9)
    a = make_model([6, 8, 4], ["relu", "identity"], seed=5)
    b = make_model([6, 8, 4], ["relu", "identity"], seed=5)
    oa, ob = fastgd.optim.Adam(lr=1e-2), fastgd.optim.Adam(lr=1e-2)
    for name, cls in [("cross_entropy", losses.SoftmaxCrossEntropy), ("cross_entropy", losses.SoftmaxCrossEntropy),
                      ("mse", losses.MSE), ("cross_entropy", losses.SoftmaxCrossEntropy)]:
        target = y if name == "cross_entropy" else np.eye(4)[y]
        assert a.train_step(x, target, name, oa) == b.train_step(x, target, cls(), ob)
        np.testing.assert_array_equal(a.params, b.params)
        la, ga = a.loss_and_grad(x, target, name)
        lb, gb = b.loss_and_grad(x, target, cls())
        assert la == lb
        np.testing.assert_array_equal(ga, gb)
    # one seed for both shuffles: rows in another order sum the loss in another order
    a.fit(x, y, loss="cross_entropy", optimizer=oa, epochs=1, verbose=0, seed=0)
    b.fit(x, y, loss=losses.SoftmaxCrossEntropy(), optimizer=ob, epochs=1, verbose=0, seed=0)
    a.loss.label_smoothing = 0.5
    assert a.train_step(x, y, "cross_entropy", oa) == b.train_step(x, y, losses.SoftmaxCrossEntropy(), ob)


def test_train_step_equals_separate_steps(rng, dtype):
    x = rng.normal(size=(9, 6)).astype(dtype)
    y = rng.integers(0, 4, size=9)
    a = make_model([6, 8, 4], ["relu", "identity"], dtype=dtype.name, seed=5)
    b = make_model([6, 8, 4], ["relu", "identity"], dtype=dtype.name, seed=5)
    loss = losses.SoftmaxCrossEntropy()
    oa, ob = fastgd.optim.Adam(lr=1e-2), fastgd.optim.Adam(lr=1e-2)
    for _ in range(3):
        la = a.train_step(x, y, loss, oa)
        # the same step done separately: forward, the Loss object, backward, optimizer step
        out = b.forward(x)
        lb = loss.forward(out, y)
        b.backward(loss.backward())
        ob.step(b.params, b.grads.copy())
        assert la == lb
        np.testing.assert_array_equal(a.params, b.params)
    # the loss classes agree with the fused path
    out = b.forward(x)
    assert abs(loss.forward(out, y) - b.loss_and_grad(x, y, loss)[0]) <= 1e-6 * abs(lb)


@pytest.mark.parametrize("acts", [["relu", "tanh", "identity"], ["gelu", "leaky_relu", "identity"]])
def test_backward_in_row_blocks_matches_layer_by_layer(rng, dtype, acts):
    """The backward pass computes each hidden layer's input gradient in blocks of rows and takes
    the layer below's act' and db from each block while it is in cache: the gradient is bit for
    bit that of the layers' own dense_backward calls one after the other, on 1 and 2 threads, with
    batches of one and of several blocks (700 rows of 100 columns: 3 blocks in float64)."""
    widths = [30, 100, 50, 10]
    for n in (5, 700):
        x = rng.normal(size=(n, 30)).astype(dtype)
        y = rng.integers(0, 10, size=n)
        m = make_model(widths, acts, dtype=dtype.name, seed=3)
        loss = losses.SoftmaxCrossEntropy()
        # the reference: layer by layer through fastgd.ops, the loss's gradient from the Loss object
        ins, outs, pres = [x], [], []
        for L in m.layers:
            pre = np.empty((n, L.out_features), dtype=dtype) if L.activation == "gelu" else None
            outs.append(fastgd.ops.dense_forward(ins[-1], L.W, L.b, activation=L.activation, alpha=L.negative_slope,
                                                 pre_activation=pre))
            pres.append(pre)
            ins.append(outs[-1])
        loss.forward(outs[-1], y)
        g = np.array(loss.backward(), dtype=dtype)
        want = []
        for i in reversed(range(len(m.layers))):
            L = m.layers[i]
            g, dW, db = fastgd.ops.dense_backward(g, ins[i], L.W, outs[i], activation=L.activation,
                                                  alpha=L.negative_slope, need_grad_x=i > 0, pre_activation=pres[i])
            want.append((dW, db))
        for threads in (1, 2):
            with fastgd.threads(threads):
                _value, grads = m.loss_and_grad(x, y, loss)
            for i, (dW, db) in zip(reversed(range(len(m.layers))), want):
                np.testing.assert_array_equal(m.layers[i].dW, dW, err_msg=f"n={n} layer {i} dW, {threads} threads")
                np.testing.assert_array_equal(m.layers[i].db, db, err_msg=f"n={n} layer {i} db, {threads} threads")


def test_train_step_without_grad_norm(rng, dtype):
    """grad_norm=False skips only the measurement of the gradient: the same loss, status and
    gradient, the norm NaN."""
    x = rng.normal(size=(9, 6)).astype(dtype)
    y = rng.integers(0, 4, size=9)
    m = make_model([6, 8, 4], ["relu", "identity"], dtype=dtype.name, seed=5)
    loss = losses.SoftmaxCrossEntropy()
    kwargs = dict(loss_spec=m._loss_spec(loss), target=loss.prepare_target(y, 4, m.dtype))
    value, norm, status = m._train_step(x, **kwargs)
    grads = m.grads.copy()
    m.grads[...] = 0
    value2, norm2, status2 = m._train_step(x, grad_norm=False, **kwargs)
    assert (value2, status2) == (value, status) == (value, 0)
    assert np.isfinite(norm) and np.isnan(norm2)
    np.testing.assert_array_equal(m.grads, grads)


@pytest.mark.parametrize("dtype, big, status", [
    ("float64", 1.0, 0),
    ("float32", 1.0, 0),
    ("float32", 3e38, 2),   # 2 * 3e38 overflows float32: a gradient entry is inf
    ("float64", 1e300, 0),  # 2e300 is finite, its square is not: the norm is summed scaled
    ("float64", 1e308, 2),  # 2e308 overflows float64
    ("float64", 5e153, 0),  # past the bit test's bound (2^510 for 3 parameters), yet the norm is finite
])
def test_update_without_grad_norm(dtype, big, status):
    """An update with grad_norm=False checks the gradient by its bits instead of measuring it:
    the same loss, status, parameters and optimizer state as with the norm, and the norm itself
    whenever the gradient is non-finite or large (x = [big, 1] with W = [0, 1]: loss 1, gradient
    of W [2 big, 2])."""
    x = np.array([[big, 1.0]], dtype=dtype)
    y = np.zeros((1, 1), dtype=dtype)
    results = []
    for grad_norm in (True, False):
        m = make_model([2, 1], ["identity"], dtype=dtype)
        m.layers[0].W[...] = [[0.0], [1.0]]
        m.layers[0].b[...] = 0.0
        loss = losses.MSE()
        opt = fastgd.optim.Adam(lr=1e-2)
        params = m.params.copy()
        value, norm, got = m._train_step(x, loss_spec=m._loss_spec(loss), target=loss.prepare_target(y, 1, m.dtype),
                                         optimizer=opt, grad_norm=grad_norm)
        assert (value, got) == (1.0, status)
        if status:
            np.testing.assert_array_equal(m.params, params)
        results.append((norm, m.params.copy(), dict(opt.state_dict())))
    (norm_a, params_a, state_a), (norm_b, params_b, state_b) = results
    np.testing.assert_array_equal(params_a, params_b)
    assert repr(state_a) == repr(state_b)
    if status or big > 1e100:
        assert norm_a == norm_b
    else:
        assert np.isfinite(norm_a) and np.isnan(norm_b)


@pytest.mark.parametrize("dtype, loss_name, x_scale, y_scale, w1_scale, status", [
    ("float32", "mse", 1.0, 1.0, 1.0, 0),
    ("float64", "mse", 1.0, 1.0, 1.0, 0),
    ("float32", "mse", 5e18, 1.0, 1.0, 0),       # an input past the bound's limit (2^62 here), a finite gradient
    ("float32", "poisson", 1.0, 3e20, 1.0, 0),   # a grad_z past its limit, a finite gradient
    ("float32", "mse", 1e30, 1.0, 1e-12, 2),     # a hidden activation times grad_z overflows float32
    ("float64", "mse", 1.0, 1e80, 1.0, 0),       # grad_z past its limit (2^251), the gradient below 2^505
    ("float64", "mse", 1e80, 1.0, 1.0, 0),       # past both: the norm decides, summed scaled past 2^1024
])
def test_update_checked_by_the_backward_operands(dtype, loss_name, x_scale, y_scale, w1_scale, status):
    """When its operands (x, the hidden activations, each layer's grad_z) are fewer than the
    parameters, an update with grad_norm=False bounds the gradient from them instead of reading
    it: the same loss, status, parameters and optimizer state as with the norm, also when the
    bound fails and the gradient is checked after all (one large entry of x or of the target)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 40)).astype(dtype)
    x[1, 7] = x_scale
    y = np.abs(rng.normal(size=(3, 4))).astype(dtype)
    y[2, 1] = y_scale
    results = []
    for grad_norm in (True, False):
        m = make_model([40, 24, 4], ["relu", "identity"], dtype=dtype, seed=3)
        m.layers[1].W[...] *= w1_scale
        loss = losses.get(loss_name)
        opt = fastgd.optim.Adam(lr=1e-2)
        params = m.params.copy()
        value, norm, got = m._train_step(x, loss_spec=m._loss_spec(loss), target=loss.prepare_target(y, 4, m.dtype),
                                         optimizer=opt, grad_norm=grad_norm)
        assert got == status and np.isfinite(value)
        if status:
            np.testing.assert_array_equal(m.params, params)
            assert norm == np.inf
        results.append((value, m.params.copy(), dict(opt.state_dict())))
    (value_a, params_a, state_a), (value_b, params_b, state_b) = results
    assert value_a == value_b
    np.testing.assert_array_equal(params_a, params_b)
    assert repr(state_a) == repr(state_b)


EVERY_OPTIMIZER = [
    lambda: fastgd.optim.SGD(lr=0.1, seed=0),
    lambda: fastgd.optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, seed=0),
    lambda: fastgd.optim.SGD(lr=0.1, noise=0.01, seed=4),
    lambda: fastgd.optim.AdaGrad(lr=0.1, lr_decay=0.01),
    lambda: fastgd.optim.RMSProp(lr=0.01, momentum=0.5, centered=True),
    lambda: fastgd.optim.Adam(lr=0.01),
    lambda: fastgd.optim.Adam(lr=0.01, amsgrad=True, weight_decay=1e-2),
    lambda: fastgd.optim.AdamW(lr=0.01),
    lambda: fastgd.optim.Adamax(lr=0.01),
]


def assert_same_state(a, b):
    """Two optimizer state_dicts hold the same values, arrays bit for bit."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert repr(a[key]) == repr(b[key])


@pytest.mark.parametrize("make_opt", EVERY_OPTIMIZER)
@pytest.mark.parametrize("dtype, big", [("float32", 1e20), ("float64", 1e160)])
@pytest.mark.parametrize("rows", [3, 40])
@pytest.mark.parametrize("plain", [True, False])
def test_a_first_layer_gradient_past_the_range_leaves_the_step_undone(make_opt, dtype, big, rows, plain):
    """A gradient that overflows in the first layer only (the last one the backward pass reaches,
    after the others are known finite) with a finite loss: train_step raises DivergenceError and
    leaves the parameters and the optimizer's state as they were, model.grads holding the step's
    gradient; for every optimizer and dtype, a batch that the bound of the backward operands
    checks (3 rows, whose update then follows each block of the first layer's dW) or not (40),
    taken as it is (plain) or converted. Input 7 (weights 0) is `big`; hidden unit 5 (tanh of 0,
    its slope 1) has outgoing weights [big, 0, 0, 0]: the forward pass never sees either, the
    gradient of W0[7, 5] is big² times a softmax term."""
    rng = np.random.default_rng(11)
    m = make_model([40, 24, 4], ["tanh", "identity"], dtype=dtype, seed=3)
    opt = make_opt()
    x = rng.normal(size=(rows, 40)).astype(dtype)
    y = rng.integers(0, 4, size=rows)
    m.train_step(x, y, "softmax_cross_entropy", opt)  # a state to keep
    m.layers[0].W[7, :] = 0
    m.layers[0].W[:, 5] = 0
    m.layers[0].b[5] = 0
    m.layers[1].W[5, :] = [big, 0, 0, 0]
    x = np.tile(x[:1], (rows, 1))  # equal rows: the terms of the overflowing sum share a sign
    x[:, 7] = big
    y = np.zeros(rows, dtype=np.int64)
    assert _core.plain_batch(x, y, m.dtype, 40, 4)
    params, state = m.params.copy(), opt.state_dict()
    with pytest.raises(fastgd.DivergenceError, match="gradient is not finite"):
        m.train_step(x, y, "softmax_cross_entropy", opt) if plain else \
            m.train_step(x.tolist(), y.tolist(), "softmax_cross_entropy", opt)
    np.testing.assert_array_equal(m.params, params)
    assert_same_state(opt.state_dict(), state)
    grads = m.layers[0].dW
    assert np.isinf(grads[7, 5]) and np.isfinite(np.delete(m.grads, 7 * 24 + 5)).all()


@pytest.mark.parametrize("make_opt", EVERY_OPTIMIZER)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_first_layer_updated_by_blocks_matches_the_update_after_the_backward_pass(make_opt, dtype):
    """A step checked by the bound of its backward operands updates the first layer's weights in
    blocks of rows right after their part of dW: the same parameters, gradient and optimizer state
    bit for bit as the update after the whole backward pass (what a step that measures the norm
    does), with groups cutting the first layer's rows and the biases, on 1 and 2 threads."""
    rng = np.random.default_rng(2)
    widths = [600, 128, 10]  # dW of the first layer: 2 blocks in float32, 3 in float64
    n_params = 600 * 128 + 128 * 10 + 128 + 10
    groups = [(0, 1001, {}), (1001, 600 * 128 + 77, {"weight_decay": 1e-2}), (600 * 128 + 77, n_params, {})]
    batches = [(rng.normal(size=(8, 600)).astype(dtype), rng.integers(0, 10, size=8)) for _ in range(3)]
    results = []
    for grad_norm, threads in ((True, 1), (False, 1), (False, 2)):
        m = make_model(widths, ["relu", "identity"], dtype=dtype, seed=6)
        opt = make_opt()
        opt.set_param_groups(groups)
        loss = losses.SoftmaxCrossEntropy()
        with fastgd.threads(threads):
            for x, y in batches:
                _, _, status = m._train_step(x, loss_spec=m._loss_spec(loss), target=loss.prepare_target(y, 10, m.dtype),
                                             optimizer=opt, grad_norm=grad_norm)
                assert status == 0
        results.append((m.params.copy(), m.grads.copy(), opt.state_dict()))
    for params, grads, state in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        np.testing.assert_array_equal(grads, results[0][1])
        assert_same_state(state, results[0][2])


def test_train_step_of_a_plain_batch_matches_the_general_path(rng):
    """Float rows of the model's dtype with int64 labels skip the conversions of the general path
    (one C call checks them); any other form of the same batch gives the same step."""
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=6)
    forms = [(x, y), (x.astype(np.float64), y), (np.asfortranarray(x), y), (x, y.astype(np.int32)), (x, y.tolist()),
             (x.tolist(), y), (x, y.astype(np.float32))]
    results = []
    for xf, yf in forms:
        m = make_model([5, 4, 3], ["tanh", "identity"], dtype="float32", seed=1)
        opt = fastgd.optim.Adam(lr=1e-2)
        values = [m.train_step(xf, yf, "softmax_cross_entropy", opt) for _ in range(3)]
        results.append((values, m.params.copy()))
    for values, params in results[1:]:
        assert values == results[0][0]
        np.testing.assert_array_equal(params, results[0][1])
    assert _core.plain_batch(x, y, np.dtype(np.float32), 5, 3)
    for xf, yf in forms[1:]:
        assert not _core.plain_batch(xf, yf, np.dtype(np.float32), 5, 3)
    swapped = x.byteswap().view(x.dtype.newbyteorder())
    for xb, yb, n_features, n_classes in ((x, y, 4, 3), (x, y, 5, 2), (x, y - 1, 5, 3),
                                          (x, y[:5], 5, 3), (x[:0], y[:0], 5, 3), (swapped, y, 5, 3)):
        assert not _core.plain_batch(xb, yb, np.dtype(np.float32), n_features, n_classes)


@pytest.mark.parametrize("make_opt", EVERY_OPTIMIZER)
@pytest.mark.parametrize("rows", [4, 300])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_step_of_a_plain_batch_with_nan_or_infinity_in_x_changes_nothing(make_opt, rows, dtype, rng):
    """A plain batch's x is checked by the step, not before it: one NaN, +inf or -inf entry of x
    (behind a relu first layer, which turns its -inf and NaN pre-activations into finite zeros, so
    that the loss stays finite) still raises the ValueError that names x, with the parameters and
    the optimizer's state unchanged; with 4 rows the step's gradient bound is on, with 300 off."""
    m = make_model([30, 16, 3], ["relu", "identity"], dtype=dtype, seed=2)
    opt = make_opt()
    x = rng.normal(size=(rows, 30)).astype(dtype)
    y = rng.integers(0, 3, size=rows)
    m.train_step(x, y, "softmax_cross_entropy", opt)  # a state to keep
    for bad in (np.nan, np.inf, -np.inf):
        xb = x.copy()
        xb[rows // 2, 7] = bad
        assert _core.plain_batch(xb, y, m.dtype, 30, 3)
        params, state = m.params.copy(), opt.state_dict()
        with pytest.raises(ValueError, match="x contains NaN or infinity"):
            m.train_step(xb, y, "softmax_cross_entropy", opt)
        np.testing.assert_array_equal(m.params, params)
        assert_same_state(opt.state_dict(), state)
    # a fresh optimizer stays fresh: its refused first step did not bind it to this model
    fresh, params = make_opt(), m.params.copy()
    xb = x.copy()
    xb[0, 3] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or infinity"):
        m.train_step(xb, y, "softmax_cross_entropy", fresh)
    np.testing.assert_array_equal(m.params, params)
    assert fresh.step_count == 0 and fresh.state_dict()["state"] is None and fresh.state_dict()["n"] is None
    other = make_model([5, 2], ["identity"], dtype="float64" if dtype == "float32" else "float32", seed=1)
    other.train_step(rng.normal(size=(rows, 5)), rng.integers(0, 2, size=rows), "softmax_cross_entropy", fresh)
    assert fresh.step_count == 1 and fresh.state_dict()["n"] == other.n_params


def test_a_fresh_optimizer_refused_by_a_diverging_step_stays_fresh():
    m = make_model([2, 1], ["identity"], dtype="float64")
    m.layers[0].W[...] = [[0.0], [1.0]]
    opt = fastgd.optim.Adam(lr=1e-3)
    with pytest.raises(fastgd.DivergenceError, match="gradient is not finite"):
        m.train_step(np.array([[1.5e308, 1.0]]), np.zeros((1, 1)), "mse", opt)
    assert opt.step_count == 0 and opt.state_dict()["n"] is None
    small = make_model([3, 2], ["identity"], dtype="float32")
    small.train_step(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), "mse", opt)
    assert opt.step_count == 1 and opt.state_dict()["dtype"] == "float32"


def test_train_step_divergence_reports_the_norm():
    m = make_model([2, 1], ["identity"], dtype="float64")
    m.layers[0].W[...] = [[0.0], [1.0]]
    params = m.params.copy()
    with pytest.raises(fastgd.DivergenceError, match=r"gradient is not finite \(loss=1.0, grad norm=inf\)"):
        m.train_step(np.array([[1.5e308, 1.0]]), np.zeros((1, 1)), "mse", fastgd.optim.Adam(lr=1e-2))
    np.testing.assert_array_equal(m.params, params)


def test_a_finite_gradient_whose_squares_overflow_is_stepped_with_its_norm():
    """Entries of 2e155 (float64) make Σg² overflow, not the gradient: the step goes on, as
    PyTorch's and scikit-learn's do, where it was refused as a divergence."""
    m = make_model([2, 1], ["identity"], dtype="float64")
    m.layers[0].W[...] = [[1e-165], [0.0]]
    x, y = np.array([[1e165, 1.0]]), np.array([[1.0 - 1e-10]])
    value, grad = m.loss_and_grad(x, y, "mse")
    assert 1e155 < grad[0] < np.inf
    before = m.params.copy()
    assert m.train_step(x, y, "mse", fastgd.optim.SGD(lr=1e-330)) == value
    np.testing.assert_array_equal(m.params, before - 1e-330 * grad)
    norm = np.hypot(grad[0], np.hypot(grad[1], grad[2]))
    clipped = make_model([2, 1], ["identity"], dtype="float64")
    clipped.params[...] = before
    clipped.fit(x, y, loss="mse", optimizer=fastgd.optim.SGD(lr=1.0), epochs=1, batch_size=1, clip_norm=1.0,
                verbose=0)
    np.testing.assert_allclose(clipped.params, before - grad / (norm + 1e-6), rtol=1e-15)
    full = make_model([2, 1], ["identity"], dtype="float64")
    full.params[...] = before
    history = full.fit(x, y, loss="mse", optimizer=fastgd.optim.SGD(lr=1e-330), epochs=1, tol=1e-300, verbose=0)
    assert history["grad_norm"][0] == pytest.approx(norm, rel=1e-12)  # the full-data norm fit logs


def test_the_data_parallel_step_measures_such_a_gradient_as_the_fused_step():
    """The data-parallel paths sum Σg² per rank's slice; past 2^1024 they add the slices' sums
    scaled by 2^-600 instead, so a finite gradient is stepped there too."""
    from fastgd import distributed
    m = make_model([2, 1], ["identity"], dtype="float64")
    m.grads[...] = [2e200, 1e200, 0.0]
    norm, status = distributed._clip_and_update(m, fastgd.optim.SGD(lr=1e-300), 1.0, None)
    assert status == 0 and norm == pytest.approx(np.hypot(2e200, 1e200), rel=1e-15)
    slices = [distributed._square_sums(np.array([2e200])), distributed._square_sums(np.array([1e200, 0.0]))]
    total = tuple(a + b for a, b in zip(*slices))
    assert distributed._norm_of(total) == (pytest.approx(np.hypot(2e200, 1e200), rel=1e-15), True)
    assert distributed._norm_of(distributed._square_sums(np.array([3.0, 4.0]))) == (5.0, True)
    assert distributed._norm_of(distributed._square_sums(np.array([np.inf, 1.0])))[1] is False
    nan_norm, finite = distributed._norm_of(distributed._square_sums(np.array([np.nan, 1e300])))
    assert not finite and np.isnan(nan_norm)


def test_model_reused_across_batch_sizes_and_threads(rng):
    m = make_model([10, 16, 3], ["relu", "identity"], dtype="float64", seed=0)
    ref = make_model([10, 16, 3], ["relu", "identity"], dtype="float64", seed=0)
    for n, t in ((3, 1), (500, 2), (1, 1), (64, 2), (700, 1)):
        x = rng.normal(size=(n, 10))
        with fastgd.threads(t):
            got = m.forward(x)
        np.testing.assert_allclose(got, ref_forward(ref, x), rtol=1e-12, atol=1e-12)


def test_extreme_logits_stay_finite():
    m = make_model([1, 3], ["identity"], seed=0)
    m.layers[0].W[...] = [[1e4, -1e4, 0.0]]
    v, g = m.loss_and_grad(np.ones((2, 1)), np.array([0, 1]), "softmax_cross_entropy")
    assert np.isfinite(v) and np.all(np.isfinite(g))
    assert abs(v - 1e4) < 1e-9  # sample 0 is right (loss 0), sample 1 is off by 2e4: mean 1e4
    m2 = make_model([1, 1], ["identity"], seed=0)
    m2.layers[0].W[...] = 1e3
    v, g = m2.loss_and_grad(np.array([[1.0], [-1.0]]), np.array([[0.0], [0.0]]), "binary_cross_entropy")
    assert np.isfinite(v) and abs(v - 500.0) < 1e-9


def test_input_without_copy_and_conversion(rng):
    m = make_model([3, 2], ["identity"], dtype="float32")
    x = rng.normal(size=(4, 3)).astype(np.float32)
    assert m._check_x(x) is x
    xf = np.asfortranarray(x.astype(np.float64))
    np.testing.assert_allclose(m.forward(xf), m.forward(x), rtol=1e-6)
    np.testing.assert_allclose(m.forward(x.tolist()), m.forward(x), rtol=1e-6)
    m.forward(np.ones((2, 3), dtype=np.int32))


@pytest.mark.parametrize("bad,exc,msg", [
    (np.ones((4, 5)), ValueError, "features"),
    (np.array([["a", "b", "c"]]), TypeError, "dtype"),
    (np.ones((2, 3), dtype=object), TypeError, "dtype"),
    (np.ones((2, 3), dtype=complex), TypeError, "dtype"),
    (np.array([[np.nan, 1, 2]]), ValueError, "NaN"),
    (np.array([[np.inf, 1, 2]]), ValueError, "NaN"),
    (np.ones((0, 3)), ValueError, "empty"),
    (np.ones((2, 3, 1)), ValueError, "2-D"),
    (np.ones(3), ValueError, "2-D"),
])
def test_bad_x(bad, exc, msg):
    m = make_model([3, 2], ["identity"])
    with pytest.raises(exc, match=msg):
        m.forward(bad)
    with pytest.raises(exc, match=msg):
        m.train_step(bad, np.zeros(len(bad) if np.ndim(bad) else 1, dtype=int), "softmax_cross_entropy",
                     fastgd.optim.SGD(lr=0.1))


def test_bad_targets_and_weights():
    m = make_model([3, 2], ["identity"])
    x = np.ones((4, 3))
    opt = fastgd.optim.SGD(lr=0.1)
    with pytest.raises(ValueError):
        m.train_step(x, np.array([0, 1, 2, 0]), "softmax_cross_entropy", opt)  # label 2 out of range
    with pytest.raises(ValueError):
        m.train_step(x, np.array([0, -1, 1, 0]), "softmax_cross_entropy", opt)
    with pytest.raises(ValueError, match="one entry per sample"):
        m.train_step(x, np.array([0, 1, 1]), "softmax_cross_entropy", opt)
    with pytest.raises(ValueError):
        m.train_step(x, np.ones((4, 3)), "mse", opt)  # wrong target width
    with pytest.raises(ValueError, match="sample_weight"):
        m.train_step(x, np.array([0, 1, 1, 0]), "softmax_cross_entropy", opt, sample_weight=[1, -1, 1, 1])
    with pytest.raises(ValueError, match="sample_weight"):
        m.train_step(x, np.array([0, 1, 1, 0]), "softmax_cross_entropy", opt, sample_weight=[1, 1, 1])
    m.layers[0].W[...] = 1e200  # outputs ~3e200: the squared error overflows to inf
    params = m.params.copy()
    with pytest.raises(fastgd.DivergenceError, match="not finite"):
        m.train_step(x, np.zeros((4, 2)), "mse", opt)
    np.testing.assert_array_equal(m.params, params)  # no update applied


def test_bad_construction():
    with pytest.raises(ValueError, match="activation"):
        fastgd.Dense(3, 2, activation="rleu")
    with pytest.raises(ValueError, match="in_features"):
        fastgd.Dense(0, 2)
    with pytest.raises(ValueError, match="weight_init"):
        fastgd.Dense(3, 2, weight_init="xavier")
    with pytest.raises(ValueError, match="expects 4 inputs"):
        fastgd.Sequential([fastgd.Dense(3, 2), fastgd.Dense(4, 1)])
    with pytest.raises(ValueError, match="dtype"):
        fastgd.Sequential([fastgd.Dense(3, 2)], dtype="float16")
    with pytest.raises(ValueError, match="seed must be an integer >= 0 or None, got -1"):
        fastgd.Sequential([fastgd.Dense(3, 2)], seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer"):
        fastgd.Sequential([fastgd.Dense(3, 2)]).reset_parameters("0")
    d = fastgd.Dense(3, 2)
    fastgd.Sequential([d])
    with pytest.raises(ValueError, match="already belongs"):
        fastgd.Sequential([d])


def test_repr_and_summary(capsys):
    m = make_model([784, 256, 128, 10], ["relu", "relu", "identity"], dtype="float32")
    assert m.n_params == 235_146
    r = repr(m)
    assert "Dense(784, 256" in r and "235,146" in r
    assert m.summary() is None  # printed once, as Keras: a notebook does not show it twice
    printed = capsys.readouterr().out
    assert "235,146" in printed and "(None, 10)" in printed
    kept = []
    m.summary(print_fn=kept.append)
    assert kept == [printed.rstrip("\n")] and capsys.readouterr().out == ""


def test_predict_proba_uses_link(rng):
    m = make_model([3, 4], ["identity"])
    x = rng.normal(size=(5, 3))
    p = m.predict_proba(x, "softmax_cross_entropy")
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    with pytest.raises(ValueError, match="loss"):
        m.predict_proba(x)


ROW_BLOCK_CASES = [  # (widths, activations, loss, with sample weights)
    ([150, 140, 24, 5], ["relu", "tanh", "identity"], lambda c: losses.SoftmaxCrossEntropy(), True),
    ([20, 37, 30, 10], ["gelu", "leaky_relu", "identity"],
     lambda c: losses.SoftmaxCrossEntropy(label_smoothing=0.1, class_weight=np.linspace(0.5, 2.0, c)), True),
    ([20, 33, 7], ["sigmoid", "identity"], lambda c: losses.MSE(), False),
    ([150, 40, 6], ["tanh", "identity"], lambda c: losses.BinaryCrossEntropy(), True),
    ([20, 33, 30, 4], ["relu", "relu", "identity"], lambda c: losses.Huber(0.7), True),
    ([20, 25, 3], ["tanh", "identity"], lambda c: losses.Poisson(), False),
]


@pytest.mark.parametrize("case", range(len(ROW_BLOCK_CASES)))
def test_step_in_row_blocks_is_bit_identical(isa, rng, dtype, case):
    """A step without update over more rows than one of the GEMM's k blocks runs forward, loss
    and backward one k block of rows at a time (the dW products' own blocks): loss, gradient and
    gradient norm are bit for bit those of the rows taken at once (the engine's row_blocks), on
    1 and 2 threads, for row counts on both sides of the block boundaries, with the packed input
    the L-BFGS objective passes, through the packed path of dW (150x140), the direct one and the
    narrow one (a few outputs), several losses and activations, sample weights and class weights."""
    widths, acts, make_loss, weighted = ROW_BLOCK_CASES[case]
    kc = _core.gemm_block_sizes(dtype)["kc"]
    m = make_model(widths, acts, dtype=dtype.name, seed=5)
    loss = make_loss(widths[-1])
    name = {"SoftmaxCrossEntropy": "softmax_cross_entropy", "BinaryCrossEntropy": "binary_cross_entropy"}
    for n in (kc - 1, kc, kc + 1, 2 * kc + 1, 3 * kc + 67):
        x = rng.normal(size=(n, widths[0])).astype(dtype)
        y = make_target(name.get(type(loss).__name__, "mse"), n, widths[-1], rng)
        if isinstance(loss, losses.Poisson):
            y = np.abs(y)
        sw = rng.random(n) * 2 if weighted else None
        xs, target, sw_ = m._prepare(x, y, loss, sw)
        spec = m._loss_spec(loss)
        for threads, packed, norm in ((1, False, True), (2, False, False), (1, True, False), (2, True, True)):
            pk = m._pack_input(xs) if packed else None
            got = []
            for blocks in (False, True):
                m._engine.row_blocks = blocks
                with fastgd.threads(threads):
                    m.grads[...] = np.nan  # overwritten, never accumulated into
                    value, gnorm, status = m._train_step(xs, loss_spec=spec, target=target, sample_weight=sw_,
                                                         grad_norm=norm, packed=pk)
                got.append((value, gnorm, status, m.grads.copy()))
            m._engine.row_blocks = None
            (v0, n0, s0, g0), (v1, n1, s1, g1) = got
            what = f"n={n} threads={threads} packed={packed}"
            assert s0 == s1 == 0, what
            assert np.isfinite(v0) and v1 == v0, what
            assert (n1 == n0) if norm else (np.isnan(n0) and np.isnan(n1)), what
            assert np.isfinite(g0).all(), what
            np.testing.assert_array_equal(g1, g0, err_msg=what)


def test_step_in_row_blocks_reports_a_non_finite_loss(dtype):
    """Over several k blocks, a loss that overflows in the last block only is reported as such."""
    n = 3 * _core.gemm_block_sizes(dtype)["kc"] + 5
    m = make_model([4, 6, 3], ["relu", "identity"], dtype=dtype.name)
    x = np.ones((n, 4), dtype=dtype)
    x[n - 2] = 1e30 if dtype == np.float32 else 1e300
    m.params[...] = 1e10
    for blocks in (False, True):
        m._engine.row_blocks = blocks
        value, _grads = m.loss_and_grad(x, np.zeros((n, 3)), losses.MSE())
        assert value == np.inf
