"""What a careless user can do to a model, refused with an error naming the argument: sizes no
process can hold, a layer changed after a model laid out its buffers for it, an optimizer that
train_step cannot keep state in, pandas' nullable columns."""

import functools
import warnings

import numpy as np
import pytest

import fastgd as fg


def small_model(dtype="float64"):
    return fg.Sequential([fg.Dense(4, 8), fg.Dense(8, 3, activation="identity")], dtype=dtype, seed=0)


@pytest.mark.parametrize("args, name", [((10**12, 10), "in_features"), ((10, 10**12), "out_features"),
                                        ((10**10, 10**10), "in_features"),
                                        ((fg.nn.layers.MAX_WIDTH, fg.nn.layers.MAX_WIDTH), "in_features x out_features")])
def test_dense_refuses_sizes_past_the_limits_by_name(args, name):
    with pytest.raises(ValueError, match=name):
        fg.Dense(*args)


def test_sequential_refuses_more_parameters_than_a_model_may_hold():
    wide = fg.nn.layers.MAX_WIDTH
    layers = [fg.Dense(wide, 200), fg.Dense(200, wide)]  # each layer fits, together they do not
    with pytest.raises(ValueError, match="layers must hold at most"):
        fg.Sequential(layers)


@pytest.mark.parametrize("attribute, value", [("in_features", 100), ("out_features", 1), ("activation", "tanh"),
                                              ("negative_slope", 0.5)])
def test_a_layer_keeps_the_layout_its_model_was_built_for(attribute, value):
    m = small_model()
    layer = m.layers[0] if attribute == "in_features" else m.layers[-1]
    with pytest.raises(AttributeError, match=f"{attribute} cannot change once the layer belongs to a Sequential"):
        setattr(layer, attribute, value)
    free = fg.Dense(4, 8)
    setattr(free, attribute, value)  # a layer of no model may still change
    assert getattr(free, attribute) == value


def test_inputs_and_targets_are_checked_against_the_engine_not_a_changed_layers_list():
    # The list of layers is a plain list: swapping a layer in it used to move the feature and
    # output counts that x and y were checked against, and the kernels then read past x or y.
    m = small_model()
    x = np.random.default_rng(0).normal(size=(20, 4))
    before = m.predict(x)
    m.layers[0] = fg.Dense(1, 8)
    m.layers[-1] = fg.Dense(8, 1)
    with pytest.raises(ValueError, match="the model expects 4"):
        m.predict(x[:, :1])
    with pytest.raises(ValueError, match="target must have shape"):
        m.train_step(x, np.ones((20, 1)), "mse", fg.optim.SGD(lr=0.1))
    with pytest.raises(ValueError, match="target must have shape"):
        m.loss_and_grad(x, np.ones((20, 1)), "mse")
    np.testing.assert_array_equal(m.predict(x), before)
    assert (m.n_inputs, m.n_outputs) == (4, 3)


@pytest.mark.parametrize("optimizer", ["sgd", fg.optim.Adam, 5, None, fg.LBFGS()])
def test_train_step_wants_an_optimizer_instance(optimizer):
    m = small_model()
    x, y = np.ones((6, 4)), np.arange(6) % 3
    with pytest.raises(TypeError, match="optimizer must be a fastgd.optim optimizer instance"):
        m.train_step(x, y, "softmax_cross_entropy", optimizer)


def test_dataframes_with_nullable_columns_are_read_as_numbers():
    pd = pytest.importorskip("pandas")
    m = small_model()
    x = np.arange(12.0).reshape(3, 4)
    frame = pd.DataFrame(x).astype("Int64")
    np.testing.assert_array_equal(m.predict(frame), m.predict(x))
    frame.iloc[1, 2] = pd.NA
    with pytest.raises(ValueError, match="x contains NaN"):
        m.predict(frame)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        m.predict(pd.DataFrame({"a": ["u", "v"], "b": [1, 2], "c": [1, 2], "d": [1, 2]}))


def test_the_engine_checks_dense_input_itself():
    # fastgd.sklearn hands validated X straight to the model, validated against n_features_in_,
    # an attribute user code can set: the kernels used to read past a narrower X.
    sklearn = pytest.importorskip("sklearn")  # noqa: F841
    from fastgd.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), np.arange(30) % 3
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3).fit(X, y)
    clf.n_features_in_ = 2
    with pytest.raises(ValueError, match="x must be a C-contiguous float64 array with 4 columns"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="hidden_layer_sizes must be at most"):
        MLPClassifier(hidden_layer_sizes=(10**12,)).fit(X, y)


def test_optimizer_seeds_and_step_counts_are_in_range():
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        fg.optim.SGD(lr=0.1, seed=-1)  # used to wrap to 2**64 - 1
    opt = fg.optim.Adam(lr=0.1)
    opt.step(np.ones(4), np.ones(4))
    state = opt.state_dict()
    state["step"] = 2**80  # loaded, then an OverflowError at the next step
    with pytest.raises(ValueError, match=r"state_dict\['step'\] must be an integer in \[0, "):
        fg.optim.Adam(lr=0.1).load_state_dict(state)


def test_an_lbfgs_history_past_memory_is_refused_by_name():
    m = small_model()
    x, y = np.ones((6, 4)), np.arange(6) % 3
    with pytest.raises(ValueError, match="history_size=1000000000000: the history"):
        m.fit(x, y, loss="softmax_cross_entropy", optimizer=fg.LBFGS(history_size=10**12), batch_size=None,
              epochs=1, progress=False)


def test_a_metric_that_returns_no_number_is_named():
    m = small_model()
    x, y = np.ones((6, 4)), np.arange(6) % 3

    def label(y_true, y_pred):
        return "fine"

    with pytest.raises(TypeError, match="metrics: 'label' must return a real number, got str"):
        m.evaluate(x, y, loss="softmax_cross_entropy", metrics=[label])


def test_bind_wants_a_model():
    with pytest.raises(TypeError, match="model must be a fastgd.Sequential, got int"):
        fg.optim.Adam(lr=0.1).bind(5)  # raised AttributeError


def test_estimator_thread_counts_past_the_limit_name_n_threads():
    pytest.importorskip("sklearn")
    from fastgd.sklearn import MLPRegressor

    with pytest.raises(ValueError, match="'n_threads' parameter"):  # named the internal 'n'
        MLPRegressor(n_threads=10**6, max_iter=2).fit(np.ones((6, 2)), np.ones(6))
    # predict does not validate the parameters: set after the fit, they are named there too
    est = MLPRegressor(max_iter=2).fit(np.ones((6, 2)), np.ones(6))
    for bad, exc in ((0, ValueError), (5000, ValueError), (1.5, TypeError)):
        est.set_params(n_threads=bad)
        with pytest.raises(exc, match=r"n_threads must be an integer in \[1, 4096\], got "):
            est.predict(np.ones((2, 2)))


def test_cross_entropy_targets_are_probabilities():
    pred = np.zeros((2, 3))
    soft = np.array([[0.5, 0.5, 0.0], [1.2, -0.2, 0.0]])
    with pytest.raises(ValueError, match=r"target of the softmax cross-entropy must be in \[0, 1\] "
                                         r"\(a probability\), got values in \[-0.2, 1.2\]"):
        fg.losses.SoftmaxCrossEntropy()(pred, soft)
    ok = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert np.isfinite(fg.losses.SoftmaxCrossEntropy()(pred, ok))
    with pytest.raises(ValueError, match=r"target of the Poisson loss must be >= 0"):
        fg.losses.get("poisson")(pred, -soft)


def test_history_from_dict_checks_its_columns():
    h = fg.History.from_dict({"epochs": [0, 1], "history": {"loss": [1.0, 0.5]}})
    assert h.history == {"loss": [1.0, 0.5]}
    with pytest.raises(ValueError, match=r"lists of 2 values \(one per epoch\), got 'loss': list of length 1"):
        fg.History.from_dict({"epochs": [0, 1], "history": {"loss": [1.0]}})
    with pytest.raises(TypeError, match=r"d\['history'\]\['loss'\] must hold numbers"):
        fg.History.from_dict({"epochs": [0], "history": {"loss": ["x"]}})
    with pytest.raises(TypeError, match=r"d\['epochs'\] must be a list"):
        fg.History.from_dict({"epochs": 3, "history": {}})


def test_history_from_dict_checks_its_epochs_follow_each_other():
    # fit numbers its epochs one after another from initial_epoch; a checkpoint's History with
    # epochs [5, 1] resumed at epoch 2 (Checkpoint.epoch), another run's shuffles, in silence
    for epochs, message in (([5, 1], r"d\['epochs'\] must count up one by one .*got 1 after 5"),
                            ([0, 0], r"d\['epochs'\] must count up one by one .*got 0 after 0"),
                            ([0, 2], r"d\['epochs'\] must count up one by one .*got 2 after 0"),
                            ([2**62 + 1], r"d\['epochs'\] entries must be an integer in \[0, 4611686018427387904\]")):
        with pytest.raises(ValueError, match=message):
            fg.History.from_dict({"epochs": epochs, "history": {"loss": [1.0] * len(epochs)}})
    assert fg.History.from_dict({"epochs": [3, 4], "history": {"loss": [1.0, 0.5]}}).epochs == [3, 4]


def test_history_from_dict_checks_its_curvature_params_and_reason():
    # a checkpoint's History may hold them: curvature [1] raised AttributeError, a short column
    # loaded (and broke History.plot later), "1.5" or True passed as a step; params [1, 2] raised
    # dict()'s unnamed TypeError and a stopped_reason of any type loaded
    base = {"epochs": [0], "history": {"loss": [1.0]}}
    for key, value, exc, message in (
            ("curvature", [1], TypeError, r"d\['curvature'\] must be a dict of columns, got list"),
            ("curvature", {"step": [1, 2], "loss": [1.0]}, ValueError, r"lists of 2 values \(one per probe\), got 'loss'"),
            ("curvature", {"step": ["1"]}, TypeError, r"d\['curvature'\]\['step'\] must hold numbers"),
            ("curvature", {"step": [True]}, TypeError, r"d\['curvature'\]\['step'\] must hold numbers"),
            ("curvature", {"step": [0], "epoch": [0.5]}, ValueError, r"\['epoch'\] must hold integers >= 0, got 0.5"),
            ("params", [1, 2], TypeError, r"d\['params'\] must be a dict of fit's arguments, got list"),
            ("stopped_reason", {"a": 1}, TypeError, r"d\['stopped_reason'\] must be a str or None, got dict")):
        with pytest.raises(exc, match=message):
            fg.History.from_dict({**base, key: value})
    h = fg.History.from_dict({**base, "curvature": {"step": [0, 4], "epoch": [0, 1], "loss": [1.0, float("nan")]}})
    assert h.curvature == {"step": [0, 4], "epoch": [0, 1], "loss": [1.0, h.curvature["loss"][1]]}


def test_n_restarts_is_bounded():
    X = np.zeros((4, 2))
    y = np.array([0, 1, 0, 1])
    model = fg.Sequential([fg.Dense(2, 2, activation="identity")])
    with pytest.raises(ValueError, match=r"n_restarts must be an integer in \[1, 1000000\], got 1180591620717411303424"):
        model.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=0.1), epochs=1,
                  n_restarts=2**70)


def test_sizes_past_memory_name_their_argument():
    with pytest.raises(ValueError, match=r"n_samples x n_features: an array of shape \(10000000000000, 2\) "
                                         r"\(160,000,000,000,000 bytes\) is more than this process can allocate"):
        fg.datasets.make_spirals(10**13)
    with pytest.raises(ValueError, match=r"^d: an array of shape \(30, 1000000000000\)"):
        fg.curvature.lanczos_extremes(lambda v: v, 10**12)
    with pytest.raises(ValueError, match=r"^n_samples x n_features: an array of shape \(3000, 1000000000000\)"):
        fg.datasets.make_spirals(n_features=10**12)  # the error named n_samples
    X, y = fg.datasets.make_spirals(50, n_features=3, seed=0)
    assert X.shape == (50, 3) and np.isfinite(X).all() and set(y.tolist()) == {0, 1, 2}


def test_make_spirals_checks_turns_dtype_and_seed():
    # n_turns NaN filled X with NaN and 1e308 overflowed the angle (after NumPy's warning), an
    # integer or string dtype truncated or printed every coordinate, seed=-1 raised NumPy's
    # "expected non-negative integer"
    for bad in (float("nan"), 1e308, -1e308):
        with pytest.raises(ValueError, match=r"n_turns must be in \[-1e\+06, 1e\+06\]"):
            fg.datasets.make_spirals(10, n_turns=bad)
    for turns in (0.0, -1.5):  # straight arms, arms wound the other way
        assert np.isfinite(fg.datasets.make_spirals(10, n_turns=turns, seed=0)[0]).all()
    for bad in (np.int8, "U5", "float16"):
        with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
            fg.datasets.make_spirals(10, dtype=bad)
    with pytest.raises(ValueError, match="seed must be an integer >= 0 or None, got -1"):
        fg.datasets.make_spirals(10, seed=-1)
    X, _ = fg.datasets.make_spirals(10, n_turns=3, dtype="float64", seed=0)
    assert X.dtype == np.float64 and np.isfinite(X).all()


def test_make_spirals_noise_keeps_the_coordinates_finite():
    # noise=1e37 (or 1e308) drew coordinates past float32's range: X held infinities, silently
    for bad in (1e37, 1e308):
        with pytest.raises(ValueError, match=r"noise must be in \[0, 1e\+06\]"):
            fg.datasets.make_spirals(1000, noise=bad, seed=0)
    X, _ = fg.datasets.make_spirals(1000, noise=1e6, seed=0)
    assert np.isfinite(X).all()


def test_make_spirals_classes_are_as_many_as_a_model_may_output():
    # 10**30 classes raised NumPy's bare "Python int too large to convert to C long"
    width = fg.nn.layers.MAX_WIDTH
    for bad in (width + 1, 10**30):
        with pytest.raises(ValueError, match=rf"n_classes must be an integer in \[2, {width}\], got {bad}"):
            fg.datasets.make_spirals(10, n_classes=bad)
    _, y = fg.datasets.make_spirals(10, n_classes=width, seed=0)
    assert len(set(y.tolist())) == 10


def _misaligned(a):
    """A copy of `a` whose data starts one byte past an element boundary."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ops_read_big_endian_and_misaligned_operands_by_value(dtype):
    # A big-endian float has the type number of the native one: the GEMM bindings read its
    # bytes as native floats (silently wrong products), and a view one byte off its elements'
    # alignment reached C loads that are undefined behaviour. Both are copied now, as
    # non-contiguous operands are.
    rng = np.random.default_rng(0)
    a, b, bias = (rng.normal(size=s).astype(dtype) for s in ((5, 4), (4, 3), (3,)))
    expected = np.maximum(a @ b + bias, 0)
    tol = dict(rtol=1e-5, atol=1e-6)
    for odd in (lambda v: v.astype(v.dtype.newbyteorder(">")), _misaligned):
        np.testing.assert_allclose(fg.ops.matmul(odd(a), odd(b)), a @ b, **tol)
        np.testing.assert_allclose(fg.ops.dense_forward(odd(a), odd(b), odd(bias)), expected, **tol)
        gx, dW, db = fg.ops.dense_backward(odd(np.ones((5, 3), dtype)), odd(a), odd(b), odd(expected))
        gx0, dW0, db0 = fg.ops.dense_backward(np.ones((5, 3), dtype), a, b, expected)
        for got, want in ((gx, gx0), (dW, dW0), (db, db0)):
            np.testing.assert_allclose(got, want, **tol)
        pred, target = a[:, :3], a[:, 1:]
        assert fg.ops.mse_loss(odd(pred), odd(target)) == pytest.approx(fg.ops.mse_loss(pred, target), rel=1e-6)
    for odd, what in ((lambda v: v.astype(v.dtype.newbyteorder(">")), ">"), (_misaligned, "<")):
        with pytest.raises(ValueError, match=rf"out must be aligned .* got dtype {what}f"):
            fg.ops.matmul(a, b, out=odd(np.zeros((5, 3), dtype)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_models_copy_misaligned_inputs_labels_and_weights(dtype):
    # np.ascontiguousarray keeps a misaligned view: float64 x reached a check naming an
    # internal argument 'a', and labels and sample weights reached the C kernels' int64 and
    # float loads off alignment (undefined behaviour, caught by UBSan).
    rng = np.random.default_rng(0)
    x, y, sw = rng.normal(size=(12, 4)).astype(dtype), np.arange(12) % 3, np.linspace(0.5, 1, 12)
    expected = small_model(dtype).predict(x)
    np.testing.assert_array_equal(small_model(dtype).predict(_misaligned(x)), expected)
    kwargs = dict(loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=0.1), epochs=1, batch_size=4,
                  shuffle=False, progress=False)
    ref = small_model(dtype)
    ref.fit(x, y, sample_weight=sw, **kwargs)
    got = small_model(dtype)
    got.fit(_misaligned(x), _misaligned(y), sample_weight=_misaligned(sw), **kwargs)
    np.testing.assert_array_equal(got.params, ref.params)
    loss = fg.losses.SoftmaxCrossEntropy(class_weight=_misaligned(np.array([1.0, 2.0, 3.0])))
    assert got.evaluate(_misaligned(x), _misaligned(y), loss=loss) == got.evaluate(x, y, loss=loss)
    pytest.importorskip("scipy")
    import scipy.sparse

    sparse = scipy.sparse.csr_matrix(x)
    sparse.data = _misaligned(sparse.data)
    np.testing.assert_allclose(small_model(dtype).predict(sparse), expected, rtol=1e-6, atol=1e-6)


def test_what_a_users_function_returns_must_be_real_numbers():
    # float() parsed a string value, and NumPy parsed string products or dropped complex parts
    # with only a warning; each now raises TypeError naming what returned it.
    x0 = np.ones(3)
    with pytest.raises(TypeError, match="fun must return a real number, got str"):
        fg.minimize(lambda x: ("1.5", 2 * x), x0, jac=True)
    with pytest.raises(TypeError, match="fun must return a real number, got complex"):
        fg.minimize(lambda x: (np.complex128(1 + 1j), 2 * x), x0, jac=True)
    with pytest.raises(TypeError, match=r"fun's gradient \(jac=True\) must hold real numbers, got array of dtype complex"):
        fg.minimize(lambda x: (float(x @ x), 2 * x + 1j), x0, jac=True)
    quadratic = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    for bad in (lambda x, p: np.array(["1"] * 3), lambda x, p: p + 1j):
        with pytest.raises(TypeError, match="hessp must hold real numbers"):
            fg.minimize(quadratic, x0, jac=True, optimizer=fg.NewtonCG(), hessp=bad)
        with pytest.raises(TypeError, match="hessp must hold real numbers"):
            fg.hvp(quadratic, x0, np.ones(3), hessp=bad)
    with pytest.raises(TypeError, match="fun's gradient must hold real numbers"):
        fg.hessian(lambda x: (1.0, np.array(["2"] * 3)), x0)
    with pytest.raises(TypeError, match="jac must hold real numbers"):
        fg.check_grad(lambda x: float(x @ x), lambda x: np.array(["2"] * 3), x0)
    big_endian = fg.minimize(lambda x: (float(x @ x), (2 * x).astype(">f8")), x0, jac=True)
    assert big_endian.success and np.abs(big_endian.x).max() < 1e-6


def test_hyperparameters_set_between_steps_are_checked_or_refused():
    # opt.momentum = 0.9 made a new attribute that no update reads (silently ignored), and a
    # NewtonCG eta or radius set after construction ran unchecked (NaN eta: 1000 futile steps).
    opt = fg.optim.SGD(lr=0.1, momentum=0.5)
    opt.step(np.ones(4), np.ones(4))
    with pytest.raises(AttributeError, match="momentum is fixed when the SGD is built"):
        opt.momentum = 0.9
    with pytest.raises(AttributeError, match="betas is fixed"):
        fg.optim.Adam(lr=0.1).betas = (0.5, 0.9)
    opt.lr = 0.05
    assert opt.lr == 0.05 and opt.get_config()["momentum"] == 0.5
    ncg = fg.NewtonCG()
    for name, value, pattern in (("eta", float("nan"), r"eta must be in \(0, 0.25\), got nan"),
                                 ("max_trust_radius", -1.0, "max_trust_radius must be a finite number > 0"),
                                 ("max_cg", 0, "max_cg must be an integer >= 1 or None"),
                                 ("reorthogonalize", "yes", "reorthogonalize must be")):
        with pytest.raises(ValueError, match=pattern):
            setattr(ncg, name, value)
    ncg.eta = 0.2
    res = fg.minimize(lambda x: (float(x @ x), 2 * x), np.ones(3), jac=True, optimizer=ncg)
    assert res.success and ncg.get_config()["eta"] == 0.2


def test_sample_weights_whose_sums_leave_the_dtype_are_refused():
    # 1e308 per sample summed to infinity and 1e-320 (subnormal) made 1/sum overflow: both
    # ended in a DivergenceError that blamed the learning rate.
    x, y = np.ones((40, 4)), np.arange(40) % 3
    kwargs = dict(loss="softmax_cross_entropy", optimizer="sgd", epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"sample_weight must sum to at most 1.798e\+308 \(the largest float64\)"):
        small_model().fit(x, y, sample_weight=np.full(40, 1e308), **kwargs)
    with pytest.raises(ValueError, match=r"sample_weight must sum to 0 or at least 2.225e-308 .* a sum of 4e-319"):
        small_model().fit(x, y, sample_weight=np.full(40, 1e-320), **kwargs)
    with pytest.raises(ValueError, match=r"at least 1.175e-38 \(the smallest normal float32\)"):
        fg.ops.mse_loss(np.zeros((2, 1), np.float32), np.ones((2, 1)), sample_weight=np.array([0.0, 1e-40]))
    # one tiny weight beside others is a weight like any (scikit-learn takes it too)
    loss = fg.ops.mse_loss(np.zeros((2, 1), np.float32), np.ones((2, 1)), sample_weight=np.array([1.0, 1e-40]))
    assert np.isfinite(loss).all()
    small_model().fit(x, y, sample_weight=np.full(40, 1e300), **kwargs)  # large but summable: fine
    # positive weights that a float32 model's conversion makes 0 were refused as "all zero"
    with pytest.raises(ValueError, match=r"positive weights are 0 in float32 \(they are below its smallest number"):
        small_model("float32").fit(x, y, sample_weight=np.full(40, 1e-320), **kwargs)
    with pytest.raises(ValueError, match="must not be all zero"):
        small_model("float32").fit(x, y, sample_weight=np.zeros(40), **kwargs)


def test_a_wrong_comm_is_named_before_mpi4py_is_imported(monkeypatch):
    # fit(comm=5) imported mpi4py first: without it the error was a ModuleNotFoundError that
    # said nothing about the argument.
    import sys

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator .* got int"):
        small_model().fit(np.ones((6, 4)), np.arange(6) % 3, loss="softmax_cross_entropy", optimizer="sgd",
                          epochs=1, progress=False, comm=5)


def test_spectrum_names_n_vectors_when_its_arrays_cannot_be_had():
    x, y = np.ones((6, 4)), np.arange(6) % 3
    with pytest.raises(ValueError, match=r"^n_vectors: an array of shape \(1000000000000000, 60\)"):
        fg.curvature.spectrum(small_model(), x, y, loss="softmax_cross_entropy", n_vectors=10**15)


def test_assigned_parameters_must_be_finite_in_the_models_dtype():
    # set_weights refused NaN, but model.params = p and layer.W = w copied anything in: a NaN,
    # or 1e300 (inf in float32), made every later output NaN or inf.
    m = small_model("float32")
    before = m.params.copy()
    with pytest.raises(ValueError, match="params must be finite, got nan at flat index 3"):
        m.params = np.where(np.arange(m.n_params) == 3, np.nan, 0.0)
    with pytest.raises(ValueError, match=r"W must be finite in float32, got 1e\+300 at flat index 0, past its range"):
        m.layers[0].W = np.full((4, 8), 1e300)
    np.testing.assert_array_equal(m.params, before)
    m.layers[0].W = np.full((4, 8), 1e30)
    assert np.isfinite(m.params).all()


def test_values_past_the_models_dtype_are_named_as_such_without_numpys_warning():
    # float64 data, weights or targets past float32's range became infinity in the conversion:
    # NumPy's "overflow encountered in cast" came first (under -W error it replaced the message),
    # then "x contains NaN or infinity", "sample_weight must be finite, got inf" for a finite
    # 1e300, or, for class_weight, a sum "past the largest float64" that was not
    m = small_model("float32")
    x, y = np.ones((6, 4)), np.arange(6) % 3
    big = np.where(np.arange(6)[:, None] == 4, 1e300, x)
    fit = functools.partial(m.fit, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=0.1), epochs=1,
                            progress=False)
    past = r"must be finite in float32, got 1e\+300 at flat index {}, past its range \(at most 3.403e\+38"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in (lambda: fit(big, y), lambda: m.predict(big), lambda: m.evaluate(big, y, "softmax_cross_entropy")):
            with pytest.raises(ValueError, match="x " + past.format(16)):
                call()
        with pytest.raises(ValueError, match="sample_weight " + past.format(5)):
            fit(x, y, sample_weight=np.where(np.arange(6) == 5, 1e300, 1.0))
        with pytest.raises(ValueError, match=r"class_weight \(times sample_weight\) " + past.format(1)):
            fit(x, y, class_weight={1: 1e300})
        with pytest.raises(ValueError, match="target " + past.format(2)):
            fg.Sequential([fg.Dense(4, 2, activation=None)], seed=0).evaluate(
                x, np.where(np.arange(12).reshape(6, 2) == 2, 1e300, 0.0), "mse")
        with pytest.raises(ValueError, match=r"x contains NaN or infinity"):
            m.predict(np.where(big > 1, np.nan, big))
    assert np.isfinite(fit(x, y).history["loss"]).all()


def test_bias_init_past_the_models_dtype_is_refused_and_leaves_the_layers_free():
    # Dense(bias_init=1e300) in a float32 model initialized every bias to infinity (after NumPy's
    # overflow warning); a model refused by its initializers kept its layers, which no other
    # model could then take
    layers = [fg.Dense(4, 3, bias_init=1e300), fg.Dense(3, 2, activation=None)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"layers\[0\]\.bias_init must be finite in float32, got 1e\+300 at "
                                             r"flat index 0, past its range"):
            fg.Sequential(layers, dtype="float32")
    m = fg.Sequential(layers, dtype="float64", seed=0)
    np.testing.assert_array_equal(m.layers[0].b, np.full(3, 1e300))
    with pytest.raises(ValueError, match="bias_init must be finite in float32"):
        fg.Sequential([fg.Dense(2, 2, bias_init=-1e39, weight_init="zeros")], dtype="float32")


def test_backward_refuses_grad_out_past_the_models_dtype():
    # grad_out was checked finite before the engine converted it: 1e300 became infinity in a
    # float32 model (after NumPy's overflow warning) and every gradient came out inf or NaN
    m = small_model("float32")
    m.forward(np.ones((5, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"grad_out must be finite in float32, got 1e\+300 at flat index 0, past"):
            m.backward(np.full((5, m.n_outputs), 1e300))
        with pytest.raises(ValueError, match="grad_out must be finite, got nan at flat index 0"):
            m.backward(np.full((5, m.n_outputs), np.nan))
    assert np.isfinite(m.backward(np.full((5, m.n_outputs), 1e30))).all() and np.isfinite(m.grads).all()


def test_set_weights_refuses_weights_past_the_models_dtype():
    # set_weights checked finiteness before the cast: 1e300 became inf in a float32 model
    m = small_model("float32")
    before = m.params.copy()
    weights = m.get_weights()
    weights[2] = np.full(weights[2].shape, 1e300)
    with pytest.raises(ValueError, match=r"weights\[2\] \(W of layer 1\) must be finite real numbers in the "
                                         r"model's dtype \(float32\)"):
        m.set_weights(weights)
    np.testing.assert_array_equal(m.params, before)
    weights[2] = np.full(weights[2].shape, 1e30)
    m.set_weights(weights)
    assert np.isfinite(m.params).all()


def test_one_dense_cannot_be_two_layers_of_a_model():
    # [d, d] gave both layers one set of views: model.layers[0].W showed layer 1's weights.
    d = fg.Dense(3, 3)
    with pytest.raises(ValueError, match=r"layers\[1\] is an earlier layer of the list again"):
        fg.Sequential([d, d])


def test_evaluate_batch_size_callbacks_and_metrics_are_named_or_read_as_keras_does():
    # evaluate(batch_size=0) raised range()'s "arg 3 must not be zero", callbacks=5 and
    # metrics=5 "'int' object is not iterable"; None for either (Keras's default) was refused
    m = fg.Sequential([fg.Dense(3, 2, activation="identity")], seed=0)
    x, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
            m.evaluate(x, y, "softmax_cross_entropy", batch_size=bad)
    fit = functools.partial(m.fit, x, y, loss="softmax_cross_entropy", epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"callbacks must be a list of Callback objects, got 5 \(int\)"):
        fit(optimizer=fg.optim.SGD(lr=0.1), callbacks=5)
    with pytest.raises(TypeError, match="got one EarlyStopping: pass it in a list"):
        fit(optimizer=fg.optim.SGD(lr=0.1), callbacks=fg.EarlyStopping())
    with pytest.raises(TypeError, match="metrics must be a list of names or callables, got int"):
        fit(optimizer=fg.optim.SGD(lr=0.1), metrics=5)
    with pytest.raises(TypeError, match="metrics must be a list of names or callables, got int"):
        m.evaluate(x, y, "softmax_cross_entropy", metrics=5)
    history = fit(optimizer=fg.optim.SGD(lr=0.1), callbacks=None, metrics=None)
    assert set(history.history) >= {"loss"} and "accuracy" not in history.history
    assert set(m.evaluate(x, y, "softmax_cross_entropy", metrics=fg.metrics.accuracy)) == {"loss", "accuracy"}


def test_class_weights_past_the_models_dtype_or_weighing_nothing_are_named():
    # a float32 model turned class_weight 1e308 into infinity: evaluate returned a NaN loss and
    # fit raised a DivergenceError blaming the learning rate; class weights that give every
    # sample weight 0 raised ZeroDivisionError from evaluate and fit, and H·v divided by 0; in
    # float64 two such weights summed to infinity and the loss came out as 0 or NaN
    x, y = np.ones((4, 4)), np.array([0, 1, 1, 0])
    for build in (lambda: small_model("float32"), lambda: small_model("float64")):
        m = build()
        far = fg.SoftmaxCrossEntropy(class_weight=[1e308, 1.0, 1.0])
        if m.dtype == np.float32:
            with pytest.raises(ValueError, match=r"class_weight must be at most 3.403e\+38 \(the largest float32\)"):
                m.evaluate(x, y, far)
            with pytest.raises(ValueError, match="class_weight must be at most"):
                m.fit(x, y, loss=far, optimizer=fg.optim.SGD(lr=0.1), epochs=1, progress=False)
        else:  # two samples of class 0: their weights sum past float64's range
            with pytest.raises(ValueError, match="sum past the largest float64"):
                m.evaluate(x, y, far)
        nothing = fg.SoftmaxCrossEntropy(class_weight=[0.0, 0.0, 1.0])
        for call in (lambda: m.evaluate(x, y, nothing),
                     lambda: m.fit(x, y, loss=nothing, optimizer=fg.optim.SGD(lr=0.1), epochs=1, progress=False),
                     lambda: m.hvp(x, y, np.ones(m.n_params), loss=nothing)):
            with pytest.raises(ValueError, match="sum to 0: their mean loss is undefined"):
                call()
        assert np.isfinite(m.evaluate(x, y, fg.SoftmaxCrossEntropy(class_weight=[0.0, 1.0, 1.0]))["loss"])


def test_weights_summing_past_float64_are_named_without_numpys_overflow_warning():
    # the sums behind the named error warned "overflow encountered in reduce" first, so under
    # -W error the user got NumPy's RuntimeWarning instead of the message
    x, y = np.ones((1000, 4)), np.arange(1000) % 3
    m = small_model("float64")
    fit = functools.partial(m.fit, x, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=0.1), epochs=1,
                            progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="sum past the largest float64"):
            fit(class_weight={0: 1e306, 1: 1e306, 2: 1e306})
        with pytest.raises(ValueError, match="sample_weight must sum to at most 1.798e"):
            fit(sample_weight=np.full(1000, 1e306))


def test_fit_schedule_must_be_a_schedule_of_the_fits_optimizer():
    # a schedule made on another optimizer set a learning rate the fit never read, silently (the
    # History logged the fit's optimizer's unchanged lr); anything else stopped the first epoch
    # with "'int' object has no attribute 'step'"
    m = fg.Sequential([fg.Dense(3, 2, activation="identity")], seed=0)
    x, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    fit = functools.partial(m.fit, x, y, loss="softmax_cross_entropy", epochs=2, progress=False)
    opt, other = fg.optim.SGD(lr=0.1), fg.optim.SGD(lr=0.1)
    with pytest.raises(ValueError, match=r"schedule sets the lr of another SGD object than the SGD fit trains with: "
                                         r"pass the optimizer the schedule was made on \(optimizer=schedule.optimizer\)"):
        fit(optimizer=opt, schedule=fg.schedules.ExponentialDecay(other, 0.5))
    with pytest.raises(ValueError, match="schedule sets the lr of another SGD object"):
        fit(optimizer="sgd", schedule=fg.schedules.ExponentialDecay(other, 0.5))
    with pytest.raises(TypeError, match="schedule must be a fastgd.schedules schedule .* got int"):
        fit(optimizer=opt, schedule=3)
    assert other.lr == 0.1 and opt.lr == 0.1
    history = fit(optimizer=opt, schedule=fg.schedules.ExponentialDecay(opt, 0.5))
    assert history.lr == [0.1, 0.05] and opt.lr == 0.025


def test_fit_names_validation_data_in_the_checks_of_its_arrays():
    # the checks named x, the target or sample_weight alone: the training arrays, which were right
    m = fg.Sequential([fg.Dense(3, 2, activation="identity")], seed=0)
    x, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    fit = functools.partial(m.fit, x, y, loss="softmax_cross_entropy", optimizer="sgd", epochs=1, progress=False)
    for validation_data, error, message in (
            ((np.ones((4, 2)), y), ValueError, "x has 2 features per sample, the model expects 3"),
            ((x, np.array([0, 1, 0, 5])), ValueError, "target labels must be in"),
            ((x, y.astype(str)), TypeError, "target must hold real numbers"),
            ((x, y, -np.ones(4)), ValueError, "sample_weight must be >= 0")):
        with pytest.raises(error, match=f"^validation_data: {message}"):
            fit(validation_data=validation_data)


def test_what_fails_on_memory_mapped_validation_rows_names_them(tmp_path):
    # a NaN in the validation part of a memory-mapped X was reported as "X contains NaN or
    # infinity in rows 0..2", rows of X that were all finite; a metric refusing the validation
    # rows read as refusing the training rows
    m = fg.Sequential([fg.Dense(3, 1, activation="identity")], seed=0)
    x = np.arange(36.0).reshape(12, 3) / 36
    x[10, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.arange(12.0)
    fit = functools.partial(m.fit, loss="mse", optimizer="sgd", epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^validation_split \(the last 3 rows of X\): X contains NaN or infinity in "
                                         r"rows 0..2"):
        fit(mapped, y, validation_split=0.25)
    with pytest.raises(ValueError, match=r"^validation_data: X contains NaN or infinity in rows 0..11"):
        fit(mapped[:9], y[:9], validation_data=(mapped, y))
    with pytest.raises(ValueError, match="^validation_data: r2_score needs at least two samples"):
        fit(x[:9], y[:9], validation_data=(x[:1], y[:1]), metrics=["r2"])


def test_validation_samples_that_weigh_nothing_are_refused_before_training():
    # their mean loss was found undefined at the end of the first epoch, after training it, and
    # the message did not say it was the validation loss
    m = fg.Sequential([fg.Dense(3, 2, activation="identity")], seed=0)
    x, y = np.arange(24.0).reshape(8, 3) / 24, np.array([0, 1] * 4)
    start = m.params.copy()
    weights = np.r_[np.ones(6), np.zeros(2)]
    fit = functools.partial(m.fit, x, y, optimizer="sgd", epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^validation_split \(the last 2 rows of X\): the samples' weights .* sum "
                                         r"to 0"):
        fit(loss="softmax_cross_entropy", sample_weight=weights, validation_split=0.25)
    with pytest.raises(ValueError, match="^validation_data: the samples' weights .* sum to 0"):
        fit(loss=fg.losses.SoftmaxCrossEntropy(class_weight=[1.0, 0.0]), validation_data=(x[:2], np.array([1, 1])))
    np.testing.assert_array_equal(m.params, start)


def test_metrics_are_logged_under_names_of_their_own():
    # a metric named "loss" replaced the training loss in the History, the progress line and what
    # early stopping and the divergence check read; two callables without a __name__ (partials)
    # were both "metric", and one of them was lost
    m = fg.Sequential([fg.Dense(3, 2, activation="identity")], seed=0)
    x, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    fit = functools.partial(m.fit, x, y, loss="softmax_cross_entropy", optimizer="sgd", epochs=1, progress=False)

    def loss(y_true, output):
        return 123.0

    def lr(y_true, output):
        return 0.5

    def lambda_max(y_true, output):
        return 1.0

    with pytest.raises(ValueError, match=r"metrics\[0\] would be logged as 'loss', as is the loss logged beside"):
        fit(metrics=[loss])
    with pytest.raises(ValueError, match=r"metrics\[1\] would be logged as 'lr', as is the lr logged beside"):
        fit(metrics=["accuracy", lr])
    partials = [functools.partial(fg.metrics.accuracy, threshold=t) for t in (0.3, 0.7)]
    with pytest.raises(ValueError, match=r"metrics\[1\] would be logged as 'metric', as is metrics\[0\]; give each "
                                         r"metric its own name \(a function's __name__\)"):
        fit(metrics=partials)
    with pytest.raises(ValueError, match=r"metrics\[0\] would be logged as 'lambda_max'"):
        fit(metrics=[lambda_max], curvature="epoch")
    with pytest.raises(ValueError, match=r"metrics\[0\] would be logged as 'loss'"):
        m.evaluate(x, y, "softmax_cross_entropy", metrics=[loss])
    history = fit(metrics=[lambda_max, "accuracy"], validation_data=(x, y))
    assert history.lambda_max == [1.0] and history.val_lambda_max == [1.0] and history.loss != [123.0]
