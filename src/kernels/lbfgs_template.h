/* Included by lbfgs.c once per element type T with name suffix SFX. */

/* Σ a[i]·b[i] in double: four interleaved partial sums, added in a fixed order. */
static double FG_FN(FG_CAT2(lbfgs_dot, SFX))(const T *FG_RESTRICT a, const T *FG_RESTRICT b, int64_t n)
{
    double acc0 = 0.0, acc1 = 0.0, acc2 = 0.0, acc3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        acc0 += (double)a[i] * (double)b[i];
        acc1 += (double)a[i + 1] * (double)b[i + 1];
        acc2 += (double)a[i + 2] * (double)b[i + 2];
        acc3 += (double)a[i + 3] * (double)b[i + 3];
    }
    for (; i < n; i++) acc0 += (double)a[i] * (double)b[i];
    return (acc0 + acc1) + (acc2 + acc3);
}

/* y += a·x */
static void FG_FN(FG_CAT2(lbfgs_axpy, SFX))(T *FG_RESTRICT y, const T *FG_RESTRICT x, int64_t n, double a)
{
    const T scale = (T)a;
    for (int64_t i = 0; i < n; i++) y[i] += scale * x[i];
}

/* direction = -H·grad by the two-loop recursion; see list_minimize.h. */
void FG_FN(FG_CAT2(fg_lbfgs_direction, SFX))(T *FG_RESTRICT direction, const T *FG_RESTRICT grad,
                                             const T *FG_RESTRICT s_hist, const T *FG_RESTRICT y_hist,
                                             const double *FG_RESTRICT rho, double *FG_RESTRICT alpha,
                                             int64_t n, int64_t history_size, int64_t count,
                                             int64_t newest, double gamma)
{
    /* q = grad, kept in `direction` (negated at the end) */
    for (int64_t i = 0; i < n; i++) direction[i] = grad[i];

    /* first loop, newest to oldest: alpha_j = rho_j s_j·q; q -= alpha_j y_j */
    for (int64_t k = 0; k < count; k++) {
        const int64_t j = ((newest - k) % history_size + history_size) % history_size;
        const T *s = s_hist + j * n, *y = y_hist + j * n;
        alpha[j] = rho[j] * FG_FN(FG_CAT2(lbfgs_dot, SFX))(s, direction, n);
        FG_FN(FG_CAT2(lbfgs_axpy, SFX))(direction, y, n, -alpha[j]);
    }

    /* r = H0·q = gamma·q */
    const T g = (T)gamma;
    for (int64_t i = 0; i < n; i++) direction[i] *= g;

    /* second loop, oldest to newest: beta = rho_j y_j·r; r += (alpha_j - beta) s_j */
    for (int64_t k = count - 1; k >= 0; k--) {
        const int64_t j = ((newest - k) % history_size + history_size) % history_size;
        const T *s = s_hist + j * n, *y = y_hist + j * n;
        const double beta = rho[j] * FG_FN(FG_CAT2(lbfgs_dot, SFX))(y, direction, n);
        FG_FN(FG_CAT2(lbfgs_axpy, SFX))(direction, s, n, alpha[j] - beta);
    }

    for (int64_t i = 0; i < n; i++) direction[i] = -direction[i];
}

/* s = x_new - x_old, y = g_new - g_old; returns s·y, *y_dot_y = y·y. See list_minimize.h. */
double FG_FN(FG_CAT2(fg_lbfgs_pair, SFX))(T *FG_RESTRICT s, T *FG_RESTRICT y, const T *FG_RESTRICT x_new,
                                          const T *FG_RESTRICT x_old, const T *FG_RESTRICT g_new,
                                          const T *FG_RESTRICT g_old, int64_t n, double *FG_RESTRICT y_dot_y)
{
    for (int64_t i = 0; i < n; i++) {
        s[i] = x_new[i] - x_old[i];
        y[i] = g_new[i] - g_old[i];
    }
    *y_dot_y = FG_FN(FG_CAT2(lbfgs_dot, SFX))(y, y, n);
    return FG_FN(FG_CAT2(lbfgs_dot, SFX))(s, y, n);
}
