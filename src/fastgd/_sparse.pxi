# Sparse input: CSRMatrix, a CSR matrix whose structure has been checked so the C kernels can
# trust it, and the bindings of the sparse dense-layer kernels and their reference twins.
#
# A hostile matrix (indptr going backwards or past the end, a column index out of range) is
# refused here, with a ValueError naming what is wrong, before any kernel reads it.

_INDEX_DTYPE = np.dtype(np.int64)


cdef object _index_array(str name, object a):
    """`a` as a read-only C-contiguous 1-D int64 copy: checked once, the indices a kernel reads
    cannot change afterwards through an array the caller kept."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of integers, got {_describe(a)}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds values beyond the int64 range")
    copy = np.array(a, dtype=_INDEX_DTYPE, order="C")
    copy.flags.writeable = False
    return copy


cdef int64_t _first_bad_pointer(const int64_t *indptr, int64_t n_rows, int64_t nnz_cap) noexcept nogil:
    """The first r with indptr[r] out of [0, nnz_cap] or below indptr[r-1]; -1 when all are fine."""
    cdef int64_t r
    for r in range(n_rows + 1):
        if indptr[r] < 0 or indptr[r] > nnz_cap or (r > 0 and indptr[r] < indptr[r - 1]):
            return r
    return -1


cdef int64_t _first_bad_index(const int64_t *indices, int64_t begin, int64_t end,
                              int64_t n_cols) noexcept nogil:
    """The first p in [begin, end) with indices[p] out of [0, n_cols); -1 when all are fine."""
    cdef int64_t p
    for p in range(begin, end):
        if indices[p] < 0 or indices[p] >= n_cols:
            return p
    return -1


cdef tuple _compressed_structure(object indptr, object indices, int64_t n_rows, int64_t n_cols,
                                 int64_t n_values):
    """(indptr, indices) as int64 arrays, checked as the structure of a compressed sparse matrix
    of n_rows rows (CSR; the columns of CSC, the block rows of BSR) over n_cols columns with
    n_values stored values (-1: one per index): indptr non-decreasing within [0, min(len(indices), n_values)] and
    every index it covers in [0, n_cols). Whatever reads the matrix by indptr then stays inside
    its arrays."""
    ind = _index_array("indices", indices)
    ptr = _index_array("indptr", indptr)
    if n_values < 0:
        n_values = ind.shape[0]
    if ptr.shape[0] != n_rows + 1:
        raise ValueError(f"indptr must have n_rows + 1 = {n_rows + 1} entries, got {ptr.shape[0]}")
    cdef const int64_t *p = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>ptr)
    cdef const int64_t *q = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>ind)
    cdef int64_t cap = min(ind.shape[0], n_values), bad
    with nogil:
        bad = _first_bad_pointer(p, n_rows, cap)
    if bad >= 0:
        raise ValueError(f"indptr must be non-decreasing within [0, len(indices) = {cap}]; indptr[{bad}] = "
                         f"{ptr[bad]}" + (f" after indptr[{bad - 1}] = {ptr[bad - 1]}" if bad else ""))
    with nogil:
        bad = _first_bad_index(q, p[0], p[n_rows], n_cols)
    if bad >= 0:
        raise ValueError(f"indices must be in [0, n_cols = {n_cols}), got indices[{bad}] = {ind[bad]}")
    return ptr, ind


cdef _check_coordinates(str name, object idx, int64_t size, int64_t n_values):
    """COO row or column indices: integers, one per stored value, in [0, size)."""
    idx = _index_array(name, idx)
    if idx.shape[0] != n_values:
        raise ValueError(f"{name} must hold one index per stored value ({n_values}), got {idx.shape[0]}")
    if n_values and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(f"{name} must be in [0, {size}), got values in [{idx.min()}, {idx.max()}]")


cdef _check_before_conversion(object X):
    """Check the structure of a SciPy sparse matrix of a format other than CSR as far as SciPy's
    conversion to CSR reads it: SciPy's conversion routines trust the index arrays, so a row
    index past the shape, an index pointer past the arrays, a LIL row with more values than
    column indices or DIA data with more diagonals than offsets makes them write outside their
    buffers. The column indices that a
    conversion only copies are checked afterwards, with the CSR structure."""
    fmt = X.format
    cdef int64_t n_rows = X.shape[0], n_cols = X.shape[1]
    if fmt in ("csc", "bsr"):
        if fmt == "csc":  # the CSR structure of the transpose
            ptr, _ = _compressed_structure(X.indptr, X.indices, n_cols, n_rows, len(X.data))
        else:
            data = X.data
            if data.ndim != 3 or data.shape[1] < 1 or data.shape[2] < 1:
                raise ValueError(f"data must be 3-D (blocks, rows, columns), got shape {data.shape}")
            R, C = data.shape[1], data.shape[2]
            if n_rows % R or n_cols % C:
                raise ValueError(f"blocks of shape {(R, C)} do not tile the shape {X.shape}")
            ptr, _ = _compressed_structure(X.indptr, X.indices, n_rows // R, n_cols // C, data.shape[0])
        if ptr[0] != 0:
            # SciPy's conversions count the stored values from the start of the arrays: values
            # before indptr[0] would leave entries of the result unwritten
            raise ValueError(f"indptr must start at 0, got indptr[0] = {ptr[0]}")
    elif fmt == "coo":
        if X.data.ndim != 1:
            raise ValueError(f"data must be 1-D, got shape {X.data.shape}")
        _check_coordinates("row", X.row, n_rows, X.data.shape[0])
        _check_coordinates("col", X.col, n_cols, X.data.shape[0])
    elif fmt == "dia":
        data, offsets = X.data, X.offsets
        if data.ndim != 2:
            raise ValueError(f"data must be 2-D (diagonals, columns), got shape {data.shape}")
        if offsets.ndim != 1 or offsets.dtype.kind not in "iu":
            raise ValueError(f"offsets must be a 1-D integer array, got shape {offsets.shape} of dtype "
                             f"{offsets.dtype}")
        if offsets.shape[0] != data.shape[0]:
            raise ValueError(f"data holds {data.shape[0]} diagonals but offsets {offsets.shape[0]}")
        # SciPy's conversion narrows the offsets to its index type, which holds the shape's range
        if offsets.shape[0] and (int(offsets.min()) < -n_rows or int(offsets.max()) > n_cols):
            raise ValueError(f"offsets must be in [-{n_rows}, {n_cols}], got values in "
                             f"[{offsets.min()}, {offsets.max()}]")
    elif fmt == "lil":
        if len(X.rows) != n_rows or len(X.data) != n_rows:
            raise ValueError(f"rows and data must hold one list per row ({n_rows}), got {len(X.rows)} and "
                             f"{len(X.data)}")
        for r in range(n_rows):
            cols, values = X.rows[r], X.data[r]
            if not isinstance(cols, list) or not isinstance(values, list):
                raise TypeError(f"rows[{r}] and data[{r}] must be lists, got {type(cols).__name__} and "
                                f"{type(values).__name__}")
            if len(cols) != len(values):
                raise ValueError(f"row {r} holds {len(cols)} column indices but {len(values)} values")


cdef class CSRMatrix:
    """A CSR matrix (n_rows, n_cols) as fastgd's kernels read it: int64 ``indptr`` and
    ``indices``, float32/float64 ``data``; row r holds ``data[p]`` at column ``indices[p]`` for
    p in ``[indptr[r], indptr[r+1])``. Columns may repeat (their values add up) and need not
    be sorted, as in SciPy. The constructor checks the structure: ``indptr`` non-decreasing
    within ``[0, len(indices)]``, every index in ``[0, n_cols)``.

    ``x[a:b]`` is a view of rows a..b-1; ``x[rows]`` (an integer array) a copy of those rows.
    Build one from a SciPy sparse matrix or array with :func:`as_csr`."""

    cdef fg_csr c
    cdef readonly object indptr, indices, data
    cdef readonly int64_t n_rows, n_cols

    def __init__(self, indptr, indices, data, shape):
        if not isinstance(shape, tuple) or len(shape) != 2 or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_)) and s >= 0 for s in shape):
            raise ValueError(f"shape must be a tuple of two integers >= 0, got {shape!r}")
        n_rows, n_cols = int(shape[0]), int(shape[1])
        ptr, ind = _compressed_structure(indptr, indices, n_rows, n_cols, -1)
        values = check_float_array("data", data, 1)
        if values.shape[0] != ind.shape[0]:
            raise ValueError(f"data and indices must have the same length, got {values.shape[0]} and "
                             f"{ind.shape[0]}")
        self._bind(ptr, ind, values, n_rows, n_cols)

    cdef _bind(self, ptr, ind, values, int64_t n_rows, int64_t n_cols):
        self.indptr, self.indices, self.data = ptr, ind, values
        self.n_rows, self.n_cols = n_rows, n_cols
        self.c.indptr = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>ptr)
        self.c.indices = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>ind)
        self.c.data = cnp.PyArray_DATA(<cnp.ndarray>values)
        self.c.n_rows = n_rows
        self.c.n_cols = n_cols

    @property
    def shape(self):
        return (self.n_rows, self.n_cols)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def nnz(self):
        return int(self.indptr[self.n_rows] - self.indptr[0])

    def __len__(self):
        return self.n_rows

    def __getitem__(self, key):
        cdef CSRMatrix view
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n_rows)
            if step != 1:
                key = np.arange(start, stop, step)
            else:
                stop = max(stop, start)
                view = CSRMatrix.__new__(CSRMatrix)
                view._bind(self.indptr[start:stop + 1], self.indices, self.data, stop - start, self.n_cols)
                return view
        rows = np.asarray(key)
        if rows.dtype.kind not in "iu" or rows.ndim != 1:
            raise TypeError(f"rows must be a slice or a 1-D integer array, got {_describe(rows)}")
        if rows.size and (rows.min() < -self.n_rows or rows.max() >= self.n_rows):
            raise IndexError(f"row index out of range for {self.n_rows} rows")
        rows = np.where(rows < 0, rows + self.n_rows, rows).astype(np.int64)  # Python's negative indices
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        new_ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_ptr[1:])
        n_new = rows.shape[0]
        positions = np.repeat(starts - new_ptr[:n_new], lengths) + np.arange(new_ptr[n_new], dtype=np.int64)
        view = CSRMatrix.__new__(CSRMatrix)
        view._bind(new_ptr, np.ascontiguousarray(self.indices[positions]),
                   np.ascontiguousarray(self.data[positions]), rows.shape[0], self.n_cols)
        return view

    def toarray(self):
        """The dense (n_rows, n_cols) array (duplicate entries added)."""
        out = np.zeros(self.shape, dtype=self.data.dtype)
        lengths = np.diff(self.indptr)
        row_of = np.repeat(np.arange(self.n_rows), lengths)
        lo, hi = int(self.indptr[0]), int(self.indptr[self.n_rows])
        np.add.at(out, (row_of, self.indices[lo:hi]), self.data[lo:hi])
        return out

    def __repr__(self):
        return f"CSRMatrix(shape={self.shape}, nnz={self.nnz}, dtype={self.data.dtype})"


def as_csr(X, dtype, name="X"):
    """A :class:`CSRMatrix` of `dtype` from a SciPy sparse matrix or array (CSR used as is, any
    other format converted once); its values must be finite. Raises TypeError/ValueError
    naming `name`."""
    import scipy.sparse

    if isinstance(X, CSRMatrix):
        if X.data.dtype != np.dtype(dtype):
            return CSRMatrix(X.indptr, X.indices, X.data.astype(dtype), X.shape)
        return X
    if not scipy.sparse.issparse(X):
        raise TypeError(f"{name} must be a scipy.sparse matrix or array, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {X.shape}")
    if X.format != "csr":
        try:
            _check_before_conversion(X)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{name} is not a valid {X.format.upper()} matrix: {exc}") from None
        X = X.tocsr()
    if X.data.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.data.dtype}")
    data = _validation.c_array(X.data, dtype)
    if count_nonfinite(data):
        raise ValueError(f"{name} contains NaN or infinity")
    indices = X.indices
    if indices.shape[0] != data.shape[0]:  # SciPy allows spare room past indptr[-1]
        indices = indices[:data.shape[0]]
    try:
        return CSRMatrix(X.indptr, indices, data, tuple(int(s) for s in X.shape))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} is not a valid CSR matrix: {exc}") from None


cdef object _batch_rows(object rows, int64_t n_rows):
    """None, or rows as a C-contiguous int64 array of indices in [0, n_rows)."""
    if rows is None:
        return None
    r = _index_array("rows", rows)
    if r.size and (r.min() < 0 or r.max() >= n_rows):
        raise ValueError(f"rows must be in [0, {n_rows}), got values in [{r.min()}, {r.max()}]")
    return r


def csr_dense_forward(CSRMatrix x, W, b=None, *, activation="relu", alpha=0.01, rows=None, reference=False):
    """``act(x[rows] @ W + b)`` for a CSRMatrix x (n_rows, k) and W (k, m) of x's dtype, in one
    pass over the stored values (``reference=True``: the scalar twin). rows: None (every row)
    or int64 row indices. Returns a new (n, m) array."""
    cdef object W_ = check_float_array("W", W, 2)
    if W_.dtype != x.data.dtype:
        raise TypeError(f"W must have the dtype of x ({x.data.dtype}), got {W_.dtype}")
    if W_.shape[0] != x.n_cols:
        raise ValueError(f"W must have x.shape[1] = {x.n_cols} rows, got shape {W_.shape}")
    cdef int64_t m = W_.shape[1]
    if b is not None:
        b = check_vector("b", b, m, W_)
    cdef int act = activation_code(activation)
    cdef double alpha_ = check_real("alpha", alpha)
    r = _batch_rows(rows, x.n_rows)
    cdef int64_t n = x.n_rows if r is None else r.shape[0]
    out = np.empty((n, m), dtype=W_.dtype)
    cdef const int64_t *rp = NULL if r is None else <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>r)
    cdef const void *wp = cnp.PyArray_DATA(W_)
    cdef const void *bp = NULL if b is None else cnp.PyArray_DATA(<cnp.ndarray>b)
    cdef void *op = cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef bint f32 = W_.dtype == np.float32, ref = reference
    with nogil:
        if f32 and ref:
            fg_csr_dense_forward_ref_f32(<float *>op, &x.c, rp, 0, n, <const float *>wp, <const float *>bp, m,
                                         act, alpha_)
        elif f32:
            fg_csr_dense_forward_f32(<float *>op, &x.c, rp, 0, n, <const float *>wp, <const float *>bp, m,
                                     act, alpha_)
        elif ref:
            fg_csr_dense_forward_ref_f64(<double *>op, &x.c, rp, 0, n, <const double *>wp, <const double *>bp,
                                         m, act, alpha_)
        else:
            fg_csr_dense_forward_f64(<double *>op, &x.c, rp, 0, n, <const double *>wp, <const double *>bp, m,
                                     act, alpha_)
    return out


def csr_weight_grad(CSRMatrix x, grad_z, *, dW=None, beta=0.0, rows=None, reference=False):
    """``dW := beta*dW + x[rows]ᵀ @ grad_z`` for a CSRMatrix x (n_rows, k) and grad_z (n, m) of
    x's dtype (``reference=True``: the scalar twin). dW (k, m) is written in place when given
    (a new array otherwise, beta ignored). Returns dW."""
    cdef object g = check_float_array("grad_z", grad_z, 2)
    if g.dtype != x.data.dtype:
        raise TypeError(f"grad_z must have the dtype of x ({x.data.dtype}), got {g.dtype}")
    r = _batch_rows(rows, x.n_rows)
    cdef int64_t n = x.n_rows if r is None else r.shape[0]
    if g.shape[0] != n:
        raise ValueError(f"grad_z must have one row per batch row ({n}), got shape {g.shape}")
    cdef int64_t m = g.shape[1]
    cdef double beta_ = check_real("beta", beta)
    if dW is None:
        dW = np.empty((x.n_cols, m), dtype=g.dtype)
        beta_ = 0.0
    else:
        d = <object>check_float_array("dW", dW, 2, writeable=True)
        if d.dtype != g.dtype or d.shape != (x.n_cols, m):
            raise ValueError(f"dW must be a ({x.n_cols}, {m}) array of {g.dtype}, got {_describe(d)}")
        if overlap(d, g):
            raise ValueError("dW and grad_z must not share memory")
    cdef const int64_t *rp = NULL if r is None else <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>r)
    cdef const void *gp = cnp.PyArray_DATA(g)
    cdef void *dp = cnp.PyArray_DATA(<cnp.ndarray>dW)
    cdef bint f32 = g.dtype == np.float32, ref = reference
    with nogil:
        if f32 and ref:
            fg_csr_weight_grad_ref_f32(<float *>dp, &x.c, rp, 0, n, <const float *>gp, m, beta_)
        elif f32:
            fg_csr_weight_grad_f32(<float *>dp, &x.c, rp, 0, n, <const float *>gp, m, beta_)
        elif ref:
            fg_csr_weight_grad_ref_f64(<double *>dp, &x.c, rp, 0, n, <const double *>gp, m, beta_)
        else:
            fg_csr_weight_grad_f64(<double *>dp, &x.c, rp, 0, n, <const double *>gp, m, beta_)
    return dW
