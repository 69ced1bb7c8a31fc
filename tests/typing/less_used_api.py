"""The less-used public API as a typed user script: curvature, metrics, callback hooks, the
low-level model methods, datasets and data-parallel sharding. ``tests/test_typing.py`` checks
it with ``mypy --strict`` and runs it, on small data."""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile

import numpy as np
import numpy.typing as npt

import fastgd as fg
from fastgd import curvature, distributed, metrics


class LossRecorder(fg.callbacks.Callback):
    """A user callback: every hook typed as the base class declares it."""

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.losses: list[float] = []

    def on_train_begin(self, logs: dict[str, float]) -> None:
        self.epochs.clear()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)
        self.losses.append(logs["loss"])
        if self.model is not None and logs["loss"] < 1e-9:
            self.model.stop_training = True

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self, logs: dict[str, float]) -> None:
        assert len(self.epochs) == len(self.losses)


def quadratic(x: npt.NDArray[np.float64]) -> float:
    return float(x @ x + x[0] * x[1])


def quadratic_grad(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    grad: npt.NDArray[np.float64] = 2 * x + x[::-1]
    return grad


def main(workdir: str) -> None:
    X, y = fg.datasets.make_spirals(300, n_classes=3, n_features=6, seed=1)
    X_train, X_test, y_train, y_test = fg.datasets.train_test_split(X, y, test_size=0.25, seed=1)
    model = fg.Sequential([fg.Dense(6, 16, activation="gelu"), fg.Dense(16, 3, activation="identity")],
                          dtype="float64", seed=0)

    recorder = LossRecorder()
    log_path = os.path.join(workdir, "log.csv")
    model.fit(X_train, y_train, loss="softmax_cross_entropy", optimizer=fg.optim.Adamax(lr=1e-2), epochs=2,
              callbacks=[recorder, fg.callbacks.CSVLogger(log_path),
                         fg.callbacks.ModelCheckpoint(os.path.join(workdir, "ck-{epoch}.npz"), monitor="loss")],
              progress=False)
    print(recorder.epochs, recorder.losses)

    # low-level model methods
    out: np.ndarray = model.forward(X_test)
    grad_x: np.ndarray = model.backward(np.ones_like(out))
    value, grad = model.loss_and_grad(X_test, y_test, "softmax_cross_entropy")
    step_loss: float = model.train_step(X_train[:32], y_train[:32], "softmax_cross_entropy", fg.optim.SGD(lr=0.1))
    weights: list[np.ndarray] = model.get_weights()
    model.set_weights(weights)
    model.summary(print_fn=lambda table: None)
    v = np.random.default_rng(0).standard_normal(model.n_params)
    hv: np.ndarray = model.hvp(X_test, y_test, v, loss="softmax_cross_entropy")
    gv: np.ndarray = model.gnvp(X_test, y_test, v, loss="softmax_cross_entropy")
    print(grad_x.shape, value, grad.shape, step_loss, hv @ v, gv @ v)

    # curvature
    top: np.ndarray = curvature.top_eigenvalues(model, X_test, y_test, k=2, loss="softmax_cross_entropy")
    density: dict[str, np.ndarray] = curvature.spectrum(model, X_test, y_test, loss="softmax_cross_entropy",
                                                        steps=10, n_vectors=2)
    hq: np.ndarray = curvature.hessian(quadratic, np.array([1.0, -1.0]), jac=quadratic_grad)
    hvq: np.ndarray = curvature.hvp(quadratic, np.array([1.0, -1.0]), np.array([1.0, 0.0]), jac=quadratic_grad)
    largest, smallest = curvature.lanczos_extremes(lambda u: hq @ u, 2, k=1)
    kind: str = curvature.classify_stationary(np.linalg.eigvalsh(hq))
    kappa: float = curvature.condition_number(model, X_test, y_test, loss="softmax_cross_entropy", steps=10)
    along: dict[str, float] = curvature.gradient_curvature(model, X_test, y_test, loss="softmax_cross_entropy")
    print(top, density["grid"].shape, hvq, largest, smallest, kind, kappa, along["optimal_lr"])

    # metrics
    labels = np.argmax(model.predict(X_test), axis=1)
    acc: float = metrics.accuracy(y_test, labels)
    err: float = metrics.zero_one_loss(y_test, labels)
    mse: float = metrics.mean_squared_error(X_test[:, 0], X_test[:, 1])
    mae: float = metrics.mean_absolute_error(X_test[:, 0], X_test[:, 1])
    print(acc, err, mse, mae, metrics.r2_score(X_test[:, 0], X_test[:, 1]))

    # data-parallel sharding (with mpi4py, one process: the whole range)
    if importlib.util.find_spec("mpi4py") is not None:
        comm = importlib.import_module("mpi4py.MPI").COMM_SELF
        part: slice = distributed.shard(len(X_train), comm)
        print(X_train[part].shape)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        main(d)
