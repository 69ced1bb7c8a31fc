"""scikit-learn's estimator API checks on fastgd.sklearn's MLPs.

scikit-learn runs these checks on its own MLPs with ``max_iter=100`` (its
``PER_ESTIMATOR_CHECK_PARAMS``), and so do we: every check passes, none is marked as an
expected failure. The L-BFGS path (full batch) is checked too, on the classifier and on logistic regression.
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
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
