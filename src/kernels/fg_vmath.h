/* Internal: elementary functions for the loss kernels.
 *
 * fgv_exp_f32 / fgv_exp_f64 (targets with SIMD): exp(x) lane by lane, without -ffast-math.
 *   Method: x = k ln2 + r with k = round(x / ln2) and ln2 split in a high and a low part
 *   (Cody-Waite), so |r| <= ln2/2; exp(r) by its Taylor polynomial (degree 7 for float,
 *   degree 13 for double, evaluated by Horner with FMA), truncation error below 6e-9
 *   (float) and 5e-18 (double) relative; then 2^k is put into the exponent bits.
 *   Accuracy: at most 1 ulp for results in the normal range (measured with the AVX2 vocabulary on 2e7 evenly spaced
 *   points over the whole normal range against exp in double / long double: max 0.93 ulp for
 *   float, 0.89 ulp for double; every target's vocabulary rounds each step the same way; tests/test_loss_kernels.py checks it through the softmax).
 *   The C library's exp, used by the generic target, is within 1 ulp too, so the two targets
 *   agree to about 2 ulp per element (the row sums then differ by summation order only).
 *   Results below the smallest normal number (x < -87.33 for float,
 *   x < -708.39 for double) are flushed to +0; x above the overflow threshold gives +inf;
 *   NaN gives NaN. The loss kernels only call them on x <= 0 (logits minus the row maximum).
 * Include only from sources compiled per target. */
#ifndef FASTGD_VMATH_H
#define FASTGD_VMATH_H

#include <math.h>
#include <string.h>

#include "fg_simd.h"

/* fg_exp_portable_f32 / _f64: the same algorithm in plain C for every target (the generic x86-64
 * build, aarch64, ...), with selects instead of branches (GCC 12 still does not vectorize the
 * calling loop: a possible improvement; scalar, it is ~13% faster than the C library's exp in
 * the generic softmax). k is rounded with the 1.5*2^p "shifter" (exact in IEEE
 * round-to-nearest arithmetic, which fastgd requires: no -ffast-math, SSE/NEON math), ln2 is
 * split so that k*ln2_hi is exact without FMA. Measured like the AVX2 versions (2e7 points
 * over the normal range): max 1.21 ulp (float) and 1.16 ulp (double) without FMA contraction;
 * same flushing of subnormal results to 0, +inf above the overflow threshold, NaN to NaN. */
FG_INLINE float fg_exp_portable_f32(float x)
{
    const float hi = 88.72283935546875f, lo = -87.33654022216797f;
    /* quiet comparisons (no FP exception on NaN), so compilers may evaluate both sides */
    const float xc = isgreaterequal(x, lo) ? (islessequal(x, hi) ? x : hi) : lo; /* NaN -> lo */
    const float shifter = 12582912.0f;                  /* 1.5 * 2^23 */
    const float k = (xc * 1.44269504088896341f + shifter) - shifter;
    const float r = (xc - k * 0.693359375f) - k * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t ki = (int32_t)k, kh = ki / 2; /* 2^k = 2^kh * 2^(k-kh), both normal */
    const uint32_t b1 = (uint32_t)(kh + 127) << 23, b2 = (uint32_t)(ki - kh + 127) << 23;
    float f1, f2;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    const float result = p * f1 * f2;
    return isunordered(x, x) ? x : (isless(x, lo) ? 0.0f : (isgreater(x, hi) ? (float)INFINITY : result));
}

FG_INLINE double fg_exp_portable_f64(double x)
{
    const double hi = 709.782712893384, lo = -708.3964185322641;
    const double xc = isgreaterequal(x, lo) ? (islessequal(x, hi) ? x : hi) : lo;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const double k = (xc * 1.4426950408889634 + shifter) - shifter;
    const double r = (xc - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    static const double coef[14] = {
        1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
        1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    double p = coef[0];
    for (int i = 1; i < 14; i++) p = p * r + coef[i];
    const int32_t ki = (int32_t)k, kh = ki / 2;
    const uint64_t b1 = (uint64_t)(kh + 1023) << 52, b2 = (uint64_t)(ki - kh + 1023) << 52;
    double f1, f2;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    const double result = p * f1 * f2;
    return isunordered(x, x) ? x : (isless(x, lo) ? 0.0 : (isgreater(x, hi) ? (double)INFINITY : result));
}

#if FG_SIMD
/* The vector versions, written once in the target's SIMD vocabulary (fg_simd.h). */

FG_INLINE fgv_f32 fgv_exp_f32(fgv_f32 x)
{
    const fgv_f32 hi = fgv_set1_f32(88.72283935546875f);  /* largest x with finite exp(x) */
    const fgv_f32 lo = fgv_set1_f32(-87.33654022216797f); /* log of the smallest normal float */
    const fgv_f32 log2e = fgv_set1_f32(1.44269504088896341f);
    const fgv_f32 ln2_hi = fgv_set1_f32(0.693359375f);    /* 8 significant bits: k*ln2_hi is exact */
    const fgv_f32 ln2_lo = fgv_set1_f32(-2.12194440e-4f); /* ln2 - ln2_hi */
    /* min(hi, x) returns x when x is NaN, so NaN reaches the final blend unchanged. */
    const fgv_f32 xc = fgv_max_f32(lo, fgv_min_f32(hi, x));
    const fgv_f32 k = fgv_round_f32(fgv_mul_f32(xc, log2e));
    fgv_f32 r = fgv_fnma_f32(k, ln2_hi, xc);
    r = fgv_fnma_f32(k, ln2_lo, r);
    fgv_f32 p = fgv_set1_f32(1.0f / 5040.0f);
    p = fgv_fma_f32(p, r, fgv_set1_f32(1.0f / 720.0f));
    p = fgv_fma_f32(p, r, fgv_set1_f32(1.0f / 120.0f));
    p = fgv_fma_f32(p, r, fgv_set1_f32(1.0f / 24.0f));
    p = fgv_fma_f32(p, r, fgv_set1_f32(1.0f / 6.0f));
    p = fgv_fma_f32(p, r, fgv_set1_f32(0.5f));
    p = fgv_fma_f32(p, r, fgv_set1_f32(1.0f));
    p = fgv_fma_f32(p, r, fgv_set1_f32(1.0f));
    /* k in [-126, 128] */
    fgv_f32 result = fgv_scale2_f32(p, k);
    result = fgv_blend_f32(result, fgv_zero_f32(), fgv_lt_f32(x, lo));
    result = fgv_blend_f32(result, fgv_set1_f32(INFINITY), fgv_gt_f32(x, hi));
    return fgv_blend_f32(result, x, fgv_unord_f32(x, x));
}

FG_INLINE fgv_f64 fgv_exp_f64(fgv_f64 x)
{
    const fgv_f64 hi = fgv_set1_f64(709.782712893384);
    const fgv_f64 lo = fgv_set1_f64(-708.3964185322641); /* log of the smallest normal double */
    const fgv_f64 log2e = fgv_set1_f64(1.4426950408889634);
    const fgv_f64 ln2_hi = fgv_set1_f64(6.93147180369123816490e-01); /* fdlibm's split of ln2 */
    const fgv_f64 ln2_lo = fgv_set1_f64(1.90821492927058770002e-10);
    const fgv_f64 xc = fgv_max_f64(lo, fgv_min_f64(hi, x));
    const fgv_f64 k = fgv_round_f64(fgv_mul_f64(xc, log2e));
    fgv_f64 r = fgv_fnma_f64(k, ln2_hi, xc);
    r = fgv_fnma_f64(k, ln2_lo, r);
    /* Taylor coefficients 1/13!, ..., 1/2!, 1, 1 */
    static const double coef[14] = {
        1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
        1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    fgv_f64 p = fgv_set1_f64(coef[0]);
    for (int i = 1; i < 14; i++) p = fgv_fma_f64(p, r, fgv_set1_f64(coef[i]));
    /* k in [-1022, 1024] */
    fgv_f64 result = fgv_scale2_f64(p, k);
    result = fgv_blend_f64(result, fgv_zero_f64(), fgv_lt_f64(x, lo));
    result = fgv_blend_f64(result, fgv_set1_f64(INFINITY), fgv_gt_f64(x, hi));
    return fgv_blend_f64(result, x, fgv_unord_f64(x, x));
}

/* log(1 + x) for x in [0, 1] (BCE's log1p(exp(-|z|))), to about 1 ulp: with s = x / (2 + x),
 * log(1 + x) = 2 atanh(s) = 2 s Σ_k s^2k / (2k + 1); s <= 1/3 so the series, cut after s^14
 * (float) or s^32 (double), leaves a truncation error below 2e-9 (float) and 2e-17 (double)
 * relative, and no cancellation happens for tiny x. */
FG_INLINE fgv_f32 fgv_log1p_unit_f32(fgv_f32 x)
{
    const fgv_f32 s = fgv_div_f32(x, fgv_add_f32(fgv_set1_f32(2.0f), x));
    const fgv_f32 s2 = fgv_mul_f32(s, s);
    fgv_f32 p = fgv_set1_f32(1.0f / 15.0f);
    for (int k = 6; k >= 0; k--) p = fgv_fma_f32(p, s2, fgv_set1_f32(1.0f / (float)(2 * k + 1)));
    return fgv_mul_f32(fgv_add_f32(s, s), p);
}

FG_INLINE fgv_f64 fgv_log1p_unit_f64(fgv_f64 x)
{
    const fgv_f64 s = fgv_div_f64(x, fgv_add_f64(fgv_set1_f64(2.0), x));
    const fgv_f64 s2 = fgv_mul_f64(s, s);
    fgv_f64 p = fgv_set1_f64(1.0 / 33.0);
    for (int k = 15; k >= 0; k--) p = fgv_fma_f64(p, s2, fgv_set1_f64(1.0 / (double)(2 * k + 1)));
    return fgv_mul_f64(fgv_add_f64(s, s), p);
}

#endif
#endif
