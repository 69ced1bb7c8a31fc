/* Dispatched kernels: function minimization helpers, L-BFGS. Included by kernel_list.h; no include guard. */

/* L-BFGS two-loop recursion (Nocedal & Wright, Algorithm 7.4): direction = -H·grad.
 * H is the inverse-Hessian approximation built from H0 = gamma·I and the `count`
 * most recent curvature pairs (s_j, y_j) of a ring buffer with room for
 * `history_size` pairs: pair j occupies s_hist[j*n .. j*n+n) and y_hist[j*n .. j*n+n),
 * rho[j] = 1 / (y_j·s_j); the newest pair is at index `newest`, the older ones at
 * newest-1, newest-2, ... modulo history_size. count == 0 gives -gamma·grad.
 * alpha: scratch of history_size doubles. direction (n) must not overlap the inputs.
 * Dot products accumulate in double in a fixed order (single thread): bit-identical
 * results for any thread count. */
FG_KERNEL(FG_CAT2(lbfgs_direction, SFX),
          (T *FG_RESTRICT direction, const T *FG_RESTRICT grad, const T *FG_RESTRICT s_hist,
           const T *FG_RESTRICT y_hist, const double *FG_RESTRICT rho, double *FG_RESTRICT alpha,
           int64_t n, int64_t history_size, int64_t count, int64_t newest, double gamma),
          (direction, grad, s_hist, y_hist, rho, alpha, n, history_size, count, newest, gamma))

/* One curvature pair into a ring-buffer row: s = x_new - x_old, y = g_new - g_old (n each).
 * Returns s·y and stores y·y in *y_dot_y, both accumulated in double in a fixed order. */
FG_KERNEL_RET(double, FG_CAT2(lbfgs_pair, SFX),
              (T *FG_RESTRICT s, T *FG_RESTRICT y, const T *FG_RESTRICT x_new,
               const T *FG_RESTRICT x_old, const T *FG_RESTRICT g_new, const T *FG_RESTRICT g_old,
               int64_t n, double *FG_RESTRICT y_dot_y),
              (s, y, x_new, x_old, g_new, g_old, n, y_dot_y))

/* Σ a[i]·b[i] accumulated in double in a fixed order (sixteen interleaved partial sums). */
FG_KERNEL_RET(double, FG_CAT2(lbfgs_dot, SFX), (const T *FG_RESTRICT a, const T *FG_RESTRICT b, int64_t n),
              (a, b, n))

/* A line search's trial point: x = base + step·d (n each; x must not overlap base or d).
 * Returns how many elements of x changed value (0: the trial point is the point x held). */
FG_KERNEL_RET(int64_t, FG_CAT2(lbfgs_trial, SFX),
              (T *FG_RESTRICT x, const T *FG_RESTRICT base, const T *FG_RESTRICT d, double step,
               int64_t n),
              (x, base, d, step, n))

/* An L2 term added to a gradient in place: g += l2·w; returns w·w accumulated in double in the
 * fixed order of lbfgs_dot (n each; g must not overlap w). */
FG_KERNEL_RET(double, FG_CAT2(lbfgs_ridge, SFX), (T *FG_RESTRICT g, const T *FG_RESTRICT w, double l2, int64_t n),
              (g, w, l2, n))

/* The infinity norm max |a[i]| (returned) and the 1-norm Σ |a[i]| (into *abs_sum), in double.
 * A NaN element is skipped by the maximum and propagates into the sum. */
FG_KERNEL_RET(double, FG_CAT2(lbfgs_norms, SFX),
              (const T *FG_RESTRICT a, int64_t n, double *FG_RESTRICT abs_sum),
              (a, n, abs_sum))

/* The compact form of L-BFGS (Byrd, Nocedal & Schnabel, Math. Programming 63, 1994) streams the
 * history twice per direction instead of 2·count + 1 times: once for the dot products, once for
 * the combination. Pairs are the rows rows[0..count) of s_hist and y_hist (each row n long).
 *
 * lbfgs_dots: out[4k + 0..3] = s_k·g, y_k·g, s_k·y_new, y_k·y_new (the last two 0 when y_new is
 * NULL), each accumulated in double in a fixed order. */
FG_KERNEL(FG_CAT2(lbfgs_dots, SFX),
          (double *FG_RESTRICT out, const T *FG_RESTRICT g, const T *FG_RESTRICT y_new,
           const T *FG_RESTRICT s_hist, const T *FG_RESTRICT y_hist, const int64_t *FG_RESTRICT rows,
           int64_t count, int64_t n),
          (out, g, y_new, s_hist, y_hist, rows, count, n))

/* lbfgs_combine: d = g_coef·g + Σ_k (s_coef[k]·s_k + y_coef[k]·y_k) (d must not overlap the
 * inputs); returns g·d accumulated in double in a fixed order. */
FG_KERNEL_RET(double, FG_CAT2(lbfgs_combine, SFX),
              (T *FG_RESTRICT d, const T *FG_RESTRICT g, double g_coef, const T *FG_RESTRICT s_hist,
               const T *FG_RESTRICT y_hist, const int64_t *FG_RESTRICT rows, const double *FG_RESTRICT s_coef,
               const double *FG_RESTRICT y_coef, int64_t count, int64_t n),
              (d, g, g_coef, s_hist, y_hist, rows, s_coef, y_coef, count, n))

/* lbfgs_accept: at an accepted point x with gradient g, after a line search from x_start,
 * g_start: s = x - x_start, y = g - g_start, then x_start = x, g_start = g, in one sweep;
 * out = {s·y, y·y, max |g_i|, Σ |g_i|} in double. No argument may overlap another. */
FG_KERNEL(FG_CAT2(lbfgs_accept, SFX),
          (double *FG_RESTRICT out, T *FG_RESTRICT s, T *FG_RESTRICT y, T *FG_RESTRICT x_start,
           T *FG_RESTRICT g_start, const T *FG_RESTRICT x, const T *FG_RESTRICT g, int64_t n),
          (out, s, y, x_start, g_start, x, g, n))
