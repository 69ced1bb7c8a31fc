"""fastgd beside NumPy, PyTorch, JAX and scikit-learn, in one run: the README's Performance section.

    python benchmarks/compare.py [--quick] [--plot docs/throughput.png] [--only train,gemm,...]
                                 [--targets all|avx512,avx2,...] [--cpu-clock]

Runs every ``benchmarks/compare_<area>.py`` section (each prints a Markdown table of ratios
measured in this run, threads pinned alike for every library) after a header naming the machine
and the versions, and draws training throughput against batch size (fastgd / PyTorch / NumPy)
as a PNG. Baselines that are not installed are left out, never failed. The header names the
CPU target fastgd runs (FASTGD_ARCH picks another); --targets all repeats everything once per
target this machine runs, best first, one table set per target as the README keeps them. On a
narrower target than the machine's best the baselines are held to its instructions too
(benchmarks/_timing.py, BASELINE_ISA_CAP), and the header says so.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time

import subprocess

import numpy as np

import fastgd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._timing import machine_info, optional_import, pinned_threads, measure_interleaved  # noqa: E402

SECTIONS = [
    ("gemm", "GEMM and dense layers"),
    ("losses", "Losses (value + gradient)"),
    ("optim", "Optimizer steps"),
    ("train", "Training throughput"),
    ("sklearn", "scikit-learn compatible estimators"),
    ("minimize", "Function minimization"),
]


def _rows_to_markdown(rows):
    if isinstance(rows, str):
        return rows
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


# What compare.py runs of each section so that the whole table stays under 10 minutes on 2 cores;
# each compare_<area>.py run on its own gives its full table (e.g. GEMM in float64 too).
SECTION_ARGS = {"gemm": {"dtypes": [np.float32]}}


def section(name, quick, cpu_clock=False):
    mod = importlib.import_module(f"benchmarks.compare_{name}")
    if hasattr(mod, "markdown"):
        extra = {"cpu_clock": True} if cpu_clock and name == "train" else {}
        return mod.markdown(quick, **SECTION_ARGS.get(name, {}), **extra)
    return _rows_to_markdown(mod.rows(quick))


def throughput_plot(path, quick=False):
    """Samples/s of a 784-256-128-10 training step against batch size, 1 thread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.compare_train import step_contenders

    widths = (784, 256, 128, 10)
    batches = [1, 4, 16, 64, 256, 1024] if not quick else [1, 16, 256]
    libraries = ("fastgd", "torch", "jax", "numpy")
    curves = {}
    for b in batches:
        c = step_contenders(widths, b, libraries)
        with pinned_threads(1):
            t = measure_interleaved(c, repeats=3, sample_seconds=0.05 if quick else 0.15)
        for k, v in t.items():
            curves.setdefault(k, []).append(b / v)
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, v in curves.items():
        ax.plot(batches, v, marker="o", label=k)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("training samples / s (1 thread)")
    ax.set_title(f"784-256-128-10 MLP, Adam, float32, fastgd target {fastgd.config()['isa']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return curves


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer shapes and repetitions")
    p.add_argument("--plot", default="docs/throughput.png", help="where to save the throughput plot ('' for none)")
    p.add_argument("--only", default="", help="comma-separated sections: " + ",".join(n for n, _ in SECTIONS))
    p.add_argument("--targets", default="", help="'all' or comma-separated CPU targets to run one after another "
                                                  "(default: the one fastgd selects)")
    p.add_argument("--cpu-clock", action="store_true",
                   help="time the 1-thread training steps by process CPU time (on a shared machine)")
    args = p.parse_args()
    if args.targets:
        cfg = fastgd.config()
        runnable = [t for t in cfg["isa_compiled"] if t in cfg["isa_cpu_supported"]][::-1]
        targets = runnable if args.targets == "all" else args.targets.split(",")
        status = 0
        for i, target in enumerate(targets):
            print(f"\n## fastgd target {target}\n", flush=True)
            argv = (["--quick"] if args.quick else []) + (["--cpu-clock"] if args.cpu_clock else [])
            argv += ["--only", args.only]
            argv += ["--plot", args.plot if i == 0 else ""]  # the plot of the best target
            env = dict(os.environ, FASTGD_ARCH=target)
            status |= subprocess.call([sys.executable, os.path.abspath(__file__)] + argv, env=env)
        sys.exit(status)
    only = {s for s in args.only.split(",") if s}
    t0 = time.perf_counter()
    print(f"Measured in one run, fastgd on its {fastgd.config()['isa']} CPU target, on:\n")
    for k, v in machine_info().items():
        print(f"- {k}: {v}")
    for name, title in SECTIONS:
        if only and name not in only:
            continue
        if importlib.util.find_spec(f"benchmarks.compare_{name}") is None:
            continue
        t1 = time.perf_counter()
        print(f"\n### {title}\n", flush=True)
        print(section(name, args.quick, args.cpu_clock), flush=True)
        print(f"\n({name}: {time.perf_counter() - t1:.0f} s)", file=sys.stderr, flush=True)
    if args.plot and (not only or "plot" in only) and optional_import("matplotlib"):
        throughput_plot(args.plot, args.quick)
        print(f"\n![training throughput vs batch size]({args.plot})")
    print(f"\n(compare.py ran in {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
