#!/usr/bin/env bash
# Installs the `mpi` extra (mpi4py and the mpich wheel, which brings mpiexec) into the CI virtual
# environment given as $1, so that tests/test_distributed.py runs instead of skipping, and checks
# that a two-rank job starts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py="$1"

echo "=== install the mpi extra ==="
# The extra's requirements as pyproject.toml lists them (installing ".[mpi]" would rebuild fastgd).
mapfile -t reqs < <("$py" -c 'import sys; tomllib = __import__("tomllib" if sys.version_info >= (3, 11) else "pip._vendor.tomli", fromlist=["load"]); print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["mpi"]))')
"$py" -m pip install --quiet "${reqs[@]}"
mpiexec="$(dirname "$py")/mpiexec"
timeout 120 "$mpiexec" -n 2 "$py" -c 'from mpi4py import MPI; assert MPI.COMM_WORLD.Get_size() == 2'
echo "mpiexec -n 2: ok"
