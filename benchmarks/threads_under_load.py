"""fastgd's default thread count on a machine that other processes keep busy.

Two workloads: the demo's training (``python -m fastgd``: 20-64-64-3 MLP, 27,000 spirals samples,
batch 32, Adam; 5 of its 20 epochs) and a 784-256-128-10 MLP at batch 128 (12,800 random
MNIST-shaped samples, 2 epochs). Each runs with 0, 1 and 2 competing processes that spin on a
core, with fastgd's default (all CPUs, fewer while other processes keep some busy), with 1
thread, and with as many threads as CPUs fixed (what the default was before it followed the
load). The contenders are interleaved, in a rotated order each round (a thread that just used a
lot of CPU is scheduled less for a while, so no contender should always follow another), and the
median of the rounds is kept; the table gives seconds and each time over the 1-thread time of
the same run.

Run:  python benchmarks/threads_under_load.py [--rounds 3]   (a few minutes)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.pop("OMP_NUM_THREADS", None)  # the default thread count must be fastgd's own

import numpy as np  # noqa: E402

import fastgd  # noqa: E402

SPIN = "while True: pass"


def demo_fit():
    X, y = fastgd.datasets.make_spirals(30_000, 3, n_features=20, seed=0)
    X_train, _X_test, y_train, _y_test = fastgd.datasets.train_test_split(X, y, test_size=0.2, seed=0)
    widths = [20, 64, 64]
    layers = [fastgd.Dense(a, b) for a, b in zip(widths[:-1], widths[1:])]
    layers.append(fastgd.Dense(64, 3, activation="identity", weight_init="glorot_uniform"))
    model = fastgd.Sequential(layers, seed=0)

    def run():
        model.reset_parameters(0)
        model.fit(X_train, y_train, loss="softmax_cross_entropy", optimizer=fastgd.optim.Adam(lr=3e-3),
                  epochs=5, batch_size=32, validation_split=0.1, metrics=("accuracy",), progress=False, seed=0)
    return run


def mnist_shaped_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12_800, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=12_800)
    model = fastgd.Sequential([fastgd.Dense(784, 256), fastgd.Dense(256, 128),
                               fastgd.Dense(128, 10, activation="identity")], seed=0)

    def run():
        model.reset_parameters(0)
        model.fit(X, y, loss="softmax_cross_entropy", optimizer=fastgd.optim.Adam(lr=1e-3), epochs=2,
                  batch_size=128, progress=False, seed=0)
    return run


def timed(run, threads):
    t0 = time.perf_counter()
    if threads is None:
        run()
    else:
        with fastgd.threads(threads):
            run()
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    cpus = fastgd.get_num_threads()
    assert fastgd.config()["threads_adapt_to_load"], "the default thread count should follow the load"
    workloads = {"demo (20-64-64-3, batch 32)": demo_fit(), "784-256-128-10, batch 128": mnist_shaped_fit()}
    contenders = {"default": None, "1 thread": 1, f"{cpus} threads fixed": cpus}
    for run in workloads.values():  # warm-up
        timed(run, 1)
    print(f"fastgd {fastgd.__version__}, {fastgd.config()['isa']}, {cpus} CPUs; load average before: "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    rows = []
    for busy in (0, 1, 2):
        spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
        try:
            time.sleep(0.5)
            for name, run in workloads.items():
                times = {c: [] for c in contenders}
                order = list(contenders.items())
                for r in range(args.rounds):
                    for c, threads in order[r % len(order):] + order[:r % len(order)]:
                        times[c].append(timed(run, threads))
                med = {c: statistics.median(v) for c, v in times.items()}
                rows.append((name, busy, med))
                print(f"  {name}, {busy} busy: " + ", ".join(f"{c} {s:.2f} s" for c, s in med.items()), flush=True)
        finally:
            for proc in spinners:
                proc.kill()
                proc.wait()
    header = ["workload", "busy processes"] + [f"{c} s" for c in contenders] + \
             [f"{c} / 1 thread" for c in contenders if c != "1 thread"]
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, busy, med in rows:
        ratios = [f"{med[c] / med['1 thread']:.2f}" for c in contenders if c != "1 thread"]
        print(f"| {name} | {busy} | " + " | ".join(f"{med[c]:.2f}" for c in contenders) + " | "
              + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
