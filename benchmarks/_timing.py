"""Timing helpers shared by fastgd's comparison scripts.

Measurements follow ../shared/BENCHMARKS.md: contenders run on the same data
with the same thread count, interleaved, after a warm-up; the figure kept is the
best of several repetitions. What counts is the ratio measured in one run.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import statistics
import time
from typing import Callable, Iterator, Mapping

import numpy as np

import fastgd


def optional_import(name: str):
    """The module, or None when it is not installed (baselines are optional)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


torch = optional_import("torch")
threadpoolctl = optional_import("threadpoolctl")


@contextlib.contextmanager
def pinned_threads(n: int) -> Iterator[None]:
    """Run the block with `n` threads in fastgd, PyTorch and NumPy's BLAS alike."""
    limits = threadpoolctl.threadpool_limits(n) if threadpoolctl else contextlib.nullcontext()
    previous_torch = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(n)
    try:
        with limits, fastgd.threads(n):
            yield
    finally:
        if torch:
            torch.set_num_threads(previous_torch)


def _calibrate(fn: Callable[[], object], min_seconds: float) -> int:
    """Calls per sample so that one sample lasts at least `min_seconds`."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or number >= 1 << 20:
            return number
        number = max(number * 2, int(number * min_seconds / max(elapsed, 1e-9)) + 1)


def measure_interleaved(contenders: Mapping[str, Callable[[], object]], *, repeats: int = 7,
                     sample_seconds: float = 0.05, statistic: str = "min",
                     clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Seconds per call of each contender, measured round-robin.

    Each contender is warmed up and calibrated, then the contenders take turns
    for `repeats` rounds; the best (``statistic="min"``) or median time per call
    over the rounds is returned. `clock` reads the time: wall time by default;
    ``time.thread_time`` (the calling thread's CPU time) leaves out the time the
    scheduler gives to other processes, which on a crowded machine penalizes
    slow contenders most, and is exact only for single-threaded contenders.
    """
    numbers = {name: _calibrate(fn, sample_seconds) for name, fn in contenders.items()}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            number = numbers[name]
            start = clock()
            for _ in range(number):
                fn()
            samples[name].append((clock() - start) / number)
    pick = min if statistic == "min" else statistics.median
    return {name: pick(values) for name, values in samples.items()}


def cpu_model() -> str:
    return fastgd.config()["machine"]


def machine_info() -> dict[str, str]:
    """What a results table must state: the machine, the ISA and every version."""
    cfg = fastgd.config()
    runnable = ", ".join(t for t in cfg["isa_compiled"] if t in cfg["isa_cpu_supported"])
    info = {
        "machine": cfg["machine"],
        "cores available": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                               else os.cpu_count()),
        "fastgd": f"{cfg['version']} (CPU target {cfg['isa']} of {runnable}, OpenMP {cfg['openmp']}, "
                  f"{cfg['compiler']})",
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if threadpoolctl:
        blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            info["numpy BLAS"] = f"{blas[0].get('internal_api')} {blas[0].get('version')}"
    if torch:
        info["torch"] = torch.__version__
    sklearn = optional_import("sklearn")
    if sklearn:
        info["scikit-learn"] = sklearn.__version__
    try:  # not imported here: the JAX baseline sets XLA's thread flags before its first import
        from importlib.metadata import version
        info["jax"] = f"{version('jax')} (optax {version('optax')}, XLA CPU, 1 thread)"
    except Exception:
        pass
    return info


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(slower: float, faster: float) -> str:
    """`slower / faster` formatted as a speed-up, e.g. '1.83x'."""
    return f"{slower / faster:.2f}x"
