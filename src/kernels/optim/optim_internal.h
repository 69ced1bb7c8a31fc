/* Internal to the optimizer kernels (optim.c, optim_ref.c): the counter-based Gaussian generator of
 * noisy SGD, and the update rules of every optimizer (optim_elem_template.h: per-call coefficients,
 * state slot layout, element updates). Everything here is plain C
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

/* ---- the update rules: coefficients, state slots, element updates ------------------------ */

#define FG_TEMPLATE "optim/optim_elem_template.h"
#include "fg_each_type.h"

#endif
