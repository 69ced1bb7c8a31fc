#!/usr/bin/env bash
# Memory-safety job: builds fastgd with AddressSanitizer and UndefinedBehaviorSanitizer (its own
# build directory and virtual environment) and runs the torch-free part of the test suite once
# per CPU target this machine supports. Any sanitizer report aborts the test process, so it fails
# the job. Usage: .ci/sanitize.sh (from .ci/run, or alone).
#
# Test selection, to stay within a few minutes on a 2-core machine where ASan makes the suite
# several times slower: every file that drives a C entry point or reads files (kernels, model,
# training loop, optimizers, losses, io, threads and processes, fuzzing), but not the
# scikit-learn estimator-check battery (test_sklearn_checks.py: hundreds of generic checks over
# the same fit/predict bindings test_sklearn.py covers) nor the demo run (test_demo.py). The
# kernel test files already run on every CPU target in one pass (their `isa` fixture), so only
# the first target runs them; every target runs the rest with FASTGD_ARCH set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.ci-asan-venv
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"

# -O1 -g1: what ASan recommends, and line tables only, so the large generated _core.c compiles
# in a fraction of the time -O2 -g takes.
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
echo "=== install with $san ==="
"$py" -m pip install --quiet \
    -C build-dir=build/asan \
    -C cmake.build-type=RelWithDebInfo \
    -C "cmake.define.CMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
    -C "cmake.define.CMAKE_C_FLAGS=$san" \
    -C "cmake.define.CMAKE_MODULE_LINKER_FLAGS=$san" \
    -C "cmake.define.CMAKE_SHARED_LINKER_FLAGS=$san" \
    ".[test]"

# CPython itself is not instrumented, so the ASan runtime must be loaded first.
libasan="$(${CC:-cc} -print-file-name=libasan.so)"
if [ ! -e "$libasan" ]; then
    echo "libasan.so not found (install the compiler's ASan runtime)" >&2
    exit 1
fi
# libstdc++ too: ASan intercepts C++ exceptions only if libstdc++ is loaded when it starts, and
# C++ extensions imported later (matplotlib's) throw them.
libstdcxx="$(${CC:-cc} -print-file-name=libstdc++.so.6)"
export LD_PRELOAD="$libasan${libstdcxx:+ $libstdcxx}"
# CPython keeps objects alive at exit on purpose: leak reports would be noise. An allocation too
# large to serve fails as the system allocator's does (NULL, then MemoryError), so the tests of
# sizes past memory see the error a user would, not an abort of the sanitizer's own.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=2

kernel_tests=(
    tests/test_gemm.py tests/test_dense.py tests/test_loss_kernels.py tests/test_sgd_kernel.py
    tests/test_lbfgs_kernel.py tests/test_clip.py tests/test_loss_properties.py
)
tests=(
    tests/test_losses.py tests/test_optim.py tests/test_minimize.py tests/test_model.py
    tests/test_training.py tests/test_schedules.py tests/test_metrics.py tests/test_runtime.py
    tests/test_sklearn.py tests/test_reliability.py tests/test_processes.py tests/test_io_files.py
    tests/test_fuzz.py tests/test_overlap.py tests/test_misuse.py
)

targets="$("$py" -c 'import fastgd; c = fastgd.config(); print(" ".join(t for t in c["isa_compiled"] if t in c["isa_cpu_supported"]))')"
status=0
first=1
for target in $targets; do
    echo "=== pytest under ASan+UBSan: FASTGD_ARCH=$target ==="
    selection=("${tests[@]}")
    [ "$first" = 1 ] && selection+=("${kernel_tests[@]}")
    first=0
    FASTGD_ARCH="$target" "$py" -m pytest -q -p no:cacheprovider "${selection[@]}" || status=1
done
exit "$status"
