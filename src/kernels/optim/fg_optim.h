/* Public types and enums of the optimizer steps, norms, clipping kernels. Included by fastgd_kernels.h.
 *
 * One optimizer update is one call of fg_optim_step_f32/f64 (list_optim.h) over a flat parameter
 * buffer. The exact update of each kind is written in optim_template.h and in the docstrings of
 * fastgd.optim; it is torch.optim's (2.x, single-tensor path) rule, operation for operation. */
#ifndef FASTGD_OPTIM_H
#define FASTGD_OPTIM_H

#include "fg_common.h"

enum fg_optimizer {
#define FG_OPTIMIZER(ID, name) FG_OPT_##ID,
#include "registry/optimizers.h"
#undef FG_OPTIMIZER
    FG_OPT_COUNT
};
/* The name of an optimizer ("sgd", ...: registry/optimizers.h), or NULL. */
const char *fg_optimizer_name(int kind);

typedef struct fg_optim_config {
    int kind;                 /* enum fg_optimizer */
    int64_t step;             /* 1-based number of this update (bias correction, first momentum step, ...) */
    double lr, weight_decay;
    double momentum, dampening; int nesterov;          /* SGD (RMSProp uses momentum too) */
    double noise_std; uint64_t noise_seed;             /* noisy SGD; counter-based RNG keyed by (seed, step, index) */
    double eps, lr_decay, initial_accumulator_value;   /* AdaGrad (eps shared) */
    double alpha; int centered;                        /* RMSProp */
    double beta1, beta2; int amsgrad;                  /* Adam/AdamW */
    int maximize;                                      /* ascend instead of descend */
} fg_optim_config;

/* Number of n-length state arrays an update of this configuration needs (0 for plain SGD; then
 * `state` may be NULL). Slot order: SGD [momentum_buffer]; AdaGrad [sum]; RMSProp [square_avg,
 * grad_avg if centered, momentum_buffer if momentum > 0]; Adam/AdamW [exp_avg, exp_avg_sq,
 * max_exp_avg_sq if amsgrad]. At step 1 the kernels initialize the state themselves (zeros, the
 * AdaGrad initial accumulator value), so a freshly allocated state need not be cleared. */
int fg_optim_state_slots(const fg_optim_config *cfg);

/* Reference twins (optim_ref.c): plain scalar loops, compiled once without target flags, doing
 * the same operations in the same order as the dispatched kernels, so the dispatched results are
 * bit-identical to them on every target. The test oracle. */
void fg_optim_step_ref_f32(float *params, const float *grads, float *state, int64_t state_stride,
                           int64_t n, const fg_optim_config *cfg);
void fg_optim_step_ref_f64(double *params, const double *grads, double *state, int64_t state_stride,
                           int64_t n, const fg_optim_config *cfg);
/* out[i] = the standard normal number the noisy SGD adds to element i at `step` with `seed`. */
void fg_optim_normal_ref(double *out, int64_t n, uint64_t seed, int64_t step);
/* Plain sequential sum of x[i]^2 in double. */
double fg_sum_squares_ref_f32(const float *x, int64_t n);
double fg_sum_squares_ref_f64(const double *x, int64_t n);

#endif
