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

/* The two-loop recursion is memory bound: every pass streams n elements of a pair
 * and of the work vector. Each pass below therefore does the update of one pair and
 * the dot product that the next pair needs, on the values it has just written:
 * 2·count + 1 passes over n instead of 4·count + 3. */

/* out = scale·(in + a·x); returns next·out in double, or 0 when next is NULL.
 * out may be in (an in-place update); x and next are never written. */
static double FG_FN(FG_CAT2(lbfgs_update_dot, SFX))(T *out, const T *in, const T *FG_RESTRICT x, double a,
                                                    T scale, const T *FG_RESTRICT next, int64_t n)
{
    const T coef = (T)a;
    if (next == NULL) {
        for (int64_t i = 0; i < n; i++) out[i] = scale * (in[i] + coef * x[i]);
        return 0.0;
    }
    double acc0 = 0.0, acc1 = 0.0, acc2 = 0.0, acc3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const T v0 = scale * (in[i] + coef * x[i]), v1 = scale * (in[i + 1] + coef * x[i + 1]);
        const T v2 = scale * (in[i + 2] + coef * x[i + 2]), v3 = scale * (in[i + 3] + coef * x[i + 3]);
        out[i] = v0;
        out[i + 1] = v1;
        out[i + 2] = v2;
        out[i + 3] = v3;
        acc0 += (double)next[i] * (double)v0;
        acc1 += (double)next[i + 1] * (double)v1;
        acc2 += (double)next[i + 2] * (double)v2;
        acc3 += (double)next[i + 3] * (double)v3;
    }
    for (; i < n; i++) {
        const T v = scale * (in[i] + coef * x[i]);
        out[i] = v;
        acc0 += (double)next[i] * (double)v;
    }
    return (acc0 + acc1) + (acc2 + acc3);
}

/* Ring index of the k-th newest pair. */
FG_INLINE int64_t FG_FN(FG_CAT2(lbfgs_row, SFX))(int64_t newest, int64_t k, int64_t history_size)
{
    return ((newest - k) % history_size + history_size) % history_size;
}

/* direction = -H·grad by the two-loop recursion; see list_minimize.h. */
void FG_FN(FG_CAT2(fg_lbfgs_direction, SFX))(T *FG_RESTRICT direction, const T *FG_RESTRICT grad,
                                             const T *FG_RESTRICT s_hist, const T *FG_RESTRICT y_hist,
                                             const double *FG_RESTRICT rho, double *FG_RESTRICT alpha,
                                             int64_t n, int64_t history_size, int64_t count,
                                             int64_t newest, double gamma)
{
    T *q = direction; /* the work vector q, then r, then -r in the last pass */
    const T g = (T)gamma;
    if (count == 0) {
        for (int64_t i = 0; i < n; i++) direction[i] = -(g * grad[i]);
        return;
    }

    /* alpha of the newest pair: rho s·q with q = grad */
    int64_t j = FG_FN(FG_CAT2(lbfgs_row, SFX))(newest, 0, history_size);
    alpha[j] = rho[j] * FG_FN(FG_CAT2(lbfgs_dot, SFX))(s_hist + j * n, grad, n);

    /* first loop, newest to oldest: q -= alpha_j y_j (the first pass reads grad), then
     * the next pair's alpha; after the oldest pair, r = gamma·q and beta of the oldest
     * pair, rho y·r */
    double beta = 0.0;
    for (int64_t k = 0; k < count; k++) {
        j = FG_FN(FG_CAT2(lbfgs_row, SFX))(newest, k, history_size);
        const T *in = k == 0 ? grad : q;
        if (k + 1 < count) {
            const int64_t next = FG_FN(FG_CAT2(lbfgs_row, SFX))(newest, k + 1, history_size);
            alpha[next] = rho[next] * FG_FN(FG_CAT2(lbfgs_update_dot, SFX))(q, in, y_hist + j * n, -alpha[j], (T)1,
                                                                          s_hist + next * n, n);
        } else {
            beta = rho[j] * FG_FN(FG_CAT2(lbfgs_update_dot, SFX))(q, in, y_hist + j * n, -alpha[j], g,
                                                                 y_hist + j * n, n);
        }
    }

    /* second loop, oldest to newest: r += (alpha_j - beta_j) s_j, then the next pair's
     * beta; the last pass writes -r, the direction */
    for (int64_t k = count - 1; k >= 0; k--) {
        j = FG_FN(FG_CAT2(lbfgs_row, SFX))(newest, k, history_size);
        if (k > 0) {
            const int64_t next = FG_FN(FG_CAT2(lbfgs_row, SFX))(newest, k - 1, history_size);
            beta = rho[next] * FG_FN(FG_CAT2(lbfgs_update_dot, SFX))(q, q, s_hist + j * n, alpha[j] - beta, (T)1,
                                                                    y_hist + next * n, n);
        } else {
            FG_FN(FG_CAT2(lbfgs_update_dot, SFX))(q, q, s_hist + j * n, alpha[j] - beta, (T)-1, NULL, n);
        }
    }
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
