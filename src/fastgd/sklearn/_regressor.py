"""fastgd.sklearn.MLPRegressor."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np
import scipy.special
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, validate_data

from fastgd.nn import losses as _losses
from fastgd.sklearn._base import (_PARAMETER_CONSTRAINTS, _REGRESSION_LOSSES, _SKLEARN_1_7, _SPARSE_FORMATS, _BaseMLP,
                                  _as_1d_target, _trainer)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastgd: scikit-learn's
    :class:`~sklearn.neural_network.MLPRegressor` (same parameters, attributes and results for the
    same ``random_state``), several times faster. ``loss`` is "squared_error" (½·mean squared error,
    scikit-learn's), "poisson" (half Poisson deviance, log link: predictions are ``exp`` of the
    network's output, scikit-learn's), "absolute_error" (mean absolute error) or "huber" (mean
    Huber loss, delta 1).
    ``hidden_layer_sizes=()`` is linear (ridge, with ``alpha``) regression trained by gradient
    descent. See :mod:`fastgd.sklearn`.
    """

    _parameter_constraints: dict = {**_PARAMETER_CONSTRAINTS, "loss": [StrOptions(set(_REGRESSION_LOSSES))]}

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: tuple[int, ...] = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True, random_state: Any = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, dtype: Any = "auto", n_threads: int | None = None) -> None:
        self.loss = loss
        self._set_common(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
                         learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
                         momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
                         epsilon, n_iter_no_change, max_fun, dtype, n_threads)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the Poisson deviance is defined for y >= 0 only (fit refuses the rest); scikit-learn's
        # tag for that, which its estimator checks and meta-estimators read
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _loss_spec(self):
        if self.loss == "squared_error":
            return _losses.MSE(), 0.5, 0.5 * self.n_outputs_
        if self.loss == "poisson":
            return _losses.Poisson(), float(self.n_outputs_), float(self.n_outputs_)
        if self.loss == "absolute_error":
            return _losses.MAE(), 1.0, 1.0
        return _losses.Huber(1.0), 1.0, 1.0

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=_SPARSE_FORMATS, multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        y = _as_1d_target(y)
        return X, y

    def _loss_type(self, y, sample_weight, X, dtype):
        """scikit-learn's regression losses are NumPy scalars of the type its arithmetic gives: the
        weights', the targets' and the sample weights' (as scikit-learn checks them) together."""
        types = [dtype, y.dtype]
        if sample_weight is not None:
            types.append(_check_sample_weight(sample_weight, X).dtype)
        return np.result_type(*types).type

    def _val_target(self, y2d):
        return y2d.ravel() if y2d.shape[1] == 1 else y2d

    def _loss_offsets(self, y2d):
        """Per sample, what scikit-learn's half Poisson deviance adds to fastgd's Poisson loss
        (``Σ_j t log t - t``, a constant of the data); None for the other losses."""
        if self.loss != "poisson":
            return None
        t = np.asarray(y2d, dtype=np.float64)
        return (scipy.special.xlogy(t, t) - t).sum(axis=1)

    def _validate_target(self, y2d):
        if self.loss == "poisson" and (np.asarray(y2d) < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")

    def _score_arrays(self, x, y, sample_weight):
        y_pred = self._forward_pass_fast(x, check_input=False)
        if not np.isfinite(y_pred).all():
            return np.nan
        if y_pred.shape[1] == 1:
            y_pred = y_pred.ravel()
        return r2_score(y, y_pred, sample_weight=sample_weight)

    @_trainer
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Fit the model to X (n_samples, n_features) and targets y (n_samples,) or
        (n_samples, n_outputs), optionally weighting the samples. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_trainer
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y), continuing from the current parameters and solver state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions (n_samples,) for one output, else (n_samples, n_outputs)."""
        y_pred = self._forward_pass_fast(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred


if not _SKLEARN_1_7:
    # scikit-learn 1.6's MLPRegressor has no `loss` parameter: its positional parameters are
    # hidden_layer_sizes and activation, as in MLPClassifier. There `loss` (fastgd's extra) is
    # keyword-only; the signature scikit-learn reads for get_params says so. The defaults are
    # the __init__ above's.
    _init_loss_first = MLPRegressor.__init__
    _self, _loss, _hidden, _activation, *_rest = inspect.signature(_init_loss_first).parameters.values()

    @functools.wraps(_init_loss_first)
    def _init_loss_keyword(self, *args, loss=_loss.default, **params):
        if len(args) > 2:
            raise TypeError(f"MLPRegressor() takes hidden_layer_sizes and activation positionally (the other "
                            f"parameters by keyword), got {len(args)} positional arguments")
        _init_loss_first(self, loss, *args, **params)

    _init_loss_keyword.__signature__ = inspect.Signature(
        [_self, _hidden, _activation, _loss.replace(kind=inspect.Parameter.KEYWORD_ONLY), *_rest])
    MLPRegressor.__init__ = _init_loss_keyword
    del _self, _loss, _hidden, _activation, _rest
