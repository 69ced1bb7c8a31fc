"""Evaluation metrics on NumPy arrays: accuracy, zero-one loss, R², mean squared and absolute error.

They are computed once per evaluation, not per training step, so they are plain NumPy.
Semantics follow scikit-learn's ``accuracy_score``, ``zero_one_loss``, ``r2_score``,
``mean_squared_error`` and ``mean_absolute_error``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastgd import _validation
from fastgd.nn import losses as _losses

__all__ = ["accuracy", "zero_one_loss", "r2_score", "mean_squared_error", "mean_absolute_error"]


def _real_array(name, value, dtype=None):
    arr = _validation.real_array(name, value, dtype)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; need at least one sample")
    _validation.finite(name, arr)
    return arr


def _weights(sample_weight, n):
    return _validation.sample_weight(sample_weight, n, np.float64)


def _labels(name, y, threshold):
    """Class labels from labels (1-D), one-hot/score rows (argmax) or one score column (> threshold)."""
    if y.ndim == 1:
        if not np.array_equal(y, np.round(y)):
            raise ValueError(f"{name} of one dimension holds class labels, got non-integer values such as "
                             f"{y[y != np.round(y)][0]!r}; give the scores of the positive class as one column "
                             f"(n, 1), compared with threshold, or one score per class (n, c)")
        return y
    if y.ndim == 2:
        if y.shape[1] == 1:
            return (y[:, 0] > threshold).astype(np.int64)
        return y.argmax(axis=1)
    raise ValueError(f"{name} must be 1-D labels or 2-D scores, got shape {y.shape}")


def _indicator_rows(t):
    """(whether y_true ``t`` holds 0/1 entries in two or more columns, whether some row of it
    holds other than exactly one 1)."""
    if t.ndim != 2 or t.shape[1] < 2 or not np.isin(t, (0, 1)).all():
        return False, False
    return True, bool((np.count_nonzero(t, axis=1) != 1).any())


def _multilabel(t):
    """Whether y_true ``t`` is a multi-label indicator matrix: 0/1 entries in two or more columns,
    with some row holding other than exactly one 1 (one-hot rows are the classes of one label)."""
    indicator, several = _indicator_rows(t)
    return indicator and several


def _multilabel_rule(loss, n_outputs, y_trues, add=None):
    """Whether ``fit`` and ``evaluate`` score accuracy and zero_one_loss as multi-label (subset
    accuracy on each output > 0.5) rather than one class per sample (argmax; one output: > 0.5).

    Decided once, from the loss and every target the fit scores (``y_trues``: the training
    target and the validation target, whether validation_split cut it from the training data
    or validation_data gave it), so that the training and the validation data, and every
    rank's rows, are scored by one rule whatever the form of their own rows. SoftmaxCrossEntropy
    predicts one class per sample (the argmax of its probabilities); BinaryCrossEntropy of two
    or more outputs one independent label per output (the probabilities above 0.5). For the
    other losses the targets decide: multi-label when together they are a multi-label indicator
    matrix (see _multilabel); with ``add`` (which sums a list over the ranks), as every rank's
    rows together make them one.
    """
    if isinstance(loss, _losses.SoftmaxCrossEntropy):
        return False
    if isinstance(loss, _losses.BinaryCrossEntropy):
        return n_outputs > 1
    rows = [_indicator_rows(np.asarray(y_true)) for y_true in y_trues]
    indicator, several = all(i for i, _ in rows), any(s for _, s in rows)
    if add is None:
        return indicator and several
    # 0/1 on every rank, some row of other than one 1 on any
    ranks, indicator, several = add([1.0, float(indicator), float(several)])
    return bool(indicator == ranks and several > 0)


def _correct(y_true, y_pred, threshold, multilabel=None):
    """Per sample, whether y_pred is right; multilabel: whether y_true is a multi-label
    indicator matrix (None: whether its rows make it one, see _multilabel), its labels the
    entries above 0.5 (the 1s of 0/1 rows, the likelier side of soft ones)."""
    threshold = _validation.real("threshold", threshold)
    t = _real_array("y_true", y_true)
    p = _real_array("y_pred", y_pred)
    if t.ndim == 2 and t.shape[1] == 1 and (t.min() < 0 or t.max() > 1):
        # one column of class labels 0, 1, 2 read as binary targets would count label 2 as class 1
        raise ValueError(f"y_true of one column holds binary targets in [0, 1] (class 1 above 0.5), got values in "
                         f"[{t.min()}, {t.max()}]; give 0/1 targets (for -1/+1, (y + 1) / 2), or class labels "
                         f"as a 1-D array scored against one output per class")
    if _multilabel(t) if multilabel is None else multilabel:
        # each sample's set of labels must be predicted exactly (scikit-learn's subset accuracy)
        if p.shape != t.shape:
            raise ValueError(f"y_true is a multi-label indicator matrix of shape {t.shape} (0/1 rows with other "
                             f"than one 1), so y_pred must give one score or 0/1 per label in that shape, "
                             f"got shape {p.shape}")
        return ((p > threshold) == (t > 0.5)).all(axis=1)
    t_labels = _labels("y_true", t, 0.5)
    p_labels = _labels("y_pred", p, threshold)
    if p.ndim == 2 and p.shape[1] == 1 and (t_labels.min() < 0 or t_labels.max() > 1):
        # scores thresholded to 0/1 against labels 2, -1, ...: those samples counted wrong whatever was predicted
        raise ValueError(f"y_pred of one column holds scores of the positive class (class 1 above threshold), "
                         f"which predict the labels 0 and 1 only, but y_true holds labels in [{t_labels.min()}, "
                         f"{t_labels.max()}]; give predicted labels as a 1-D array, or one score per class (n, c)")
    if t_labels.shape[0] != p_labels.shape[0]:
        raise ValueError(f"y_true has {t_labels.shape[0]} samples but y_pred has {p_labels.shape[0]}")
    return t_labels == p_labels


def accuracy(y_true: Any, y_pred: Any, *, sample_weight: Any = None, threshold: float = 0.5,
             normalize: bool = True) -> float:
    """Fraction (or weighted fraction) of samples whose predicted class is right.

    Parameters
    ----------
    y_true : array_like
        Class labels (n,) (integer values), or one-hot rows (n, c) (argmax is taken), or a
        multi-label indicator matrix (n, c): 0/1 rows, some with other than one 1. A multi-label
        sample counts as right when every label is: ``y_pred > threshold`` equals ``y_true``
        column by column (scikit-learn's subset accuracy).
    y_pred : array_like
        Predicted labels (n,), or scores/probabilities/logits (n, c) with c >= 2 (argmax; for
        multi-label ``y_true``, one score or 0/1 per label, compared with ``threshold``), or one
        column (n, 1) of scores for the positive class (``> threshold``; use 0.5 for
        probabilities, 0 for logits).
    sample_weight : array_like (n,), optional, non-negative
    normalize : bool
        False returns the (weighted) number of correct samples instead of the fraction.
    """
    normalize = _validation.flag("normalize", normalize)
    correct = _correct(y_true, y_pred, threshold).astype(np.float64)
    sw = _weights(sample_weight, correct.shape[0])
    if sw is None:
        return float(correct.mean() if normalize else correct.sum())
    total = float(sw @ correct)
    if not normalize:
        return total
    if sw.sum() == 0:
        raise ValueError("sample_weight sums to zero; the weighted accuracy is undefined")
    return total / float(sw.sum())


def zero_one_loss(y_true: Any, y_pred: Any, *, sample_weight: Any = None, threshold: float = 0.5,
                  normalize: bool = True) -> float:
    """The (weighted) fraction of misclassified samples, ``1 - accuracy``; see :func:`accuracy`.

    ``normalize=False`` returns the (weighted) number of misclassified samples.
    """
    if _validation.flag("normalize", normalize):
        return 1.0 - accuracy(y_true, y_pred, sample_weight=sample_weight, threshold=threshold)
    wrong = ~_correct(y_true, y_pred, threshold)
    sw = _weights(sample_weight, wrong.shape[0])
    return float(wrong.sum() if sw is None else sw @ wrong)


def r2_score(y_true: Any, y_pred: Any, *, sample_weight: Any = None,
             multioutput: str | Any = "uniform_average") -> Any:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (scikit-learn's ``r2_score``).

    ``y_true`` and ``y_pred`` are (n,) or (n, k). ``multioutput`` is "uniform_average"
    (mean over outputs), "raw_values" (one score per output) or "variance_weighted".
    An output whose ``y_true`` is constant scores 1.0 when predicted exactly, else 0.0
    (scikit-learn's ``force_finite``). Needs at least two samples.
    """
    multioutput = _validation.choice("multioutput", multioutput, ("uniform_average", "raw_values", "variance_weighted"))
    t = _real_array("y_true", y_true, np.float64)
    p = _real_array("y_pred", y_pred, np.float64)
    if t.ndim == 1:
        t = t.reshape(-1, 1)
    if p.ndim == 1:
        p = p.reshape(-1, 1)
    if t.ndim != 2 or p.shape != t.shape:
        raise ValueError(f"y_pred must have the shape of y_true {np.shape(y_true)}, got {np.shape(y_pred)}")
    if t.shape[0] < 2:
        raise ValueError("r2_score needs at least two samples")
    sw = _weights(sample_weight, t.shape[0])
    w = np.ones(t.shape[0]) if sw is None else sw
    if w.sum() == 0:
        raise ValueError("sample_weight sums to zero; r2_score is undefined")
    mean = (w @ t) / w.sum()
    ss_res = w @ (t - p) ** 2
    ss_tot = w @ (t - mean) ** 2
    scores = _r2_scores(ss_res, ss_tot)
    if multioutput == "raw_values":
        return scores
    if multioutput == "uniform_average":
        return float(scores.mean())
    if ss_tot.sum() == 0:  # variance_weighted
        return float(scores.mean())
    return float(scores @ ss_tot / ss_tot.sum())


def _r2_scores(ss_res, ss_tot):
    """Per-output ``1 - SS_res / SS_tot``; an output with SS_tot = 0 scores 1.0 when SS_res = 0,
    else 0.0."""
    nonzero = ss_tot != 0
    scores = np.where(ss_res == 0, 1.0, 0.0)
    scores[nonzero] = 1.0 - ss_res[nonzero] / ss_tot[nonzero]
    return scores


def _regression_pair(y_true, y_pred):
    """y_true and y_pred as float64 (n, k) arrays of the same shape."""
    t = _real_array("y_true", y_true, np.float64)
    p = _real_array("y_pred", y_pred, np.float64)
    t = t.reshape(-1, 1) if t.ndim == 1 else t
    p = p.reshape(-1, 1) if p.ndim == 1 else p
    if t.ndim != 2 or p.shape != t.shape:
        raise ValueError(f"y_pred must have the shape of y_true {np.shape(y_true)}, got {np.shape(y_pred)}")
    return t, p


def _mean_error(errors, sample_weight):
    """The (weighted) mean over samples of the per-sample mean over outputs."""
    per_sample = errors.mean(axis=1)
    sw = _weights(sample_weight, per_sample.shape[0])
    if sw is None:
        return float(per_sample.mean())
    if sw.sum() == 0:
        raise ValueError("sample_weight sums to zero; the mean is undefined")
    return float(sw @ per_sample / sw.sum())


def mean_squared_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Mean of ``(y_true - y_pred)²`` over samples and outputs (scikit-learn's ``mean_squared_error``
    with uniform output weights). The metric name ``"mse"`` in ``fit``/``evaluate``."""
    t, p = _regression_pair(y_true, y_pred)
    return _mean_error((t - p) ** 2, sample_weight)


def mean_absolute_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Mean of ``|y_true - y_pred|`` over samples and outputs (scikit-learn's ``mean_absolute_error``
    with uniform output weights). The metric name ``"mae"`` in ``fit``/``evaluate``."""
    t, p = _regression_pair(y_true, y_pred)
    return _mean_error(np.abs(t - p), sample_weight)
