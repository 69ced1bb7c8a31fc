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
import sys
import time
from typing import Callable, Iterator, Mapping

# When FASTGD_ARCH holds fastgd to a narrower CPU target than this machine's best, the baselines are
# held to the same instructions, as a CPU with no more (AVX2 only: Intel Haswell to Comet Lake, AMD Zen
# 1-3) would run them. Each library reads its cap from the environment once, when it loads: OpenBLAS
# (NumPy's and SciPy's, hence scikit-learn's) its Haswell kernels, PyTorch its own kernels (ATen) and
# its GEMM (MKL) AVX2, oneDNN (PyTorch's and XLA's dots) AVX2. XLA's own code generation is capped by a
# flag (jax_environment).
BASELINE_ISA_CAP = {"avx2": {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2",
                             "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def _cap_baselines() -> None:
    """Put FASTGD_ARCH's entries of BASELINE_ISA_CAP into the environment (a variable already set is
    kept). A script that loaded NumPy or PyTorch before importing this module is started again in
    place (os.execv, same process id and arguments) so that they load under the cap."""
    missing = {k: v for k, v in BASELINE_ISA_CAP.get(os.environ.get("FASTGD_ARCH", ""), {}).items()
               if k not in os.environ}
    if not missing:
        return
    os.environ.update(missing)
    if "numpy" in sys.modules or "torch" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, sys.orig_argv)


_cap_baselines()

import numpy as np  # noqa: E402  (after the cap)

import fastgd  # noqa: E402


def optional_import(name: str):
    """The module, or None when it is not installed (baselines are optional)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


torch = optional_import("torch")
threadpoolctl = optional_import("threadpoolctl")


def _set_process_affinity(cpus: set[int]) -> None:
    """Give every thread of this process (one entry per thread in /proc/self/task) the CPU set
    `cpus`; threads started later inherit the mask of the thread that starts them."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, PermissionError):  # the thread ended meanwhile
            pass


@contextlib.contextmanager
def on_cpus(n: int) -> Iterator[None]:
    """Confine the whole process, every thread of every library, to `n` CPUs for the block.

    A thread-count setting only binds the libraries that honour it (XLA's CPU runtime, for one,
    keeps a pool of its own); the CPU affinity binds them all: with n=1, the process CPU time can
    never exceed the wall time. Where the OS has no per-thread affinity, the block runs unconfined.
    """
    task_dir = "/proc/self/task"
    if not (hasattr(os, "sched_setaffinity") and os.path.isdir(task_dir)):
        yield
        return
    allowed = os.sched_getaffinity(0)
    _set_process_affinity(set(sorted(allowed)[:n]))
    try:
        yield
    finally:
        _set_process_affinity(allowed)


def confinement() -> str:
    """How `pinned_threads` confines a row, for the header of a results table."""
    if hasattr(os, "sched_setaffinity") and os.path.isdir("/proc/self/task"):
        return ("each library's thread count set to n, and every thread of the process bound to n CPUs "
                "(sched_setaffinity over /proc/self/task) while an n-thread row runs")
    return "each library's thread count set to n (no per-thread CPU affinity on this OS)"


def process_cpu_share(fn: Callable[[], object], seconds: float = 0.3) -> float:
    """Process CPU time over wall time while `fn` runs repeatedly: at most 1.0 on one core,
    about k when k threads stay busy."""
    number = _calibrate(fn, seconds)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(number):
        fn()
    return (time.process_time() - c0) / (time.perf_counter() - t0)


@contextlib.contextmanager
def pinned_threads(n: int) -> Iterator[None]:
    """Run the block with `n` threads in fastgd, PyTorch and NumPy's BLAS alike, the process
    confined to `n` CPUs (see `on_cpus`) so that a library that ignores thread counts gets no more."""
    limits = threadpoolctl.threadpool_limits(n) if threadpoolctl else contextlib.nullcontext()
    previous_torch = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(n)
    try:
        with limits, fastgd.threads(n), on_cpus(n):
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


# Seconds to wait before each timed sample when the process may run on several CPUs: after a
# call, a library's idle threads keep spinning for a while in case more work comes (OpenBLAS's
# wait lasts 2**28 cycles, about 0.1 s), and on a 2-core machine such a thread takes one of the
# two CPUs from the contender timed next (fastgd's 2-thread step at batch 512 ran at half its
# speed right after a NumPy product).
SETTLE_SECONDS = 0.15


def _cpus_available() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def measure_interleaved(contenders: Mapping[str, Callable[[], object]], *, repeats: int = 7,
                     sample_seconds: float = 0.05, statistic: str = "min",
                     clock: Callable[[], float] = time.perf_counter,
                     settle: float | None = None) -> dict[str, float]:
    """Seconds per call of each contender, measured round-robin.

    Each contender is warmed up and calibrated, then the contenders take turns
    for `repeats` rounds; the best (``statistic="min"``) or median time per call
    over the rounds is returned. `clock` reads the time: wall time by default;
    ``time.thread_time`` (the calling thread's CPU time) leaves out the time the
    scheduler gives to other processes, which on a crowded machine penalizes
    slow contenders most, and is exact only for single-threaded contenders.
    Each sample starts `settle` seconds after the one before ends (by default
    SETTLE_SECONDS when the process may run on more than one CPU, else 0), so
    that no contender's idle threads still spin while the next one is timed.
    """
    if settle is None:
        settle = SETTLE_SECONDS if _cpus_available() > 1 else 0.0
    numbers = {name: _calibrate(fn, sample_seconds) for name, fn in contenders.items()}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            number = numbers[name]
            if settle:
                time.sleep(settle)
            start = clock()
            for _ in range(number):
                fn()
            samples[name].append((clock() - start) / number)
    pick = min if statistic == "min" else statistics.median
    return {name: pick(values) for name, values in samples.items()}


JAX_ISA_CAP = {"avx2": "AVX2"}  # fastgd target -> the matching --xla_cpu_max_isa


def jax_environment() -> str:
    """Set the environment that keeps JAX's CPU backend on one thread, before jax is imported
    (XLA reads it once), and describe it.

    XLA sizes its CPU thread pool from the NPROC environment variable when set: NPROC=1 leaves
    one worker, where --xla_cpu_multi_thread_eigen=false alone no longer keeps a compiled step on
    one thread. The 1-thread rows bind the process to one CPU as well (`on_cpus`), which holds
    whatever else XLA starts. When fastgd runs a narrower target (FASTGD_ARCH=avx2), XLA's code
    generation is capped to the same ISA with --xla_cpu_max_isa, and its YNNPACK fusions are
    turned off: YNNPACK's dot kernels pick their ISA from the CPU and ignore the cap, so without
    this JAX would still run 512-bit dots. XLA then hands its dots to oneDNN, whose JIT is capped
    by ONEDNN_MAX_CPU_ISA (BASELINE_ISA_CAP; it reports "isa:Intel AVX2" with ONEDNN_VERBOSE=1); on
    an AVX2-only CPU JAX would run YNNPACK's AVX2 kernels instead."""
    os.environ.setdefault("NPROC", "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        flags += " --xla_cpu_multi_thread_eigen=false"
    cap = JAX_ISA_CAP.get(os.environ.get("FASTGD_ARCH", ""))
    if cap and "xla_cpu_max_isa" not in flags:
        flags += f" --xla_cpu_max_isa={cap}"
    if cap and "xla_cpu_experimental_ynn_fusion_type" not in flags:
        flags += " --xla_cpu_experimental_ynn_fusion_type="
    os.environ["XLA_FLAGS"] = flags.strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    note = (f" (no YNNPACK, whose dots ignore the cap), ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}"
            if cap else "")
    return f"NPROC={os.environ['NPROC']}, XLA_FLAGS={os.environ['XLA_FLAGS']}{note}, one CPU in 1-thread rows"


def cpu_model() -> str:
    return fastgd.config()["machine"]


def machine_info() -> dict[str, str]:
    """What a results table must state: the machine, the ISA and every version."""
    cfg = fastgd.config()
    runnable = ", ".join(t for t in cfg["isa_compiled"] if t in cfg["isa_cpu_supported"])
    info = {
        "machine": cfg["machine"],
        "load average at start (1, 5, 15 min)": ", ".join(f"{v:.2f}" for v in os.getloadavg()),
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
            info["numpy BLAS"] = (f"{blas[0].get('internal_api')} {blas[0].get('version')} "
                                  f"({blas[0].get('architecture')} kernels)")
    info["threads"] = confinement()
    if torch:
        info["torch"] = f"{torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels)"
    cap = BASELINE_ISA_CAP.get(os.environ.get("FASTGD_ARCH", ""))
    info["baselines capped"] = (f"to fastgd's {os.environ['FASTGD_ARCH']} target: " + ", ".join(
        f"{k}={os.environ.get(k)}" + ("" if os.environ.get(k) == v else " (set otherwise: not capped)")
        for k, v in cap.items()) if cap else "no (each runs the best kernels of this CPU)")
    sklearn = optional_import("sklearn")
    if sklearn:
        info["scikit-learn"] = sklearn.__version__
    try:  # not imported here: the JAX baseline sets XLA's thread flags before its first import
        from importlib.metadata import version
        info["jax"] = f"{version('jax')} (optax {version('optax')}, XLA CPU; {jax_environment()})"
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
