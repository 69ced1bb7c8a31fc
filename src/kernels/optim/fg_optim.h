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

/* Field i of fg_optim_config (registry/optimizers.h): its name, with its C type's name ("int",
 * "int64_t", "uint64_t", "double") in *type and its byte offset in *offset; NULL past the last. */
const char *fg_optim_config_field(int i, const char **type, int64_t *offset);

typedef struct fg_optim_config {
#define FG_OPTIM_FIELD(type, name) type name;
#include "registry/optimizers.h"
#undef FG_OPTIM_FIELD
} fg_optim_config;

/* Number of n-length state arrays an update of this configuration needs (0 for plain SGD; then
 * `state` may be NULL). The slots of each kind are laid out by fg_optim_prepare
 * (optim_elem_template.h) and named by fastgd.optim (torch's state names). At step 1 the kernels
 * initialize the state themselves (zeros, the AdaGrad initial accumulator value), so a freshly
 * allocated state need not be cleared. */
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
/* Number of x[i] that are NaN or |x[i]| >= 2^exponent, exponent clamped as fg_count_large's. */
int64_t fg_count_large_ref_f32(const float *x, int64_t n, int exponent);
int64_t fg_count_large_ref_f64(const double *x, int64_t n, int exponent);

#endif
