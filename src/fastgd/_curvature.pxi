# Curvature bindings: the Hessian-vector and Gauss-Newton-vector products of a Sequential
# model's loss (fg_hvp.h). fastgd.curvature calls model_hvp for model.hvp / gnvp; users never do.


cdef double _hvp_chunk(_ModelEngine engine, cnp.ndarray hv, cnp.ndarray va, cnp.ndarray xa, int64_t n,
                       fg_loss_spec *spec, int gauss_newton, double beta, cnp.ndarray scratch,
                       bint reference, int forward_done) except? -1:
    cdef double value
    if engine.f32:
        with nogil:
            if reference:
                value = fg_model_hvp_ref_f32(&engine.m, <float *>cnp.PyArray_DATA(hv),
                                             <const float *>cnp.PyArray_DATA(va), <const float *>cnp.PyArray_DATA(xa),
                                             n, spec, gauss_newton, beta, <float *>cnp.PyArray_DATA(scratch),
                                             forward_done)
            else:
                value = fg_model_hvp_f32(&engine.m, <float *>cnp.PyArray_DATA(hv), <const float *>cnp.PyArray_DATA(va),
                                         <const float *>cnp.PyArray_DATA(xa), n, spec, gauss_newton, beta,
                                         <float *>cnp.PyArray_DATA(scratch), forward_done)
    else:
        with nogil:
            if reference:
                value = fg_model_hvp_ref_f64(&engine.m, <double *>cnp.PyArray_DATA(hv),
                                             <const double *>cnp.PyArray_DATA(va), <const double *>cnp.PyArray_DATA(xa),
                                             n, spec, gauss_newton, beta, <double *>cnp.PyArray_DATA(scratch),
                                             forward_done)
            else:
                value = fg_model_hvp_f64(&engine.m, <double *>cnp.PyArray_DATA(hv),
                                         <const double *>cnp.PyArray_DATA(va), <const double *>cnp.PyArray_DATA(xa),
                                         n, spec, gauss_newton, beta, <double *>cnp.PyArray_DATA(scratch),
                                         forward_done)
    return value


def model_hvp(_ModelEngine engine, x, v, LossSpec loss, target, sample_weight, bint gauss_newton, double denominator,
              bint reference=False, Py_ssize_t chunk_rows=8192, class_weight=None, bint forward_done=False,
              out=None):
    """``(loss, H·v)`` (or ``G·v`` with gauss_newton) of the mean loss over all rows of x.

    x (n, in), target (Loss.prepare_target's (kind, array)), sample_weight and class_weight
    (Loss._class_weight_array(dtype)) are validated
    by the caller, as is denominator, the mean's normalizer over all rows (fastgd.losses). The
    rows go through the kernel in chunks of chunk_rows, accumulated into one product, so memory
    stays bounded for any n. ``reference=True`` runs the plain-loop twin (model_hvp_ref.c), the
    test oracle. ``forward_done=True`` says the engine's layer outputs already hold the forward
    pass of these rows at the current parameters (a training step or product on x just ran, and
    nothing since): the product skips it. x must then fit in one chunk. ``out``: the array to
    write the product into (C-contiguous, the dtype and shape of the parameters, sharing memory
    with none of the inputs), returned."""
    cdef fg_loss_spec spec
    cdef cnp.ndarray xa = engine._check_dense(x)  # a CSRMatrix read as an ndarray gave garbage sizes
    cdef cnp.ndarray va = check_float_array("v", v, 1)
    check_same("v", va, "params", engine.params)
    cdef int64_t n = xa.shape[0]
    if n < 1:
        raise ValueError("x must hold at least one sample, got 0")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    cdef int64_t rows = min(n, chunk_rows)
    if forward_done and (rows < n or rows > engine.rows_cap):
        raise ValueError(f"forward_done needs the rows in one chunk that the engine's buffers already hold: "
                         f"{n} rows, chunk_rows={chunk_rows}, buffers of {engine.rows_cap} rows")
    outs = np.array([engine.layers[i].out for i in range(engine.m.n_layers)], dtype=np.int64)
    cdef int64_t elems = fg_model_hvp_scratch_elems(<const int64_t *>cnp.PyArray_DATA(outs), engine.m.n_layers,
                                                    engine.max_width, rows)
    cdef cnp.ndarray scratch = np.empty(elems, dtype=engine.dtype)
    cdef cnp.ndarray hv
    if out is None:
        hv = np.empty(engine.n_params, dtype=engine.dtype)
    else:
        hv = check_float_array("out", out, 1, writeable=True)
        check_same("out", hv, "params", engine.params)
        if overlap(hv, va) or overlap(hv, xa):
            raise ValueError("out must not share memory with v or x")
    cdef double value, total = 0.0
    cdef Py_ssize_t s, e
    engine._enter()
    try:
        engine.reserve(rows)
        for s in range(0, n, rows):
            e = min(n, s + rows)
            chunk_target = (target[0], target[1][s:e])
            chunk_sw = None if sample_weight is None else sample_weight[s:e]
            fill_loss_spec(&spec, loss, chunk_target, chunk_sw, class_weight, FG_REDUCE_SUM)
            spec.scale = 1.0 / denominator if denominator > 0 else 0.0
            value = _hvp_chunk(engine, hv, va, xa[s:e], e - s, &spec, gauss_newton, 0.0 if s == 0 else 1.0,
                               scratch, reference, forward_done)
            if value != value:
                raise ValueError("the loss is not a number at these parameters (non-finite parameters, or a "
                                 "class label outside [0, n_outputs))")
            total += value
    finally:
        engine._exit()
    return total, hv
