/* The L-BFGS driver: unconstrained L-BFGS with the iteration, line search and stopping rules
 * of L-BFGS-B, in reverse communication (see fg_minimize.h). Compiled once: the control flow
 * is scalar; the passes over n elements are the dispatched kernels of list_minimize.h (or,
 * with options.reference, their plain reference twins, so that the driver itself serves as
 * its own reference). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "fastgd_kernels.h"

/* The Moré–Thuente constants of the step update: how far an unbracketed search extrapolates
 * (between 1.1 and 4 times the last move), and the shrinking the bracketed interval must
 * achieve (to at most 0.66 of its width two steps earlier, else bisect). */
#define MT_EXTRAPOLATE_LOW 1.1
#define MT_EXTRAPOLATE_HIGH 4.0
#define MT_SHRINK 0.66

int fg_lbfgs_init(fg_lbfgs_state *st, int64_t n, int64_t history_size, const fg_lbfgs_options *options)
{
    const fg_lbfgs_options *o = options;
    if (n < 1 || history_size < 1 || !(o->ftol > 0.0 && o->ftol < o->gtol && o->gtol < 1.0) || !(o->xtol >= 0.0) ||
        !(o->stpmax > 0.0) || !(o->step_scale > 0.0) || o->max_line_search < 1)
        return -1;
    memset(st, 0, sizeof *st);
    st->options = *options;
    st->n = n;
    st->history_size = history_size;
    fg_lbfgs_forget(st);
    st->task = FG_LBFGS_START;
    st->matrices_valid = 1;
    return 0;
}

void fg_lbfgs_forget(fg_lbfgs_state *st)
{
    st->count = 0;
    st->newest = st->history_size; /* the ring has history_size + 1 rows: the next pair goes to row 0 */
    st->gamma = 1.0;
    st->pending = -1;
}

/* One update of the interval of uncertainty and the next trial step (Moré & Thuente 1994,
 * Section 4: the four cases by the value and derivative at the trial step stp against the
 * best step stx; cubic and quadratic (secant) interpolants, safeguarded). (stx, fx, dx) is the
 * best point, (sty, fy, dy) the other end of the interval, (stp, fp, dp) the trial point;
 * the new step is kept in [stpmin, stpmax]. */
static void mt_update(double *stx, double *fx, double *dx, double *sty, double *fy, double *dy, double *stp,
                      double fp, double dp, int *bracketed, double stpmin, double stpmax)
{
    const double sgnd = dp * (*dx / fabs(*dx));
    double stpf;
    if (fp > *fx) {
        /* Case 1, a higher value: the minimum is bracketed. Take the cubic step if it is closer
         * to stx than the quadratic one, else their average. */
        const double theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        const double s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        double gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp < *stx) gamma = -gamma;
        const double p = (gamma - *dx) + theta;
        const double q = ((gamma - *dx) + gamma) + dp;
        const double stpc = *stx + (p / q) * (*stp - *stx);
        const double stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        stpf = fabs(stpc - *stx) < fabs(stpq - *stx) ? stpc : stpc + (stpq - stpc) / 2.0;
        *bracketed = 1;
    } else if (sgnd < 0.0) {
        /* Case 2, a lower value and derivatives of opposite signs: bracketed. The cubic step
         * if it is farther from stp than the secant step, else the secant step. */
        const double theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        const double s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        double gamma = s * sqrt((theta / s) * (theta / s) - (*dx / s) * (dp / s));
        if (*stp > *stx) gamma = -gamma;
        const double p = (gamma - dp) + theta;
        const double q = ((gamma - dp) + gamma) + *dx;
        const double stpc = *stp + (p / q) * (*stx - *stp);
        const double stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
        *bracketed = 1;
    } else if (fabs(dp) < fabs(*dx)) {
        /* Case 3, a lower value, derivatives of one sign, the derivative shrinking: the cubic
         * step only if the cubic tends to infinity in the direction of the step and its
         * minimum lies beyond stp, else the end of the interval; then the secant step. */
        const double theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        const double s = fmax(fabs(theta), fmax(fabs(*dx), fabs(dp)));
        double gamma = s * sqrt(fmax(0.0, (theta / s) * (theta / s) - (*dx / s) * (dp / s)));
        if (*stp > *stx) gamma = -gamma;
        const double p = (gamma - dp) + theta;
        const double q = (gamma + (*dx - dp)) + gamma;
        const double r = p / q;
        double stpc;
        if (r < 0.0 && gamma != 0.0)
            stpc = *stp + r * (*stx - *stp);
        else
            stpc = *stp > *stx ? stpmax : stpmin;
        const double stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if (*bracketed) {
            /* the step closer to stp, but no farther than 0.66 of the way to sty */
            stpf = fabs(stpc - *stp) < fabs(stpq - *stp) ? stpc : stpq;
            const double limit = *stp + MT_SHRINK * (*sty - *stp);
            stpf = *stp > *stx ? fmin(limit, stpf) : fmax(limit, stpf);
        } else {
            stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
            stpf = fmax(stpmin, fmin(stpmax, stpf));
        }
    } else {
        /* Case 4, a lower value, derivatives of one sign, the derivative not shrinking: the
         * cubic step through stp and sty when bracketed, else the end of the interval. */
        if (*bracketed) {
            const double theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
            const double s = fmax(fabs(theta), fmax(fabs(*dy), fabs(dp)));
            double gamma = s * sqrt((theta / s) * (theta / s) - (*dy / s) * (dp / s));
            if (*stp > *sty) gamma = -gamma;
            const double p = (gamma - dp) + theta;
            const double q = ((gamma - dp) + gamma) + *dy;
            stpf = *stp + (p / q) * (*sty - *stp);
        } else {
            stpf = *stp > *stx ? stpmax : stpmin;
        }
    }
    /* the new interval: stx stays the point with the lowest value */
    if (fp > *fx) {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if (sgnd < 0.0) {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

/* Prepare the Moré–Thuente search from the start point (value st->f_start, derivative
 * st->gd_start < 0 along d) with first trial step st->step. */
static void mt_begin(fg_lbfgs_state *st)
{
    st->bracketed = 0;
    st->stage = 1;
    st->gtest = st->options.ftol * st->gd_start;
    st->step_limit = st->options.stpmax;
    st->width = st->options.stpmax;
    st->width1 = 2.0 * st->width;
    st->stx = st->sty = 0.0;
    st->fx = st->fy = st->f_start;
    st->gx = st->gy = st->gd_start;
    st->stmin = 0.0;
    st->stmax = st->step + MT_EXTRAPOLATE_HIGH * st->step;
}

/* The search after the value f and derivative g at the trial step st->step: returns 1 when
 * that step is accepted (the strong Wolfe conditions hold, or the interval cannot shrink any
 * further, or the step sits at its limit), else 0 with the next trial step in st->step. */
static int mt_search(fg_lbfgs_state *st, double f, double g)
{
    const double stp = st->step;
    const double ftest = st->f_start + stp * st->gtest;
    const double xtol = st->options.xtol;
    if (st->stage == 1 && f <= ftest && g >= 0.0) st->stage = 2;
    if (st->bracketed && (stp <= st->stmin || stp >= st->stmax)) return 1; /* rounding errors prevent progress */
    if (st->bracketed && st->stmax - st->stmin <= xtol * st->stmax) return 1; /* the interval is below xtol */
    if (stp == st->step_limit && f <= ftest && g <= st->gtest) return 1;      /* at the largest step */
    if (f <= ftest && fabs(g) <= st->options.gtol * (-st->gd_start)) return 1; /* sufficient decrease + curvature */

    double next = stp;
    if (st->stage == 1 && f <= st->fx && f > ftest) {
        /* Before a step with sufficient decrease and a nonnegative derivative is seen, work on
         * the modified function psi(t) = f(t) - f(0) - ftol·t·f'(0) (Moré & Thuente, Section 3). */
        double fm = f - stp * st->gtest, gm = g - st->gtest;
        double fxm = st->fx - st->stx * st->gtest, gxm = st->gx - st->gtest;
        double fym = st->fy - st->sty * st->gtest, gym = st->gy - st->gtest;
        mt_update(&st->stx, &fxm, &gxm, &st->sty, &fym, &gym, &next, fm, gm, &st->bracketed, st->stmin, st->stmax);
        st->fx = fxm + st->stx * st->gtest;
        st->fy = fym + st->sty * st->gtest;
        st->gx = gxm + st->gtest;
        st->gy = gym + st->gtest;
    } else {
        mt_update(&st->stx, &st->fx, &st->gx, &st->sty, &st->fy, &st->gy, &next, f, g, &st->bracketed, st->stmin,
                  st->stmax);
    }
    if (st->bracketed) {
        /* bisect when two steps did not shrink the interval enough */
        if (fabs(st->sty - st->stx) >= MT_SHRINK * st->width1) next = st->stx + 0.5 * (st->sty - st->stx);
        st->width1 = st->width;
        st->width = fabs(st->sty - st->stx);
        st->stmin = fmin(st->stx, st->sty);
        st->stmax = fmax(st->stx, st->sty);
    } else {
        st->stmin = next + MT_EXTRAPOLATE_LOW * (next - st->stx);
        st->stmax = next + MT_EXTRAPOLATE_HIGH * (next - st->stx);
    }
    next = fmin(fmax(next, 0.0), st->step_limit);
    /* no further progress is possible: fall back to the best step */
    if (st->bracketed && (next <= st->stmin || next >= st->stmax || st->stmax - st->stmin <= xtol * st->stmax))
        next = st->stx;
    st->step = next;
    return 0;
}

/* The compact-form coefficients of d = -gamma·g + Σ_k (s_coef[k]·s_k + y_coef[k]·y_k) = -H·g,
 * pairs k = 0 (oldest) .. c - 1 (newest), from a_k = s_k·g, b_k = y_k·g, the upper triangle
 * R_ij = s_i·y_j (i <= j) and Y'Y (by position: r(i, j) = sy[rows[i]·ld + rows[j]], likewise yy).
 * With H = gamma·I + [S gamma·Y] [[R^-T (D + gamma·Y'Y) R^-1, -R^-T], [-R^-1, 0]] [S'; gamma·Y']
 * and w = R^-1 a: H·g = gamma·g + S·p - gamma·Y·w with p = R^-T ((D + gamma·Y'Y) w - gamma·b). */
static void compact_coefficients(double *s_coef, double *y_coef, double *w, double *p, const double *a,
                                 const double *b, const double *sy, const double *yy, const int64_t *rows,
                                 int64_t ld, int64_t c, double gamma)
{
#define R(i, j) sy[rows[i] * ld + rows[j]]
#define YY(i, j) yy[rows[i] * ld + rows[j]]
    for (int64_t i = c - 1; i >= 0; i--) { /* R w = a, back substitution */
        double v = a[i];
        for (int64_t j = i + 1; j < c; j++) v -= R(i, j) * w[j];
        w[i] = v / R(i, i);
    }
    for (int64_t i = 0; i < c; i++) { /* R' p = (D + gamma·Y'Y) w - gamma·b, forward substitution */
        double v = R(i, i) * w[i] - gamma * b[i];
        for (int64_t j = 0; j < c; j++) v += gamma * YY(i, j) * w[j];
        for (int64_t j = 0; j < i; j++) v -= R(j, i) * p[j];
        p[i] = v / R(i, i);
    }
#undef R
#undef YY
    for (int64_t k = 0; k < c; k++) {
        s_coef[k] = -p[k];
        y_coef[k] = gamma * w[k];
    }
}

#define FG_TEMPLATE "minimize/lbfgs_driver_template.h"
#include "fg_each_type.h"
