#!/usr/bin/env bash
# The C-level kernel tests (tests/c/test_kernels.c): every dispatched kernel of
# every CPU target against its reference twin, with no Python.
#   1. native build: every target this CPU runs (generic, avx2, ...), 1 and 2 threads,
#      and the generic target once more without vector extensions;
#   2. aarch64 build, cross-compiled with Debian's gcc-aarch64-linux-gnu and run
#      under qemu-user (generic and neon targets), 1 thread to keep it short.
# Installs cmake, the cross compiler and qemu when they are missing (.ci/apt_install.sh).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
{ command -v cc >/dev/null && command -v make >/dev/null; } || missing+=(build-essential)
command -v cmake >/dev/null || missing+=(cmake)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
bash .ci/apt_install.sh "${missing[@]}"

build=${FASTGD_KERNEL_BUILD_DIR:-build-kernel-tests}
jobs=$(nproc 2>/dev/null || echo 2)

echo "=== C kernel tests: native ==="
cmake -S . -B "$build/native" -DFASTGD_PYTHON=OFF -DFASTGD_KERNEL_TESTS=ON >/dev/null
cmake --build "$build/native" -j "$jobs" >/dev/null
"$build/native/test_kernels"

echo "=== C kernel tests: generic without vector extensions (the plain C of other compilers) ==="
cmake -S . -B "$build/plain" -DFASTGD_PYTHON=OFF -DFASTGD_KERNEL_TESTS=ON -DCMAKE_C_FLAGS=-DFG_NO_VECTOR_EXTENSIONS \
    -DFASTGD_AVX2=OFF -DFASTGD_AVX512=OFF >/dev/null
cmake --build "$build/plain" -j "$jobs" >/dev/null
"$build/plain/test_kernels" --threads 1 generic

echo "=== C kernel tests: aarch64 under qemu-aarch64 ==="
cmake -S . -B "$build/aarch64" -DFASTGD_PYTHON=OFF -DFASTGD_KERNEL_TESTS=ON \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/.ci/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$build/aarch64" -j "$jobs" >/dev/null
qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/aarch64/test_kernels" --threads 1
