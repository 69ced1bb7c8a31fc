"""Loss functions with fused C gradients.

Each loss computes its value and its gradient with respect to the predictions in one C call
(``fg_loss_f32``/``fg_loss_f64``) with the GIL released. Semantics follow PyTorch's functional
losses with ``reduction='mean'``:

============================  =========================================================  ===========
class                         loss of one row ``i`` (``c`` outputs)                      torch
============================  =========================================================  ===========
:class:`SoftmaxCrossEntropy`  ``-Σ_j q_ij log softmax(z_i)_j`` (class-weighted)          ``cross_entropy``
:class:`BinaryCrossEntropy`   ``mean_j [max(z,0) - z t + log(1 + exp(-|z|))]``           ``binary_cross_entropy_with_logits``
:class:`MSE`                  ``mean_j (p - t)²``                                        ``mse_loss``
:class:`MAE`                  ``mean_j |p - t|``                                         ``l1_loss``
:class:`Huber`                ``mean_j h_δ(p - t)``                                      ``huber_loss``
:class:`Poisson`              ``mean_j [exp(z) - t z]`` (log link)                       ``poisson_nll_loss``
============================  =========================================================  ===========

The batch loss is the weighted mean ``Σ_i s_i l_i / Σ_i s_i`` with sample weights ``s_i`` (1
when not given); for cross-entropy with class labels and class weights ``w`` it is
``Σ_i s_i l_i / Σ_i s_i w_{y_i}``, exactly torch's ``weight=`` normalization. A batch whose
weights are all zero has loss 0 and a zero gradient (torch returns NaN there).

Usage::

    loss = fastgd.losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    value = loss(logits, labels)         # forward: float
    grad = loss.backward()               # d value / d logits, shape of logits
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastgd import _core, _validation
from fastgd._validation import sample_weight as check_sample_weight  # noqa: F401  (losses' public name for it)

__all__ = [
    "Loss",
    "SoftmaxCrossEntropy",
    "BinaryCrossEntropy",
    "MSE",
    "MAE",
    "Huber",
    "Poisson",
    "get",
    "from_config",
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "poisson_nll_loss",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_REDUCTIONS = {"mean": _core.REDUCE_MEAN, "sum": _core.REDUCE_SUM}


def _labels_outside(t, n):
    """Whether a class label of the 1-D t lies outside [0, n). Integer labels take one pass when n
    is at most the type's count of non-negative values: a negative one then reads as a number >= n
    in the unsigned view of the same width (and byte order)."""
    if t.dtype == np.int64 and t.flags.c_contiguous and t.flags.aligned:
        return _core.int64_outside(t, n)
    if t.dtype.kind == "i" and n <= np.iinfo(t.dtype).max + 1:
        return bool(t.view(t.dtype.str.replace("i", "u")).max() >= n)
    return bool(t.min() < 0 or t.max() >= n)


def check_pred(pred, *, allow_1d):
    """``pred`` as a C-contiguous 2-D float32/float64 array (no copy when it already is one)."""
    if not isinstance(pred, np.ndarray):
        raise TypeError(f"pred must be a numpy.ndarray of float32 or float64, got {_validation.describe(pred)}")
    if pred.dtype.newbyteorder("=") not in _FLOAT_DTYPES:
        raise TypeError(f"pred must have dtype float32 or float64, got {pred.dtype}")
    if pred.ndim == 1 and allow_1d:
        pred = pred.reshape(-1, 1)
    if pred.ndim != 2:
        expected = "1-D or 2-D" if allow_1d else "2-D (n_samples, n_classes)"
        raise ValueError(f"pred must be {expected}, got {pred.ndim}-D array of shape {pred.shape}")
    if pred.shape[0] == 0:
        raise ValueError(f"pred is an empty batch (shape {pred.shape}); need at least one row")
    if pred.shape[1] == 0:
        raise ValueError(f"pred must have at least one column, got shape {pred.shape}")
    pred = _validation.c_array(pred, pred.dtype)
    _validation.finite("pred", pred)
    return pred


# (low, high, wording) of the target rows of the cross-entropies: probabilities
_PROBABILITY = (0.0, 1.0, "in [0, 1] (a probability)")


class Loss:
    """Base class of the losses: a forward pass that also computes the gradient.

    Subclasses set ``name`` (the registry name), ``_kind`` (the C ``enum fg_loss`` value) and
    ``_link`` (what :meth:`link` applies).
    """

    name = "loss"
    _kind = -1
    # (low, high, wording) that target rows must lie in, checked with the loss's _target_name
    _target_range = None
    _target_name = "loss"

    def __init__(self) -> None:
        self._grad = None

    # -- the fused path -----------------------------------------------------------
    def check_outputs(self, n_outputs):
        """ValueError when the loss's configuration does not fit a model of ``n_outputs`` outputs."""

    def forward(self, pred, target, sample_weight=None):
        """The weighted mean loss of a batch (a Python float); keeps the gradient for :meth:`backward`.

        Parameters
        ----------
        pred : ndarray (n, c), float32 or float64
            Logits (cross-entropy losses) or predictions; 1-D is read as (n, 1) for the
            elementwise losses. Non-contiguous input is copied once.
        target : array_like
            See :meth:`prepare_target`.
        sample_weight : array_like (n,), optional
            Non-negative per-sample weights.
        """
        return self._evaluate(pred, target, sample_weight, "mean", want_grad=True, keep=True)[0]

    __call__ = forward

    def backward(self):
        """d loss / d pred of the last :meth:`forward`, shaped like its ``pred`` (a new array per forward)."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return self._grad

    def _evaluate(self, pred, target, sample_weight, reduction, *, want_grad, keep=False):
        shape = pred.shape if isinstance(pred, np.ndarray) else None
        p = check_pred(pred, allow_1d=self._kind != _core.LOSS_SOFTMAX_CE)
        n, c = p.shape
        prepared = self.prepare_target(target, c, p.dtype, n_samples=n)
        sw = _validation.sample_weight(sample_weight, n, p.dtype)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {sorted(_REDUCTIONS)}, got {reduction!r}")
        grad = np.empty_like(p) if want_grad else None
        # The kernel's SUM adds row losses, each the mean over the c outputs; torch's 'sum' of
        # an elementwise loss adds every element, c times more.
        scale = float(c) if reduction == "sum" and self._kind != _core.LOSS_SOFTMAX_CE else 1.0
        value = _core.loss_value_and_grad(p, self._c_spec(), prepared, sw, self._class_weight_array(p.dtype),
                                          _REDUCTIONS[reduction], grad, False, scale)
        if grad is not None:
            grad = grad.reshape(shape)
        if keep:
            self._grad = grad
        return value, grad

    # -- targets --------------------------------------------------------------------
    def prepare_target(self, target, n_outputs, dtype, *, n_samples=None):
        """Validate and convert ``target`` once: returns ``("rows", array (n, n_outputs) of dtype)``.

        1-D targets are accepted when ``n_outputs == 1``. Values must be finite. With
        ``n_samples`` the number of rows is checked too. Raises TypeError/ValueError naming
        ``target``.
        """
        dtype = np.dtype(dtype)
        t = _validation.real_array("target", target)
        if t.ndim == 1 and n_outputs == 1:
            t = t.reshape(-1, 1)
        expected = f"have shape (n_samples, {n_outputs}){' or (n_samples,)' if n_outputs == 1 else ''}"
        return self._target_rows(t, n_outputs, dtype, n_samples, expected)

    @staticmethod
    def _check_rows(t, n_samples):
        if n_samples is not None and t.shape[0] != n_samples:
            raise ValueError(f"target has {t.shape[0]} rows but pred has {n_samples}")

    @classmethod
    def _target_rows(cls, t, n_outputs, dtype, n_samples, expected):
        """("rows", t as a finite C-contiguous (n, n_outputs) array of dtype), else ValueError."""
        if t.ndim != 2 or t.shape[1] != n_outputs:
            raise ValueError(f"target must {expected}, got {t.shape}")
        cls._check_rows(t, n_samples)
        given, t = t, _validation.c_array(t, dtype)
        _validation.finite("target", t, given)
        if cls._target_range is not None and t.size:
            low, high, what = cls._target_range
            if t.min() < low or t.max() > high:
                raise ValueError(f"target of the {cls._target_name} must be {what}, got values in "
                                 f"[{t.min()}, {t.max()}]")
        return ("rows", t)

    def _class_weight_array(self, dtype):
        return None

    def _c_spec(self):
        """The ``_core.LossSpec`` the kernels read (kind and scalar parameters)."""
        return _core.LossSpec(self._kind)

    # -- the rest -------------------------------------------------------------------
    def link(self, pred):
        """The output transform matching this loss (what ``predict_proba`` returns): identity here."""
        return np.asarray(pred)

    def get_config(self):
        """The constructor arguments, plus ``name``; ``from_config`` rebuilds the loss."""
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _softmax(z):
    z = np.asarray(z)
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


class SoftmaxCrossEntropy(Loss):
    r"""Softmax cross-entropy from logits (torch's ``cross_entropy``), stable for any finite logits.

    With ``p = softmax(z_i)`` (computed as ``z - max z`` then log-sum-exp, so logits of
    magnitude 1e4 are exact), smoothing ``ε`` and class weights ``w``:

    - class labels ``y_i``: ``l_i = (1-ε) w_{y_i} (-log p_{y_i}) + (ε/c) Σ_j w_j (-log p_j)``,
      batch loss ``Σ_i s_i l_i / Σ_i s_i w_{y_i}`` (torch's normalization);
    - target rows ``t_i`` (one-hot or soft): ``l_i = -Σ_j w_j ((1-ε) t_ij + ε/c) log p_j``,
      batch loss ``Σ_i s_i l_i / Σ_i s_i``.

    The gradient is ``s_i (A_i p - a_i) / D`` with ``l_i = -Σ_j a_ij log p_j``, ``A_i = Σ_j a_ij``:
    the textbook ``p - y`` for one-hot targets without weights or smoothing, divided by n.

    Parameters
    ----------
    label_smoothing : float in [0, 1)
    class_weight : array_like (n_classes,) of non-negative finite floats, or None
    """

    name = "softmax_cross_entropy"
    _target_name = "softmax cross-entropy"
    _target_range = _PROBABILITY
    _kind = _core.LOSS_SOFTMAX_CE

    def __init__(self, label_smoothing: float = 0.0, class_weight: Any = None) -> None:
        super().__init__()
        self.label_smoothing = _validation.probability("label_smoothing", label_smoothing)
        self.class_weight = None
        self._class_weight_cache = {}
        if isinstance(class_weight, (dict, str)):
            raise TypeError(f"class_weight must be an array of one weight per class, got "
                            f"{type(class_weight).__name__} (fit(class_weight=...) takes a dict "
                            f"{{class index: weight}})")
        if class_weight is not None:
            cw = _validation.real_array("class_weight", class_weight)
            if cw.ndim != 1 or cw.shape[0] == 0:
                raise ValueError(f"class_weight must be a non-empty 1-D array (one weight per class), "
                                 f"got shape {cw.shape}")
            cw = np.array(cw, dtype=np.float64)
            _validation.finite("class_weight", cw)
            if (cw < 0).any():
                raise ValueError(f"class_weight must be >= 0, got {cw[cw < 0][0]}")
            self.class_weight = cw

    def _c_spec(self):
        return _core.LossSpec(self._kind, label_smoothing=self.label_smoothing)

    def _class_weight_array(self, dtype):
        if self.class_weight is None:
            return None
        dtype = np.dtype(dtype)
        arr = self._class_weight_cache.get(dtype)
        if arr is None:
            arr = _validation.c_array(self.class_weight, dtype)  # a weight past the dtype's range: refused below
            if not np.isfinite(arr).all():
                raise ValueError(f"class_weight must be at most {np.finfo(dtype).max:.4g} (the largest {dtype}) for "
                                 f"a {dtype} model, got {self.class_weight.max():.4g}; scale the weights down (only "
                                 "their ratios matter)")
            self._class_weight_cache[dtype] = arr
        return arr

    def check_outputs(self, n_outputs):
        """ValueError unless the class weights, if any, are one per output."""
        if self.class_weight is not None and self.class_weight.shape[0] != n_outputs:
            raise ValueError(f"class_weight has {self.class_weight.shape[0]} entries but pred has "
                             f"{n_outputs} classes")

    def prepare_target(self, target, n_outputs, dtype, *, n_samples=None):
        """Validate and convert ``target`` once.

        Returns ``("labels", int64 (n,))`` for class indices (1-D integers, or 1-D floats with
        integral values) in ``[0, n_outputs)``, or ``("rows", (n, n_outputs) array of dtype)`` for
        one-hot / soft target rows (finite). Raises TypeError/ValueError naming ``target``.
        """
        dtype = np.dtype(dtype)
        self.check_outputs(n_outputs)
        t = _validation.real_array("target", target)
        if t.ndim == 1:
            if t.dtype.kind == "f":
                _validation.finite("target", t)
                if not (t == np.round(t)).all():
                    raise TypeError("target class labels must be integers, got non-integral floats; "
                                    "pass one-hot/soft targets as 2-D rows")
            self._check_rows(t, n_samples)
            if t.size and _labels_outside(t, n_outputs):
                bad = t[(t < 0) | (t >= n_outputs)][0]
                raise ValueError(f"target labels must be in [0, {n_outputs}) for {n_outputs} classes, "
                                 f"got {bad}")
            return ("labels", _validation.c_array(t, np.int64))
        return self._target_rows(t, n_outputs, dtype, n_samples,
                                 f"be class labels of shape (n_samples,) or rows of shape (n_samples, {n_outputs})")

    def link(self, pred):
        """Row-wise softmax (class probabilities)."""
        return _softmax(pred)

    def get_config(self):
        cw = None if self.class_weight is None else self.class_weight.tolist()
        return {"name": self.name, "label_smoothing": self.label_smoothing, "class_weight": cw}


class BinaryCrossEntropy(Loss):
    r"""Binary cross-entropy from logits (torch's ``binary_cross_entropy_with_logits``).

    ``l_ij = max(z,0) - z t + log(1 + exp(-|z|))`` = ``-t log σ(z) - (1-t) log(1-σ(z))``,
    computed so that it stays exact for ``|z|`` = 1e3 and beyond; gradient ``σ(z) - t``.
    Each row's loss is the mean over its ``c`` outputs (multi-label), the batch loss
    ``Σ_i s_i l_i / Σ_i s_i``. Targets may be soft (any real in [0, 1]).
    """

    name = "binary_cross_entropy"
    _kind = _core.LOSS_BCE

    _target_name = "binary cross-entropy"
    _target_range = _PROBABILITY

    def link(self, pred):
        """Elementwise sigmoid (probabilities), computed without overflow."""
        return _sigmoid(pred)


class MSE(Loss):
    r"""Mean squared error (torch's ``mse_loss``): ``l_i = (1/c) Σ_j (p_ij - t_ij)²``.

    Batch loss ``Σ_i s_i l_i / Σ_i s_i``; gradient ``2 s_i (p - t) / (c Σ s)``.

    Relation to the textbook sum-of-squared-errors ``L = ½ Σ (y - ŷ)²`` (gradient ``ŷ - y``):
    ``MSE = 2·L / (n·c)`` without sample weights, so its gradient is that ``ŷ - y`` times
    ``2/(n·c)``. The minimizer is the same; only the effective learning rate differs, by that
    factor (to reproduce the textbook update with learning rate η, use η·n·c/2 here).
    """

    name = "mse"
    _kind = _core.LOSS_MSE


class MAE(Loss):
    r"""Mean absolute error (torch's ``l1_loss``): ``l_i = (1/c) Σ_j |p_ij - t_ij|``.

    Gradient ``sign(p - t) s_i / (c Σ s)``, with ``sign(0) = 0`` as in torch.
    """

    name = "mae"
    _kind = _core.LOSS_MAE


class Huber(Loss):
    r"""Huber loss (torch's ``huber_loss``) with threshold ``delta > 0``.

    ``h(d) = d²/2`` for ``|d| <= delta``, else ``delta (|d| - delta/2)``; ``l_i = (1/c) Σ_j h``;
    gradient ``clip(p - t, -delta, delta) s_i / (c Σ s)``.
    """

    name = "huber"
    _kind = _core.LOSS_HUBER

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = _validation.real("delta", delta, low=0.0, low_open=True)

    def _c_spec(self):
        return _core.LossSpec(self._kind, delta=self.delta)

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


class Poisson(Loss):
    r"""Poisson negative log-likelihood with a log link (torch's ``poisson_nll_loss`` with
    ``log_input=True, full=False``): the network predicts ``z = log(rate)`` and
    ``l_i = (1/c) Σ_j [exp(z_ij) - t_ij z_ij]``; gradient ``(exp(z) - t) s_i / (c Σ s)``.

    Targets are counts or any non-negative values; :meth:`link` gives the rate ``exp(z)``. The
    half Poisson deviance ``t log(t/μ) - t + μ`` (scikit-learn's ``loss="poisson"``) is this loss
    plus ``t log t - t``, a constant of the data.
    """

    name = "poisson"
    _kind = _core.LOSS_POISSON

    _target_name = "Poisson loss"
    _target_range = (0.0, math.inf, ">= 0 (a count or rate)")

    def link(self, pred):
        """The predicted rate ``exp(pred)``."""
        return np.exp(np.asarray(pred))


_REGISTRY = {
    "softmax_cross_entropy": SoftmaxCrossEntropy,
    "cross_entropy": SoftmaxCrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy,
    "bce": BinaryCrossEntropy,
    "mse": MSE,
    "mae": MAE,
    "huber": Huber,
    "poisson": Poisson,
    # Keras' names. Every fastgd loss takes the network's raw output: the cross-entropies
    # are Keras' with from_logits=True, so the last layer has no softmax/sigmoid.
    "categorical_crossentropy": SoftmaxCrossEntropy,
    "sparse_categorical_crossentropy": SoftmaxCrossEntropy,
    "binary_crossentropy": BinaryCrossEntropy,
    "mean_squared_error": MSE,
    "mean_absolute_error": MAE,
}


def get(name_or_loss):
    """A Loss from a name (see below), a Loss class, or a Loss instance (returned as is).

    Names: "softmax_cross_entropy" / "cross_entropy", "binary_cross_entropy" / "bce", "mse",
    "mae", "huber", "poisson", and Keras' "categorical_crossentropy" / "sparse_categorical_crossentropy"
    (both SoftmaxCrossEntropy, which takes labels or one-hot rows), "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error". The cross-entropies take logits (Keras'
    ``from_logits=True``): end the model with an identity layer, not a softmax.
    """
    if isinstance(name_or_loss, Loss):
        return name_or_loss
    if isinstance(name_or_loss, type) and issubclass(name_or_loss, Loss):
        return name_or_loss()
    if isinstance(name_or_loss, str):
        cls = _REGISTRY.get(name_or_loss.lower())
        if cls is None:
            raise ValueError(f"unknown loss {name_or_loss!r}; expected one of {sorted(_REGISTRY)}")
        return cls()
    raise TypeError(f"loss must be a name, a Loss class or a Loss instance, "
                    f"got {_validation.describe(name_or_loss)}")


def from_config(config):
    """Rebuild a loss from ``loss.get_config()``."""
    if not isinstance(config, dict) or "name" not in config:
        raise TypeError(f"config must be a dict with a 'name' key, got {_validation.describe(config)}")
    kwargs = dict(config)
    name = kwargs.pop("name")
    cls = _REGISTRY.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown loss {_validation.shown(name)}; expected one of {sorted(_REGISTRY)}")
    return cls(**kwargs)


# ---- functional forms (also exported by fastgd.ops) ----------------------------------

def _functional(loss, pred, target, sample_weight, reduction, return_grad):
    return_grad = _validation.flag("return_grad", return_grad)
    value, grad = loss._evaluate(pred, target, sample_weight, reduction, want_grad=return_grad)
    return (value, grad) if return_grad else value


def cross_entropy(logits, target, sample_weight=None, *, class_weight=None, label_smoothing=0.0,
                  reduction="mean", return_grad=False):
    """Softmax cross-entropy of ``logits`` (n, c); see :class:`SoftmaxCrossEntropy`.

    ``reduction`` is "mean" or "sum", as in torch: "sum" adds the weighted per-sample losses
    (for the elementwise losses, every weighted element). Returns the loss, or ``(loss, grad)`` with
    ``return_grad=True`` (grad = d loss / d logits, computed in the same C pass).
    """
    loss = SoftmaxCrossEntropy(label_smoothing=label_smoothing, class_weight=class_weight)
    return _functional(loss, logits, target, sample_weight, reduction, return_grad)


def binary_cross_entropy_with_logits(logits, target, sample_weight=None, *, reduction="mean",
                                     return_grad=False):
    """Binary cross-entropy from logits; see :class:`BinaryCrossEntropy` and :func:`cross_entropy`."""
    return _functional(BinaryCrossEntropy(), logits, target, sample_weight, reduction, return_grad)


def mse_loss(pred, target, sample_weight=None, *, reduction="mean", return_grad=False):
    """Mean squared error; see :class:`MSE` and :func:`cross_entropy`."""
    return _functional(MSE(), pred, target, sample_weight, reduction, return_grad)


def l1_loss(pred, target, sample_weight=None, *, reduction="mean", return_grad=False):
    """Mean absolute error; see :class:`MAE` and :func:`cross_entropy`."""
    return _functional(MAE(), pred, target, sample_weight, reduction, return_grad)


def huber_loss(pred, target, sample_weight=None, *, delta=1.0, reduction="mean", return_grad=False):
    """Huber loss; see :class:`Huber` and :func:`cross_entropy`."""
    return _functional(Huber(delta=delta), pred, target, sample_weight, reduction, return_grad)


def poisson_nll_loss(pred, target, sample_weight=None, *, reduction="mean", return_grad=False):
    """Poisson negative log-likelihood of log-rates ``pred``; see :class:`Poisson` and :func:`cross_entropy`."""
    return _functional(Poisson(), pred, target, sample_weight, reduction, return_grad)
