# Declarations of the L-BFGS driver (src/kernels/fg_minimize.h, lbfgs_driver.c) and the
# vector kernels it runs (list_minimize.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    enum:
        FG_LBFGS_START
        FG_LBFGS_EVALUATE
        FG_LBFGS_NEW_X
        FG_LBFGS_CONVERGED_GRADIENT
        FG_LBFGS_CONVERGED_REDUCTION
        FG_LBFGS_LINE_SEARCH_FAILED
        FG_LBFGS_RESUME
        FG_LBFGS_FIRST_STEP_INV_NORM2
        FG_LBFGS_FIRST_STEP_INV_NORM1

    ctypedef struct fg_lbfgs_options:
        double ftol, gtol, xtol, stpmax, step_scale, pgtol, rel_reduction
        int64_t max_line_search
        int line_search, first_step, reference

    ctypedef struct fg_lbfgs_state:
        fg_lbfgs_options options
        int64_t n, history_size, count, newest, iter, nfev, n_trials
        double gamma, f, f_start, gd, gd_start, step, grad_max
        int task, in_place, start_current, matrices_valid
        int64_t pending
        void *x
        void *g
        void *d
        void *x_start
        void *g_start
        void *s_hist
        void *y_hist
        double *rho
        double *sy_mat
        double *yy_mat
        double *work
        int64_t *rows

    int64_t FG_LBFGS_WORK(int64_t history_size)
    int fg_lbfgs_init(fg_lbfgs_state *st, int64_t n, int64_t history_size, const fg_lbfgs_options *options)
    void fg_lbfgs_forget(fg_lbfgs_state *st)
    int fg_lbfgs_advance_f32(fg_lbfgs_state *st, double f)
    int fg_lbfgs_advance_f64(fg_lbfgs_state *st, double f)

    double fg_lbfgs_dot_f32(const float *a, const float *b, int64_t n)
    double fg_lbfgs_dot_f64(const double *a, const double *b, int64_t n)
    double fg_lbfgs_dot_ref_f32(const float *a, const float *b, int64_t n)
    double fg_lbfgs_dot_ref_f64(const double *a, const double *b, int64_t n)
    int64_t fg_lbfgs_trial_f32(float *x, const float *base, const float *d, double step, int64_t n)
    int64_t fg_lbfgs_trial_f64(double *x, const double *base, const double *d, double step, int64_t n)
    int64_t fg_lbfgs_trial_ref_f32(float *x, const float *base, const float *d, double step, int64_t n)
    int64_t fg_lbfgs_trial_ref_f64(double *x, const double *base, const double *d, double step, int64_t n)
    double fg_lbfgs_ridge_f32(float *g, const float *w, double l2, int64_t n)
    double fg_lbfgs_ridge_f64(double *g, const double *w, double l2, int64_t n)
    double fg_lbfgs_ridge_ref_f32(float *g, const float *w, double l2, int64_t n)
    double fg_lbfgs_ridge_ref_f64(double *g, const double *w, double l2, int64_t n)
    double fg_lbfgs_norms_f32(const float *a, int64_t n, double *abs_sum)
    double fg_lbfgs_norms_f64(const double *a, int64_t n, double *abs_sum)
    double fg_lbfgs_norms_ref_f32(const float *a, int64_t n, double *abs_sum)
    double fg_lbfgs_norms_ref_f64(const double *a, int64_t n, double *abs_sum)
    void fg_lbfgs_dots_f32(double *out, const float *g, const float *y_new, const float *s_hist,
                           const float *y_hist, const int64_t *rows, int64_t count, int64_t n)
    void fg_lbfgs_dots_f64(double *out, const double *g, const double *y_new, const double *s_hist,
                           const double *y_hist, const int64_t *rows, int64_t count, int64_t n)
    void fg_lbfgs_dots_ref_f32(double *out, const float *g, const float *y_new, const float *s_hist,
                               const float *y_hist, const int64_t *rows, int64_t count, int64_t n)
    void fg_lbfgs_dots_ref_f64(double *out, const double *g, const double *y_new, const double *s_hist,
                               const double *y_hist, const int64_t *rows, int64_t count, int64_t n)
    double fg_lbfgs_combine_f32(float *d, const float *g, double g_coef, const float *s_hist, const float *y_hist,
                                const int64_t *rows, const double *s_coef, const double *y_coef, int64_t count,
                                int64_t n)
    double fg_lbfgs_combine_f64(double *d, const double *g, double g_coef, const double *s_hist,
                                const double *y_hist, const int64_t *rows, const double *s_coef,
                                const double *y_coef, int64_t count, int64_t n)
    double fg_lbfgs_combine_ref_f32(float *d, const float *g, double g_coef, const float *s_hist,
                                    const float *y_hist, const int64_t *rows, const double *s_coef,
                                    const double *y_coef, int64_t count, int64_t n)
    double fg_lbfgs_combine_ref_f64(double *d, const double *g, double g_coef, const double *s_hist,
                                    const double *y_hist, const int64_t *rows, const double *s_coef,
                                    const double *y_coef, int64_t count, int64_t n)
    void fg_lbfgs_accept_f32(double *out, float *s, float *y, float *x_start, float *g_start, const float *x,
                             const float *g, int64_t n)
    void fg_lbfgs_accept_f64(double *out, double *s, double *y, double *x_start, double *g_start,
                             const double *x, const double *g, int64_t n)
    void fg_lbfgs_accept_ref_f32(double *out, float *s, float *y, float *x_start, float *g_start, const float *x,
                                 const float *g, int64_t n)
    void fg_lbfgs_accept_ref_f64(double *out, double *s, double *y, double *x_start, double *g_start,
                                 const double *x, const double *g, int64_t n)
