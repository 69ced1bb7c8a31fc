/* Public types and enums of the function minimization helpers, L-BFGS kernels. Included by fastgd_kernels.h. */
#ifndef FASTGD_MINIMIZE_H
#define FASTGD_MINIMIZE_H

#include "fg_common.h"

/* Reference twins of the L-BFGS kernels (lbfgs_ref.c): plain loops, one double
 * accumulator per dot product, compiled once without target flags. They are the
 * test oracle for the dispatched fg_lbfgs_direction_* and fg_lbfgs_pair_* (list_minimize.h) and take
 * the same arguments. */
void fg_lbfgs_direction_ref_f32(float *direction, const float *grad, const float *s_hist,
                                const float *y_hist, const double *rho, double *alpha, int64_t n,
                                int64_t history_size, int64_t count, int64_t newest, double gamma);
void fg_lbfgs_direction_ref_f64(double *direction, const double *grad, const double *s_hist,
                                const double *y_hist, const double *rho, double *alpha, int64_t n,
                                int64_t history_size, int64_t count, int64_t newest, double gamma);
double fg_lbfgs_pair_ref_f32(float *s, float *y, const float *x_new, const float *x_old,
                             const float *g_new, const float *g_old, int64_t n, double *y_dot_y);
double fg_lbfgs_pair_ref_f64(double *s, double *y, const double *x_new, const double *x_old,
                             const double *g_new, const double *g_old, int64_t n, double *y_dot_y);

double fg_lbfgs_dot_ref_f32(const float *a, const float *b, int64_t n);
double fg_lbfgs_dot_ref_f64(const double *a, const double *b, int64_t n);
int64_t fg_lbfgs_trial_ref_f32(float *x, const float *base, const float *d, double step, int64_t n);
int64_t fg_lbfgs_trial_ref_f64(double *x, const double *base, const double *d, double step, int64_t n);
double fg_lbfgs_ridge_ref_f32(float *g, const float *w, double l2, int64_t n);
double fg_lbfgs_ridge_ref_f64(double *g, const double *w, double l2, int64_t n);
double fg_lbfgs_norms_ref_f32(const float *a, int64_t n, double *abs_sum);
double fg_lbfgs_norms_ref_f64(const double *a, int64_t n, double *abs_sum);
void fg_lbfgs_dots_ref_f32(double *out, const float *g, const float *y_new, const float *s_hist,
                           const float *y_hist, const int64_t *rows, int64_t count, int64_t n);
void fg_lbfgs_dots_ref_f64(double *out, const double *g, const double *y_new, const double *s_hist,
                           const double *y_hist, const int64_t *rows, int64_t count, int64_t n);
double fg_lbfgs_combine_ref_f32(float *d, const float *g, double g_coef, const float *s_hist, const float *y_hist,
                                const int64_t *rows, const double *s_coef, const double *y_coef, int64_t count,
                                int64_t n);
double fg_lbfgs_combine_ref_f64(double *d, const double *g, double g_coef, const double *s_hist,
                                const double *y_hist, const int64_t *rows, const double *s_coef,
                                const double *y_coef, int64_t count, int64_t n);
void fg_lbfgs_accept_ref_f32(double *out, float *s, float *y, float *x_start, float *g_start, const float *x,
                             const float *g, int64_t n);
void fg_lbfgs_accept_ref_f64(double *out, double *s, double *y, double *x_start, double *g_start,
                             const double *x, const double *g, int64_t n);

/* ---- the L-BFGS driver (lbfgs_driver.c) --------------------------------------------
 *
 * Unconstrained L-BFGS with the semantics of L-BFGS-B (Byrd, Lu, Nocedal & Zhu, "A limited
 * memory algorithm for bound constrained optimization", SIAM J. Sci. Comput. 16(5), 1995)
 * without bounds: the quasi-Newton direction of L-BFGS-B's compact representation (below),
 * which with no variable at a bound equals the two-loop recursion's (Nocedal & Wright,
 * Numerical Optimization, 2nd ed., Algorithm 7.4); the Moré–Thuente line search (J. J. Moré and
 * D. J. Thuente, "Line search algorithms with guaranteed sufficient decrease", ACM TOMS
 * 20(3), 1994); the stopping rules on the infinity norm of the gradient and on the relative
 * reduction of f.
 *
 * Reverse communication: the driver never calls the objective. The caller evaluates f and
 * the gradient at x whenever fg_lbfgs_advance_* returns FG_LBFGS_EVALUATE (the gradient
 * into g), then calls it again with f:
 *
 *     fg_lbfgs_init(&st, n, history_size, &options); bind the buffers; evaluate f, g at x0;
 *     for (task = fg_lbfgs_advance_f64(&st, f); ; task = fg_lbfgs_advance_f64(&st, f)) {
 *         if (task == FG_LBFGS_EVALUATE) f = objective(x, g);
 *         else if (task == FG_LBFGS_NEW_X) { an iteration was accepted: x, g, st.f hold it }
 *         else break;  (converged, or the line search failed: x, g, st.f hold the last point)
 *     }
 *
 * The direction comes from the compact form of the inverse Hessian approximation (Byrd, Nocedal
 * & Schnabel, "Representations of quasi-Newton matrices and their use in limited memory
 * methods", Math. Programming 63, 1994, eq. 3.1 with H0 = gamma·I): two sweeps over the
 * history per iteration (lbfgs_dots, lbfgs_combine) instead of the two-loop recursion's
 * 2·count + 1; the small matrices S'Y and Y'Y are kept up to date one column per new pair.
 *
 * Buffers (bound by the caller, each n elements of T unless said otherwise): x and g (the
 * point and its gradient), d (the direction), x_start and g_start (the line search's
 * starting point and gradient), s_hist and y_hist ((history_size + 1)·n: a ring of curvature
 * pairs with one spare row, so that a rejected pair never overwrites a kept one), rho
 * (history_size + 1 doubles: 1 / s·y per row), sy_mat and yy_mat ((history_size + 1)² doubles:
 * s_i·y_j and y_i·y_j by ring rows), work (FG_LBFGS_WORK(history_size) doubles), rows
 * (history_size + 1 int64). */
#define FG_LBFGS_WORK(history_size) (10 * ((history_size) + 1))

enum fg_lbfgs_task {
    FG_LBFGS_START = 0,               /* set by fg_lbfgs_init: f and g at x come with the next call */
    FG_LBFGS_EVALUATE = 1,            /* evaluate f and g at x, then call again with f */
    FG_LBFGS_NEW_X = 2,               /* an iteration was accepted; call again to continue */
    FG_LBFGS_CONVERGED_GRADIENT = 3,  /* max |g_i| <= pgtol */
    FG_LBFGS_CONVERGED_REDUCTION = 4, /* (f_old - f) <= rel_reduction·max(|f_old|, |f|, 1) */
    FG_LBFGS_LINE_SEARCH_FAILED = 5,  /* no acceptable step from the steepest-descent direction */
    FG_LBFGS_RESUME = 6               /* set by the caller: x, g and st->f hold an accepted point (after
                                         st->iter iterations, pairs in the history); the next call
                                         starts the next iteration from it */
};

enum fg_lbfgs_first_step {
    FG_LBFGS_FIRST_STEP_INV_NORM2 = 0, /* L-BFGS-B: min(1/‖d‖₂, stpmax) */
    FG_LBFGS_FIRST_STEP_INV_NORM1 = 1  /* step_scale·min(1, 1/‖g‖₁) */
};

typedef struct fg_lbfgs_options {
    double ftol, gtol, xtol; /* Moré–Thuente: sufficient decrease, curvature, bracket's relative width */
    double stpmax;           /* the largest step length */
    double step_scale;       /* first trial step once the first iteration is done (1: the quasi-Newton step) */
    double pgtol;            /* stop when max |g_i| <= pgtol; negative: never */
    double rel_reduction;    /* stop on the relative reduction of f (factr·epsmch); negative: never */
    int64_t max_line_search; /* most trial points per line search */
    int line_search;         /* 1: Moré–Thuente; 0: take the first trial step as it is */
    int first_step;          /* enum fg_lbfgs_first_step */
    int reference;           /* 1: call the plain reference twins of the vector kernels */
} fg_lbfgs_options;

typedef struct fg_lbfgs_state {
    fg_lbfgs_options options;
    int64_t n, history_size;
    int64_t count, newest;  /* pairs kept; ring row of the newest */
    double gamma;           /* H0 = gamma·I: s·y / y·y of the newest pair kept */
    int64_t iter;           /* accepted iterations */
    int64_t nfev;           /* evaluations asked of the caller (a trial point equal to the point just
                               evaluated is not asked again) */
    int64_t n_trials;       /* trial points of the current line search */
    int task;               /* enum fg_lbfgs_task: what the last call returned */
    int in_place;           /* x and g hold the last point evaluated by the caller */
    int start_current;      /* x_start and g_start hold x and g */
    int matrices_valid;     /* sy_mat and yy_mat hold every kept pair's products (but pending's) */
    int64_t pending;        /* ring row of a new pair whose products are not in the matrices yet, or -1 */
    double f, f_start;      /* f at x; f at the line search's start */
    double gd, gd_start;    /* g·d at x; at the start */
    double step;            /* the current trial step */
    double grad_max;        /* max |g_i| at the last accepted point */
    double abs_sum;         /* Σ |g_i| there */
    int norms_current;      /* grad_max and abs_sum belong to the gradient in g */
    /* the Moré–Thuente search's state: the best point (stx), the other end of the interval
     * (sty), the interval [stmin, stmax] of the next step */
    int stage, bracketed;
    double gtest, width, width1, stx, fx, gx, sty, fy, gy, stmin, stmax, step_limit;
    void *x, *g, *d, *x_start, *g_start, *s_hist, *y_hist;
    double *rho, *sy_mat, *yy_mat, *work;
    int64_t *rows;
} fg_lbfgs_state;

/* Check the options and start the state: task START, no pairs. Returns 0, or -1 when an
 * option is out of range (n < 1, history_size < 1, not 0 < ftol < gtol < 1, xtol < 0,
 * stpmax <= 0, step_scale <= 0, max_line_search < 1). Buffers are bound afterwards. */
int fg_lbfgs_init(fg_lbfgs_state *st, int64_t n, int64_t history_size, const fg_lbfgs_options *options);
/* Forget the curvature pairs (the next direction is -g). After the caller changed the
 * history (count, newest, the pairs), it sets matrices_valid = 0. */
void fg_lbfgs_forget(fg_lbfgs_state *st);
/* One step of the reverse-communication loop; f is the value at x when the previous call
 * returned START or EVALUATE (ignored otherwise). Returns the next enum fg_lbfgs_task. */
int fg_lbfgs_advance_f32(fg_lbfgs_state *st, double f);
int fg_lbfgs_advance_f64(fg_lbfgs_state *st, double f);

#endif
