# Declarations of the minimize kernels (src/kernels/fg_minimize.h, list_minimize.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    void fg_lbfgs_direction_f32(float *direction, const float *grad, const float *s_hist,
                                const float *y_hist, const double *rho, double *alpha, int64_t n,
                                int64_t history_size, int64_t count, int64_t newest, double gamma)
    void fg_lbfgs_direction_f64(double *direction, const double *grad, const double *s_hist,
                                const double *y_hist, const double *rho, double *alpha, int64_t n,
                                int64_t history_size, int64_t count, int64_t newest, double gamma)
    void fg_lbfgs_direction_ref_f32(float *direction, const float *grad, const float *s_hist,
                                    const float *y_hist, const double *rho, double *alpha, int64_t n,
                                    int64_t history_size, int64_t count, int64_t newest, double gamma)
    void fg_lbfgs_direction_ref_f64(double *direction, const double *grad, const double *s_hist,
                                    const double *y_hist, const double *rho, double *alpha, int64_t n,
                                    int64_t history_size, int64_t count, int64_t newest, double gamma)
