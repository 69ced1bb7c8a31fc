"""fastgd._validation: one rule per concept, and the public entry points that follow it."""

import math

import numpy as np
import pytest

import fastgd as fg
from fastgd import _validation as v


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_integer_takes_python_and_numpy_integers(value):
    assert v.integer("epochs", value, 0) == 3 and type(v.integer("epochs", value, 0)) is int


@pytest.mark.parametrize("value", [1.5, "3", True, np.bool_(True), None, [3]])
def test_wrong_types_are_both_type_and_value_errors(value):
    with pytest.raises(TypeError, match=r"epochs must be an integer >= 0, got .* \("):
        v.integer("epochs", value, 0)
    with pytest.raises(ValueError):
        v.integer("epochs", value, 0)


def test_ranges_and_none():
    assert v.integer("max_steps", None, 1, allow_none=True) is None
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 4096\], got 5000"):
        v.integer("n", 5000, 1, maximum=4096)
    with pytest.raises(ValueError, match="max_steps must be an integer >= 1 or None, got 0"):
        v.integer("max_steps", 0, 1, allow_none=True)
    assert v.real("tol", 0, low=0.0) == 0.0
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="clip_norm must be a finite number > 0"):
            v.real("clip_norm", bad, low=0.0, low_open=True)
    assert v.probability("validation_split", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\), got 1"):
        v.probability("validation_split", 1)
    with pytest.raises(TypeError, match="nesterov must be a bool"):
        v.flag("nesterov", 1)


def test_choice_lists_the_options():
    assert v.choice("mode", "max", ("min", "max")) == "max"
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        v.choice("mode", "up", ("min", "max"))
    with pytest.raises(ValueError, match="which must be"):
        v.choice("which", np.arange(3), ("largest", "smallest", "both"))


def test_entry_points_share_the_rule():
    # counts and rates in different modules: same exception types, same message form
    for make, name in [(lambda b: fg.Dense(b, 2), "in_features"), (lambda b: fg.LBFGS(history_size=b), "history_size"),
                       (lambda b: fg.EarlyStopping(patience=b), "patience"),
                       (lambda b: fg.datasets.make_spirals(n_samples=b), "n_samples")]:
        with pytest.raises(ValueError, match=f"{name} must be an integer >= "):
            make(-1)
        with pytest.raises(TypeError, match=f"{name} must be an integer >= .*got '2'"):
            make("2")
    for make, name in [(lambda r: fg.optim.SGD(lr=r), "lr"), (lambda r: fg.losses.Huber(delta=r), "delta"),
                       (lambda r: fg.NewtonCG(eta=r), "eta")]:
        with pytest.raises(ValueError, match=f"{name} must be (a finite number|in)"):
            make(-1.0)
        with pytest.raises(TypeError, match=f"{name} must be .*got 'x' \\(str\\)"):
            make("x")


def test_sample_weight_rule():
    assert v.sample_weight(None, 3, np.float32) is None
    sw = v.sample_weight([1, 2, 0], 3, np.float32)
    assert sw.dtype == np.float32 and sw.flags.c_contiguous
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(3,\)"):
        v.sample_weight([1, 2], 3, np.float64)
    with pytest.raises(ValueError, match="sample_weight must be >= 0, got -1"):
        v.sample_weight([1, -1, 0], 3, np.float64)
    with pytest.raises(ValueError, match="sample_weight must be finite, got nan at flat index 1"):
        v.sample_weight([1, np.nan, 0], 3, np.float64)
    with pytest.raises(ValueError, match="all zero"):
        v.sample_weight([0, 0, 0], 3, np.float64, positive_sum=True)
    with pytest.raises(TypeError, match="sample_weight must hold real numbers"):
        v.sample_weight(["a", "b", "c"], 3, np.float64)


def test_samples_and_targets():
    with pytest.raises(ValueError, match=r"x must be 2-D \(n_samples, 4\), got shape \(4,\) \(use x.reshape"):
        v.samples("x", np.ones(4), 4)
    with pytest.raises(ValueError, match="x has 3 features per sample, the model expects 4"):
        v.samples("x", np.ones((2, 3)), 4)
    with pytest.raises(ValueError, match="x is empty"):
        v.sample_shape("x", np.ones((0, 4)), 4)
    with pytest.raises(ValueError, match=r"y must have one entry per sample of x \(5\), got shape \(4,\)"):
        v.targets(np.zeros(4), 5, fg.losses.MSE(), 1, np.float64)
    kind, rows = v.targets([[1.0], [2.0]], 2, fg.losses.MSE(), 1, np.float32)
    assert kind == "rows" and rows.dtype == np.float32
    assert v.float_dtype("float64") == np.float64
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'float16'"):
        v.float_dtype("float16")


def test_masked_targets_weights_and_metric_inputs_are_read_as_their_data_as_x_is():
    # a masked y stayed masked through the checks: evaluate's loss counted the masked labels and
    # its accuracy left them out, an MSE target failed with NumPy's "non-broadcastable output
    # operand", and the metrics differed from scikit-learn's, which read the data
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    masked = np.ma.masked_array([0, 1, 2, 1, 0, 2], mask=[0, 0, 0, 1, 1, 0])
    model = fg.Sequential([fg.Dense(3, 3, activation="identity")], seed=0)
    assert (model.evaluate(x, masked, "softmax_cross_entropy", ["accuracy"], sample_weight=np.ma.masked_array(
        np.ones(6), mask=[1, 0, 0, 0, 0, 0])) == model.evaluate(x, masked.data, "softmax_cross_entropy", ["accuracy"]))
    regression = fg.Sequential([fg.Dense(3, 1, activation="identity")], seed=0)
    y = np.ma.masked_array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], mask=[0, 0, 0, 1, 0, 0])
    assert regression.evaluate(x, y, "mse", ["r2"]) == regression.evaluate(x, y.data, "mse", ["r2"])
    pred = np.array([1.0, 2.0, 3.0, 0.0, 5.0, 7.0])
    assert fg.metrics.r2_score(y, pred) == pytest.approx(sklearn_metrics.r2_score(y, pred), rel=1e-12)
    assert fg.metrics.accuracy(masked, masked.data[::-1]) == sklearn_metrics.accuracy_score(masked.data,
                                                                                            masked.data[::-1])


def test_bool_options_are_met_by_bools_only():
    options = ("epoch", "once", False, True, None)
    assert v.choice("shuffle", np.False_, options) is False
    assert v.choice("shuffle", np.True_, options) is True
    assert v.choice("reorthogonalize", "auto", ("auto", True, False)) == "auto"
    for bad in (0, 1, 0.0):
        with pytest.raises(TypeError, match=r"shuffle must be 'epoch', 'once', False, True or None, got .* \("):
            v.choice("shuffle", bad, options)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got True"):
        v.choice("mode", True, ("min", "max"))
    with pytest.raises(TypeError, match="n must be 1 or 2, got True"):
        v.choice("n", True, (1, 2))


def _fit_params(shuffle):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((24, 3)), rng.standard_normal((24, 1))
    m = fg.Sequential([fg.Dense(3, 1, activation="identity")], seed=0)
    h = m.fit(X, y, loss="mse", optimizer="sgd", epochs=2, batch_size=5, shuffle=shuffle, seed=7, progress=False)
    return m.params.copy(), h.params["shuffle"]


def test_shuffle_takes_numpy_bools_as_bools_and_refuses_integers():
    off, recorded = _fit_params(False)
    off_np, recorded_np = _fit_params(np.False_)
    assert np.array_equal(off_np, off) and recorded_np is False and recorded is False
    on, _ = _fit_params("epoch")
    assert np.array_equal(_fit_params(np.True_)[0], on) and not np.array_equal(on, off)
    for bad in (0, 1):
        with pytest.raises(TypeError, match=f"shuffle must be .*got {bad} \\(int\\)"):
            _fit_params(bad)
    m = fg.Sequential([fg.Dense(3, 1, activation="identity")], seed=0)
    with pytest.raises(TypeError, match="shuffle must be"):
        fg.training.partial_fit(m, np.ones((4, 3)), np.ones((4, 1)), loss="mse", optimizer="sgd", shuffle=0)


@pytest.mark.parametrize("name,call", [
    ("restore_best", lambda b: fg.EarlyStopping(restore_best=b)),
    ("save_best_only", lambda b: fg.training.callbacks.ModelCheckpoint("m.npz", save_best_only=b)),
    ("append", lambda b: fg.training.callbacks.CSVLogger("log.csv", append=b)),
    ("normalize", lambda b: fg.metrics.accuracy([0, 1], [0, 1], normalize=b)),
    ("normalize", lambda b: fg.metrics.zero_one_loss([0, 1], [0, 1], normalize=b)),
    ("relative", lambda b: fg.check_grad(lambda x: x @ x, lambda x: 2 * x, [1.0], relative=b)),
    ("vectorized", lambda b: fg.minimize(lambda x: x @ x, [1.0], vectorized=b)),
    ("keep_trajectory", lambda b: fg.minimize(lambda x: x @ x, [1.0], keep_trajectory=b)),
    ("stationary", lambda b: fg.minimize(lambda x: x @ x, [1.0], stationary=b)),
    ("reorthogonalize", lambda b: fg.NewtonCG(reorthogonalize=b)),
    ("exclude_bias", lambda b: fg.optim.AdamW().bind(fg.Sequential([fg.Dense(2, 1)]), exclude_bias=b)),
    ("error_if_nonfinite", lambda b: fg.optim.clip_grad_norm(np.ones(3), 1.0, error_if_nonfinite=b)),
    ("return_grad", lambda b: fg.ops.mse_loss(np.ones((2, 1)), np.ones((2, 1)), return_grad=b)),
    ("progress", lambda b: fg.Sequential([fg.Dense(2, 1, activation="identity")]).fit(
        np.ones((4, 2)), np.ones((4, 1)), loss="mse", optimizer="sgd", epochs=1, progress=b)),
])
def test_every_bool_argument_refuses_integers(name, call):
    for bad in (0, 1):
        with pytest.raises(TypeError, match=f"{name} must be .*got {bad!r} \\(int\\)"):
            call(bad)
    with pytest.raises(ValueError, match=f"{name} must be .*got 'yes'"):
        call("yes")


def _stepped_states():
    """(object, a fresh twin, its state_dict) for each kind of object with load_state_dict, after
    a few steps so every field is filled."""
    model = fg.Sequential([fg.Dense(3, 2, activation="identity")], dtype="float64", seed=0)
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    adam = fg.optim.Adam()
    plateau = fg.optim.schedules.ReduceLROnPlateau(adam)
    model.fit(X, y, loss="cross_entropy", optimizer=adam, epochs=2, progress=False)
    plateau.step(0.5)
    out = [(adam, fg.optim.Adam()), (plateau, fg.optim.schedules.ReduceLROnPlateau(fg.optim.Adam())),
           (fg.optim.schedules.StepDecay(fg.optim.SGD(), step_size=2),
            fg.optim.schedules.StepDecay(fg.optim.SGD(), step_size=2))]
    for make in (fg.LBFGS, fg.NewtonCG):
        opt, x = make(), np.array([1.0, 2.0])
        for _ in range(2):
            opt.step(lambda p: (float(p @ p), 2 * p), x)
        out.append((opt, make()))
    return [(a, b, a.state_dict()) for a, b in out]


def test_load_state_dict_refuses_what_state_dict_does_not_return():
    for _, fresh, state in _stepped_states():
        fresh.load_state_dict(state)
        for bad in (None, [], "state"):
            with pytest.raises(TypeError, match="must be a dict .*got"):
                fresh.load_state_dict(bad)
        with pytest.raises(ValueError, match="lacks the key"):
            fresh.load_state_dict({})


@pytest.mark.parametrize("key,value,exc,message", [
    ("base_lr", float("nan"), ValueError, r"state\['base_lr'\] must be a finite number >= 0"),
    ("last_step", -1, ValueError, r"state\['last_step'\] must be an integer >= 0"),
    ("best", float("nan"), ValueError, r"state\['best'\] must be a number"),
    ("num_bad", "2", TypeError, r"state\['num_bad'\] must be an integer"),
    ("n_iter", -3, ValueError, r"state\['n_iter'\] must be an integer (>= 0|in \[0, )"),
    ("x", np.ones(5), ValueError, r"state\['(x|grad)'\] must have shape"),
    ("x", np.array(["a", "b"]), TypeError, r"state\['x'\] must hold real numbers"),
    ("f", float("nan"), ValueError, r"state\['f'\] must be a finite number"),
])
def test_load_state_dict_checks_each_field(key, value, exc, message):
    checked = 0
    for _, fresh, state in _stepped_states():
        if key not in state or (key in ("x", "f") and state["x"] is None):
            continue
        with pytest.raises(exc, match=message):
            fresh.load_state_dict({**state, key: value})
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("make", [lambda m: fg.EarlyStopping(monitor=m),
                                  lambda m: fg.training.callbacks.ModelCheckpoint("m.npz", monitor=m)])
def test_monitor_is_a_name(make):
    with pytest.raises(TypeError, match="monitor must be the name of a logged value .*got 3 \\(int\\)"):
        make(3)


@pytest.mark.parametrize("path", ["run-{epoch", "run-{step}.npz", "run-{0}.npz"])
def test_checkpoint_path_template_is_checked_when_made(path):
    with pytest.raises(ValueError, match="path may hold the field {epoch} and no other"):
        fg.training.callbacks.ModelCheckpoint(path)


def test_history_from_dict_wants_what_to_dict_gives():
    h = fg.History.from_dict(fg.History.from_dict({"epochs": [0], "history": {"loss": [1.0]}}).to_dict())
    assert h.history["loss"] == [1.0]
    with pytest.raises(TypeError, match="d must be a dict"):
        fg.History.from_dict(3)
    with pytest.raises(ValueError, match="d lacks the key\\(s\\) 'epochs'"):
        fg.History.from_dict({"history": {}})


def test_train_test_split_bad_input():
    X_train, X_test, y_train, y_test = fg.datasets.train_test_split(np.arange(8).reshape(4, 2), [0, 1, 0, 1], seed=0)
    assert X_train.shape == (3, 2) and X_test.shape == (1, 2) and y_train.shape == (3,)
    with pytest.raises(ValueError, match=r"arrays\[1\] must have a first dimension of samples, got array of dtype"):
        fg.datasets.train_test_split(np.ones(4), 3)
    with pytest.raises(ValueError, match="seed must be an integer >= 0 or None, got -1"):
        fg.datasets.train_test_split(np.ones(4), seed=-1)
    # ragged rows raised NumPy's "setting an array element with a sequence", naming no argument
    with pytest.raises(ValueError, match=r"arrays\[1\] is not an array of samples: setting an array element"):
        fg.datasets.train_test_split(np.ones(2), [[1, 2], [3]])


def test_train_test_split_splits_sparse_rows_as_dense_ones():
    # a sparse X (which fit takes) was refused as "an array of dtype object and shape ()"
    sparse = pytest.importorskip("scipy.sparse")
    dense = np.arange(24.0).reshape(8, 3) * (np.arange(24).reshape(8, 3) % 3 == 0)
    y = np.arange(8)
    for make in (sparse.csr_matrix, sparse.csc_array, sparse.coo_matrix):
        x_train, x_test, y_train, y_test = fg.datasets.train_test_split(make(dense), y, seed=3)
        d_train, d_test, _, _ = fg.datasets.train_test_split(dense, y, seed=3)
        assert sparse.issparse(x_train) and x_train.format == "csr"
        np.testing.assert_array_equal(x_train.toarray(), d_train)
        np.testing.assert_array_equal(x_test.toarray(), d_test)
        np.testing.assert_array_equal(x_train.toarray()[:, 0], 3 * y_train)  # the rows stay with their labels
    with pytest.raises(ValueError, match=r"arrays\[1\] has 7 rows, arrays\[0\] has 8"):
        fg.datasets.train_test_split(sparse.csr_matrix(dense), y[:7])


PAST_FLOAT64 = 10**400  # a Python integer: float() raises OverflowError for it


def test_an_integer_past_float64_is_named_where_a_real_number_is_expected():
    # float() of it raised OverflowError 'int too large to convert to float', naming nothing
    for make, name in [(lambda r: fg.optim.SGD(lr=r), "lr"), (lambda r: fg.optim.Adam(eps=r), "eps"),
                       (lambda r: fg.losses.Huber(delta=r), "delta"), (lambda r: fg.EarlyStopping(min_delta=r),
                                                                        "min_delta"),
                       (lambda r: fg.clip_grad_norm(np.ones(3), r), "max_norm"),
                       (lambda r: fg.Dense(3, 4, bias_init=r), "bias_init"),
                       (lambda r: fg.minimize(lambda x: float(x @ x), np.ones(2), tol=r), "tol")]:
        for value in (PAST_FLOAT64, -PAST_FLOAT64):
            with pytest.raises(ValueError, match=f"{name} must be .*got an integer of 1329 bits"):
                make(value)
    # and an integer too long to print (more than 4300 digits) is described by its size
    with pytest.raises(ValueError, match=r"epochs must be an integer in \[0, 5\], got an integer of 16610 bits"):
        v.integer("epochs", 10**5000, 0, maximum=5)


def test_an_integer_past_float64_is_named_by_the_schedules_and_the_kernels():
    # float() of it raised OverflowError 'int too large to convert to float', naming nothing
    opt = fg.optim.SGD(lr=0.1)
    for make, message in [
        (lambda r: fg.schedules.InverseTimeDecay(opt, 0.5, decay_steps=r), r"decay_steps must be an integer in \[1, "),
        (lambda r: fg.schedules.CosineDecay(opt, total_steps=r), r"total_steps must be an integer in \[1, "),
        (lambda r: fg.ops.matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((2, 2)), beta=r),
         "beta must be a finite number, "),
        (lambda r: fg.ops.inplace_sgd_step(np.ones(3), np.ones(3), r), "lr must be a finite number, "),
        (lambda r: fg.ops.dense_forward(np.ones((2, 2)), np.ones((2, 2)), activation="leaky_relu", alpha=r),
         r"alpha must be in \[0, 1\), "),
    ]:
        with pytest.raises(ValueError, match=message + ".*got an integer of 1329 bits"):
            make(PAST_FLOAT64)
    assert opt.lr == 0.1


def test_an_integer_past_float64_in_a_restored_state_or_history_is_infinite():
    # as float arithmetic rounds it (and as ReduceLROnPlateau.step takes such a metric), where
    # float() raised a bare OverflowError
    plateau = fg.schedules.ReduceLROnPlateau(fg.optim.SGD(lr=0.1))
    plateau.load_state_dict({**plateau.state_dict(), "best": PAST_FLOAT64})
    assert plateau.best == math.inf
    history = fg.History.from_dict({"epochs": [0, 1], "history": {"loss": [PAST_FLOAT64, -PAST_FLOAT64]}})
    assert history.history["loss"] == [math.inf, -math.inf]
    assert fg.schedules.InverseTimeDecay(fg.optim.SGD(lr=0.1), 0.5).lr_at(PAST_FLOAT64) == 0.0


def test_a_value_whose_repr_fails_or_runs_deep_is_described_by_its_type():
    # repr() of a list nested 5000 deep raised RecursionError in place of the argument's error
    deep = []
    for _ in range(5000):
        deep = [deep]

    class Unprintable:
        def __repr__(self):
            raise RuntimeError("no repr")

    for make, message in [
        (lambda d: fg.optim.SGD(lr=d), r"lr must be a finite number >= 0, got a list"),
        (lambda d: fg.optim.from_config({**fg.optim.Adam().get_config(), "betas": d}),
         r"betas must be a pair \(beta1, beta2\), got a list"),
        (lambda d: fg.Sequential.from_config({"dtype": d, "layers": [fg.Dense(2, 3).get_config()]}),
         "dtype must be 'float32' or 'float64', got a list"),
        (lambda d: fg.Dense(2, 3, activation=d), r"activation must be one of .*, got a list"),
        (lambda d: fg.losses.from_config({"name": d}), "unknown loss a list"),
    ]:
        with pytest.raises(ValueError, match=message):
            make(deep)
    with pytest.raises(TypeError, match=r"lr must be a finite number >= 0, got <.*Unprintable instance at 0x"):
        fg.optim.SGD(lr=Unprintable())
    # what is short is shown as repr shows it
    assert v.shown([[1, 2], "ab"]) == "[[1, 2], 'ab'] (list)" and v.shown("x" * 81) == "a str"


@pytest.mark.parametrize("template, message", [
    ("ck{epoch[0]}", r"a field \{epoch\[0\]\}"),
    ("ck{epoch.real}", r"a field \{epoch.real\}"),
    ("ck{0}", r"a field \{0\}"),
    ("ck{epoch:>30000000000}", r"the format spec '>30000000000' \(nested fields and widths past 255 are refused\)"),
    ("ck{epoch:{epoch}0000000000}", r"the format spec '\{epoch\}0000000000'"),
    ("ck{epoch:s}", "Unknown format code 's'"),
    ("ck{epoch", "expected '}' before end of string"),
])
def test_model_checkpoint_refuses_a_template_it_could_not_format(template, message):
    # {epoch[0]} raised a bare TypeError, {epoch.x} AttributeError, a width of 3e10 MemoryError
    with pytest.raises(ValueError, match=r"path may hold the field \{epoch\} and no other .*: " + message):
        fg.callbacks.ModelCheckpoint(template)


def test_model_checkpoint_takes_the_epoch_with_a_format_spec():
    assert fg.callbacks.ModelCheckpoint("ck{epoch:03d}-{{x}}-{epoch:>255}").path == "ck{epoch:03d}-{{x}}-{epoch:>255}"


def test_param_groups_and_paths_are_named():
    # "'float' object is not iterable", and the system's "embedded null byte"
    with pytest.raises(TypeError, match=r"param_groups must be a list of \(start, stop, dict\) or None, got 1.5"):
        fg.optim.from_config({**fg.optim.SGD(lr=0.1).get_config(), "param_groups": 1.5})
    model = fg.Sequential([fg.Dense(2, 2)], seed=0)
    for call in (model.save, fg.load, fg.load_checkpoint, fg.callbacks.ModelCheckpoint, fg.callbacks.CSVLogger):
        with pytest.raises(ValueError, match=r"path must not contain a NUL character .*, got '/tmp/a\\x00b'"):
            call("/tmp/a\0b")


def test_a_returned_integer_past_float64_is_infinite():
    assert v.returned_real("fun", PAST_FLOAT64) == math.inf and v.returned_real("fun", -PAST_FLOAT64) == -math.inf
    with pytest.raises(ValueError, match="fun returned a non-finite value inf"):
        fg.minimize(lambda x: PAST_FLOAT64, np.ones(2))
    res = fg.minimize(lambda x: PAST_FLOAT64 if x[0] > 2 else float(-x[0]), np.zeros(1), nonfinite="stop")
    assert math.isfinite(res.fun) and res.x[0] <= 2
    plateau = fg.optim.schedules.ReduceLROnPlateau(fg.optim.SGD(lr=0.1))
    plateau.step(1.0)
    plateau.step(PAST_FLOAT64)  # a worse loss than any float, not an OverflowError
    assert plateau.best == 1.0 and plateau.num_bad == 1


def test_a_metric_returns_a_real_number_by_the_rule_for_returned_values():
    model = fg.Sequential([fg.Dense(3, 2, activation="identity")], dtype="float64", seed=0)
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    out = model.evaluate(X, y, loss="softmax_cross_entropy", metrics=[lambda t, p: PAST_FLOAT64])
    assert out["<lambda>"] == math.inf
    for value, kind in (("0.5", "str"), (True, "bool")):  # float() parsed "0.5" and read True as 1.0
        def wrong(t, p, value=value):
            return value
        with pytest.raises(TypeError, match=f"metrics: 'wrong' must return a real number, got {kind}"):
            model.evaluate(X, y, loss="softmax_cross_entropy", metrics=[wrong])


def test_lbfgs_counts_past_the_c_drivers_int64_are_named():
    # they raised OverflowError 'Python int too large to convert to C long' at the first step
    with pytest.raises(ValueError, match=r"max_ls must be an integer in \[1, 9223372036854775807\], got 92233720"):
        fg.LBFGS(max_ls=2**63)
    with pytest.raises(ValueError, match="history_size=9223372036854775808: .* more than this machine's memory"):
        fg.minimize(lambda x: (float(x @ x), 2 * x), np.ones(2), jac=True, optimizer=fg.LBFGS(history_size=2**63))


@pytest.mark.parametrize("make", [fg.LBFGS, fg.optim.Adam])
def test_a_restored_step_count_leaves_room_to_count_on(make):
    key = "n_iter" if make is fg.LBFGS else "step"
    opt, x = make(), np.array([1.0, 2.0])
    closure = lambda p: (float(p @ p), 2 * p)  # noqa: E731
    step = (lambda: opt.step(closure, x)) if make is fg.LBFGS else (lambda: opt.step(x, 2 * x))
    step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match=rf"\['{key}'\] must be an integer in \[0, 4611686018427387904\], "
                                         "got 9223372036854775807"):
        make().load_state_dict({**state, key: 2**63 - 1})  # its next step overflowed int64 in the kernels
    fresh = make()
    fresh.load_state_dict({**state, key: v.MAX_RESTORED_COUNT})
    opt = fresh
    for _ in range(2):
        step()
    assert np.all(np.isfinite(x)) and opt.state_dict()[key] >= v.MAX_RESTORED_COUNT
