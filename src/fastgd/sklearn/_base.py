"""The implementation shared by fastgd.sklearn's MLPClassifier and MLPRegressor: parameter
constraints, the model, and the solvers (the fused stochastic step, L-BFGS with L-BFGS-B's semantics)."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse
import scipy.special
import sklearn
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.fixes import parse_version
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

import fastgd
from fastgd import _loop, _outofcore, _validation
from fastgd._runtime import MAX_THREADS
from fastgd.nn import losses as _losses
from fastgd.optim import lbfgs as _lbfgs
from fastgd import optim as _optim
from fastgd.nn.layers import MAX_WIDTH, Dense, copy_into
from fastgd.nn.model import Sequential, _one_trainer


# scikit-learn 1.7 added sample weights to its MLPs (fit, partial_fit, and _loss_grad_lbfgs, which
# its tests call), put MLPRegressor's new `loss` parameter first and reworded lbfgs's convergence
# warning; where 1.6 differs, ours follow the installed version.
_SKLEARN_1_7 = parse_version(sklearn.__version__).release[:2] >= (1, 7)

# scikit-learn's activation names, then every fastgd activation under its own name.
_ACTIVATIONS = {**{name: name for name in fastgd.ACTIVATIONS}, "logistic": "sigmoid"}
_SPARSE_FORMATS = ("csr", "csc", "coo")  # anything but CSR is converted once
_REGRESSION_LOSSES = ("squared_error", "absolute_error", "huber", "poisson")
_STOCHASTIC = ("sgd", "adam", "adagrad", "rmsprop", "adamw")
_SOLVERS = _STOCHASTIC + ("lbfgs",)
_PREDICT_CHUNK = 8192


def _softmax(z):
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


# scikit-learn's output activations (what out_activation_ may name), each applied in place, with
# scikit-learn's formulas
_OUTPUT_ACTIVATIONS = {
    "identity": lambda z: z,
    "exp": lambda z: np.exp(z, out=z),
    "logistic": lambda z: scipy.special.expit(z, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
    "relu": lambda z: np.maximum(z, 0, out=z),
    "softmax": _softmax,
}


# ---- warnings, as scikit-learn's MLP module emits them -------------------------------------------

_SKLEARN_MLP_MODULE = "sklearn.neural_network._multilayer_perceptron"
# what the "default" and "once" filters have shown, as a module's __warningregistry__ holds it
_WARNING_REGISTRY: dict = {}


def _warn(message, category=UserWarning):
    """Emit a warning that scikit-learn's MLPs emit, attributed as theirs are to scikit-learn's
    MLP module (so that filters on ``module="sklearn"`` apply), at the line of fastgd that
    emits it. Every warning the estimators give in scikit-learn's place goes through here."""
    caller = sys._getframe(1)
    warnings.warn_explicit(message, category, caller.f_code.co_filename, caller.f_lineno,
                           module=_SKLEARN_MLP_MODULE, registry=_WARNING_REGISTRY)


def _as_1d_target(y):
    """y, a column vector raveled with scikit-learn's DataConversionWarning (what
    ``column_or_1d(y, warn=True)`` warns, there attributed to the MLP module)."""
    if y.ndim == 2 and y.shape[1] == 1:
        # converted first: a y column_or_1d refuses (a sparse column) raises without the warning
        y = column_or_1d(y)
        _warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
              "(n_samples, ), for example using ravel().", DataConversionWarning)
    return y


def _lbfgs_n_iter(result, max_iter):
    """What scikit-learn's ``_check_optimize_result("lbfgs", result, max_iter)`` returns: the
    iterations run, at most max_iter; with its ConvergenceWarning when the run did not converge."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        scale = "scale the data as shown in:\n    https://scikit-learn.org/stable/modules/preprocessing.html"
        if _SKLEARN_1_7:
            message = f"lbfgs failed to converge after {n_iter} iteration(s) (status={result.status}):\n{result.message}\n"
            if n_iter == max_iter:
                message += f"\nIncrease the number of iterations to improve the convergence (max_iter={max_iter})."
            message += "\nYou might also want to " + scale
        else:
            message = (f"lbfgs failed to converge (status={result.status}):\n{result.message}.\n\n"
                       "Increase the number of iterations (max_iter) or " + scale)
        _warn(message, ConvergenceWarning)
    return n_iter


# ---- one fit at a time, and inference beside it -------------------------------------------------


class _FitGuard:
    """Which thread is fitting an estimator, under a lock that an inference call's
    bringing-in-line of the model (``_sync_params``) holds too, so that the two exclude each
    other without inference ever holding the training lock (a fit starting in another thread
    meanwhile would then be refused as overlapping a fit)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.fitter = None  # thread ident of the running fit, or None


def _fit_guard(est):
    """The estimator's _FitGuard: one per process, as a child of os.fork must not inherit one a
    parent thread held; a pickled state leaves it out."""
    guards, pid = est.__dict__.setdefault("_fit_guard", {}), os.getpid()
    # setdefault is atomic: two threads asking at once get the same guard
    return guards.get(pid) or guards.setdefault(pid, _FitGuard())


def _trainer(method):
    """An estimator's fit or partial_fit: refused while another thread trains the estimator
    (see fastgd.nn.model._one_trainer), and marked as running so that inference in other
    threads reads the model as it stands instead of bringing it in line; it starts once an
    inference call's bringing-in-line under way has ended."""

    @functools.wraps(method)
    def fitting(self, *args, **kwargs):
        guard = _fit_guard(self)
        with guard.lock:
            outer, guard.fitter = guard.fitter, threading.get_ident()
        try:
            return method(self, *args, **kwargs)
        finally:
            with guard.lock:
                guard.fitter = outer

    return _one_trainer(fitting)


# ---- parameter validation -----------------------------------------------------------------------


# scikit-learn's own constraints (sklearn.neural_network), with fastgd's extra solvers and
# parameters; scikit-learn's validation turns them into its InvalidParameterError messages.
_PARAMETER_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(_ACTIVATIONS))],
    "solver": [StrOptions(set(_SOLVERS))],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    "dtype": [StrOptions({"auto", "float32", "float64"})],
    "n_threads": [Interval(Integral, 1, MAX_THREADS, closed="both"), None],
}


# ---- the solver fed to the fused step --------------------------------------------------------------


class _FusedSolver:
    """The optimizer plan handed to the fused step (the ``_plan`` protocol of fastgd.optim's
    optimizers, with ``_advance``, by which the step counts it) over two groups, the weights [0, n_weights) and the biases [n_weights, n),
    with the per-batch values scikit-learn's update needs (see the module docstring). The state
    is that of a fastgd optimizer with those two parameter groups, which pickles through the
    checks of its load_state_dict; unpickling checks the rest and rebuilds the plan from it.

    It takes the estimator's solver and its hyperparameters (learning_rate_init, the
    learning_rate schedule, power_t, momentum, nesterovs_momentum, beta_1, beta_2, epsilon) as
    they are when it is built and keeps them, as scikit-learn's optimizer does: a fit builds one,
    and partial_fit builds one only when there is none, so that set_params between partial_fit
    calls leaves them as they were until the next fit."""

    # the scikit-learn hyperparameters kept, each with its check on unpickling
    _HYPER = {"learning_rate_init": dict(low=0.0, low_open=True), "power_t": dict(low=0.0),
              "beta_1": dict(low=0.0, high=1.0, high_open=True), "beta_2": dict(low=0.0, high=1.0, high_open=True),
              "epsilon": dict(low=0.0, low_open=True)}
    _PICKLED = ("name", "optimizer", "n_steps", "kernel_lr", "learning_rate", "lr_schedule") + tuple(_HYPER)

    def __init__(self, est, n, n_weights, dtype):
        self.name = name = est.solver
        for key in self._HYPER:
            setattr(self, key, float(getattr(est, key)))
        self.lr_schedule = est.learning_rate
        if name == "sgd":
            nesterov = bool(est.nesterovs_momentum) and est.momentum > 0
            hyper = {"momentum": float(est.momentum), "nesterov": nesterov, "seed": 0}
        elif name in ("adam", "adamw"):
            hyper = {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}
        elif name == "adagrad":
            hyper = {"eps": self.epsilon}
        else:
            hyper = {"alpha": self.beta_2, "eps": self.epsilon}
        optimizer = _optim.get(name, **hyper)
        optimizer.set_param_groups([(0, n_weights, {}), (n_weights, n, {"weight_decay": 0.0})])
        self.optimizer = optimizer
        self.state, self.groups = optimizer._plan(n, dtype)
        self.n_steps = 0
        self.kernel_lr = None  # the learning rate given to the kernel at the last update
        self.learning_rate = self.learning_rate_init  # scikit-learn's meaning (updated by the estimator)

    def __getstate__(self):
        return {k: self.__dict__[k] for k in self._PICKLED}

    def __setstate__(self, attributes):
        attributes = _validation.config("the pickled _optimizer", attributes, "(a fastgd.sklearn solver)",
                                        self._PICKLED, ())
        name = _validation.choice("_optimizer.name", attributes["name"], _STOCHASTIC)
        optimizer = attributes["optimizer"]
        if not isinstance(optimizer, _optim.Optimizer) or optimizer.name != name:
            raise ValueError(f"_optimizer.optimizer must be a fastgd {name!r} optimizer, got "
                             f"{_validation.describe(optimizer)}")
        state = optimizer.state_dict()
        groups = state["config"].get("param_groups")
        if (state["state"] is None or not groups or len(groups) != 2 or groups[0][2] != {}
                or groups[1][2] != {"weight_decay": 0.0}):
            raise ValueError("_optimizer.optimizer must hold a state over two parameter groups, the weights and "
                             "the biases (without weight decay)")
        self.name, self.optimizer = name, optimizer
        self.n_steps = _validation.integer("_optimizer.n_steps", attributes["n_steps"], 0,
                                           maximum=_validation.MAX_RESTORED_COUNT)
        self.kernel_lr = _validation.real("_optimizer.kernel_lr", attributes["kernel_lr"], low=0.0, allow_none=True)
        self.learning_rate = _validation.real("_optimizer.learning_rate", attributes["learning_rate"], low=0.0,
                                              allow_none=True)
        for key, bounds in self._HYPER.items():
            setattr(self, key, _validation.real(f"_optimizer.{key}", attributes[key], **bounds))
        self.lr_schedule = _validation.choice("_optimizer.lr_schedule", attributes["lr_schedule"],
                                              ("constant", "invscaling", "adaptive"))
        self.state, self.groups = optimizer._plan(state["n"], state["dtype"])

    def check_fits(self, model):
        """ValueError unless the solver's state is for ``model``'s parameters and layout."""
        state = self.optimizer.state_dict()
        n_weights = state["config"]["param_groups"][0][1]
        if (state["n"], state["dtype"], n_weights) != (model.n_params, model.dtype.name, model.n_weights):
            raise ValueError(f"_optimizer holds a state for {state['n']} {state['dtype']} parameters of which "
                             f"{n_weights} weights, the network has {model.n_params} {model.dtype.name} of which "
                             f"{model.n_weights}")

    def set_step(self, lr, weight_decay, eps=None):
        """Hyperparameters of the next update (lr as the kernel sees it)."""
        if (self.kernel_lr is not None and lr != self.kernel_lr and self.name == "sgd" and self.state.size
                and self.n_steps):
            # keep sklearn's velocity v = -lr*b unchanged across a learning-rate change
            if lr == 0.0:
                raise ValueError(f"the learning rate fell to 0 after {self.n_steps} steps (its decay underflowed): "
                                 "SGD keeps its momentum as a multiple of the learning rate and cannot carry it "
                                 "through a rate of 0; use a smaller power_t, or momentum=0")
            self.state *= self.kernel_lr / lr
        self.kernel_lr = lr
        groups = self.groups
        fastgd._core.optim_groups_refresh(groups, self.n_steps + 1, lr)
        if eps is not None:
            groups["eps"] = eps
        groups["weight_decay"][0] = weight_decay

    # the protocol the model's fused step calls
    def _plan(self, n, dtype):
        return self.state, self.groups

    def _advance(self):
        self.n_steps += 1


def _model_input(X, dtype, name="X"):
    """Validated X as a model reads it: a C-contiguous array of dtype, or, for sparse X, a
    fastgd CSRMatrix of dtype (its structure checked before any kernel reads it). A value past
    the range of dtype (1e39 for float32) is refused by ``name``, as the model's own input check
    refuses it, not read as infinity."""
    if scipy.sparse.issparse(X):
        return fastgd._core.as_csr(X, dtype)
    x = _validation.c_array(X, dtype)
    if x is not X and fastgd._core.count_nonfinite(x):
        _validation.finite(name, x, X)
    return x


@contextlib.contextmanager
def _thread_scope(n_threads):
    if n_threads is None:
        yield
    else:
        # checked by its name here: predict, which does not validate the parameters as fit does,
        # got fastgd.threads' error naming its own 'n' for n_threads set to 0 after the fit
        with fastgd.threads(_validation.integer("n_threads", n_threads, 1, maximum=MAX_THREADS)):
            yield


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

    _parameter_constraints: dict = _PARAMETER_CONSTRAINTS

    def _validate_params(self):
        """scikit-learn's checks against ``_parameter_constraints``, then the integers given for
        real-valued parameters as floats: scikit-learn's intervals take one past the float64 range
        (alpha=10**400), which the solvers' float() refused with an OverflowError naming nothing."""
        super()._validate_params()
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name)
            if (isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))
                    and any(isinstance(c, Interval) and c.type is Real for c in constraints)):
                _validation.real(name, value)

    @classmethod
    def _get_param_names(cls):
        """scikit-learn's parameter names (those of ``__init__``), read from the signature once
        per class: every fit validates its parameters through ``get_params``, and scikit-learn
        inspects the signature again on each call."""
        names = cls.__dict__.get("_param_names")
        if names is None:
            names = tuple(super()._get_param_names())
            cls._param_names = names
        return list(names)

    def _hidden_layer_sizes(self):
        """The parameters checked against ``_parameter_constraints``, then hidden_layer_sizes
        as a list of ints > 0 (empty: no hidden layer; TypeError for a size that is no integer)."""
        self._validate_params()
        hls = self.hidden_layer_sizes
        if isinstance(hls, np.ndarray) and hls.ndim == 0:  # one size (np.ndim of a ragged list raises)
            hls = hls[()]
        hls = list(hls) if hasattr(hls, "__iter__") else [hls]
        if not all(isinstance(h, Integral) and not isinstance(h, (bool, np.bool_)) for h in hls):
            # a TypeError, as scikit-learn's MLPs raise (from NumPy) for a size that is no integer
            raise TypeError(f"hidden_layer_sizes must hold integers, got {self.hidden_layer_sizes!r}")
        if any(h <= 0 for h in hls):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hls}.")
        if any(h > MAX_WIDTH for h in hls):
            raise ValueError(f"hidden_layer_sizes must be at most {MAX_WIDTH:,} (fastgd's widest layer), got {hls}")
        return [int(h) for h in hls]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _loss_offsets(self, y2d):
        """Per sample, a constant of the data that scikit-learn's reported loss adds to fastgd's
        loss (None: nothing)."""
        return None

    def _validate_target(self, y2d):
        """Raise ValueError for targets the loss does not accept."""

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
        if state.get("model_") is not None:
            self._sync_params()
            state.update((k, v) for k, v in self.__dict__.items() if k in ("model_", "coefs_", "intercepts_"))
        state.pop("_training_lock", None)
        state.pop("_fit_guard", None)
        model = state.pop("model_", None)
        if model is not None:
            state["_model_config"] = model.get_config()
            state["_model_params"] = model.params.copy()
            state.pop("coefs_", None)
            state.pop("intercepts_", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        cfg = state.pop("_model_config", None)
        params = state.pop("_model_params", None)
        model = None
        if cfg is not None:
            model = Sequential.from_config(cfg)
            model.params[...] = _validation.vector("_model_params", params, model.n_params, model.dtype)
            # its output count may differ from n_outputs_ (a network whose output layer was
            # dropped by assigning shorter coefs_ and intercepts_): predict names that
            if model.n_inputs != state.get("n_features_in_"):
                raise ValueError(f"_model_config describes a network of {model.n_inputs} inputs, the estimator "
                                 f"was fitted with n_features_in_={state.get('n_features_in_')}")
            if state.get("_best_params") is not None:  # what early stopping puts back in a later fit
                state["_best_params"] = _validation.vector("_best_params", state["_best_params"], model.n_params,
                                                           model.dtype)
        solver = state.get("_optimizer")
        if solver is not None:  # checked as it was unpickled, but not against the network
            if not isinstance(solver, _FusedSolver) or model is None:
                raise ValueError(f"_optimizer must be None or the solver of the fitted network, got "
                                 f"{_validation.describe(solver)}")
            solver.check_fits(model)
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)
        if model is not None:
            self._bind_model(model)

    # ---- the model ----

    def _bind_model(self, model):
        self.model_ = model
        self.coefs_ = [L.W for L in model.layers]
        self.intercepts_ = [L.b for L in model.layers]

    def _sync_params(self):
        """Bring the model in line with what was assigned since the fit: copy user-assigned
        coefs_/intercepts_ (new arrays, not the arena views) into the arena, each of exactly its
        layer's shape and finite; lists of another length (the output layer dropped, say) make
        a new network of the layers they describe; a new ``activation`` (set_params) takes effect
        in the hidden layers, as in scikit-learn, whose networks read it at every forward pass.

        Skipped while a fit runs in another thread (predict, pickling): the model is then read as
        it is, since bringing it in line there copied the arrays of the model a fit was replacing
        into the new one (caught between two of _bind_model's assignments) or bound the
        estimator back to the old one. A fit starting meanwhile waits for it to end."""
        guard = _fit_guard(self)
        with guard.lock:
            if guard.fitter in (None, threading.get_ident()):
                self._sync_bound_params()

    def _sync_bound_params(self):
        """The body of :meth:`_sync_params`, no fit running in another thread."""
        model = self.model_
        n_layers = len(model.layers)
        activation = _ACTIVATIONS.get(str(self.activation))
        if (len(self.coefs_), len(self.intercepts_)) != (n_layers, n_layers) or (
                n_layers > 1 and model.layers[0].activation != activation):
            self._validate_params()
            rebuilt = self._model_from_arrays(model.dtype)
            if rebuilt.n_params != model.n_params:
                # another network: the best one early stopping kept is gone, and the solver's
                # state was for the old one's parameters
                self._best_params = rebuilt.params.copy()
                self._optimizer = None
            self._bind_model(rebuilt)
            return
        assigned = False
        for name, arrays, part in (("coefs_", self.coefs_, "W"), ("intercepts_", self.intercepts_, "b")):
            for i, (L, a) in enumerate(zip(model.layers, arrays)):
                if a is not getattr(L, part):
                    copy_into(f"{name}[{i}]", getattr(L, part), a)
                    assigned = True
        if assigned:
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
        model = self._new_model(layer_units, dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        rs = self._random_state
        for L in model.layers:
            bound = np.sqrt(factor / (L.in_features + L.out_features))
            L.W[...] = rs.uniform(-bound, bound, (L.in_features, L.out_features))
            L.b[...] = rs.uniform(-bound, bound, L.out_features)
        self._bind_model(model)
        self._best_params = model.params.copy()
        self._optimizer = None
        if self.solver in _STOCHASTIC:
            self._init_stochastic_records()

    def _new_model(self, layer_units, dtype):
        act = _ACTIVATIONS[self.activation]
        layers = []
        for i in range(len(layer_units) - 1):
            last = i == len(layer_units) - 2
            layers.append(Dense(layer_units[i], layer_units[i + 1], activation="identity" if last else act,
                                weight_init="zeros"))
        return Sequential(layers, dtype=dtype.name, seed=0)

    def _ensure_model(self):
        """Build ``model_`` from ``coefs_``/``intercepts_`` when code assigned those by hand to an
        estimator that was never fitted (scikit-learn's estimators honour that)."""
        if getattr(self, "model_", None) is not None:
            return
        model = self._model_from_arrays()
        self._bind_model(model)
        self._best_params = model.params.copy()

    def _model_from_arrays(self, dtype=None):
        """A new model of the network ``coefs_`` and ``intercepts_`` describe as they are (one
        layer per weight matrix and bias vector, the hidden ones with ``activation``), holding
        copies of them; in dtype, or (None) that of ``coefs_[0]`` if float32, else float64."""
        coefs, intercepts = self.coefs_, self.intercepts_
        shapes = [np.shape(c) for c in coefs]
        if len(coefs) != len(intercepts) or not coefs or any(len(shape) != 2 for shape in shapes):
            raise ValueError("coefs_ and intercepts_ must be lists of one 2-D weight matrix and one bias vector "
                             f"per layer, got {len(coefs)} and {len(intercepts)} arrays")
        if dtype is None:
            dtype = np.dtype(np.float32 if np.asarray(coefs[0]).dtype == np.float32 else np.float64)
        model = self._new_model([shapes[0][0]] + [shape[1] for shape in shapes], dtype)
        for i, L in enumerate(model.layers):
            copy_into(f"coefs_[{i}]", L.W, coefs[i])
            copy_into(f"intercepts_[{i}]", L.b, intercepts[i])
        return model

    def _init_stochastic_records(self, keep=False):
        """The records a stochastic fit updates. With keep (a warm start or partial_fit) those
        that still apply go on, as in scikit-learn: loss_curve_ always, the others while
        early_stopping keeps its mode; when it was switched, the new mode's records start afresh
        and the old mode's become None, as after a fit in the new mode."""
        if not (keep and hasattr(self, "loss_curve_")):  # a new fit, or a warm start from lbfgs
            self.loss_curve_ = []
            self._no_improvement_count = 0
        elif (getattr(self, "validation_scores_", None) is not None) == bool(self.early_stopping):
            return
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    # ---- fit ----

    def _fit(self, X, y, sample_weight=None, incremental=False, hidden=None):
        """fit (incremental False) or partial_fit; ``hidden``: the caller's
        :meth:`_hidden_layer_sizes` (the parameters checked already), else checked here."""
        if hidden is None:
            hidden = self._hidden_layer_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if _outofcore.is_lazy(X):  # scikit-learn's checks read X through its mapping
            _outofcore.check_file("X", X)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if not first_pass:
            self._ensure_model()
            self._sync_params()
        dtype = self.model_.dtype if not first_pass else self._model_dtype(X)
        x = _model_input(X, dtype)
        sw = self._check_sample_weight(sample_weight, x, dtype)
        y2d = y.reshape(-1, 1) if y.ndim == 1 else y
        self._validate_target(y2d)
        layer_units = [x.shape[1]] + hidden + [y2d.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y2d, layer_units, dtype)
        elif [L.in_features for L in self.model_.layers] + [self.n_outputs_] != layer_units:
            raise ValueError(f"warm_start/partial_fit: the network has layers "
                             f"{[L.in_features for L in self.model_.layers] + [self.n_outputs_]} but the "
                             f"parameters and data ask for {layer_units}; set warm_start=False to refit")
        elif getattr(self, "out_activation_", None) not in (None, self._out_activation()):
            # loss="poisson" trains exp of the output (out_activation_ "exp"), the others the output
            raise ValueError(f"warm_start/partial_fit: the network's output activation is {self.out_activation_!r} "
                             f"but loss={getattr(self, 'loss', None)!r} asks for {self._out_activation()!r}; set "
                             "warm_start=False to refit")
        loss, kv, kg = self._loss_spec()
        scalar = self._loss_scalar(y, sample_weight, X, dtype)
        try:
            with _thread_scope(self.n_threads):
                if self.solver == "lbfgs":
                    self._fit_lbfgs(x, y2d, sw, loss, kv, kg, scalar)
                else:
                    self._fit_stochastic(x, y2d, sw, loss, kv, kg, incremental, scalar)
        finally:
            self.model_._release_buffers()
        if fastgd._core.count_nonfinite(self.model_.params):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        return self

    def _loss_scalar(self, y, sample_weight, X, dtype):
        """The NumPy scalar type of loss_ (and loss_curve_, best_loss_), scikit-learn's: float64
        for a stochastic solver given an integer batch_size, whose epoch loss sums each batch's
        loss times its row count, a NumPy int64 there (np.clip's batch size); else the type its
        loss function gives for the fit's types (``_loss_type``)."""
        if self.solver in _STOCHASTIC and self.batch_size != "auto":
            return np.float64
        return self._loss_type(y, sample_weight, X, dtype)

    def _loss_type(self, y, sample_weight, X, dtype):
        raise NotImplementedError

    def _check_sample_weight(self, sample_weight, X, dtype):
        """None, or scikit-learn's rule for sample weights (a scalar or one finite weight >= 0 per
        row of X, not all zero) applied by scikit-learn's own check, as a new C-contiguous array
        of dtype."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=dtype, ensure_non_negative=True, copy=True)

    def _prepared_target(self, loss, y2d, dtype):
        """The fused step's target, as ``loss.prepare_target`` gives it: ("labels", class indices)
        for softmax, ("rows", float rows) otherwise."""
        if isinstance(loss, _losses.SoftmaxCrossEntropy):
            return ("labels", _validation.c_array(np.argmax(y2d, axis=1), np.int64))
        return ("rows", _validation.c_array(y2d, dtype))

    def _fit_stochastic(self, x, y2d, sw, loss, kv, kg, incremental, scalar):
        model = self.model_
        n_w = model.n_weights
        # refused before anything fitted changes
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping and not self.validation_fraction > 0:  # train_test_split would name its test_size
            raise ValueError(f"validation_fraction must be > 0 with early_stopping=True (the share of the data "
                             f"held out to score), got {self.validation_fraction}")
        # a warm start from an lbfgs fit, or with early_stopping switched: records are missing
        self._init_stochastic_records(keep=True)
        solver = getattr(self, "_optimizer", None)
        if not incremental or solver is None:
            solver = _FusedSolver(self, model.n_params, n_w, model.dtype)
            self._optimizer = solver
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
        offsets = self._loss_offsets(y2d)
        n = x.shape[0]
        if self.batch_size == "auto":
            bs = min(200, n)
        else:
            if self.batch_size > n:
                _warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            bs = int(np.clip(self.batch_size, 1, n))
        sample_idx = np.arange(n, dtype=np.int64)
        params = model.params
        w_view = params[:n_w]
        alpha = float(self.alpha)
        name = solver.name
        adamw = name == "adamw"
        penalty = alpha > 0 and not adamw
        eps = solver.epsilon
        beta2 = solver.beta_2
        step = model._train_step
        loss_spec = model._loss_spec(loss)
        lr = solver.learning_rate_init

        def train_batch(_step, s, e, idx):
            """scikit-learn's update on the batch; returns (its reported loss, its row count)."""
            if sw is None:
                sw_sum = float(e - s)
            else:
                sw_sum = float(sw[idx].sum() if idx is not None else sw[s:e].sum())
                if sw_sum <= 0.0:  # an all-zero-weight batch has no gradient: skip it
                    return None
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
            value, _gnorm, status = step(x, loss_spec=loss_spec, target=target, sample_weight=sw, indices=idx,
                                         start=s, n=e - s, optimizer=solver)
            if status:
                if not early_stopping:
                    raise ValueError("Solver produced non-finite parameter weights. The input data may "
                                     "contain large values and need to be preprocessed (the loss or its "
                                     f"gradient became non-finite at iteration {self.n_iter_ + 1}).")
                # As in scikit-learn, a diverged run goes on to max_iter with non-finite weights (their
                # validation scores are NaN) and the best weights seen are restored at the end.
                params.fill(np.nan)
                value = math.nan
            if offsets is not None:
                rows = idx if idx is not None else slice(s, e)
                pen += (offsets[rows].sum() if sw is None else np.dot(sw[rows], offsets[rows])) / sw_sum
            return kv * value + pen, e - s

        # as in scikit-learn, an interrupt (Ctrl-C) ends the training as max_iter would, the model
        # left as the last update made it (the best one restored, with early stopping)
        try:
            self.n_iter_ = 0
            for _it in range(self.max_iter):
                if self.shuffle:
                    # what sklearn.utils.shuffle(sample_idx, random_state=rs) does (it shuffles an arange and
                    # indexes with it), without its overhead: RandomState.shuffle's swaps do not depend on
                    # the content, so shuffling sample_idx in place gives the same order
                    self._random_state.shuffle(sample_idx)
                lr = solver.learning_rate if name == "sgd" else solver.learning_rate_init
                acc, _rows = _loop.run_epoch(train_batch, n, bs, order=sample_idx if self.shuffle else None)
                self.n_iter_ += 1
                self.loss_ = scalar(acc / n)  # loss_curve_ and best_loss_ take its type
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, x_val, y_val, sw_val)
                if name == "sgd" and solver.lr_schedule == "invscaling":
                    # in float64: an integer power_t made an exact integer of (t + 1) ** power_t (for
                    # 10**9, a computation without end), and a float one past the float64 range raised
                    # OverflowError; the rate is then 0
                    with np.errstate(over="ignore"):
                        decay = float(np.float64(self.t_ + 1) ** np.float64(solver.power_t))
                    solver.learning_rate = solver.learning_rate_init / decay
                elif name == "adam" and solver.n_steps:
                    # scikit-learn's Adam reports its bias-corrected step size
                    t = solver.n_steps
                    solver.learning_rate = (solver.learning_rate_init * math.sqrt(1 - beta2 ** t)
                                            / (1 - solver.beta_1 ** t))
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
                    _warn("Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                          "converged yet." % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            _warn("Training interrupted by user.")
        if early_stopping:
            self.model_._assign_params(self._best_params)

    def _trigger_stopping(self, msg):
        opt = self._optimizer
        if opt.name != "sgd" or opt.lr_schedule != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if opt.learning_rate <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        opt.learning_rate /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % opt.learning_rate)
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

    def _lbfgs_objective(self, x, y2d, sw, loss, kv, kg):
        """scikit-learn's L-BFGS objective over all of (x, y2d): ``objective(p, out) -> loss`` at
        the flat parameters p (every layer's weights, then every bias: the arena's layout and
        scikit-learn's packing), the L2 term included; the gradient goes into ``out`` (float64 or
        the model's dtype). When p is the model's own parameter arena nothing is copied in; when
        out is its gradient arena, nothing is copied out (the L2 term is added in place)."""
        model = self.model_
        target = self._prepared_target(loss, y2d, model.dtype)
        n_w = model.n_weights
        n = x.shape[0]
        alpha = float(self.alpha)
        sw_sum = float(n if sw is None else sw.sum(dtype=np.float64))
        params = model.params
        grads = model.grads
        step = model._train_step
        loss_spec = model._loss_spec(loss)
        chunk = 16384
        offsets = self._loss_offsets(y2d)
        offset = 0.0 if offsets is None else float(np.dot(offsets, sw if sw is not None else np.ones(n)) / sw_sum)
        decay = np.empty(n_w, dtype=params.dtype)
        l2 = alpha / sw_sum
        # every evaluation reads all of x: pack it once for the first layer's products (the
        # objective lives for one fit, while x does not change)
        packed = model._pack_input(x) if n <= chunk and isinstance(x, np.ndarray) else None

        def objective(p, out):
            if p is not params:
                params[...] = p
            w_ = params[:n_w]
            if n <= chunk and out.dtype == grads.dtype:
                # the gradient's finiteness is the driver's to check (on g·d), so the step skips
                # its pass over the gradient
                value, _g, _status = step(x, loss_spec=loss_spec, target=target, sample_weight=sw, grad_norm=False,
                                          packed=packed)
                if kg != 1.0:
                    np.multiply(grads, kg, out=grads)
                if out is grads:  # g += l2·(weights, 0) and w·w in one pass
                    w_dot_w = fastgd._core.lbfgs_ridge(grads[:n_w], w_, l2)
                else:
                    # out = grads + l2·(weights, 0) in one pass over the weights (the line search's
                    # x = base + step·d kernel), the biases copied; w·w in lbfgs_ridge's order
                    fastgd._core.lbfgs_trial(out[:n_w], grads[:n_w], w_, l2)
                    out[n_w:] = grads[n_w:]
                    w_dot_w = fastgd._core.lbfgs_dot(w_, w_)
                return float(kv * value + (0.5 * alpha * w_dot_w / sw_sum + offset))
            if n <= chunk:
                value, _g, status = step(x, loss_spec=loss_spec, target=target, sample_weight=sw, packed=packed)
                np.multiply(grads, kg, out=out)
                value *= kv
            else:  # bounded memory: weighted sum of chunk means
                value, g = _loop.data_gradient(model, x, target, sw, loss, chunk, scale=kg)
                value *= kv
                out[...] = g
            value += 0.5 * alpha * float(np.dot(w_, w_)) / sw_sum + offset
            np.multiply(w_, l2, out=decay)
            out[:n_w] += decay
            return float(value)

        return objective

    if _SKLEARN_1_7:
        def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations, deltas, coef_grads,
                             intercept_grads):
            """scikit-learn's method of this name: see _packed_loss_grad (``activations`` and
            ``deltas`` are scratch in scikit-learn and unused here)."""
            return self._packed_loss_grad(packed_coef_inter, X, y, sample_weight, coef_grads, intercept_grads)
    else:
        def _loss_grad_lbfgs(self, packed_coef_inter, X, y, activations, deltas, coef_grads, intercept_grads):
            """scikit-learn 1.6's method of this name, which takes no sample weights: see
            _packed_loss_grad."""
            return self._packed_loss_grad(packed_coef_inter, X, y, None, coef_grads, intercept_grads)

    def _packed_loss_grad(self, packed_coef_inter, X, y, sample_weight, coef_grads, intercept_grads):
        """scikit-learn's L-BFGS objective at the packed parameters (every layer's weights, then
        every bias, flattened), for X and y in the network's output space (the binarized labels
        for the classifier). Returns ``(loss, packed gradient)``; the model's parameters become
        the packed ones and ``coef_grads``/``intercept_grads`` receive the gradient by layer, as
        in scikit-learn."""
        self._ensure_model()
        self._sync_params()
        model = self.model_
        x = self._as_model_input(X)
        y2d = np.asarray(y)
        y2d = y2d.reshape(-1, 1) if y2d.ndim == 1 else y2d
        sw = self._check_sample_weight(sample_weight, x, model.dtype)
        loss, kv, kg = self._loss_spec()
        packed = _validation.c_array(packed_coef_inter, model.dtype)
        if packed.shape != (model.n_params,):
            raise ValueError(f"packed_coef_inter must have shape ({model.n_params},), got {packed.shape}")
        grad = np.empty_like(packed)
        value = self._lbfgs_objective(x, y2d, sw, loss, kv, kg)(packed, grad)
        w_off, b_off = 0, model.n_weights
        for i, L in enumerate(model.layers):
            if i < len(coef_grads):
                coef_grads[i] = grad[w_off:w_off + L.W.size].reshape(L.W.shape)
            if i < len(intercept_grads):
                intercept_grads[i] = grad[b_off:b_off + L.out_features]
            w_off += L.W.size
            b_off += L.out_features
        return value, grad

    def _fit_lbfgs(self, x, y2d, sw, loss, kv, kg, scalar):
        """fastgd's L-BFGS driver with the semantics, options and counts of SciPy's L-BFGS-B as
        scikit-learn calls it: the same iterates as scikit-learn (to rounding), hence its n_iter_
        (iterations, at most max_iter), its max_fun accounting (evaluations are checked at the
        end of each iteration) and its ConvergenceWarning and text. The driver works in float64
        over the parameter and gradient arenas themselves (float64 copies for a float32 model)."""
        params = self.model_.params
        objective = self._lbfgs_objective(x, y2d, sw, loss, kv, kg)
        point = params if params.dtype == np.float64 else params.astype(np.float64)
        grad = self.model_.grads if point is params else np.empty_like(point)
        result = _lbfgs.lbfgsb(objective, point, grad, max_iter=self.max_iter,
                               max_fun=self.max_fun, gtol=self.tol)
        if point is not params:
            params[...] = point
        self.n_iter_ = _lbfgs_n_iter(result, self.max_iter)
        self.loss_ = scalar(result.fun)

    # ---- prediction ----

    def _as_model_input(self, X):
        return _model_input(X, self.model_.dtype)

    def _check_X(self, X):
        if _outofcore.is_lazy(X):  # scikit-learn's checks read X through its mapping
            _outofcore.check_file("X", X)
        # scikit-learn's prediction takes any numeric dtype, so that X and the weights give the
        # output's dtype as NumPy promotes them (uint8 X and float32 weights: float32)
        return validate_data(self, X, accept_sparse=_SPARSE_FORMATS, reset=False)

    def _forward_pass_fast(self, X, check_input=True):
        """scikit-learn's method of this name: the network's output for X, ``out_activation_``
        applied (any of scikit-learn's output activations), a new (n, outputs) array computed
        from ``coefs_`` and ``intercepts_`` as they are. Dense X is converted to the model's
        dtype and layout chunk by chunk: a whole copy (of a float32 memmap for a float64 model,
        say) could be larger than memory. With dtype="auto"
        the output has scikit-learn's dtype, that of X (as validated) and the weights together:
        float64 X into a model fitted in float32 gives float64 (computed in float32)."""
        check_is_fitted(self)
        output = self.out_activation_
        if not (isinstance(output, str) and output in _OUTPUT_ACTIVATIONS):
            raise ValueError(f"out_activation_ must be one of {sorted(_OUTPUT_ACTIVATIONS)}, got {output!r}")
        self._ensure_model()
        x = self._check_X(X) if check_input else X
        self._sync_params()
        model = self.model_
        out_dtype = np.result_type(x.dtype, model.dtype) if check_input and self.dtype == "auto" else model.dtype
        if check_input and scipy.sparse.issparse(x):
            x = self._as_model_input(x)
        rows_of = None
        if isinstance(x, np.ndarray):
            def rows_of(s, e):
                return _model_input(x[s:e], model.dtype, "X" if s == 0 else f"X[{s}:]")
        with _thread_scope(self.n_threads):
            z = model._forward_chunks(x, _PREDICT_CHUNK, rows_of)
        return _OUTPUT_ACTIVATIONS[output](z if z.dtype == out_dtype else z.astype(out_dtype))
