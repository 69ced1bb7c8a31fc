/* Public types and enums of the losses and their gradients kernels. Included by fastgd_kernels.h.
 *
 * One entry point per dtype computes any of the losses below and, optionally, its gradient
 * with respect to the predictions in the same pass over the data (fg_loss_f32/f64, listed in
 * list_loss.h). With q_ij the target, z/p the prediction row, s_i the sample weight (1 when
 * NULL) and w_j the class weight (1 when NULL):
 *
 *   SOFTMAX_CE  labels y_i:   l_i = (1-eps) w_{y_i} (-log softmax(z_i)_{y_i})
 *                                   + (eps/c) Σ_j w_j (-log softmax(z_i)_j)
 *               target rows:  l_i = -Σ_j w_j ((1-eps) t_ij + eps/c) log softmax(z_i)_j
 *               grad_ij = s_i (A_i softmax(z_i)_j - a_ij) with l_i = -Σ_j a_ij log softmax_j,
 *               A_i = Σ_j a_ij (log-sum-exp shifted by the row maximum, so any finite logits work)
 *   BCE         l_i = (1/c) Σ_j [max(z,0) - z t + log1p(exp(-|z|))],  grad = (sigmoid(z) - t)/c
 *   MSE         l_i = (1/c) Σ_j (p - t)^2,                            grad = 2 (p - t)/c
 *   MAE         l_i = (1/c) Σ_j |p - t|,                              grad = sign(p - t)/c
 *   HUBER       l_i = (1/c) Σ_j h(p - t), h(d) = d^2/2 if |d| <= delta else delta (|d| - delta/2),
 *               grad = clamp(p - t, -delta, delta)/c
 *   POISSON     log link (torch's poisson_nll_loss with log_input=True, full=False):
 *               l_i = (1/c) Σ_j [exp(z) - t z],                       grad = (exp(z) - t)/c
 *
 * Reduction MEAN divides Σ_i s_i l_i by D = Σ_i s_i w_{y_i} (CE with labels) or D = Σ_i s_i
 * (everything else), as torch's reduction='mean' does; D == 0 (no weight in the batch) gives
 * loss 0 and a zero gradient. SUM returns Σ_i s_i l_i. Both loss and gradient are multiplied by
 * spec->scale. The reduction is a fixed-order sum in double over fixed row chunks, so the
 * result is identical run after run and for every thread count. */
#ifndef FASTGD_LOSS_H
#define FASTGD_LOSS_H

#include "fg_common.h"

enum fg_loss {
#define FG_LOSS(ID, name, vector_form) FG_LOSS_##ID,
#include "registry/losses.h"
#undef FG_LOSS
    FG_LOSS_COUNT
};
/* The name of a loss ("softmax_ce", ...: registry/losses.h), or NULL. */
const char *fg_loss_name(int kind);
enum fg_reduction { FG_REDUCE_MEAN = 0, FG_REDUCE_SUM = 1 };
/* Rows are reduced in at most this many chunks, whose partial sums fg_loss_rows_* carries, with
   what the first range works out for all n rows (the mean's coefficient, the class weights' sum,
   whether the labels are in range): FG_LOSS_ROWS_STATE doubles. */
#define FG_LOSS_MAX_CHUNKS 64
#define FG_LOSS_ROWS_STATE (FG_LOSS_MAX_CHUNKS + 3)

typedef struct fg_loss_spec {
    int kind;                   /* enum fg_loss */
    int reduction;              /* enum fg_reduction */
    const int64_t *labels;      /* SOFTMAX_CE with class-index targets (n), else NULL */
    const void *target;         /* (n, c) rows of pred's dtype (one-hot/soft rows for CE; values else) or NULL */
    const void *sample_weight;  /* (n) of pred's dtype, or NULL */
    const void *class_weight;   /* (c) of pred's dtype, or NULL (SOFTMAX_CE only) */
    double label_smoothing;     /* SOFTMAX_CE, in [0, 1) */
    double delta;               /* HUBER, > 0 */
    double scale;               /* multiplies loss and grad (1.0 normally) */
} fg_loss_spec;

/* Label i of `labels` if it lies in [0, c), else -1. The labels may be the caller's array, which
 * another thread can write while a kernel runs: every use reads a label once through this and
 * indexes by what it returns, never by a second read, so a label changed after the kernels'
 * range check makes that row's loss and gradient NaN instead of an access out of bounds. */
FG_INLINE int64_t fg_label(const int64_t *labels, int64_t i, int64_t c)
{
    const int64_t y = *(const volatile int64_t *)&labels[i];
    return (uint64_t)y < (uint64_t)c ? y : -1;
}

/* 1 if `spec` is a valid request for pred (n, c): known kind and reduction, the targets the kind
 * needs, label_smoothing in [0, 1), delta > 0. Labels are range-checked by the kernels. */
FG_INLINE int fg_loss_spec_is_valid(const fg_loss_spec *spec, int64_t n, int64_t c)
{
    if (!spec || n < 0 || c < 1) return 0;
    if (spec->kind < 0 || spec->kind >= FG_LOSS_COUNT) return 0;
    if (spec->reduction != FG_REDUCE_MEAN && spec->reduction != FG_REDUCE_SUM) return 0;
    if (spec->kind == FG_LOSS_SOFTMAX_CE)
        return (spec->labels == NULL) != (spec->target == NULL) &&
               spec->label_smoothing >= 0.0 && spec->label_smoothing < 1.0;
    if (spec->target == NULL || spec->labels != NULL || spec->class_weight != NULL) return 0;
    return spec->kind != FG_LOSS_HUBER || spec->delta > 0.0;
}

/* The plain reference twins of fg_loss_f32/f64 (loss_ref.c): same contract, scalar C,
 * every intermediate in double. The test oracle; not dispatched. */
double fg_loss_ref_f32(float *grad, const float *pred, int64_t n, int64_t c, const fg_loss_spec *spec);
double fg_loss_ref_f64(double *grad, const double *pred, int64_t n, int64_t c, const fg_loss_spec *spec);

#endif
