#!/usr/bin/env bash
# Run scikit-learn's own MLP test suite (sklearn/neural_network/tests/test_mlp.py of the
# installed scikit-learn) against fastgd.sklearn: the file is copied unchanged except for the
# line that imports the estimators, which is pointed at fastgd.sklearn.
# Usage: .ci/sklearn_suite.sh [python] [extra pytest arguments]
# (python defaults to python3; it must have fastgd, scikit-learn, pandas and pytest installed).
set -euo pipefail
py="${1:-python3}"
shift || true
# an absolute path (the suite runs from a temporary directory); no symlink resolution, which
# would leave a virtual environment
case "$py" in */*) py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")" ;; esac

# The suite needs scikit-learn and, for its feature-name tests, pandas: install what is missing.
"$py" -c "import sklearn, pandas, pytest" 2>/dev/null || "$py" -m pip install --quiet scikit-learn pandas pytest

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$py" - "$work/test_mlp_fastgd.py" <<'PYEOF'
import ast
import pathlib
import sys

import sklearn

src_path = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
source = src_path.read_text()
lines = source.splitlines(keepends=True)
replaced = 0
for node in ast.parse(source).body:
    if (isinstance(node, ast.ImportFrom) and node.module == "sklearn.neural_network"
            and sorted(a.name for a in node.names) == ["MLPClassifier", "MLPRegressor"]):
        first, last = node.lineno - 1, node.end_lineno
        lines[first:last] = ["from fastgd.sklearn import MLPClassifier, MLPRegressor\n"] + [""] * (last - first - 1)
        replaced += 1
if replaced != 1:
    sys.exit(f"expected one 'from sklearn.neural_network import MLPClassifier, MLPRegressor' in {src_path}, "
             f"found {replaced}")
pathlib.Path(sys.argv[1]).write_text("".join(lines))
print(f"scikit-learn {sklearn.__version__}: {src_path} -> fastgd.sklearn")
PYEOF

cd "$work"
# -p sklearn.conftest: the fixtures the file uses (global_random_seed, ...) live in scikit-learn's conftest
"$py" -m pytest -q -p no:cacheprovider -p sklearn.conftest "$@" test_mlp_fastgd.py
