# Declarations of the minimize kernels (src/kernels/minimize/fg_minimize.h, list_minimize.h).
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
    double fg_lbfgs_pair_f32(float *s, float *y, const float *x_new, const float *x_old,
                             const float *g_new, const float *g_old, int64_t n, double *y_dot_y)
    double fg_lbfgs_pair_f64(double *s, double *y, const double *x_new, const double *x_old,
                             const double *g_new, const double *g_old, int64_t n, double *y_dot_y)
    double fg_lbfgs_pair_ref_f32(float *s, float *y, const float *x_new, const float *x_old,
                                 const float *g_new, const float *g_old, int64_t n, double *y_dot_y)
    double fg_lbfgs_pair_ref_f64(double *s, double *y, const double *x_new, const double *x_old,
                                 const double *g_new, const double *g_old, int64_t n, double *y_dot_y)
