# Argument checks shared by every binding. Each raises TypeError (wrong kind or
# dtype) or ValueError (wrong shape, layout or value) with a message that names
# the argument, what was expected and what came.

import math
import numbers

from numpy.lib.array_utils import byte_bounds as _byte_bounds

from fastgd import _validation

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(obj):
    if isinstance(obj, np.ndarray):
        return f"array of dtype {obj.dtype} and shape {obj.shape}"
    return type(obj).__name__


cdef cnp.ndarray check_float_array(str name, object a, int ndim, bint writeable=False):
    """`a` itself (never a copy): a C-contiguous float32/float64 array of `ndim` dims."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of float32 or float64, got {_describe(a)}")
    arr = a  # Python-level attribute access: shape and strides as tuples
    if arr.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {arr.ndim}-D array of shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(
            f"{name} must be C-contiguous (an in-place update of a copy would be lost); "
            f"got strides {arr.strides} for shape {arr.shape}; pass np.ascontiguousarray({name})")
    if not cnp.PyArray_ISALIGNED(<cnp.ndarray>a):
        raise ValueError(f"{name} must be aligned to its {arr.dtype.itemsize}-byte elements (got data at "
                         f"address {arr.ctypes.data:#x}); pass a copy, e.g. {name}.copy()")
    if writeable and not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; the update writes to it in place")
    return <cnp.ndarray>a


cdef object readable(object a):
    """`a` (a float or integer ndarray) itself when a kernel may read it as it is: C-contiguous,
    aligned and in the machine's byte order (a big-endian dtype has the type number of the
    native one, and a load off its elements' alignment is undefined behaviour in C); else a copy
    that is (_validation.c_array, after this test in C)."""
    if cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a) and cnp.PyArray_ISBEHAVED_RO(<cnp.ndarray>a):
        return a
    return _validation.c_array(a, a.dtype)


cdef bint overlap(object a, object b):
    """Whether the memory spans of two arrays intersect (the bounds test of
    numpy.may_share_memory, without its call overhead)."""
    cdef char *a0
    cdef char *a1
    cdef char *b0
    cdef char *b1
    if a is None or b is None:
        return False
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        return np.may_share_memory(a, b)
    bounds_a = _byte_bounds(a) if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a) else None
    bounds_b = _byte_bounds(b) if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>b) else None
    if cnp.PyArray_SIZE(<cnp.ndarray>a) == 0 or cnp.PyArray_SIZE(<cnp.ndarray>b) == 0:
        return False
    if bounds_a is None:
        a0 = <char *>cnp.PyArray_DATA(<cnp.ndarray>a)
        a1 = a0 + cnp.PyArray_NBYTES(<cnp.ndarray>a)
    else:
        a0 = <char *><size_t>bounds_a[0]
        a1 = <char *><size_t>bounds_a[1]
    if bounds_b is None:
        b0 = <char *>cnp.PyArray_DATA(<cnp.ndarray>b)
        b1 = b0 + cnp.PyArray_NBYTES(<cnp.ndarray>b)
    else:
        b0 = <char *><size_t>bounds_b[0]
        b1 = <char *><size_t>bounds_b[1]
    return a0 < b1 and b0 < a1


cdef check_same(str name, object a, str ref_name, object ref):
    """`a` must have the dtype and shape of `ref` and must not overlap it."""
    if a.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {a.dtype}")
    if a.shape != ref.shape:
        raise ValueError(f"{name} must have the shape of {ref_name} {ref.shape}, got {a.shape}")
    if overlap(a, ref):
        raise ValueError(f"{name} and {ref_name} must not share memory")


cdef double check_real(str name, object value) except? -1:
    """A finite Python or NumPy real number as a C double."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    cdef double v = _validation.as_float(value)
    if not math.isfinite(v):
        if isinstance(value, numbers.Integral):  # past float64 (float() raised a bare OverflowError)
            _validation.real(name, value)  # raises, naming it by its size
        raise ValueError(f"{name} must be finite, got {v}")
    return v
