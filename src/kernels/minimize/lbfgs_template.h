/* Included by lbfgs.c once per element type T with name suffix SFX. */

#define FG_LBFGS_LANES 16
#ifndef FG_LBFGS_LANES_ONCE
#define FG_LBFGS_LANES_ONCE
/* acc[0] := the lanes of acc added pairwise in a fixed order; returns it. */
FG_INLINE double lbfgs_lanes_sum(double *acc)
{
    for (int width = FG_LBFGS_LANES / 2; width > 0; width /= 2)
        for (int j = 0; j < width; j++) acc[j] += acc[j + width];
    return acc[0];
}
#endif

/* acc[i mod 16] += a[i]·b[i] for i < n in increasing i: lbfgs_dot_lanes's lanes, resumable on
 * the next elements as long as n is a multiple of 16 on every call but the last. The lanes
 * live in a local array during the loop, which the compiler keeps in registers. */
FG_INLINE void FG_FN(FG_CAT2(lbfgs_dot_lanes_add, SFX))(double *FG_RESTRICT acc, const T *FG_RESTRICT a,
                                                       const T *FG_RESTRICT b, int64_t n)
{
    double l[FG_LBFGS_LANES];
    for (int j = 0; j < FG_LBFGS_LANES; j++) l[j] = acc[j];
    int64_t i = 0;
    for (; i + FG_LBFGS_LANES <= n; i += FG_LBFGS_LANES)
        for (int j = 0; j < FG_LBFGS_LANES; j++) l[j] += (double)a[i + j] * (double)b[i + j];
    for (int j = 0; i < n; i++, j++) l[j] += (double)a[i] * (double)b[i];
    for (int j = 0; j < FG_LBFGS_LANES; j++) acc[j] = l[j];
}

/* Σ a[i]·b[i] in double: sixteen interleaved partial sums (element i goes to lane i mod 16),
 * added pairwise in a fixed order at the end. The lanes are independent, so the compiler keeps
 * them in vector registers of any width and the order of every addition stays the same on
 * every target. */
static double FG_FN(FG_CAT2(lbfgs_dot_lanes, SFX))(const T *FG_RESTRICT a, const T *FG_RESTRICT b, int64_t n)
{
    double acc[FG_LBFGS_LANES] = {0.0};
    FG_FN(FG_CAT2(lbfgs_dot_lanes_add, SFX))(acc, a, b, n);
    return lbfgs_lanes_sum(acc);
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
    alpha[j] = rho[j] * FG_FN(FG_CAT2(lbfgs_dot_lanes, SFX))(s_hist + j * n, grad, n);

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
    *y_dot_y = FG_FN(FG_CAT2(lbfgs_dot_lanes, SFX))(y, y, n);
    return FG_FN(FG_CAT2(lbfgs_dot_lanes, SFX))(s, y, n);
}

/* a·b in double; see list_minimize.h. */
double FG_FN(FG_CAT2(fg_lbfgs_dot, SFX))(const T *FG_RESTRICT a, const T *FG_RESTRICT b, int64_t n)
{
    return FG_FN(FG_CAT2(lbfgs_dot_lanes, SFX))(a, b, n);
}

/* x = base + step·d; returns how many elements of x changed. See list_minimize.h. */
int64_t FG_FN(FG_CAT2(fg_lbfgs_trial, SFX))(T *FG_RESTRICT x, const T *FG_RESTRICT base, const T *FG_RESTRICT d,
                                            double step, int64_t n)
{
    const T t = (T)step;
    int64_t changed = 0;
    for (int64_t i = 0; i < n; i++) {
        const T v = base[i] + t * d[i];
        changed += v != x[i];
        x[i] = v;
    }
    return changed;
}

/* g += l2·w; returns w·w (lbfgs_dot_lanes's lanes and order). See list_minimize.h. */
double FG_FN(FG_CAT2(fg_lbfgs_ridge, SFX))(T *FG_RESTRICT g, const T *FG_RESTRICT w, double l2, int64_t n)
{
    const T c = (T)l2;
    double acc[FG_LBFGS_LANES] = {0.0};
    int64_t i = 0;
    for (; i + FG_LBFGS_LANES <= n; i += FG_LBFGS_LANES) {
        for (int j = 0; j < FG_LBFGS_LANES; j++) g[i + j] = g[i + j] + c * w[i + j];
        for (int j = 0; j < FG_LBFGS_LANES; j++) acc[j] += (double)w[i + j] * (double)w[i + j];
    }
    for (int j = 0; i < n; i++, j++) {
        g[i] = g[i] + c * w[i];
        acc[j] += (double)w[i] * (double)w[i];
    }
    for (int width = FG_LBFGS_LANES / 2; width > 0; width /= 2)
        for (int j = 0; j < width; j++) acc[j] += acc[j + width];
    return acc[0];
}

/* max |a[i]|, and Σ |a[i]| into *abs_sum; see list_minimize.h. */
double FG_FN(FG_CAT2(fg_lbfgs_norms, SFX))(const T *FG_RESTRICT a, int64_t n, double *FG_RESTRICT abs_sum)
{
    double m0 = 0.0, m1 = 0.0, s0 = 0.0, s1 = 0.0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        lbfgs_norms_add((double)a[i], &m0, &s0);
        lbfgs_norms_add((double)a[i + 1], &m1, &s1);
    }
    for (; i < n; i++) lbfgs_norms_add((double)a[i], &m0, &s0);
    *abs_sum = s0 + s1;
    return m0 > m1 ? m0 : m1;
}

/* The compact-form kernels sum in blocks of FG_LBFGS_BLOCK elements (each block's dot products
 * added to the totals in block order), and stream the history in sub-blocks of FG_LBFGS_SUB
 * elements (a multiple of the lanes), so that the sub-block of g and y_new (or of g and d) stays
 * in the L1 cache while every pair's sub-block passes by once: one sweep over the history per
 * kernel, whatever the number of pairs. FG_LBFGS_GROUP pairs share a sweep of g, which bounds
 * the lanes kept on the stack. */
#define FG_LBFGS_BLOCK 8192
#define FG_LBFGS_SUB 512
#define FG_LBFGS_GROUP 8
#if FG_LBFGS_SUB % FG_LBFGS_LANES != 0
#error "FG_LBFGS_SUB must be a multiple of FG_LBFGS_LANES"
#endif

/* One pair's products for lbfgs_dots on n elements: acc[0..3] += s·g, y·g, s·y_new, y·y_new
 * (the last two without y_new: NULL), each lane added to in the order of lbfgs_dot_lanes_add,
 * so the sums are those of four separate calls. One pass keeps four (or two) products in
 * flight: a single product's sixteen lanes are one chain of dependent additions per vector
 * register, which leaves the FMA units idle most of the time. */
FG_INLINE void FG_FN(FG_CAT2(lbfgs_pair_dots_add, SFX))(double acc[4][FG_LBFGS_LANES], const T *FG_RESTRICT s,
                                                       const T *FG_RESTRICT y, const T *FG_RESTRICT g,
                                                       const T *FG_RESTRICT y_new, int64_t n)
{
    double sg[FG_LBFGS_LANES], yg[FG_LBFGS_LANES];
    for (int j = 0; j < FG_LBFGS_LANES; j++) {
        sg[j] = acc[0][j];
        yg[j] = acc[1][j];
    }
    if (y_new == NULL) {
        int64_t i = 0;
        for (; i + FG_LBFGS_LANES <= n; i += FG_LBFGS_LANES)
            for (int j = 0; j < FG_LBFGS_LANES; j++) {
                sg[j] += (double)s[i + j] * (double)g[i + j];
                yg[j] += (double)y[i + j] * (double)g[i + j];
            }
        for (int j = 0; i < n; i++, j++) {
            sg[j] += (double)s[i] * (double)g[i];
            yg[j] += (double)y[i] * (double)g[i];
        }
    } else {
        double sn[FG_LBFGS_LANES], yn[FG_LBFGS_LANES];
        for (int j = 0; j < FG_LBFGS_LANES; j++) {
            sn[j] = acc[2][j];
            yn[j] = acc[3][j];
        }
        int64_t i = 0;
        for (; i + FG_LBFGS_LANES <= n; i += FG_LBFGS_LANES)
            for (int j = 0; j < FG_LBFGS_LANES; j++) {
                sg[j] += (double)s[i + j] * (double)g[i + j];
                yg[j] += (double)y[i + j] * (double)g[i + j];
                sn[j] += (double)s[i + j] * (double)y_new[i + j];
                yn[j] += (double)y[i + j] * (double)y_new[i + j];
            }
        for (int j = 0; i < n; i++, j++) {
            sg[j] += (double)s[i] * (double)g[i];
            yg[j] += (double)y[i] * (double)g[i];
            sn[j] += (double)s[i] * (double)y_new[i];
            yn[j] += (double)y[i] * (double)y_new[i];
        }
        for (int j = 0; j < FG_LBFGS_LANES; j++) {
            acc[2][j] = sn[j];
            acc[3][j] = yn[j];
        }
    }
    for (int j = 0; j < FG_LBFGS_LANES; j++) {
        acc[0][j] = sg[j];
        acc[1][j] = yg[j];
    }
}

/* Dot products of every listed pair with g (and with y_new); see list_minimize.h. */
void FG_FN(FG_CAT2(fg_lbfgs_dots, SFX))(double *FG_RESTRICT out, const T *FG_RESTRICT g, const T *FG_RESTRICT y_new,
                                        const T *FG_RESTRICT s_hist, const T *FG_RESTRICT y_hist,
                                        const int64_t *FG_RESTRICT rows, int64_t count, int64_t n)
{
    for (int64_t k = 0; k < 4 * count; k++) out[k] = 0.0;
    for (int64_t b0 = 0; b0 < n; b0 += FG_LBFGS_BLOCK) {
        const int64_t len = n - b0 < FG_LBFGS_BLOCK ? n - b0 : FG_LBFGS_BLOCK;
        for (int64_t k0 = 0; k0 < count; k0 += FG_LBFGS_GROUP) {
            const int64_t group = count - k0 < FG_LBFGS_GROUP ? count - k0 : FG_LBFGS_GROUP;
            double acc[FG_LBFGS_GROUP][4][FG_LBFGS_LANES] = {{{0.0}}};
            for (int64_t a = 0; a < len; a += FG_LBFGS_SUB) {
                const int64_t m = len - a < FG_LBFGS_SUB ? len - a : FG_LBFGS_SUB, at = b0 + a;
                for (int64_t k = 0; k < group; k++)
                    FG_FN(FG_CAT2(lbfgs_pair_dots_add, SFX))(acc[k], s_hist + rows[k0 + k] * n + at,
                                                             y_hist + rows[k0 + k] * n + at, g + at,
                                                             y_new != NULL ? y_new + at : NULL, m);
            }
            for (int64_t k = 0; k < group; k++)
                for (int q = 0; q < (y_new != NULL ? 4 : 2); q++) out[4 * (k0 + k) + q] += lbfgs_lanes_sum(acc[k][q]);
        }
    }
}

/* d = g_coef·g + Σ_k (s_coef[k]·s_k + y_coef[k]·y_k); returns g·d. See list_minimize.h. */
double FG_FN(FG_CAT2(fg_lbfgs_combine, SFX))(T *FG_RESTRICT d, const T *FG_RESTRICT g, double g_coef,
                                             const T *FG_RESTRICT s_hist, const T *FG_RESTRICT y_hist,
                                             const int64_t *FG_RESTRICT rows, const double *FG_RESTRICT s_coef,
                                             const double *FG_RESTRICT y_coef, int64_t count, int64_t n)
{
    double gd = 0.0;
    const T gc = (T)g_coef;
    for (int64_t b0 = 0; b0 < n; b0 += FG_LBFGS_BLOCK) {
        const int64_t len = n - b0 < FG_LBFGS_BLOCK ? n - b0 : FG_LBFGS_BLOCK;
        double acc[FG_LBFGS_LANES] = {0.0};
        for (int64_t a = 0; a < len; a += FG_LBFGS_SUB) {
            const int64_t m = len - a < FG_LBFGS_SUB ? len - a : FG_LBFGS_SUB, at = b0 + a;
            T *FG_RESTRICT db = d + at;
            const T *FG_RESTRICT gb = g + at;
            for (int64_t i = 0; i < m; i++) db[i] = gc * gb[i];
            for (int64_t k = 0; k < count; k++) {
                const T *FG_RESTRICT s = s_hist + rows[k] * n + at;
                const T *FG_RESTRICT y = y_hist + rows[k] * n + at;
                const T sc = (T)s_coef[k], yc = (T)y_coef[k];
                for (int64_t i = 0; i < m; i++) db[i] = (db[i] + sc * s[i]) + yc * y[i];
            }
            FG_FN(FG_CAT2(lbfgs_dot_lanes_add, SFX))(acc, gb, db, m);
        }
        gd += lbfgs_lanes_sum(acc);
    }
    return gd;
}

/* The accepted point's pair and bookkeeping in one sweep; see list_minimize.h. */
void FG_FN(FG_CAT2(fg_lbfgs_accept, SFX))(double *FG_RESTRICT out, T *FG_RESTRICT s, T *FG_RESTRICT y,
                                          T *FG_RESTRICT x_start, T *FG_RESTRICT g_start, const T *FG_RESTRICT x,
                                          const T *FG_RESTRICT g, int64_t n)
{
    double sy0 = 0.0, sy1 = 0.0, yy0 = 0.0, yy1 = 0.0, m0 = 0.0, m1 = 0.0, a0 = 0.0, a1 = 0.0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const T s0 = x[i] - x_start[i], s1 = x[i + 1] - x_start[i + 1];
        const T y0 = g[i] - g_start[i], y1 = g[i + 1] - g_start[i + 1];
        s[i] = s0;
        s[i + 1] = s1;
        y[i] = y0;
        y[i + 1] = y1;
        x_start[i] = x[i];
        x_start[i + 1] = x[i + 1];
        g_start[i] = g[i];
        g_start[i + 1] = g[i + 1];
        sy0 += (double)s0 * (double)y0;
        sy1 += (double)s1 * (double)y1;
        yy0 += (double)y0 * (double)y0;
        yy1 += (double)y1 * (double)y1;
        lbfgs_norms_add((double)g[i], &m0, &a0);
        lbfgs_norms_add((double)g[i + 1], &m1, &a1);
    }
    for (; i < n; i++) {
        const T s0 = x[i] - x_start[i], y0 = g[i] - g_start[i];
        s[i] = s0;
        y[i] = y0;
        x_start[i] = x[i];
        g_start[i] = g[i];
        sy0 += (double)s0 * (double)y0;
        yy0 += (double)y0 * (double)y0;
        lbfgs_norms_add((double)g[i], &m0, &a0);
    }
    out[0] = sy0 + sy1;
    out[1] = yy0 + yy1;
    out[2] = m0 > m1 ? m0 : m1;
    out[3] = a0 + a1;
}
