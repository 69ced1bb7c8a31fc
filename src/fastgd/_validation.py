"""Argument checks: one function per concept, each with one rule, used by every public entry point.

The rule for scalars: a value of the wrong type (a string for a count, a bool for a number)
raises :class:`ArgumentTypeError`, a TypeError that is also a ValueError (fastgd's checks raised
one or the other for a wrong type, and code catching either keeps working); a value of the
right type outside its range raises ValueError. Both messages have one form: the argument's
name, what it must be, and what was given.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import reprlib

import numpy as np

__all__ = ["ArgumentTypeError", "shown", "describe", "integer", "as_float", "real", "probability", "flag", "choice",
           "state", "config", "unchanged_if_refused", "vector", "float_dtype", "real_array", "c_array", "finite",
           "samples", "sample_shape", "targets", "sample_weight", "returned_real", "path", "callbacks"]

_FLOAT_DTYPES = ("float32", "float64")

# The most a step or iteration count restored from a state_dict or a file (or a count of steps a
# learning rate is computed from) may hold: the kernels count in int64_t, and from here 2**62 more
# steps still fit.
MAX_RESTORED_COUNT = 2**62


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (see the module docstring)."""


# repr with bounds: reprlib stops at these depths and lengths (a list nested thousands deep made
# repr raise RecursionError, a long one took its time) and answers for a __repr__ that raises.
# Each cut leaves a text longer than the 80 characters shown() prints, so what it prints is repr's.
_REPR = reprlib.Repr()
_REPR.maxlevel = 40
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 40
_REPR.maxdeque = _REPR.maxarray = 40
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 100


def _text(value):
    """repr(value), bounded (see _REPR), or the size of an integer too long to print: Python
    refuses to convert one of more than 4300 digits to text (ValueError), and a few hundred
    digits say nothing more."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value).bit_length() > 256:
        return f"an integer of {int(value).bit_length()} bits"
    return _REPR.repr(value)


def shown(value):
    """What an error message says was given: the value and its type, or only the type when the
    value's repr is long."""
    text = _text(value)
    return f"{text} ({type(value).__name__})" if len(text) <= 80 else f"a {type(value).__name__}"


def describe(obj):
    """What an error message says a value is: an array's dtype and shape, else its type."""
    if isinstance(obj, np.ndarray):
        return f"array of dtype {obj.dtype} and shape {obj.shape}"
    return type(obj).__name__


def integer(name, value, minimum=None, *, maximum=None, allow_none=False):
    """``value`` as an int: a Python or NumPy integer (not a bool) in [minimum, maximum]; None
    passes through with ``allow_none``."""
    if value is None and allow_none:
        return None
    if minimum is not None and maximum is not None:
        expected = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    else:
        expected = "an integer" if maximum is None else f"an integer <= {maximum}"
    if allow_none:
        expected += " or None"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be {expected}, got {shown(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}, got {_text(value)}")
    return int(value)


def _interval(low, low_open, high, high_open):
    low, high = (f"{b:g}" if isinstance(b, float) else b for b in (low, high))
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high}"
    return "a finite number"


def as_float(value):
    """float(value), an integer past the float64 range being infinite (its sign kept) as it is in
    floating point: float() raises OverflowError for it, which names nothing."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def real(name, value, *, low=None, low_open=False, high=None, high_open=False, allow_none=False,
         allow_inf=False):
    """``value`` as a float: a finite real number (not a bool) in the interval from ``low`` to
    ``high`` (each bound closed unless ``*_open``; None: unbounded); None passes through with
    ``allow_none``, and a floating-point +inf with ``allow_inf`` (for a bound that may be absent;
    an integer past the float range is still refused: it names no intent)."""
    if value is None and allow_none:
        return None
    expected = _interval(low, low_open, high, high_open)
    if allow_inf:
        expected += " or inf"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be {expected}, got {shown(value)}")
    v = as_float(value)
    if allow_inf and v == math.inf and isinstance(value, (float, np.floating)):
        return v
    if not (math.isfinite(v)
            and (low is None or (v > low if low_open else v >= low))
            and (high is None or (v < high if high_open else v <= high))):
        raise ValueError(f"{name} must be {expected}, got {_text(value)}")
    return v


def probability(name, value):
    """``value`` as a float in [0, 1): a fraction that must leave something over (a validation
    split, label smoothing, a leaky slope)."""
    return real(name, value, low=0.0, high=1.0, high_open=True)


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def flag(name, value):
    """``value`` as a bool: only a Python or NumPy bool."""
    if not _is_bool(value):
        raise ArgumentTypeError(f"{name} must be a bool, got {shown(value)}")
    return bool(value)


def choice(name, value, options):
    """The option of ``options`` that ``value`` equals, else ValueError listing them. As for
    :func:`flag`, a bool option is met only by a bool (True or a NumPy bool, not 1), and a bool
    meets no other option; a value of a type none of the options has (0 where the options are
    strings, bools and None) raises :class:`ArgumentTypeError`."""
    for option in options:
        if _is_bool(option) != _is_bool(value) or isinstance(value, np.ndarray):
            continue
        try:
            if value == option:
                return option
        except (TypeError, ValueError):  # an array compared with a string, and the like
            pass
    texts = [repr(o) for o in options]
    alternatives = texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"
    if _is_bool(value):
        same_kind = any(_is_bool(o) for o in options)
    else:
        same_kind = any(isinstance(value, type(o)) for o in options if not _is_bool(o))
    error = ValueError if same_kind else ArgumentTypeError
    raise error(f"{name} must be {alternatives}, got {shown(value)}")


def state(name, value, keys):
    """``value`` if it is a dict holding every key of ``keys`` (what a ``state_dict()`` returned),
    else TypeError (not a dict) or ValueError naming the missing keys."""
    return _keyed(name, value, "(what state_dict() returns)", keys)


def config(name, value, what, required, optional=None):
    """``value`` if it is a dict (a ``get_config()`` description, ``what``) holding every key of
    ``required`` and, unless ``optional`` is None (any other key passes), no key but those and
    ``optional``; else TypeError (not a dict) or ValueError naming the missing or unknown keys."""
    return _keyed(name, value, what, required, None if optional is None else tuple(required) + tuple(optional))


def _keyed(name, value, what, required, allowed=None):
    if not isinstance(value, dict):
        raise ArgumentTypeError(f"{name} must be a dict {what}, got {shown(value)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ValueError(f"{name} lacks the key(s) {', '.join(map(repr, missing))}")
    unknown = [] if allowed is None else [k for k in value if k not in allowed]
    if unknown:
        raise ValueError(f"{name} has the unknown key(s) {', '.join(map(repr, unknown))}; it may hold "
                         f"{', '.join(map(repr, allowed))}")
    return value


@contextlib.contextmanager
def unchanged_if_refused(obj):
    """Put back ``obj``'s attributes as they were when the block raises: a refused
    ``load_state_dict`` leaves its target as it was. The block must rebind the attributes it
    changes, not change their values in place (the copy of ``obj.__dict__`` is shallow)."""
    saved = dict(obj.__dict__)
    try:
        yield
    except BaseException:
        obj.__dict__.clear()
        obj.__dict__.update(saved)
        raise


def vector(name, value, n, dtype):
    """``value`` as a C-contiguous 1-D array of ``n`` finite real numbers of ``dtype`` (a copy,
    in the machine's byte order)."""
    arr = real_array(name, value)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    with np.errstate(over="ignore"):  # past the range of dtype: infinite, named by finite
        out = np.array(arr, dtype=np.dtype(dtype).newbyteorder("="))
    finite(name, out, arr)
    return out


def float_dtype(dtype, name="dtype"):
    """``dtype`` as a NumPy dtype, float32 or float64 (anything ``np.dtype`` reads as one)."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, RecursionError):  # (a nested list is read as fields, level by level)
        dt = None
    if dt is None or dt.name not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be 'float32' or 'float64', got {shown(dtype)}")
    return dt


def real_array(name, value, dtype=None):
    """``value`` as an ndarray of a real (bool, integer or float) dtype, else TypeError; with
    ``dtype``, in that dtype (``value`` itself when it already is one: callers that write to the
    result copy it). An ndarray subclass is read as its plain array, as NumPy converts it (a masked
    array's data, whose mask the arithmetic of a subclass would otherwise honour in some places
    and not others)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got {describe(arr)}")
    return arr if dtype is None else arr.astype(dtype, copy=False)


def c_array(value, dtype):
    """``value`` as an array of ``dtype`` that the C kernels may read as it is: C-contiguous,
    aligned and in the machine's byte order (no copy when it already is one). NumPy's
    ``ascontiguousarray`` keeps a view that starts off its elements' alignment (a kernel's loads
    from it are undefined behaviour in C), and a big-endian dtype compares unequal to the
    native one but has the same type number, which the bindings check. A value past the range
    of ``dtype`` becomes infinite without NumPy's overflow warning: the callers' finite checks
    name it (:func:`finite` with ``given``), which a warning turned into an error would hide."""
    dtype = np.dtype(dtype)
    native = dtype if dtype.isnative else dtype.newbyteorder("=")
    if isinstance(value, np.ndarray) and value.dtype == native:
        arr = value  # no conversion: no errstate, whose entry and exit cost more than this whole call
    elif isinstance(value, np.ndarray) and (value.dtype.kind in "biu" or (value.dtype.kind == "f" and
                                                                         value.dtype.itemsize <= native.itemsize)):
        arr = np.asarray(value, dtype=native)  # a cast that cannot overflow (int, or to a wider float)
    else:
        with np.errstate(over="ignore"):
            arr = np.asarray(value, dtype=native)
    if arr.flags.c_contiguous and arr.flags.aligned:
        return arr
    return np.array(arr, order="C")


def finite(name, arr, given=None):
    """Raise ValueError naming the first NaN or infinity of a float array. With ``given``, the
    array (of arr's shape) that ``arr`` was converted from: an entry finite there is named as
    past the range of arr's dtype (1e300 in float32), not as the infinity it became."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0]
        if given is not None:
            was = np.asarray(given).reshape(-1)[bad]
            if np.isfinite(was):
                raise ValueError(f"{name} must be finite in {arr.dtype}, got {was} at flat index {bad}, past its "
                                 f"range (at most {np.finfo(arr.dtype).max:.4g} in magnitude)")
        raise ValueError(f"{name} must be finite, got {arr.reshape(-1)[bad]} at flat index {bad}")


def samples(name, x, n_features):
    """Check the shape and element type of an input ``x`` of samples without reading its
    elements: real numbers, 2-D (n_samples, n_features), at least one row."""
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {x.dtype}")
    if x.ndim != 2:
        hint = " (use x.reshape(-1, 1) for one feature or x.reshape(1, -1) for one sample)" if x.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, {n_features}), got shape {x.shape}{hint}")
    return sample_shape(name, x, n_features)


def sample_shape(name, x, n_features):
    """Check that a 2-D input ``x`` (dense or sparse) has n_features columns and a row."""
    if x.shape[1] != n_features:
        raise ValueError(f"{name} has {x.shape[1]} features per sample, the model expects {n_features}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: got 0 samples of shape {x.shape}")
    return x


def targets(y, n, loss, n_outputs, dtype):
    """``y`` checked to hold one entry per sample (n) and prepared for ``loss``: the pair
    ``Loss.prepare_target`` returns (the loss checks what it accepts)."""
    y_arr = y if isinstance(y, np.ndarray) else np.asarray(y)
    if y_arr.ndim == 0 or y_arr.shape[0] != n:
        raise ValueError(f"y must have one entry per sample of x ({n}), got shape {y_arr.shape}")
    return loss.prepare_target(y_arr, n_outputs, dtype)


def sample_weight(weights, n, dtype, *, positive_sum=False):
    """None, or ``weights`` as a C-contiguous (n,) array of ``dtype``, finite and >= 0: the one
    rule for sample weights across fastgd (losses, metrics, training). ``positive_sum`` also
    refuses all-zero weights, for callers that divide by their sum."""
    if weights is None:
        return None
    given = real_array("sample_weight", weights)
    if given.ndim != 1 or given.shape[0] != n:
        raise ValueError(f"sample_weight must have shape ({n},) (one weight per sample), got {given.shape}")
    sw = c_array(given, dtype)
    finite("sample_weight", sw, given)
    if (sw < 0).any():
        raise ValueError(f"sample_weight must be >= 0, got {sw[sw < 0][0]}")
    # The losses divide by sums of weights: weights summing past the dtype's range, or to a
    # positive sum below its smallest normal number (1/sum overflows), made the loss infinite
    # (a DivergenceError blaming the learning rate) or NaN. Single tiny weights beside others
    # are fine, as in scikit-learn.
    info = np.finfo(sw.dtype)
    with np.errstate(over="ignore"):  # an infinite sum is refused below, by name
        total = float(sw.sum(dtype=np.float64))
    if total > info.max:
        raise ValueError(f"sample_weight must sum to at most {info.max:.4g} (the largest {sw.dtype}), got a sum of "
                         f"{total:.4g}; scale the weights down (only their ratios matter)")
    if 0 < total < info.tiny:
        raise ValueError(f"sample_weight must sum to 0 or at least {info.tiny:.4g} (the smallest normal {sw.dtype}), "
                         f"got a sum of {total:.4g}; scale the weights up (only their ratios matter)")
    if total == 0 and (given > 0).any():
        raise ValueError(f"sample_weight's positive weights are 0 in {sw.dtype} (they are below its smallest number, "
                         f"{info.smallest_subnormal:.4g}); scale the weights up (only their ratios matter)")
    if positive_sum and not total > 0:
        raise ValueError("sample_weight must not be all zero")
    return sw


def returned_real(who, value):
    """What a user's function ``who`` returned as its value, as a float: a real number, or an
    array holding one (np.sin(x) of a 1-D x of length 1). float() would parse "1.5", drop 1j
    and read a bool (a comparison returned by mistake) as 0 or 1: those raise TypeError."""
    if isinstance(value, float):  # float and NumPy float64: the common case, fast
        return float(value)
    try:
        shape = np.shape(value)
    except ValueError:  # a ragged sequence such as (1.0, [1, 2])
        raise ValueError(f"{who} must return a scalar, got a ragged {type(value).__name__}") from None
    if len(shape) > 1 or math.prod(shape) != 1:
        raise ValueError(f"{who} must return a scalar, got an array of shape {shape}")
    if len(shape) == 1:
        value = np.asarray(value)[0]
    if isinstance(value, (str, bytes, complex, np.complexfloating, bool, np.bool_)):
        raise TypeError(f"{who} must return a real number, got {type(value).__name__}")
    try:
        return as_float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{who} must return a real number, got {type(value).__name__}") from None


def path(name, value):
    """``value`` as a str: a str or an os.PathLike of str, else TypeError naming ``name`` (os.fspath's
    own "expected str, bytes or os.PathLike object, not int" names no argument)."""
    fspath = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(fspath, str):
        raise ArgumentTypeError(f"{name} must be a str or os.PathLike of str, got {type(value).__name__}")
    if "\0" in fspath:  # the system's own error, "embedded null byte", names no argument
        raise ValueError(f"{name} must not contain a NUL character (no file name can), got {shown(fspath)}")
    return fspath


def callbacks(items):
    """``items`` as a list of fastgd.callbacks.Callback instances (None: none, as in Keras)."""
    from fastgd.training.callbacks import Callback

    if items is None:
        return []
    if isinstance(items, Callback):
        raise ArgumentTypeError(f"callbacks must be a list of Callback objects, got one {type(items).__name__}: "
                                "pass it in a list")
    try:
        out = list(items)
    except TypeError:
        raise ArgumentTypeError(f"callbacks must be a list of Callback objects, got {shown(items)}") from None
    for cb in out:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must hold fastgd.callbacks.Callback objects, got {type(cb).__name__}")
    return out


def allocate(name, shape, dtype=np.float64):
    """A new uninitialized array of ``shape``, or ValueError naming ``name`` (the argument that
    sized it) and the bytes it needs when this process cannot have them; NumPy's own MemoryError
    or "array is too big" would name neither."""
    dtype = np.dtype(dtype)
    try:
        return np.empty(shape, dtype)
    except (MemoryError, ValueError):
        nbytes = math.prod(shape) * dtype.itemsize
        raise ValueError(f"{name}: an array of shape {tuple(shape)} ({nbytes:,} bytes) is more than this "
                         "process can allocate") from None
