"""scikit-learn compatible multi-layer perceptrons: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for :class:`sklearn.neural_network.MLPClassifier` and
:class:`sklearn.neural_network.MLPRegressor` that train with fastgd's fused C step (forward,
loss, backward and optimizer update in one call with the GIL released)::

    from fastgd.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=200, random_state=0).fit(X, y)
    clf.predict_proba(X_test)

Importing this module imports scikit-learn (an optional dependency); ``import fastgd`` alone
never does.

What matches scikit-learn (1.9) exactly, given the same ``random_state``
--------------------------------------------------------------------------
- Parameters, defaults, fitted attributes (``coefs_, intercepts_, loss_, loss_curve_,
  best_loss_, validation_scores_, best_validation_score_, n_iter_, t_, classes_,
  n_features_in_, feature_names_in_, out_activation_, n_layers_, n_outputs_``), ``fit``,
  ``partial_fit`` (``classes=`` on the first call), ``predict``, ``predict_proba``,
  ``predict_log_proba``, ``score``, ``sample_weight``, ``warm_start``, ``verbose`` messages,
  ``ConvergenceWarning``.
- The initialization (Glorot uniform with factor 6, 2 for ``activation="logistic"``, for weights
  and biases, drawn in scikit-learn's order from the same RandomState), the shuffling of every
  epoch, the early-stopping split (stratified for single-output classifiers) and the
  mini-batches: with ``dtype="float64"`` the run follows scikit-learn's to rounding error.
- The objective: half mean squared error (regression); log loss summed over the outputs for
  binary / multi-label (sigmoid outputs) and softmax cross-entropy for multi-class, averaged
  over the samples (weighted by ``sample_weight``); plus ``alpha·Σ‖W‖²/(2·Σ_batch s)`` on the
  weights (not the biases).
- The solvers: "sgd" (momentum, Nesterov, learning_rate "constant" / "invscaling" /
  "adaptive" updated once per epoch), "adam" (scikit-learn's placement of epsilon) and
  "lbfgs".
- Stopping: ``n_iter_no_change`` epochs without the training loss falling by ``tol`` (or,
  with ``early_stopping``, the validation score rising by ``tol``; the best parameters are
  restored), or ``max_iter`` epochs (``ConvergenceWarning``).

How the solvers map onto fastgd's (torch-style) optimizers
-----------------------------------------------------------
fastgd's losses use torch's conventions (each row's loss is the mean over its outputs, the MSE
has no ½), so the fused step's gradient is scikit-learn's divided by a constant ``k``
(1 for softmax, ``n_outputs`` for sigmoid outputs, ``n_outputs/2`` for squared error). Each
solver is fed hyperparameters that make the update identical to scikit-learn's:

- sgd: scikit-learn's velocity ``v ← μv − ηg`` is torch's buffer ``b ← μb + g`` with ``v = −ηb``;
  fastgd runs torch's form with learning rate ``k·η`` and weight decay ``alpha/(k·Σs)``, and
  rescales the buffer by ``η_old/η_new`` whenever the learning rate changes (invscaling,
  adaptive), which keeps ``v`` exactly scikit-learn's. Nesterov: torch's
  ``θ ← θ − η(g + μb)`` equals scikit-learn's ``θ ← θ + μv − ηg``.
- adam: scikit-learn divides by ``√v + ε``, torch by ``√v/√(1−β2^t) + ε``; fastgd's Adam is given
  ``ε_t = ε/(k·√(1−β2^t))`` at step t, which makes the two identical; the L2 term is torch's
  coupled ``weight_decay = alpha/(k·Σs)`` over the weights only (recomputed for every batch).
- fastgd extras: "adagrad", "rmsprop" (decay rate ``beta_2``, eps ``epsilon``, no momentum) use
  the same coupled L2 term; "adamw" uses torch's decoupled decay ``θ ← (1 − η·alpha)·θ`` on the
  weights (not added to the reported loss). ``learning_rate`` schedules apply to "sgd" only, as
  in scikit-learn.
- lbfgs: fastgd's :class:`fastgd.LBFGS` (strong Wolfe line search) when available, else SciPy's
  L-BFGS-B as scikit-learn uses; stops after ``max_iter`` iterations or ``max_fun`` objective
  evaluations (``ConvergenceWarning``), when the largest gradient entry is ``<= tol``, or when
  the relative decrease of the objective falls below SciPy's default ``ftol`` (2.2e-9). The
  iterates differ from SciPy's (another line search) but the optimum is the same.

Differences
-----------
- Dense input only (scikit-learn also accepts sparse matrices); ``MLPRegressor(loss="poisson")``
  is not offered; sample weights must be non-negative, and a mini-batch whose weights are all
  zero is skipped (scikit-learn divides by zero there and ends with NaN).
- The reported log loss is computed from the logits (exact), where scikit-learn clips
  probabilities to [eps, 1−eps]: they differ only for saturated predictions.
- ``coefs_`` and ``intercepts_`` are views into the flat parameter arena of the underlying
  :class:`fastgd.Sequential` (available as ``model_``): writing into them changes the model, as
  in scikit-learn. Assigning new arrays to them is also honoured (copied into the arena at the
  next ``predict``/``fit``).

Extra parameters
----------------
dtype : {"float64", "float32", "auto"}, default "float64"
    Precision of parameters and arithmetic. float64 reproduces scikit-learn's numbers;
    float32 is about twice as fast. "auto" follows scikit-learn's rule (float32 input trains
    in float32, anything else in float64).
n_threads : int or None
    Kernel threads during fit/predict (None: fastgd's current setting, see
    :func:`fastgd.set_num_threads`).
loss (regressor) : {"squared_error", "absolute_error", "huber"}
    "absolute_error" is the mean absolute error, "huber" the mean Huber loss with delta 1.

Linear and logistic regression
------------------------------
``hidden_layer_sizes=()`` leaves a single dense layer: ``MLPRegressor(hidden_layer_sizes=())``
is linear regression (half mean squared error + ``alpha`` ridge penalty) and
``MLPClassifier(hidden_layer_sizes=())`` is (multinomial) logistic regression, both trained by
gradient descent; ``solver="sgd", momentum=0, batch_size=n_samples`` gives plain full-batch
gradient descent, ``batch_size=1`` per-sample stochastic gradient descent.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings

import numpy as np

try:
    import sklearn as _sklearn  # noqa: F401  (the real scikit-learn: absolute import)
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("fastgd.sklearn needs scikit-learn >= 1.6: pip install scikit-learn "
                      "(or, in a fastgd checkout, pip install \".[sklearn]\")") from None
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

import fastgd
from fastgd import losses as _losses
from fastgd import optim as _optim
from fastgd.layers import Dense
from fastgd.model import Sequential

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_STOCHASTIC = ("sgd", "adam", "adagrad", "rmsprop", "adamw")
_SOLVERS = _STOCHASTIC + ("lbfgs",)
_SCIPY_FTOL = 2.220446049250313e-09  # scipy.optimize.minimize(method="L-BFGS-B") default ftol
_PREDICT_CHUNK = 8192


# ---- parameter validation -----------------------------------------------------------------------


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _check_real(name, v, low, high=None, low_open=False, high_open=False):
    ok = _is_real(v) and not math.isnan(v)
    if ok:
        ok = (v > low if low_open else v >= low)
        if ok and high is not None:
            ok = v < high if high_open else v <= high
    if not ok:
        lo = ("(" if low_open else "[") + f"{low}, "
        hi = ("inf)" if high is None else f"{high}" + (")" if high_open else "]"))
        raise ValueError(f"The '{name}' parameter of {{est}} must be a float in the range {lo}{hi}. "
                         f"Got {v!r} instead.")


def _check_int(name, v, low):
    if not _is_int(v) or v < low:
        raise ValueError(f"The '{name}' parameter of {{est}} must be an int in the range [{low}, inf). "
                         f"Got {v!r} instead.")


def _check_options(name, v, options):
    if not isinstance(v, str) or v not in options:
        raise ValueError(f"The '{name}' parameter of {{est}} must be a str among {sorted(options)}. "
                         f"Got {v!r} instead.")


def _check_bool(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"The '{name}' parameter of {{est}} must be an instance of 'bool'. Got {v!r} instead.")


# ---- the solver fed to the fused step --------------------------------------------------------------


class _FusedSolver:
    """Feeds ``engine.step`` one ``fg_optim_config`` per update (the ``_c_groups`` /
    ``_c_advance`` protocol of fastgd.optim) over two groups, the weights [0, n_weights) and the
    biases [n_weights, n), with the per-batch values scikit-learn's update needs (see the module
    docstring). Plain attributes only, so it pickles with the estimator."""

    def __init__(self, name, hyper, n, n_weights, dtype):
        opt = _optim.get(name, **hyper)
        state, groups = opt._c_groups(n, dtype)
        base = groups[0][2]
        self.name = name
        self.state = state
        self.cfg_w = dict(base)
        self.cfg_b = dict(base)
        self.cfg_b["weight_decay"] = 0.0
        self.groups = [(0, n_weights, self.cfg_w), (n_weights, n, self.cfg_b)]
        self.n_steps = 0
        self.lr = None  # the learning rate given to the kernel at the last update

    def set_step(self, lr, weight_decay, eps=None):
        """Hyperparameters of the next update (lr as the kernel sees it)."""
        if self.lr is not None and lr != self.lr and self.name == "sgd" and self.state.size and self.n_steps:
            # keep sklearn's velocity v = -lr*b unchanged across a learning-rate change
            self.state *= self.lr / lr
        self.lr = lr
        t = self.n_steps + 1
        for cfg in (self.cfg_w, self.cfg_b):
            cfg["lr"] = lr
            cfg["step"] = t
            if eps is not None:
                cfg["eps"] = eps
        self.cfg_w["weight_decay"] = weight_decay

    # the protocol engine.step calls
    def _c_groups(self, n, dtype):
        return self.state, self.groups

    def _c_advance(self):
        self.n_steps += 1


@contextlib.contextmanager
def _thread_scope(n_threads):
    if n_threads is None:
        yield
    else:
        with fastgd.threads(n_threads):
            yield


def _lbfgs_class():
    try:
        from fastgd.lbfgs import LBFGS
    except ImportError:  # the minimize branch is not there: SciPy's L-BFGS-B
        return None
    return LBFGS


# ---- the shared implementation ------------------------------------------------------------------------


class _BaseMLP(BaseEstimator):
    """The shared implementation of MLPClassifier and MLPRegressor (not public)."""

    _is_clf = False

    # ---- parameters ----

    def _set_common(self, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
                    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
                    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
                    epsilon, n_iter_no_change, max_fun, dtype, n_threads):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads

    def _validate_params(self):
        est = type(self).__name__
        try:
            hls = self.hidden_layer_sizes
            hls = list(hls) if hasattr(hls, "__iter__") else [hls]
            if not all(_is_int(h) for h in hls):
                raise ValueError(f"hidden_layer_sizes must hold integers, got {self.hidden_layer_sizes!r}")
            if any(h <= 0 for h in hls):
                raise ValueError(f"hidden_layer_sizes must be > 0, got {hls}.")
            _check_options("activation", self.activation, _ACTIVATIONS)
            _check_options("solver", self.solver, _SOLVERS)
            _check_real("alpha", self.alpha, 0.0)
            if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
                if not _is_int(self.batch_size) or self.batch_size < 1:
                    raise ValueError(f"The 'batch_size' parameter of {{est}} must be 'auto' or an int in the "
                                     f"range [1, inf). Got {self.batch_size!r} instead.")
            _check_options("learning_rate", self.learning_rate, ("constant", "invscaling", "adaptive"))
            _check_real("learning_rate_init", self.learning_rate_init, 0.0, low_open=True)
            _check_real("power_t", self.power_t, 0.0)
            _check_int("max_iter", self.max_iter, 1)
            _check_bool("shuffle", self.shuffle)
            _check_real("tol", self.tol, 0.0)
            if not (_is_int(self.verbose) or isinstance(self.verbose, (bool, np.bool_))):
                raise ValueError(f"The 'verbose' parameter of {{est}} must be a bool or an int. "
                                 f"Got {self.verbose!r} instead.")
            _check_bool("warm_start", self.warm_start)
            _check_real("momentum", self.momentum, 0.0, 1.0)
            _check_bool("nesterovs_momentum", self.nesterovs_momentum)
            _check_bool("early_stopping", self.early_stopping)
            _check_real("validation_fraction", self.validation_fraction, 0.0, 1.0, high_open=True)
            _check_real("beta_1", self.beta_1, 0.0, 1.0, high_open=True)
            _check_real("beta_2", self.beta_2, 0.0, 1.0, high_open=True)
            _check_real("epsilon", self.epsilon, 0.0, low_open=True)
            if not (self.n_iter_no_change == np.inf or (_is_int(self.n_iter_no_change)
                                                        and self.n_iter_no_change >= 1)):
                raise ValueError(f"The 'n_iter_no_change' parameter of {{est}} must be an int in the range "
                                 f"[1, inf) or inf. Got {self.n_iter_no_change!r} instead.")
            _check_int("max_fun", self.max_fun, 1)
            _check_options("dtype", self.dtype, ("float64", "float32", "auto"))
            if self.n_threads is not None:
                _check_int("n_threads", self.n_threads, 1)
        except ValueError as exc:
            raise ValueError(str(exc).replace("{est}", est)) from None
        return [int(h) for h in hls]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def _check_solver(self):
        """partial_fit exists only for the stochastic solvers (hasattr is False for lbfgs)."""
        if self.solver not in _STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is "
                                 "not stochastic.")
        return True

    # ---- pickling: the model holds a C engine; store its config and parameters instead ----

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        model = state.pop("model_", None)
        if model is not None:
            self._sync_params()
            state["_model_config"] = model.get_config()
            state["_model_params"] = model.params.copy()
            state.pop("coefs_", None)
            state.pop("intercepts_", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        cfg = state.pop("_model_config", None)
        params = state.pop("_model_params", None)
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)
        if cfg is not None:
            model = Sequential.from_config(cfg)
            model.params[...] = params
            self._bind_model(model)

    # ---- the model ----

    def _bind_model(self, model):
        self.model_ = model
        self.coefs_ = [L.W for L in model.layers]
        self.intercepts_ = [L.b for L in model.layers]

    def _sync_params(self):
        """Copy user-assigned coefs_/intercepts_ (new arrays, not the arena views) into the arena."""
        model = self.model_
        for L, c, b in zip(model.layers, self.coefs_, self.intercepts_):
            if c is not L.W:
                L.W[...] = c
            if b is not L.b:
                L.b[...] = b
        if any(c is not L.W for L, c in zip(model.layers, self.coefs_)) or \
                any(b is not L.b for L, b in zip(model.layers, self.intercepts_)):
            self._bind_model(model)

    def _model_dtype(self, X):
        if self.dtype == "auto":
            return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)
        return np.dtype(self.dtype)

    def _initialize(self, y2d, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y2d.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        act = _ACTIVATIONS[self.activation]
        layers = []
        for i in range(len(layer_units) - 1):
            last = i == len(layer_units) - 2
            layers.append(Dense(layer_units[i], layer_units[i + 1], activation="identity" if last else act,
                                weight_init="zeros"))
        model = Sequential(layers, dtype=dtype.name, seed=0)
        factor = 2.0 if self.activation == "logistic" else 6.0
        rs = self._random_state
        for L in model.layers:
            bound = np.sqrt(factor / (L.in_features + L.out_features))
            L.W[...] = rs.uniform(-bound, bound, (L.in_features, L.out_features))
            L.b[...] = rs.uniform(-bound, bound, L.out_features)
        self._bind_model(model)
        self._best_params = model.params.copy()
        self._solver = None
        if self.solver in _STOCHASTIC:
            self._init_stochastic_records()

    def _init_stochastic_records(self):
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    # ---- fit ----

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self._validate_params()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if not first_pass:
            self._sync_params()
        dtype = self.model_.dtype if not first_pass else self._model_dtype(X)
        x = np.ascontiguousarray(X, dtype=dtype)
        sw = self._check_sample_weight(sample_weight, x.shape[0], dtype)
        y2d = y.reshape(-1, 1) if y.ndim == 1 else y
        layer_units = [x.shape[1]] + hidden + [y2d.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y2d, layer_units, dtype)
        elif [L.in_features for L in self.model_.layers] + [self.n_outputs_] != layer_units:
            raise ValueError(f"warm_start/partial_fit: the network has layers "
                             f"{[L.in_features for L in self.model_.layers] + [self.n_outputs_]} but the "
                             f"parameters and data ask for {layer_units}; set warm_start=False to refit")
        loss, kv, kg = self._loss_spec()
        with _thread_scope(self.n_threads):
            if self.solver == "lbfgs":
                self._fit_lbfgs(x, y2d, sw, loss, kv, kg)
            else:
                self._fit_stochastic(x, y2d, sw, loss, kv, kg, incremental)
        if fastgd._core.count_nonfinite(self.model_.params):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        return self

    def _check_sample_weight(self, sample_weight, n, dtype):
        if sample_weight is None:
            return None
        sw = np.asarray(sample_weight)
        if sw.ndim == 0:
            sw = np.full(n, float(sw))
        if sw.dtype.kind not in "fiub":
            raise ValueError(f"sample_weight must hold real numbers, got dtype {sw.dtype}")
        if sw.ndim != 1 or sw.shape[0] != n:
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected ({n},)!")
        sw = np.array(sw, dtype=dtype, order="C", copy=True)
        if not np.isfinite(sw).all():
            raise ValueError("sample_weight contains NaN or infinity")
        if (sw < 0).any():
            raise ValueError("Negative values in data passed to sample_weight")
        if not sw.sum() > 0:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sw

    def _prepared_target(self, loss, y2d, dtype):
        """The fused step's target, as ``loss.prepare_target`` gives it: ("labels", class indices)
        for softmax, ("rows", float rows) otherwise."""
        if isinstance(loss, _losses.SoftmaxCrossEntropy):
            return ("labels", np.ascontiguousarray(np.argmax(y2d, axis=1), dtype=np.int64))
        return ("rows", np.ascontiguousarray(y2d, dtype=dtype))

    def _solver_hyper(self):
        s = self.solver
        if s == "sgd":
            nest = bool(self.nesterovs_momentum) and self.momentum > 0
            return {"momentum": float(self.momentum), "nesterov": nest, "seed": 0}
        if s in ("adam", "adamw"):
            return {"betas": (float(self.beta_1), float(self.beta_2)), "eps": float(self.epsilon)}
        if s == "adagrad":
            return {"eps": float(self.epsilon)}
        return {"alpha": float(self.beta_2), "eps": float(self.epsilon)}

    def _fit_stochastic(self, x, y2d, sw, loss, kv, kg, incremental):
        model = self.model_
        n_w = model.n_weights
        if not hasattr(self, "loss_curve_"):  # warm start from an lbfgs fit
            self._init_stochastic_records()
        solver = getattr(self, "_solver", None)
        if not incremental or solver is None or solver.name != self.solver:
            self._solver = _FusedSolver(self.solver, self._solver_hyper(), model.n_params, n_w, model.dtype)
            self._lr = float(self.learning_rate_init)
        solver = self._solver
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = y2d if (self._is_clf and self.n_outputs_ == 1) else None
            idx_tr, idx_val = train_test_split(np.arange(x.shape[0]), random_state=self._random_state,
                                               test_size=self.validation_fraction, stratify=stratify)
            if idx_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                                 "your dataset.")
            x_val, y_val = x[idx_val], self._val_target(y2d[idx_val])
            sw_val = None if sw is None else sw[idx_val]
            x, y2d = x[idx_tr], y2d[idx_tr]
            sw = None if sw is None else sw[idx_tr]
        else:
            x_val = y_val = sw_val = None
        target = self._prepared_target(loss, y2d, model.dtype)
        n = x.shape[0]
        if self.batch_size == "auto":
            bs = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            bs = int(np.clip(self.batch_size, 1, n))
        sample_idx = np.arange(n, dtype=np.int64)
        params = model.params
        w_view = params[:n_w]
        alpha = float(self.alpha)
        name = self.solver
        adamw = name == "adamw"
        penalty = alpha > 0 and not adamw
        eps = float(self.epsilon)
        beta2 = float(self.beta_2)
        step = model._engine.step
        self.n_iter_ = 0
        for _it in range(self.max_iter):
            if self.shuffle:
                # what sklearn.utils.shuffle(sample_idx, random_state=rs) does, without its overhead
                perm = np.arange(n)
                self._random_state.shuffle(perm)
                sample_idx = sample_idx[perm]
            acc = 0.0
            lr = self._lr
            for s in range(0, n, bs):
                e = min(n, s + bs)
                idx = sample_idx[s:e] if self.shuffle else None
                if sw is None:
                    sw_sum = float(e - s)
                else:
                    sw_sum = float(sw[idx].sum() if idx is not None else sw[s:e].sum())
                    if sw_sum <= 0.0:  # an all-zero-weight batch has no gradient: skip it
                        continue
                wd = alpha / sw_sum
                if name == "sgd":
                    solver.set_step(lr * kg, wd / kg)
                elif name == "adam":
                    t = solver.n_steps + 1
                    solver.set_step(lr, wd / kg, eps / (kg * math.sqrt(1.0 - beta2 ** t)))
                elif adamw:
                    t = solver.n_steps + 1
                    solver.set_step(lr, alpha, eps / (kg * math.sqrt(1.0 - beta2 ** t)))
                else:
                    solver.set_step(lr, wd / kg, eps / kg)
                pen = 0.5 * alpha * float(np.dot(w_view, w_view)) / sw_sum if penalty else 0.0
                value, _gnorm, status = step(x, idx, s, e - s, loss, target, sw, solver, 0.0, 0.0, True)
                if status:
                    raise ValueError("Solver produced non-finite parameter weights. The input data may contain "
                                     "large values and need to be preprocessed (the loss or its gradient "
                                     f"became non-finite at iteration {self.n_iter_ + 1}).")
                acc += (kv * value + pen) * (e - s)
            self.n_iter_ += 1
            self.loss_ = acc / n
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._update_no_improvement_count(early_stopping, x_val, y_val, sw_val)
            if name == "sgd" and self.learning_rate == "invscaling":
                self._lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                if early_stopping:
                    msg = ("Validation score did not improve more than tol=%f for %d consecutive epochs."
                           % (self.tol, self.n_iter_no_change))
                else:
                    msg = ("Training loss did not improve more than tol=%f for %d consecutive epochs."
                           % (self.tol, self.n_iter_no_change))
                if self._trigger_stopping(msg):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                              "hasn't converged yet." % self.max_iter, ConvergenceWarning)
        if early_stopping:
            params[...] = self._best_params

    def _trigger_stopping(self, msg):
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if self._lr <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._lr /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % self._lr)
        return False

    def _update_no_improvement_count(self, early_stopping, x_val, y_val, sw_val):
        if early_stopping:
            score = self._score_arrays(x_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            last = self.validation_scores_[-1]
            if last < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last > self.best_validation_score_:
                self.best_validation_score_ = last
                self._best_params[...] = self.model_.params
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, x, y2d, sw, loss, kv, kg):
        model = self.model_
        target = self._prepared_target(loss, y2d, model.dtype)
        n_w = model.n_weights
        n = x.shape[0]
        alpha = float(self.alpha)
        sw_sum = float(n if sw is None else sw.sum(dtype=np.float64))
        params = model.params
        grads = model.grads
        step = model._engine.step
        chunk = 16384
        nfev = [0]

        def objective(p):
            if p is not params:
                params[...] = p
            nfev[0] += 1
            if n <= chunk:
                value, _g, status = step(x, None, 0, n, loss, target, sw, None, 0.0, 0.0, False)
                g = grads * kg
                value *= kv
            else:  # bounded memory: weighted sum of chunk means
                g = np.zeros(model.n_params, dtype=np.float64)
                value = 0.0
                for s in range(0, n, chunk):
                    e = min(n, s + chunk)
                    w = float(e - s) if sw is None else float(sw[s:e].sum(dtype=np.float64))
                    if w <= 0:
                        continue
                    v, _g, status = step(x, None, s, e - s, loss, target, sw, None, 0.0, 0.0, False)
                    value += kv * v * w / sw_sum
                    g += grads * (kg * w / sw_sum)
                g = g.astype(model.dtype)
            w_ = params[:n_w]
            value += 0.5 * alpha * float(np.dot(w_, w_)) / sw_sum
            g[:n_w] += (alpha / sw_sum) * w_
            return float(value), g

        LBFGS = _lbfgs_class()
        if LBFGS is None:
            self._fit_lbfgs_scipy(objective, params, nfev)
            return
        opt = LBFGS()
        f_prev = None
        n_iter = 0
        status = "converged"
        converged = False
        while True:
            if n_iter >= self.max_iter:
                status = "max_iter"
                break
            if nfev[0] >= self.max_fun:
                status = "max_fun"
                break
            f = opt.step(objective, params)
            if opt.last_status != "ok":
                converged = opt.last_status == "converged"
                status = "line_search"
                break
            n_iter += 1
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (n_iter, f))
            g = opt.grad
            if g is not None and float(np.max(np.abs(g))) <= self.tol:
                converged = True
                break
            if f_prev is not None and (f_prev - f) <= _SCIPY_FTOL * max(abs(f_prev), abs(f), 1.0):
                converged = True
                break
            f_prev = f
        self.n_iter_ = n_iter
        self.loss_ = float(opt.loss) if opt.loss is not None else float(objective(params)[0])
        if not converged:
            what = {"max_iter": "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
                    "max_fun": "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
                    "line_search": "ABNORMAL: the line search found no acceptable step"}[status]
            code = 2 if status == "line_search" else 1
            hint = ("Increase the number of iterations to improve the convergence "
                    f"(max_iter={self.max_iter})." if status == "max_iter" else
                    "Scaling the input data (e.g. with StandardScaler) may help.")
            warnings.warn(f"lbfgs failed to converge after {n_iter} iteration(s) (status={code}):\n{what}\n\n"
                          f"{hint}", ConvergenceWarning)

    def _fit_lbfgs_scipy(self, objective, params, nfev):
        import scipy.optimize

        res = scipy.optimize.minimize(
            lambda p: objective(np.ascontiguousarray(p, dtype=params.dtype)),
            params.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = min(res.nit, self.max_iter)
        self.loss_ = float(res.fun)
        params[...] = res.x
        if res.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={res.status}):\n"
                          f"{res.message}\n\nIncrease the number of iterations to improve the convergence "
                          f"(max_iter={self.max_iter}).", ConvergenceWarning)

    # ---- prediction ----

    def _check_X(self, X):
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return np.ascontiguousarray(X, dtype=self.model_.dtype)

    def _forward(self, X, check_input=True):
        """The network's raw output (logits / predictions) for X, a new (n, n_outputs) array."""
        check_is_fitted(self)
        x = self._check_X(X) if check_input else np.ascontiguousarray(X, dtype=self.model_.dtype)
        self._sync_params()
        model = self.model_
        n = x.shape[0]
        out = np.empty((n, model.n_outputs), dtype=model.dtype)
        with _thread_scope(self.n_threads):
            for s in range(0, n, _PREDICT_CHUNK):
                e = min(n, s + _PREDICT_CHUNK)
                out[s:e] = model._engine.forward(x[s:e])
        return out


# ---- the classifier ---------------------------------------------------------------------------------------


def _softmax_rows(z):
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    e = np.exp(-np.abs(z))
    out[pos] = 1.0 / (1.0 + e[pos])
    out[~pos] = e[~pos] / (1.0 + e[~pos])
    return out


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

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dtype="float64",
                 n_threads=None):
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

    def _loss_spec(self):
        """(loss, k_value, k_grad): sklearn's loss = k_value · fastgd's, gradient k_grad · fastgd's."""
        if self.out_activation_ == "softmax":
            return _losses.SoftmaxCrossEntropy(), 1.0, 1.0
        c = float(self.n_outputs_)
        return _losses.BinaryCrossEntropy(), c, c

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
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
        y_pred = self._predict_checked(x)
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and class labels y (or a label indicator
        matrix for multi-label), optionally weighting the samples. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current parameters and solver state.
        ``classes`` (all the labels) is required on the first call."""
        first = not hasattr(self, "classes_")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        elif classes is not None:
            if not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(f"`classes={classes}` is not the same as on last call to partial_fit, was: "
                                 f"{self.classes_}")
        if first:
            self.classes_ = self._label_binarizer.classes_
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _proba_from_logits(self, z):
        if self.out_activation_ == "softmax":
            return _softmax_rows(z)
        p = _sigmoid(z)
        if self.n_outputs_ == 1:
            p = p.ravel()
            return np.vstack([1 - p, p]).T
        return p

    def _predict_checked(self, x):
        z = self._forward(x, check_input=False)
        return self._labels_from_logits(z)

    def _labels_from_logits(self, z):
        if self.out_activation_ == "softmax":
            p = _softmax_rows(z)
        else:
            p = _sigmoid(z)
            if self.n_outputs_ == 1:
                p = p.ravel()
        return self._label_binarizer.inverse_transform(p)

    def predict(self, X):
        """Class labels (n_samples,), or the label indicator matrix for multi-label targets."""
        return self._labels_from_logits(self._forward(X))

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes) in the order of ``classes_``."""
        return self._proba_from_logits(self._forward(X))

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        p = self.predict_proba(X)
        return np.log(p, out=p)


# ---- the regressor ---------------------------------------------------------------------------------------


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastgd: scikit-learn's
    :class:`~sklearn.neural_network.MLPRegressor` (same parameters, attributes and results for the
    same ``random_state``), several times faster. ``loss`` is "squared_error" (½·mean squared error,
    scikit-learn's), "absolute_error" (mean absolute error) or "huber" (mean Huber loss, delta 1).
    ``hidden_layer_sizes=()`` is linear (ridge, with ``alpha``) regression trained by gradient
    descent. See :mod:`fastgd.sklearn`.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dtype="float64", n_threads=None):
        self.loss = loss
        self._set_common(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
                         learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
                         momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
                         epsilon, n_iter_no_change, max_fun, dtype, n_threads)

    def _validate_params(self):
        if not isinstance(self.loss, str) or self.loss not in ("squared_error", "absolute_error", "huber"):
            extra = " (fastgd does not offer 'poisson')" if self.loss == "poisson" else ""
            raise ValueError(f"The 'loss' parameter of MLPRegressor must be a str among ['absolute_error', "
                             f"'huber', 'squared_error']{extra}. Got {self.loss!r} instead.")
        return super()._validate_params()

    def _out_activation(self):
        return "identity"

    def _loss_spec(self):
        if self.loss == "squared_error":
            return _losses.MSE(), 0.5, 0.5 * self.n_outputs_
        if self.loss == "absolute_error":
            return _losses.MAE(), 1.0, 1.0
        return _losses.Huber(1.0), 1.0, 1.0

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _val_target(self, y2d):
        return y2d.ravel() if y2d.shape[1] == 1 else y2d

    def _score_arrays(self, x, y, sample_weight):
        y_pred = self._forward(x, check_input=False)
        if not np.isfinite(y_pred).all():
            return np.nan
        if y_pred.shape[1] == 1:
            y_pred = y_pred.ravel()
        return r2_score(y, y_pred, sample_weight=sample_weight)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and targets y (n_samples,) or
        (n_samples, n_outputs), optionally weighting the samples. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current parameters and solver state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predictions (n_samples,) for one output, else (n_samples, n_outputs)."""
        z = self._forward(X)
        return z.ravel() if z.shape[1] == 1 else z
