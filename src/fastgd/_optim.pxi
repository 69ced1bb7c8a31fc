# In-place optimizer steps over flat parameter buffers.


def inplace_sgd_step(params, grads, lr):
    """Plain gradient descent step, in place: ``params -= lr * grads``.

    Parameters
    ----------
    params : ndarray, float32 or float64, 1-D, C-contiguous, writeable
        Updated in place.
    grads : ndarray, same dtype and shape as ``params``, not overlapping it
    lr : float
        Learning rate (step size), finite. A negative value ascends.

    The update runs in C with the GIL released; large buffers use several
    threads (see :func:`fastgd.set_num_threads`).
    """
    cdef cnp.ndarray p = check_float_array("params", params, 1, writeable=True)
    cdef cnp.ndarray g = check_float_array("grads", grads, 1)
    check_same("grads", g, "params", p)
    cdef double step = check_real("lr", lr)
    cdef int64_t n = p.shape[0]
    if p.dtype == np.float32:
        with nogil:
            fg_sgd_step_f32(<float *>cnp.PyArray_DATA(p), <const float *>cnp.PyArray_DATA(g), n, step)
    else:
        with nogil:
            fg_sgd_step_f64(<double *>cnp.PyArray_DATA(p), <const double *>cnp.PyArray_DATA(g), n, step)
