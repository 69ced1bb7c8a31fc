"""fastgd.metrics against scikit-learn (when installed) and hand-computed values."""

import numpy as np
import pytest

import fastgd as fg
from fastgd import metrics


def test_accuracy_from_labels_scores_and_one_hot(rng):
    y = np.array([0, 1, 2, 2, 1])
    scores = np.eye(3)[[0, 1, 1, 2, 0]] + 0.1
    assert metrics.accuracy(y, [0, 1, 1, 2, 0]) == pytest.approx(0.6)
    assert metrics.accuracy(y, scores) == pytest.approx(0.6)
    assert metrics.accuracy(np.eye(3)[y], scores) == pytest.approx(0.6)
    assert metrics.accuracy(y, scores, normalize=False) == 3.0
    assert metrics.zero_one_loss(y, scores) == pytest.approx(0.4)
    assert metrics.zero_one_loss(y, scores, normalize=False) == 2.0


def test_binary_scores_with_threshold():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.2], [0.7], [0.4], [0.6]])
    assert metrics.accuracy(y, proba) == 0.5
    logits = np.array([[-1.0], [2.0], [0.5], [-0.2]])
    assert metrics.accuracy(y, logits, threshold=0.0) == 1.0


def test_weighted_accuracy_matches_sklearn(rng):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y = rng.integers(0, 4, 50)
    p = rng.integers(0, 4, 50)
    w = rng.uniform(0, 2, 50)
    assert metrics.accuracy(y, p, sample_weight=w) == pytest.approx(sklearn_metrics.accuracy_score(y, p, sample_weight=w))
    assert metrics.zero_one_loss(y, p, sample_weight=w) == pytest.approx(sklearn_metrics.zero_one_loss(y, p, sample_weight=w))
    assert metrics.zero_one_loss(y, p, normalize=False) == sklearn_metrics.zero_one_loss(y, p, normalize=False)


@pytest.mark.parametrize("multioutput", ["uniform_average", "raw_values", "variance_weighted"])
def test_r2_matches_sklearn(rng, multioutput):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y = rng.standard_normal((40, 3))
    p = y + 0.5 * rng.standard_normal((40, 3))
    w = rng.uniform(0, 2, 40)
    for sw in (None, w):
        np.testing.assert_allclose(metrics.r2_score(y, p, sample_weight=sw, multioutput=multioutput),
                                   sklearn_metrics.r2_score(y, p, sample_weight=sw, multioutput=multioutput))
    assert metrics.r2_score(y[:, 0], p[:, 0]) == pytest.approx(sklearn_metrics.r2_score(y[:, 0], p[:, 0]))


def test_r2_edge_cases():
    assert metrics.r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    assert metrics.r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0   # constant, exact
    assert metrics.r2_score([2.0, 2.0], [1.0, 2.0]) == 0.0   # constant, missed
    assert metrics.r2_score([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == 0.0


@pytest.mark.parametrize("call, exc, message", [
    (lambda: metrics.accuracy([0, 1], [0, 1, 1]), ValueError, "y_true has 2 samples but y_pred has 3"),
    (lambda: metrics.accuracy([], []), ValueError, "y_true is empty"),
    (lambda: metrics.accuracy(["a"], [0]), TypeError, "y_true must hold real numbers"),
    (lambda: metrics.accuracy([0, 1], [0, np.nan]), ValueError, "y_pred must be finite"),
    (lambda: metrics.accuracy([0, 1], [0, 1], sample_weight=[1, -1]), ValueError, "sample_weight must be >= 0"),
    (lambda: metrics.accuracy([0, 1], [0, 1], sample_weight=[0, 0]), ValueError, "sums to zero"),
    (lambda: metrics.accuracy([0, 1], np.zeros((2, 2, 2))), ValueError, "y_pred must be 1-D labels or 2-D scores"),
    (lambda: metrics.r2_score([1.0], [1.0]), ValueError, "at least two samples"),
    (lambda: metrics.r2_score([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError, "y_pred must have the shape of y_true"),
    (lambda: metrics.r2_score([1.0, 2.0], [1.0, 2.0], multioutput="max"), ValueError, "multioutput must be"),
    # an array (scikit-learn's output weights) raised NumPy's "truth value of an array is ambiguous"
    (lambda: metrics.r2_score([1.0, 2.0], [1.0, 2.0], multioutput=np.array([0.5, 0.5])), TypeError,
     "multioutput must be 'uniform_average', 'raw_values' or 'variance_weighted', got array"),
    # a column of class labels was thresholded at 0.5 as binary targets: label 2 counted as class 1
    (lambda: metrics.accuracy([[0], [1], [2]], np.eye(3)), ValueError,
     r"y_true of one column holds binary targets in \[0, 1\] .*got values in \[0, 2\]; give 0/1 targets .*or class labels as a 1-D array"),
    # and a column of predicted labels (or of scores against labels -1/+1) was thresholded to 0/1:
    # every sample of label 2 or -1 counted wrong (scikit-learn reads the column as the labels)
    (lambda: metrics.accuracy([0, 1, 2], [[0], [1], [2]]), ValueError,
     r"y_pred of one column holds scores of the positive class .*but y_true holds labels in \[0, 2\]; give "
     r"predicted labels as a 1-D array"),
    (lambda: metrics.zero_one_loss([-1, 1], [[-3.0], [2.0]], threshold=0.0, normalize=False), ValueError,
     r"y_pred of one column .*y_true holds labels in \[-1, 1\]"),
])
def test_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_a_threshold_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="threshold must be a finite number, got nan"):
        metrics.accuracy([0, 1], [[0.2], [0.7]], threshold=float("nan"))


def test_multilabel_indicators_score_subset_accuracy_as_sklearn():
    """0/1 rows with other than one 1 are label sets: a sample is right when every label is
    (y_pred > threshold), as scikit-learn's subset accuracy; one-hot rows stay classes."""
    sk = pytest.importorskip("sklearn.metrics")
    y = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 0, 1]])
    p = np.array([[.9, .2, .1], [.1, .8, .3], [.7, .1, .2], [.2, .1, .9]])
    assert metrics.accuracy(y, p) == sk.accuracy_score(y, (p > 0.5).astype(int)) == 0.25
    assert metrics.accuracy(y, (p > 0.5).astype(float)) == 0.25
    assert metrics.accuracy(y, p, normalize=False) == 1.0
    assert metrics.zero_one_loss(y, p) == 0.75
    assert metrics.accuracy(y, p, threshold=0.15) == sk.accuracy_score(y, (p > 0.15).astype(int))
    with pytest.raises(ValueError, match="multi-label indicator matrix of shape \\(4, 3\\)"):
        metrics.accuracy(y, p[:, :2])


def test_one_dimensional_scores_are_not_taken_for_labels():
    with pytest.raises(ValueError, match="y_pred of one dimension holds class labels, got non-integer"):
        metrics.accuracy([0, 1, 1, 0], [.1, .9, .8, .3])
    with pytest.raises(ValueError, match="y_true of one dimension"):
        metrics.accuracy([0.5, 1], [0, 1])
    assert metrics.accuracy([0, 1, 1, 0], [[.1], [.9], [.8], [.3]]) == 1.0
    assert metrics.accuracy(np.array([0.0, 2.0]), [0, 2]) == 1.0


class _TwoRanks:
    """A data-parallel stand-in whose other rank reports the given indicator summary (0/1 rows,
    some of other than one 1) and nothing else: the second sum is this rank's own counts."""

    def __init__(self, other_several):
        self.other, self.first = (1.0, 1.0, float(other_several)), True

    def sum(self, values, what=None):
        values = np.asarray(values, dtype=np.float64)
        if self.first:
            self.first = False
            return values + self.other
        return values


@pytest.mark.parametrize("other_several, expected", [(True, 0.5), (False, 1.0)])
def test_multilabel_accuracy_over_ranks_follows_all_ranks_rows(other_several, expected):
    """This rank's rows are one-hot; under a loss that leaves the rule to the target (MSE),
    another rank's multi-label rows make y_true a label-set matrix for every rank (thresholded:
    0.5), else it stays one of classes (argmax: 1.0)."""
    from fastgd.training import loop
    y, p = np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.8], [0.1, 0.7]])
    ranks = _TwoRanks(other_several)
    multilabel = metrics._multilabel_rule(fg.losses.MSE(), 2, [y], ranks.sum)
    assert loop._metric(ranks, metrics.accuracy, y, p, multilabel) == expected


def _fit(loss, X, Y, n_outputs, **options):
    """A one-epoch fit of a linear model logging accuracy and zero_one_loss: its last epoch's
    metrics are those of the parameters it ends with."""
    m = fg.Sequential([fg.Dense(X.shape[1], n_outputs, activation="identity")], dtype="float64", seed=3)
    h = m.fit(X, Y, loss=loss, optimizer=fg.optim.Adam(lr=0.05), epochs=1, batch_size=16, progress=False, seed=0,
              metrics=["accuracy", "zero_one_loss"], **options)
    return m, h.history


def _label_sets(n, rng, several):
    """(X, Y): 0/1 rows over 3 labels, the first ``several`` of them with two 1s, the others one."""
    X = rng.standard_normal((n, 4))
    Y = np.eye(3)[rng.integers(0, 3, n)]
    Y[:several, [0, 1]] = 1
    return X, Y


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "mse"])
def test_fit_scores_validation_rows_by_the_rule_of_the_training_target(rng, loss):
    """Multi-label training targets and validation targets that happen to be one-hot: the
    validation rows were scored by argmax, the training rows by subset accuracy, so
    val_accuracy measured another thing than accuracy (and than the model's predictions)."""
    sk = pytest.importorskip("sklearn.metrics")
    X, Y = _label_sets(120, rng, 40)
    Xv, Yv = _label_sets(60, rng, 0)
    m, h = _fit(loss, X, Y, 3, validation_data=(Xv, Yv))
    predicted = (m.predict_proba(Xv, loss) > 0.5).astype(int)  # BCE: sigmoid; MSE: the output itself
    assert h["val_accuracy"][-1] == sk.accuracy_score(Yv, predicted)
    assert h["val_zero_one_loss"][-1] == pytest.approx(sk.zero_one_loss(Yv, predicted), abs=1e-15)
    assert h["accuracy"][-1] == sk.accuracy_score(Y, (m.predict_proba(X, loss) > 0.5).astype(int))
    if loss == "binary_cross_entropy":  # evaluate follows the loss (MSE leaves it to Yv, one-hot: classes)
        assert m.evaluate(Xv, Yv, metrics=["accuracy"])["accuracy"] == h["val_accuracy"][-1]
    # the same data cut by validation_split: its last rows are one-hot, its first multi-label
    m, h = _fit(loss, np.vstack([X, Xv]), np.vstack([Y, Yv]), 3, validation_split=1 / 3)
    assert h["val_accuracy"][-1] == sk.accuracy_score(Yv, (m.predict_proba(Xv, loss) > 0.5).astype(int))



@pytest.mark.parametrize("how", ["validation_data", "validation_split"])
def test_fit_scores_by_the_rule_of_the_training_and_validation_targets_together(rng, how):
    """One-hot training rows and multi-label validation rows under MSE: the rule was the
    training rows' alone (classes), so the validation label sets were scored by their argmax, and
    val_accuracy was not scikit-learn's accuracy_score of the model's predictions. The targets
    are one multi-label indicator matrix together (validation_split cut it from one y), and both
    sets are scored as label sets."""
    sk = pytest.importorskip("sklearn.metrics")
    X, Y = _label_sets(120, rng, 0)
    Xv, Yv = _label_sets(60, rng, 30)
    options = ({"validation_data": (Xv, Yv)} if how == "validation_data" else {"validation_split": 1 / 3})
    data = (X, Y) if how == "validation_data" else (np.vstack([X, Xv]), np.vstack([Y, Yv]))
    m, h = _fit("mse", *data, 3, **options)
    assert h["val_accuracy"][-1] == sk.accuracy_score(Yv, (m.predict(Xv) > 0.5).astype(int))
    assert h["accuracy"][-1] == sk.accuracy_score(Y, (m.predict(X) > 0.5).astype(int))
    if how == "validation_split":  # the whole y, as fit was given it
        whole = sk.accuracy_score(data[1], (m.predict(data[0]) > 0.5).astype(int))
        assert (h["accuracy"][-1] * 120 + h["val_accuracy"][-1] * 60) / 180 == pytest.approx(whole, abs=1e-15)


def test_evaluate_scores_by_the_loss_of_the_model():
    """Binary cross-entropy on three outputs predicts a set of labels (the probabilities above
    0.5): one-hot rows are scored by subset accuracy, not by the argmax the rows' form gave."""
    y = np.eye(3)[[0, 1, 2, 0]]
    m = fg.Sequential([fg.Dense(3, 3, activation="identity")], dtype="float64", seed=0)
    m.params[...] = 0.0
    m.layers[0].b[...] = [2.0, 1.0, -1.0]  # every sample: labels 0 and 1 (argmax: class 0)
    x = np.zeros((4, 3))
    assert m.evaluate(x, y, "binary_cross_entropy", metrics=["accuracy"])["accuracy"] == 0.0
    assert m.evaluate(x, y, "softmax_cross_entropy", metrics=["accuracy"])["accuracy"] == 0.5
    assert m.evaluate(x, y, "mse", metrics=["accuracy"])["accuracy"] == 0.5  # one-hot rows: classes
    m.fit(x, y, loss="binary_cross_entropy", optimizer=fg.optim.SGD(lr=0.0), epochs=1, progress=False)
    assert m.evaluate(x, y, metrics=["accuracy", "zero_one_loss"]) == pytest.approx(
        {"loss": m.evaluate(x, y)["loss"], "accuracy": 0.0, "zero_one_loss": 1.0})


@pytest.mark.parametrize("case", ["labels", "one-hot", "multi-label", "one output"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_accuracy_is_sklearns_on_the_models_predictions(rng, case, weighted):
    """fit's accuracy (unweighted, as Keras' metrics) is scikit-learn's accuracy_score of the
    predictions the model makes afterwards: argmax for softmax cross-entropy, the labels above
    0.5 for binary cross-entropy."""
    sk = pytest.importorskip("sklearn.metrics")
    X = rng.standard_normal((90, 4))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    Y, loss, k = {"labels": (labels, "softmax_cross_entropy", 3),
                  "one-hot": (np.eye(3)[labels], "softmax_cross_entropy", 3),
                  "multi-label": ((X[:, :3] > 0).astype(float), "binary_cross_entropy", 3),
                  "one output": ((X[:, 0] > 0).astype(float), "binary_cross_entropy", 1)}[case]
    w = rng.uniform(0.1, 3.0, 90) if weighted else None
    m, h = _fit(loss, X, Y, k, sample_weight=w)
    proba = m.predict_proba(X)
    predicted = proba.argmax(axis=1) if loss == "softmax_cross_entropy" else (proba > 0.5).astype(int)
    truth = Y.argmax(axis=1) if case == "one-hot" else Y
    if case == "one output":
        predicted = predicted[:, 0]
    assert h["accuracy"][-1] == sk.accuracy_score(truth, predicted)
    assert h["zero_one_loss"][-1] == pytest.approx(sk.zero_one_loss(truth, predicted), abs=1e-15)


def test_soft_multilabel_targets_count_the_labels_above_one_half(rng):
    """Binary cross-entropy takes soft targets: a label of target 0.8 is one the model should
    predict (and one of 0.2 not), as a single output's target is read above 0.5."""
    X = rng.standard_normal((60, 4))
    hard = (X[:, :3] > 0).astype(float)
    soft = np.where(hard == 1, 0.8, 0.2)
    m, h = _fit("binary_cross_entropy", X, soft, 3)
    assert h["accuracy"][-1] == metrics.accuracy(hard, m.predict_proba(X))
