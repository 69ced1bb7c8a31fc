"""Layers. fastgd's networks are stacks of dense (fully connected) layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from fastgd import _core, _validation
from fastgd.nn import init as _init

if TYPE_CHECKING:
    from fastgd.nn.model import Sequential

__all__ = ["Dense", "ACTIVATIONS"]

# The activation names, read from the C registry (src/kernels/registry/activations.h): a
# name's position is its enum fg_activation value.
ACTIVATIONS = _core.ACTIVATIONS

# The largest layer width and parameter count a model may have (and a saved file may declare):
# a size past them is a mistake or a hostile file, refused by name before anything is allocated.
MAX_WIDTH = 1 << 24
MAX_PARAMS = 1 << 32

# Spellings users bring from Keras and PyTorch for the identity.
_ACTIVATION_ALIASES = {None: "identity", "linear": "identity"}


def copy_into(name, target, value):
    """Copy ``value`` into ``target``, an array of a model's buffers that the C engine reads (so
    rebinding the name would leave the model computing with the old values): real numbers of
    exactly ``target``'s shape, with no broadcasting, finite in ``target``'s dtype (as
    ``set_weights`` requires: a NaN, or 1e300 in a float32 model, made every output NaN or inf)."""
    arr = _validation.real_array(name, value)
    if arr.shape != target.shape:
        raise ValueError(f"{name} must have shape {target.shape}, got {arr.shape}")
    with np.errstate(over="ignore"):
        converted = np.asarray(arr, dtype=target.dtype)
    _validation.finite(name, converted, arr)
    arr = converted
    target[...] = arr


def _buffer_view(name):
    """The property for a layer's W, b, dW or db: a view of its model's flat buffer, None until
    the layer joins a Sequential; assigning copies into the view (:func:`copy_into`)."""
    attr = "_" + name

    def get(self):
        return getattr(self, attr)

    def set_(self, value):
        view = getattr(self, attr)
        if view is None:
            raise ValueError(f"{name} exists once the layer belongs to a Sequential")
        copy_into(name, view, value)

    return property(get, set_, doc=f"{name}: a view of the model's flat buffer; assigning copies into it.")


class Dense:
    """A dense layer ``out = act(x @ W + b)`` with W of shape (in_features, out_features).

    Parameters
    ----------
    in_features, out_features : int
    activation : {"identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu", \
"gelu_tanh", "silu", "selu", "mish"}
        ``None`` and ``"linear"`` (Keras' spellings) mean ``"identity"``. ``leaky_relu`` is
        ``max(z, 0) + negative_slope * min(z, 0)``; softplus is ``log(1 + e^z)``; elu is ``z`` for
        z > 0 and ``e^z - 1`` below (``torch.nn.ELU()``, alpha 1); gelu is ``z Φ(z)`` with Φ the
        standard normal CDF (``torch.nn.GELU()``), gelu_tanh its tanh approximation
        (``torch.nn.GELU(approximate="tanh")``), silu is ``z σ(z)`` (``torch.nn.SiLU()``, "swish"),
        selu is ``scale * z`` for z > 0 and ``scale * alpha * (e^z - 1)`` below with PyTorch's
        alpha 1.6732632423543772 and scale 1.0507009873554805 (``torch.nn.SELU()``), mish is
        ``z tanh(softplus(z))`` (``torch.nn.Mish()``).
    weight_init : str or callable
        See :mod:`fastgd.init` ("he_normal", "he_uniform", "glorot_uniform", "glorot_normal",
        "lecun_normal", "lecun_uniform" (for selu), "normal", "zeros", or ``fastgd.init.normal(std)``).
    bias_init : float
        Constant initial bias: 0, or a small positive value (e.g. 0.01) that keeps ReLU units
        active at the start.
    negative_slope : float
        The slope of ``leaky_relu`` for z < 0, in [0, 1).

    Once the layer is part of a :class:`fastgd.Sequential`, ``W``, ``b``, ``dW`` and ``db`` are
    views into the model's flat parameter and gradient arenas.
    """

    negative_slope: float
    # None until a Sequential takes the layer.
    _model: Sequential | None
    W: np.ndarray | None
    b: np.ndarray | None
    dW: np.ndarray | None
    db: np.ndarray | None

    def __init__(self, in_features: int, out_features: int, *, activation: str | None = "relu",
                 weight_init: str | Callable[..., Any] = "he_normal", bias_init: float = 0.0,
                 negative_slope: float = 0.01) -> None:
        self.in_features = _validation.integer("in_features", in_features, 1)
        self.out_features = _validation.integer("out_features", out_features, 1)
        for name in ("in_features", "out_features"):
            if getattr(self, name) > MAX_WIDTH:
                raise ValueError(f"{name} must be at most {MAX_WIDTH:,}, got {getattr(self, name):,}")
        if self.n_params > MAX_PARAMS:
            raise ValueError(f"in_features x out_features must be at most {MAX_PARAMS:,} parameters, got "
                             f"{self.in_features:,} x {self.out_features:,}")
        if activation is None or isinstance(activation, str) and activation in _ACTIVATION_ALIASES:
            activation = _ACTIVATION_ALIASES[activation]
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} (or None / 'linear' for 'identity'), "
                             f"got {_validation.shown(activation)}")
        self.activation = activation
        _init.get(weight_init)  # validates
        self.weight_init = weight_init
        self.bias_init = _validation.real("bias_init", bias_init)
        self.negative_slope = _validation.probability("negative_slope", negative_slope)
        self._W = self._b = self._dW = self._db = None
        self._model = None

    # What the model's buffers and kernels were laid out for when it took the layer.
    _LAYOUT = ("in_features", "out_features", "activation", "negative_slope")

    def __setattr__(self, name, value):
        if name in self._LAYOUT and self.__dict__.get("_model") is not None:
            raise AttributeError(f"{name} cannot change once the layer belongs to a Sequential (its buffers and "
                                 f"kernels are laid out for {name}={getattr(self, name)!r}); build a new Dense "
                                 "and Sequential")
        object.__setattr__(self, name, value)

    W = _buffer_view("W")
    b = _buffer_view("b")
    dW = _buffer_view("dW")
    db = _buffer_view("db")

    @property
    def n_params(self):
        return self.in_features * self.out_features + self.out_features

    @property
    def activation_id(self):
        return ACTIVATIONS.index(self.activation)

    def get_config(self):
        cfg = {"in_features": self.in_features, "out_features": self.out_features,
               "activation": self.activation, "bias_init": self.bias_init,
               "negative_slope": self.negative_slope}
        wi = _init.to_config(self.weight_init)
        cfg["weight_init"] = wi if wi is not None else "he_normal"
        return cfg

    @classmethod
    def from_config(cls, cfg, name="cfg"):
        """Rebuild a layer from ``get_config()``; ``name`` is what errors call ``cfg``."""
        _validation.config(name, cfg, "(a Dense config)", ("in_features", "out_features"),
                           ("activation", "bias_init", "negative_slope", "weight_init"))
        cfg = dict(cfg)
        cfg["weight_init"] = _init.from_config(cfg.get("weight_init", "he_normal"))
        return cls(cfg.pop("in_features"), cfg.pop("out_features"), **cfg)

    def __repr__(self):
        extra = f", negative_slope={self.negative_slope}" if self.activation == "leaky_relu" else ""
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation!r}{extra})"
