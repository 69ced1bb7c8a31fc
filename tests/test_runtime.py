"""CPU dispatch, the thread API and the build configuration."""

import io
import os
import subprocess
import sys
import textwrap

import pytest

import fastgd
from fastgd import _core

CONFIG_KEYS = {
    "version", "isa", "isa_compiled", "isa_cpu_supported", "num_threads", "threads_adapt_to_load", "openmp",
    "openmp_version", "compiler", "c_flags", "target_flags", "build_type",
    "cython_directives", "machine", "python", "numpy",
}


def run_python(code, *args, **env):
    """Run `code` (with command-line `args`) in a fresh interpreter with extra environment variables."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("FASTGD_ARCH", "OMP_NUM_THREADS")}
    full_env.update(env)
    result = subprocess.run([sys.executable, "-c", code, *args], env=full_env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_version_matches_package_metadata():
    from importlib.metadata import version

    assert fastgd.__version__ == version("fastgd")


def test_config_reports_everything():
    cfg = fastgd.config()
    assert set(cfg) == CONFIG_KEYS
    assert cfg["isa"] in cfg["isa_compiled"]
    assert cfg["isa"] in cfg["isa_cpu_supported"]
    assert "generic" in cfg["isa_compiled"]
    assert cfg["num_threads"] == fastgd.get_num_threads()
    assert isinstance(cfg["openmp"], bool)
    for flag in ("-ffast-math", "-Ofast", "-march=native"):
        assert flag not in cfg["c_flags"] and flag not in cfg["target_flags"]


def test_show_config_prints_every_key():
    out = io.StringIO()
    fastgd.show_config(file=out)
    text = out.getvalue()
    for key in CONFIG_KEYS:
        assert key in text
    assert fastgd.config()["isa"] in text


def test_default_isa_is_best_and_generic_env_forces_portable_path():
    best = run_python("import fastgd; print(fastgd.config()['isa'])").stdout.strip()
    assert best == _core.isa_best()
    generic = run_python("import fastgd; print(fastgd.config()['isa'])", FASTGD_ARCH="generic")
    assert generic.stdout.strip() == "generic"


def test_unknown_arch_warns_and_falls_back_to_best():
    result = run_python("import fastgd; print(fastgd.config()['isa'])", FASTGD_ARCH="sse9")
    assert result.stdout.strip() == _core.isa_best()
    assert "FASTGD_ARCH='sse9' ignored" in result.stderr


@pytest.mark.parametrize("target", _core.isa_compiled())
def test_a_target_is_selected_only_with_cpu_support(target):
    previous = _core.isa_current()
    if target in _core.isa_cpu_supported():
        _core.isa_select(target)
        assert _core.isa_current() == target
        _core.isa_select(previous)
    else:
        with pytest.raises(ValueError, match="not supported by this CPU"):
            _core.isa_select(target)
        assert _core.isa_current() == previous


@pytest.mark.parametrize("target", [t for t in _core.isa_compiled() if t in _core.isa_cpu_supported()])
def test_fastgd_arch_forces_each_supported_target(target):
    result = run_python("import fastgd; print(fastgd.config()['isa'])", FASTGD_ARCH=target)
    assert result.stdout.strip() == target
    assert "ignored" not in result.stderr


def test_targets_are_listed_in_order_of_preference():
    names = _core.ISA_NAMES
    assert names[0] == "generic"
    supported = [n for n in names if n in _core.isa_compiled() and n in _core.isa_cpu_supported()]
    assert _core.isa_best() == supported[-1]


def test_isa_select_rejects_unknown_names():
    with pytest.raises(ValueError, match="isa must be one of"):
        _core.isa_select("neon9000")


def test_thread_count_round_trip():
    fastgd.set_num_threads(1)
    assert fastgd.get_num_threads() == 1
    fastgd.set_num_threads(3)
    assert fastgd.get_num_threads() == 3


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                      ("2", TypeError), (True, TypeError), (None, TypeError),
                                      (10**6, ValueError)])
def test_invalid_thread_counts_raise(bad, exc):
    before = fastgd.get_num_threads()
    with pytest.raises(exc, match="n must be"):
        fastgd.set_num_threads(bad)
    with pytest.raises(exc, match="n must be"):
        with fastgd.threads(bad):
            pass
    assert fastgd.get_num_threads() == before


def test_numpy_integers_are_accepted():
    import numpy as np

    fastgd.set_num_threads(np.int64(2))
    assert fastgd.get_num_threads() == 2


def test_threads_context_manager_restores_even_on_error():
    fastgd.set_num_threads(2)
    with fastgd.threads(1) as n:
        assert n == 1
        assert fastgd.get_num_threads() == 1
    assert fastgd.get_num_threads() == 2
    with pytest.raises(RuntimeError):
        with fastgd.threads(1):
            raise RuntimeError("boom")
    assert fastgd.get_num_threads() == 2


def test_threads_blocks_of_two_threads_closing_out_of_order_restore_the_count_before_both():
    import threading

    fastgd.set_num_threads(2)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with fastgd.threads(1):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with fastgd.threads(3):
            b_in.set()
            a_out.wait(10)
            seen["b after a closed"] = fastgd.get_num_threads()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert seen["b after a closed"] == 3  # a's closing leaves b's block in force
    assert fastgd.get_num_threads() == 2  # and b's closing restores the count before both


def test_threads_block_limits_the_threads_started_in_it():
    import concurrent.futures

    fastgd.set_num_threads(2)
    with fastgd.threads(1):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert list(pool.map(lambda _: fastgd.get_num_threads(), range(4))) == [1, 1, 1, 1]
    assert fastgd.get_num_threads() == 2


def test_default_threads_follow_omp_num_threads():
    code = "import fastgd; print(fastgd.get_num_threads())"
    assert run_python(code, OMP_NUM_THREADS="3").stdout.strip() == "3"
    assert run_python(code, OMP_NUM_THREADS="2,1").stdout.strip() == "2"


def test_default_threads_without_env_is_available_cpus():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert run_python("import fastgd; print(fastgd.get_num_threads())").stdout.strip() == str(expected)


def test_bad_omp_num_threads_warns_and_uses_cpus():
    result = run_python("import fastgd; print(fastgd.get_num_threads())", OMP_NUM_THREADS="many")
    assert int(result.stdout) >= 1
    assert "OMP_NUM_THREADS='many'" in result.stderr


@pytest.mark.parametrize("value", ["\u00b2", "99999999999", "4097", "0", "9" * 5000, "\u0663"])
def test_omp_num_threads_that_is_no_thread_count_is_ignored(value):
    # superscript and non-ASCII digits pass str.isdigit but not int(); counts past MAX_THREADS (or
    # past a C int) are none set_num_threads takes: import warns and uses the CPUs instead
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result = run_python("import fastgd; print(fastgd.get_num_threads())", OMP_NUM_THREADS=value)
    assert int(result.stdout) == expected
    assert "is not a thread count in [1, 4096]; ignored" in result.stderr


def test_import_does_not_import_optional_dependencies():
    code = ("import sys, fastgd; bad = [m for m in ('sklearn', 'torch', 'matplotlib', 'scipy') "
            "if m in sys.modules]; print(bad)")
    assert run_python(code).stdout.strip() == "[]"


def test_default_threads_adapt_to_load_and_a_set_count_is_kept():
    code = ("import fastgd; a = fastgd.config()['threads_adapt_to_load']\n"
            "with fastgd.threads(1): b = fastgd.config()['threads_adapt_to_load']\n"
            "c = fastgd.config()['threads_adapt_to_load']\n"
            "fastgd.set_num_threads(2); print(a, b, c, fastgd.config()['threads_adapt_to_load'])")
    assert run_python(code).stdout.split() == ["True", "False", "True", "False"]
    assert run_python(code, OMP_NUM_THREADS="2").stdout.split()[0] == "False"


def test_results_do_not_depend_on_the_thread_count():
    # what lets the default thread count follow the machine's load
    import numpy as np

    X = np.random.default_rng(0).normal(size=(512, 300)).astype(np.float32)
    y = np.arange(512) % 10
    params = []
    for n in (1, 2, 3):
        with fastgd.threads(n):
            m = fastgd.Sequential([fastgd.Dense(300, 256), fastgd.Dense(256, 10, activation=None)], seed=0)
            m.fit(X, y, loss="softmax_cross_entropy", optimizer="adam", epochs=2, batch_size=128, seed=0,
                  progress=False)
            params.append(m.params.copy())
    np.testing.assert_array_equal(params[0], params[1])
    np.testing.assert_array_equal(params[0], params[2])


def test_threads_free_counts_cpus_other_processes_keep_busy():
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    code = textwrap.dedent("""
        import os, subprocess, sys, time
        from fastgd import _core
        cpus = int(sys.argv[1])
        _core.set_threads_adapt_to_load(False)
        print(_core.threads_free(cpus + 1))
        _core.set_threads_adapt_to_load(True)
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus)]
        try:
            time.sleep(0.5)
            _core.threads_free(cpus + 1)   # the first look starts the measurement
            time.sleep(0.5)
            print(_core.threads_free(cpus + 1))
        finally:
            for p in spinners:
                p.kill()
    """)
    result = run_python(code, str(cpus))
    fixed, busy = result.stdout.split()
    assert int(fixed) == cpus + 1  # a set count is used as given
    if sys.platform.startswith("linux"):
        assert int(busy) == 1  # every CPU taken by a spinner: one thread
    else:
        assert int(busy) == cpus + 1
