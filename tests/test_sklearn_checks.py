"""scikit-learn's estimator API checks on fastgd.sklearn's MLPs.

scikit-learn runs these checks on its own MLPs with ``max_iter=100`` (its
``PER_ESTIMATOR_CHECK_PARAMS``), and so do we: every check passes, none is marked as an
expected failure. The L-BFGS path (full batch) is checked too, on the classifier and on logistic regression.
Seven are skipped: three need a decision_function (scikit-learn's MLPClassifier has none either),
four need SciPy's array API mode, and run in a process of their own below.
"""

import warnings

import pytest

pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastgd.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

ESTIMATORS = [
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
    MLPClassifier(solver="lbfgs", max_iter=100),
    # logistic regression (no hidden layer), float32 input kept float32. With sgd/adam a linear
    # model misses check_classifiers_train's 0.83 training accuracy, for scikit-learn's MLP too.
    MLPClassifier(solver="lbfgs", hidden_layer_sizes=(), max_iter=100, dtype="auto"),
    # Poisson regression: the checks give it the non-negative targets its tags ask for
    MLPRegressor(loss="poisson", learning_rate_init=0.01, max_iter=100),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_array_api_checks_pass_where_scipy_allows_them():
    # scikit-learn runs check_array_api_input only when SciPy was imported with SCIPY_ARRAY_API=1
    # (above they are skipped, as the suite's SciPy is not): a fresh process with it set runs
    # them on every estimator above (NumPy's namespace: the MLPs declare no array API support)
    import os
    import subprocess
    import sys

    code = (
        "import inspect, sys, warnings\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from sklearn.exceptions import ConvergenceWarning\n"
        "from sklearn.utils.estimator_checks import check_array_api_input\n"
        "from test_sklearn_checks import ESTIMATORS\n"
        "warnings.simplefilter('ignore', ConvergenceWarning)\n"
        # older scikit-learn has no such option (and does not check the outputs' types)
        "kw = ({'expect_only_array_outputs': False}\n"
        "      if 'expect_only_array_outputs' in inspect.signature(check_array_api_input).parameters else {})\n"
        "from unittest import SkipTest\n"
        "try:\n"
        "    for est in ESTIMATORS:\n"
        "        check_array_api_input(type(est).__name__, est, 'numpy', **kw)\n"
        "except SkipTest as e:\n"
        "    sys.exit(f'skipped: {e}')\n"
        "print(len(ESTIMATORS), 'passed')\n")
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    run = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)], env=env, capture_output=True,
                         text=True, timeout=600)
    if run.stderr.startswith("skipped: "):  # as scikit-learn skips it: scikit-learn 1.6 without array_api_compat
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{len(ESTIMATORS)} passed", run.stdout + run.stderr
