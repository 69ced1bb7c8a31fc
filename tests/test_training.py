"""fit / evaluate / partial_fit / restarts / callbacks / checkpoints: every option of the loop."""

import _thread
import io
import math
import os

import numpy as np
import pytest

import fastgd
from fastgd import _core, losses, optim


def linear_model(d, out=1, dtype="float64", act="identity", seed=0):
    return fastgd.Sequential([fastgd.Dense(d, out, activation=act, weight_init="zeros")], dtype=dtype, seed=seed)


def mlp(widths, dtype="float64", seed=0, act="relu"):
    layers = [fastgd.Dense(a, b, activation=act) for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastgd.Dense(widths[-2], widths[-1], activation="identity", weight_init="glorot_uniform"))
    return fastgd.Sequential(layers, dtype=dtype, seed=seed)


@pytest.fixture
def regression(rng):
    X = rng.normal(size=(200, 3))
    w = np.array([[1.5], [-2.0], [0.5]])
    y = X @ w + 0.3 + 0.05 * rng.normal(size=(200, 1))
    return X, y


def test_full_batch_gd_linear_regression_reaches_least_squares(regression):
    X, y = regression
    m = linear_model(3)
    h = m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.3), epochs=400, batch_size=None, progress=False, seed=0)
    A = np.hstack([X, np.ones((len(X), 1))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(m.layers[0].W, coef[:3], atol=1e-6)
    np.testing.assert_allclose(m.layers[0].b, coef[3], atol=1e-6)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_full_batch_logistic_regression_reaches_newton_optimum(rng):
    X = rng.normal(size=(300, 2))
    y = (X @ [1.0, -1.0] + 0.3 * rng.normal(size=300) > 0).astype(float)[:, None]
    m = linear_model(2)
    m.fit(X, y, loss="binary_cross_entropy", optimizer=optim.SGD(lr=2.0, momentum=0.9), epochs=600,
          batch_size=None, progress=False)
    A = np.hstack([X, np.ones((300, 1))])
    beta = np.zeros(3)
    for _ in range(50):  # Newton's method on the mean log loss
        p = 1 / (1 + np.exp(-A @ beta))
        g = A.T @ (p - y[:, 0]) / 300
        H = (A * (p * (1 - p))[:, None]).T @ A / 300
        beta -= np.linalg.solve(H, g)
    np.testing.assert_allclose(m.layers[0].W[:, 0], beta[:2], atol=1e-4)
    np.testing.assert_allclose(m.layers[0].b[0], beta[2], atol=1e-4)


def test_stochastic_gd_batch_size_one_converges(rng):
    X = rng.normal(size=(100, 2))
    y = X @ np.array([[2.0], [-1.0]]) + 0.5
    m = linear_model(2)
    h = m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.05), epochs=30, batch_size=1, progress=False, seed=1)
    np.testing.assert_allclose(m.layers[0].W[:, 0], [2.0, -1.0], atol=1e-3)
    assert h.history["loss"][-1] < 1e-6


def test_same_seed_is_bit_identical(rng):
    X = rng.normal(size=(300, 8))
    y = rng.integers(0, 3, size=300)
    runs = []
    for _ in range(2):
        m = mlp([8, 16, 3], seed=4, dtype="float32")
        h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=optim.Adam(lr=1e-2), epochs=3, batch_size=16,
                  progress=False, seed=7)
        runs.append((m.params.copy(), h.history["loss"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_shuffle_modes_and_determinism(rng):
    X = rng.normal(size=(64, 4))
    y = rng.normal(size=(64, 2))
    res = {}
    for shuffle in ("epoch", "once", False):
        m = mlp([4, 8, 2], seed=0)
        m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=2, batch_size=8, shuffle=shuffle,
              progress=False, seed=3)
        res[shuffle] = m.params.copy()
    assert not np.array_equal(res["epoch"], res[False]) and not np.array_equal(res["once"], res["epoch"])
    # shuffle=False equals calling train_step on consecutive batches
    m, ref = mlp([4, 8, 2], seed=0), mlp([4, 8, 2], seed=0)
    m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=1, batch_size=8, shuffle=False, progress=False)
    opt = optim.SGD(lr=0.01)
    for s in range(0, 64, 8):
        ref.train_step(X[s:s + 8], y[s:s + 8], "mse", opt)
    np.testing.assert_array_equal(m.params, ref.params)


def test_validation_split_metrics_history_and_lr(rng):
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] > 0).astype(np.int64)
    m = mlp([5, 8, 2])
    opt = optim.Adam(lr=1e-2)
    sched = fastgd.schedules.StepDecay(opt, step_size=2, gamma=0.5)
    h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=4, batch_size=32, validation_split=0.25,
              metrics=("accuracy",), schedule=sched, progress=False, seed=0)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "grad_norm", "lr", "seconds"):
        assert len(h.history[key]) == 4, key
    assert h.history["lr"] == [1e-2, 1e-2, 5e-3, 5e-3]
    assert h.params["n_samples"] == 150
    assert h.best_epoch in h.epochs
    d = h.to_dict()
    h2 = fastgd.History.from_dict(d)
    assert h2.history == h.history and h2.best_epoch == h.best_epoch
    ev = m.evaluate(X[150:], y[150:], metrics=("accuracy",))
    assert abs(ev["loss"] - h.history["val_loss"][-1]) < 1e-12
    assert abs(ev["accuracy"] - h.history["val_accuracy"][-1]) < 1e-12


def test_early_stopping_restores_best(rng):
    X = rng.normal(size=(40, 10))
    y = rng.normal(size=(40, 1))
    Xv = rng.normal(size=(40, 10))
    yv = rng.normal(size=(40, 1))  # pure noise: validation loss gets worse as the net overfits
    m = mlp([10, 64, 1], seed=0)
    seen = {}

    class Keep(fastgd.callbacks.Callback):
        def on_epoch_end(self, epoch, logs):
            seen[epoch] = (logs["val_loss"], self.model.params.copy())

    es = fastgd.EarlyStopping(patience=3)
    h = m.fit(X, y, loss="mse", optimizer=optim.Adam(lr=1e-2), epochs=200, batch_size=8,
              validation_data=(Xv, yv), early_stopping=es, callbacks=[Keep()], progress=False, seed=0)
    assert len(h.epochs) < 200 and "early stopping" in h.stopped_reason
    best = min(seen, key=lambda e: seen[e][0])
    assert es.best_epoch == best
    np.testing.assert_array_equal(m.params, seen[best][1])


@pytest.mark.parametrize("mode, values", [("min", [math.nan] * 3), ("max", [-math.inf] * 3)])
def test_early_stopping_on_a_value_that_never_improves_stops_with_a_reason(rng, mode, values):
    # with no best epoch its stop reason added 1 to None: a TypeError ended the fit
    X = rng.normal(size=(20, 3))
    y = rng.normal(size=(20, 1))
    logged = iter(values)

    def score(y_true, output):
        return next(logged)

    m = mlp([3, 4, 1], seed=0)
    start = m.params.copy()
    es = fastgd.EarlyStopping(monitor="score", patience=1, mode=mode)
    h = m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=3, metrics=[score], early_stopping=es,
              progress=False, seed=0)
    assert h.epochs == [0] and es.best_epoch is None and es.stopped_epoch == 0
    assert h.stopped_reason == (f"early stopping: score did not improve for 1 epochs (none of its values was "
                                f"{'below inf' if mode == 'min' else 'above -inf'})")
    assert not np.array_equal(m.params, start)  # nothing to restore: the last epoch's parameters stay


def test_tol_stops_on_full_gradient_norm(regression):
    X, y = regression
    m = linear_model(3)
    h = m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.1), epochs=10_000, batch_size=None, tol=1e-4,
              progress=False)
    assert len(h.epochs) < 10_000 and "tol" in h.stopped_reason
    assert h.history["grad_norm"][-1] < 1e-4 <= h.history["grad_norm"][-2]
    _, g = m.loss_and_grad(X, y, "mse")
    assert np.linalg.norm(g) < 1e-4


def test_tol_with_minibatches_uses_full_gradient(regression):
    X, y = regression
    m = linear_model(3)
    h = m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.05), epochs=500, batch_size=50, tol=1e-2,
              shuffle=False, progress=False)
    _, g = m.loss_and_grad(X, y, "mse")
    assert abs(np.linalg.norm(g) - h.history["grad_norm"][-1]) < 1e-9


def test_divergence_raises_and_keeps_finite_params(rng):
    X = rng.normal(size=(100, 4)) * 10
    y = rng.normal(size=(100, 1)) * 10
    m = mlp([4, 16, 1])
    with pytest.raises(fastgd.DivergenceError, match="lower the learning rate|Lower the learning rate") as ei:
        m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=1e3), epochs=50, batch_size=10, progress=False)
    assert ei.value.epoch is not None and ei.value.step is not None
    assert np.all(np.isfinite(m.params))
    assert np.isfinite(m.evaluate(X, y, "mse")["loss"])


def test_max_steps_and_callback_stop(rng):
    X = rng.normal(size=(100, 3))
    y = rng.normal(size=(100, 1))
    m = mlp([3, 4, 1])
    opt = optim.SGD(lr=0.01)
    h = m.fit(X, y, loss="mse", optimizer=opt, epochs=10, batch_size=10, max_steps=25, progress=False)
    assert len(h.epochs) == 3 and "max_steps" in h.stopped_reason
    steps = []

    class StopAt(fastgd.callbacks.Callback):
        def on_batch_end(self, step, logs):
            steps.append(step)
            if len(steps) == 4:
                self.model.stop_training = True

    h = m.fit(X, y, loss="mse", optimizer=opt, epochs=10, batch_size=10, callbacks=[StopAt()], progress=False)
    assert len(steps) == 4 and len(h.epochs) == 1


def test_clip_norm_matches_manual(rng):
    X = rng.normal(size=(16, 3))
    y = rng.normal(size=(16, 2)) * 5
    a, b = mlp([3, 5, 2], seed=1), mlp([3, 5, 2], seed=1)
    a.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.1), epochs=1, batch_size=None, clip_norm=0.5, progress=False)
    _, g = b.loss_and_grad(X, y, "mse")
    norm = np.linalg.norm(g)
    assert norm > 0.5
    b.params[...] -= 0.1 * g * (0.5 / (norm + 1e-6))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-15)
    c = mlp([3, 5, 2], seed=1)
    c.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.1), epochs=1, batch_size=None, clip_value=0.01, progress=False)
    d = mlp([3, 5, 2], seed=1)
    d.params[...] -= 0.1 * np.clip(g, -0.01, 0.01)
    np.testing.assert_allclose(c.params, d.params, rtol=1e-12, atol=1e-15)


def test_sample_weight_equals_repeated_rows(rng):
    X = rng.normal(size=(20, 3))
    y = rng.normal(size=(20, 1))
    w = rng.integers(1, 4, size=20)
    a, b = mlp([3, 4, 1], seed=2), mlp([3, 4, 1], seed=2)
    a.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.05), epochs=5, batch_size=None, sample_weight=w, progress=False)
    b.fit(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0), loss="mse", optimizer=optim.SGD(lr=0.05), epochs=5,
          batch_size=None, progress=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)


def test_partial_fit_keeps_optimizer_state(rng):
    X = rng.normal(size=(64, 3))
    y = rng.normal(size=(64, 1))
    a, b = mlp([3, 4, 1], seed=0), mlp([3, 4, 1], seed=0)
    oa, ob = optim.Adam(lr=1e-2), optim.Adam(lr=1e-2)
    for _ in range(2):
        a.partial_fit(X, y, loss="mse", optimizer=oa, batch_size=16)
    b.fit(X, y, loss="mse", optimizer=ob, epochs=2, batch_size=16, shuffle=False, progress=False)
    np.testing.assert_array_equal(a.params, b.params)


def test_restarts_keep_best(rng):
    X = rng.normal(size=(60, 2))
    y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    m = mlp([2, 4, 1], act="tanh")
    h = m.fit(X, y, loss="binary_cross_entropy", optimizer=optim.Adam(lr=1e-2), epochs=5, batch_size=None,
              n_restarts=3, progress=False, seed=0)
    scores = h.params["restart_scores"]
    assert len(scores) == 3
    assert abs(m.evaluate(X, y)["loss"] - h.history["loss"][-1]) < 0.5  # the best run's params are kept
    assert min(scores) == h.history["loss"][-1]


def test_fit_with_restarts_takes_initial_epoch_as_fit_restarts_does(rng):
    # fit(n_restarts=k) left initial_epoch out of what it handed fit_restarts: its runs started at
    # epoch 0 (another shuffle, another epoch count in History) where fit_restarts' started at 5
    X, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 1))
    runs = []
    for restarts in (lambda m, **kw: m.fit(X, y, n_restarts=2, **kw),
                     lambda m, **kw: fastgd.fit_restarts(m, X, y, n_restarts=2, **kw)):
        m = mlp([2, 4, 1])
        h = restarts(m, loss="mse", optimizer="sgd", epochs=2, batch_size=8, initial_epoch=5, seed=3, progress=False)
        runs.append((h.epochs, h.history["loss"], m.params.copy()))
    assert runs[0][0] == runs[1][0] == [5, 6]
    assert runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_restarts_score_each_run_by_the_parameters_it_ends_with(rng):
    # a run was scored by its best epoch whatever parameters it kept: one whose validation loss
    # rose after its best could win with its worse last parameters
    X = rng.normal(size=(80, 2))
    y = (X[:, :1] * X[:, 1:] > 0).astype(float)

    class Starts(fastgd.callbacks.Callback):
        count = 0

        def on_train_begin(self, logs):
            Starts.count += 1

    m = mlp([2, 8, 1], act="tanh")
    kwargs = dict(loss="binary_cross_entropy", optimizer=optim.SGD(lr=3.0), epochs=6, batch_size=8,
                  validation_split=0.25, n_restarts=3, progress=False, seed=1)
    h = m.fit(X, y, callbacks=(c for c in [Starts()]), **kwargs)  # a generator serves every run
    assert Starts.count == 3
    assert min(h.params["restart_scores"]) == h.history["val_loss"][-1]
    assert m.evaluate(X[60:], y[60:])["loss"] == pytest.approx(h.history["val_loss"][-1], rel=1e-12)
    # with early stopping's restore (an int patience too), the restored epoch's value
    m = mlp([2, 8, 1], act="tanh")
    h = m.fit(X, y, early_stopping=2, **kwargs)
    best = float(np.nanmin(h.history["val_loss"]))
    assert min(h.params["restart_scores"]) == best
    assert m.evaluate(X[60:], y[60:])["loss"] == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("make", [lambda o: fastgd.schedules.CosineDecay(o, total_steps=3, min_lr=1e-3),
                                  lambda o: fastgd.schedules.ReduceLROnPlateau(o, patience=0, threshold=0.9)])
def test_every_restart_runs_the_schedule_from_its_start(rng, make):
    # the schedule went on from the run before: a cosine decay held every run after the first
    # at its minimum lr from its second epoch, a plateau schedule kept the lr it had cut
    X = rng.normal(size=(60, 2))
    y = (X[:, :1] * X[:, 1:] > 0).astype(float)

    class Lrs(fastgd.callbacks.Callback):
        runs = []

        def on_train_begin(self, logs):
            self.runs.append([])

        def on_epoch_end(self, epoch, logs):
            self.runs[-1].append(logs["lr"])

    opt = optim.SGD(lr=0.1)
    schedule = make(opt)
    mlp([2, 4, 1], act="tanh").fit(X, y, loss="binary_cross_entropy", optimizer=opt, epochs=3, batch_size=None,
                                   schedule=schedule, callbacks=[Lrs()], n_restarts=3, progress=False, seed=0)
    once = optim.SGD(lr=0.1)
    h = mlp([2, 4, 1], act="tanh").fit(X, y, loss="binary_cross_entropy", optimizer=once, epochs=3, batch_size=None,
                                       schedule=make(once), progress=False, seed=0)
    assert Lrs.runs == [h.lr] * 3 and h.lr[0] > h.lr[-1]


def test_restarts_end_with_the_best_runs_history_optimizer_and_schedule():
    # the parameters were the best run's, but model.history, the optimizer's state (Adam's moments
    # and step count) and the schedule's were the last run's: a fit after it mixed two runs
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    ends = []

    class End(fastgd.callbacks.Callback):
        def on_train_end(self, logs):
            ends.append((self.model.params.copy(), self.optimizer.state_dict(), self.schedule.state_dict()))

    m = mlp([2, 4, 1], act="tanh")
    opt = optim.Adam(lr=0.05)
    schedule = fastgd.schedules.ReduceLROnPlateau(opt, patience=0, threshold=0.05)
    h = m.fit(X, y, loss="binary_cross_entropy", optimizer=opt, schedule=schedule, epochs=5, batch_size=None,
              n_restarts=3, callbacks=[End()], progress=False, seed=3)
    best = int(np.argmin(h.params["restart_scores"]))
    assert best != 2 and m.history is h
    params, opt_state, schedule_state = ends[best]
    np.testing.assert_array_equal(m.params, params)
    now = opt.state_dict()
    assert now["step"] == opt_state["step"] and now["lr"] == opt_state["lr"]
    np.testing.assert_array_equal(now["state"], opt_state["state"])  # the moments
    assert schedule.state_dict() == schedule_state


def test_progress_output(rng, capsys):
    X = rng.normal(size=(50, 3))
    y = rng.normal(size=(50, 1))
    m = mlp([3, 4, 1])
    m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=2, batch_size=10, progress=True)
    err = capsys.readouterr().err
    assert err.count("epoch ") == 2 and "samples/s" in err
    m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=2, batch_size=10, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_terminal(rng):
    X = rng.normal(size=(50, 3))
    y = rng.normal(size=(50, 1))

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = fastgd.training.loop._Progress(True, 1, 5, stream=stream)
    bar.start_epoch(0)
    for _ in range(5):
        bar.update(0.5)
    bar.end_epoch(0, {"loss": 0.5}, 1000.0)
    out = stream.getvalue()
    # the bar is drawn during the epoch, then replaced by the epoch's summary line
    assert "epoch 1/1" in out and "/5 [" in out and out.endswith("epoch 1/1:  loss=0.5000  0.00 s  1,000 samples/s\n")


def test_csv_logger_and_model_checkpoint(rng, tmp_path):
    X = rng.normal(size=(40, 3))
    y = rng.normal(size=(40, 1))
    m = mlp([3, 4, 1])
    csv_path = tmp_path / "log.csv"
    ck = tmp_path / "ck-{epoch}.npz"
    m.fit(X, y, loss="mse", optimizer=optim.Adam(lr=1e-2), epochs=3, batch_size=10, progress=False,
          callbacks=[fastgd.callbacks.CSVLogger(csv_path), fastgd.callbacks.ModelCheckpoint(str(ck))])
    lines = csv_path.read_text().strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch,")
    assert all((tmp_path / f"ck-{e}.npz").exists() for e in (1, 2, 3))
    c = fastgd.load_checkpoint(tmp_path / "ck-3.npz")
    np.testing.assert_array_equal(c.model.params, m.params)


def test_csv_logger_appends_each_value_under_its_own_column(rng, tmp_path):
    # appended rows were written in the order of the new fit's names under the file's header:
    # without the first fit's metric every value stood one column to the left of its name
    import csv

    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 2, size=40)
    m = mlp([3, 4, 2])
    path = tmp_path / "log.csv"
    fit = dict(loss="softmax_cross_entropy", optimizer=optim.SGD(lr=0.1), epochs=2, progress=False)
    h1 = m.fit(X, y, metrics=["accuracy"], callbacks=[fastgd.callbacks.CSVLogger(path)], **fit)
    h2 = m.fit(X, y, callbacks=[fastgd.callbacks.CSVLogger(path, append=True)], **fit)
    h3 = m.fit(X, y, metrics=["accuracy", "zero_one_loss"], validation_split=0.25,
               callbacks=[fastgd.callbacks.CSVLogger(path, append=True)], **fit)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    for h, part in ((h1, rows[:2]), (h2, rows[2:4]), (h3, rows[4:])):
        for key in ("epoch", "loss", "accuracy", "zero_one_loss", "val_loss", "lr"):
            logged = [str(e + 1) for e in h.epochs] if key == "epoch" else [repr(v) for v in h.history.get(key, [])]
            assert [row[key] for row in part] == (logged or ["", ""])


def test_save_load_roundtrip(tmp_path, rng):
    m = mlp([4, 6, 3], dtype="float32")
    m.loss = losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    path = m.save(tmp_path / "model")
    assert path.endswith(".npz")
    m2 = fastgd.load(path)
    np.testing.assert_array_equal(m2.params, m.params)
    assert m2.dtype == m.dtype and [L.activation for L in m2.layers] == [L.activation for L in m.layers]
    x = rng.normal(size=(5, 4))
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    np.testing.assert_allclose(m2.predict_proba(x), m.predict_proba(x))


def test_checkpoint_resume_is_bit_identical(tmp_path, rng):
    X = rng.normal(size=(120, 5))
    y = rng.integers(0, 3, size=120)

    def setup():
        m = mlp([5, 8, 3], dtype="float32", seed=1)
        opt = optim.Adam(lr=1e-2)
        return m, opt, fastgd.schedules.ExponentialDecay(opt, gamma=0.9)

    m, opt, sched = setup()
    h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, schedule=sched, epochs=4, batch_size=16,
              progress=False, seed=11)
    m2, opt2, sched2 = setup()
    h2 = m2.fit(X, y, loss="softmax_cross_entropy", optimizer=opt2, schedule=sched2, epochs=2, batch_size=16,
                progress=False, seed=11)
    fastgd.save_checkpoint(tmp_path / "ck.npz", m2, opt2, sched2, h2)
    del m2, opt2, sched2
    c = fastgd.load_checkpoint(tmp_path / "ck.npz")
    assert c.epoch == 2 and c.seed == 11
    h3 = c.model.fit(X, y, loss="softmax_cross_entropy", optimizer=c.optimizer, schedule=c.schedule, epochs=2,
                     batch_size=16, progress=False, seed=c.seed, initial_epoch=c.epoch)
    np.testing.assert_array_equal(c.model.params, m.params)
    assert h3.history["loss"] == h.history["loss"][2:]
    assert h3.epochs == [2, 3]



def early_stopping_run(rng):
    """Data, a fresh (model, optimizer, schedule) and fit's arguments for a run that early
    stopping ends well before its epochs, some epochs after its best."""
    X = rng.normal(size=(60, 4))
    y = 2 * X[:, :1] + rng.normal(size=(60, 1))
    X_val = rng.normal(size=(30, 4))
    y_val = 2 * X_val[:, :1] + rng.normal(size=(30, 1))

    def setup():
        m = mlp([4, 16, 1], seed=1)
        opt = optim.Adam(lr=3e-2)
        return m, opt, fastgd.schedules.ExponentialDecay(opt, gamma=0.97)

    return X, y, setup, dict(loss="mse", batch_size=8, validation_data=(X_val, y_val), progress=False, seed=5)


def checkpoint_after(path, X, y, setup, kw, epochs, restore_best=True, callbacks=()):
    """The checkpoint ModelCheckpoint writes after ``epochs`` epochs of the run, loaded."""
    m, opt, sched = setup()
    m.fit(X, y, optimizer=opt, schedule=sched, epochs=epochs,
          callbacks=[fastgd.callbacks.ModelCheckpoint(path), *callbacks],
          early_stopping=fastgd.EarlyStopping(patience=3, restore_best=restore_best), **kw)
    return fastgd.load_checkpoint(path)


@pytest.mark.parametrize("restore_best", [True, False])
def test_a_fit_resumed_with_early_stopping_ends_as_the_uninterrupted_one(tmp_path, rng, restore_best):
    # the checkpoint held no early-stopping state and fit started it afresh: a fit resumed after
    # its best epoch stopped epochs later than the uninterrupted one, with other parameters
    # and a ModelCheckpoint(save_best_only=True) of the resumed fit saved its first epoch, better
    # than those before the interruption or not
    X, y, setup, kw = early_stopping_run(rng)
    epochs = 40

    def best_only(name):
        return fastgd.callbacks.ModelCheckpoint(tmp_path / name, save_best_only=True)

    m, opt, sched = setup()
    es = fastgd.EarlyStopping(patience=3, restore_best=restore_best)
    h = m.fit(X, y, optimizer=opt, schedule=sched, epochs=epochs, early_stopping=es, callbacks=[best_only("best.npz")],
              **kw)
    best = fastgd.load_checkpoint(tmp_path / "best.npz")
    assert best.epoch == es.best_epoch + 1
    stop = h.epochs[-1]
    assert h.stopped_reason.startswith("early stopping") and es.stopped_epoch == stop < epochs - 1
    assert 1 < es.best_epoch < stop - 1
    path = tmp_path / "ck.npz"
    # before the best epoch, at it, after it, and at the stop (a run that had stopped runs no epoch)
    for k in (1, es.best_epoch + 1, es.best_epoch + 2, stop, stop + 1):
        ck = checkpoint_after(path, X, y, setup, kw, k, restore_best, [best_only("best-resumed.npz")])
        assert ck.epoch == k and ck.early_stopping.next_epoch == k
        assert ck.best_values == [{"monitor": "val_loss", "mode": "min", "best": min(ck.history["val_loss"])}]
        h3 = ck.model.fit(X, y, optimizer=ck.optimizer, schedule=ck.schedule, epochs=epochs - ck.epoch,
                          initial_epoch=ck.epoch, early_stopping=ck.early_stopping,
                          callbacks=ck.resume_callbacks([best_only("best-resumed.npz")]), **{**kw, "seed": ck.seed})
        assert ck.history.epochs + h3.epochs == h.epochs
        for key, values in h.history.items():
            if key != "seconds":
                assert ck.history[key] + h3.history.get(key, []) == values, key
        assert h3.stopped_reason == h.stopped_reason
        assert ck.early_stopping.stopped_epoch == stop and ck.early_stopping.best_epoch == es.best_epoch
        assert np.array_equal(ck.model.params, m.params), k
        resumed_best = fastgd.load_checkpoint(tmp_path / "best-resumed.npz")
        assert resumed_best.epoch == best.epoch and np.array_equal(resumed_best.model.params, best.model.params)


def test_a_fit_interrupted_twice_ends_as_the_uninterrupted_one(tmp_path, rng):
    # the second checkpoint is written by the resumed fit, whose early stopping continues the first run
    X, y, setup, kw = early_stopping_run(rng)
    m, opt, sched = setup()
    es = fastgd.EarlyStopping(patience=3)
    h = m.fit(X, y, optimizer=opt, schedule=sched, epochs=40, early_stopping=es, **kw)
    path = tmp_path / "ck.npz"
    ck = checkpoint_after(path, X, y, setup, kw, 2)
    second = es.best_epoch + 2  # after the best epoch, before the stop
    ck.model.fit(X, y, optimizer=ck.optimizer, schedule=ck.schedule, epochs=second - ck.epoch, initial_epoch=ck.epoch,
                 early_stopping=ck.early_stopping, callbacks=[fastgd.callbacks.ModelCheckpoint(path)],
                 **{**kw, "seed": ck.seed})
    ck = fastgd.load_checkpoint(path)
    assert ck.epoch == second and ck.history.epochs[0] == 2 and ck.early_stopping.best_epoch == es.best_epoch
    h3 = ck.model.fit(X, y, optimizer=ck.optimizer, schedule=ck.schedule, epochs=40 - ck.epoch,
                      initial_epoch=ck.epoch, early_stopping=ck.early_stopping, **{**kw, "seed": ck.seed})
    assert h3.epochs[-1] == h.epochs[-1] and h3.history["val_loss"] == h.history["val_loss"][second:]
    assert h3.stopped_reason == h.stopped_reason
    np.testing.assert_array_equal(ck.model.params, m.params)

class RunningBest(fastgd.callbacks.Callback):
    """A callback of the user's with a state: the epochs seen, the val_loss of each, the best one
    and the parameters it was reached with."""

    def __init__(self):
        self.state = {"epochs": 0, "trace": [], "best": {"value": math.inf, "epoch": None}, "params": np.zeros(0)}

    def on_epoch_end(self, epoch, logs):
        self.state["epochs"] += 1
        self.state["trace"].append(logs["val_loss"])
        if logs["val_loss"] < self.state["best"]["value"]:
            self.state["best"] = {"value": logs["val_loss"], "epoch": epoch}
            self.state["params"] = self.model.params.copy()

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        fastgd._validation.config("state", state, "(RunningBest's state)", ("epochs", "trace", "best", "params"), ())
        self.state = state


class InterruptAt(fastgd.callbacks.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch:
            raise RuntimeError(f"interrupted in epoch {epoch}")


def same_states(a, b):
    """Two states (dicts, lists, arrays, numbers) hold the same values."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_states(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_states, a, b))
    return type(a) is type(b) and a == b


def test_a_fit_resumed_with_the_states_of_its_callbacks_ends_as_the_uninterrupted_one(tmp_path, rng):
    # the checkpoints held the states of neither a callback of the user's nor an EarlyStopping
    # passed in callbacks= (not early_stopping=): the resumed fit restarted both afresh, the
    # early stopping stopping later and the callback counting only its own epochs. Both are
    # listed after the ModelCheckpoint, which runs after them (else it would save their states
    # before they saw the epoch)
    X, y, setup, kw = early_stopping_run(rng)
    epochs = 40

    def fit_callbacks():
        return [fastgd.callbacks.ModelCheckpoint(tmp_path / "ck.npz"), RunningBest(), fastgd.EarlyStopping(patience=3),
                fastgd.callbacks.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)]

    model, opt, sched = setup()
    straight = fit_callbacks()
    h = model.fit(X, y, optimizer=opt, schedule=sched, epochs=epochs, callbacks=straight, **kw)
    es = straight[2]
    stop = h.epochs[-1]
    assert h.stopped_reason.startswith("early stopping") and es.stopped_epoch == stop < epochs - 1
    assert 1 < es.best_epoch < stop - 1 and straight[1].state["epochs"] == stop + 1
    # before the best epoch, at it, after it, at the stop, and after the stop (the run had stopped)
    for k in (1, es.best_epoch, es.best_epoch + 1, stop, None):
        m, opt, sched = setup()
        interrupted = [InterruptAt(k), *fit_callbacks()]
        if k is None:
            m.fit(X, y, optimizer=opt, schedule=sched, epochs=epochs, callbacks=interrupted, **kw)
        else:
            with pytest.raises(RuntimeError, match=f"interrupted in epoch {k}"):
                m.fit(X, y, optimizer=opt, schedule=sched, epochs=epochs, callbacks=interrupted, **kw)
        ck = fastgd.load_checkpoint(tmp_path / "ck.npz")
        assert ck.epoch == (stop + 1 if k is None else k)
        resumed = ck.resume_callbacks(fit_callbacks())
        assert resumed[1].state["epochs"] == ck.epoch and resumed[2].next_epoch == ck.epoch
        h3 = ck.model.fit(X, y, optimizer=ck.optimizer, schedule=ck.schedule, epochs=epochs - ck.epoch,
                          initial_epoch=ck.epoch, callbacks=resumed, **{**kw, "seed": ck.seed})
        assert ck.history.epochs + h3.epochs == h.epochs, k
        for key, values in h.history.items():
            if key != "seconds":
                assert ck.history[key] + h3.history.get(key, []) == values, (k, key)
        assert h3.stopped_reason == h.stopped_reason
        for cb, want in zip(resumed, straight):
            assert same_states(cb.state_dict(), want.state_dict()), (k, type(cb).__name__)
        assert np.array_equal(ck.model.params, model.params), k


@pytest.mark.parametrize("optimizer, batch_size", [(optim.SGD(lr=0.1), 4), (fastgd.LBFGS(), None)])
def test_a_callback_that_stops_in_on_train_begin_runs_no_epoch(rng, optimizer, batch_size):
    # the first epoch ran one step (every step of L-BFGS's) before the flag was read
    class StopAtOnce(fastgd.callbacks.Callback):
        def on_train_begin(self, logs):
            self.model.stop_training = True

    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    m = mlp([3, 4, 1])
    before = m.params.copy()
    h = m.fit(X, y, loss="mse", optimizer=optimizer, epochs=3, batch_size=batch_size, callbacks=[StopAtOnce()],
              progress=False)
    assert h.epochs == [] and h.stopped_reason == "stopped by a callback"
    np.testing.assert_array_equal(m.params, before)

def test_a_callback_passed_twice_to_fit_is_refused_before_training(tmp_path, rng):
    # run twice an epoch, an EarlyStopping counted each epoch twice (patience halved), and the
    # state a ModelCheckpoint saved of it (wait 1 after a best epoch just seen) did not load
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    es = fastgd.EarlyStopping(monitor="loss", patience=3)
    m = mlp([3, 4, 1])
    before = m.params.copy()
    save = fastgd.callbacks.ModelCheckpoint(tmp_path / "ck.npz")
    with pytest.raises(ValueError, match=r"callbacks\[0\] \(EarlyStopping\) is early_stopping again: fit would run "
                                         r"its hooks twice an epoch; pass each callback once"):
        m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=3, early_stopping=es, callbacks=[es, save],
              progress=False)
    with pytest.raises(ValueError, match=r"callbacks\[2\] \(EarlyStopping\) is callbacks\[0\] again"):
        m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=3, callbacks=[es, save, es], progress=False)
    np.testing.assert_array_equal(m.params, before)
    assert not os.path.exists(tmp_path / "ck.npz")
    # passed once, its checkpoint loads with the state of one count an epoch
    m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=3, early_stopping=es, callbacks=[save],
          progress=False)
    assert fastgd.load_checkpoint(tmp_path / "ck.npz").early_stopping.state_dict()["next_epoch"] == 3


def test_resume_callbacks_gives_each_best_only_model_checkpoint_its_best_value(tmp_path):
    from fastgd.callbacks import CSVLogger, ModelCheckpoint

    ck = fastgd.io.Checkpoint(mlp([2, 1]), optim.SGD(), None, None,
                              best_values=[{"monitor": "val_loss", "mode": "min", "best": 0.25},
                                           {"monitor": "accuracy", "mode": "max", "best": 0.75}])
    loss, acc = ModelCheckpoint(tmp_path / "a", save_best_only=True), ModelCheckpoint(
        tmp_path / "b", monitor="accuracy", mode="max", save_best_only=True)
    other_mode = ModelCheckpoint(tmp_path / "c", monitor="accuracy", save_best_only=True)
    every, log = ModelCheckpoint(tmp_path / "d"), CSVLogger(tmp_path / "e.csv")
    assert ck.resume_callbacks((cb for cb in (loss, acc, other_mode, every, log))) == [loss, acc, other_mode, every,
                                                                                        log]
    assert (loss.best, acc.best, other_mode.best, every.best) == (0.25, 0.75, math.inf, math.inf)
    with pytest.raises(ValueError, match="state is for monitor='accuracy', mode='max'; this ModelCheckpoint has "
                                         "monitor='accuracy', mode='min'"):
        other_mode.load_state_dict(acc.state_dict())
    with pytest.raises(ValueError, match=r"state\['best'\] must be a number"):
        loss.load_state_dict({"monitor": "val_loss", "mode": "min", "best": math.nan})
    assert loss.best == 0.25
    with pytest.raises(ValueError, match="unknown key"):
        log.load_state_dict({"rows": 3})
    log.load_state_dict(log.state_dict())


def test_resume_callbacks_matches_states_by_state_key_and_index_and_names_a_callback_refusing_its_own(tmp_path):
    from fastgd.callbacks import Callback, CSVLogger

    class Count(Callback):
        def __init__(self, n=0):
            self.n = n

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = fastgd._validation.integer("state['n']", state["n"], 0)

    model, opt = mlp([2, 1]), optim.SGD()
    saved = [Count(1), CSVLogger(tmp_path / "log.csv"), Count(2), fastgd.EarlyStopping(monitor="loss")]
    path = fastgd.save_checkpoint(tmp_path / "ck.npz", model, opt, callbacks=saved)
    ck = fastgd.load_checkpoint(path)
    count = Count.__qualname__
    es_key = "EarlyStopping{'monitor': 'loss', 'mode': 'min'}"
    assert set(ck.callback_states) == {(count, 0), (count, 1), (es_key, 0)}  # the CSVLogger has no state
    assert repr(ck).endswith(f", callback_states=<{count} #0, {count} #1, {es_key} #0>)")
    # matched by class and index among those of its key, whatever comes between; a callback
    # without a saved state (a third Count, an EarlyStopping of another monitor) is left as it is
    cbs = [Count(), fastgd.EarlyStopping(monitor="val_loss"), Count(), Count(7), fastgd.EarlyStopping(monitor="loss")]
    assert ck.resume_callbacks(cbs) == cbs
    assert [cbs[0].n, cbs[2].n, cbs[3].n] == [1, 2, 7] and not cbs[1]._resume and cbs[4]._resume
    # the checkpoint's states are copies: a callback changing its own leaves them as they were
    cbs[0].n = 5
    assert ck.resume_callbacks([Count()])[0].n == 1
    # a state the callback refuses names it, the state's key and the callback's error
    bad = {**ck.callback_states, (count, 1): {"n": -1}}
    with pytest.raises(ValueError, match=r"callbacks\[1\] \(.*Count\) refused the state the checkpoint holds for "
                                         r"the callback .*Count #1: ValueError: state\['n'\] must be an integer"):
        fastgd.io.Checkpoint(model, opt, None, None, callback_states=bad).resume_callbacks([Count(), Count()])
    # a class of the same name without a state: the base class refuses the keys
    stateless = type("Count", (Callback,), {"__qualname__": count})
    with pytest.raises(ValueError, match=r"callbacks\[0\] \(.*Count\) refused .*unknown key\(s\) 'n'"):
        ck.resume_callbacks([stateless()])
    # a state_key of the user's keys the state; one that is no str is refused before anything is written
    class Named(Count):
        @property
        def state_key(self):
            return f"Named-{self.name}"

        def __init__(self, name, n=0):
            super().__init__(n)
            self.name = name

    path = fastgd.save_checkpoint(tmp_path / "named.npz", model, opt, callbacks=[Named("a", 1), Named("b", 2)])
    named = fastgd.load_checkpoint(path).resume_callbacks([Named("b"), Named("c"), Named("a")])
    assert [cb.n for cb in named] == [2, 0, 1]
    Named.state_key = 3
    with pytest.raises(TypeError, match=r"callbacks\[0\] \(.*Named\): state_key must be a str, got 3"):
        fastgd.save_checkpoint(tmp_path / "bad.npz", model, opt, callbacks=[Named("a", 1)])
    with pytest.raises(TypeError, match=r"callbacks\[0\] \(.*Named\): state_key must be a str, got 3"):
        model.fit(np.zeros((2, 2)), np.zeros((2, 1)), loss="mse", optimizer=opt, callbacks=[Named("a")], progress=False)
    assert not os.path.exists(tmp_path / "bad.npz")
    # an early stopping that restores the best parameters refuses a state saved without them
    es = fastgd.EarlyStopping(monitor="loss", restore_best=False)
    es.load_state_dict({**es.state_dict(), "next_epoch": 2, "best": 1.0, "best_epoch": 1})
    path = fastgd.save_checkpoint(tmp_path / "ck2.npz", model, opt, callbacks=[es])
    with pytest.raises(ValueError, match=r"callbacks\[0\] \(EarlyStopping\) refused .*restore_best=False"):
        fastgd.load_checkpoint(path).resume_callbacks([fastgd.EarlyStopping(monitor="loss")])


def test_a_loaded_early_stopping_starts_afresh_in_a_fit_from_epoch_0(tmp_path, rng):
    X, y, setup, kw = early_stopping_run(rng)
    path = tmp_path / "ck.npz"
    ck = checkpoint_after(path, X, y, setup, kw, 6)
    assert ck.early_stopping.best_epoch is not None
    fresh, _, _ = setup()
    loaded, _, _ = setup()
    h_fresh = fresh.fit(X, y, optimizer=optim.Adam(lr=3e-2), epochs=40, early_stopping=fastgd.EarlyStopping(patience=3),
                        **kw)
    h_loaded = loaded.fit(X, y, optimizer=optim.Adam(lr=3e-2), epochs=40, early_stopping=ck.early_stopping, **kw)
    assert h_loaded.history["val_loss"] == h_fresh.history["val_loss"]
    assert h_loaded.stopped_reason == h_fresh.stopped_reason
    np.testing.assert_array_equal(loaded.params, fresh.params)
    assert ck.early_stopping.next_epoch == h_fresh.epochs[-1] + 1


def test_a_loaded_early_stopping_refuses_a_fit_that_does_not_continue_its_run(tmp_path, rng):
    X, y, setup, kw = early_stopping_run(rng)
    path = tmp_path / "ck.npz"
    ck = checkpoint_after(path, X, y, setup, kw, 4)
    before = ck.model.params.copy()
    with pytest.raises(ValueError, match=r"next epoch is 4 .* pass initial_epoch=4 .* got initial_epoch=2"):
        ck.model.fit(X, y, optimizer=ck.optimizer, epochs=3, initial_epoch=2, early_stopping=ck.early_stopping, **kw)
    other = mlp([4, 8, 1], seed=1)
    with pytest.raises(ValueError, match=r"best parameters of a model of 97 float64 parameters; this model has 49"):
        other.fit(X, y, optimizer=optim.Adam(lr=3e-2), epochs=3, initial_epoch=4, early_stopping=ck.early_stopping,
                  **kw)
    np.testing.assert_array_equal(ck.model.params, before)
    # refused, it still holds the run: the right fit continues it
    ck.model.fit(X, y, optimizer=ck.optimizer, epochs=1, initial_epoch=4, early_stopping=ck.early_stopping, **kw)
    assert ck.early_stopping.next_epoch == 5


def test_every_restart_starts_a_loaded_early_stopping_afresh(tmp_path, rng):
    X, y, setup, kw = early_stopping_run(rng)
    path = tmp_path / "ck.npz"
    ck = checkpoint_after(path, X, y, setup, kw, 5)
    results = []
    for es in (fastgd.EarlyStopping(patience=3), ck.early_stopping):
        model, _, _ = setup()
        h = fastgd.fit_restarts(model, X, y, n_restarts=3, optimizer=optim.Adam(lr=3e-2), epochs=40,
                                initial_epoch=5, early_stopping=es, **kw)
        results.append((h.history["val_loss"], h.params["restart_scores"], model.params))
    assert results[0][:2] == results[1][:2]
    np.testing.assert_array_equal(results[0][2], results[1][2])


def test_a_checkpoint_without_early_stopping_state_resumes_with_a_fresh_one(tmp_path, rng):
    # what files written before the early-stopping state was saved hold
    X, y, setup, kw = early_stopping_run(rng)
    m, opt, sched = setup()
    h = m.fit(X, y, optimizer=opt, schedule=sched, epochs=3, **kw)
    fastgd.save_checkpoint(tmp_path / "ck.npz", m, opt, sched, h)
    ck = fastgd.load_checkpoint(tmp_path / "ck.npz")
    assert ck.early_stopping is None and "early_stopping" not in repr(ck)
    h2 = ck.model.fit(X, y, optimizer=ck.optimizer, schedule=ck.schedule, epochs=40, initial_epoch=ck.epoch,
                      early_stopping=fastgd.EarlyStopping(patience=2), **kw)
    assert h2.epochs[0] == 3 and h2.stopped_reason.startswith("early stopping")

def test_corrupted_files_raise(tmp_path):
    m = mlp([3, 4, 2])
    path = m.save(tmp_path / "m.npz")
    data = open(path, "rb").read()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(fastgd.io.FileFormatError):
        fastgd.load(tmp_path / "trunc.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(fastgd.io.FileFormatError):
        fastgd.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", params=np.zeros(3))
    with pytest.raises(fastgd.io.FileFormatError, match="__meta__"):
        fastgd.load(tmp_path / "plain.npz")
    import json

    def with_meta(name, meta, params):
        np.savez(tmp_path / name, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), params=params)
        return tmp_path / name

    good = {"format": "fastgd-model", "version": 1, "model": m.get_config(), "loss": None}
    with pytest.raises(fastgd.io.FileFormatError, match="version"):
        fastgd.load(with_meta("v.npz", {**good, "version": 99}, m.params))
    with pytest.raises(fastgd.io.FileFormatError, match="params"):
        fastgd.load(with_meta("s.npz", good, np.zeros(5)))
    with pytest.raises(fastgd.io.FileFormatError):
        fastgd.load(with_meta("o.npz", {**good, "model": {"dtype": "float64", "layers": [{"bogus": 1}]}}, m.params))
    # object arrays are never unpickled
    np.savez(tmp_path / "obj.npz", __meta__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(fastgd.io.FileFormatError):
        fastgd.load(tmp_path / "obj.npz")
    with pytest.raises(fastgd.io.FileFormatError):
        fastgd.load_checkpoint(path)  # a model file is not a checkpoint


def test_atomic_write_leaves_no_temporary(tmp_path):
    m = mlp([3, 4, 2])
    m.save(tmp_path / "a.npz")
    m.save(tmp_path / "a.npz")
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]


def test_history_plot(rng):
    plt = pytest.importorskip("matplotlib.pyplot")
    X = rng.normal(size=(30, 2))
    y = rng.normal(size=(30, 1))
    m = mlp([2, 3, 1])
    h = m.fit(X, y, loss="mse", optimizer=optim.SGD(lr=0.01), epochs=3, validation_split=0.2, progress=False)
    ax = h.plot()
    assert len(ax.lines) == 2
    plt.close("all")


def test_bad_fit_arguments(rng):
    X = rng.normal(size=(20, 3))
    y = rng.normal(size=(20, 1))
    m = mlp([3, 4, 1])
    opt = optim.SGD(lr=0.01)
    for kwargs, msg in [({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"shuffle": "always"}, "shuffle"),
                        ({"validation_split": 1.5}, "validation_split"), ({"clip_norm": -1}, "clip_norm"),
                        ({"tol": -1}, "tol"), ({"max_steps": 0}, "max_steps"), ({"metrics": ("f1",)}, "metric"),
                        ({"early_stopping": "yes"}, "early_stopping"), ({"callbacks": [print]}, "callbacks")]:
        with pytest.raises((ValueError, TypeError), match=msg):
            m.fit(X, y, loss="mse", optimizer=opt, progress=False, **kwargs)
    with pytest.raises(TypeError, match="optimizer"):
        m.fit(X, y, loss="mse", optimizer=object(), progress=False)
    with pytest.raises(ValueError):
        m.fit(X, y[:10], loss="mse", optimizer=opt, progress=False)


def test_digits_mlp_reaches_97_percent():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = fastgd.datasets.train_test_split(X, y, test_size=0.25, seed=0)
    m = mlp([64, 128, 10], dtype="float32", seed=0)
    m.fit(Xtr, ytr, loss="softmax_cross_entropy", optimizer=optim.Adam(lr=2e-3), epochs=40, batch_size=32,
          progress=False, seed=0)
    acc = m.evaluate(Xte, yte, metrics=("accuracy",))["accuracy"]
    assert acc >= 0.97, acc


def test_lbfgs_full_batch_fit_beats_adam_per_gradient_evaluation(rng):
    X = rng.uniform(-2, 2, size=(200, 2))
    y = (np.sin(X[:, :1]) * np.cos(X[:, 1:]))  # a smooth regression target
    a = mlp([2, 16, 1], act="tanh", seed=3)
    b = mlp([2, 16, 1], act="tanh", seed=3)
    counter = {"n": 0}
    step = a._train_step

    def counting_step(*args, **kwargs):
        counter["n"] += 1
        return step(*args, **kwargs)

    a._train_step = counting_step
    lb = fastgd.LBFGS()
    h = a.fit(X, y, loss="mse", optimizer=lb, epochs=40, batch_size=None, progress=False)
    evaluations = counter["n"]  # loss+gradient evaluations of the closure (line searches included)
    hb = b.fit(X, y, loss="mse", optimizer=optim.Adam(lr=1e-2), epochs=max(evaluations, 1), batch_size=None,
               progress=False)
    print(f"LBFGS {h.history['loss'][-1]:.3g} vs Adam {hb.history['loss'][-1]:.3g} after {evaluations} gradient evaluations")
    assert h.history["loss"][-1] < hb.history["loss"][-1], (h.history["loss"][-1], hb.history["loss"][-1], evaluations)
    with pytest.raises(ValueError, match="batch_size=None"):
        a.fit(X, y, loss="mse", optimizer=lb, epochs=1, batch_size=10, progress=False)


def test_lbfgs_checkpoint_resume(tmp_path, rng):
    X = rng.normal(size=(50, 3))
    y = np.tanh(X[:, :1])
    a, b = mlp([3, 5, 1], act="tanh", seed=0), mlp([3, 5, 1], act="tanh", seed=0)
    oa = fastgd.LBFGS(history_size=5)
    a.fit(X, y, loss="mse", optimizer=oa, epochs=6, batch_size=None, progress=False)
    ob = fastgd.LBFGS(history_size=5)
    h = b.fit(X, y, loss="mse", optimizer=ob, epochs=3, batch_size=None, progress=False)
    fastgd.save_checkpoint(tmp_path / "l.npz", b, ob, None, h)
    c = fastgd.load_checkpoint(tmp_path / "l.npz")
    c.model.fit(X, y, loss="mse", optimizer=c.optimizer, epochs=3, batch_size=None, progress=False,
                initial_epoch=c.epoch)
    np.testing.assert_array_equal(c.model.params, a.params)


def test_optimizer_by_name(rng):
    X = rng.normal(size=(20, 3))
    y = rng.normal(size=(20, 1))
    m = mlp([3, 4, 1])
    h = m.fit(X, y, loss="mse", optimizer="adam", epochs=2, progress=False)
    assert len(h.epochs) == 2
    with pytest.raises(ValueError, match="optimizer"):
        m.fit(X, y, loss="mse", optimizer="nadam", epochs=1, progress=False)


def test_weight_decay_can_skip_biases(rng):
    X = rng.normal(size=(10, 3))
    y = rng.normal(size=(10, 1))
    m = mlp([3, 4, 1])
    opt = optim.SGD(lr=0.1, weight_decay=0.5).bind(m, exclude_bias=True)
    before = m.params.copy()
    _, g = m.loss_and_grad(X, y, "mse")
    m.train_step(X, y, "mse", opt)
    nw = m.n_weights
    np.testing.assert_allclose(m.params[:nw], before[:nw] - 0.1 * (g[:nw] + 0.5 * before[:nw]), rtol=1e-12)
    np.testing.assert_allclose(m.params[nw:], before[nw:] - 0.1 * g[nw:], rtol=1e-12)


@pytest.mark.parametrize("change,message", [
    (lambda X, y: y.__setitem__(5, -1), r"y now holds class labels outside \[0, 3\), from -1 to 2"),
    (lambda X, y: y.__setitem__(5, 10**9), r"y now holds class labels outside \[0, 3\)"),
    (lambda X, y: X.__setitem__((3, 2), np.nan), "X now holds NaN or infinity"),
])
@pytest.mark.parametrize("class_weight", [None, [1.0, 2.0, 3.0]])
def test_data_changed_by_a_callback_during_fit_is_named_not_taken_for_divergence(change, message, class_weight):
    # a label out of range made the loss NaN and fit advised a lower learning rate
    # (DivergenceError), or, with class weights, raised NumPy's unnamed IndexError
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    class Change(fastgd.callbacks.Callback):
        def on_batch_end(self, step, logs):
            change(X, y)

    model = fastgd.Sequential([fastgd.Dense(4, 8), fastgd.Dense(8, 3, activation="identity")], seed=0)
    with pytest.raises(ValueError, match=message + ".*the data must not change during fit"):
        model.fit(X, y, loss=fastgd.losses.SoftmaxCrossEntropy(class_weight=class_weight),
                  optimizer=fastgd.optim.SGD(lr=0.01), epochs=2, batch_size=16, shuffle=False, progress=False,
                  callbacks=[Change()])
    assert np.all(np.isfinite(model.params))


def _interrupting(call, when=lambda *args: True):
    """``call`` followed by Ctrl-C (when ``when(*args)``): the KeyboardInterrupt is raised as
    soon as it returns, as for a Ctrl-C that arrives while a C step runs with the GIL released."""

    def wrapped(*args, **kwargs):
        out = call(*args, **kwargs)
        if when(*args):
            _thread.interrupt_main()  # raised at the next bytecode, before this returns
        return out

    return wrapped


class _EngineInterruptedAfterSteps:
    """A model's engine whose steps with an optimizer update are followed by Ctrl-C (see
    _interrupting) from the `after`-th on."""

    def __init__(self, engine, after=1):
        self._engine, self._updates = engine, 0

        def update(*args):
            self._updates += args[8] is not None  # a plan: an update
            return self._updates >= after

        self.step = _interrupting(engine.step, update)

    def __getattr__(self, name):
        return getattr(self._engine, name)


def _kbint_model():
    return fastgd.Sequential([fastgd.Dense(8, 16, activation="tanh"), fastgd.Dense(16, 3, activation="identity")],
                             dtype="float64", seed=1)


def _kbint_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(100, 8)), rng.integers(0, 3, 100)


def test_ctrl_c_at_the_end_of_a_train_step_keeps_the_step_counted():
    X, y = _kbint_data()
    m, opt = _kbint_model(), optim.Adam(lr=1e-3)
    ref, ref_opt = _kbint_model(), optim.Adam(lr=1e-3)
    ref.train_step(X, y, "softmax_cross_entropy", ref_opt)
    m._engine = _EngineInterruptedAfterSteps(m._engine)
    with pytest.raises(KeyboardInterrupt):
        m.train_step(X, y, "softmax_cross_entropy", opt)
    np.testing.assert_array_equal(m.params, ref.params)  # the update was made ...
    assert opt.step_count == ref_opt.step_count == 1  # ... and counted
    np.testing.assert_array_equal(opt.state_dict()["state"], ref_opt.state_dict()["state"])


def test_ctrl_c_at_the_end_of_an_optimizer_step_keeps_the_step_counted(monkeypatch):
    g = np.random.default_rng(0).normal(size=100)
    p, ref = np.zeros_like(g), np.zeros_like(g)
    opt, ref_opt = optim.Adam(lr=1e-3), optim.Adam(lr=1e-3)
    ref_opt.step(ref, g)
    monkeypatch.setattr(_core, "inplace_optim_step", _interrupting(_core.inplace_optim_step))
    with pytest.raises(KeyboardInterrupt):
        opt.step(p, g)
    np.testing.assert_array_equal(p, ref)
    assert opt.step_count == ref_opt.step_count == 1


def test_fit_again_after_ctrl_c_continues_as_after_a_fit_that_ended_there():
    X, y = _kbint_data()

    def run(model, opt, schedule, epochs):
        model.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=epochs, batch_size=None, progress=False,
                  schedule=schedule)

    ref, ref_opt = _kbint_model(), optim.Adam(lr=1e-2)
    ref_schedule = fastgd.schedules.ExponentialDecay(ref_opt, 0.5, interval="step")
    run(ref, ref_opt, ref_schedule, 3)  # a fit stopped after 3 steps, then fit again
    run(ref, ref_opt, ref_schedule, 3)
    m, opt = _kbint_model(), optim.Adam(lr=1e-2)
    schedule = fastgd.schedules.ExponentialDecay(opt, 0.5, interval="step")
    engine = m._engine
    m._engine = _EngineInterruptedAfterSteps(engine, after=3)
    with pytest.raises(KeyboardInterrupt):
        run(m, opt, schedule, 6)
    m._engine = engine
    assert opt.step_count == 3  # the step the interrupt came at the end of is kept, and counted
    assert opt.lr == 1e-2 * 0.5 ** 3  # by the per-step schedule too
    run(m, opt, schedule, 3)
    assert opt.step_count == ref_opt.step_count == 6
    assert opt.lr == ref_opt.lr
    # not bit for bit: a fit's first steps may differ from a later fit's in the last bits
    np.testing.assert_allclose(m.params, ref.params, rtol=1e-9, atol=1e-12)
