/* Dispatched kernels: function minimization helpers, L-BFGS (issue 7). Included by kernel_list.h; no include guard. */

/* L-BFGS two-loop recursion (Nocedal & Wright, Algorithm 7.4): direction = -H·grad.
 * H is the inverse-Hessian approximation built from H0 = gamma·I and the `count`
 * most recent curvature pairs (s_j, y_j) of a ring buffer with room for
 * `history_size` pairs: pair j occupies s_hist[j*n .. j*n+n) and y_hist[j*n .. j*n+n),
 * rho[j] = 1 / (y_j·s_j); the newest pair is at index `newest`, the older ones at
 * newest-1, newest-2, ... modulo history_size. count == 0 gives -gamma·grad.
 * alpha: scratch of history_size doubles. direction (n) must not overlap the inputs.
 * Dot products accumulate in double in a fixed order (single thread): bit-identical
 * results for any thread count. */
FG_KERNEL(lbfgs_direction_f32,
          (float *FG_RESTRICT direction, const float *FG_RESTRICT grad, const float *FG_RESTRICT s_hist,
           const float *FG_RESTRICT y_hist, const double *FG_RESTRICT rho, double *FG_RESTRICT alpha,
           int64_t n, int64_t history_size, int64_t count, int64_t newest, double gamma),
          (direction, grad, s_hist, y_hist, rho, alpha, n, history_size, count, newest, gamma))
FG_KERNEL(lbfgs_direction_f64,
          (double *FG_RESTRICT direction, const double *FG_RESTRICT grad, const double *FG_RESTRICT s_hist,
           const double *FG_RESTRICT y_hist, const double *FG_RESTRICT rho, double *FG_RESTRICT alpha,
           int64_t n, int64_t history_size, int64_t count, int64_t newest, double gamma),
          (direction, grad, s_hist, y_hist, rho, alpha, n, history_size, count, newest, gamma))

/* One curvature pair into a ring-buffer row: s = x_new - x_old, y = g_new - g_old (n each).
 * Returns s·y and stores y·y in *y_dot_y, both accumulated in double in a fixed order. */
FG_KERNEL_RET(double, lbfgs_pair_f32,
              (float *FG_RESTRICT s, float *FG_RESTRICT y, const float *FG_RESTRICT x_new,
               const float *FG_RESTRICT x_old, const float *FG_RESTRICT g_new, const float *FG_RESTRICT g_old,
               int64_t n, double *FG_RESTRICT y_dot_y),
              (s, y, x_new, x_old, g_new, g_old, n, y_dot_y))
FG_KERNEL_RET(double, lbfgs_pair_f64,
              (double *FG_RESTRICT s, double *FG_RESTRICT y, const double *FG_RESTRICT x_new,
               const double *FG_RESTRICT x_old, const double *FG_RESTRICT g_new, const double *FG_RESTRICT g_old,
               int64_t n, double *FG_RESTRICT y_dot_y),
              (s, y, x_new, x_old, g_new, g_old, n, y_dot_y))
