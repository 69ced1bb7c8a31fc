# Function minimization bindings: the L-BFGS two-loop recursion over flat buffers.

import operator
import os


cdef _lbfgs_direction(direction, grad, s_hist, y_hist, rho, alpha, count, newest,
                      gamma, bint reference):
    cdef cnp.ndarray d = check_float_array("direction", direction, 1, writeable=True)
    cdef cnp.ndarray g = check_float_array("grad", grad, 1)
    check_same("grad", g, "direction", d)
    cdef cnp.ndarray s = check_float_array("s_hist", s_hist, 2)
    cdef cnp.ndarray y = check_float_array("y_hist", y_hist, 2)
    cdef int64_t n = d.shape[0]
    cdef int64_t m = s.shape[0]
    if s.dtype != d.dtype:
        raise TypeError(f"s_hist must have the dtype of direction ({d.dtype}), got {s.dtype}")
    if s.shape[1] != n or m < 1:
        raise ValueError(f"s_hist must have shape (history_size >= 1, {n}), got {s_hist.shape}")
    check_same("y_hist", y, "s_hist", s)
    for name, buf in (("s_hist", s), ("y_hist", y), ("grad", g)):
        if overlap(d, buf):
            raise ValueError(f"direction and {name} must not share memory")
    for name, buf in (("rho", rho), ("alpha", alpha)):
        if not isinstance(buf, np.ndarray) or buf.dtype != np.float64:
            raise TypeError(f"{name} must be a float64 numpy.ndarray, got {_describe(buf)}")
        if buf.shape != (m,) or not buf.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous of shape ({m},), got shape {buf.shape}")
    if not alpha.flags.writeable:
        raise ValueError("alpha is read-only; it is the recursion's scratch buffer")
    cdef int64_t c = operator.index(count)
    cdef int64_t newest_index = operator.index(newest)
    if not 0 <= c <= m:
        raise ValueError(f"count must be in [0, {m}], got {c}")
    if not 0 <= newest_index < m:
        raise ValueError(f"newest must be in [0, {m}), got {newest_index}")
    cdef double gm = check_real("gamma", gamma)
    cdef const double *r = <const double *>cnp.PyArray_DATA(<cnp.ndarray>rho)
    cdef double *a = <double *>cnp.PyArray_DATA(<cnp.ndarray>alpha)
    if d.dtype == np.float32:
        if reference:
            with nogil:
                fg_lbfgs_direction_ref_f32(<float *>cnp.PyArray_DATA(d), <const float *>cnp.PyArray_DATA(g),
                                           <const float *>cnp.PyArray_DATA(s), <const float *>cnp.PyArray_DATA(y),
                                           r, a, n, m, c, newest_index, gm)
        else:
            with nogil:
                fg_lbfgs_direction_f32(<float *>cnp.PyArray_DATA(d), <const float *>cnp.PyArray_DATA(g),
                                       <const float *>cnp.PyArray_DATA(s), <const float *>cnp.PyArray_DATA(y),
                                       r, a, n, m, c, newest_index, gm)
    else:
        if reference:
            with nogil:
                fg_lbfgs_direction_ref_f64(<double *>cnp.PyArray_DATA(d), <const double *>cnp.PyArray_DATA(g),
                                           <const double *>cnp.PyArray_DATA(s), <const double *>cnp.PyArray_DATA(y),
                                           r, a, n, m, c, newest_index, gm)
        else:
            with nogil:
                fg_lbfgs_direction_f64(<double *>cnp.PyArray_DATA(d), <const double *>cnp.PyArray_DATA(g),
                                       <const double *>cnp.PyArray_DATA(s), <const double *>cnp.PyArray_DATA(y),
                                       r, a, n, m, c, newest_index, gm)
    return direction


def lbfgs_direction(direction, grad, s_hist, y_hist, rho, alpha, count, newest, gamma):
    """L-BFGS two-loop recursion in place: ``direction = -H @ grad``.

    ``H`` is the inverse-Hessian approximation built from ``gamma * I`` and the
    ``count`` most recent curvature pairs of a ring buffer: pair ``j`` is
    ``(s_hist[j], y_hist[j])`` with ``rho[j] = 1 / (y_j @ s_j)``; the newest is at
    row ``newest``, older ones at ``newest - 1, newest - 2, ...`` modulo
    ``history_size = s_hist.shape[0]``.

    Parameters
    ----------
    direction : ndarray (n,), float32 or float64, writeable
        Output; must not overlap the inputs.
    grad : ndarray (n,), dtype of ``direction``
    s_hist, y_hist : ndarray (history_size, n), dtype of ``direction``
    rho : ndarray (history_size,), float64
    alpha : ndarray (history_size,), float64, writeable scratch
    count : int in [0, history_size]
    newest : int in [0, history_size)
    gamma : float, the initial scaling ``H0 = gamma * I``

    Dot products accumulate in double in a fixed order, so results are
    identical for every thread count.
    """
    return _lbfgs_direction(direction, grad, s_hist, y_hist, rho, alpha,
                            count, newest, gamma, False)


def lbfgs_direction_ref(direction, grad, s_hist, y_hist, rho, alpha, count, newest, gamma):
    """The plain reference twin of :func:`lbfgs_direction` (test oracle), same arguments."""
    return _lbfgs_direction(direction, grad, s_hist, y_hist, rho, alpha,
                            count, newest, gamma, True)


cdef double _lbfgs_pair(cnp.ndarray s, cnp.ndarray y, cnp.ndarray x_new, cnp.ndarray x_old,
                        cnp.ndarray g_new, cnp.ndarray g_old, double *y_dot_y, bint reference) except? -1:
    """The pair kernel on arrays already checked (same dtype, length, C-contiguous)."""
    cdef int64_t n = x_new.shape[0]
    cdef double sy
    if x_new.dtype == np.float32:
        with nogil:
            if reference:
                sy = fg_lbfgs_pair_ref_f32(<float *>cnp.PyArray_DATA(s), <float *>cnp.PyArray_DATA(y),
                                           <const float *>cnp.PyArray_DATA(x_new), <const float *>cnp.PyArray_DATA(x_old),
                                           <const float *>cnp.PyArray_DATA(g_new), <const float *>cnp.PyArray_DATA(g_old),
                                           n, y_dot_y)
            else:
                sy = fg_lbfgs_pair_f32(<float *>cnp.PyArray_DATA(s), <float *>cnp.PyArray_DATA(y),
                                       <const float *>cnp.PyArray_DATA(x_new), <const float *>cnp.PyArray_DATA(x_old),
                                       <const float *>cnp.PyArray_DATA(g_new), <const float *>cnp.PyArray_DATA(g_old),
                                       n, y_dot_y)
    else:
        with nogil:
            if reference:
                sy = fg_lbfgs_pair_ref_f64(<double *>cnp.PyArray_DATA(s), <double *>cnp.PyArray_DATA(y),
                                           <const double *>cnp.PyArray_DATA(x_new), <const double *>cnp.PyArray_DATA(x_old),
                                           <const double *>cnp.PyArray_DATA(g_new), <const double *>cnp.PyArray_DATA(g_old),
                                           n, y_dot_y)
            else:
                sy = fg_lbfgs_pair_f64(<double *>cnp.PyArray_DATA(s), <double *>cnp.PyArray_DATA(y),
                                       <const double *>cnp.PyArray_DATA(x_new), <const double *>cnp.PyArray_DATA(x_old),
                                       <const double *>cnp.PyArray_DATA(g_new), <const double *>cnp.PyArray_DATA(g_old),
                                       n, y_dot_y)
    return sy


cdef _check_pair_inputs(x_new, x_old, g_new, g_old):
    cdef cnp.ndarray xn = check_float_array("x_new", x_new, 1)
    for name, a in (("x_old", x_old), ("g_new", g_new), ("g_old", g_old)):
        check_same(name, check_float_array(name, a, 1), "x_new", xn)
    return xn


def lbfgs_pair(s, y, x_new, x_old, g_new, g_old, reference=False):
    """One curvature pair: ``s = x_new - x_old``, ``y = g_new - g_old`` written in place.

    All six arrays 1-D of one float dtype and length; ``s`` and ``y`` writeable and
    not overlapping the inputs. Returns ``(s @ y, y @ y)`` accumulated in double.
    ``reference=True`` runs the plain reference twin.
    """
    cdef cnp.ndarray xn = _check_pair_inputs(x_new, x_old, g_new, g_old)
    for name, out in (("s", s), ("y", y)):
        check_float_array(name, out, 1, writeable=True)
        check_same(name, out, "x_new", xn)
        for other in (x_old, g_new, g_old):
            if overlap(out, other):
                raise ValueError(f"{name} must not share memory with the inputs")
    if overlap(s, y):
        raise ValueError("s and y must not share memory")
    cdef double yy = 0.0
    cdef double sy = _lbfgs_pair(s, y, xn, x_old, g_new, g_old, &yy, reference)
    return sy, yy


cdef class LBFGSMemory:
    """The L-BFGS history: a ring buffer of curvature pairs and the two-loop recursion.

    Owns every buffer (allocated once, 64-bit aligned by NumPy): ``s_hist`` and
    ``y_hist`` of shape ``(history_size + 1, n)`` — one row more than the pairs
    kept, so that a new pair is written into a free row and a rejected pair never
    destroys the oldest kept one — ``rho`` (float64), and ``direction`` (n).

    Parameters
    ----------
    n : int >= 1
    history_size : int >= 1
    dtype : float32 or float64
    """

    cdef readonly object s_hist, y_hist, rho, direction, dtype
    cdef object _alpha
    cdef readonly int64_t n, history_size, count, newest
    cdef readonly double gamma

    def __init__(self, n, history_size, dtype):
        n = operator.index(n)
        history_size = operator.index(history_size)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if history_size < 1:
            raise ValueError(f"history_size must be >= 1, got {history_size}")
        dtype = np.dtype(dtype)
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        # The pairs, and the two (rows, rows) matrices of their products a driver keeps.
        need = 2 * (history_size + 1) * (n * dtype.itemsize + (history_size + 1) * 8)
        try:
            # malloc grants more than the machine has (overcommit), and zeroing it then gets
            # the process killed instead of raising MemoryError: refuse that before allocating.
            if hasattr(os, "sysconf") and need > os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"):
                raise MemoryError
            self.s_hist = scratch_zeros((history_size + 1, n), dtype)
            self.y_hist = scratch_zeros((history_size + 1, n), dtype)
        except (MemoryError, ValueError):  # ValueError: NumPy's "array is too big"
            raise ValueError(f"history_size={history_size}: the history of {history_size + 1} pairs of {n} "
                             f"values and their products need {need:,} bytes, more than this machine's memory "
                             "or this process can allocate; use a smaller history_size") from None
        # after the size check: a history_size past int64 is refused by it, not by the assignment's OverflowError
        self.n, self.history_size, self.dtype = n, history_size, dtype
        self.rho = np.zeros(history_size + 1)
        self._alpha = np.zeros(history_size + 1)
        self.direction = np.zeros(n, dtype)
        self.reset()

    def reset(self):
        """Forget every pair (the next direction is ``-grad``)."""
        self.count = 0
        self.newest = self.history_size
        self.gamma = 1.0

    cdef cnp.ndarray _vector(self, str name, a):
        cdef cnp.ndarray arr = check_float_array(name, a, 1)
        if arr.dtype != self.dtype or arr.shape[0] != self.n:
            raise ValueError(f"{name} must be a {self.dtype} array of shape ({self.n},), "
                             f"got {_describe(a)}")
        return arr

    def compute_direction(self, grad):
        """``direction = -H @ grad`` (``-grad`` with no pairs); returns ``self.direction``."""
        cdef cnp.ndarray g = self._vector("grad", grad)
        if overlap(g, self.direction):
            raise ValueError("grad must not share memory with the memory's direction buffer")
        cdef cnp.ndarray d = self.direction
        cdef cnp.ndarray s = self.s_hist
        cdef cnp.ndarray y = self.y_hist
        cdef const double *r = <const double *>cnp.PyArray_DATA(<cnp.ndarray>self.rho)
        cdef double *a = <double *>cnp.PyArray_DATA(<cnp.ndarray>self._alpha)
        cdef int64_t n = self.n, rows = self.history_size + 1, c = self.count, newest = self.newest
        cdef double gm = self.gamma
        if self.dtype == np.float32:
            with nogil:
                fg_lbfgs_direction_f32(<float *>cnp.PyArray_DATA(d), <const float *>cnp.PyArray_DATA(g),
                                       <const float *>cnp.PyArray_DATA(s), <const float *>cnp.PyArray_DATA(y),
                                       r, a, n, rows, c, newest, gm)
        else:
            with nogil:
                fg_lbfgs_direction_f64(<double *>cnp.PyArray_DATA(d), <const double *>cnp.PyArray_DATA(g),
                                       <const double *>cnp.PyArray_DATA(s), <const double *>cnp.PyArray_DATA(y),
                                       r, a, n, rows, c, newest, gm)
        return self.direction

    def push(self, x_new, x_old, g_new, g_old):
        """Add the pair ``s = x_new - x_old``, ``y = g_new - g_old`` when ``s·y > eps·y·y``
        (eps the dtype's machine epsilon: keeps H positive definite); the oldest pair
        leaves when ``history_size`` are kept. Updates ``gamma = s·y / y·y``.
        Returns True when the pair was kept."""
        cdef cnp.ndarray xn = self._vector("x_new", x_new)
        cdef cnp.ndarray xo = self._vector("x_old", x_old)
        cdef cnp.ndarray gn = self._vector("g_new", g_new)
        cdef cnp.ndarray go = self._vector("g_old", g_old)
        cdef int64_t rows = self.history_size + 1
        cdef int64_t row = (self.newest + 1) % rows
        cdef double yy = 0.0
        cdef double sy = _lbfgs_pair(self.s_hist[row], self.y_hist[row], xn, xo, gn, go, &yy, False)
        if not (sy > 0.0 and sy > np.finfo(self.dtype).eps * yy):
            return False
        self.rho[row] = 1.0 / sy
        self.newest = row
        self.count = min(self.count + 1, self.history_size)
        self.gamma = sy / yy
        return True

    def get_state(self):
        """Copies of the buffers and counters (see set_state)."""
        return {"s_hist": self.s_hist.copy(), "y_hist": self.y_hist.copy(), "rho": self.rho.copy(),
                "count": int(self.count), "newest": int(self.newest), "gamma": float(self.gamma)}

    def set_state(self, state):
        """Restore what get_state returned (same n, history_size and dtype)."""
        for name in ("s_hist", "y_hist"):
            a = np.asarray(state[name])
            if a.shape != self.s_hist.shape:
                raise ValueError(f"state['{name}'] must have shape {self.s_hist.shape}, got {a.shape}")
        rho = np.asarray(state["rho"], dtype=np.float64)
        if rho.shape != self.rho.shape:
            raise ValueError(f"state['rho'] must have shape {self.rho.shape}, got {rho.shape}")
        count, newest = operator.index(state["count"]), operator.index(state["newest"])
        if not (0 <= count <= self.history_size and 0 <= newest <= self.history_size):
            raise ValueError(f"state count/newest out of range: {count}, {newest}")
        self.s_hist[...] = state["s_hist"]
        self.y_hist[...] = state["y_hist"]
        self.rho[...] = rho
        self.count, self.newest, self.gamma = count, newest, float(state["gamma"])

    def __repr__(self):
        return (f"LBFGSMemory(n={self.n}, history_size={self.history_size}, dtype={self.dtype}, "
                f"count={self.count})")
