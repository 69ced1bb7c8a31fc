# Declarations of the optim kernels (src/kernels/fg_optim.h, list_optim.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    void fg_sgd_step_f32(float *params, const float *grads, int64_t n, double lr)
    void fg_sgd_step_f64(double *params, const double *grads, int64_t n, double lr)
