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
