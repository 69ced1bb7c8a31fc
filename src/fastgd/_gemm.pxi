# GEMM and dense layer bindings (fastgd.ops.matmul, dense_forward, dense_backward).

import threading
import time

# Name -> enum fg_activation, from the C registry, plus the aliases the ops accept.
ACTIVATION_CODES = {**{name: code for code, name in enumerate(ACTIVATIONS)},
                    "linear": FG_ACT_IDENTITY, "logistic": ACTIVATIONS.index("sigmoid")}


cdef int activation_code(object activation) except -1:
    """The fg_activation of a name (None means identity)."""
    if activation is None:
        return FG_ACT_IDENTITY
    if not isinstance(activation, str) or activation not in ACTIVATION_CODES:
        raise ValueError(f"activation must be one of {sorted(ACTIVATION_CODES)} or None, got {activation!r}")
    return ACTIVATION_CODES[activation]


# Scratch for the packed GEMM, reused across calls; one per Python thread, since
# the kernels run without the GIL and two threads must not share it.
_workspace_local = threading.local()


cdef char *workspace_pointer(int64_t nbytes) except? NULL:
    """A 64-byte aligned scratch buffer of at least nbytes, owned by this thread."""
    buf = getattr(_workspace_local, "buf", None)
    if buf is None or buf.shape[0] < nbytes + 64:
        buf = np.empty(max(nbytes + 64, 4096), dtype=np.uint8)
        _workspace_local.buf = buf
    cdef char *p = <char *>cnp.PyArray_DATA(buf)
    return p + ((64 - (<size_t>p & 63)) & 63)


def aligned_zeros(int64_t size, dtype):
    """A 1-D zero array of `size` elements of `dtype` whose data starts on a 64-byte boundary
    (a cache line: the flat parameter, gradient and optimizer-state buffers, so that vector loads
    and stores never straddle two lines)."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    dtype = np.dtype(dtype)
    cdef int64_t item = dtype.itemsize
    buf = np.zeros(size + 64 // item + 1, dtype=dtype)
    cdef int64_t off = ((64 - (<size_t>cnp.PyArray_DATA(<cnp.ndarray>buf) & 63)) & 63) // item
    return buf[off:off + size]


cdef inline bint is_float_array(object a):
    return (isinstance(a, np.ndarray) and
            cnp.PyArray_TYPE(<cnp.ndarray>a) in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64))


cdef tuple operand(str name, object a, object dtype):
    """(array, leading dimension, transposed) for a 2-D float operand, without a
    copy when its rows or its columns are evenly strided with unit step."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of float32 or float64, got {_describe(a)}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if not is_float_array(a):
        raise TypeError(f"{name} must have dtype float32 or float64, got {a.dtype}")
    if dtype is not None and cnp.PyArray_TYPE(arr) != cnp.PyArray_TYPE(<cnp.ndarray>dtype):
        raise TypeError(f"{name} must have the dtype of the first operand ({dtype.dtype}), got {a.dtype}")
    if cnp.PyArray_NDIM(arr) != 2:
        raise ValueError(f"{name} must be 2-D, got {a.ndim}-D array of shape {a.shape}")
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(arr)
    cdef Py_ssize_t rows = cnp.PyArray_DIM(arr, 0), cols = cnp.PyArray_DIM(arr, 1)
    cdef Py_ssize_t s0 = cnp.PyArray_STRIDE(arr, 0), s1 = cnp.PyArray_STRIDE(arr, 1)
    if cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISBEHAVED_RO(arr):
        return readable(a), max(cols, 1), False
    if s1 == item and s0 > 0 and s0 % item == 0 and s0 // item >= cols:
        return a, s0 // item, False
    if s0 == item and s1 > 0 and s1 % item == 0 and s1 // item >= rows:
        return a.T, s1 // item, True  # a.T has unit column stride: pass it transposed
    return np.ascontiguousarray(a), max(cols, 1), False


cdef int64_t output(str name, object out, int64_t rows, int64_t cols, object like, tuple inputs,
                    bint contiguous) except -1:
    """Leading dimension of a caller-supplied (rows, cols) output array of like's dtype."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(out)}")
    cdef cnp.ndarray o = <cnp.ndarray>out
    if cnp.PyArray_TYPE(o) != cnp.PyArray_TYPE(<cnp.ndarray>like):
        raise TypeError(f"{name} must have dtype {like.dtype}, got {out.dtype}")
    if cnp.PyArray_NDIM(o) != 2 or cnp.PyArray_DIM(o, 0) != rows or cnp.PyArray_DIM(o, 1) != cols:
        raise ValueError(f"{name} must have shape {(rows, cols)}, got {out.shape}")
    if not cnp.PyArray_ISWRITEABLE(o):
        raise ValueError(f"{name} is read-only")
    for other_name, other in inputs:
        if overlap(out, other):
            raise ValueError(f"{name} must not share memory with {other_name}")
    if not cnp.PyArray_ISBEHAVED_RO(o):
        raise ValueError(f"{name} must be aligned to its {out.dtype.itemsize}-byte elements and in the machine's "
                         f"byte order (the kernel writes to it in place), got dtype {out.dtype.str} at address "
                         f"{out.ctypes.data:#x}")
    if cnp.PyArray_IS_C_CONTIGUOUS(o):
        return max(cols, 1)
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(o), s0 = cnp.PyArray_STRIDE(o, 0)
    if (not contiguous and cnp.PyArray_STRIDE(o, 1) == item and s0 > 0 and s0 % item == 0
            and s0 // item >= cols):
        return s0 // item
    raise ValueError(f"{name} must be C-contiguous{'' if contiguous else ' (or have contiguous rows)'}; "
                     f"got strides {out.strides} for shape {out.shape}")


cdef object check_vector(str name, object v, int64_t size, object like):
    if not isinstance(v, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(v)}")
    if cnp.PyArray_TYPE(<cnp.ndarray>v) != cnp.PyArray_TYPE(<cnp.ndarray>like):
        raise TypeError(f"{name} must have dtype {like.dtype}, got {v.dtype}")
    if cnp.PyArray_NDIM(<cnp.ndarray>v) != 1 or cnp.PyArray_DIM(<cnp.ndarray>v, 0) != size:
        raise ValueError(f"{name} must have shape ({size},), got {v.shape}")
    return readable(v)


cdef void run_gemm(object C, int64_t ldc, object A, int64_t lda, int ta, object B, int64_t ldb, int tb,
                   int64_t m, int64_t n, int64_t k, double beta, object bias, int act, double alpha,
                   int threads_for_workspace) except *:
    """One fg_gemm call on validated arrays. threads_for_workspace = 0 passes no
    workspace (the kernel then runs its unpacked path)."""
    cdef int f32 = cnp.PyArray_TYPE(<cnp.ndarray>C) == cnp.NPY_FLOAT32
    cdef int64_t nbytes = 0
    cdef char *ws = NULL
    if threads_for_workspace != 0:
        nbytes = (fg_gemm_workspace_size_f32(m, n, k, ta, tb, threads_for_workspace) if f32 else
                  fg_gemm_workspace_size_f64(m, n, k, ta, tb, threads_for_workspace))
        ws = workspace_pointer(nbytes)
    cdef void *c = cnp.PyArray_DATA(C)
    cdef const void *a = cnp.PyArray_DATA(A)
    cdef const void *b = cnp.PyArray_DATA(B)
    cdef const void *bp = NULL if bias is None else cnp.PyArray_DATA(bias)
    if f32:
        with nogil:
            fg_gemm_f32(<float *>c, ldc, <const float *>a, lda, ta, <const float *>b, ldb, tb, m, n, k,
                        beta, <const float *>bp, act, alpha, ws, nbytes)
    else:
        with nogil:
            fg_gemm_f64(<double *>c, ldc, <const double *>a, lda, ta, <const double *>b, ldb, tb, m, n, k,
                        beta, <const double *>bp, act, alpha, ws, nbytes)


def matmul(a, b, *, trans_a=False, trans_b=False, out=None, beta=0.0):
    """Matrix product ``out := beta*out + op(a) @ op(b)``, op = transpose when asked.

    Parameters
    ----------
    a : ndarray (m, k), or (k, m) with ``trans_a=True``; float32 or float64
    b : ndarray (k, n), or (n, k) with ``trans_b=True``; same dtype as ``a``
    trans_a, trans_b : bool
        Use ``a.T`` / ``b.T`` without copying.
    out : ndarray (m, n) of the same dtype, optional
        Written in place (C-contiguous or with contiguous rows) and returned.
    beta : float
        ``0`` overwrites ``out`` without reading it (it may hold NaN); ``1``
        accumulates into it. Non-zero ``beta`` needs ``out``.

    Non-contiguous operands are read in place when their rows or columns are
    evenly strided, else copied. Runs fastgd's packed GEMM in C with the GIL
    released, on :func:`fastgd.get_num_threads` threads; the result does not
    depend on the thread count.
    """
    A, lda, flip_a = operand("a", a, None)
    B, ldb, flip_b = operand("b", b, a)
    cdef int ta = bool(trans_a) != flip_a
    cdef int tb = bool(trans_b) != flip_b
    cdef int64_t ma, ka, kb, nb
    cdef cnp.ndarray a_ = <cnp.ndarray>a, b_ = <cnp.ndarray>b
    ma, ka = cnp.PyArray_DIM(a_, 0), cnp.PyArray_DIM(a_, 1)
    if trans_a:
        ma, ka = ka, ma
    kb, nb = cnp.PyArray_DIM(b_, 0), cnp.PyArray_DIM(b_, 1)
    if trans_b:
        kb, nb = nb, kb
    if ka != kb:
        raise ValueError(f"matmul: op(a) has shape {(ma, ka)} and op(b) {(kb, nb)}; inner dimensions "
                         f"{ka} and {kb} differ")
    cdef double beta_ = 0.0 if beta is 0.0 else check_real("beta", beta)
    cdef int64_t ldc
    if out is None:
        if beta_ != 0.0:
            raise ValueError(f"beta={beta_} accumulates into out, so out must be given")
        out = cnp.PyArray_EMPTY(2, [ma, nb], cnp.PyArray_TYPE(a_), 0)
        ldc = max(nb, 1)
    else:
        ldc = output("out", out, ma, nb, a, (("a", a), ("b", b)), False)
    run_gemm(out, ldc, A, lda, ta, B, ldb, tb, ma, nb, ka, beta_, None, FG_ACT_IDENTITY, 0.0,
             fg_get_num_threads())
    return out


def gemm(C, A, B, bint trans_a=False, bint trans_b=False, double beta=0.0, bias=None,
         activation=None, double alpha=0.01, int workspace_threads=-1):
    """Low-level fg_gemm on C-contiguous arrays, in place in C (tests and benchmarks).

    ``C := act(beta*C + op(A)·op(B) + bias)``. workspace_threads: threads the
    workspace is sized for (-1: the current thread count; 0: no workspace,
    which forces the unpacked path)."""
    cdef cnp.ndarray c_ = check_float_array("C", C, 2, writeable=True)
    cdef cnp.ndarray a_ = check_float_array("A", A, 2)
    cdef cnp.ndarray b_ = check_float_array("B", B, 2)
    if a_.dtype != c_.dtype or b_.dtype != c_.dtype:
        raise TypeError(f"A, B and C must share a dtype, got {a_.dtype}, {b_.dtype}, {c_.dtype}")
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    if (A.shape[1] if trans_a else A.shape[0]) != m or (B.shape[1] if trans_b else B.shape[0]) != k or \
            (B.shape[0] if trans_b else B.shape[1]) != n:
        raise ValueError(f"shapes do not chain: C {C.shape}, A {A.shape} (trans_a={trans_a}), "
                         f"B {B.shape} (trans_b={trans_b})")
    if bias is not None:
        bias = check_vector("bias", bias, n, c_)
    cdef int act = activation_code(activation)
    threads = fg_get_num_threads() if workspace_threads < 0 else workspace_threads
    run_gemm(C, max(n, 1), A, max(A.shape[1], 1), trans_a, B, max(B.shape[1], 1), trans_b, m, n, k,
             beta, bias, act, alpha, threads)
    return C


def gemm_ref(C, A, B, bint trans_a=False, bint trans_b=False, double beta=0.0, bias=None,
             activation=None, double alpha=0.01):
    """The reference twin of :func:`gemm` (plain loops, gemm_ref.c), in place in C."""
    cdef cnp.ndarray c_ = check_float_array("C", C, 2, writeable=True)
    cdef cnp.ndarray a_ = check_float_array("A", A, 2)
    cdef cnp.ndarray b_ = check_float_array("B", B, 2)
    if a_.dtype != c_.dtype or b_.dtype != c_.dtype:
        raise TypeError(f"A, B and C must share a dtype, got {a_.dtype}, {b_.dtype}, {c_.dtype}")
    cdef int64_t m = C.shape[0], n = C.shape[1]
    cdef int64_t k = A.shape[0] if trans_a else A.shape[1]
    if bias is not None:
        bias = check_vector("bias", bias, n, c_)
    cdef int act = activation_code(activation)
    cdef const void *bp = NULL if bias is None else cnp.PyArray_DATA(bias)
    cdef int64_t lda = max(A.shape[1], 1), ldb = max(B.shape[1], 1), ldc = max(n, 1)
    if c_.dtype == np.float32:
        fg_gemm_ref_f32(<float *>cnp.PyArray_DATA(c_), ldc, <const float *>cnp.PyArray_DATA(a_), lda, trans_a,
                        <const float *>cnp.PyArray_DATA(b_), ldb, trans_b, m, n, k, beta, <const float *>bp,
                        act, alpha)
    else:
        fg_gemm_ref_f64(<double *>cnp.PyArray_DATA(c_), ldc, <const double *>cnp.PyArray_DATA(a_), lda,
                        trans_a, <const double *>cnp.PyArray_DATA(b_), ldb, trans_b, m, n, k, beta,
                        <const double *>bp, act, alpha)
    return C


def gemm_workspace_size(dtype, m, n, k, trans_a=False, trans_b=False, num_threads=1):
    """Bytes of workspace fg_gemm needs (the same on every CPU target)."""
    if np.dtype(dtype) == np.float32:
        return fg_gemm_workspace_size_f32(m, n, k, trans_a, trans_b, num_threads)
    return fg_gemm_workspace_size_f64(m, n, k, trans_a, trans_b, num_threads)


def gemm_block_sizes(dtype):
    """The selected CPU target's GEMM block sizes for dtype: dict of mr, nr (the
    register tile), kc, mc, nc (the cache blocks)."""
    cdef int64_t sizes[5]
    if np.dtype(dtype) == np.float32:
        fg_gemm_block_sizes_f32(sizes)
    else:
        fg_gemm_block_sizes_f64(sizes)
    return dict(zip(("mr", "nr", "kc", "mc", "nc"), [int(s) for s in sizes]))


def dense_workspace_size(dtype, n, k, m, num_threads=1):
    """Bytes of workspace fg_dense_forward / fg_dense_backward need."""
    if np.dtype(dtype) == np.float32:
        return fg_dense_workspace_size_f32(n, k, m, num_threads)
    return fg_dense_workspace_size_f64(n, k, m, num_threads)


cdef tuple dense_inputs(object x, object W):
    """(x, W) as C-contiguous arrays after checking dtypes and shapes."""
    if not is_float_array(x):
        check_float_array("x", x, 2)
    if cnp.PyArray_NDIM(<cnp.ndarray>x) != 2:
        raise ValueError(f"x must be 2-D, got {x.ndim}-D array of shape {x.shape}")
    if not isinstance(W, np.ndarray):
        raise TypeError(f"W must be a numpy.ndarray of {x.dtype}, got {_describe(W)}")
    if cnp.PyArray_TYPE(<cnp.ndarray>W) != cnp.PyArray_TYPE(<cnp.ndarray>x):
        raise TypeError(f"W must have the dtype of x ({x.dtype}), got {W.dtype}")
    if cnp.PyArray_NDIM(<cnp.ndarray>W) != 2 or cnp.PyArray_DIM(<cnp.ndarray>W, 0) != cnp.PyArray_DIM(<cnp.ndarray>x, 1):
        raise ValueError(f"W must have shape (in_features, out_features) = ({x.shape[1]}, m) to match x "
                         f"of shape {x.shape}, got {W.shape}")
    return readable(x), readable(W)


def dense_forward(x, W, b=None, *, activation="relu", alpha=0.01, out=None, pre_activation=None):
    """Dense layer forward pass ``out = act(x @ W + b)`` in one fused GEMM.

    Parameters
    ----------
    x : ndarray (n, k), float32 or float64 -- a batch of n inputs
    W : ndarray (k, m), same dtype -- weights, (in_features, out_features)
    b : ndarray (m,), same dtype, or None -- bias
    activation : one of ``fastgd.ACTIVATIONS`` or None
    alpha : float in [0, 1) -- negative slope of leaky_relu (as ``Dense``'s ``negative_slope``: the
        backward pass reads the slope's side from the sign of ``out``, which a negative slope flips)
    out : ndarray (n, m), same dtype, optional -- written and returned
    pre_activation : ndarray (n, m), same dtype, optional -- receives ``x @ W + b``, which
        :func:`dense_backward` needs for the activations whose derivative is a function of it
        (``fastgd._core.ACTIVATIONS_GRAD_FROM_PRE``: elu, gelu, gelu_tanh, silu, selu, mish)

    Bias and activation are applied to each output tile while it is in cache (in registers
    for identity, relu and leaky_relu); with ``pre_activation`` the activation is one vector
    pass after the GEMM. Non-contiguous inputs are copied.
    """
    x_, W_ = dense_inputs(x, W)
    cdef int64_t n = cnp.PyArray_DIM(<cnp.ndarray>x_, 0), k = cnp.PyArray_DIM(<cnp.ndarray>x_, 1)
    cdef int64_t m = cnp.PyArray_DIM(<cnp.ndarray>W_, 1)
    cdef int act = activation_code(activation)
    cdef double alpha_ = 0.01 if alpha is 0.01 else _validation.probability("alpha", alpha)
    if b is not None:
        b = check_vector("b", b, m, x_)
    if out is None:
        out = cnp.PyArray_EMPTY(2, [n, m], cnp.PyArray_TYPE(<cnp.ndarray>x_), 0)
    else:
        output("out", out, n, m, x_, (("x", x), ("W", W), ("b", b)), True)
    if pre_activation is not None:
        output("pre_activation", pre_activation, n, m, x_, (("x", x), ("W", W), ("b", b), ("out", out)), True)
    C = out
    cdef int f32 = cnp.PyArray_TYPE(<cnp.ndarray>x_) == cnp.NPY_FLOAT32
    cdef int threads = fg_get_num_threads()
    cdef int64_t nbytes = (fg_dense_workspace_size_f32(n, k, m, threads) if f32
                           else fg_dense_workspace_size_f64(n, k, m, threads))
    cdef char *ws = workspace_pointer(nbytes)
    cdef void *o = cnp.PyArray_DATA(C)
    cdef void *zp = NULL if pre_activation is None else cnp.PyArray_DATA(<cnp.ndarray>pre_activation)
    cdef const void *xp = cnp.PyArray_DATA(x_)
    cdef const void *wp = cnp.PyArray_DATA(W_)
    cdef const void *bp = NULL if b is None else cnp.PyArray_DATA(b)
    if f32:
        with nogil:
            fg_dense_forward_f32(<float *>o, <float *>zp, <const float *>xp, <const float *>wp, <const float *>bp,
                                 n, k, m, act, alpha_, ws, nbytes)
    else:
        with nogil:
            fg_dense_forward_f64(<double *>o, <double *>zp, <const double *>xp, <const double *>wp, <const double *>bp,
                                 n, k, m, act, alpha_, ws, nbytes)
    return out


cdef object grad_buffer(str name, object given, int64_t rows, int64_t cols, object like, tuple inputs,
                        bint needed, double beta):
    """The array a gradient goes to: `given` after checks, or a new one.
    rows == -1 means a vector of length cols."""
    if not needed:
        if given is not None:
            raise ValueError(f"{name} was given but is not computed (need_{name}=False)")
        return None
    if given is None:
        if beta != 0.0 and name != "grad_x":
            raise ValueError(f"beta={beta} accumulates into {name}, so {name} must be given")
        if rows < 0:
            return cnp.PyArray_EMPTY(1, [cols], cnp.PyArray_TYPE(<cnp.ndarray>like), 0)
        return cnp.PyArray_EMPTY(2, [rows, cols], cnp.PyArray_TYPE(<cnp.ndarray>like), 0)
    if rows < 0:
        if not isinstance(given, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(given)}")
        if given.ndim != 1 or given.shape[0] != cols:
            raise ValueError(f"{name} must have shape ({cols},), got {given.shape}")
        output(name, given.reshape(1, cols), 1, cols, like, inputs, True)
        return given
    output(name, given, rows, cols, like, inputs, True)
    return given


def dense_backward(grad_out, x, W, out, *, activation="relu", alpha=0.01, beta=0.0,
                   grad_x=None, dW=None, db=None, need_grad_x=True, need_db=True,
                   overwrite_grad_out=False, pre_activation=None):
    """Dense layer backward pass for ``out = act(x @ W + b)``.

    With ``grad_z = grad_out * act'(z)`` (the derivative taken from the forward
    output ``out``, or for the activations in ``fastgd._core.ACTIVATIONS_GRAD_FROM_PRE`` from
    the pre-activation ``z = x @ W + b``, given as ``pre_activation``)::

        dW     := beta*dW + x.T @ grad_z       (k, m)
        db     := beta*db + grad_z.sum(0)      (m,)    if need_db
        grad_x  = grad_z @ W.T                 (n, k)  if need_grad_x

    Parameters
    ----------
    grad_out : ndarray (n, m) -- dL/d out; left untouched unless
        ``overwrite_grad_out=True``, in which case it receives grad_z (no copy).
    x : ndarray (n, k); W : ndarray (k, m); out : ndarray (n, m) -- the forward pass
    activation, alpha : as in :func:`dense_forward`
    beta : float -- 0 overwrites dW/db (never reading them), 1 accumulates
    grad_x, dW, db : optional output arrays, filled in place
    need_grad_x : bool -- False skips grad_x (a first layer)
    need_db : bool -- False skips db (a layer without bias)
    pre_activation : ndarray (n, m) -- the forward pass's ``x @ W + b`` (see
        :func:`dense_forward`): required for the activations in
        ``fastgd._core.ACTIVATIONS_GRAD_FROM_PRE``, refused for the others

    Returns
    -------
    (grad_x or None, dW, db or None)
    """
    x_, W_ = dense_inputs(x, W)
    cdef int64_t n = cnp.PyArray_DIM(<cnp.ndarray>x_, 0), k = cnp.PyArray_DIM(<cnp.ndarray>x_, 1)
    cdef int64_t m = cnp.PyArray_DIM(<cnp.ndarray>W_, 1)
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>x_)
    cdef int act = activation_code(activation)
    cdef bint from_pre = fg_activation_grad_from_pre(act)
    if from_pre and pre_activation is None:
        raise ValueError(f"activation {activation!r} takes its derivative from the pre-activation: pass "
                         "pre_activation (filled by dense_forward(..., pre_activation=...))")
    if not from_pre and pre_activation is not None:
        raise ValueError(f"pre_activation is only read for the activations {ACTIVATIONS_GRAD_FROM_PRE}, "
                         f"not {activation!r} (its derivative is a function of out)")
    arrays = (("grad_out", grad_out), ("out", out)) + ((("pre_activation", pre_activation),) if from_pre else ())
    for name, arr in arrays:
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray of {x_.dtype}, got {_describe(arr)}")
        if cnp.PyArray_TYPE(<cnp.ndarray>arr) != typenum:
            raise TypeError(f"{name} must have the dtype of x ({x_.dtype}), got {arr.dtype}")
        if (cnp.PyArray_NDIM(<cnp.ndarray>arr) != 2 or cnp.PyArray_DIM(<cnp.ndarray>arr, 0) != n
                or cnp.PyArray_DIM(<cnp.ndarray>arr, 1) != m):
            raise ValueError(f"{name} must have shape {(n, m)}, got {arr.shape}")
    cdef double alpha_ = 0.01 if alpha is 0.01 else _validation.probability("alpha", alpha)
    cdef double beta_ = 0.0 if beta is 0.0 else check_real("beta", beta)
    if overwrite_grad_out:
        g = check_float_array("grad_out", grad_out, 2, writeable=True)
        # grad_z is written over grad_out while x, W and out are still being read
        for name, arr in (("x", x), ("W", W)) + arrays[1:]:
            if overlap(g, arr):
                raise ValueError(f"grad_out must not share memory with {name} when overwrite_grad_out=True "
                                 "(the kernel writes grad_z into it)")
    else:
        g = np.array(grad_out, dtype=x_.dtype, order="C")
    out_ = readable(pre_activation if from_pre else out)
    inputs = (("x", x), ("W", W), ("grad_out", grad_out)) + arrays[1:]
    gx = grad_buffer("grad_x", grad_x, n, k, x_, inputs, need_grad_x, beta_)
    dW_ = grad_buffer("dW", dW, k, m, x_, inputs, True, beta_)
    db_ = grad_buffer("db", db, -1, m, x_, inputs, need_db, beta_)
    if overlap(gx, dW_) or overlap(db_, dW_) or overlap(db_, gx):
        raise ValueError("grad_x, dW and db must not share memory")
    cdef int f32 = typenum == cnp.NPY_FLOAT32
    cdef int threads = fg_get_num_threads()
    cdef int64_t nbytes = (fg_dense_workspace_size_f32(n, k, m, threads) if f32
                           else fg_dense_workspace_size_f64(n, k, m, threads))
    cdef char *ws = workspace_pointer(nbytes)
    cdef void *gxp = NULL if gx is None else cnp.PyArray_DATA(gx)
    cdef void *dwp = cnp.PyArray_DATA(dW_)
    cdef void *dbp = NULL if db_ is None else cnp.PyArray_DATA(db_)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef const void *xp = cnp.PyArray_DATA(x_)
    cdef const void *wp = cnp.PyArray_DATA(W_)
    cdef const void *op = cnp.PyArray_DATA(out_)
    if f32:
        with nogil:
            fg_dense_backward_f32(<float *>gxp, <float *>dwp, <float *>dbp, <float *>gp, <const float *>xp,
                                  <const float *>wp, <const float *>op, n, k, m, act, alpha_, beta_, ws, nbytes)
    else:
        with nogil:
            fg_dense_backward_f64(<double *>gxp, <double *>dwp, <double *>dbp, <double *>gp,
                                  <const double *>xp, <const double *>wp, <const double *>op, n, k, m, act,
                                  alpha_, beta_, ws, nbytes)
    return gx, dW_, db_


def dense_backward_ref(grad_out, x, W, out, grad_x, dW, db, activation=None, double alpha=0.01,
                       double beta=0.0):
    """The reference twin of fg_dense_backward on C-contiguous arrays (tests).
    grad_out is overwritten with grad_z; grad_x and db may be None. out is what act' reads:
    the forward output, or the pre-activation for ACTIVATIONS_GRAD_FROM_PRE."""
    cdef cnp.ndarray g = check_float_array("grad_out", grad_out, 2, writeable=True)
    cdef cnp.ndarray x_ = check_float_array("x", x, 2)
    cdef cnp.ndarray W_ = check_float_array("W", W, 2)
    cdef cnp.ndarray o = check_float_array("out", out, 2)
    cdef cnp.ndarray dW_ = check_float_array("dW", dW, 2, writeable=True)
    cdef int64_t n = x_.shape[0], k = x_.shape[1], m = W_.shape[1]
    cdef int act = activation_code(activation)
    cdef void *gxp = NULL if grad_x is None else cnp.PyArray_DATA(check_float_array("grad_x", grad_x, 2, True))
    cdef void *dbp = NULL if db is None else cnp.PyArray_DATA(check_float_array("db", db, 1, True))
    if g.dtype == np.float32:
        fg_dense_backward_ref_f32(<float *>gxp, <float *>cnp.PyArray_DATA(dW_), <float *>dbp,
                                  <float *>cnp.PyArray_DATA(g), <const float *>cnp.PyArray_DATA(x_),
                                  <const float *>cnp.PyArray_DATA(W_), <const float *>cnp.PyArray_DATA(o),
                                  n, k, m, act, alpha, beta)
    else:
        fg_dense_backward_ref_f64(<double *>gxp, <double *>cnp.PyArray_DATA(dW_), <double *>dbp,
                                  <double *>cnp.PyArray_DATA(g), <const double *>cnp.PyArray_DATA(x_),
                                  <const double *>cnp.PyArray_DATA(W_), <const double *>cnp.PyArray_DATA(o),
                                  n, k, m, act, alpha, beta)


def peak_gflops(dtype=np.float32, int threads=1, double seconds=0.1):
    """The machine's FMA ceiling in GFLOP/s (best of 3 runs of a register-only
    FMA loop on `threads` threads) with the kernels' current CPU target. One
    thread is timed by its CPU time (the loop runs on the calling thread), so
    time slices a shared machine gives to other processes do not count."""
    cdef int f32 = np.dtype(dtype) == np.float32
    cdef int previous = fg_get_num_threads()
    cdef int64_t iters = 100000
    cdef double flops = 0.0
    best = 0.0
    clock = time.thread_time if threads == 1 else time.perf_counter
    fg_set_num_threads(threads)
    try:
        while True:  # calibrate
            t0 = clock()
            with nogil:
                flops = fg_fma_peak_f32(iters) if f32 else fg_fma_peak_f64(iters)
            dt = clock() - t0
            if dt >= seconds / 4 or iters > (1 << 40):
                break
            iters *= 4
        for _ in range(3):
            t0 = clock()
            with nogil:
                flops = fg_fma_peak_f32(iters) if f32 else fg_fma_peak_f64(iters)
            dt = clock() - t0
            best = max(best, flops / dt / 1e9)
    finally:
        fg_set_num_threads(previous)
    return best
