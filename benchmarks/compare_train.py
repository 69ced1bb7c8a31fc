"""Training throughput: fastgd vs PyTorch vs NumPy vs scikit-learn, same run.

    python benchmarks/compare_train.py [--quick]

Rows: samples/s of one training step (forward + softmax cross-entropy + backward + Adam) on
random data for the model sweep of issue 4, and one epoch of fit on 60,000 x 784 float32 data
(784-256-128-10, batch 128, Adam) beside scikit-learn's MLPClassifier and a plain PyTorch loop.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import fastgd
from benchmarks._timing import (machine_info, markdown_table, optional_import, pinned_threads,
                                time_interleaved, torch)
from benchmarks.baselines_train import NumpyMLP, TorchLoop

SWEEP = [((784, 256, 128, 10), 32, 1), ((784, 256, 128, 10), 128, 1), ((784, 256, 128, 10), 512, 1),
         ((20, 64, 64, 3), 32, 1), ((784, 1024, 1024, 10), 256, 1), ((784, 256, 128, 10), 512, 2)]


def fastgd_model(widths, seed=0):
    layers = [fastgd.Dense(a, b) for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastgd.Dense(widths[-2], widths[-1], activation="identity"))
    return fastgd.Sequential(layers, dtype="float32", seed=seed)


def step_rows(quick=False):
    rows = []
    sklearn_nn = optional_import("sklearn.neural_network")
    for widths, batch, threads in (SWEEP[:2] + SWEEP[3:4] if quick else SWEEP):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(batch, widths[0])).astype(np.float32)
        y = rng.integers(0, widths[-1], size=batch)
        model = fastgd_model(widths)
        opt = fastgd.optim.Adam(lr=1e-4)
        loss = fastgd.losses.SoftmaxCrossEntropy()
        contenders = {"fastgd": lambda: model.train_step(x, y, loss, opt)}
        npm = NumpyMLP(widths, lr=1e-4)
        contenders["numpy"] = lambda: npm.step(x, y)
        if torch is not None:
            tl = TorchLoop(widths, lr=1e-4)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            contenders["torch"] = lambda: tl.step(tx, ty)
        if sklearn_nn is not None:
            clf = sklearn_nn.MLPClassifier(hidden_layer_sizes=widths[1:-1], solver="adam", learning_rate_init=1e-4,
                                           batch_size=batch, alpha=0.0)
            classes = np.arange(widths[-1])
            warnings.filterwarnings("ignore")
            clf.partial_fit(x, y, classes=classes)
            contenders["sklearn"] = lambda: clf.partial_fit(x, y)
        with pinned_threads(threads):
            t = time_interleaved(contenders, repeats=3 if quick else 5, sample_seconds=0.1 if quick else 0.2)
        sps = {k: batch / v for k, v in t.items()}
        rows.append({"model": "-".join(map(str, widths)), "batch": batch, "threads": threads, "samples_per_s": sps})
    return rows


def epoch_rows(quick=False):
    n = 12_000 if quick else 60_000
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    widths = (784, 256, 128, 10)
    out = {}
    with pinned_threads(1):
        model = fastgd_model(widths)
        opt = fastgd.optim.Adam(lr=1e-4)
        model.fit(X[:2048], y[:2048], loss="softmax_cross_entropy", optimizer=opt, epochs=1, batch_size=128,
                  progress=False, seed=0)
        best = []
        for _ in range(2):
            t0 = time.perf_counter()
            model.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=1, batch_size=128, progress=False,
                      seed=0)
            best.append(time.perf_counter() - t0)
        out["fastgd"] = min(best)
        if torch is not None:
            tl = TorchLoop(widths, lr=1e-4)
            tX, ty = torch.from_numpy(X), torch.from_numpy(y)
            g = torch.Generator().manual_seed(0)
            tl.epoch(tX[:2048], ty[:2048], 128, g)
            best = []
            for _ in range(2):
                t0 = time.perf_counter()
                tl.epoch(tX, ty, 128, g)
                best.append(time.perf_counter() - t0)
            out["torch"] = min(best)
        sklearn_nn = optional_import("sklearn.neural_network")
        if sklearn_nn is not None:
            warnings.filterwarnings("ignore")
            clf = sklearn_nn.MLPClassifier(hidden_layer_sizes=(256, 128), solver="adam", batch_size=128,
                                           learning_rate_init=1e-4, max_iter=1, alpha=0.0, random_state=0)
            t0 = time.perf_counter()
            clf.fit(X, y)
            out["sklearn"] = time.perf_counter() - t0
    return {"n": n, "seconds": out}


def rows(quick=False):
    return {"steps": step_rows(quick), "epoch": epoch_rows(quick)}


def markdown(quick=False):
    r = rows(quick)
    table = []
    for row in r["steps"]:
        s = row["samples_per_s"]
        f = s["fastgd"]
        table.append([row["model"], row["batch"], row["threads"], f"{f:,.0f}"] +
                     [f"{s[k]:,.0f} ({f / s[k]:.2f}x)" if k in s else "n/a" for k in ("torch", "numpy", "sklearn")])
    out = [markdown_table(["model", "batch", "threads", "fastgd samples/s", "torch (fastgd ×)", "numpy (fastgd ×)",
                           "sklearn (fastgd ×)"], table)]
    e = r["epoch"]["seconds"]
    out.append(markdown_table([f"one epoch of fit, {r['epoch']['n']:,} x 784, 784-256-128-10, batch 128, Adam, "
                               "1 thread", "seconds", "fastgd time / this"],
                              [[k, f"{v:.2f}", f"{e['fastgd'] / v:.2f}"] for k, v in e.items()]))
    return "\n\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    for k, v in machine_info().items():
        print(f"- {k}: {v}")
    print()
    print(markdown(args.quick))


if __name__ == "__main__":
    main()
