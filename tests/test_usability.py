"""What users bring from Keras, PyTorch and scikit-learn: aliases, History access and plots,
progress lines, pickling, the layers as a sequence, Ctrl-C during fit, and the warning about an
output activation that clips what the loss needs."""

import copy
import importlib
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastgd as fg
from fastgd import optim
from fastgd.training.loop import _BOUNDED_RANGE, _format_number, _wrap_items


def spirals(n=240, seed=0):
    X, y = fg.datasets.make_spirals(n, n_classes=3, n_features=4, seed=seed)
    return X, y


def classifier(seed=0, dtype="float64"):
    return fg.Sequential([fg.Dense(4, 16), fg.Dense(16, 3, activation="identity")], dtype=dtype, seed=seed)


def fit_quiet(model, X, y, **kw):
    kw.setdefault("loss", "softmax_cross_entropy")
    kw.setdefault("optimizer", optim.Adam(lr=1e-2))
    kw.setdefault("epochs", 3)
    kw.setdefault("batch_size", 16)
    kw.setdefault("seed", 0)
    kw.setdefault("progress", False)
    return model.fit(X, y, **kw)


# ---- History ---------------------------------------------------------------------------


def test_history_attribute_access():
    X, y = spirals()
    h = fit_quiet(classifier(), X, y, metrics=["accuracy"], validation_split=0.25)
    assert h.loss is h.history["loss"] is h["loss"]
    assert len(h.val_accuracy) == 3
    assert "val_accuracy" in dir(h)
    with pytest.raises(AttributeError, match="logged: .*'loss'"):
        h.not_logged
    assert pickle.loads(pickle.dumps(h)).loss == h.loss


def test_history_plot_labels_follow_the_keys():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    X, y = spirals()
    h = fit_quiet(classifier(), X, y, metrics=["accuracy"], validation_split=0.25, epochs=4)
    ax = h.plot(keys=("accuracy", "val_accuracy"))
    assert ax.get_ylabel() == "accuracy"
    assert ax.get_xlabel() == "epoch"
    assert ax.get_title() == "accuracy per epoch"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["accuracy", "val_accuracy"]
    for line in ax.get_lines():
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])  # as the progress prints
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), h.val_accuracy)
    ax2 = h.plot()
    assert ax2.get_ylabel() == "loss" and ax2.get_title() == "loss per epoch"
    ax3 = h.plot(("loss", "accuracy"), title="run 1")
    assert ax3.get_ylabel() == "loss, accuracy" and ax3.get_title() == "run 1"
    with pytest.raises(ValueError, match="logged: "):
        h.plot(("r2",))
    plt.close("all")


# ---- aliases -----------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [None, "linear", "identity"])
def test_identity_activation_spellings(spelling):
    layer = fg.Dense(3, 2, activation=spelling)
    assert layer.activation == "identity"
    assert fg.Dense.from_config(layer.get_config()).activation == "identity"
    with pytest.raises(ValueError, match="activation must be one of"):
        fg.Dense(3, 2, activation="softmax")


@pytest.mark.parametrize("alias, cls", [
    ("categorical_crossentropy", fg.SoftmaxCrossEntropy),
    ("sparse_categorical_crossentropy", fg.SoftmaxCrossEntropy),
    ("binary_crossentropy", fg.BinaryCrossEntropy),
    ("mse", fg.MSE), ("mean_squared_error", fg.MSE),
    ("mae", fg.MAE), ("mean_absolute_error", fg.MAE),
])
def test_loss_aliases(alias, cls):
    assert type(fg.losses.get(alias)) is cls
    assert type(fg.losses.get(alias.upper())) is cls


def test_keras_cross_entropy_names_train_like_the_fastgd_name():
    X, y = spirals()
    ref = classifier()
    fit_quiet(ref, X, y)
    sparse = classifier()
    fit_quiet(sparse, X, y, loss="sparse_categorical_crossentropy")
    np.testing.assert_array_equal(sparse.params, ref.params)
    onehot = classifier()
    fit_quiet(onehot, X, np.eye(3)[y], loss="categorical_crossentropy")
    np.testing.assert_allclose(onehot.params, ref.params, rtol=1e-12, atol=1e-12)


def test_mse_and_mae_metrics():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, 4))
    y = X @ rng.normal(size=(4, 2))
    model = fg.Sequential([fg.Dense(4, 2, activation=None)], dtype="float64", seed=0)
    h = fit_quiet(model, X, y, loss="mse", metrics=["mse", "mae"], optimizer=optim.SGD(lr=0.05))
    pred = model.predict(X)
    assert h.mse[-1] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-12)
    assert h.mae[-1] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-12)
    ev = model.evaluate(X, y, metrics=["mse"])
    assert ev["mse"] == pytest.approx(ev["loss"], rel=1e-9)  # the MSE loss is the MSE metric
    sw = rng.uniform(0.5, 2.0, size=64)
    expected = np.average(np.mean((pred - y) ** 2, axis=1), weights=sw)
    assert fg.metrics.mean_squared_error(y, pred, sample_weight=sw) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="shape of y_true"):
        fg.metrics.mean_absolute_error(y, pred[:, :1])


def test_optimizer_class_is_instantiated_with_defaults():
    X, y = spirals()
    by_class = classifier()
    fit_quiet(by_class, X, y, optimizer=optim.Adam)
    by_instance = classifier()
    fit_quiet(by_instance, X, y, optimizer=optim.Adam())
    np.testing.assert_array_equal(by_class.params, by_instance.params)
    lbfgs = classifier()
    fit_quiet(lbfgs, X, y, optimizer=fg.LBFGS, batch_size=None)
    with pytest.raises(TypeError, match=r"fastgd optimizer \(e.g. fastgd.optim.Adam\(lr=1e-3\)\), its class"):
        fit_quiet(classifier(), X, y, optimizer=dict)
    # the base class raised its constructor's bare "missing 1 required positional argument: 'lr'"
    with pytest.raises(TypeError, match=r"optimizer must be an optimizer's class such as fastgd.optim.Adam, not the "
                                        r"base class fastgd.optim.Optimizer"):
        fit_quiet(classifier(), X, y, optimizer=optim.Optimizer)


@pytest.mark.parametrize("verbose, lines", [(0, 0), (1, 2), (2, 2)])
def test_verbose_levels(verbose, lines, capsys):
    X, y = spirals()
    fit_quiet(classifier(), X, y, epochs=2, progress=True, verbose=verbose)
    err = capsys.readouterr().err
    assert err.count("epoch ") == lines


def test_verbose_rejects_other_values():
    X, y = spirals()
    for bad in (3, -1, True, "1"):
        with pytest.raises(ValueError, match="verbose must be 0"):
            fit_quiet(classifier(), X, y, verbose=bad)


# ---- class_weight ------------------------------------------------------------------------


def test_class_weight_multiplies_sample_weights():
    X, y = spirals()
    sw = np.random.default_rng(1).uniform(0.5, 1.5, size=len(y))
    cw = {0: 3.0, 2: 0.5}  # class 1 keeps weight 1, as Keras
    per_sample = np.array([3.0, 1.0, 0.5])[y] * sw
    a = classifier()
    ha = fit_quiet(a, X, y, class_weight=cw, sample_weight=sw)
    b = classifier()
    hb = fit_quiet(b, X, y, sample_weight=per_sample)
    np.testing.assert_array_equal(a.params, b.params)
    assert ha.loss == hb.loss
    onehot = classifier()
    fit_quiet(onehot, X, np.eye(3)[y], class_weight=cw, sample_weight=sw)
    np.testing.assert_allclose(onehot.params, a.params, rtol=1e-12, atol=1e-12)


def test_class_weight_with_binary_cross_entropy():
    X, y = spirals()
    t = (y == 1).astype(np.float64)
    model = lambda: fg.Sequential([fg.Dense(4, 8), fg.Dense(8, 1, activation=None)], dtype="float64", seed=0)
    a, b = model(), model()
    fit_quiet(a, X, t, loss="binary_crossentropy", class_weight={1: 2.0})
    fit_quiet(b, X, t, loss="binary_crossentropy", sample_weight=np.where(t == 1, 2.0, 1.0))
    np.testing.assert_array_equal(a.params, b.params)


def test_class_weight_errors():
    X, y = spirals()
    with pytest.raises(ValueError, match=r"class_weight keys must be class indices in \[0, 3\), got 3"):
        fit_quiet(classifier(), X, y, class_weight={3: 1.0})
    with pytest.raises(ValueError, match=r"class_weight\[0\] must be a finite number >= 0"):
        fit_quiet(classifier(), X, y, class_weight={0: -1.0})
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        fit_quiet(classifier(), X, y, class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="every training sample weight 0"):
        fit_quiet(classifier(), X, y, class_weight={0: 0, 1: 0, 2: 0})
    reg = fg.Sequential([fg.Dense(4, 1, activation=None)], dtype="float64", seed=0)
    with pytest.raises(ValueError, match="class_weight needs a classification loss"):
        fit_quiet(reg, X, X[:, 0], loss="mse", class_weight={0: 1.0})


# ---- the output activation warning ---------------------------------------------------------


def test_warns_once_when_relu_output_clips_regression_targets():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 4))
    y = X[:, :1] - 2.0  # mostly negative: a relu output cannot reach it
    model = fg.Sequential([fg.Dense(4, 8), fg.Dense(8, 1)], dtype="float64", seed=0)  # relu by default
    with pytest.warns(UserWarning, match=r"last layer's activation is 'relu'.*activation='identity'") as rec:
        fit_quiet(model, X, y, loss="mse")
    assert len(rec) == 1 and rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_quiet(model, X, y, loss="mse")  # once per model


def test_warns_for_bounded_logits_but_not_for_targets_in_range():
    X, y = spirals()
    sig = fg.Sequential([fg.Dense(4, 8), fg.Dense(8, 3, activation="sigmoid")], dtype="float64", seed=0)
    with pytest.warns(UserWarning, match="needs logits"):
        fit_quiet(sig, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_quiet(classifier(), X, y)  # identity output: nothing to say
        inside = fg.Sequential([fg.Dense(4, 1, activation="sigmoid")], dtype="float64", seed=0)
        fit_quiet(inside, X, (y == 1).astype(float), loss="mse")  # targets in [0, 1]: fine
        leaky = fg.Sequential([fg.Dense(4, 1, activation="leaky_relu")], dtype="float64", seed=0)
        fit_quiet(leaky, X, -np.ones(len(y)), loss="mae")  # leaky relu does not bound the output
        gelu = fg.Sequential([fg.Dense(4, 1, activation="gelu")], dtype="float64", seed=0)
        fit_quiet(gelu, X, np.full(len(y), -0.1), loss="mse")  # above gelu's minimum -0.17: fine
    for act, (low, high) in _BOUNDED_RANGE.items():
        bounded = fg.Sequential([fg.Dense(4, 1, activation=act)], dtype="float64", seed=0)
        with pytest.warns(UserWarning, match=f"last layer's activation is '{act}'"):
            fit_quiet(bounded, X, np.full(len(y), low - 1.0), loss="mse")  # below its minimum


@pytest.mark.parametrize("activation", fg.ACTIVATIONS)
def test_the_warning_knows_each_activation_range(activation):
    # _BOUNDED_RANGE is the range of each activation that has a bound, to 5 digits (the warning
    # prints it): the lowest and highest values over a fine grid lie within it and reach its ends;
    # the activations it leaves out are unbounded (leaky_relu: slope 0.01) both ways
    z = np.concatenate([np.linspace(-60, 60, 1200001), [-1e4, 1e4]]).reshape(-1, 1)
    out = fg.ops.dense_forward(z, np.ones((1, 1)), None, activation=activation, alpha=0.01).ravel()
    low, high = _BOUNDED_RANGE.get(activation, (-np.inf, np.inf))
    assert out.min() >= low - 1e-5 and out.max() <= high
    assert (out.min() < -50 if low == -np.inf else out.min() - low < 1e-5)
    assert (out.max() > 50 if high == np.inf else high - out.max() < 1e-12), (out.min(), out.max())


# ---- progress ----------------------------------------------------------------------------


@pytest.mark.parametrize("value, text", [
    (1.0, "1.000"), (0.967, "0.9670"), (0.12345, "0.1235"), (12.3456, "12.35"), (1234.56, "1235"),
    (0.001234, "0.001234"), (0.0, "0.000"), (1.5e-5, "1.500e-05"), (123456.0, "1.235e+05"),
    (-0.5, "-0.5000"), (float("nan"), "nan"), (float("inf"), "inf"),
])
def test_number_format_four_significant_digits(value, text):
    assert _format_number(value) == text


def mean_max_probability(y_true, proba):
    return proba.max(axis=1).mean()


def test_progress_lines_fit_80_columns_and_show_every_metric(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    X, y = spirals()
    fit_quiet(classifier(), X, y, epochs=2, progress=True, validation_split=0.25,
              metrics=["accuracy", "zero_one_loss", mean_max_probability])
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    text = " ".join(err.split())
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "zero_one_loss", "val_zero_one_loss",
                "mean_max_probability", "val_mean_max_probability"):
        assert text.count(f" {key}=") == 2, key  # once per epoch, never cut
    assert text.count("samples/s") == 2


def test_wrap_items_never_cuts_an_item():
    items = [f"metric_{i}=0.{i}000" for i in range(12)]
    out = _wrap_items("epoch 1/9:", items, 40)
    assert all(len(line) <= 40 for line in out.splitlines())
    assert out.split() == ["epoch", "1/9:"] + items


# ---- the model as a sequence, pickling, copies ----------------------------------------------


def test_layers_as_a_sequence():
    layers = [fg.Dense(4, 8), fg.Dense(8, 8), fg.Dense(8, 3, activation=None)]
    model = fg.Sequential(layers, seed=0)
    assert len(model) == 3
    assert model[0] is layers[0] and model[-1] is layers[2]
    assert model[1:] == layers[1:]
    assert list(model) == layers == model.layers
    assert [layer.out_features for layer in model] == [8, 8, 3]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pickle_and_deepcopy_round_trip(dtype):
    X, y = spirals()
    model = classifier(dtype=dtype)
    fit_quiet(model, X, y, metrics=["accuracy"])
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model), copy.copy(model)):
        assert twin is not model and twin.dtype == model.dtype
        assert repr(twin) == repr(model)
        np.testing.assert_array_equal(twin.predict(X), model.predict(X))
        np.testing.assert_array_equal(twin.predict_proba(X), model.predict_proba(X))  # the loss came along
        assert twin.history.loss == model.history.loss
        assert not np.shares_memory(twin.params, model.params)
    # the copy trains on its own; the same steps from the same state give the same weights
    twin = copy.deepcopy(model)
    fit_quiet(twin, X, y, optimizer=optim.SGD(lr=0.1))
    fit_quiet(model, X, y, optimizer=optim.SGD(lr=0.1))
    np.testing.assert_array_equal(twin.params, model.params)


def test_model_and_optimizer_state_pickle_together():
    # the model does not own an optimizer; pickling both keeps Adam's moments, so training
    # continues exactly as it would have
    X, y = spirals()
    model, opt = classifier(), optim.Adam(lr=1e-2)
    fit_quiet(model, X, y, optimizer=opt)
    twin, twin_opt = pickle.loads(pickle.dumps((model, opt)))
    fit_quiet(model, X, y, optimizer=opt, seed=1)
    fit_quiet(twin, X, y, optimizer=twin_opt, seed=1)
    np.testing.assert_array_equal(twin.params, model.params)


@pytest.mark.parametrize("copy_of", [lambda obj: pickle.loads(pickle.dumps(obj)), copy.deepcopy])
def test_a_stepped_lbfgs_pickles_and_deep_copies_with_its_model(copy_of):
    # its C driver made pickle and deepcopy raise "self.st cannot be converted to a Python object"
    X, y = spirals()
    model, opt = classifier(dtype="float64"), fg.LBFGS(history_size=4)
    fit_quiet(model, X, y, optimizer=opt, batch_size=None, epochs=3)
    twin, twin_opt = copy_of((model, opt))
    assert twin_opt is not opt and twin_opt.n_iter == opt.n_iter and twin_opt.history_size == 4
    fit_quiet(model, X, y, optimizer=opt, batch_size=None, epochs=3)
    fit_quiet(twin, X, y, optimizer=twin_opt, batch_size=None, epochs=3)
    np.testing.assert_array_equal(twin.params, model.params)


def test_pickle_an_unfitted_model():
    model = fg.Sequential([fg.Dense(2, 3, activation="leaky_relu", negative_slope=0.2), fg.Dense(3, 1)], seed=4)
    twin = pickle.loads(pickle.dumps(model))
    assert twin.loss is None and twin.history is None and twin[0].negative_slope == 0.2
    np.testing.assert_array_equal(twin.params, model.params)


# Module paths of fastgd 0.1.0, before the nn/optim/training subpackages: import statements and
# pickles name them.
OLD_MODULES = {
    "fastgd.init": "fastgd.nn.init", "fastgd.layers": "fastgd.nn.layers", "fastgd.losses": "fastgd.nn.losses",
    "fastgd.model": "fastgd.nn.model", "fastgd.lbfgs": "fastgd.optim.lbfgs",
    "fastgd.newton_cg": "fastgd.optim.newton_cg", "fastgd.schedules": "fastgd.optim.schedules",
    "fastgd.callbacks": "fastgd.training.callbacks", "fastgd.io": "fastgd.training.io",
}


@pytest.mark.parametrize("old, new", sorted(OLD_MODULES.items()))
def test_module_paths_of_earlier_releases_still_import(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)
    assert getattr(fg, old.rpartition(".")[2]) is importlib.import_module(new)


def test_pickles_written_by_0_1_0_load():
    # tests/data/pickles_0.1.0.pkl was written by fastgd 0.1.0 (pickle protocol 4): a 3-4-2
    # float32 model fitted 2 epochs with softmax cross-entropy, beside a Huber loss, an AdamW
    # optimizer and a Dense layer, plus 32 input rows and the model's predictions on them.
    blob = (Path(__file__).parent / "data" / "pickles_0.1.0.pkl").read_bytes()
    for old in (b"fastgd.model", b"fastgd.layers", b"fastgd.losses"):
        assert old in blob
    data = pickle.loads(blob)
    model = data["model"]
    assert type(model) is fg.Sequential and model.dtype == np.float32
    assert type(model.loss) is fg.SoftmaxCrossEntropy and len(model.history.loss) == 2
    np.testing.assert_allclose(model.predict(data["X"]), data["predicted"], rtol=1e-5, atol=1e-6)
    assert type(data["loss"]) is fg.Huber and data["loss"].delta == 2.0
    assert type(data["optimizer"]) is fg.optim.AdamW and data["optimizer"].lr == 0.01
    assert type(data["layer"]) is fg.Dense and data["layer"].activation == "tanh"


# ---- Ctrl-C ------------------------------------------------------------------------------


def test_keyboard_interrupt_keeps_history_and_a_usable_model(capsys):
    X, y = spirals()

    class CtrlC(fg.callbacks.Callback):
        def on_batch_end(self, step, logs):
            if len(self.history) == 2 and step == 4:
                self.snapshot = self.model.params.copy()
                raise KeyboardInterrupt

    cb = CtrlC()
    model = classifier()
    with pytest.raises(KeyboardInterrupt) as ei:
        fit_quiet(model, X, y, epochs=10, callbacks=[cb], metrics=["accuracy"])
    err = capsys.readouterr().err
    assert "interrupted at epoch 3, step 5 (of 15)" in err
    assert ei.value.history is model.history and len(model.history) == 2
    assert len(model.history.accuracy) == 2
    np.testing.assert_array_equal(model.params, cb.snapshot)  # the last completed step's parameters
    assert np.isfinite(model.predict(X)).all()
    h = fit_quiet(model, X, y, epochs=1)  # and fit continues from there
    assert len(h) == 1 and model.history is h


def test_real_sigint_during_fit(tmp_path):
    script = textwrap.dedent("""
        import os, signal, sys
        import numpy as np
        import fastgd as fg

        # as in a terminal whatever this process inherited: a shell's background job starts with
        # SIGINT ignored, and a signal mask is inherited too
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.default_int_handler)
        X, y = fg.datasets.make_spirals(4000, n_features=4, seed=0)
        model = fg.Sequential([fg.Dense(4, 64), fg.Dense(64, 3, activation=None)], seed=0)

        class Signal(fg.callbacks.Callback):
            def on_epoch_end(self, epoch, logs):
                if epoch == 1:
                    os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C in a terminal

        try:
            model.fit(X, y, loss="softmax_cross_entropy", optimizer="adam", epochs=10_000, batch_size=8,
                      callbacks=[Signal()], progress=False, seed=0)
        except KeyboardInterrupt as exc:
            ok = exc.history is model.history and len(model.history) >= 2
            ok = ok and np.isfinite(model.predict(X)).all()
            print("usable" if ok else "broken", len(model.history))
    """)
    path = tmp_path / "interrupt.py"
    path.write_text(script)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usable"), (proc.stdout, proc.stderr)
    assert "interrupted at epoch" in proc.stderr


# ---- small things ------------------------------------------------------------------------


def test_datasets_namespace_is_clean():
    public = [name for name in dir(fg.datasets) if not name.startswith("_")]
    assert sorted(public) == sorted(fg.datasets.__all__)


def test_checkpoint_repr(tmp_path):
    X, y = spirals()
    model = classifier()
    opt = optim.Adam(lr=1e-2)
    h = fit_quiet(model, X, y, optimizer=opt)
    fg.save_checkpoint(tmp_path / "ck.npz", model, opt, history=h)
    ck = fg.load_checkpoint(tmp_path / "ck.npz")
    text = repr(ck)
    assert text.startswith("Checkpoint(epoch=3, seed=0, model=<Sequential 4 -> 3, 2 layers, 131 parameters")
    assert "Adam(" in text and "schedule=None" in text and "History(epochs=3" in text



def _tampered_model_pickle(change):
    """The bytes pickle.dumps(model) gives, with `change` applied to the model's saved state."""
    model = fg.Sequential([fg.Dense(3, 4), fg.Dense(4, 2)], dtype="float32", seed=0)
    restore, (cls, state) = model.__reduce__()
    change(state)

    class Tampered:
        def __reduce__(self):
            return restore, (cls, state)

    return pickle.dumps(Tampered())


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s["params"].__setitem__(5, np.nan), ValueError, r"params must be finite, got nan at flat index 5"),
    (lambda s: s.__setitem__("params", s["params"][:-1]), ValueError, r"params must have shape \(26,\), got \(25,\)"),
    (lambda s: s.__setitem__("params", None), TypeError, r"params must hold real numbers, got array of dtype object"),
    (lambda s: s.__setitem__("params", s["params"].astype(np.float64) * 1e300), ValueError,
     r"params must be finite in float32, got .*e\+299 at flat index"),
    (lambda s: s.__setitem__("config", 5), TypeError, r"config must be a dict .*'dtype'.*'layers'.*got 5"),
    (lambda s: s["config"].__setitem__("extra", 1), ValueError, r"config has the unknown key\(s\) 'extra'"),
    (lambda s: s["config"].pop("layers"), ValueError, r"config lacks the key\(s\) 'layers'"),
    (lambda s: s["config"].__setitem__("layers", 5), TypeError, r"config\['layers'\] must be a list of Dense configs"),
    (lambda s: s["config"]["layers"].__setitem__(1, "dense"), TypeError,
     r"config\['layers'\]\[1\] must be a dict \(a Dense config\), got 'dense'"),
    (lambda s: s["config"]["layers"][0].__setitem__("units", 3), ValueError,
     r"config\['layers'\]\[0\] has the unknown key\(s\) 'units'"),
])
def test_unpickling_a_tampered_model_names_what_is_wrong(change, error, message):
    # NaN parameters were loaded in silence, and None became NaN; a short array gave NumPy's
    # unnamed broadcast error and a malformed description a bare KeyError or TypeError
    data = _tampered_model_pickle(change)
    with pytest.raises(error, match=message):
        pickle.loads(data)


def test_sequential_from_config_names_a_malformed_description():
    good = fg.Sequential([fg.Dense(3, 4)]).get_config()
    for cfg, error, message in (
            ([1, 2], TypeError, r"cfg must be a dict \{'dtype', 'layers'\}.*got \[1, 2\] \(list\)"),
            ({**good, "layers": "ab"}, TypeError, r"cfg\['layers'\] must be a list of Dense configs, got str"),
            ({"layers": good["layers"]}, ValueError, r"cfg lacks the key\(s\) 'dtype'"),
            ({**good, "layers": [{"in_features": 3}]}, ValueError,
             r"cfg\['layers'\]\[0\] lacks the key\(s\) 'out_features'")):
        with pytest.raises(error, match=message):
            fg.Sequential.from_config(cfg)


def _unpickled(cls, state):
    """What unpickling an instance of `cls` whose pickled attributes are `state` does."""
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


def _tampered_pickle(obj, change):
    """pickle.dumps(obj) with `change` applied to the attributes it pickles."""
    state = dict(obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)[2])
    change(state)

    class Tampered:
        def __reduce__(self):
            return _unpickled, (type(obj), state)

    return pickle.dumps(Tampered())


@pytest.mark.parametrize("change, message", [
    (lambda s: s["_state"].__setitem__(slice(None), np.nan), r"state_dict\['state'\] must be finite, got nan"),
    (lambda s: s.__setitem__("_step", -5), r"state_dict\['step'\] must be an integer in \[0, "),
    (lambda s: s["_state"].__setitem__(slice(1008, 1010), -1.0), r"slot 1 \(exp_avg_sq\) must be >= 0"),
    (lambda s: s["_hyper"].__setitem__("eps", -1.0), r"eps must be"),
    (lambda s: s.__setitem__("_state", s["_state"][:10]), r"the pickled Adam is malformed"),
    (lambda s: s.pop("_hyper"), r"the pickled Adam is malformed"),
])
def test_unpickling_a_tampered_optimizer_is_checked_as_its_state_dict_is(change, message):
    # the attributes were restored as pickled: NaN moments made every parameter NaN at the next
    # step, and a negative step count went into the bias correction, in silence
    opt = optim.Adam(lr=0.1)
    opt.step(np.ones(1000), np.ones(1000))
    with pytest.raises(ValueError, match=message):
        pickle.loads(_tampered_pickle(opt, change))


def test_an_unpickled_optimizer_continues_exactly():
    opt = optim.Adam(lr=0.1, amsgrad=True)
    opt.set_param_groups([(0, 600, {"weight_decay": 0.01}), (600, 1000, {})])
    p, g = np.linspace(-1, 1, 1000), np.cos(np.arange(1000.0))
    opt.step(p, g)
    twin, q = pickle.loads(pickle.dumps(opt)), p.copy()
    opt.step(p, g)
    twin.step(q, g)
    np.testing.assert_array_equal(p, q)
    assert twin.state_dict()["step"] == 2


def test_unpickling_a_tampered_newton_cg_is_checked_as_its_state_dict_is():
    # its attributes were restored as pickled, past the checks its constructor, __setattr__ and
    # load_state_dict make: a NaN point or a negative trust radius went on in silence
    scale = np.array([1.0, 10.0, 100.0])
    opt = fg.NewtonCG()
    opt.step(lambda q: (float(0.5 * (scale * q * q).sum()), scale * q), np.ones(3))
    twin = pickle.loads(pickle.dumps(opt))
    assert twin.get_config() == opt.get_config()
    for key in ("trust_radius", "n_iter", "x", "grad", "f", "forcing"):
        np.testing.assert_array_equal(twin.state_dict()[key], opt.state_dict()[key])
    restore, (config, state) = opt.__reduce__()
    for bad_config, bad_state, message in (({}, {"x": np.array([0.0, np.nan, 1.0])}, r"state\['x'\] must be finite"),
                                           ({}, {"trust_radius": -1.0}, r"trust_radius must be"),
                                           ({"eta": float("nan")}, {}, r"eta must be")):
        with pytest.raises(ValueError, match=message):
            restore({**config, **bad_config}, {**state, **bad_state})
