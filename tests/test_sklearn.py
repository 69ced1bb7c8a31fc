"""fastgd.sklearn: the same runs as scikit-learn's MLPs (float64, same random_state), the
scikit-learn API (pipelines, searches, cloning, pickling), and fastgd's extras."""

import io
import pickle
import subprocess
import sys
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network as sknn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_multilabel_classification  # noqa: E402
from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastgd  # noqa: E402
from fastgd.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from fastgd.sklearn._base import _SKLEARN_1_7  # noqa: E402

# scikit-learn's MLPs take sample_weight, and MLPRegressor loss="poisson", from 1.7: the runs that
# compare those with scikit-learn's need it
needs_sklearn_1_7 = pytest.mark.skipif(
    not _SKLEARN_1_7, reason="scikit-learn's MLPs have sample_weight and loss='poisson' from 1.7")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=300, n_features=8, noise=5.0, random_state=0)
    return X, y / 100.0


def _fit_both(ours, theirs, X, y, **fit_kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, **fit_kw)
        theirs.fit(X, y, **fit_kw)
    return ours, theirs


def _assert_same_run(ours, theirs, rtol=1e-9, atol=1e-10):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.n_layers_ == theirs.n_layers_
    assert ours.n_outputs_ == theirs.n_outputs_
    assert ours.out_activation_ == theirs.out_activation_
    if hasattr(theirs, "loss_curve_"):
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol, atol=atol)
        assert (ours.best_loss_ is None) == (theirs.best_loss_ is None)
        if theirs.best_loss_ is not None:
            np.testing.assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=rtol)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=rtol, atol=atol)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-8)


# ---- the same runs as scikit-learn ------------------------------------------------------------------

def _case_id(params):
    return ",".join(f"{k}={v}" for k, v in params.items())


def _same_run(ours_cls, theirs_cls, params, X, y):
    """Fits fastgd's and scikit-learn's estimator with random_state=0 and `params`, checks that the
    two runs match, and returns both."""
    ours, theirs = _fit_both(ours_cls(random_state=0, **params), theirs_cls(random_state=0, **params), X, y)
    _assert_same_run(ours, theirs)
    return ours, theirs


CLF_CASES = [
    dict(max_iter=8),
    dict(max_iter=6, alpha=0.01, batch_size=64, hidden_layer_sizes=(20, 10), activation="identity"),
    dict(max_iter=8, solver="sgd"),
    dict(max_iter=6, solver="sgd", nesterovs_momentum=False, learning_rate="invscaling", learning_rate_init=0.2,
         power_t=0.4),
    dict(max_iter=6, solver="sgd", momentum=0.0, activation="logistic", learning_rate_init=0.5),
    dict(max_iter=6, shuffle=False, activation="tanh"),
    dict(max_iter=20, early_stopping=True, n_iter_no_change=3, validation_fraction=0.2),
    dict(max_iter=100, tol=0.05, n_iter_no_change=2, hidden_layer_sizes=(16,)),
    dict(max_iter=8, hidden_layer_sizes=()),
    dict(max_iter=8, beta_1=0.5, beta_2=0.9, epsilon=1e-3, learning_rate_init=0.01),
]


@pytest.mark.parametrize("params", CLF_CASES, ids=_case_id)
def test_classifier_matches_sklearn_run(digits, params):
    X, y = digits
    ours, theirs = _same_run(MLPClassifier, sknn.MLPClassifier, params, X, y)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == theirs.best_validation_score_
        assert ours.best_loss_ is None and theirs.best_loss_ is None
    else:
        assert ours.validation_scores_ is None and ours.best_validation_score_ is None
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7, atol=1e-9)


@needs_sklearn_1_7
def test_binary_and_sample_weight_match_sklearn(cancer):
    X, y = cancer
    sw = np.random.default_rng(0).uniform(0.2, 3.0, size=X.shape[0])
    for solver in ("adam", "sgd"):
        kw = dict(solver=solver, max_iter=6, alpha=0.05, hidden_layer_sizes=(16,), random_state=1)
        ours, theirs = _fit_both(MLPClassifier(**kw), sknn.MLPClassifier(**kw), X, y, sample_weight=sw)
        _assert_same_run(ours, theirs)
        assert ours.predict_proba(X[:5]).shape == (5, 2)
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7, atol=1e-9)
        assert ours.score(X, y, sample_weight=sw) == pytest.approx(theirs.score(X, y, sample_weight=sw))


@needs_sklearn_1_7
def test_early_stopping_with_sample_weight_matches_sklearn(cancer):
    X, y = cancer
    sw = np.random.default_rng(1).integers(1, 4, size=X.shape[0]).astype(float)
    kw = dict(max_iter=15, early_stopping=True, n_iter_no_change=2, hidden_layer_sizes=(8,), random_state=2)
    ours, theirs = _fit_both(MLPClassifier(**kw), sknn.MLPClassifier(**kw), X, y, sample_weight=sw)
    _assert_same_run(ours, theirs)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)


def test_multilabel_matches_sklearn():
    X, Y = make_multilabel_classification(n_samples=200, n_features=10, n_classes=4, random_state=0)
    kw = dict(max_iter=10, hidden_layer_sizes=(12,), random_state=0)
    ours, theirs = _fit_both(MLPClassifier(**kw), sknn.MLPClassifier(**kw), X / 10, Y)
    _assert_same_run(ours, theirs)
    assert ours.out_activation_ == "logistic" and ours.n_outputs_ == 4
    np.testing.assert_array_equal(ours.predict(X / 10), theirs.predict(X / 10))


REG_CASES = [
    dict(max_iter=10),
    dict(max_iter=10, solver="sgd", learning_rate_init=0.01, alpha=0.1),
    dict(max_iter=10, solver="sgd", learning_rate="invscaling", learning_rate_init=0.05, batch_size=32),
    dict(max_iter=25, early_stopping=True, n_iter_no_change=4),
    dict(max_iter=10, hidden_layer_sizes=(), solver="sgd", learning_rate_init=0.01),
]


@pytest.mark.parametrize("params", REG_CASES, ids=_case_id)
def test_regressor_matches_sklearn_run(regression, params):
    X, y = regression
    ours, theirs = _same_run(MLPRegressor, sknn.MLPRegressor, params, X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7, atol=1e-9)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)


@needs_sklearn_1_7
def test_multioutput_regression_and_sample_weight_match_sklearn(regression):
    X, y = regression
    Y = np.column_stack([y, -2 * y + 1, np.sin(y)])
    sw = np.linspace(0.5, 2.0, X.shape[0])
    for solver in ("adam", "sgd"):
        kw = dict(solver=solver, max_iter=8, random_state=3, learning_rate_init=0.005, alpha=0.01)
        ours, theirs = _fit_both(MLPRegressor(**kw), sknn.MLPRegressor(**kw), X, Y, sample_weight=sw)
        _assert_same_run(ours, theirs)
        assert ours.predict(X).shape == (X.shape[0], 3)


def test_warm_start_and_partial_fit_match_sklearn(digits):
    X, y = digits
    kw = dict(max_iter=3, warm_start=True, random_state=0, solver="sgd")
    ours, theirs = MLPClassifier(**kw), sknn.MLPClassifier(**kw)
    for _ in range(3):
        _fit_both(ours, theirs, X, y)
    _assert_same_run(ours, theirs)

    kw = dict(random_state=0, hidden_layer_sizes=(30,))
    ours, theirs = MLPClassifier(**kw), sknn.MLPClassifier(**kw)
    classes = np.unique(y)
    for s in range(0, 600, 150):
        ours.partial_fit(X[s:s + 150], y[s:s + 150], classes=classes if s == 0 else None)
        theirs.partial_fit(X[s:s + 150], y[s:s + 150], classes=classes if s == 0 else None)
    _assert_same_run(ours, theirs)
    assert ours.n_iter_ == 1 and len(ours.loss_curve_) == 4

    r_ours, r_theirs = MLPRegressor(random_state=0), sknn.MLPRegressor(random_state=0)
    Xr, yr = make_regression(n_samples=120, n_features=5, random_state=0)
    for _ in range(3):
        r_ours.partial_fit(Xr, yr / 50)
        r_theirs.partial_fit(Xr, yr / 50)
    _assert_same_run(r_ours, r_theirs)


def test_verbose_output_matches_sklearn(digits):
    X, y = digits
    kw = dict(max_iter=40, tol=0.05, n_iter_no_change=2, verbose=True, random_state=0, solver="sgd",
              learning_rate="adaptive", learning_rate_init=0.05, hidden_layer_sizes=(16,))
    outs = []
    for est in (MLPClassifier(**kw), sknn.MLPClassifier(**kw)):
        buf = io.StringIO()
        with redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        outs.append(buf.getvalue())
    assert "Iteration 1, loss = " in outs[0] and "Setting learning rate to" in outs[0]
    assert outs[0] == outs[1]


def test_convergence_warning(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(max_iter=2, random_state=0).partial_fit(X, y, classes=np.unique(y))


def test_lbfgs_fits(digits, regression):
    X, y = digits
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(30,), max_iter=150, random_state=0).fit(X, y)
    assert 1 <= clf.n_iter_ <= 150 and clf.score(X, y) > 0.98
    assert not hasattr(clf, "loss_curve_") and np.isfinite(clf.loss_)
    assert not hasattr(clf, "partial_fit")
    Xr, yr = regression
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(), alpha=0.0, tol=1e-8, max_iter=500,
                       random_state=0).fit(Xr, yr)
    coef, *_ = np.linalg.lstsq(np.column_stack([Xr, np.ones(len(Xr))]), yr, rcond=None)
    np.testing.assert_allclose(reg.coefs_[0].ravel(), coef[:-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(reg.intercepts_[0], coef[-1:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("max_fun", [10, 15000])
def test_lbfgs_is_scikit_learns_run(digits, max_fun):
    """solver="lbfgs" is SciPy's L-BFGS-B on the same objective from the same start: the same
    iterations, evaluations budget, loss and ConvergenceWarning text as scikit-learn."""
    X, y = digits
    kw = dict(solver="lbfgs", hidden_layer_sizes=(20,), max_iter=60, max_fun=max_fun, random_state=0)
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always", ConvergenceWarning)
        ours = MLPClassifier(**kw).fit(X, y)
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always", ConvergenceWarning)
        theirs = sknn.MLPClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    # (scikit-learn may warn of more: SciPy deprecating an option scikit-learn passes, say)
    assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs_w
                                                if issubclass(w.category, ConvergenceWarning)]
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), abs=0.01)


# ---- linear and logistic regression (hidden_layer_sizes=()) ---------------------------------------------


def test_linear_regression_by_full_batch_gradient_descent(regression):
    X, y = regression
    reg = MLPRegressor(hidden_layer_sizes=(), solver="sgd", momentum=0.0, batch_size=X.shape[0], alpha=0.0,
                       learning_rate_init=0.5, max_iter=2000, tol=1e-12, n_iter_no_change=20, random_state=0)
    reg.fit(X, y)
    assert reg.n_layers_ == 2 and reg.coefs_[0].shape == (X.shape[1], 1)
    coef, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), y, rcond=None)
    np.testing.assert_allclose(reg.coefs_[0].ravel(), coef[:-1], rtol=1e-6, atol=1e-7)


def test_logistic_regression(cancer):
    X, y = cancer
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(), solver="lbfgs", alpha=1.0, max_iter=500, tol=1e-8, random_state=0)
    clf.fit(Xtr, ytr)
    from sklearn.linear_model import LogisticRegression

    # mean log loss + alpha·‖w‖²/(2n) is LogisticRegression's objective with C = 1/alpha, divided by n
    lr = LogisticRegression(C=1.0, tol=1e-10, max_iter=5000).fit(Xtr, ytr)
    np.testing.assert_allclose(clf.coefs_[0].ravel(), lr.coef_.ravel(), rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(clf.intercepts_[0], lr.intercept_, rtol=2e-3, atol=2e-3)
    assert clf.score(Xte, yte) > 0.93


# ---- scikit-learn API ------------------------------------------------------------------------------


def test_import_fastgd_does_not_import_sklearn():
    code = "import sys, fastgd; assert 'sklearn' not in sys.modules; import fastgd.sklearn; " \
           "assert 'sklearn' in sys.modules; assert fastgd.sklearn.MLPClassifier.__module__ == 'fastgd.sklearn'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pipeline_gridsearch_cross_val_clone(cancer):
    X, y = cancer
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        assert scores.shape == (3,) and scores.min() > 0.85
        grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1], "mlpclassifier__solver": ["adam", "sgd"]},
                            cv=2).fit(X, y)
    assert grid.best_score_ > 0.9
    est = MLPRegressor(loss="huber", hidden_layer_sizes=(7, 3), dtype="float32", n_threads=1)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s["_model_params"].__setitem__(0, np.nan), ValueError, r"_model_params must be finite, got nan"),
    (lambda s: s.__setitem__("_model_params", None), TypeError,
     r"_model_params must hold real numbers, got array of dtype object"),
    (lambda s: s.__setitem__("_model_params", s["_model_params"][:-1]), ValueError,
     r"_model_params must have shape \((\d+),\), got \((\d+),\)"),
    (lambda s: s.__setitem__("_model_config", {"layers": []}), ValueError, r"cfg lacks the key\(s\) 'dtype'"),
    # the parameters early stopping puts back at the end of a warm-started fit
    (lambda s: s["_best_params"].__setitem__(3, np.inf), ValueError, r"_best_params must be finite, got inf"),
    (lambda s: s.__setitem__("_best_params", s["_best_params"][:5]), ValueError,
     r"_best_params must have shape \((\d+),\), got \(5,\)"),
])
def test_unpickling_a_tampered_estimator_names_what_is_wrong(digits, change, error, message):
    # NaN parameters, or None (which NumPy writes as NaN), were loaded in silence; a short array
    # gave NumPy's unnamed broadcast error
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(max_iter=2, random_state=0, hidden_layer_sizes=(4,)).fit(X, y)
    state = est.__getstate__()
    change(state)
    with pytest.raises(error, match=message):
        MLPClassifier.__new__(MLPClassifier).__setstate__(state)


def _stochastic_fit(solver, hidden=6):
    """A classifier fitted by ``solver`` on small random data, and that data."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(hidden,), solver=solver, max_iter=2, random_state=0).fit(X, y), X, y


@pytest.mark.parametrize("solver, change, message", [
    ("adam", lambda o: o.state.__setitem__(slice(None), np.nan), r"state_dict\['state'\] must be finite, got nan"),
    ("adam", lambda o: o.state.__setitem__(slice(None), -1.0),
     r"state_dict\['state'\] slot 1 \(exp_avg_sq\) must be >= 0"),
    ("sgd", lambda o: setattr(o, "n_steps", -5), r"_optimizer.n_steps must be an integer in \[0, \d+\], got -5"),
    ("sgd", lambda o: setattr(o, "learning_rate", -0.1), r"_optimizer.learning_rate must be a finite number >= 0"),
    ("adam", lambda o: setattr(o, "name", "sgd"), r"_optimizer.optimizer must be a fastgd 'sgd' optimizer, got Adam"),
    ("adam", lambda o: o.optimizer.set_param_groups(None), r"_optimizer.optimizer must hold a state over two parameter "
                                                          r"groups, the weights and the biases"),
])
def test_unpickling_a_tampered_solver_names_what_is_wrong(solver, change, message):
    # the solver's state and step count were restored unchecked: NaN weights blamed on the data, a
    # math domain error, or (an unknown kind in its groups) an update that did nothing
    est = _stochastic_fit(solver)[0]
    change(est._optimizer)
    with pytest.raises(ValueError, match=message):
        pickle.loads(pickle.dumps(est))


def test_an_unpickled_solver_continues_as_the_original_whatever_its_groups_held():
    # the groups are rebuilt from the optimizer's configuration, not taken from the pickle
    est, X, y = _stochastic_fit("adam")
    tampered = pickle.loads(pickle.dumps(est))
    tampered._optimizer.groups["kind"] = 99
    restored = pickle.loads(pickle.dumps(tampered))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.partial_fit(X, y)
        restored.partial_fit(X, y)
    np.testing.assert_array_equal(restored.model_.params, est.model_.params)


def test_unpickling_a_solver_for_another_network_is_refused():
    state = _stochastic_fit("adam")[0].__getstate__()
    state["_optimizer"] = _stochastic_fit("adam", hidden=7)[0]._optimizer
    with pytest.raises(ValueError, match=r"_optimizer holds a state for 59 float64 parameters of which 49 weights, "
                                         r"the network has 51 float64 of which 42"):
        MLPClassifier.__new__(MLPClassifier).__setstate__(pickle.loads(pickle.dumps(state)))


def test_unpickling_an_estimator_whose_network_does_not_fit_its_attributes_is_refused(digits):
    # another input count refused every X of n_features_in_ columns; a network of another output
    # count (a truncated one may be pickled) predicted indices past classes_, an unnamed IndexError
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(max_iter=2, random_state=0, hidden_layer_sizes=(4,)).fit(X, y)
    for layer, key, value in ((-1, "out_features", 12), (0, "in_features", 65)):
        state = est.__getstate__()
        state["_model_config"]["layers"][layer][key] = value
        size = sum(c["in_features"] * c["out_features"] + c["out_features"] for c in state["_model_config"]["layers"])
        state["_model_params"] = state["_best_params"] = np.zeros(size)
        if key == "in_features":
            with pytest.raises(ValueError, match=r"_model_config describes a network of 65 inputs.*n_features_in_=64"):
                MLPClassifier.__new__(MLPClassifier).__setstate__(state)
        else:
            # the solver's state was for the network fitted, not this one
            with pytest.raises(ValueError, match=r"_optimizer holds a state for 310 float64 parameters"):
                MLPClassifier.__new__(MLPClassifier).__setstate__(state)
            state["_optimizer"] = None  # as an estimator whose network was replaced pickles
            loaded = MLPClassifier.__new__(MLPClassifier)
            loaded.__setstate__(state)
            with pytest.raises(ValueError, match=r"the network has 12 outputs.*labels need n_outputs_=10"):
                loaded.predict(X)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_pickle_roundtrip_and_continue(digits, solver):
    X, y = digits
    kw = dict(solver=solver, max_iter=4, random_state=0, hidden_layer_sizes=(16,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(**kw).fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert b.coefs_[0] is b.model_.layers[0].W  # views of the rebuilt arena
    assert b.coefs_[0].base is not None and np.shares_memory(b.coefs_[0], b.model_.params)
    if solver != "lbfgs":  # the solver state travels too: continuing gives the same parameters
        a.partial_fit(X, y)
        b.partial_fit(X, y)
        np.testing.assert_array_equal(a.model_.params, b.model_.params)


def test_coefs_are_live_views_and_assignment_is_honoured(digits):
    X, y = digits
    clf = MLPClassifier(max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    p0 = clf.predict_proba(X)
    clf.intercepts_[-1][:] += 100.0 * (np.arange(10) == 3)  # in place: the model sees it
    assert (clf.predict(X) == 3).all()
    clf.intercepts_ = [b.copy() for b in clf.intercepts_]  # new arrays: copied at the next predict
    clf.intercepts_[-1][3] -= 100.0
    np.testing.assert_allclose(clf.predict_proba(X), p0, rtol=1e-12, atol=1e-14)
    assert clf.intercepts_[-1] is clf.model_.layers[-1].b


def test_assigned_coefs_and_intercepts_are_checked_like_set_weights(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    p0 = clf.predict_proba(X)
    W0 = clf.coefs_[0].copy()
    # a (64, 1) column was broadcast over the (64, 5) weights, a shorter list left the last
    # layer's old weights in use, NaN weights gave class 0 everywhere, and the imaginary part of
    # complex biases was dropped: all silently
    for name, value, error, message in [
            ("coefs_", [W0[:, :1], clf.coefs_[1]], ValueError, r"coefs_\[0\] must have shape \(64, 5\), got \(64, 1\)"),
            ("coefs_", [W0], ValueError, r"one 2-D weight matrix and one bias vector per layer, got 1 and 2 arrays"),
            ("coefs_", [np.full_like(W0, np.nan), clf.coefs_[1]], ValueError, r"coefs_\[0\] must be finite"),
            ("intercepts_", [clf.intercepts_[0] + 0j, clf.intercepts_[1]], TypeError,
             r"intercepts_\[0\] must hold real numbers")]:
        kept = getattr(clf, name)
        setattr(clf, name, value)
        with pytest.raises(error, match=message):
            clf.predict(X)
        setattr(clf, name, kept)
    np.testing.assert_array_equal(clf.predict_proba(X), p0)


@pytest.mark.parametrize("activation", fastgd.ACTIVATIONS)
def test_every_fastgd_activation_trains_the_estimators(digits, activation):
    # beside scikit-learn's four names, the estimators take each of fastgd.ACTIVATIONS by its name
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(16,), activation=activation, max_iter=3, random_state=0).fit(X, y)
    assert [L.activation for L in clf.model_.layers] == [activation, "identity"]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_a_new_activation_or_early_stopping_applies_to_a_fitted_estimator_as_in_sklearn(digits, regression):
    X, y = digits
    kw = dict(hidden_layer_sizes=(20,), max_iter=3, random_state=0, solver="sgd")
    ours, theirs = MLPClassifier(**kw), sknn.MLPClassifier(**kw)
    _fit_both(ours, theirs, X, y)
    # scikit-learn's network reads activation at every forward pass; the model kept its relu
    for est in (ours, theirs):
        est.set_params(activation="tanh", warm_start=True)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-10, atol=1e-12)
    _fit_both(ours, theirs, X, y)
    _assert_same_run(ours, theirs)
    assert ours.model_.layers[0].activation == "tanh"
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ours)).predict_proba(X), ours.predict_proba(X))
    ours.activation = "swish"
    with pytest.raises(ValueError, match="The 'activation' parameter of MLPClassifier must be"):
        ours.predict(X)
    # early_stopping switched for a warm start: fit raised AttributeError ('NoneType' object has
    # no attribute 'append'), and the other way round compared the loss with best_loss_ None
    clf = MLPClassifier(warm_start=True, early_stopping=True, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k, early in enumerate((True, False, True)):
            clf.set_params(early_stopping=early).fit(X, y)
            assert (clf.validation_scores_ is not None) == early and (clf.best_loss_ is None) == early
            assert clf.n_iter_ == 3
            # the warm start goes on with loss_curve_ (it was started afresh at each switch)
            assert len(clf.loss_curve_) == 3 * (k + 1)
            assert len(clf.validation_scores_ or [0, 0, 0]) == 3
    # a refused partial_fit changes nothing: it emptied loss_curve_ (a switched early_stopping was
    # set up before the refusal); scikit-learn keeps the records too
    for est in (ours, theirs):
        est.set_params(warm_start=False, activation="relu")
    _fit_both(ours, theirs, X, y)
    for est in (ours, theirs):
        records = (list(est.loss_curve_), est.best_loss_, est.validation_scores_, est.best_validation_score_)
        est.set_params(early_stopping=True)
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
            est.partial_fit(X, y)
        assert (est.loss_curve_, est.best_loss_, est.validation_scores_, est.best_validation_score_) == records
        assert len(est.loss_curve_) == 3
    # so does a refused warm start (scikit-learn names train_test_split's test_size instead)
    records = (list(ours.loss_curve_), ours.best_loss_, ours.validation_scores_, ours.best_validation_score_)
    ours.set_params(validation_fraction=0.0, warm_start=True)
    with pytest.raises(ValueError, match="validation_fraction must be > 0"):
        ours.fit(X, y)
    assert (ours.loss_curve_, ours.best_loss_, ours.validation_scores_, ours.best_validation_score_) == records
    # the output activation is the fit's: a warm start with loss="poisson" on an identity output
    # trained a log link whose exp predict never took
    Xr, yr = regression
    reg = MLPRegressor(warm_start=True, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(Xr, yr)
        reg.set_params(loss="huber").fit(Xr, yr)  # same output activation: continues
    with pytest.raises(ValueError, match="output activation is 'identity' but loss='poisson' asks for 'exp'"):
        reg.set_params(loss="poisson").fit(Xr, np.abs(yr))


def test_predict_converts_a_memmap_chunk_by_chunk(tmp_path):
    import tracemalloc

    X = np.random.default_rng(0).normal(size=(200_000, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:500], y[:500])
    np.save(tmp_path / "x.npy", X)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    expected = clf.predict_proba(X.astype(np.float64))
    tracemalloc.start()
    try:
        got = clf.predict_proba(xm)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, expected)
    # the float32 file was copied whole into float64 (12.8 MB) before the first chunk ran
    assert peak < X.size * 8, peak


def test_feature_names_and_attributes(digits):
    X, y = digits
    clf = MLPClassifier(max_iter=2, hidden_layer_sizes=(5, 4), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y.astype(str))
    assert clf.n_features_in_ == 64 and clf.n_layers_ == 4 and clf.n_outputs_ == 10
    assert clf.classes_.dtype.kind == "U" and clf.predict(X[:3]).dtype.kind == "U"
    assert [c.shape for c in clf.coefs_] == [(64, 5), (5, 4), (4, 10)]
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X[:4])), clf.predict_proba(X[:4]))


# ---- fastgd's extras ------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adagrad", "rmsprop", "adamw"])
def test_extra_solvers_learn(digits, solver):
    X, y = digits
    lr = {"adagrad": 0.05, "rmsprop": 0.001, "adamw": 0.003}[solver]
    clf = MLPClassifier(solver=solver, learning_rate_init=lr, max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.score(X, y) > 0.95
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_regressor_robust_losses(regression, loss):
    X, y = regression
    y_out = y.copy()
    y_out[::15] += 50.0  # outliers
    kw = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=0.0, max_iter=500, tol=1e-10, random_state=0)
    with warnings.catch_warnings():
        # L-BFGS may end on the kink of the absolute error with a line search that finds no
        # step (a ConvergenceWarning); the fit is seeded, and robustness is what is tested
        warnings.simplefilter("ignore", ConvergenceWarning)
        robust = MLPRegressor(loss=loss, **kw).fit(X, y_out)
    plain = MLPRegressor(**kw).fit(X, y_out)
    mask = np.ones(len(y), bool)
    mask[::15] = False
    err_robust = np.abs(robust.predict(X[mask]) - y[mask]).mean()
    err_plain = np.abs(plain.predict(X[mask]) - y[mask]).mean()
    assert err_robust < 0.5 * err_plain


def test_dtype_and_threads(digits):
    X, y = digits
    kw = dict(max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f32 = MLPClassifier(dtype="float32", n_threads=1, **kw).fit(X, y)
        f64 = MLPClassifier(dtype="float64", **kw).fit(X.astype(np.float32), y)
        auto = MLPClassifier(**kw).fit(X.astype(np.float32), y)  # the default follows the input
        auto64 = MLPClassifier(**kw).fit(X, y)
        two = MLPClassifier(dtype="float32", n_threads=2, **kw).fit(X, y)
    assert f32.coefs_[0].dtype == np.float32 and f32.predict_proba(X).dtype == np.float32
    assert f64.coefs_[0].dtype == np.float64 and auto.coefs_[0].dtype == np.float32
    assert auto64.coefs_[0].dtype == np.float64 and auto.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert auto.predict_proba(X).dtype == np.float64  # scikit-learn's: float64 X gives float64
    np.testing.assert_allclose(f32.loss_curve_, f64.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(two.loss_curve_, f32.loss_curve_, rtol=1e-4)
    assert fastgd.get_num_threads() >= 1


def test_bad_parameters_and_calls(digits):
    X, y = digits
    for bad in (dict(hidden_layer_sizes=(0,)), dict(solver="newton"), dict(alpha=-1.0), dict(batch_size=0),
                dict(momentum=1.5), dict(dtype="float16"), dict(n_threads=0), dict(max_iter=0),
                dict(validation_fraction=1.0), dict(activation="softmax")):
        with pytest.raises(ValueError):
            MLPClassifier(**bad).fit(X, y)
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="gamma").fit(X, y)
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, y - 5.0)
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError, match="Negative"):
        MLPClassifier(max_iter=1).fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier(max_iter=1).fit(X, y, sample_weight=np.ones(3))
    # named train_test_split's test_size, a parameter the user never set
    with pytest.raises(ValueError, match=r"validation_fraction must be > 0 with early_stopping=True \(.*\), got 0.0"):
        MLPClassifier(early_stopping=True, validation_fraction=0.0, max_iter=1).fit(X, y)
    # a 0-d array is one size (it raised NumPy's 'iteration over a 0-d array')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert MLPClassifier(hidden_layer_sizes=np.array(7), max_iter=1).fit(X, y).coefs_[0].shape == (64, 7)
    with pytest.raises(TypeError, match=r"hidden_layer_sizes must hold integers, got array\(\[\[3\]\]\)"):
        MLPClassifier(hidden_layer_sizes=np.array([[3]])).fit(X, y)
    # a ragged list: NumPy's unnamed 'inhomogeneous shape' error
    with pytest.raises(TypeError, match=r"hidden_layer_sizes must hold integers, got \[10, \[5\]\]"):
        MLPClassifier(hidden_layer_sizes=[10, [5]], max_iter=1).fit(X, y)


@pytest.mark.parametrize("sizes", [(2.5,), (2.0,), (np.float64(3),), np.array([2.5]), (4, 3.0), ("a",), (None,),
                                   (True,), [[2]], ((2, 3),)])
def test_a_hidden_layer_size_that_is_no_integer_is_a_type_error_as_in_sklearn(sizes):
    # scikit-learn's MLPs raise a TypeError (from NumPy, naming nothing) for each of these;
    # code that catches it gets ours, which names the parameter. (A ragged list such as
    # [10, [5]] gets NumPy's ValueError there, ours the same TypeError as [[2]].)
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(TypeError):
        sknn.MLPClassifier(hidden_layer_sizes=sizes, max_iter=1).fit(X, y)
    for est in (MLPClassifier(hidden_layer_sizes=sizes, max_iter=1), MLPRegressor(hidden_layer_sizes=sizes, max_iter=1)):
        with pytest.raises(TypeError, match="hidden_layer_sizes must hold integers, got "):
            est.fit(X, y)



@needs_sklearn_1_7
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_poisson_regression_is_scikit_learns_run(regression, solver):
    X, _ = regression
    y = np.random.default_rng(0).poisson(np.exp(0.3 * X[:, 0] + 0.2 * X[:, 1]))
    kw = dict(loss="poisson", hidden_layer_sizes=(8,), solver=solver, max_iter=30, random_state=0,
              learning_rate_init=0.01)
    ours, theirs = _fit_both(MLPRegressor(**kw), sknn.MLPRegressor(**kw), X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    _assert_same_run(ours, theirs, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7)


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "absolute_error", "huber"])
def test_poisson_regression_tags_its_targets_as_non_negative(loss):
    # fit refuses negative targets for the Poisson deviance: scikit-learn's tag says so to its
    # estimator checks (which then draw non-negative targets) and to other code reading tags
    from sklearn.utils import get_tags
    assert get_tags(MLPRegressor(loss=loss)).target_tags.positive_only is (loss == "poisson")
    assert get_tags(MLPRegressor().set_params(loss=loss)).target_tags.positive_only is (loss == "poisson")
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(np.zeros((3, 2)), [1.0, -1.0, 2.0])


def test_diverging_early_stopping_run_keeps_the_best_weights():
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=(50,), activation="identity", solver="sgd", learning_rate_init=1.0, max_iter=12,
              early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = MLPRegressor(**kw).fit(X, y)
        theirs = sknn.MLPRegressor(**kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 12  # no early stop: NaN scores never count as "no improvement"
    assert np.isnan(ours.validation_scores_[-1]) and np.isnan(theirs.validation_scores_[-1])
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-6)
    assert all(np.isfinite(c).all() for c in ours.coefs_)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6)


@pytest.mark.parametrize("y", [np.array([2, 0, 1, 4, 4, 0]), np.array([1, 0, 0, 1]), np.zeros(5, int),
                               np.array(["b", "a", "c", "a"]), np.array(["x", "y", "y"]),
                               np.array([True, False, True]), np.array([-3, 2, 2, -1], np.int8),
                               np.array([3, 3, 3], np.uint16)])
def test_label_binarizer_shortcut_matches_label_binarizer(y):
    """The classifier's one-pass label binarization gives LabelBinarizer's fitted state and output."""
    from sklearn.preprocessing import LabelBinarizer

    from fastgd.sklearn._classifier import _fitted_binarizer

    binarizer, y_bin = _fitted_binarizer(y)
    ref = LabelBinarizer().fit(y)
    expected = ref.transform(y).astype(bool)
    assert y_bin.dtype == expected.dtype and y_bin.shape == expected.shape
    np.testing.assert_array_equal(y_bin, expected)
    np.testing.assert_array_equal(binarizer.classes_, ref.classes_)
    assert binarizer.classes_.dtype == ref.classes_.dtype
    assert (binarizer.y_type_, binarizer.sparse_input_) == (ref.y_type_, ref.sparse_input_)
    np.testing.assert_array_equal(binarizer.transform(y), ref.transform(y))
    np.testing.assert_array_equal(binarizer.inverse_transform(expected.astype(int)),
                                  ref.inverse_transform(expected.astype(int)))


def test_label_binarizer_shortcut_declines_other_targets():
    from fastgd.sklearn._classifier import _fitted_binarizer

    assert _fitted_binarizer(np.array([[0, 1], [1, 0]])) is None  # multilabel indicator
    assert _fitted_binarizer(np.array([0.5, 1.0])) is None  # floats take LabelBinarizer's path
    assert _fitted_binarizer([0, 1, 1]) is None  # not an array


def test_parameter_names_are_read_once_per_class_and_follow_subclasses():
    """get_params (which every fit's parameter validation calls) lists scikit-learn's names for
    each class, also for a subclass that adds a parameter."""
    import inspect

    from sklearn.base import BaseEstimator

    for cls in (MLPClassifier, MLPRegressor):
        expected = sorted(p for p in inspect.signature(cls.__init__).parameters if p != "self")
        assert cls._get_param_names() == expected == BaseEstimator._get_param_names.__func__(cls)
        assert cls._get_param_names() is not cls._get_param_names()  # callers may change their list

    class Wider(MLPClassifier):
        def __init__(self, width=3, **kw):
            super().__init__(**kw)
            self.width = width

    assert "width" in Wider().get_params() and "width" not in MLPClassifier().get_params()
    assert Wider(width=5).set_params(width=7).width == 7


def _small_fitted_regressor():
    """An MLPRegressor 3-4-1 fitted for 3 epochs (not converged) on 30 random rows, and the rows."""
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 3)), rng.random(30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    return est, X, y


class _BlockingInput:
    """An array-like whose conversion, the first thing a fit does with it, waits until the test
    lets it go: a fit known to be running while the test acts."""

    def __init__(self, X):
        import threading

        self.X, self.started, self.release = X, threading.Event(), threading.Event()

    def __len__(self):
        return len(self.X)

    def __array__(self, dtype=None, copy=None):
        self.started.set()
        assert self.release.wait(60)
        return self.X if dtype is None else self.X.astype(dtype)


@pytest.mark.parametrize("make", [lambda: MLPClassifier(max_iter=5, hidden_layer_sizes=(8,)),
                                  lambda: MLPRegressor(max_iter=5, hidden_layer_sizes=(8,))])
def test_fit_while_another_thread_fits_the_estimator_is_refused(make):
    # a second fit on another thread overwrote the running fit's feature count, classes and model:
    # the two ended with an estimator mixing both (a feature count of one, the network of the other)
    import threading

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 6)), rng.integers(0, 3, 60)
    est, blocking = make(), _BlockingInput(X)
    errors = []
    fitting = threading.Thread(target=lambda: est.fit(blocking, y))
    fitting.start()
    try:
        assert blocking.started.wait(60)
        for call in (lambda: est.fit(X[:, :2], y + 1), lambda: est.partial_fit(X[:, :2], y + 1, **(
                {"classes": [1, 2, 3]} if isinstance(est, MLPClassifier) else {}))):
            with pytest.raises(RuntimeError, match="being trained in another thread") as info:
                call()
            errors.append(str(info.value))
    finally:
        blocking.release.set()
        fitting.join()
    assert errors[0].startswith(f"fit: this {type(est).__name__}") and errors[1].startswith("partial_fit:")
    assert est.n_features_in_ == 6 and est.coefs_[0].shape == (6, 8)
    assert est.predict(X).shape == (60,)
    # the lock is not part of the estimator's state: copies and pickles fit on their own
    for copy in (pickle.loads(pickle.dumps(est)), clone(est)):
        assert copy.fit(X, y).predict(X).shape == (60,)


def test_partial_fit_on_attributes_set_by_hand():
    # code written against scikit-learn sets the fitted attributes by hand, loss_curve_ among them
    # but no validation_scores_, then calls partial_fit: the records' check read the missing
    # attribute (AttributeError)
    X = np.array([[0.6, 0.8, 0.7]])
    y = np.array([0])
    fitted = []
    for est in (MLPClassifier(solver="sgd", hidden_layer_sizes=2, activation="logistic", random_state=1,
                              max_iter=1, learning_rate_init=0.1, momentum=0, alpha=0.1),
                sknn.MLPClassifier(solver="sgd", hidden_layer_sizes=2, activation="logistic", random_state=1,
                                   max_iter=1, learning_rate_init=0.1, momentum=0, alpha=0.1)):
        est.coefs_ = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]]), np.array([[0.1], [0.2]])]
        est.intercepts_ = [np.array([0.1, 0.1]), np.array([1.0])]
        est.n_outputs_, est.n_layers_, est.n_iter_, est.t_ = 1, 3, 0, 0
        est.n_features_in_, est.out_activation_ = 3, "logistic"
        est.best_loss_, est.loss_curve_, est._no_improvement_count = np.inf, [], 0
        est._coef_grads = [0] * 2
        est._intercept_grads = [0] * 2
        est.learning_rate_ = 0.1
        fitted.append(est.partial_fit(X, y, classes=[0, 1]))
    ours, theirs = fitted
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 1
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-12)


def _positional(cls, method):
    import inspect

    params = inspect.signature(cls if method == "__init__" else getattr(cls, method)).parameters
    return [n for n, p in params.items() if p.kind == p.POSITIONAL_OR_KEYWORD and n != "self"], params


@pytest.mark.parametrize("ours_cls, theirs_cls", [(MLPClassifier, sknn.MLPClassifier),
                                                  (MLPRegressor, sknn.MLPRegressor)])
def test_signatures_are_the_installed_scikit_learns(ours_cls, theirs_cls):
    """Every parameter of the installed scikit-learn's methods, with its default; its positional
    ones in its order (1.7 put sample_weight before partial_fit's classes and MLPRegressor's new
    loss first); fastgd's extras only after them or keyword-only."""
    for method in ("__init__", "fit", "partial_fit", "predict", "score", "_loss_grad_lbfgs"):
        ours_pos, ours = _positional(ours_cls, method)
        theirs_pos, theirs = _positional(theirs_cls, method)
        assert ours_pos[:len(theirs_pos)] == theirs_pos, method
        for name, p in theirs.items():
            assert name in ours and np.array_equal(ours[name].default, p.default, equal_nan=False), (method, name)


def test_positional_arguments_mean_what_they_mean_to_the_installed_scikit_learn(digits, regression):
    X, y = digits
    theirs_pos, _ = _positional(sknn.MLPClassifier, "partial_fit")
    known = {"classes": np.unique(y), "sample_weight": None}
    args = [known[n] for n in theirs_pos[2:]]  # classes, positional, as code for this version passes it
    ours = MLPClassifier(hidden_layer_sizes=(12,), random_state=0).partial_fit(X, y, *args)
    theirs = sknn.MLPClassifier(hidden_layer_sizes=(12,), random_state=0).partial_fit(X, y, *args)
    _assert_same_run(ours.partial_fit(X, y), theirs.partial_fit(X, y))

    Xr, yr = regression
    theirs_pos, _ = _positional(sknn.MLPRegressor, "__init__")
    known = {"loss": "squared_error", "hidden_layer_sizes": (7,), "activation": "tanh"}
    args = [known[n] for n in theirs_pos[:3]]
    ours, theirs = _fit_both(MLPRegressor(*args, max_iter=5, random_state=0),
                             sknn.MLPRegressor(*args, max_iter=5, random_state=0), Xr, yr)
    assert ours.get_params()["hidden_layer_sizes"] == (7,) and ours.get_params()["activation"] == "tanh"
    _assert_same_run(ours, theirs)
    assert clone(ours).get_params() == ours.get_params()


def test_output_dtypes_are_scikit_learns(digits):
    """predict_proba / predict_log_proba / predict follow scikit-learn's dtype: X validated as
    any numeric dtype and the weights, promoted as NumPy does, so small integers, bool or
    float16 into a model fitted on float32 give float32, float64 or int32/int64 give float64."""
    import scipy.sparse

    X, y = digits
    X32 = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    ints = X * 16
    for fit_X in (X32, X):
        ours, theirs = _fit_both(MLPClassifier(**kw), sknn.MLPClassifier(**kw), fit_X, y)
        r_ours, r_theirs = _fit_both(MLPRegressor(**kw), sknn.MLPRegressor(**kw), fit_X, y.astype(fit_X.dtype))
        dense = [X, X32, ints.astype(np.int64), ints.astype(np.int32), ints.astype(np.uint8), ints.astype(np.int16),
                 ints.astype(np.int8), X > 0.5, X.astype(np.float16)]
        # (SciPy's sparse matrices have no float16)
        for Xp in dense + [scipy.sparse.csr_matrix(d) for d in dense if d.dtype != np.float16]:
            assert ours.predict_proba(Xp).dtype == theirs.predict_proba(Xp).dtype, Xp.dtype
            assert ours.predict_log_proba(Xp).dtype == theirs.predict_log_proba(Xp).dtype, Xp.dtype
            assert r_ours.predict(Xp).dtype == r_theirs.predict(Xp).dtype, Xp.dtype
            np.testing.assert_allclose(ours.predict_proba(Xp), theirs.predict_proba(Xp), rtol=1e-4, atol=1e-5)
        assert ours.loss == theirs.loss
    # fastgd's dtype="float32" asks for float32 arithmetic and outputs
    assert MLPClassifier(dtype="float32", **kw).fit(X, y).predict_proba(X).dtype == np.float32


def test_a_float64_value_past_a_float32_models_range_is_named_not_predicted_as_nan():
    # the conversion to the model's float32 made 1e39 infinite: predict_proba returned NaN rows,
    # predict a class, and fit blamed the solver
    from fastgd.sklearn._base import _PREDICT_CHUNK

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X.astype(np.float32), y)
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X.astype(np.float32), X[:, 0])
    past = X.copy()
    past[0, 1] = 1e39
    message = r"X must be finite in float32, got 1e\+39 at flat index 1, past its range"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for call in (clf.predict_proba, clf.predict, reg.predict,
                     lambda X: MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, dtype="float32").fit(X, y)):
            with pytest.raises(ValueError, match=message):
                call(past)
    # predict converts chunk by chunk; a chunk past the first is named by where it starts
    late = np.zeros((_PREDICT_CHUNK + 2, 3))
    late[_PREDICT_CHUNK + 1, 2] = -1e39
    with pytest.raises(ValueError, match=rf"X\[{_PREDICT_CHUNK}:\] must be finite in float32, got -1e\+39 at "
                                         r"flat index 5, past its range"):
        clf.predict_proba(late)


@pytest.mark.parametrize("batch_size", ["auto", 500])
@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_attribute_types_are_scikit_learns(digits, solver, dtype, batch_size):
    """loss_, loss_curve_ and best_loss_ are NumPy scalars of scikit-learn's type: float64 for
    the classifier; for the regressor, what the weights, targets and sample weights make, and
    float64 for a stochastic solver given an integer batch_size."""
    X, y = digits
    X = X.astype(dtype)
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, solver=solver, batch_size=batch_size)
    cases = [(MLPClassifier, sknn.MLPClassifier, y, None), (MLPRegressor, sknn.MLPRegressor, y.astype(dtype), None),
             (MLPRegressor, sknn.MLPRegressor, y.astype(np.float64), None)]
    if _SKLEARN_1_7:
        cases += [(MLPRegressor, sknn.MLPRegressor, y.astype(dtype), np.ones(len(y))),
                  (MLPRegressor, sknn.MLPRegressor, y.astype(dtype), np.ones(len(y), dtype=dtype))]
    for Ours, Theirs, target, sw in cases:
        for extra in ({}, {"early_stopping": True}) if solver == "sgd" else ({},):
            fit_kw = {} if sw is None else {"sample_weight": sw}
            ours, theirs = _fit_both(Ours(**kw, **extra), Theirs(**kw, **extra), X, target, **fit_kw)
            for name in ("loss_", "best_loss_", "best_validation_score_"):
                assert type(getattr(ours, name, None)) is type(getattr(theirs, name, None)), (Ours, name)
            for name in ("loss_curve_", "validation_scores_"):
                ours_v, theirs_v = getattr(ours, name, None), getattr(theirs, name, None)
                assert (ours_v is None) == (theirs_v is None), (Ours, name)
                if ours_v is not None:
                    assert [type(v) for v in ours_v] == [type(v) for v in theirs_v], (Ours, name)


def test_invscaling_with_a_huge_power_t_ends_and_names_what_it_cannot_do():
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 3)), rng.integers(0, 3, 40)
    for power_t in (10**9, 1e300):  # an exact integer power without end; an OverflowError of float's **
        # without momentum the rate is 0 after the first epoch, as scikit-learn's limit: the weights stay
        est = MLPClassifier(max_iter=3, solver="sgd", learning_rate="invscaling", power_t=power_t, momentum=0.0,
                            random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        assert est.n_iter_ == 3 and all(np.isfinite(c).all() for c in est.coefs_)
        # with momentum, whose velocity fastgd keeps as a multiple of the rate, a rate of 0 is refused
        with pytest.raises(ValueError, match="the learning rate fell to 0 .* use a smaller power_t, or momentum=0"):
            MLPClassifier(max_iter=3, solver="sgd", learning_rate="invscaling", power_t=power_t,
                          random_state=0).fit(X, y)


@pytest.mark.parametrize("name", ["alpha", "learning_rate_init", "tol", "epsilon", "power_t"])
def test_an_integer_past_float64_for_a_real_parameter_is_named(name):
    # scikit-learn's interval takes it; float() in the solvers raised an OverflowError naming nothing
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 3)), rng.random(20)
    with pytest.raises(ValueError, match=f"{name} must be a finite number, got an integer of 1329 bits"):
        MLPRegressor(max_iter=2, **{name: 10**400}).fit(X, y)


def test_predict_and_pickle_leave_the_model_alone_while_another_thread_fits():
    # predict brought the model in line with coefs_ / intercepts_ even while a fit ran in another
    # thread: caught between two of the fit's assignments, it copied the old model's arrays into
    # the new one (or bound the estimator back to the old model)
    import threading

    est, X, y = _small_fitted_regressor()
    model, before = est.model_, est.model_.params.copy()
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]  # what a fit's state looks like mid-rebinding
    blocking = _BlockingInput(X)
    other = threading.Thread(target=lambda: est.fit(blocking, y))  # a fit, held at reading its X
    other.start()
    try:
        assert blocking.started.wait(60)
        est.predict(X)
        pickle.dumps(est)
        assert est.model_ is model
        np.testing.assert_array_equal(model.params, before)  # nothing copied in
    finally:
        blocking.release.set()
        other.join()
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]
    est.predict(X)  # no fit running: the assigned coefs_ take effect, as before
    assert all(np.all(L.W == 0) for L in est.model_.layers)


def test_a_fit_starting_while_predict_brings_the_model_in_line_waits_for_it():
    # predict brought the model in line holding the training lock, so a fit started meanwhile in
    # another thread was refused as overlapping a fit ("being trained in another thread")
    import threading

    est, X, y = _small_fitted_regressor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W0 = est.coefs_[0].copy()
        slow = _BlockingInput(np.full_like(W0, 0.5))  # an assigned array whose copy is slow
        est.coefs_ = [slow, est.coefs_[1]]
        errors, predictions = [], []

        def run(call):
            try:
                call()
            except Exception as exc:  # reported below
                errors.append(exc)

        predicting = threading.Thread(target=run, args=(lambda: predictions.append(est.predict(X)),))
        predicting.start()
        assert slow.started.wait(60)  # the sync is copying coefs_[0]
        fitting = threading.Thread(target=run, args=(lambda: est.fit(X, y),))
        fitting.start()
        fitting.join(0.5)
        assert fitting.is_alive()  # waiting for the sync, not refused
        slow.release.set()
        predicting.join()
        fitting.join()
    assert errors == []
    assert predictions[0].shape == (30,)
    assert est.n_iter_ == 3 and not np.all(est.coefs_[0] == 0.5)  # the fit ran in full afterwards



def test_under_scikit_learn_1_6_the_signatures_are_its_and_sample_weight_stays_third():
    """With scikit-learn 1.6 (simulated by its version string, read when fastgd.sklearn is
    imported) MLPRegressor's positional parameters are hidden_layer_sizes and activation, loss is
    keyword-only with the same default, and fit / MLPRegressor.partial_fit take sample_weight third."""
    code = """if True:
        import inspect, warnings
        import numpy as np
        import sklearn
        sklearn.__version__ = "1.6.1"
        from fastgd.sklearn import MLPClassifier, MLPRegressor
        from fastgd.sklearn._base import _SKLEARN_1_7
        assert not _SKLEARN_1_7
        params = inspect.signature(MLPRegressor).parameters
        assert list(params)[:2] == ["hidden_layer_sizes", "activation"]
        assert params["loss"].kind == params["loss"].KEYWORD_ONLY and params["loss"].default == "squared_error"
        est = MLPRegressor((5,), "tanh", loss="huber", max_iter=2, random_state=0)
        assert (est.hidden_layer_sizes, est.activation, est.loss) == ((5,), "tanh", "huber")
        default = MLPRegressor()
        assert (default.hidden_layer_sizes, default.activation, default.loss) == ((100,), "relu", "squared_error")
        try:
            MLPRegressor((5,), "tanh", "adam")
        except TypeError as e:
            assert "hidden_layer_sizes and activation positionally" in str(e), e
        else:
            raise AssertionError("a third positional argument was taken")
        rng = np.random.default_rng(0)
        X, y = rng.random((30, 3)), rng.random(30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zero = np.r_[np.zeros(15), np.ones(15)]
            a = MLPRegressor(hidden_layer_sizes=(4,), random_state=0, max_iter=3).fit(X, y, zero)
            b = MLPRegressor(hidden_layer_sizes=(4,), random_state=0, max_iter=3).fit(X[15:], y[15:])
            assert np.allclose(a.coefs_[0], b.coefs_[0])
            c = MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y, zero)
            d = MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X[15:], y[15:])
            assert np.allclose(c.coefs_[0], d.coefs_[0])
            labels = (y > 0.5).astype(int)
            e = MLPClassifier((4,), random_state=0, max_iter=3).fit(X, labels, zero)
            f = MLPClassifier((4,), random_state=0, max_iter=3).fit(X[15:], labels[15:])
            assert np.allclose(e.coefs_[0], f.coefs_[0])
    """
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- where fastgd differs from scikit-learn on purpose (README, fastgd.sklearn's docstring) ------------

def test_parameters_are_checked_at_every_fit_and_partial_fit():
    # scikit-learn's skip the check for a fitted estimator's partial_fit and under
    # skip_parameter_validation; fastgd's solvers take checked values only
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = np.random.RandomState(0).rand(40, 3), np.arange(40) % 2
    est = MLPClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(InvalidParameterError, match="'alpha' parameter"):
        est.set_params(alpha=-1.0).partial_fit(X, y)
    with sklearn.config_context(skip_parameter_validation=True):
        with pytest.raises(InvalidParameterError, match="'beta_1' parameter"):
            MLPClassifier(beta_1=1.5, max_iter=2).fit(X, y)


def test_lbfgs_regressor_has_no_partial_fit():
    # as scikit-learn documents and as its classifier does (1.9's regressor runs an L-BFGS fit)
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="adam"), "partial_fit")


def test_partial_fit_with_another_number_of_outputs_is_refused():
    X, y = np.random.RandomState(0).rand(40, 3), np.linspace(0, 1, 40)
    est = MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match=r"the network has layers \[3, 4, 2\] but the parameters and data ask for "
                                         r"\[3, 4, 1\]"):
        est.partial_fit(X, y)


@pytest.mark.parametrize("first", [dict(solver="lbfgs"), dict(early_stopping=True)])
def test_partial_fit_after_an_lbfgs_or_early_stopping_fit_trains(regression, first):
    # scikit-learn 1.9's fails there: no loss_curve_ after lbfgs, best_loss_ None after early stopping
    X, y = regression
    est = MLPRegressor(hidden_layer_sizes=(5,), max_iter=4, random_state=0, **first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    est.set_params(solver="adam", early_stopping=False)
    before = est.coefs_[0].copy()
    est.partial_fit(X, y)
    est.partial_fit(X, y)
    assert len(est.loss_curve_) >= 2 and np.isfinite(est.loss_curve_[-1]) and est.best_loss_ <= est.loss_curve_[0]
    assert est.validation_scores_ is None and not np.array_equal(est.coefs_[0], before)


def test_a_warm_early_stopping_fit_without_a_better_score_keeps_the_best_parameters(digits):
    # scikit-learn's ends with its last epoch's parameters there: the best ones it restored at
    # the end of the first fit are the arrays the second fit updates in place
    X, y = digits
    X, y = X[:300], y[:300]
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=6, random_state=0, warm_start=True, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        best, best_score = [c.copy() for c in est.coefs_], est.best_validation_score_
        est.fit(X, y)
    assert max(est.validation_scores_[6:]) < best_score == est.best_validation_score_
    for a, b in zip(est.coefs_, best):
        np.testing.assert_array_equal(a, b)


# ---- scikit-learn's behaviour where fastgd's differed ----------------------------------------------

def _warnings_of(fit, ignore_sklearn):
    """(category, message) of every warning fit() emits, with warnings.filterwarnings("ignore",
    module="sklearn") in force when ignore_sklearn."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if ignore_sklearn:
            warnings.filterwarnings("ignore", module="sklearn")
        fit()
    return [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize("case", ["sgd", "lbfgs", "batch_size", "column_y_classifier", "column_y_regressor"])
def test_warnings_are_scikit_learns_and_a_filter_on_its_module_silences_them(case):
    # they were attributed to fastgd.sklearn's modules: module="sklearn" filters let them through
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    labels, target = (X[:, 0] > 0).astype(int), X[:, 1]
    fits = {
        "sgd": lambda nn: nn.MLPClassifier(max_iter=2, random_state=0).fit(X, labels),
        "lbfgs": lambda nn: nn.MLPClassifier(solver="lbfgs", max_iter=2, random_state=0).fit(X, labels),
        "batch_size": lambda nn: nn.MLPRegressor(batch_size=1000, max_iter=500, random_state=0).fit(X, target),
        "column_y_classifier": lambda nn: nn.MLPClassifier(max_iter=500, random_state=0).fit(X, labels[:, None]),
        "column_y_regressor": lambda nn: nn.MLPRegressor(max_iter=500, random_state=0).fit(X, target[:, None]),
    }
    ours = _warnings_of(lambda: fits[case](sys.modules["fastgd.sklearn"]), ignore_sklearn=False)
    theirs = _warnings_of(lambda: fits[case](sknn), ignore_sklearn=False)
    assert ours and ours == theirs
    assert _warnings_of(lambda: fits[case](sys.modules["fastgd.sklearn"]), ignore_sklearn=True) == []


def test_a_sparse_column_target_is_refused_without_the_column_vector_warning():
    # the DataConversionWarning for a column y came before column_or_1d's TypeError for a sparse
    # one; scikit-learn's check refuses it first and warns of nothing
    import scipy.sparse

    X = np.random.RandomState(0).randn(20, 3)
    y = scipy.sparse.csr_matrix(X[:, :1])
    outcomes = []
    for cls in (MLPRegressor, sknn.MLPRegressor):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(TypeError, match="Sparse data was passed for y") as info:
                cls(max_iter=2).fit(X, y)
        outcomes.append((str(info.value), [w.category for w in caught]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == []


def test_string_classes_and_predictions_have_scikit_learns_width():
    # classes_ kept y's width: '<U21' for the labels of np.arange(3).astype(str), where
    # scikit-learn's are '<U1'
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    for y in (np.arange(30) % 3, np.array(["a", "bb", "ccc"] * 10, dtype="<U8"), np.arange(30) % 2):
        y = y.astype(str)
        kw = dict(max_iter=2, random_state=0)
        ours, theirs = _fit_both(MLPClassifier(**kw), sknn.MLPClassifier(**kw), X, y)
        assert ours.classes_.dtype == theirs.classes_.dtype == np.asarray(sorted(set(y.tolist()))).dtype
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
        assert ours.predict(X).dtype == theirs.predict(X).dtype


@pytest.mark.parametrize("first, then", [
    (dict(solver="sgd", learning_rate="invscaling", power_t=0.25, momentum=0.9, nesterovs_momentum=True),
     dict(solver="adam", learning_rate_init=0.02, learning_rate="constant", power_t=2.0, momentum=0.1,
          nesterovs_momentum=False, beta_1=0.5, beta_2=0.6, epsilon=1e-3)),
    (dict(solver="adam", beta_1=0.8, beta_2=0.99, epsilon=1e-6),
     dict(solver="sgd", learning_rate_init=0.02, learning_rate="adaptive", beta_1=0.5, beta_2=0.6, epsilon=1e-3)),
])
def test_partial_fit_keeps_the_optimizer_of_the_first_call_until_a_fit(regression, first, then):
    # partial_fit after set_params read the new learning_rate_init, epsilon, beta_2, power_t and
    # schedule but kept the old momentum and betas, and rebuilt the optimizer for a new solver;
    # scikit-learn's keeps the optimizer (and all of them) until the next fit
    X, y = regression
    kw = dict(hidden_layer_sizes=(8,), learning_rate_init=0.005, random_state=0, **first)
    ours, theirs = MLPRegressor(**kw), sknn.MLPRegressor(**kw)
    for est in (ours, theirs):
        est.partial_fit(X, y)
        est.set_params(**then)
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    _assert_same_run(ours, theirs)
    _fit_both(ours.set_params(max_iter=3), theirs.set_params(max_iter=3), X, y)  # a fit takes the new ones
    _assert_same_run(ours, theirs)


@pytest.mark.parametrize("first, later", [([0, 1, 2], [0, 1, 2, 3]), ([0, 1, 2], ["a", 1])])
def test_partial_fit_checks_a_later_calls_classes_as_sklearn(digits, first, later):
    # a later call's classes were compared through np.unique: the message printed them without
    # scikit-learn's repr, and labels of mixed types gave NumPy's TypeError, not scikit-learn's
    # ValueError
    X, y = digits
    errors = []
    for cls in (MLPClassifier, sknn.MLPClassifier):
        est = cls(hidden_layer_sizes=(4,), random_state=0).partial_fit(X[:60], y[:60] % 3, classes=first)
        with pytest.raises(Exception) as info:
            est.partial_fit(X[60:120], y[60:120] % 3, classes=later)
        errors.append((info.type, str(info.value)))
    assert errors[0] == errors[1]
    assert errors[0][0] is ValueError


def test_a_first_partial_fit_refused_for_its_parameters_leaves_the_estimator_unfitted():
    # classes_ was set before the parameters were checked: the estimator then looked fitted
    # (check_is_fitted passed, predict failed inside) and a next call without classes trained
    from sklearn.exceptions import NotFittedError
    from sklearn.utils._param_validation import InvalidParameterError
    from sklearn.utils.validation import check_is_fitted

    X, y = np.random.RandomState(0).rand(30, 3), np.arange(30) % 3
    for cls in (MLPClassifier, sknn.MLPClassifier):
        est = cls(alpha=-1.0, hidden_layer_sizes=(4,))
        with pytest.raises(InvalidParameterError, match="'alpha' parameter"):
            est.partial_fit(X, y, classes=[0, 1, 2])
        assert not hasattr(est, "classes_")
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
        with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
            est.set_params(alpha=0.1).partial_fit(X, y)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_an_interrupt_ends_a_stochastic_fit_as_in_sklearn(monkeypatch, digits, early_stopping):
    # KeyboardInterrupt went through fit; scikit-learn's stochastic loop catches it, warns and
    # returns the model (the best one, with early stopping), while lbfgs lets it through
    from fastgd import _loop

    X, y = digits
    run_epoch, epochs = _loop.run_epoch, []

    def interrupted_in_fourth_epoch(train_batch, *args, **kwargs):
        epochs.append(None)

        def batch(step, *batch_args):
            if len(epochs) == 4 and step == 1:  # one update of the fourth epoch made
                raise KeyboardInterrupt
            return train_batch(step, *batch_args)
        return run_epoch(batch, *args, **kwargs)

    kw = dict(hidden_layer_sizes=(16,), solver="sgd", batch_size=100, early_stopping=early_stopping, random_state=0)
    monkeypatch.setattr(_loop, "run_epoch", interrupted_in_fourth_epoch)
    est = MLPClassifier(max_iter=50, **kw)
    with pytest.warns(UserWarning, match="^Training interrupted by user.$"):
        assert est.fit(X, y) is est
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        three = MLPClassifier(max_iter=3, **kw).fit(X, y)  # the same run, ended after 3 epochs
    assert est.n_iter_ == 3 and est.loss_curve_ == three.loss_curve_ and est.t_ == three.t_
    same = [np.array_equal(a, b) for a, b in zip(est.coefs_, three.coefs_)]
    assert all(same) if early_stopping else not any(same)  # restored, or one update further on
    assert est.predict_proba(X).shape == (600, 10) and np.isfinite(est.predict_proba(X)).all()  # usable

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["fastgd.sklearn._base"]._lbfgs, "lbfgsb", interrupt)
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(solver="lbfgs", hidden_layer_sizes=(16,), random_state=0).fit(X, y)


def test_an_assigned_out_activation_and_a_network_without_its_output_layer_predict_as_in_sklearn(digits, regression):
    # out_activation_ assigned after the fit was ignored (the output function followed the labels
    # or the loss), and coefs_/intercepts_ one layer short ("hidden features") were refused
    tol = dict(rtol=1e-7, atol=1e-9)
    kw = dict(hidden_layer_sizes=(12, 7), max_iter=5, random_state=0)
    X, y = digits
    clfs = _fit_both(MLPClassifier(**kw), sknn.MLPClassifier(**kw), X, y)
    Xr, yr = regression
    regs = _fit_both(MLPRegressor(**kw), sknn.MLPRegressor(**kw), Xr, np.c_[yr, -yr])
    # every output function the installed scikit-learn has ("exp" came with its Poisson loss, in 1.7)
    from sklearn.neural_network._base import ACTIVATIONS
    assert {"identity", "logistic", "tanh", "relu", "softmax"} <= set(ACTIVATIONS)
    for output in ACTIVATIONS:
        for est in clfs + regs:
            est.out_activation_ = output
        np.testing.assert_allclose(clfs[0].predict_proba(X), clfs[1].predict_proba(X), **tol)
        np.testing.assert_allclose(regs[0].predict(Xr), regs[1].predict(Xr), **tol)
    for (ours, theirs), data in ((clfs, X), (regs, Xr)):
        for est in (ours, theirs):  # the recipe for the last hidden layer's activations
            est.coefs_ = est.coefs_[:-1]
            est.intercepts_ = est.intercepts_[:-1]
            est.n_layers_ -= 1
            est.out_activation_ = "relu"
        features = ours._forward_pass_fast(data)
        assert features.shape == (data.shape[0], 7)
        np.testing.assert_allclose(features, theirs._forward_pass_fast(data), **tol)
        np.testing.assert_allclose(pickle.loads(pickle.dumps(ours))._forward_pass_fast(data), features)
    np.testing.assert_allclose(regs[0].predict(Xr), regs[1].predict(Xr), **tol)
    np.testing.assert_allclose(clfs[0].predict_proba(X), clfs[1].predict_proba(X), **tol)
    with pytest.raises(ValueError, match=r"the network has 7 outputs.*labels need n_outputs_=10"):
        clfs[0].predict(X)  # scikit-learn's decodes labels from the 7 features
    regs[0].out_activation_ = "gelu"
    with pytest.raises(ValueError, match=r"out_activation_ must be one of \['exp', 'identity', 'logistic', 'relu', "
                                         r"'softmax', 'tanh'\], got 'gelu'"):
        regs[0].predict(Xr)
