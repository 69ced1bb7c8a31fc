# In-place optimizer steps over flat parameter buffers, norms and clipping.

from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset


def inplace_sgd_step(params, grads, lr):
    """Plain gradient descent step, in place: ``params -= lr * grads``.

    Parameters
    ----------
    params : ndarray, float32 or float64, 1-D, C-contiguous, writeable
        Updated in place.
    grads : ndarray, same dtype and shape as ``params``, not overlapping it
    lr : float
        Learning rate (step size), finite. A negative value ascends.

    The update is the general optimizer step (``fastgd.optim.SGD`` without momentum or weight
    decay); it runs in C with the GIL released, and large buffers use several threads (see
    :func:`fastgd.set_num_threads`).
    """
    cdef cnp.ndarray p = check_float_array("params", params, 1, writeable=True)
    cdef cnp.ndarray g = check_float_array("grads", grads, 1)
    check_same("grads", g, "params", p)
    cdef fg_optim_config cfg
    memset(&cfg, 0, sizeof(cfg))
    cfg.kind = FG_OPT_SGD
    cfg.step = 1
    cfg.lr = check_real("lr", lr)
    cdef int64_t n = p.shape[0]
    if p.dtype == np.float32:
        with nogil:
            fg_optim_step_f32(<float *>cnp.PyArray_DATA(p), <const float *>cnp.PyArray_DATA(g), NULL, 0, n,
                              &cfg)
    else:
        with nogil:
            fg_optim_step_f64(<double *>cnp.PyArray_DATA(p), <const double *>cnp.PyArray_DATA(g), NULL, 0, n,
                              &cfg)


# ---- the general optimizer step ----------------------------------------------------------

# ids of the optimizers whose update is running: a second concurrent step through the same
# optimizer would race on its state and step count (lost updates), so it is refused.
cdef set _optimizers_stepping = set()


cdef int _claim_optimizer(object optimizer) except -1:
    # membership test and insertion of an int run no Python code: atomic under the GIL
    key = id(optimizer)
    if key in _optimizers_stepping:
        raise RuntimeError(f"{type(optimizer).__name__} is already running a step in another thread (or a "
                           "reset, state_dict or load_state_dict, which must not overlap a step); an optimizer "
                           "updates one set of parameters one step at a time (use one optimizer per model and "
                           "thread)")
    _optimizers_stepping.add(key)
    return 0


cdef int _release_optimizer(object optimizer) except -1:
    _optimizers_stepping.discard(id(optimizer))
    return 0


cdef int _count_step(object optimizer) except -1:
    """Count one applied update of `optimizer`, the provider of the plan it was made from. The
    C steps call it as soon as their update is made, before returning to Python code: a signal
    handler (Ctrl-C's KeyboardInterrupt) runs only between Python bytecodes, so it cannot
    leave a fastgd.optim optimizer's update made but not counted in its ``_step``. Another
    plan provider counts in its ``_advance()``."""
    d = optimizer.__dict__
    if "_step" in d:
        d["_step"] = d["_step"] + 1
    else:
        optimizer._advance()
    return 0


def count_step(optimizer):
    """Count one applied update of `optimizer` (see _count_step)."""
    _count_step(optimizer)


def claim_optimizer(optimizer):
    """Mark `optimizer` as stepping; RuntimeError when it already is (in another thread)."""
    _claim_optimizer(optimizer)


def release_optimizer(optimizer):
    """End what claim_optimizer started."""
    _release_optimizer(optimizer)


cdef object _optim_group_dtype():
    """The NumPy dtype laid out exactly as the C struct fg_optim_group (start, stop, then the
    fg_optim_config fields of registry/optimizers.h, flattened), so that an optimizer plan's
    groups reach the kernels as they are, without a per-step conversion."""
    cdef fg_optim_group g
    cdef int64_t cfg_offset = <char *>&g.cfg - <char *>&g, offset
    cdef const char *ctype
    cdef const char *name
    cdef int i = 0
    numpy_type = {"int": np.intc, "int64_t": np.int64, "uint64_t": np.uint64, "double": np.float64}
    fields = [("start", np.int64, <char *>&g.start - <char *>&g), ("stop", np.int64, <char *>&g.stop - <char *>&g)]
    while True:
        name = fg_optim_config_field(i, &ctype, &offset)
        if name == NULL:
            break
        fields.append((name.decode("ascii"), numpy_type[ctype.decode("ascii")], cfg_offset + offset))
        i += 1
    return np.dtype({"names": [f[0] for f in fields], "formats": [f[1] for f in fields],
                     "offsets": [f[2] for f in fields], "itemsize": sizeof(fg_optim_group)})


# dtype of an optimizer plan's groups: one record per group, the layout of fg_optim_group
cdef object _OPTIM_GROUP_DTYPE = _optim_group_dtype()
OPTIM_GROUP_DTYPE = _OPTIM_GROUP_DTYPE
# The fg_optim_config fields by name, in order (registry/optimizers.h).
OPTIM_CONFIG_FIELDS = OPTIM_GROUP_DTYPE.names[2:]


def optim_groups(groups):
    """The plan groups array (OPTIM_GROUP_DTYPE) of a list of ``(start, stop, cfg)``, ``cfg`` a
    dict with every field of ``fg_optim_config``."""
    out = np.zeros(len(groups), dtype=OPTIM_GROUP_DTYPE)
    for i, (start, stop, cfg) in enumerate(groups):
        missing = [name for name in OPTIM_CONFIG_FIELDS if name not in cfg]
        if missing:
            raise ValueError(f"groups[{i}]: an optimizer configuration must give every field of "
                             f"fg_optim_config, missing {missing}")
        out[i] = (start, stop) + tuple(cfg[name] for name in OPTIM_CONFIG_FIELDS)
    return out


def optim_groups_refresh(groups, int64_t step, double lr):
    """Set the step and the learning rate of every group of a plan's groups array (what changes
    from one update to the next) in place, in one C loop."""
    if not isinstance(groups, cnp.ndarray):
        raise TypeError(f"groups must be a numpy array of dtype OPTIM_GROUP_DTYPE, got {_describe(groups)}")
    cdef cnp.ndarray a = <cnp.ndarray>groups
    if ((<object>cnp.PyArray_DESCR(a) is not _OPTIM_GROUP_DTYPE and a.dtype != _OPTIM_GROUP_DTYPE)
            or cnp.PyArray_NDIM(a) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(a) or not cnp.PyArray_ISWRITEABLE(a)):
        raise ValueError("groups must be a writeable, C-contiguous 1-D array of dtype OPTIM_GROUP_DTYPE")
    cdef fg_optim_group *g = <fg_optim_group *>cnp.PyArray_DATA(a)
    cdef Py_ssize_t i
    for i in range(cnp.PyArray_DIM(a, 0)):
        g[i].cfg.step = step
        g[i].cfg.lr = lr


cdef int _plan_groups(object groups, int64_t n, fg_optim_group **out, int64_t *cap,
                      int64_t *n_groups, int64_t *slots) except -1:
    """Copy the plan groups array `groups` (OPTIM_GROUP_DTYPE, 1-D) into the buffer *out of *cap
    records (grown as needed) and check the copy: ranges tiling [0, n) in order. Sets *n_groups
    and *slots (the state slots the groups' updates address)."""
    if not isinstance(groups, cnp.ndarray):
        raise TypeError(f"optimizer groups must be a numpy array of dtype OPTIM_GROUP_DTYPE, "
                        f"got {_describe(groups)}")
    cdef cnp.ndarray a = <cnp.ndarray>groups
    # the common case (a plan's own array) is checked by identity and C macros only
    if <object>cnp.PyArray_DESCR(a) is not _OPTIM_GROUP_DTYPE and a.dtype != _OPTIM_GROUP_DTYPE:
        raise TypeError(f"optimizer groups must have dtype OPTIM_GROUP_DTYPE, got {a.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        a = np.ascontiguousarray(a)
    if cnp.PyArray_NDIM(a) != 1:
        raise ValueError(f"optimizer groups must be 1-D, got shape {groups.shape}")
    cdef int64_t k = a.shape[0], g, expect = 0
    if k > cap[0]:
        free(out[0])
        out[0] = <fg_optim_group *>malloc(k * sizeof(fg_optim_group))
        if out[0] == NULL:
            cap[0] = 0
            raise MemoryError()
        cap[0] = k
    if k:
        memcpy(out[0], cnp.PyArray_DATA(a), k * sizeof(fg_optim_group))
    slots[0] = 0
    for g in range(k):
        if out[0][g].start != expect or out[0][g].stop < out[0][g].start or out[0][g].stop > n:
            raise ValueError(f"optimizer groups must tile [0, {n}) in order; "
                             f"got [{out[0][g].start}, {out[0][g].stop}) after {expect}")
        expect = out[0][g].stop
        slots[0] = max(slots[0], fg_optim_state_slots(&out[0][g].cfg))
    if expect != n:
        raise ValueError(f"optimizer groups must tile [0, {n}); they end at {expect}")
    n_groups[0] = k
    return 0


def optim_state_slots(dict cfg):
    """Number of n-length state arrays the update described by `cfg` (every fg_optim_config
    field) needs."""
    cdef cnp.ndarray g = optim_groups([(0, 0, cfg)])
    return fg_optim_state_slots(&(<fg_optim_group *>cnp.PyArray_DATA(g)).cfg)


cdef inline int64_t _state_stride(int64_t n) noexcept:
    return (n + 15) // 16 * 16


def optim_state_stride(int64_t n):
    """Distance in elements between the state slots of an optimizer over n parameters: n rounded
    up to a multiple of 16, so that every slot of a 64-byte aligned state array starts on a cache
    line (a slot that starts mid-line splits every other vector load and store across two lines,
    which costs the Adam step ~15 % when its buffers sit in cache)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _state_stride(n)


cdef cnp.ndarray _check_state(object state, cnp.ndarray p, int64_t slots):
    cdef int64_t n = p.shape[0]
    cdef int64_t stride = _state_stride(n)
    if state is None:
        if slots > 0 and n > 0:
            raise ValueError(f"state must be an array of {slots} x {stride} elements, got None")
        return None
    cdef cnp.ndarray s = check_float_array("state", state, 1, writeable=True)
    if s.dtype != p.dtype:
        raise TypeError(f"state must have the dtype of params ({p.dtype}), got {s.dtype}")
    if s.shape[0] < slots * stride:
        raise ValueError(f"state must hold {slots} slots x {stride} elements (optim_state_stride({n})) "
                         f"= {slots * stride}, got {s.shape[0]}")
    if overlap(s, p):
        raise ValueError("state and params must not share memory")
    return s


def inplace_optim_step(params, grads, state, groups, bint reference=False, start=0, stop=None, optimizer=None):
    """One optimizer update of ``params`` in place, group by group; with ``start``/``stop``,
    of elements [start, stop) only (the rest of params and state untouched).

    Parameters
    ----------
    params, grads : ndarray (n,), float32 or float64, C-contiguous; params writeable
    state : ndarray (slots * stride,) of the same dtype, or None when no group needs state
        Slot ``s`` of element ``i`` is ``state[s * stride + i]``, stride = ``optim_state_stride(n)``.
    groups : ndarray of OPTIM_GROUP_DTYPE, or list of (start, stop, cfg)
        Ranges tiling [0, n) in order with their update's ``fg_optim_config`` (an optimizer
        plan's groups; in a list, ``cfg`` is a dict with every field).
    reference : bool
        Run the plain scalar reference twin instead of the dispatched kernel (tests).
    start, stop : int
        The elements to update, ``0 <= start <= stop <= n`` (stop None: n). Each element
        gets exactly the update the whole call gives it, except noisy SGD's noise, which is
        drawn per group: a range may not cut a group whose ``noise_std`` is not 0.
    optimizer : the fastgd.optim optimizer whose plan ``(state, groups)`` is, or None
        Its step count is incremented as soon as the update is made (see _count_step).
    """
    cdef cnp.ndarray p = check_float_array("params", params, 1, writeable=True)
    cdef cnp.ndarray g = check_float_array("grads", grads, 1)
    check_same("grads", g, "params", p)
    cdef int64_t n = p.shape[0]
    if stop is None:
        stop = n
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= start <= stop <= n:
        raise ValueError(f"start and stop must satisfy 0 <= start <= stop <= n={n}, got start={start}, stop={stop}")
    if not isinstance(groups, np.ndarray):
        groups = optim_groups(groups)
    cdef fg_optim_group *parsed = NULL
    cdef int64_t cap = 0, n_groups = 0, slots = 0, gi
    cdef int64_t lo = start, hi = stop
    try:
        _plan_groups(groups, n, &parsed, &cap, &n_groups, &slots)
        s = _check_state(state, p, slots)
        if s is not None and overlap(s, g):
            raise ValueError("state and grads must not share memory")
        for gi in range(n_groups):
            if (parsed[gi].cfg.noise_std != 0 and max(parsed[gi].start, lo) < min(parsed[gi].stop, hi)
                    and (lo > parsed[gi].start or hi < parsed[gi].stop)):
                raise ValueError(f"start={lo}, stop={hi} cut group {gi} [{parsed[gi].start}, {parsed[gi].stop}), "
                                 f"whose noise is drawn over the whole group")
        _optim_step_groups(p, g, s, parsed, n_groups, reference, lo, hi)
        if optimizer is not None:
            _count_step(optimizer)
    finally:
        free(parsed)


cdef int _optim_step_groups(cnp.ndarray p, cnp.ndarray g, cnp.ndarray s, const fg_optim_group *groups,
                            int64_t n_groups, bint reference, int64_t lo, int64_t hi) except -1:
    cdef char *pp = <char *>cnp.PyArray_DATA(p)
    cdef const char *gp = <const char *>cnp.PyArray_DATA(g)
    cdef char *sp = <char *>cnp.PyArray_DATA(s) if s is not None else NULL
    cdef int64_t itemsize = p.dtype.itemsize
    cdef bint f32 = p.dtype == np.float32
    cdef int64_t stride = _state_stride(p.shape[0])
    cdef int64_t i, start, stop
    cdef const fg_optim_config *c
    for i in range(n_groups):
        start = max(groups[i].start, lo)
        stop = min(groups[i].stop, hi)
        if start >= stop:
            continue
        c = &groups[i].cfg
        with nogil:
            if f32 and not reference:
                fg_optim_step_f32(<float *>(pp + start * itemsize), <const float *>(gp + start * itemsize),
                                  <float *>(sp + start * itemsize) if sp != NULL else NULL, stride, stop - start, c)
            elif f32:
                fg_optim_step_ref_f32(<float *>(pp + start * itemsize), <const float *>(gp + start * itemsize),
                                      <float *>(sp + start * itemsize) if sp != NULL else NULL, stride, stop - start, c)
            elif not reference:
                fg_optim_step_f64(<double *>(pp + start * itemsize), <const double *>(gp + start * itemsize),
                                  <double *>(sp + start * itemsize) if sp != NULL else NULL, stride, stop - start, c)
            else:
                fg_optim_step_ref_f64(<double *>(pp + start * itemsize), <const double *>(gp + start * itemsize),
                                      <double *>(sp + start * itemsize) if sp != NULL else NULL, stride, stop - start, c)
    return 0


def optim_noise_normal(int64_t n, seed, int64_t step):
    """The standard normal numbers noisy SGD adds to elements 0..n-1 at `step` with `seed`
    (float64, before scaling by noise * sqrt(lr))."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cdef uint64_t key = <uint64_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] o = out
    if n > 0:
        with nogil:
            fg_optim_normal_ref(&o[0], n, key, step)
    return out


# ---- norms and clipping --------------------------------------------------------------------

def sum_squares(x, bint reference=False, str name="x"):
    """Σ x², accumulated in double (deterministic for any thread count and target); ``name``: what
    an error calls x."""
    cdef cnp.ndarray a = check_float_array(name, x, 1)
    cdef int64_t n = a.shape[0]
    cdef double r
    cdef bint f32 = a.dtype == np.float32
    with nogil:
        if f32:
            r = fg_sum_squares_ref_f32(<const float *>cnp.PyArray_DATA(a), n) if reference \
                else fg_sum_squares_f32(<const float *>cnp.PyArray_DATA(a), n)
        else:
            r = fg_sum_squares_ref_f64(<const double *>cnp.PyArray_DATA(a), n) if reference \
                else fg_sum_squares_f64(<const double *>cnp.PyArray_DATA(a), n)
    return r


def inplace_scale(x, s, str name="x"):
    """``x *= s`` in place (``s`` rounded to x's dtype once); ``name``: what an error calls x."""
    cdef cnp.ndarray a = check_float_array(name, x, 1, writeable=True)
    cdef double f = check_real("s", s)
    cdef int64_t n = a.shape[0]
    if a.dtype == np.float32:
        with nogil:
            fg_scale_f32(<float *>cnp.PyArray_DATA(a), n, f)
    else:
        with nogil:
            fg_scale_f64(<double *>cnp.PyArray_DATA(a), n, f)


def inplace_clip_value(x, clip, str name="x"):
    """Clamp ``x`` to ``[-clip, clip]`` in place; NaN entries stay NaN; ``name``: what an error calls x."""
    cdef cnp.ndarray a = check_float_array(name, x, 1, writeable=True)
    cdef double c = check_real("clip", clip)
    if not c >= 0:
        raise ValueError(f"clip must be >= 0, got {c}")
    cdef int64_t n = a.shape[0]
    if a.dtype == np.float32:
        with nogil:
            fg_clip_value_f32(<float *>cnp.PyArray_DATA(a), n, c)
    else:
        with nogil:
            fg_clip_value_f64(<double *>cnp.PyArray_DATA(a), n, c)
