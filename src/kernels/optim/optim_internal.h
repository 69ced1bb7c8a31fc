/* Internal to the optimizer kernels (optim.c, optim_ref.c): the per-call coefficients, the state
 * slot layout and the counter-based Gaussian generator of noisy SGD. Everything here is plain C
 * arithmetic (+ - * / sqrt, integer hashing), so every target computes the same bits. */
#ifndef FASTGD_OPTIM_INTERNAL_H
#define FASTGD_OPTIM_INTERNAL_H

#include <math.h>
#include <string.h>

#include "fastgd_kernels.h"

/* The vector targets must not fuse a*b + c into one FMA: the portable build cannot, and the two
 * would then round differently. GCC in ISO C mode (-std=c11) does not contract; clang and MSVC
 * are told here. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

/* Everything the element updates need, computed once per call in double from the config. */
typedef struct fg_optim_coefs {
    int kind;
    int first;             /* step <= 1: the state is initialized before it is read */
    double sign;           /* -1 when maximizing: d = sign*g (+ weight decay) */
    double wd;             /* weight decay added to the gradient (0 for AdamW) */
    double decay;          /* AdamW: params *= 1 - lr*weight_decay first (1 otherwise) */
    double neg_lr;         /* -lr (SGD, RMSProp), -lr/(1+(step-1)*lr_decay) (AdaGrad), -lr/(1-beta1^step) (Adam) */
    int has_momentum, nesterov, centered, amsgrad, noisy;
    double momentum;       /* SGD (Nesterov term), RMSProp */
    double buf_momentum;   /* SGD buffer decay: momentum, 0 at the first step (buf = d) */
    double buf_gain;       /* SGD: 1 - dampening, 1 at the first step */
    double noise_scale;    /* noise_std * sqrt(lr) */
    uint64_t noise_seed;
    int64_t step;
    double eps, init_acc;
    double avg_weight;     /* lerp weight of the running mean: 1 - beta1 (Adam), 1 - alpha (RMSProp) */
    double sq_decay;       /* beta2 (Adam), alpha (RMSProp) */
    double sq_gain;        /* 1 - beta2 (Adam), 1 - alpha (RMSProp) */
    double inv_bc2_sqrt;   /* 1 / sqrt(1 - beta2^step) (Adam) */
    /* state slot indices, -1 when unused */
    int slot_buf, slot_sum, slot_sq, slot_avg, slot_max;
    int slots;
} fg_optim_coefs;

FG_INLINE void fg_optim_prepare(fg_optim_coefs *c, const fg_optim_config *cfg)
{
    memset(c, 0, sizeof *c);
    c->kind = cfg->kind;
    c->step = cfg->step;
    c->first = cfg->step <= 1;
    c->sign = cfg->maximize ? -1.0 : 1.0;
    c->wd = cfg->weight_decay;
    c->decay = 1.0;
    c->neg_lr = -cfg->lr;
    c->eps = cfg->eps;
    c->slot_buf = c->slot_sum = c->slot_sq = c->slot_avg = c->slot_max = -1;
    switch (cfg->kind) {
    case FG_OPT_SGD:
        c->has_momentum = cfg->momentum != 0.0;
        c->nesterov = c->has_momentum && cfg->nesterov;
        c->momentum = cfg->momentum;
        c->buf_momentum = c->first ? 0.0 : cfg->momentum;
        c->buf_gain = c->first ? 1.0 : 1.0 - cfg->dampening;
        c->noisy = cfg->noise_std != 0.0;
        c->noise_scale = cfg->noise_std * sqrt(cfg->lr);
        c->noise_seed = cfg->noise_seed;
        if (c->has_momentum) c->slot_buf = c->slots++;
        break;
    case FG_OPT_ADAGRAD:
        c->neg_lr = -cfg->lr / (1.0 + (double)(cfg->step - 1) * cfg->lr_decay);
        c->init_acc = cfg->initial_accumulator_value;
        c->slot_sum = c->slots++;
        break;
    case FG_OPT_RMSPROP:
        c->has_momentum = cfg->momentum > 0.0;
        c->centered = cfg->centered != 0;
        c->momentum = cfg->momentum;
        c->avg_weight = 1.0 - cfg->alpha;
        c->sq_decay = cfg->alpha;
        c->sq_gain = 1.0 - cfg->alpha;
        c->slot_sq = c->slots++;
        if (c->centered) c->slot_avg = c->slots++;
        if (c->has_momentum) c->slot_buf = c->slots++;
        break;
    case FG_OPT_ADAM:
    case FG_OPT_ADAMW: {
        const double t = (double)(cfg->step < 1 ? 1 : cfg->step);
        c->amsgrad = cfg->amsgrad != 0;
        c->neg_lr = -cfg->lr / (1.0 - pow(cfg->beta1, t));
        c->inv_bc2_sqrt = 1.0 / sqrt(1.0 - pow(cfg->beta2, t));
        c->avg_weight = 1.0 - cfg->beta1;
        c->sq_decay = cfg->beta2;
        c->sq_gain = 1.0 - cfg->beta2;
        if (cfg->kind == FG_OPT_ADAMW) {
            c->decay = 1.0 - cfg->lr * cfg->weight_decay;
            c->wd = 0.0;
        }
        c->slot_avg = c->slots++;
        c->slot_sq = c->slots++;
        if (c->amsgrad) c->slot_max = c->slots++;
        break;
    }
    default:
        c->kind = -1; /* unknown kind: the kernels change nothing */
        break;
    }
}

/* ---- noisy SGD: a standard normal number per (seed, step, index) ---------------------------
 * Counter-based, so the number an element gets depends on nothing else: not on the thread that
 * updates it, the target, or the order of the loop. Hash: the splitmix64 finalizer. Normal: the
 * Marsaglia polar method on two 53-bit uniforms drawn from successive hashes of (i, attempt),
 * with a polynomial logarithm in plain arithmetic so the bits do not depend on the libm. */

FG_INLINE uint64_t fg_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ln(x) for 0 < x < 1: x = m·2^e with m in [1/√2, √2), ln m = 2·atanh((m-1)/(m+1)) by its series
 * (|s| < 0.172, so 10 terms reach double precision). */
FG_INLINE double fg_log_unit(double x)
{
    int e;
    double m = frexp(x, &e);
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    }
    const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double poly = 1.0 / 21.0;
    poly = poly * s2 + 1.0 / 19.0;
    poly = poly * s2 + 1.0 / 17.0;
    poly = poly * s2 + 1.0 / 15.0;
    poly = poly * s2 + 1.0 / 13.0;
    poly = poly * s2 + 1.0 / 11.0;
    poly = poly * s2 + 1.0 / 9.0;
    poly = poly * s2 + 1.0 / 7.0;
    poly = poly * s2 + 1.0 / 5.0;
    poly = poly * s2 + 1.0 / 3.0;
    poly = poly * s2 + 1.0;
    return (double)e * 0.69314718055994530942 + 2.0 * s * poly;
}

FG_INLINE uint64_t fg_noise_key(uint64_t seed, int64_t step)
{
    return fg_mix64(seed ^ fg_mix64((uint64_t)step));
}

/* Rejection needs on average 1.27 attempts; 64 all failing has probability 0.215^64 < 1e-42, in
 * which case the element gets no noise. */
#define FG_NOISE_MAX_ATTEMPTS 64

FG_INLINE double fg_noise_normal(uint64_t key, int64_t index)
{
    const uint64_t base = fg_mix64(key + (uint64_t)index * 0xD1B54A32D192ED03ULL);
    for (uint64_t attempt = 0; attempt < FG_NOISE_MAX_ATTEMPTS; attempt++) {
        const uint64_t h1 = fg_mix64(base + 2 * attempt), h2 = fg_mix64(base + 2 * attempt + 1);
        const double u1 = (double)(h1 >> 11) * (2.0 / 9007199254740992.0) - 1.0;
        const double u2 = (double)(h2 >> 11) * (2.0 / 9007199254740992.0) - 1.0;
        const double s = u1 * u1 + u2 * u2;
        if (s < 1.0 && s > 0.0) return u1 * sqrt(-2.0 * fg_log_unit(s) / s);
    }
    return 0.0;
}

/* ---- the element updates, per element type ---------------------------------------------- */

#define FG_TEMPLATE "optim/optim_elem_template.h"
#include "fg_each_type.h"

#endif
