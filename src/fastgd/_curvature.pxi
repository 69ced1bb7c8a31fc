# Curvature bindings: the Hessian-vector and Gauss-Newton-vector products of a Sequential
# model's loss (fg_hvp.h). fastgd.model.Sequential.hvp / gnvp call mlp_hvp; users never do.


def mlp_hvp(_MLPEngine engine, x, v, loss, target, sample_weight, bint gauss_newton,
            bint reference=False):
    """``(loss, H·v)`` (or ``G·v`` with gauss_newton) of the mean loss over all rows of x.

    x (n, in), target (loss.prepare_target's (kind, array)) and sample_weight are validated
    by the caller; v is checked here against the parameter arena. ``reference=True`` runs the
    plain-loop twin (mlp_hvp_ref.c), the test oracle."""
    cdef fg_loss_spec spec
    cdef cnp.ndarray xa = <cnp.ndarray>x
    cdef cnp.ndarray va = check_float_array("v", v, 1)
    check_same("v", va, "params", engine.params)
    cdef int64_t n = xa.shape[0]
    if n < 1:
        raise ValueError("x must hold at least one sample, got 0")
    cw = loss._class_weight_array(engine.dtype)
    fill_loss_spec(&spec, loss, target, sample_weight, cw, FG_REDUCE_MEAN)
    cdef cnp.ndarray outs = np.array([engine.layers[i].out for i in range(engine.m.n_layers)], dtype=np.int64)
    cdef int64_t elems = fg_mlp_hvp_scratch_elems(<const int64_t *>cnp.PyArray_DATA(outs), engine.m.n_layers,
                                                  engine.max_width, n)
    cdef cnp.ndarray scratch = np.empty(elems, dtype=engine.dtype)
    cdef cnp.ndarray hv = np.empty(engine.n_params, dtype=engine.dtype)
    cdef double value
    cdef int gn = gauss_newton
    engine._enter()
    try:
        engine.reserve(n)
        if engine.f32:
            with nogil:
                if reference:
                    value = fg_mlp_hvp_ref_f32(&engine.m, <float *>cnp.PyArray_DATA(hv), <const float *>cnp.PyArray_DATA(va),
                                               <const float *>cnp.PyArray_DATA(xa), n, &spec, gn, 0.0,
                                               <float *>cnp.PyArray_DATA(scratch))
                else:
                    value = fg_mlp_hvp_f32(&engine.m, <float *>cnp.PyArray_DATA(hv), <const float *>cnp.PyArray_DATA(va),
                                           <const float *>cnp.PyArray_DATA(xa), n, &spec, gn, 0.0,
                                           <float *>cnp.PyArray_DATA(scratch))
        else:
            with nogil:
                if reference:
                    value = fg_mlp_hvp_ref_f64(&engine.m, <double *>cnp.PyArray_DATA(hv),
                                               <const double *>cnp.PyArray_DATA(va),
                                               <const double *>cnp.PyArray_DATA(xa), n, &spec, gn, 0.0,
                                               <double *>cnp.PyArray_DATA(scratch))
                else:
                    value = fg_mlp_hvp_f64(&engine.m, <double *>cnp.PyArray_DATA(hv),
                                           <const double *>cnp.PyArray_DATA(va),
                                           <const double *>cnp.PyArray_DATA(xa), n, &spec, gn, 0.0,
                                           <double *>cnp.PyArray_DATA(scratch))
    finally:
        engine.busy = False
    if value != value:
        raise ValueError("the loss is not a number at these parameters (non-finite parameters, or a class "
                         "label outside [0, n_outputs))")
    return value, hv
