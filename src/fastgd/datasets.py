"""Small data sets generated on the spot (no download) and a train/test split."""

import sys as _sys
from typing import Any as _Any

import numpy as _np
from numpy.typing import DTypeLike as _DTypeLike

from fastgd import _validation
from fastgd.nn.layers import MAX_WIDTH as _MAX_WIDTH

# Private imports: dir(fastgd.datasets) lists only what it offers.
__all__ = ["make_spirals", "train_test_split"]


def make_spirals(n_samples: int = 3000, n_classes: int = 3, *, noise: float = 0.2, n_turns: float = 1.5,
                 n_features: int = 2, dtype: _DTypeLike = "float32",
                 seed: int | None = None) -> tuple[_np.ndarray, _np.ndarray]:
    """Interleaved spiral arms, one class per arm: a classic data set that a linear model
    cannot separate and a small MLP can.

    Returns ``(X, y)``: X (n_samples, n_features) where the first two columns are the spiral's
    coordinates and any further columns are pure noise features; y int64 class labels.
    """
    for name, v, lo in (("n_samples", n_samples, 1), ("n_features", n_features, 2)):
        _validation.integer(name, v, lo)
    # one class per output of the model that learns them: past its widest layer none could (and a
    # count past int64 raised NumPy's bare OverflowError)
    _validation.integer("n_classes", n_classes, 2, maximum=_MAX_WIDTH)
    # the noise's spread must keep X finite in float32 (1e37 made coordinates infinite, silently)
    _validation.real("noise", noise, low=0.0, high=1e6)
    # the arms' angle must stay finite (1e308 turns overflowed it, NaN went into X unnoticed);
    # negative turns wind the other way, 0 gives straight arms
    _validation.real("n_turns", n_turns, low=-1e6, high=1e6)
    dtype = _validation.float_dtype(dtype)  # an integer dtype truncated every coordinate to 0
    seed = _validation.integer("seed", seed, 0, allow_none=True)
    X = _validation.allocate("n_samples x n_features", (n_samples, n_features))
    rng = _np.random.default_rng(seed)
    y = _np.arange(n_samples, dtype=_np.int64) % n_classes
    rng.shuffle(y)
    r = rng.uniform(0.05, 1.0, size=n_samples)
    theta = r * n_turns * 2 * _np.pi + y * (2 * _np.pi / n_classes)
    X[:, 0] = r * _np.cos(theta)
    X[:, 1] = r * _np.sin(theta)
    X[:, :2] += rng.normal(0.0, noise * 0.1, size=(n_samples, 2))
    if n_features > 2:
        X[:, 2:] = rng.normal(0.0, 0.5, size=(n_samples, n_features - 2))
    return X.astype(dtype), y


def _samples(i, a):
    """``arrays[i]`` as an array of samples: a SciPy sparse matrix or array as CSR (its rows are
    split as fit reads them), anything else as a NumPy array of at least one dimension."""
    scipy_sparse = _sys.modules.get("scipy.sparse")
    if scipy_sparse is not None and scipy_sparse.issparse(a):
        return a.tocsr()
    try:
        arr = _np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"arrays[{i}] is not an array of samples: {exc}") from None
    if arr.ndim == 0:
        raise ValueError(f"arrays[{i}] must have a first dimension of samples, got {_validation.describe(arr)}")
    return arr


def train_test_split(*arrays: _Any, test_size: float = 0.25, seed: int | None = None) -> list[_Any]:
    """Split arrays (same first dimension) into a random train and test part:
    ``X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0)``.
    NumPy arrays and anything NumPy converts give NumPy arrays, SciPy sparse matrices or arrays
    CSR ones."""
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    arrays = tuple(_samples(i, a) for i, a in enumerate(arrays))
    n = arrays[0].shape[0]
    for i, a in enumerate(arrays):
        if a.shape[0] != n:
            raise ValueError(f"arrays[{i}] has {a.shape[0]} rows, arrays[0] has {n}")
    _validation.real("test_size", test_size, low=0.0, low_open=True, high=1.0, high_open=True)
    seed = _validation.integer("seed", seed, 0, allow_none=True)
    n_test = max(1, int(round(n * test_size)))
    if n_test >= n:
        raise ValueError(f"test_size={test_size} leaves no training samples out of {n}")
    perm = _np.random.default_rng(seed).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    out = []
    for a in arrays:
        out += [a[train], a[test]]
    return out
