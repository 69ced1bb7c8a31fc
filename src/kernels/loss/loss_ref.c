/* Reference twins of the loss kernels: scalar C, every intermediate in double, written to be
 * checked by eye against the formulas in fg_loss.h. The test oracle for loss.c; never dispatched. */
#include <math.h>
#include <stdlib.h>

#include "fastgd_kernels.h"
#include "fg_loss_elem.h"

/* Loss of one row (before the sample weight) and, when g != NULL, d l_i / d pred_ij in g. */
static double ce_row_ref(double *g, const double *z, int64_t c, int64_t label, const double *t,
                         const double *w, double eps)
{
    if (!t && label < 0) { /* a label changed since the range check (fg_label) */
        if (g)
            for (int64_t j = 0; j < c; j++) g[j] = NAN;
        return NAN;
    }
    double m = -INFINITY;
    for (int64_t j = 0; j < c; j++) m = z[j] > m ? z[j] : m;
    double s = 0.0;
    for (int64_t j = 0; j < c; j++) s += exp(z[j] - m);
    const double log_s = log(s);
    double loss = 0.0, total_a = 0.0;
    for (int64_t j = 0; j < c; j++) {
        const double wj = w ? w[j] : 1.0;
        double a;
        if (t) a = wj * ((1.0 - eps) * t[j] + eps / (double)c);
        else a = wj * (eps / (double)c + (j == label ? 1.0 - eps : 0.0));
        loss += a * ((m - z[j]) + log_s); /* a_j * (-log softmax_j) */
        total_a += a;
        if (g) g[j] = -a;
    }
    if (g)
        for (int64_t j = 0; j < c; j++) g[j] += total_a * exp(z[j] - m - log_s);
    return loss;
}

static double elementwise_ref(double *g, const double *p, const double *t, int64_t c, int kind,
                              double delta)
{
    double loss = 0.0;
    for (int64_t j = 0; j < c; j++) {
        double dl;
        loss += fg_loss_elem(kind, p[j], t[j], delta, &dl) / (double)c;
        if (g) g[j] = dl / (double)c;
    }
    return loss;
}

static int labels_ok(const fg_loss_spec *spec, int64_t n, int64_t c)
{
    if (spec->labels)
        for (int64_t i = 0; i < n; i++)
            if (fg_label(spec->labels, i, c) < 0) return 0;
    return 1;
}

/* The whole computation in double: each row is converted to double, its loss and gradient
 * computed by the functions above, and the gradient converted back. Allocates its row buffers
 * (the reference is not a hot path); returns NaN if that fails. */
#define DEFINE_LOSS_REF(T, SFX)                                                                   \
    double fg_loss_ref_##SFX(T *grad, const T *pred, int64_t n, int64_t c,                        \
                             const fg_loss_spec *spec)                                            \
    {                                                                                             \
        if (!fg_loss_spec_is_valid(spec, n, c)) return NAN;                                       \
        if (!labels_ok(spec, n, c)) {                                                             \
            if (grad)                                                                             \
                for (int64_t k = 0; k < n * c; k++) grad[k] = (T)NAN;                             \
            return NAN;                                                                           \
        }                                                                                         \
        const T *target = (const T *)spec->target, *sw = (const T *)spec->sample_weight;          \
        const T *cw = (const T *)spec->class_weight;                                              \
        double *buf = (double *)malloc(sizeof(double) * 4 * (size_t)c);                           \
        if (!buf) return NAN;                                                                     \
        double *z = buf, *t = buf + c, *g = buf + 2 * c, *w = buf + 3 * c;                        \
        for (int64_t j = 0; j < c; j++) w[j] = cw ? (double)cw[j] : 1.0;                          \
        double denominator = 0.0;                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                         \
            const double s = sw ? (double)sw[i] : 1.0;                                            \
            const int64_t y = spec->labels ? fg_label(spec->labels, i, c) : 0;                    \
            denominator += spec->labels ? s * (y < 0 ? NAN : w[y]) : s;                           \
        }                                                                                         \
        const double norm = spec->reduction == FG_REDUCE_SUM ? 1.0                               \
                            : (!(denominator <= 0) ? 1.0 / denominator : 0.0);                    \
        double numerator = 0.0;                                                                   \
        for (int64_t i = 0; i < n; i++) {                                                         \
            const double s = sw ? (double)sw[i] : 1.0;                                            \
            for (int64_t j = 0; j < c; j++) {                                                     \
                z[j] = (double)pred[i * c + j];                                                   \
                t[j] = target ? (double)target[i * c + j] : 0.0;                                  \
            }                                                                                     \
            double l;                                                                             \
            if (spec->kind == FG_LOSS_SOFTMAX_CE)                                                 \
                l = ce_row_ref(grad ? g : NULL, z, c, spec->labels ? fg_label(spec->labels, i, c) : -1, \
                               target ? t : NULL, w, spec->label_smoothing);                      \
            else                                                                                  \
                l = elementwise_ref(grad ? g : NULL, z, t, c, spec->kind, spec->delta);           \
            numerator += s * l;                                                                   \
            if (grad)                                                                             \
                for (int64_t j = 0; j < c; j++)                                                   \
                    grad[i * c + j] = (T)(g[j] * s * norm * spec->scale);                         \
        }                                                                                         \
        free(buf);                                                                                \
        return numerator * norm * spec->scale;                                                    \
    }

DEFINE_LOSS_REF(float, f32)
DEFINE_LOSS_REF(double, f64)
