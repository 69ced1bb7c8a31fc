# The L-BFGS driver (fg_minimize.h): the binding of the reverse-communication loop and of the
# vector kernels it runs.

LBFGS_START = FG_LBFGS_START
LBFGS_EVALUATE = FG_LBFGS_EVALUATE
LBFGS_NEW_X = FG_LBFGS_NEW_X
LBFGS_CONVERGED_GRADIENT = FG_LBFGS_CONVERGED_GRADIENT
LBFGS_CONVERGED_REDUCTION = FG_LBFGS_CONVERGED_REDUCTION
LBFGS_LINE_SEARCH_FAILED = FG_LBFGS_LINE_SEARCH_FAILED

_LBFGS_FIRST_STEPS = {"inv_norm2": FG_LBFGS_FIRST_STEP_INV_NORM2, "inv_norm1": FG_LBFGS_FIRST_STEP_INV_NORM1}


def lbfgs_dot(a, b, reference=False):
    """``a @ b`` of two 1-D float arrays of one dtype and length, accumulated in double in a fixed
    order (``reference=True``: the plain reference twin)."""
    cdef cnp.ndarray x = check_float_array("a", a, 1)
    cdef cnp.ndarray y = check_float_array("b", b, 1)
    if y.dtype != x.dtype or y.shape[0] != x.shape[0]:
        raise ValueError(f"b must have the dtype and shape of a ({x.dtype}, {a.shape}), got {_describe(b)}")
    cdef int64_t n = x.shape[0]
    cdef bint ref = reference, f32 = x.dtype == np.float32
    cdef double r
    cdef const void *pa = cnp.PyArray_DATA(x)
    cdef const void *pb = cnp.PyArray_DATA(y)
    with nogil:
        if f32:
            r = fg_lbfgs_dot_ref_f32(<const float *>pa, <const float *>pb, n) if ref else \
                fg_lbfgs_dot_f32(<const float *>pa, <const float *>pb, n)
        else:
            r = fg_lbfgs_dot_ref_f64(<const double *>pa, <const double *>pb, n) if ref else \
                fg_lbfgs_dot_f64(<const double *>pa, <const double *>pb, n)
    return r


def lbfgs_trial(x, base, d, step, reference=False):
    """A line search's trial point in place: ``x[:] = base + step * d``; returns how many
    elements of ``x`` changed. All 1-D of one float dtype and length; ``x`` writeable and not
    overlapping ``base`` or ``d``."""
    cdef cnp.ndarray out = check_float_array("x", x, 1, writeable=True)
    for name, a in (("base", base), ("d", d)):
        check_same(name, check_float_array(name, a, 1), "x", out)
    cdef double t = check_real("step", step)
    cdef int64_t n = out.shape[0]
    cdef bint ref = reference, f32 = out.dtype == np.float32
    cdef int64_t changed
    cdef void *px = cnp.PyArray_DATA(out)
    cdef const void *pb = cnp.PyArray_DATA(<cnp.ndarray>base)
    cdef const void *pd = cnp.PyArray_DATA(<cnp.ndarray>d)
    with nogil:
        if f32:
            changed = fg_lbfgs_trial_ref_f32(<float *>px, <const float *>pb, <const float *>pd, t, n) if ref else \
                fg_lbfgs_trial_f32(<float *>px, <const float *>pb, <const float *>pd, t, n)
        else:
            changed = fg_lbfgs_trial_ref_f64(<double *>px, <const double *>pb, <const double *>pd, t, n) if ref else \
                fg_lbfgs_trial_f64(<double *>px, <const double *>pb, <const double *>pd, t, n)
    return changed


def lbfgs_ridge(g, w, l2, reference=False):
    """An L2 term in place: ``g += l2 * w``; returns ``w @ w`` accumulated in double in the fixed
    order of :func:`lbfgs_dot`. Both 1-D of one float dtype and length; ``g`` writeable and not
    overlapping ``w``."""
    cdef cnp.ndarray ga = check_float_array("g", g, 1, writeable=True)
    cdef cnp.ndarray wa = check_float_array("w", w, 1)
    check_same("w", wa, "g", ga)
    cdef double c = check_real("l2", l2)
    cdef int64_t n = ga.shape[0]
    cdef bint ref = reference, f32 = ga.dtype == np.float32
    cdef double r
    cdef void *pg = cnp.PyArray_DATA(ga)
    cdef const void *pw = cnp.PyArray_DATA(wa)
    with nogil:
        if f32:
            r = fg_lbfgs_ridge_ref_f32(<float *>pg, <const float *>pw, c, n) if ref else \
                fg_lbfgs_ridge_f32(<float *>pg, <const float *>pw, c, n)
        else:
            r = fg_lbfgs_ridge_ref_f64(<double *>pg, <const double *>pw, c, n) if ref else \
                fg_lbfgs_ridge_f64(<double *>pg, <const double *>pw, c, n)
    return r


def lbfgs_norms(a, reference=False):
    """``(max |a_i|, sum |a_i|)`` of a 1-D float array, in double (a NaN is skipped by the
    maximum and propagates into the sum)."""
    cdef cnp.ndarray x = check_float_array("a", a, 1)
    cdef int64_t n = x.shape[0]
    cdef bint ref = reference, f32 = x.dtype == np.float32
    cdef double largest, total = 0.0
    cdef const void *pa = cnp.PyArray_DATA(x)
    with nogil:
        if f32:
            largest = fg_lbfgs_norms_ref_f32(<const float *>pa, n, &total) if ref else \
                fg_lbfgs_norms_f32(<const float *>pa, n, &total)
        else:
            largest = fg_lbfgs_norms_ref_f64(<const double *>pa, n, &total) if ref else \
                fg_lbfgs_norms_f64(<const double *>pa, n, &total)
    return largest, total


cdef class LBFGSDriver:
    """One L-BFGS run in reverse communication over the caller's point ``x`` and gradient ``g``
    and the history of an :class:`LBFGSMemory` (its pairs, ``count``, ``newest`` and ``gamma``
    follow the run).

    The loop::

        f = objective(x, g)                 # value at x, gradient into g
        task = driver.advance(f)
        while True:
            if task == LBFGS_EVALUATE: f = objective(x, g)        # x holds a trial point
            elif task == LBFGS_NEW_X: ...                         # an accepted iteration
            else: break                                           # converged or failed
            task = driver.advance(f)

    Parameters
    ----------
    memory : LBFGSMemory
    x, g : ndarray (memory.n,), memory.dtype, C-contiguous, writeable, not overlapping
    ftol, gtol, xtol : float
        The Moré–Thuente line search's sufficient-decrease and curvature constants
        (``0 < ftol < gtol < 1``) and relative bracket width (``>= 0``).
    stpmax : float > 0
        Largest step length.
    step_scale : float > 0
        First trial step after the first iteration (1: the quasi-Newton step).
    first_step : {"inv_norm2", "inv_norm1"}
        The first iteration's first trial step: ``min(1 / ‖d‖₂, stpmax)`` (L-BFGS-B) or
        ``step_scale · min(1, 1 / ‖g‖₁)``.
    pgtol : float
        Converged when ``max |g_i| <= pgtol`` (negative: never).
    rel_reduction : float
        Converged when ``f_old - f <= rel_reduction · max(|f_old|, |f|, 1)`` (negative: never).
    max_line_search : int >= 1
        Most trial points per line search.
    line_search : bool
        False: accept the first trial step as it is (when finite).
    reference : bool
        Run the plain reference twins of the vector kernels.
    """

    cdef fg_lbfgs_state st
    cdef readonly LBFGSMemory memory
    cdef readonly object x, g
    cdef object _x_start, _g_start, _sy, _yy, _work, _rows
    cdef bint _f32

    def __init__(self, LBFGSMemory memory, x, g, *, double ftol=1e-3, double gtol=0.9, double xtol=0.1,
                 double stpmax=1e10, double step_scale=1.0, first_step="inv_norm2", double pgtol=-1.0,
                 double rel_reduction=-1.0, max_line_search=20, bint line_search=True, bint reference=False):
        cdef cnp.ndarray xa = check_float_array("x", x, 1, writeable=True)
        cdef cnp.ndarray ga = check_float_array("g", g, 1, writeable=True)
        for name, a in (("x", xa), ("g", ga)):
            if a.dtype != memory.dtype or a.shape[0] != memory.n:
                raise ValueError(f"{name} must be a {memory.dtype} array of shape ({memory.n},), got {_describe(a)}")
            for other_name, other in (("memory.s_hist", memory.s_hist), ("memory.y_hist", memory.y_hist),
                                      ("memory.direction", memory.direction)):
                if overlap(a, other):
                    raise ValueError(f"{name} must not share memory with {other_name}")
        if overlap(xa, ga):
            raise ValueError("x and g must not share memory")
        if first_step not in _LBFGS_FIRST_STEPS:
            raise ValueError(f"first_step must be 'inv_norm2' or 'inv_norm1', got {first_step!r}")
        cdef fg_lbfgs_options o
        o.ftol, o.gtol, o.xtol, o.stpmax, o.step_scale = ftol, gtol, xtol, stpmax, step_scale
        o.pgtol, o.rel_reduction = pgtol, rel_reduction
        o.max_line_search = operator.index(max_line_search)
        o.line_search, o.first_step, o.reference = line_search, _LBFGS_FIRST_STEPS[first_step], reference
        if not (0.0 < ftol < gtol < 1.0):
            raise ValueError(f"need 0 < ftol < gtol < 1, got ftol={ftol}, gtol={gtol}")
        for name, value, low in (("xtol", xtol, None), ("stpmax", stpmax, 0.0), ("step_scale", step_scale, 0.0)):
            if not math.isfinite(value) or value < 0.0 or (low is not None and value <= low):
                raise ValueError(f"{name} must be finite and {'>= 0' if low is None else '> 0'}, got {value}")
        if o.max_line_search < 1:
            raise ValueError(f"max_line_search must be >= 1, got {o.max_line_search}")
        if fg_lbfgs_init(&self.st, memory.n, memory.history_size, &o) != 0:
            raise ValueError("invalid L-BFGS options")
        self.memory, self.x, self.g = memory, x, g
        self._f32 = memory.dtype == np.float32
        self._x_start = np.empty(memory.n, memory.dtype)
        self._g_start = np.empty(memory.n, memory.dtype)
        self.st.x = cnp.PyArray_DATA(xa)
        self.st.g = cnp.PyArray_DATA(ga)
        self.st.d = cnp.PyArray_DATA(<cnp.ndarray>memory.direction)
        self.st.x_start = cnp.PyArray_DATA(<cnp.ndarray>self._x_start)
        self.st.g_start = cnp.PyArray_DATA(<cnp.ndarray>self._g_start)
        self.st.s_hist = cnp.PyArray_DATA(<cnp.ndarray>memory.s_hist)
        self.st.y_hist = cnp.PyArray_DATA(<cnp.ndarray>memory.y_hist)
        self.st.rho = <double *>cnp.PyArray_DATA(<cnp.ndarray>memory.rho)
        rows = memory.history_size + 1
        # named by the history_size that sizes them (LBFGSMemory counts them in its check of the
        # machine's memory, but a process limit may still refuse them)
        self._sy = _validation.allocate("history_size", (rows, rows))
        self._yy = _validation.allocate("history_size", (rows, rows))
        self._sy.fill(0.0)
        self._yy.fill(0.0)
        self._work = np.zeros(FG_LBFGS_WORK(memory.history_size))
        self._rows = np.zeros(rows, np.int64)
        self.st.sy_mat = <double *>cnp.PyArray_DATA(<cnp.ndarray>self._sy)
        self.st.yy_mat = <double *>cnp.PyArray_DATA(<cnp.ndarray>self._yy)
        self.st.work = <double *>cnp.PyArray_DATA(<cnp.ndarray>self._work)
        self.st.rows = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>self._rows)
        self._adopt_memory()

    cdef _adopt_memory(self):
        """Take the memory's pairs as they are: the products of the compact form are rebuilt."""
        self.st.count, self.st.newest, self.st.gamma = self.memory.count, self.memory.newest, self.memory.gamma
        self.st.matrices_valid = 0
        self.st.pending = -1

    def advance(self, double f):
        """Hand the value at ``x`` (after LBFGS_START's evaluation or an LBFGS_EVALUATE) and run
        to the next task; returns it."""
        cdef int task
        cdef bint f32 = self._f32
        with nogil:
            if f32:
                task = fg_lbfgs_advance_f32(&self.st, f)
            else:
                task = fg_lbfgs_advance_f64(&self.st, f)
        self.memory.count, self.memory.newest, self.memory.gamma = self.st.count, self.st.newest, self.st.gamma
        return task

    def resume(self, int64_t iterations, f=None):
        """Continue a run after ``iterations`` accepted iterations (its pairs in the memory) from
        the point in ``x``: with ``f`` given, ``g`` holds the gradient there and the next
        :meth:`advance` starts the next iteration; without, the next :meth:`advance` takes the
        value of a fresh evaluation at ``x`` (as at the start)."""
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        self.st.iter = iterations
        if (self.st.count, self.st.newest, self.st.gamma) != (self.memory.count, self.memory.newest,
                                                              self.memory.gamma):
            self._adopt_memory()
        if f is None:
            self.st.task = FG_LBFGS_START
        else:
            self.st.f = check_real("f", f)
            self.st.task = FG_LBFGS_RESUME

    @property
    def nfev(self):
        """Evaluations asked of the caller so far (the start included)."""
        return self.st.nfev

    @property
    def n_iter(self):
        """Accepted iterations."""
        return self.st.iter

    @property
    def f(self):
        """The value at ``x``: the last accepted point's once the run stops."""
        return self.st.f

    @property
    def task(self):
        return self.st.task

    @property
    def grad_max(self):
        """max |g_i| at the last accepted point."""
        return self.st.grad_max

    @property
    def n_trials(self):
        """Trial points of the current (or last) line search."""
        return self.st.n_trials

    @property
    def step(self):
        """The current (or last accepted) step length along the direction."""
        return self.st.step


cdef _history_rows(s_hist, y_hist, rows, cnp.ndarray ref):
    """Checks shared by lbfgs_dots and lbfgs_combine: the history arrays (rows, n) of ref's dtype
    and the int64 row indices, in range; returns the rows as a contiguous int64 array."""
    cdef cnp.ndarray s = check_float_array("s_hist", s_hist, 2)
    cdef cnp.ndarray y = check_float_array("y_hist", y_hist, 2)
    if s.dtype != ref.dtype or s_hist.shape[1] != ref.shape[0]:
        raise ValueError(f"s_hist must be a {ref.dtype} array of shape (rows, {ref.shape[0]}), got {_describe(s)}")
    if y_hist.shape != s_hist.shape or y.dtype != s.dtype:
        raise ValueError(f"y_hist must have the shape and dtype of s_hist, got {_describe(y)}")
    r = np.ascontiguousarray(rows, dtype=np.int64)
    if r.ndim != 1 or (r.size and (r.min() < 0 or r.max() >= s_hist.shape[0])):
        raise ValueError(f"rows must be a 1-D array of row indices in [0, {s_hist.shape[0]}), got {rows!r}")
    return r


def lbfgs_dots(g, s_hist, y_hist, rows, y_new=None, reference=False):
    """The compact form's products in one sweep: an array (len(rows), 4) of s_k·g, y_k·g,
    s_k·y_new, y_k·y_new for the history rows k of ``rows`` (the last two 0 without
    ``y_new``), accumulated in double (``reference=True``: the plain reference twin)."""
    cdef cnp.ndarray ga = check_float_array("g", g, 1)
    cdef cnp.ndarray r = _history_rows(s_hist, y_hist, rows, ga)
    cdef cnp.ndarray yn = None
    if y_new is not None:
        yn = check_float_array("y_new", y_new, 1)
        check_same("y_new", yn, "g", ga)
    cdef cnp.ndarray out = np.zeros((r.shape[0], 4))
    cdef int64_t n = ga.shape[0], c = r.shape[0]
    cdef bint ref = reference, f32 = ga.dtype == np.float32
    cdef double *po = <double *>cnp.PyArray_DATA(out)
    cdef const void *pg = cnp.PyArray_DATA(ga)
    cdef const void *pn = NULL if yn is None else cnp.PyArray_DATA(yn)
    cdef const void *ps = cnp.PyArray_DATA(<cnp.ndarray>s_hist)
    cdef const void *py = cnp.PyArray_DATA(<cnp.ndarray>y_hist)
    cdef const int64_t *pr = <const int64_t *>cnp.PyArray_DATA(r)
    with nogil:
        if f32 and ref:
            fg_lbfgs_dots_ref_f32(po, <const float *>pg, <const float *>pn, <const float *>ps, <const float *>py, pr, c, n)
        elif f32:
            fg_lbfgs_dots_f32(po, <const float *>pg, <const float *>pn, <const float *>ps, <const float *>py, pr, c, n)
        elif ref:
            fg_lbfgs_dots_ref_f64(po, <const double *>pg, <const double *>pn, <const double *>ps, <const double *>py,
                                  pr, c, n)
        else:
            fg_lbfgs_dots_f64(po, <const double *>pg, <const double *>pn, <const double *>ps, <const double *>py, pr,
                              c, n)
    return out


def lbfgs_combine(d, g, g_coef, s_hist, y_hist, rows, s_coef, y_coef, reference=False):
    """``d[:] = g_coef * g + sum_k (s_coef[k] * s_hist[rows[k]] + y_coef[k] * y_hist[rows[k]])`` in
    one sweep; returns ``g @ d`` in double (``reference=True``: the plain reference twin)."""
    cdef cnp.ndarray da = check_float_array("d", d, 1, writeable=True)
    cdef cnp.ndarray ga = check_float_array("g", g, 1)
    check_same("g", ga, "d", da)
    cdef cnp.ndarray r = _history_rows(s_hist, y_hist, rows, da)
    for name, a in (("s_hist", s_hist), ("y_hist", y_hist)):
        if overlap(da, a):
            raise ValueError(f"d must not share memory with {name}")
    sc_, yc_ = np.ascontiguousarray(s_coef, dtype=np.float64), np.ascontiguousarray(y_coef, dtype=np.float64)
    if sc_.shape != (r.shape[0],) or yc_.shape != (r.shape[0],):
        raise ValueError(f"s_coef and y_coef must have shape ({r.shape[0]},), got {sc_.shape} and {yc_.shape}")
    cdef cnp.ndarray sc = sc_
    cdef cnp.ndarray yc = yc_
    cdef double gc = check_real("g_coef", g_coef)
    cdef int64_t n = ga.shape[0], c = r.shape[0]
    cdef bint ref = reference, f32 = ga.dtype == np.float32
    cdef void *pd = cnp.PyArray_DATA(da)
    cdef const void *pg = cnp.PyArray_DATA(ga)
    cdef const void *ps = cnp.PyArray_DATA(<cnp.ndarray>s_hist)
    cdef const void *py = cnp.PyArray_DATA(<cnp.ndarray>y_hist)
    cdef const int64_t *pr = <const int64_t *>cnp.PyArray_DATA(r)
    cdef const double *psc = <const double *>cnp.PyArray_DATA(sc)
    cdef const double *pyc = <const double *>cnp.PyArray_DATA(yc)
    cdef double gd
    with nogil:
        if f32 and ref:
            gd = fg_lbfgs_combine_ref_f32(<float *>pd, <const float *>pg, gc, <const float *>ps, <const float *>py, pr,
                                          psc, pyc, c, n)
        elif f32:
            gd = fg_lbfgs_combine_f32(<float *>pd, <const float *>pg, gc, <const float *>ps, <const float *>py, pr,
                                      psc, pyc, c, n)
        elif ref:
            gd = fg_lbfgs_combine_ref_f64(<double *>pd, <const double *>pg, gc, <const double *>ps,
                                          <const double *>py, pr, psc, pyc, c, n)
        else:
            gd = fg_lbfgs_combine_f64(<double *>pd, <const double *>pg, gc, <const double *>ps, <const double *>py,
                                      pr, psc, pyc, c, n)
    return gd
