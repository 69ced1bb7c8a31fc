"""CPU target selection, thread control and build configuration."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import threading
import warnings
from typing import Iterator

from fastgd import _core, _validation

__all__ = ["set_num_threads", "get_num_threads", "threads", "config", "show_config"]

_ARCH_ENV = "FASTGD_ARCH"

MAX_THREADS = 4096  # the most kernel threads fastgd runs


def _select_isa_from_environment() -> None:
    """Pick the kernels' CPU target: $FASTGD_ARCH if set and usable, else the best."""
    requested = os.environ.get(_ARCH_ENV, "").strip().lower()
    if requested in ("", "auto", "native", "best"):
        _core.isa_select(_core.isa_best())
        return
    try:
        _core.isa_select(requested)
    except ValueError as exc:
        best = _core.isa_best()
        warnings.warn(f"{_ARCH_ENV}={requested!r} ignored ({exc}); using {best!r}",
                      RuntimeWarning, stacklevel=3)
        _core.isa_select(best)


def _available_cpus() -> int:
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(1, count or 1)


def _omp_num_threads() -> int | None:
    """The first level of $OMP_NUM_THREADS when it is a thread count fastgd runs (ASCII digits,
    1 to MAX_THREADS, as set_num_threads takes), else None, with a warning unless it is unset.
    Whatever the variable holds, importing fastgd must not fail on it."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not value:
        return None
    first = value.split(",")[0].strip()
    # str.isdigit also holds for digits int() cannot read ("²"), and the count is a C int
    if first.isascii() and first.isdigit() and len(first) <= 18 and 1 <= int(first) <= MAX_THREADS:
        return int(first)
    warnings.warn(f"OMP_NUM_THREADS={value!r} is not a thread count in [1, {MAX_THREADS}]; ignored",
                  RuntimeWarning, stacklevel=3)
    return None


def _use_default_threads() -> None:
    """The default: $OMP_NUM_THREADS if set (exactly that many), else every CPU this process may
    run on, fewer while other processes keep some of them busy."""
    requested = _omp_num_threads()
    _core.set_num_threads(_available_cpus() if requested is None else requested)
    _core.set_threads_adapt_to_load(requested is None)


def _check_num_threads(n: object) -> int:
    return _validation.integer("n", n, 1, maximum=MAX_THREADS)


# Set in the child of an os.fork() (multiprocessing's default start method on Linux). The
# OpenMP runtime is not fork-safe: a child inherits the parent's thread-pool bookkeeping but
# not its threads, so (with GCC's libgomp) its first parallel region waits forever for workers
# that do not exist. A child therefore runs every kernel on one thread, which enters no
# parallel region; children of spawn/forkserver start fresh and are not affected. The models'
# engines forget the calls that were in flight in the parent's other threads (see
# _core.after_fork_in_child).
_forked_child = False
_fork_warned = False


def _after_fork_in_child() -> None:
    global _forked_child, _blocks_lock
    _forked_child = True
    _blocks_lock = threading.Lock()  # the parent's other threads may have held it
    _blocks.clear()
    _core.set_num_threads(1)
    _core.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_num_threads(n: int) -> None:
    """Set how many threads fastgd's kernels may use (a positive integer).

    Small operations use fewer threads than allowed, as they run faster that way.
    The default (no ``$OMP_NUM_THREADS``) is every CPU the process may run on, but
    no more than other processes leave free at the moment (measured every 0.1 s on
    Linux): a thread waiting for a core another process holds slows every step.
    A count set here (or by ``$OMP_NUM_THREADS``) is used as given (``with
    fastgd.threads(n):`` returns to the previous setting afterwards). Results do not
    depend on the thread count. Without OpenMP (see :func:`config`) the setting is
    recorded but kernels run on one thread.
    In a process created by ``os.fork`` (e.g. a ``multiprocessing`` worker
    started with the "fork" method) the kernels stay on one thread whatever ``n``
    is, because the OpenMP runtime cannot be used safely after a fork; use the
    "spawn" or "forkserver" start method for threaded workers.
    """
    global _fork_warned
    n = _check_num_threads(n)
    if _forked_child and n > 1:
        if not _fork_warned:
            _fork_warned = True
            warnings.warn(f"set_num_threads({n}) ignored in a forked child process: the kernels run on one "
                          "thread there (OpenMP is not fork-safe); start workers with 'spawn' or "
                          "'forkserver' to use threads in them", RuntimeWarning, stacklevel=2)
        n = 1
    _core.set_num_threads(n)
    _core.set_threads_adapt_to_load(False)


def get_num_threads() -> int:
    """The number of threads fastgd's kernels may use."""
    return _core.get_num_threads()


# The threads() blocks open in any thread, oldest first, each as [the count and load
# adaptation in force when it opened]. Blocks of several threads may close out of order: a
# block closing under a newer one hands its saved setting to the next newer, so that the
# setting in force before the oldest is what the last one to close restores.
_blocks_lock = threading.Lock()
_blocks: list[list[tuple[int, bool]]] = []


@contextlib.contextmanager
def threads(n: int) -> Iterator[int]:
    """Context manager that runs its block with ``n`` kernel threads, then restores
    the previous count::

        with fastgd.threads(1):
            model.fit(X, y, ...)

    The count is the process's, as with :func:`set_num_threads`: threads started in the block
    use it too. Blocks open at once in several threads leave the process, once all have
    closed, with the count in force before the first opened.
    """
    n = _check_num_threads(n)
    with _blocks_lock:
        entry = [(get_num_threads(), _core.get_threads_adapt_to_load())]
        _blocks.append(entry)
        set_num_threads(n)
    try:
        yield n
    finally:
        with _blocks_lock:
            i = next((i for i, e in enumerate(_blocks) if e is entry), None)
            if i is not None:  # None in a forked child, whose list starts empty
                del _blocks[i]
                if i < len(_blocks):
                    _blocks[i][0] = entry[0]
                else:
                    _core.set_num_threads(entry[0][0])
                    _core.set_threads_adapt_to_load(entry[0][1])


def config() -> dict:
    """How this copy of fastgd was built and what it runs on, as a dict.

    Keys: ``version``, ``isa`` (the CPU target in use), ``isa_compiled``,
    ``isa_cpu_supported``, ``num_threads``, ``threads_adapt_to_load`` (the default:
    fewer threads while other processes are busy), ``openmp``, ``openmp_version``,
    ``compiler``, ``c_flags``, ``target_flags``, ``build_type``,
    ``cython_directives``, ``machine``, ``python``, ``numpy``.
    """
    import numpy

    info = _core.BUILD_INFO
    return {
        "version": info["version"],
        "isa": _core.isa_current(),
        "isa_compiled": _core.isa_compiled(),
        "isa_cpu_supported": _core.isa_cpu_supported(),
        "num_threads": get_num_threads(),
        "threads_adapt_to_load": _core.get_threads_adapt_to_load(),
        "openmp": _core.openmp_enabled(),
        "openmp_version": _core.openmp_version(),
        "compiler": info["compiler"],
        "c_flags": info["c_flags"],
        "target_flags": info["target_flags"],
        "build_type": info["build_type"],
        "cython_directives": info["cython_directives"],
        "machine": f"{platform.system()} {platform.machine()} ({_cpu_model()})",
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def show_config(file=None) -> None:
    """Print :func:`config` as aligned ``key: value`` lines (to ``file``, default stdout)."""
    if file is not None and not callable(getattr(file, "write", None)):
        raise _validation.ArgumentTypeError(f"file must be a text file (an object with write()) or None, "
                                            f"got {type(file).__name__}")
    cfg = config()
    width = max(map(len, cfg))
    for key, value in cfg.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value)) or "-"
        print(f"{key:<{width}} : {value}", file=file)


_select_isa_from_environment()
_use_default_threads()


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that names the first caller outside fastgd:
    a warning points at the user's line however many fastgd frames lie in between."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)).startswith(package):
        frame = frame.f_back
        level += 1
    return level
