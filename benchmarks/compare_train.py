"""Training throughput: fastgd vs PyTorch vs JAX vs NumPy vs scikit-learn, same run.

    python benchmarks/compare_train.py [--quick] [--steps] [--cpu-clock]

Rows: samples/s of one training step (forward + softmax cross-entropy + backward + Adam) on
random data for a sweep of models and batch sizes (JAX: a jax.jit step with optax.adam, on
one thread, so in the 1-thread rows only; every n-thread row binds the whole process to n
CPUs), and one epoch of fit on 60,000 x 784 float32 data (784-256-128-10, batch 128, Adam)
beside scikit-learn's MLPClassifier and a plain PyTorch loop.
"""

from __future__ import annotations

import argparse
import time
import os
import sys
import warnings

import numpy as np

import fastgd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script
from benchmarks._timing import (machine_info, markdown_table, optional_import, pinned_threads,
                                measure_interleaved, process_cpu_share, torch)
from benchmarks.baselines_train import JaxLoop, NumpyMLP, TorchLoop, jax_single_thread

SWEEP = [((784, 256, 128, 10), 32, 1), ((784, 256, 128, 10), 128, 1), ((784, 256, 128, 10), 512, 1),
         ((20, 64, 64, 3), 32, 1), ((784, 1024, 1024, 10), 256, 1), ((784, 256, 128, 10), 512, 2)]


def fastgd_model(widths, seed=0):
    layers = [fastgd.Dense(a, b) for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastgd.Dense(widths[-2], widths[-1], activation="identity"))
    return fastgd.Sequential(layers, dtype="float32", seed=seed)


def step_contenders(widths, batch, libraries=("fastgd", "numpy", "torch", "jax", "sklearn"), seed=0):
    """One training step (forward, softmax cross-entropy, backward, Adam) per library, as
    callables on the same random batch; libraries not installed are left out."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], size=batch)
    contenders = {}
    if "fastgd" in libraries:
        model = fastgd_model(widths)
        opt = fastgd.optim.Adam(lr=1e-4)
        loss = fastgd.losses.SoftmaxCrossEntropy()
        contenders["fastgd"] = lambda: model.train_step(x, y, loss, opt)
    if "numpy" in libraries:
        npm = NumpyMLP(widths, lr=1e-4)
        contenders["numpy"] = lambda: npm.step(x, y)
    if "torch" in libraries and torch is not None:
        tl = TorchLoop(widths, lr=1e-4)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        contenders["torch"] = lambda: tl.step(tx, ty)
    if "jax" in libraries and jax_single_thread() is not None:
        jl = JaxLoop(widths, lr=1e-4)
        jx, jy = jl.inputs(x, y)
        jl.step(jx, jy)  # compile outside the timing
        contenders["jax"] = lambda: jl.step(jx, jy)
    sklearn_nn = optional_import("sklearn.neural_network")
    if "sklearn" in libraries and sklearn_nn is not None:
        clf = sklearn_nn.MLPClassifier(hidden_layer_sizes=widths[1:-1], solver="adam", learning_rate_init=1e-4,
                                       batch_size=batch, alpha=0.0)
        warnings.filterwarnings("ignore")
        clf.partial_fit(x, y, classes=np.arange(widths[-1]))
        contenders["sklearn"] = lambda: clf.partial_fit(x, y)
    return contenders


def step_rows(quick=False, cpu_clock=False):
    """Samples/s per library for each row of the sweep. With `cpu_clock`, 1-thread rows are timed
    by the process CPU time: the process is bound to one CPU then, so that time is all the CPU its
    contender got, and time the scheduler gives to other processes on a shared machine does not count."""
    rows = []
    for widths, batch, threads in (SWEEP[:2] + SWEEP[3:4] if quick else SWEEP):
        libraries = ("fastgd", "numpy", "torch", "sklearn") + (("jax",) if threads == 1 else ())
        contenders = step_contenders(widths, batch, libraries)
        clock = time.process_time if cpu_clock and threads == 1 else time.perf_counter
        with pinned_threads(threads):
            t = measure_interleaved(contenders, repeats=3 if quick else 5, sample_seconds=0.1 if quick else 0.2,
                                    clock=clock)
            cpu = {k: process_cpu_share(fn, 0.1) for k, fn in contenders.items()}
        sps = {k: batch / v for k, v in t.items()}
        rows.append({"model": "-".join(map(str, widths)), "batch": batch, "threads": threads, "samples_per_s": sps,
                     "cpu_per_wall": cpu})
    return rows


def cpu_note(steps):
    """The check that each row ran on the cores it says: the highest process CPU time / wall time
    seen per library and thread count (at most 1.00 for one thread)."""
    parts = []
    for threads in sorted({r["threads"] for r in steps}):
        most = {}
        for r in steps:
            if r["threads"] == threads:
                for k, v in r["cpu_per_wall"].items():
                    most[k] = max(most.get(k, 0.0), v)
        parts.append(f"{threads} thread{'s' * (threads > 1)}: " + ", ".join(f"{k} {v:.2f}" for k, v in most.items()))
    return "Process CPU time / wall time while each library stepped, highest over the rows: " + "; ".join(parts) + "."


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
            best = []
            for _ in range(2):  # best of 2, like the other contenders
                clf = sklearn_nn.MLPClassifier(hidden_layer_sizes=(256, 128), solver="adam", batch_size=128,
                                               learning_rate_init=1e-4, max_iter=1, alpha=0.0, random_state=0)
                t0 = time.perf_counter()
                clf.fit(X, y)
                best.append(time.perf_counter() - t0)
            out["sklearn"] = min(best)
    return {"n": n, "seconds": out}


def digits_rows(quick=False):
    """scikit-learn's digits: fastgd vs MLPClassifier with the same architecture (64-128-10),
    optimizer (Adam, lr 2e-3), batch size (32) and epochs (40), 1 thread: seconds and test
    accuracy."""
    datasets = optional_import("sklearn.datasets")
    if datasets is None:
        return []
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = fastgd.datasets.train_test_split(X, y, test_size=0.25, seed=0)
    out = []
    with pinned_threads(1):
        model = fastgd_model((64, 128, 10))
        t0 = time.perf_counter()
        model.fit(Xtr, ytr, loss="softmax_cross_entropy", optimizer=fastgd.optim.Adam(lr=2e-3), epochs=40,
                  batch_size=32, progress=False, seed=0)
        t = time.perf_counter() - t0
        out.append(["fastgd", f"{t:.2f}", f"{model.evaluate(Xte, yte, metrics=['accuracy'])['accuracy']:.4f}"])
        warnings.filterwarnings("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(128,), solver="adam", learning_rate_init=2e-3, batch_size=32,
                            max_iter=40, alpha=0.0, n_iter_no_change=1000, random_state=0)
        t0 = time.perf_counter()
        clf.fit(Xtr, ytr)
        t2 = time.perf_counter() - t0
        out.append(["scikit-learn MLPClassifier", f"{t2:.2f}", f"{clf.score(Xte, yte):.4f}"])
    out[0].append("1.00")
    out[1].append(f"{t2 / t:.2f}")
    return out


def rows(quick=False, cpu_clock=False):
    return {"steps": step_rows(quick, cpu_clock), "epoch": epoch_rows(quick), "digits": digits_rows(quick)}


def markdown(quick=False, steps_only=False, cpu_clock=False):
    r = {"steps": step_rows(quick, cpu_clock), "epoch": {}, "digits": []} if steps_only else rows(quick, cpu_clock)
    table = []
    for row in r["steps"]:
        s = row["samples_per_s"]
        f = s["fastgd"]
        table.append([row["model"], row["batch"], row["threads"], f"{f:,.0f}"] +
                     [f"{s[k]:,.0f} ({f / s[k]:.2f}x)" if k in s else "n/a"
                      for k in ("torch", "jax", "numpy", "sklearn")])
    out = [markdown_table(["model", "batch", "threads", "fastgd samples/s", "torch (fastgd ×)", "jax (fastgd ×)",
                           "numpy (fastgd ×)", "sklearn (fastgd ×)"], table)]
    out.append(cpu_note(r["steps"]))
    if steps_only:
        return "\n\n".join(out)
    e = r["epoch"]["seconds"]
    out.append(markdown_table([f"one epoch of fit, {r['epoch']['n']:,} x 784, 784-256-128-10, batch 128, Adam, "
                               "1 thread", "seconds", "fastgd time / this"],
                              [[k, f"{v:.2f}", f"{e['fastgd'] / v:.2f}"] for k, v in e.items()]))
    if r["digits"]:
        out.append(markdown_table(["digits, 64-128-10, Adam lr 2e-3, batch 32, 40 epochs, 1 thread", "fit seconds",
                                   "test accuracy", "time / fastgd's"], r["digits"]))
    return "\n\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--steps", action="store_true", help="the training-step table only")
    p.add_argument("--cpu-clock", action="store_true",
                   help="time 1-thread step rows by process CPU time (for a shared machine)")
    args = p.parse_args()
    for k, v in machine_info().items():
        print(f"- {k}: {v}")
    print()
    print(markdown(args.quick, args.steps, args.cpu_clock))


if __name__ == "__main__":
    main()
