"""fastgd.sklearn.MLPClassifier."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.neural_network._base import LOSS_FUNCTIONS
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, validate_data

from fastgd.nn import losses as _losses
from fastgd.sklearn._base import _SKLEARN_1_7, _SPARSE_FORMATS, _BaseMLP, _as_1d_target, _trainer


def _fitted_binarizer(y):
    """``(LabelBinarizer fitted on y, y binarized as bool)`` for 1-D integer, boolean or string
    labels of one or more classes, with one ``np.unique`` (and, for strings, one
    ``type_of_target``) where ``LabelBinarizer().fit(y).transform(y)`` makes several passes: the
    same ``classes_``, ``y_type_`` and output (one column for two classes, else one per class).
    None for any other y, which takes LabelBinarizer's own path."""
    if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "biuUS":
        return None
    if y.dtype.kind in "biu":
        # what type_of_target answers for a 1-D array of integers or booleans, from the classes
        # np.unique finds anyway (type_of_target would find them a second time)
        classes, inverse = np.unique(y, return_inverse=True)
        y_type = "binary" if classes.shape[0] <= 2 else "multiclass"
    else:
        y_type = type_of_target(y, input_name="y")
        if y_type not in ("binary", "multiclass"):
            return None
        classes, inverse = np.unique(y, return_inverse=True)
        # the width of the longest label, as unique_labels' array of them has it ('<U1' for
        # labels '0', '1' of a '<U21' y)
        classes = np.asarray(classes.tolist())
    binarizer = LabelBinarizer()
    binarizer.y_type_, binarizer.sparse_input_, binarizer.classes_ = y_type, False, classes
    if y_type == "binary":
        return binarizer, (inverse == 1).reshape(-1, 1)
    y_bin = np.zeros((y.shape[0], classes.shape[0]), dtype=bool)
    y_bin[np.arange(y.shape[0]), inverse] = True
    return binarizer, y_bin


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastgd: scikit-learn's
    :class:`~sklearn.neural_network.MLPClassifier` (same parameters, attributes and results for
    the same ``random_state``), several times faster. See :mod:`fastgd.sklearn` for the exact
    semantics, the solver mapping and the extra parameters ``dtype`` and ``n_threads``.

    Multi-class targets train a softmax output with cross-entropy; binary and multi-label
    (indicator matrix) targets train sigmoid outputs with log loss summed over the labels.
    ``hidden_layer_sizes=()`` is logistic regression trained by gradient descent.
    """

    _is_clf = True
    loss = "log_loss"  # scikit-learn's MLPClassifier has this attribute (not a parameter)

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, dtype: Any = "auto", n_threads: int | None = None) -> None:
        self._set_common(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
                         learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
                         momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
                         epsilon, n_iter_no_change, max_fun, dtype, n_threads)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _loss_type(self, y, sample_weight, X, dtype):
        """The type scikit-learn's log loss returns for the fit's types, found by running it on
        one row of them: SciPy's xlogy of the boolean targets and the probabilities keeps float32
        in some versions and gives float64 in others."""
        binary = self.out_activation_ == "logistic"
        k = self.n_outputs_
        args = (np.ones((1, k), dtype=bool), np.full((1, k), 0.5, dtype=dtype))
        kwargs = {}
        if sample_weight is not None and _SKLEARN_1_7:  # 1.6's log loss takes no sample weights
            kwargs["sample_weight"] = np.ones(1, dtype=_check_sample_weight(sample_weight, X).dtype)
        return type(LOSS_FUNCTIONS["binary_log_loss" if binary else "log_loss"](*args, **kwargs))

    def _loss_spec(self):
        """(loss, k_value, k_grad): sklearn's loss = k_value · fastgd's, gradient k_grad · fastgd's."""
        if self.out_activation_ == "softmax":
            return _losses.SoftmaxCrossEntropy(), 1.0, 1.0
        c = float(self.n_outputs_)
        return _losses.BinaryCrossEntropy(), c, c

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=_SPARSE_FORMATS, multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        y = _as_1d_target(y)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            fitted = _fitted_binarizer(y)
            if fitted is not None:
                self._label_binarizer, y_bin = fitted
                self.classes_ = self._label_binarizer.classes_
                return X, y_bin
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _val_target(self, y_bin):
        return self._label_binarizer.inverse_transform(y_bin)

    def _score_arrays(self, x, y, sample_weight):
        y_pred = self._labels(self._forward_pass_fast(x, check_input=False))
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    @_trainer
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Fit the model to X (n_samples, n_features) and class labels y (or a label indicator
        matrix for multi-label), optionally weighting the samples. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    if _SKLEARN_1_7:
        @available_if(lambda est: est._check_solver())
        @_trainer
        def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
            """One epoch over (X, y), continuing from the current parameters and solver state.
            ``classes`` (all the labels) is required on the first call."""
            return self._partial_fit(X, y, sample_weight, classes)
    else:
        @available_if(lambda est: est._check_solver())
        @_trainer
        def partial_fit(self, X: Any, y: Any, classes: Any = None, *, sample_weight: Any = None) -> MLPClassifier:
            """One epoch over (X, y), continuing from the current parameters and solver state.
            ``classes`` (all the labels) is required on the first call. scikit-learn 1.6's
            order: classes third (sample weights came in 1.7, before classes)."""
            return self._partial_fit(X, y, sample_weight, classes)

    def _partial_fit(self, X, y, sample_weight, classes):
        # the parameters first, as scikit-learn checks them before the method runs: a first call
        # refused for them leaves no classes_ behind (the estimator would look fitted)
        hidden = self._hidden_layer_sizes()
        # scikit-learn's own check of ``classes`` (required on the first call, the same classes
        # on every later call that gives them, its messages), which sets ``classes_`` first
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True, hidden=hidden)

    def _labels(self, y_pred):
        """The labels for the network's output (of out_activation_) y_pred."""
        if y_pred.shape[1] != self.n_outputs_:
            raise ValueError(f"the network has {y_pred.shape[1]} outputs (coefs_[-1] has {y_pred.shape[1]} columns), "
                             f"labels need n_outputs_={self.n_outputs_}: predict and score need the whole "
                             "network, predict_proba and _forward_pass_fast give any network's output")
        return self._label_binarizer.inverse_transform(y_pred.ravel() if self.n_outputs_ == 1 else y_pred)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (n_samples,), or the label indicator matrix for multi-label targets."""
        return self._labels(self._forward_pass_fast(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes) in the order of ``classes_``: the output of
        the network, ``out_activation_`` applied, with the complement first for a single output."""
        y_pred = self._forward_pass_fast(X)
        if y_pred.shape[1] == 1:
            y_pred = y_pred.ravel()
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        p = self.predict_proba(X)
        return np.log(p, out=p)
