"""The Python loss API: classes, forward/backward, link, prepare_target, config round trips,
the fastgd.ops functions, and bad input raising errors that name the argument."""

import numpy as np
import pytest

import fastgd
from fastgd import _core, losses, ops

ALL = [losses.SoftmaxCrossEntropy(), losses.SoftmaxCrossEntropy(label_smoothing=0.2, class_weight=[1, 2, 3]),
       losses.BinaryCrossEntropy(), losses.MSE(), losses.MAE(), losses.Huber(delta=0.5),
       losses.Poisson()]


def data(loss, dtype, rng, n=6, c=3):
    pred = rng.standard_normal((n, c)).astype(dtype)
    if isinstance(loss, losses.SoftmaxCrossEntropy):
        target = rng.integers(0, c, n)
    else:
        target = rng.uniform(0, 1, (n, c))
    return pred, target


@pytest.mark.parametrize("loss", ALL, ids=repr)
def test_forward_backward_and_config(dtype, rng, loss):
    pred, target = data(loss, dtype, rng)
    value = loss.forward(pred, target)
    assert isinstance(value, float)
    grad = loss.backward()
    assert grad.shape == pred.shape and grad.dtype == dtype
    assert loss(pred, target) == value
    clone = losses.from_config(loss.get_config())
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    assert clone(pred, target) == value
    np.testing.assert_array_equal(clone.backward(), grad)
    assert repr(loss).startswith(type(loss).__name__)


def test_float32_pred_is_not_copied_and_grad_is_fresh(rng):
    pred = rng.standard_normal((4, 3)).astype(np.float32)
    loss = losses.SoftmaxCrossEntropy()
    loss(pred, np.array([0, 1, 2, 0]))
    g1 = loss.backward()
    loss(pred, np.array([0, 1, 2, 1]))
    assert loss.backward() is not g1


def test_one_hot_rows_equal_labels(dtype, rng):
    pred = rng.standard_normal((7, 4)).astype(dtype)
    labels = rng.integers(0, 4, 7)
    loss = losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    a = loss(pred, labels)
    ga = loss.backward()
    b = loss(pred, np.eye(4)[labels])
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(ga, loss.backward(), rtol=1e-5, atol=1e-7)


def test_one_dimensional_pred_for_elementwise_losses(rng):
    pred = rng.standard_normal(5)
    target = rng.standard_normal(5)
    loss = losses.MSE()
    assert loss(pred, target) == pytest.approx(np.mean((pred - target) ** 2))
    assert loss.backward().shape == (5,)
    np.testing.assert_allclose(loss.backward(), 2 * (pred - target) / 5)


def test_non_contiguous_pred_is_accepted(rng):
    pred = rng.standard_normal((6, 8))[:, ::2]
    target = rng.standard_normal((6, 4))
    assert losses.MAE()(pred, target) == pytest.approx(np.abs(pred - target).mean())


def test_mse_relates_to_half_sse(rng):
    pred, target = rng.standard_normal((10, 3)), rng.standard_normal((10, 3))
    half_sse = 0.5 * ((target - pred) ** 2).sum()
    loss = losses.MSE()
    assert loss(pred, target) == pytest.approx(2 * half_sse / pred.size)
    np.testing.assert_allclose(loss.backward(), (pred - target) * 2 / pred.size)


def test_the_constant_minimizing_mse_is_the_mean_and_mae_the_median(rng):
    t = rng.standard_exponential(101)  # skewed: the mean lies above the median
    mean, median = t.mean(), np.median(t)

    def value_and_slope(loss, c):
        value = loss(np.full(t.size, c), t)
        return value, loss.backward().sum()

    mse, mae = losses.MSE(), losses.MAE()
    assert abs(value_and_slope(mse, mean)[1]) < 1e-14
    assert value_and_slope(mse, mean)[0] < value_and_slope(mse, median)[0]
    assert value_and_slope(mae, median - 1e-9)[1] < 0 < value_and_slope(mae, median + 1e-9)[1]
    assert value_and_slope(mae, median)[0] < value_and_slope(mae, mean)[0]


def test_sample_weights_scale_like_repeated_rows(rng):
    pred = rng.standard_normal((3, 4))
    labels = np.array([0, 3, 1])
    loss = losses.SoftmaxCrossEntropy()
    weighted = loss(pred, labels, sample_weight=[1, 2, 1])
    repeated = loss(pred[[0, 1, 1, 2]], labels[[0, 1, 1, 2]])
    assert weighted == pytest.approx(repeated, rel=1e-12)


def test_link_functions(rng):
    z = np.array([[1e4, -1e4, 0.0]])
    np.testing.assert_allclose(losses.SoftmaxCrossEntropy().link(z), [[1, 0, 0]])
    np.testing.assert_allclose(losses.BinaryCrossEntropy().link(np.array([-1e3, 0.0, 1e3])), [0, 0.5, 1])
    x = rng.standard_normal((2, 2)).astype(np.float32)
    assert losses.BinaryCrossEntropy().link(x).dtype == np.float32
    np.testing.assert_array_equal(losses.MSE().link(x), x)


def test_prepare_target_kinds():
    ce = losses.SoftmaxCrossEntropy()
    kind, arr = ce.prepare_target([0, 2, 1], 3, np.float32)
    assert kind == "labels" and arr.dtype == np.int64
    kind, arr = ce.prepare_target(np.array([0.0, 2.0]), 3, np.float32)
    assert kind == "labels" and arr.tolist() == [0, 2]
    kind, arr = ce.prepare_target(np.eye(3), 3, np.float32)
    assert kind == "rows" and arr.dtype == np.float32 and arr.flags.c_contiguous
    kind, arr = losses.MSE().prepare_target([1, 2], 1, np.float64)
    assert kind == "rows" and arr.shape == (2, 1)


def test_get_by_name_class_and_instance():
    assert isinstance(losses.get("cross_entropy"), losses.SoftmaxCrossEntropy)
    assert isinstance(losses.get("softmax_cross_entropy"), losses.SoftmaxCrossEntropy)
    assert isinstance(losses.get("bce"), losses.BinaryCrossEntropy)
    assert isinstance(losses.get("binary_cross_entropy"), losses.BinaryCrossEntropy)
    assert isinstance(losses.get("MSE"), losses.MSE)
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    h = losses.Huber(2.0)
    assert losses.get(h) is h
    assert fastgd.SoftmaxCrossEntropy is losses.SoftmaxCrossEntropy
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        losses.get("hinge")
    with pytest.raises(TypeError, match="loss must be a name"):
        losses.get(3)
    with pytest.raises(TypeError, match="config must be a dict"):
        losses.from_config("mse")


def test_ops_functions_match_classes(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = rng.standard_normal((9, 4))
    y = rng.integers(0, 4, 9)
    t = rng.uniform(0, 1, (9, 4))
    cases = [
        (ops.cross_entropy(z, y, class_weight=[1, 2, 1, 3], label_smoothing=0.1, return_grad=True),
         lambda zt: F.cross_entropy(zt, torch.tensor(y), weight=torch.tensor([1., 2, 1, 3], dtype=torch.float64),
                                    label_smoothing=0.1)),
        (ops.cross_entropy(z, t, reduction="sum", return_grad=True),
         lambda zt: F.cross_entropy(zt, torch.tensor(t), reduction="sum")),
        (ops.binary_cross_entropy_with_logits(z, t, return_grad=True),
         lambda zt: F.binary_cross_entropy_with_logits(zt, torch.tensor(t))),
        (ops.mse_loss(z, t, reduction="sum", return_grad=True), lambda zt: F.mse_loss(zt, torch.tensor(t), reduction="sum")),
        (ops.l1_loss(z, t, return_grad=True), lambda zt: F.l1_loss(zt, torch.tensor(t))),
        (ops.huber_loss(z, t, delta=0.3, return_grad=True), lambda zt: F.huber_loss(zt, torch.tensor(t), delta=0.3)),
        (ops.poisson_nll_loss(z, np.abs(t), return_grad=True),
         lambda zt: F.poisson_nll_loss(zt, torch.tensor(np.abs(t)), log_input=True, full=False)),
    ]
    for (value, grad), fn in cases:
        zt = torch.tensor(z, requires_grad=True)
        out = fn(zt)
        out.backward()
        np.testing.assert_allclose(value, out.item(), rtol=1e-12)
        np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-15)
    assert isinstance(ops.mse_loss(z, t), float)


def test_fill_loss_spec_path_rejects_mismatched_arrays():
    pred = np.zeros((3, 2))
    loss = losses.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"target must have shape \(3,\)"):
        _core.loss_value_and_grad(pred, loss._c_spec(), ("labels", np.zeros(2, np.int64)))
    with pytest.raises(TypeError, match="target must have dtype int64"):
        _core.loss_value_and_grad(pred, loss._c_spec(), ("labels", np.zeros(3, np.int32)))
    with pytest.raises(TypeError, match=r"target must have the dtype of pred \(float64\)"):
        _core.loss_value_and_grad(pred, loss._c_spec(), ("rows", np.zeros((3, 2), np.float32)))
    with pytest.raises(ValueError, match="prepared target kind"):
        _core.loss_value_and_grad(pred, loss._c_spec(), ("soft", np.zeros((3, 2))))
    with pytest.raises(ValueError, match="needs target rows"):
        _core.loss_value_and_grad(pred, losses.MSE()._c_spec(), ("labels", np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match="grad and target must not share memory"):
        t = np.zeros((3, 2))
        _core.loss_value_and_grad(pred, losses.MSE()._c_spec(), ("rows", t), grad=t)
    with pytest.raises(ValueError, match=r"class_weight must have shape \(2,\)"):
        _core.loss_value_and_grad(pred, loss._c_spec(), ("labels", np.zeros(3, np.int64)), None, np.ones(3))


F64 = np.float64
BAD = [
    # (loss, pred, target, sample_weight, exception, message)
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), [0, 3], None, ValueError, r"target labels must be in \[0, 3\).*got 3"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), [-1, 0], None, ValueError, r"target labels must be in \[0, 3\).*got -1"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), [0.5, 1.0], None, TypeError, "target class labels must be integers"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), np.zeros((2, 4)), None, ValueError, r"rows of shape \(n_samples, 3\), got \(2, 4\)"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), [0, 1, 2], None, ValueError, "target has 3 rows but pred has 2"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), ["a", "b"], None, TypeError, "target must hold real numbers"),
    (losses.SoftmaxCrossEntropy(), np.zeros(3), [0, 1, 2], None, ValueError, r"pred must be 2-D \(n_samples, n_classes\)"),
    (losses.SoftmaxCrossEntropy(class_weight=[1, 2]), np.zeros((2, 3)), [0, 1], None, ValueError, "class_weight has 2 entries but pred has 3 classes"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), [0, 1], [1, -1], ValueError, "sample_weight must be >= 0"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), [0, 1], [1, np.nan], ValueError, "sample_weight must be finite"),
    (losses.SoftmaxCrossEntropy(), np.zeros((2, 3)), [0, 1], [1, 1, 1], ValueError, r"sample_weight must have shape \(2,\)"),
    (losses.MSE(), np.zeros((2, 3)), np.zeros((2, 3)), ["x", "y"], TypeError, "sample_weight must hold real numbers"),
    (losses.MSE(), np.array([[0.0, np.nan]]), np.zeros((1, 2)), None, ValueError, "pred must be finite, got nan at flat index 1"),
    (losses.MSE(), np.array([[0.0, np.inf]]), np.zeros((1, 2)), None, ValueError, "pred must be finite, got inf"),
    (losses.MSE(), np.zeros((1, 2)), np.array([[0.0, np.nan]]), None, ValueError, "target must be finite"),
    (losses.MSE(), np.zeros((2, 3)), np.zeros((2, 2)), None, ValueError, r"target must have shape \(n_samples, 3\), got \(2, 2\)"),
    (losses.MSE(), np.zeros((2, 1)), np.zeros(3), None, ValueError, "target has 3 rows but pred has 2"),
    (losses.MSE(), np.zeros((0, 3)), np.zeros((0, 3)), None, ValueError, "pred is an empty batch"),
    (losses.MSE(), np.zeros((2, 0)), np.zeros((2, 0)), None, ValueError, "pred must have at least one column"),
    (losses.MSE(), np.zeros((2, 2, 2)), np.zeros((2, 2)), None, ValueError, "pred must be 1-D or 2-D, got 3-D"),
    (losses.MSE(), np.zeros((2, 2), np.int64), np.zeros((2, 2)), None, TypeError, "pred must have dtype float32 or float64, got int64"),
    (losses.MSE(), np.zeros((2, 2), np.complex128), np.zeros((2, 2)), None, TypeError, "got complex128"),
    (losses.MSE(), [[0.0, 1.0]], [[0.0, 1.0]], None, TypeError, "pred must be a numpy.ndarray"),
    (losses.MSE(), np.zeros((2, 2)), np.zeros((2, 2), np.complex128), None, TypeError, "target must hold real numbers"),
    (losses.BinaryCrossEntropy(), np.zeros((2, 2)), np.zeros((2, 2), object), None, TypeError, "target must hold real numbers"),
    (losses.BinaryCrossEntropy(), np.zeros((2, 2)), np.full((2, 2), 2.0), None, ValueError,
     r"target of the binary cross-entropy must be in \[0, 1\] \(a probability\), got values in \[2.0, 2.0\]"),
    (losses.BinaryCrossEntropy(), np.zeros((1, 2)), [[-0.5, 1.0]], None, ValueError, r"got values in \[-0.5, 1.0\]"),
]


@pytest.mark.parametrize("loss, pred, target, sw, exc, message", BAD)
def test_bad_input_raises_clear_errors(loss, pred, target, sw, exc, message):
    with pytest.raises(exc, match=message):
        loss.forward(pred, target, sample_weight=sw)


@pytest.mark.parametrize("dtype, n_classes, label", [(np.int8, 129, -128), (np.int8, 200, -100),
                                                      (np.int8, 300, -1), (np.int16, 32769, -32768),
                                                      (np.int32, 3, -1)])
def test_negative_narrow_labels_are_refused_whatever_the_number_of_classes(dtype, n_classes, label):
    # a negative int8 label reads as 256 minus its size in the unsigned view of its bytes, which
    # is a class index once there are more than 128 classes
    target = np.array([label, 1, 0], dtype)
    expected = rf"target labels must be in \[0, {n_classes}\).*got {label}"
    with pytest.raises(ValueError, match=expected):
        losses.SoftmaxCrossEntropy().forward(np.zeros((3, n_classes)), target)
    model = fastgd.Sequential([fastgd.Dense(2, n_classes, activation="identity")], seed=0)
    with pytest.raises(ValueError, match=expected):
        model.loss_and_grad(np.zeros((3, 2)), target, "softmax_cross_entropy")
    with pytest.raises(ValueError, match=expected):
        model.evaluate(np.zeros((3, 2)), target, loss="softmax_cross_entropy")


@pytest.mark.parametrize("make, exc, message", [
    (lambda: losses.SoftmaxCrossEntropy(label_smoothing=1.0), ValueError, r"label_smoothing must be in \[0, 1\), got 1.0"),
    (lambda: losses.SoftmaxCrossEntropy(label_smoothing=-0.1), ValueError, "label_smoothing must be in"),
    (lambda: losses.SoftmaxCrossEntropy(label_smoothing="0.1"), TypeError, r"label_smoothing must be in \[0, 1\), got '0.1' \(str\)"),
    (lambda: losses.SoftmaxCrossEntropy(class_weight=[1, -1]), ValueError, "class_weight must be >= 0"),
    (lambda: losses.SoftmaxCrossEntropy(class_weight=[[1, 2]]), ValueError, "class_weight must be a non-empty 1-D"),
    (lambda: losses.SoftmaxCrossEntropy(class_weight=[1, np.inf]), ValueError, "class_weight must be finite"),
    (lambda: losses.SoftmaxCrossEntropy(class_weight={0: 1.0}), TypeError,
     r"class_weight must be an array of one weight per class, got dict \(fit\(class_weight=...\) takes a dict"),
    (lambda: losses.Huber(delta=0), ValueError, "delta must be a finite number > 0, got 0"),
    (lambda: losses.Huber(delta=np.nan), ValueError, "delta must be a finite number > 0"),
    (lambda: losses.Huber(delta=None), TypeError, r"delta must be a finite number > 0, got None \(NoneType\)"),
    (lambda: ops.mse_loss(np.zeros((1, 1)), np.zeros((1, 1)), reduction="avg"), ValueError, "reduction must be one of"),
])
def test_bad_hyperparameters_raise(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        losses.MSE().backward()


@pytest.mark.parametrize("labels, n, outside", [
    ([], 3, False), ([0, 1, 2], 3, False), ([0, 3], 3, True), ([-1], 3, True),
    ([np.iinfo(np.int64).min], 3, True), ([np.iinfo(np.int64).max], 3, True), ([2] * 1000 + [3], 3, True),
])
def test_int64_outside_matches_numpy(labels, n, outside):
    t = np.array(labels, dtype=np.int64)
    assert _core.int64_outside(t, n) is outside
    assert outside == bool(t.size and ((t < 0) | (t >= n)).any())


def test_int64_outside_refuses_other_arrays():
    with pytest.raises(TypeError, match="1-D C-contiguous aligned int64"):
        _core.int64_outside(np.arange(6, dtype=np.int32), 3)
    with pytest.raises(TypeError, match="1-D C-contiguous aligned int64"):
        _core.int64_outside(np.arange(6, dtype=np.int64)[::2], 3)
    with pytest.raises(ValueError, match="n must be >= 0"):
        _core.int64_outside(np.arange(6, dtype=np.int64), -1)


def test_gradient_of_a_non_finite_loss_is_the_batch_gradient():
    # exp(901) overflows: the loss is inf, and every parameter's gradient takes row 0's inf term
    from fastgd.training import DivergenceError

    m = fastgd.Sequential([fastgd.Dense(3, 2, activation="identity")], dtype="float64", seed=0)
    m.params[:] = 1.0
    y = np.array([[1.0, 1.0], [1.0, 2.0]])
    _, finite = m.loss_and_grad(np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), y, "poisson")
    assert np.isfinite(finite).all()
    x = np.array([[300.0, 300.0, 300.0], [0.1, 0.2, 0.3]])
    value, grad = m.loss_and_grad(x, y, "poisson")
    assert value == np.inf
    assert (grad == np.inf).all()
    m.grads[:] = 7.0
    with pytest.raises(DivergenceError):
        m.train_step(x, y, "poisson", fastgd.optim.SGD(lr=0.1))
    np.testing.assert_array_equal(m.grads, grad)  # the refused gradient, as computed
    np.testing.assert_array_equal(m.params, 1.0)


def test_labels_out_of_range_give_a_nan_gradient_not_the_old_one():
    z = np.zeros((4, 3))
    grad = np.full((4, 3), 7.0)
    spec = losses.SoftmaxCrossEntropy()._c_spec()
    labels = np.array([0, 1, 5, 2], dtype=np.int64)
    with pytest.raises(ValueError, match=r"must be in \[0, 3\)"):
        _core.loss_value_and_grad(z, spec, ("labels", labels), grad=grad)
    assert np.isnan(grad).all()
