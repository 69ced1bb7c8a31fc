/* Included by lbfgs_driver.c once per element type T with name suffix SFX: the driver's
 * passes over n elements, each the dispatched kernel or its reference twin. */

FG_INLINE void FG_CAT2(lbd_dots, SFX)(fg_lbfgs_state *st, double *out, const T *g, const T *y_new, int64_t c)
{
    if (st->options.reference)
        FG_CAT2(fg_lbfgs_dots_ref, SFX)(out, g, y_new, (const T *)st->s_hist, (const T *)st->y_hist, st->rows, c,
                                        st->n);
    else
        FG_CAT2(fg_lbfgs_dots, SFX)(out, g, y_new, (const T *)st->s_hist, (const T *)st->y_hist, st->rows, c, st->n);
}

/* d = -H·g in the compact form (see compact_coefficients); sets st->gd = g·d. */
static void FG_CAT2(lbd_direction, SFX)(fg_lbfgs_state *st)
{
    const int64_t c = st->count, rows_n = st->history_size + 1, n = st->n;
    const T *g = (const T *)st->g;
    double *work = st->work;
    double *dots = work, *a = work + 4 * rows_n, *b = a + rows_n, *w = b + rows_n, *p = w + rows_n;
    double *s_coef = p + rows_n, *y_coef = s_coef + rows_n;
    for (int64_t k = 0; k < c; k++) st->rows[k] = ((st->newest - (c - 1 - k)) % rows_n + rows_n) % rows_n;
    if (c > 0 && !st->matrices_valid) {
        /* rebuild S'Y and Y'Y from the pairs: one sweep per pair j gives s_i·y_j and y_i·y_j */
        for (int64_t j = 0; j < c; j++) {
            const int64_t rj = st->rows[j];
            FG_CAT2(lbd_dots, SFX)(st, dots, (const T *)st->y_hist + rj * n, NULL, c);
            for (int64_t i = 0; i < c; i++) {
                st->sy_mat[st->rows[i] * rows_n + rj] = dots[4 * i];
                st->yy_mat[st->rows[i] * rows_n + rj] = dots[4 * i + 1];
            }
        }
        st->matrices_valid = 1;
        st->pending = -1;
    }
    const int64_t pending = st->pending;
    if (c > 0) {
        /* a = S'g, b = Y'g, and the new pair's column of S'Y and Y'Y, in one sweep */
        FG_CAT2(lbd_dots, SFX)(st, dots, g, pending >= 0 ? (const T *)st->y_hist + pending * n : NULL, c);
        for (int64_t k = 0; k < c; k++) {
            a[k] = dots[4 * k];
            b[k] = dots[4 * k + 1];
            if (pending >= 0) {
                const int64_t rk = st->rows[k];
                st->sy_mat[rk * rows_n + pending] = dots[4 * k + 2];
                st->yy_mat[rk * rows_n + pending] = dots[4 * k + 3];
                st->yy_mat[pending * rows_n + rk] = dots[4 * k + 3];
            }
        }
        st->pending = -1;
        compact_coefficients(s_coef, y_coef, w, p, a, b, st->sy_mat, st->yy_mat, st->rows, rows_n, c, st->gamma);
    }
    st->gd = st->options.reference
                 ? FG_CAT2(fg_lbfgs_combine_ref, SFX)((T *)st->d, g, -st->gamma, (const T *)st->s_hist,
                                                     (const T *)st->y_hist, st->rows, s_coef, y_coef, c, n)
                 : FG_CAT2(fg_lbfgs_combine, SFX)((T *)st->d, g, -st->gamma, (const T *)st->s_hist,
                                                 (const T *)st->y_hist, st->rows, s_coef, y_coef, c, n);
}

FG_INLINE double FG_CAT2(lbd_dot, SFX)(const fg_lbfgs_state *st, const void *a, const void *b)
{
    return st->options.reference ? FG_CAT2(fg_lbfgs_dot_ref, SFX)((const T *)a, (const T *)b, st->n)
                                 : FG_CAT2(fg_lbfgs_dot, SFX)((const T *)a, (const T *)b, st->n);
}

/* max|a| (NaN when a has a NaN entry, which the max alone skips but the sum keeps: such a
 * gradient neither converges nor gives a direction) and Σ|a| into abs_sum. */
FG_INLINE double FG_CAT2(lbd_norms, SFX)(const fg_lbfgs_state *st, const void *a, double *abs_sum)
{
    const double max = st->options.reference ? FG_CAT2(fg_lbfgs_norms_ref, SFX)((const T *)a, st->n, abs_sum)
                                             : FG_CAT2(fg_lbfgs_norms, SFX)((const T *)a, st->n, abs_sum);
    return isnan(*abs_sum) ? *abs_sum : max;
}

static int FG_CAT2(lbd_begin, SFX)(fg_lbfgs_state *st);

/* Back to the line search's start point after a failed search. With curvature pairs, forget
 * them and search again along -g; without, give up. */
static int FG_CAT2(lbd_fail, SFX)(fg_lbfgs_state *st)
{
    const size_t bytes = (size_t)st->n * sizeof(T);
    memcpy(st->x, st->x_start, bytes);
    memcpy(st->g, st->g_start, bytes);
    st->f = st->f_start;
    st->in_place = 0;
    st->start_current = 1;
    st->norms_current = 0;
    if (st->count == 0) return st->task = FG_LBFGS_LINE_SEARCH_FAILED;
    fg_lbfgs_forget(st);
    return FG_CAT2(lbd_begin, SFX)(st);
}

/* Take the value f (and the gradient in g) at the trial step: accept the step, or choose the
 * next one. Returns 1 when accepted, 0 to go on, -1 when the search must give up. */
static int FG_CAT2(lbd_judge, SFX)(fg_lbfgs_state *st, double f)
{
    st->f = f;
    st->gd = FG_CAT2(lbd_dot, SFX)(st, st->g, st->d);
    const int finite = isfinite(f) && isfinite(st->gd);
    if (!st->options.line_search) return finite ? 1 : -1;
    if (!finite) {
        /* A step into a region where the objective is not finite is too long: never try it or a
         * longer one again; halve the way from the best step. */
        st->step_limit = st->stx + 0.5 * (st->step - st->stx);
        st->step = st->step_limit;
        if (!st->bracketed) st->stmax = fmin(st->stmax, st->step_limit);
        return 0;
    }
    const int verdict = mt_search(st, f, st->gd);
    /* Moré–Thuente's exits for an interval that rounding or xtol no longer lets shrink may end
     * the search at a step that improves neither f nor the slope along d (a gradient that does
     * not fit f, say). Without the relative-reduction test, which stops right after such a step,
     * accepting it would repeat the same search a hair further on, up to the iteration limit:
     * the search failed. (Near a minimum, where rounding hides the decrease of f, the slope
     * still shrinks, and the step is taken.) */
    if (verdict > 0 && st->options.rel_reduction < 0.0 && !(f < st->f_start) && !(fabs(st->gd) < fabs(st->gd_start)))
        return -1;
    return verdict;
}

/* The trial point is accepted: its gradient's norm, the iteration count and the curvature pair
 * s = x - x_start, y = g - g_start, kept when s·y is safely positive (s·y > eps·|g_start·d|·step,
 * the rule of L-BFGS-B), which keeps H positive definite. */
static int FG_CAT2(lbd_accept, SFX)(fg_lbfgs_state *st)
{
    const int64_t rows = st->history_size + 1, row = (st->newest + 1) % rows, n = st->n;
    T *s = (T *)st->s_hist + row * n, *y = (T *)st->y_hist + row * n;
    double out[4];
    if (st->options.reference)
        FG_CAT2(fg_lbfgs_accept_ref, SFX)(out, s, y, (T *)st->x_start, (T *)st->g_start, (const T *)st->x,
                                          (const T *)st->g, n);
    else
        FG_CAT2(fg_lbfgs_accept, SFX)(out, s, y, (T *)st->x_start, (T *)st->g_start, (const T *)st->x,
                                      (const T *)st->g, n);
    const double sy = out[0], yy = out[1];
    st->grad_max = out[2];
    st->abs_sum = out[3];
    st->norms_current = 1;
    st->start_current = 1;
    st->iter++;
    const double eps = sizeof(T) == sizeof(float) ? FLT_EPSILON : DBL_EPSILON;
    if (sy > eps * (-st->gd_start * st->step)) {
        st->rho[row] = 1.0 / sy;
        st->sy_mat[row * rows + row] = sy;
        st->yy_mat[row * rows + row] = yy;
        st->newest = row;
        st->count = st->count < st->history_size ? st->count + 1 : st->history_size;
        st->gamma = sy / yy;
        st->pending = row;
    }
    return st->task = FG_LBFGS_NEW_X;
}

/* Write the trial point for st->step into x and ask for its evaluation, unless it is the point
 * just evaluated (a step too small to change x): then judge it again with its known value. */
static int FG_CAT2(lbd_trial, SFX)(fg_lbfgs_state *st)
{
    for (;;) {
        if (st->n_trials >= st->options.max_line_search) return FG_CAT2(lbd_fail, SFX)(st);
        st->n_trials++;
        const int64_t changed =
            st->options.reference
                ? FG_CAT2(fg_lbfgs_trial_ref, SFX)((T *)st->x, (const T *)st->x_start, (const T *)st->d, st->step, st->n)
                : FG_CAT2(fg_lbfgs_trial, SFX)((T *)st->x, (const T *)st->x_start, (const T *)st->d, st->step, st->n);
        if (changed || !st->in_place) {
            st->in_place = 0;
            return st->task = FG_LBFGS_EVALUATE;
        }
        const int verdict = FG_CAT2(lbd_judge, SFX)(st, st->f);
        if (verdict > 0) return FG_CAT2(lbd_accept, SFX)(st);
        if (verdict < 0) return FG_CAT2(lbd_fail, SFX)(st);
    }
}

/* A new line search from the point in x (value st->f, gradient in g) along the quasi-Newton
 * direction. */
static int FG_CAT2(lbd_begin, SFX)(fg_lbfgs_state *st)
{
    const size_t bytes = (size_t)st->n * sizeof(T);
    /* the norms of g, unless the accepted point's sweep (or the start) measured them already */
    double abs_sum = st->abs_sum, grad_max = st->grad_max;
    if (!st->norms_current) grad_max = FG_CAT2(lbd_norms, SFX)(st, st->g, &abs_sum);
    st->norms_current = 0;
    if (grad_max == 0.0 && abs_sum == 0.0) return st->task = FG_LBFGS_CONVERGED_GRADIENT; /* no direction */
    if (!st->start_current) {
        memcpy(st->x_start, st->x, bytes);
        memcpy(st->g_start, st->g, bytes);
        st->start_current = 1;
    }
    st->f_start = st->f;
    FG_CAT2(lbd_direction, SFX)(st);
    if (!(st->gd < 0.0) && st->count > 0) {
        /* not a descent direction (round-off in the pairs): forget them, take -g */
        fg_lbfgs_forget(st);
        FG_CAT2(lbd_direction, SFX)(st);
    }
    if (!(st->gd < 0.0)) return st->task = FG_LBFGS_LINE_SEARCH_FAILED;
    st->gd_start = st->gd;
    if (st->iter > 0) {
        st->step = st->options.step_scale;
    } else if (st->options.first_step == FG_LBFGS_FIRST_STEP_INV_NORM1) {
        st->step = st->options.step_scale * fmin(1.0, 1.0 / abs_sum);
    } else {
        st->step = fmin(1.0 / sqrt(FG_CAT2(lbd_dot, SFX)(st, st->d, st->d)), st->options.stpmax);
    }
    st->n_trials = 0;
    mt_begin(st);
    return FG_CAT2(lbd_trial, SFX)(st);
}

int FG_CAT2(fg_lbfgs_advance, SFX)(fg_lbfgs_state *st, double f)
{
    switch (st->task) {
    case FG_LBFGS_START: {
        st->nfev++;
        st->f = f;
        st->in_place = 1;
        st->start_current = 0;
        st->grad_max = FG_CAT2(lbd_norms, SFX)(st, st->g, &st->abs_sum);
        st->norms_current = 1;
        if (st->grad_max <= st->options.pgtol) return st->task = FG_LBFGS_CONVERGED_GRADIENT;
        return FG_CAT2(lbd_begin, SFX)(st);
    }
    case FG_LBFGS_EVALUATE: {
        st->nfev++;
        st->in_place = 1;
        const int verdict = FG_CAT2(lbd_judge, SFX)(st, f);
        if (verdict > 0) return FG_CAT2(lbd_accept, SFX)(st);
        if (verdict < 0) return FG_CAT2(lbd_fail, SFX)(st);
        return FG_CAT2(lbd_trial, SFX)(st);
    }
    case FG_LBFGS_NEW_X: {
        if (st->grad_max <= st->options.pgtol) return st->task = FG_LBFGS_CONVERGED_GRADIENT;
        const double scale = fmax(fmax(fabs(st->f_start), fabs(st->f)), 1.0);
        if (st->options.rel_reduction >= 0.0 && st->f_start - st->f <= st->options.rel_reduction * scale)
            return st->task = FG_LBFGS_CONVERGED_REDUCTION;
        return FG_CAT2(lbd_begin, SFX)(st);
    }
    case FG_LBFGS_RESUME:
        st->in_place = 0;
        st->norms_current = 0;
        st->start_current = 0;
        return FG_CAT2(lbd_begin, SFX)(st);
    default:
        return st->task;
    }
}
