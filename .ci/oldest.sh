#!/usr/bin/env bash
# Runs the tests that depend most on NumPy's, SciPy's and scikit-learn's behaviour (the
# scikit-learn estimators, input validation, training) and scikit-learn's own MLP suite with the
# oldest releases pyproject.toml admits: each `name>=X` floor of numpy, tqdm, scipy and
# scikit-learn installed as `name==X`. fastgd is the build that the CI virtual environment given
# as $1 holds (built against the newest NumPy, as a wheel is), copied beside the old packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py="$1"

echo "=== the oldest NumPy, SciPy, scikit-learn and tqdm that pyproject.toml admits ==="
mapfile -t floors < <("$py" - <<'PYEOF'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = {"numpy", "tqdm", "scipy", "scikit-learn"}
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", req)
    if m and m.group(1) in wanted:
        wanted.discard(m.group(1))
        print(f"{m.group(1)}=={m.group(2)}")
assert not wanted, f"no >= floor in pyproject.toml for {sorted(wanted)}"
PYEOF
)
echo "${floors[*]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
old="$work/venv/bin/python"
"$old" -m pip install --quiet "${floors[@]}" pytest hypothesis pandas
mkdir "$work/site"
cp -r "$("$py" -c 'import fastgd, os; print(os.path.dirname(fastgd.__file__))')" "$work/site/fastgd"
"$old" -c 'import numpy, scipy, sklearn; print("numpy", numpy.__version__, "scipy", scipy.__version__, "scikit-learn", sklearn.__version__)'

status=0
PYTHONPATH="$work/site" "$old" -m pytest -q -p no:cacheprovider tests/test_sklearn.py tests/test_sklearn_checks.py \
    tests/test_validation.py tests/test_misuse.py tests/test_training.py || status=1
PYTHONPATH="$work/site" .ci/sklearn_suite.sh "$old" || status=1
exit "$status"
