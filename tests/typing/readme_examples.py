"""The README's Quick start and API tour written as a typed user script.

``tests/test_typing.py`` checks it with ``mypy --strict``: the annotations of the public API
must let a user's fully typed code pass. It also runs, on small data.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import numpy.typing as npt

import fastgd as fg
from fastgd.sklearn import MLPClassifier, MLPRegressor


def rosenbrock(x: npt.NDArray[np.float64]) -> float:
    return float((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)


def rosenbrock_and_grad(x: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
    grad = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
    return rosenbrock(x), grad


def main(workdir: str) -> None:
    X, y = fg.datasets.make_spirals(600, n_classes=3, n_features=20, seed=0)
    X_train, X_test, y_train, y_test = fg.datasets.train_test_split(X, y, test_size=0.2, seed=0)

    model = fg.Sequential([
        fg.Dense(20, 64),
        fg.Dense(64, 64),
        fg.Dense(64, 3, activation="identity"),
    ], dtype="float32", seed=0)

    history: fg.History = model.fit(X_train, y_train, loss="softmax_cross_entropy",
                                    optimizer=fg.optim.Adam(lr=3e-3), epochs=3, batch_size=32,
                                    validation_split=0.1, metrics=["accuracy"],
                                    early_stopping=fg.EarlyStopping(patience=3), seed=0,
                                    progress=False)
    curve: list[float] = list(history["loss"])
    scores: dict[str, float] = model.evaluate(X_test, y_test, metrics=["accuracy"])
    print(curve[-1], scores["accuracy"], history.best_epoch)

    proba: np.ndarray = model.predict_proba(X_test)
    raw: np.ndarray = model.predict(X_test)
    assert proba.shape == raw.shape

    path = os.path.join(workdir, "spirals.npz")
    model.save(path)
    model = fg.load(path)
    first = model[0].W
    assert first is not None  # set once a Sequential holds the layer
    print(model.n_params, len(model), first.shape)

    res: fg.OptimizeResult = fg.minimize(rosenbrock, np.array([-1.2, 1.0]))
    print(res.x, res.nit, res.fun, res.success, res.message)
    res = fg.minimize(rosenbrock_and_grad, np.array([-1.2, 1.0]), jac=True)
    print(res.x, res.nfev)

    opt = fg.optim.SGD(lr=0.1, momentum=0.9)
    Xr = X_train[:, :4]
    yr = X_train[:, :1] * 0.5
    regressor = fg.Sequential([fg.Dense(4, 8), fg.Dense(8, 1, activation="identity")], seed=1)
    regressor.fit(Xr, yr, loss="mse", optimizer=opt, epochs=2,
                  schedule=fg.schedules.CosineDecay(opt, total_steps=2), progress=False)

    losses: list[fg.Loss] = [fg.SoftmaxCrossEntropy(label_smoothing=0.1), fg.BinaryCrossEntropy(), fg.MSE(),
                             fg.MAE(), fg.Huber(delta=0.5), fg.Poisson()]
    optimizers: list[fg.optim.Optimizer] = [fg.optim.AdamW(lr=1e-3), fg.optim.RMSProp(lr=1e-3),
                                            fg.optim.AdaGrad(lr=1e-2), opt]
    schedules: list[fg.schedules.Schedule] = [
        fg.schedules.StepDecay(optimizers[0], step_size=2), fg.schedules.ExponentialDecay(optimizers[1], 0.9),
        fg.schedules.InverseTimeDecay(optimizers[2], 0.5), fg.schedules.ReduceLROnPlateau(opt, patience=2)]
    print(len(losses), len(optimizers), len(schedules))
    step_loss: float = regressor.partial_fit(Xr, yr, loss=fg.Huber(delta=0.5), optimizer=optimizers[1])
    print(step_loss)

    adam = fg.optim.Adam(lr=1e-3)
    run = model.fit(X_train, y_train, loss=losses[0], optimizer=adam, epochs=1, progress=False)
    ck_path = fg.save_checkpoint(os.path.join(workdir, "ck.npz"), model, adam, history=run)
    ck = fg.load_checkpoint(ck_path)
    ck.model.fit(X_train, y_train, loss=losses[0], optimizer=ck.optimizer, schedule=ck.schedule,
                 epochs=2, seed=ck.seed, initial_epoch=ck.epoch, progress=False)

    peak = fg.maximize(lambda x: float(25 * np.sin(x[0]) - x[0] ** 2), np.array([-2.0]))
    newton = fg.minimize(rosenbrock_and_grad, np.array([-1.2, 1.0]), jac=True, optimizer=fg.NewtonCG())
    lbfgs = fg.minimize(rosenbrock_and_grad, np.array([-1.2, 1.0]), jac=True,
                        optimizer=fg.LBFGS(history_size=5))
    print(peak.x, newton.x, lbfgs.x)

    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, max_iter=5).fit(X_train, y_train)
    print(clf.score(X_test, y_test), clf.predict(X_test[:3]), clf.predict_proba(X_test[:3]).shape)
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0, max_iter=5).fit(Xr, yr.ravel())
    print(reg.predict(Xr[:3]))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        main(d)
