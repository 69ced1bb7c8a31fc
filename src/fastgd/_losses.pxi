# Loss kernel bindings: the fused loss + gradient (fg_loss_f32/f64) and its reference twin.
#
# The public API is fastgd.losses (Loss classes) and fastgd.ops (functions); both validate the
# values (labels in range, finite, non-negative weights) once, in Python, through
# Loss.prepare_target. Here only what memory safety needs is checked: dtypes, shapes, layout.

REDUCE_MEAN = FG_REDUCE_MEAN
REDUCE_SUM = FG_REDUCE_SUM

_INT64 = np.dtype(np.int64)


def int64_outside(labels, Py_ssize_t n):
    """Whether an entry of the 1-D, C-contiguous int64 array `labels` lies outside [0, n): the
    range check of class labels in one loop, without NumPy's reduction overhead (a few
    microseconds, a share of a small training step)."""
    if (not isinstance(labels, np.ndarray) or cnp.PyArray_TYPE(<cnp.ndarray>labels) != cnp.NPY_INT64
            or cnp.PyArray_NDIM(<cnp.ndarray>labels) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>labels)
            or not cnp.PyArray_ISALIGNED(<cnp.ndarray>labels)):
        raise TypeError(f"labels must be a 1-D C-contiguous aligned int64 array, got {_describe(labels)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cdef const int64_t *t = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>labels)
    cdef Py_ssize_t i, size = cnp.PyArray_DIM(<cnp.ndarray>labels, 0)
    cdef bint outside = False
    with nogil:
        for i in range(size):
            # one unsigned comparison: a negative label reads as a huge number
            outside |= <uint64_t>t[i] >= <uint64_t>n
    return outside


cdef inline const void *_data_or_null(object a):
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef class LossSpec:
    """What the loss kernels need of a loss besides its arrays, prepared once: the C
    ``enum fg_loss`` kind, the label smoothing and the Huber threshold. fastgd.losses builds it
    (``Loss._c_spec()``); the step path reads it without calling back into the loss."""
    cdef readonly int kind
    cdef readonly double label_smoothing, delta

    def __init__(self, int kind, double label_smoothing=0.0, double delta=1.0):
        if kind < 0 or kind >= FG_LOSS_COUNT:
            raise ValueError(f"unknown loss kind {kind}")
        self.kind = kind
        self.label_smoothing = label_smoothing if kind == FG_LOSS_SOFTMAX_CE else 0.0
        self.delta = delta if kind == FG_LOSS_HUBER else 1.0


cdef int fill_loss_spec(fg_loss_spec *spec, LossSpec loss, object prepared_target,
                        object sample_weight, object class_weight_arr, int reduction) except -1:
    """Fill `spec` for `loss` without copying anything.

    prepared_target is what ``Loss.prepare_target`` returned, ``("labels", int64 (n,))`` or
    ``("rows", (n, c) array of pred's dtype)``; sample_weight an (n,) array of pred's dtype or
    None; class_weight_arr ``loss._class_weight_array(dtype)`` or None. The caller keeps the
    arrays alive while the spec is in use and has checked them against pred (n, c).
    """
    if loss is None:
        raise TypeError("loss must be a LossSpec, got None")
    if reduction != FG_REDUCE_MEAN and reduction != FG_REDUCE_SUM:
        raise ValueError(f"reduction must be REDUCE_MEAN or REDUCE_SUM, got {reduction}")
    target_kind, target_arr = <tuple>prepared_target
    spec.kind = loss.kind
    spec.reduction = reduction
    spec.labels = NULL
    spec.target = NULL
    if target_kind == "labels":
        if loss.kind != FG_LOSS_SOFTMAX_CE:
            raise ValueError("this loss needs target rows, got class labels")
        spec.labels = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>target_arr)
    elif target_kind == "rows":
        spec.target = cnp.PyArray_DATA(<cnp.ndarray>target_arr)
    else:
        raise ValueError(f"prepared target kind must be 'labels' or 'rows', got {target_kind!r}")
    spec.sample_weight = _data_or_null(sample_weight)
    spec.class_weight = _data_or_null(class_weight_arr) if loss.kind == FG_LOSS_SOFTMAX_CE else NULL
    spec.label_smoothing = loss.label_smoothing
    spec.delta = loss.delta
    spec.scale = 1.0
    return 0


cdef _check_vector(str name, object a, object dtype, int64_t length, str what):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(a)}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {a.dtype}")
    if a.ndim != 1 or a.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},) ({what}), got {a.shape}")
    if not a.flags.c_contiguous or not a.flags.aligned:
        raise ValueError(f"{name} must be C-contiguous and aligned")


def loss_value_and_grad(pred, LossSpec loss, prepared_target, sample_weight=None, class_weight=None,
                        int reduction=FG_REDUCE_MEAN, grad=None, bint reference=False,
                        double scale=1.0):
    """The loss of `pred` (n, c) and, when `grad` (n, c) is given, its gradient written there.

    Low-level: `loss`, `prepared_target`, `sample_weight` and `class_weight` are as for
    ``fill_loss_spec``; use fastgd.losses / fastgd.ops instead. ``reference=True`` runs the plain
    C reference twin (loss_ref.c), the test oracle. ``scale`` multiplies loss and gradient.
    """
    cdef cnp.ndarray p = check_float_array("pred", pred, 2)
    cdef int64_t n = p.shape[0], c = p.shape[1]
    if c < 1:
        raise ValueError(f"pred must have at least one column, got shape {pred.shape}")
    target_kind, target_arr = prepared_target
    if target_kind == "labels":
        _check_vector("target", target_arr, _INT64, n, "one label per row of pred")
    else:
        check_float_array("target", target_arr, 2)
        check_same("target", target_arr, "pred", p)
    if sample_weight is not None:
        _check_vector("sample_weight", sample_weight, p.dtype, n, "one weight per row of pred")
    if class_weight is not None:
        _check_vector("class_weight", class_weight, p.dtype, c, "one weight per class")
    cdef cnp.ndarray g = None
    cdef void *grad_ptr = NULL
    if grad is not None:
        g = check_float_array("grad", grad, 2, writeable=True)
        check_same("grad", g, "pred", p)
        for name, other in (("target", target_arr), ("sample_weight", sample_weight),
                            ("class_weight", class_weight)):
            if other is not None and overlap(g, other):
                raise ValueError(f"grad and {name} must not share memory")
        grad_ptr = cnp.PyArray_DATA(g)
    cdef fg_loss_spec spec
    fill_loss_spec(&spec, loss, prepared_target, sample_weight, class_weight, reduction)
    spec.scale = scale
    cdef double value
    cdef const void *pred_ptr = cnp.PyArray_DATA(p)
    cdef bint f32 = p.dtype == np.float32
    with nogil:
        if f32:
            if reference:
                value = fg_loss_ref_f32(<float *>grad_ptr, <const float *>pred_ptr, n, c, &spec)
            else:
                value = fg_loss_f32(<float *>grad_ptr, <const float *>pred_ptr, n, c, &spec)
        else:
            if reference:
                value = fg_loss_ref_f64(<double *>grad_ptr, <const double *>pred_ptr, n, c, &spec)
            else:
                value = fg_loss_f64(<double *>grad_ptr, <const double *>pred_ptr, n, c, &spec)
    if value != value and spec.labels != NULL:
        labels = target_arr
        bad = labels[(labels < 0) | (labels >= c)]
        if bad.size:
            raise ValueError(f"target labels must be in [0, {c}) for pred with {c} columns, "
                             f"got {bad[0]}")
    return value
