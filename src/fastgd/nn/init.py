"""Weight initializers for dense layers.

An initializer is a name or a callable ``init(rng, fan_in, fan_out, dtype) -> ndarray`` of shape
``(fan_in, fan_out)``. The names:

=================  ===============================================  ============================
name               distribution                                     use with
=================  ===============================================  ============================
``he_normal``      N(0, 2/fan_in)                                   relu, leaky_relu, softplus
``he_uniform``     U(-a, a), a = sqrt(6/fan_in)                     relu, leaky_relu, softplus
``glorot_uniform`` U(-a, a), a = sqrt(6/(fan_in+fan_out))           tanh, sigmoid, identity
``glorot_normal``  N(0, 2/(fan_in+fan_out))                         tanh, sigmoid, identity
``lecun_normal``   N(0, 1/fan_in)                                   selu (self-normalizing nets)
``lecun_uniform``  U(-a, a), a = sqrt(3/fan_in)                     selu
``normal``         N(0, std²) (``normal(std)``; std 0.05 by name)   small random weights
``zeros``          all zero (only sensible for a single layer)      linear / logistic regression
=================  ===============================================  ============================
"""

from __future__ import annotations

import math

import numpy as np

from fastgd import _validation

__all__ = ["get", "normal", "INITIALIZERS"]


def _he_normal(rng, fan_in, fan_out, dtype):
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out)).astype(dtype)


def _he_uniform(rng, fan_in, fan_out, dtype):
    a = math.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=(fan_in, fan_out)).astype(dtype)


def _glorot_uniform(rng, fan_in, fan_out, dtype):
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out)).astype(dtype)


def _glorot_normal(rng, fan_in, fan_out, dtype):
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out)).astype(dtype)


def _lecun_normal(rng, fan_in, fan_out, dtype):
    return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=(fan_in, fan_out)).astype(dtype)


def _lecun_uniform(rng, fan_in, fan_out, dtype):
    a = math.sqrt(3.0 / fan_in)
    return rng.uniform(-a, a, size=(fan_in, fan_out)).astype(dtype)


def _zeros(rng, fan_in, fan_out, dtype):
    return np.zeros((fan_in, fan_out), dtype=dtype)


class normal:
    """N(0, std²) initializer: ``Dense(..., weight_init=fastgd.init.normal(0.01))``."""

    def __init__(self, std=0.05):
        self.std = _validation.real("std", std, low=0.0)

    def __call__(self, rng, fan_in, fan_out, dtype):
        return rng.normal(0.0, self.std, size=(fan_in, fan_out)).astype(dtype)

    def __repr__(self):
        return f"normal({self.std})"


INITIALIZERS = {
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "lecun_normal": _lecun_normal,
    "lecun_uniform": _lecun_uniform,
    "normal": normal(0.05),
    "zeros": _zeros,
}


def get(init):
    """The initializer callable for a name or callable; raises ValueError for unknown names."""
    if isinstance(init, str):
        try:
            return INITIALIZERS[init]
        except KeyError:
            raise ValueError(f"weight_init must be one of {sorted(INITIALIZERS)} or a callable, got {init!r}") from None
    if callable(init):
        return init
    raise TypeError(f"weight_init must be a name or a callable, got {type(init).__name__}")


def to_config(init):
    """A JSON-able description of a name or a ``normal`` instance (None for other callables)."""
    if isinstance(init, str):
        return init
    if isinstance(init, normal):
        return {"normal": init.std}
    return None


def from_config(cfg):
    if isinstance(cfg, dict) and "normal" in cfg:
        return normal(cfg["normal"])
    if cfg is None:
        return "zeros"
    return cfg
