/* Reference twins of the optimizer kernels: one scalar loop, one switch per element, no threads,
 * compiled once without target flags. Same element updates as the dispatched kernels, so the
 * two must agree bit for bit; the tests hold the dispatched loops (vectorized, split across
 * threads, specialized per flag) to that. Also the state slot count and the noise generator. */
#include <float.h>

#include "optim_internal.h"

int fg_optim_state_slots(const fg_optim_config *cfg)
{
    fg_optim_coefs c;
    fg_optim_prepare(&c, cfg);
    return c.slots;
}

void fg_optim_normal_ref(double *out, int64_t n, uint64_t seed, int64_t step)
{
    const uint64_t key = fg_noise_key(seed, step);
    for (int64_t i = 0; i < n; i++) out[i] = fg_noise_normal(key, i);
}

#define REF_STEP(T, SFX)                                                                            \
    void fg_optim_step_ref_##SFX(T *params, const T *grads, T *state, int64_t stride, int64_t n,    \
                                 const fg_optim_config *cfg)                                        \
    {                                                                                               \
        fg_optim_coefs c;                                                                           \
        fg_optim_prepare(&c, cfg);                                                                  \
        if (c.kind < 0) return;                                                                     \
        fg_optim_tcoefs_##SFX t;                                                                    \
        fg_optim_tcoefs_from_##SFX(&t, &c);                                                         \
        const uint64_t key = fg_noise_key(c.noise_seed, c.step);                                    \
        T *buf = c.slot_buf >= 0 ? state + c.slot_buf * stride : NULL;                              \
        T *sum = c.slot_sum >= 0 ? state + c.slot_sum * stride : NULL;                              \
        T *sq = c.slot_sq >= 0 ? state + c.slot_sq * stride : NULL;                                 \
        T *avg = c.slot_avg >= 0 ? state + c.slot_avg * stride : NULL;                              \
        T *mx = c.slot_max >= 0 ? state + c.slot_max * stride : NULL;                               \
        for (int64_t i = 0; i < n; i++) {                                                           \
            if (c.first)                                                                            \
                for (int s = 0; s < c.slots; s++)                                                   \
                    state[s * stride + i] = c.kind == FG_OPT_ADAGRAD ? t.init_acc : (T)0;           \
            switch (c.kind) {                                                                       \
            case FG_OPT_SGD:                                                                        \
                fg_elem_sgd_##SFX(&t, params + i, grads[i], buf ? buf + i : NULL, c.has_momentum,   \
                                  c.nesterov);                                                      \
                if (c.noisy) params[i] = params[i] + t.noise_scale * (T)fg_noise_normal(key, i);    \
                break;                                                                              \
            case FG_OPT_ADAGRAD: fg_elem_adagrad_##SFX(&t, params + i, grads[i], sum + i); break;   \
            case FG_OPT_RMSPROP:                                                                    \
                fg_elem_rmsprop_##SFX(&t, params + i, grads[i], sq + i, avg ? avg + i : NULL,       \
                                      buf ? buf + i : NULL, c.centered, c.has_momentum);            \
                break;                                                                              \
            case FG_OPT_ADAM:                                                                       \
            case FG_OPT_ADAMW:                                                                      \
                fg_elem_adam_##SFX(&t, params + i, grads[i], avg + i, sq + i, mx ? mx + i : NULL,   \
                                   c.amsgrad, c.wd != 0.0, c.decay != 1.0, t.avg_small);            \
                break;                                                                              \
            default: fg_elem_update_##SFX(&t, &c, params, grads, state, stride, i); break;          \
            }                                                                                       \
        }                                                                                           \
    }

REF_STEP(float, f32)
REF_STEP(double, f64)

double fg_sum_squares_ref_f32(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

double fg_sum_squares_ref_f64(const double *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

/* By value, where the dispatched kernel compares bit patterns: 2^exponent with the exponent clamped
   to [min_exp − 1, max_exp] (float.h's), where 2^max_exp is infinity. */
#define REF_COUNT_LARGE(T, SFX, MIN_EXP, MAX_EXP)                                                   \
    int64_t fg_count_large_ref_##SFX(const T *x, int64_t n, int exponent)                           \
    {                                                                                               \
        const int lo = (MIN_EXP)-1, e = exponent < lo ? lo : (exponent > (MAX_EXP) ? (MAX_EXP) : exponent); \
        const double limit = ldexp(1.0, e);                                                         \
        int64_t count = 0;                                                                          \
        for (int64_t i = 0; i < n; i++) count += isnan(x[i]) || fabs((double)x[i]) >= limit;       \
        return count;                                                                               \
    }

REF_COUNT_LARGE(float, f32, FLT_MIN_EXP, FLT_MAX_EXP)
REF_COUNT_LARGE(double, f64, DBL_MIN_EXP, DBL_MAX_EXP)
