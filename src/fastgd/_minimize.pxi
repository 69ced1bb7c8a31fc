# Function minimization bindings: the L-BFGS two-loop recursion over flat buffers.

import operator


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
        if np.may_share_memory(d, buf):
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
