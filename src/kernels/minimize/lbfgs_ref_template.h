/* Included by lbfgs_ref.c once per element type T with name suffix SFX. */

void FG_CAT2(fg_lbfgs_direction_ref, SFX)(T *direction, const T *grad, const T *s_hist,
                                          const T *y_hist, const double *rho, double *alpha,
                                          int64_t n, int64_t history_size, int64_t count,
                                          int64_t newest, double gamma)
{
    T *q = direction;
    for (int64_t i = 0; i < n; i++) q[i] = grad[i];

    for (int64_t k = 0; k < count; k++) { /* newest to oldest */
        const int64_t j = ((newest - k) % history_size + history_size) % history_size;
        const T *s = s_hist + j * n, *y = y_hist + j * n;
        double s_dot_q = 0.0;
        for (int64_t i = 0; i < n; i++) s_dot_q += (double)s[i] * (double)q[i];
        alpha[j] = rho[j] * s_dot_q;
        for (int64_t i = 0; i < n; i++) q[i] -= (T)alpha[j] * y[i];
    }

    T *r = direction;
    for (int64_t i = 0; i < n; i++) r[i] *= (T)gamma;

    for (int64_t k = count - 1; k >= 0; k--) { /* oldest to newest */
        const int64_t j = ((newest - k) % history_size + history_size) % history_size;
        const T *s = s_hist + j * n, *y = y_hist + j * n;
        double y_dot_r = 0.0;
        for (int64_t i = 0; i < n; i++) y_dot_r += (double)y[i] * (double)r[i];
        const double beta = rho[j] * y_dot_r;
        for (int64_t i = 0; i < n; i++) r[i] += (T)(alpha[j] - beta) * s[i];
    }

    for (int64_t i = 0; i < n; i++) direction[i] = -r[i];
}

double FG_CAT2(fg_lbfgs_pair_ref, SFX)(T *s, T *y, const T *x_new, const T *x_old, const T *g_new,
                                       const T *g_old, int64_t n, double *y_dot_y)
{
    double s_dot_y = 0.0, yy = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s[i] = x_new[i] - x_old[i];
        y[i] = g_new[i] - g_old[i];
        s_dot_y += (double)s[i] * (double)y[i];
        yy += (double)y[i] * (double)y[i];
    }
    *y_dot_y = yy;
    return s_dot_y;
}

double FG_CAT2(fg_lbfgs_dot_ref, SFX)(const T *a, const T *b, int64_t n)
{
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) acc += (double)a[i] * (double)b[i];
    return acc;
}

int64_t FG_CAT2(fg_lbfgs_trial_ref, SFX)(T *x, const T *base, const T *d, double step, int64_t n)
{
    int64_t changed = 0;
    for (int64_t i = 0; i < n; i++) {
        const T v = base[i] + (T)step * d[i];
        if (v != x[i]) changed++;
        x[i] = v;
    }
    return changed;
}

double FG_CAT2(fg_lbfgs_ridge_ref, SFX)(T *g, const T *w, double l2, int64_t n)
{
    for (int64_t i = 0; i < n; i++) g[i] = g[i] + (T)l2 * w[i];
    return FG_CAT2(fg_lbfgs_dot_ref, SFX)(w, w, n);
}

double FG_CAT2(fg_lbfgs_norms_ref, SFX)(const T *a, int64_t n, double *abs_sum)
{
    double largest = 0.0, sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double v = fabs((double)a[i]);
        if (v > largest) largest = v;
        sum += v;
    }
    *abs_sum = sum;
    return largest;
}

void FG_CAT2(fg_lbfgs_dots_ref, SFX)(double *out, const T *g, const T *y_new, const T *s_hist, const T *y_hist,
                                     const int64_t *rows, int64_t count, int64_t n)
{
    for (int64_t k = 0; k < count; k++) {
        const T *s = s_hist + rows[k] * n, *y = y_hist + rows[k] * n;
        out[4 * k] = FG_CAT2(fg_lbfgs_dot_ref, SFX)(s, g, n);
        out[4 * k + 1] = FG_CAT2(fg_lbfgs_dot_ref, SFX)(y, g, n);
        out[4 * k + 2] = y_new == NULL ? 0.0 : FG_CAT2(fg_lbfgs_dot_ref, SFX)(s, y_new, n);
        out[4 * k + 3] = y_new == NULL ? 0.0 : FG_CAT2(fg_lbfgs_dot_ref, SFX)(y, y_new, n);
    }
}

double FG_CAT2(fg_lbfgs_combine_ref, SFX)(T *d, const T *g, double g_coef, const T *s_hist, const T *y_hist,
                                          const int64_t *rows, const double *s_coef, const double *y_coef,
                                          int64_t count, int64_t n)
{
    for (int64_t i = 0; i < n; i++) d[i] = (T)g_coef * g[i];
    for (int64_t k = 0; k < count; k++) {
        const T *s = s_hist + rows[k] * n, *y = y_hist + rows[k] * n;
        for (int64_t i = 0; i < n; i++) d[i] = (d[i] + (T)s_coef[k] * s[i]) + (T)y_coef[k] * y[i];
    }
    return FG_CAT2(fg_lbfgs_dot_ref, SFX)(g, d, n);
}

void FG_CAT2(fg_lbfgs_accept_ref, SFX)(double *out, T *s, T *y, T *x_start, T *g_start, const T *x, const T *g,
                                       int64_t n)
{
    double yy = 0.0;
    out[0] = FG_CAT2(fg_lbfgs_pair_ref, SFX)(s, y, x, x_start, g, g_start, n, &yy);
    out[1] = yy;
    for (int64_t i = 0; i < n; i++) {
        x_start[i] = x[i];
        g_start[i] = g[i];
    }
    out[2] = FG_CAT2(fg_lbfgs_norms_ref, SFX)(g, n, &out[3]);
}
