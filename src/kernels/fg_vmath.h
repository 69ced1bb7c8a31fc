/* Internal: vectorized elementary functions for the AVX2+FMA target.
 *
 * fg_exp8_f32 / fg_exp4_f64: exp(x) lane by lane, without -ffast-math.
 *   Method: x = k ln2 + r with k = round(x / ln2) and ln2 split in a high and a low part
 *   (Cody-Waite), so |r| <= ln2/2; exp(r) by its Taylor polynomial (degree 7 for float,
 *   degree 13 for double, evaluated by Horner with FMA), truncation error below 6e-9
 *   (float) and 5e-18 (double) relative; then 2^k is put into the exponent bits.
 *   Accuracy: at most 1 ulp for results in the normal range (measured on 2e7 evenly spaced
 *   points over the whole normal range against exp in double / long double: max 0.93 ulp for
 *   float, 0.89 ulp for double; tests/test_loss_kernels.py checks it through the softmax).
 *   The C library's exp, used by the generic target, is within 1 ulp too, so the two targets
 *   agree to about 2 ulp per element (the row sums then differ by summation order only).
 *   Results below the smallest normal number (x < -87.33 for float,
 *   x < -708.39 for double) are flushed to +0; x above the overflow threshold gives +inf;
 *   NaN gives NaN. The loss kernels only call them on x <= 0 (logits minus the row maximum).
 * Include only from sources compiled per target, inside `#if FG_HAVE_AVX2`. */
#ifndef FASTGD_VMATH_H
#define FASTGD_VMATH_H

#include <math.h>
#include <string.h>

#include "fg_common.h"

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

#if FG_HAVE_AVX2
#include <immintrin.h>

FG_INLINE __m256 fg_exp8_f32(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(88.72283935546875f);  /* largest x with finite exp(x) */
    const __m256 lo = _mm256_set1_ps(-87.33654022216797f); /* log of the smallest normal float */
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f);       /* 8 significant bits: k*ln2_hi is exact */
    const __m256 ln2_lo = _mm256_set1_ps(-2.12194440e-4f);    /* ln2 - ln2_hi */
    /* min(hi, x) returns x when x is NaN, so NaN reaches the final blend unchanged. */
    const __m256 xc = _mm256_max_ps(lo, _mm256_min_ps(hi, x));
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, ln2_hi, xc);
    r = _mm256_fnmadd_ps(k, ln2_lo, r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* 2^k for k in [-126, 128] as 2^h * 2^(k-h), h = floor(k/2): both factors are normal floats. */
    const __m256i ki = _mm256_cvtps_epi32(k);
    const __m256i kh = _mm256_srai_epi32(ki, 1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(kh, bias), 23));
    const __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ki, kh), bias), 23));
    __m256 result = _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
    result = _mm256_blendv_ps(result, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

FG_INLINE __m256d fg_exp4_f64(__m256d x)
{
    const __m256d hi = _mm256_set1_pd(709.782712893384);
    const __m256d lo = _mm256_set1_pd(-708.3964185322641); /* log of the smallest normal double */
    const __m256d log2e = _mm256_set1_pd(1.4426950408889634);
    const __m256d ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01); /* fdlibm's split of ln2 */
    const __m256d ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10);
    const __m256d xc = _mm256_max_pd(lo, _mm256_min_pd(hi, x));
    const __m256d k = _mm256_round_pd(_mm256_mul_pd(xc, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(k, ln2_hi, xc);
    r = _mm256_fnmadd_pd(k, ln2_lo, r);
    /* Taylor coefficients 1/13!, ..., 1/2!, 1, 1 */
    static const double coef[14] = {
        1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
        1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    __m256d p = _mm256_set1_pd(coef[0]);
    for (int i = 1; i < 14; i++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(coef[i]));
    /* 2^k for k in [-1022, 1024] as 2^h * 2^(k-h), h = floor(k/2), as in fg_exp8_f32. */
    const __m128i k32 = _mm256_cvtpd_epi32(k);
    const __m128i h32 = _mm_srai_epi32(k32, 1);
    const __m256i bias = _mm256_set1_epi64x(1023);
    const __m256i kh = _mm256_cvtepi32_epi64(h32);
    const __m256i kr = _mm256_cvtepi32_epi64(_mm_sub_epi32(k32, h32));
    const __m256d f1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(kh, bias), 52));
    const __m256d f2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(kr, bias), 52));
    __m256d result = _mm256_mul_pd(_mm256_mul_pd(p, f1), f2);
    result = _mm256_blendv_pd(result, _mm256_setzero_pd(), _mm256_cmp_pd(x, lo, _CMP_LT_OQ));
    result = _mm256_blendv_pd(result, _mm256_set1_pd(INFINITY), _mm256_cmp_pd(x, hi, _CMP_GT_OQ));
    return _mm256_blendv_pd(result, x, _mm256_cmp_pd(x, x, _CMP_UNORD_Q));
}

/* log(1 + x) for x in [0, 1] (BCE's log1p(exp(-|z|))), to about 1 ulp: with s = x / (2 + x),
 * log(1 + x) = 2 atanh(s) = 2 s Σ_k s^2k / (2k + 1); s <= 1/3 so the series, cut after s^14
 * (float) or s^32 (double), leaves a truncation error below 2e-9 (float) and 2e-17 (double)
 * relative, and no cancellation happens for tiny x. */
FG_INLINE __m256 fg_log1p_unit8_f32(__m256 x)
{
    const __m256 s = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(2.0f), x));
    const __m256 s2 = _mm256_mul_ps(s, s);
    __m256 p = _mm256_set1_ps(1.0f / 15.0f);
    for (int k = 6; k >= 0; k--) p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / (float)(2 * k + 1)));
    return _mm256_mul_ps(_mm256_add_ps(s, s), p);
}

FG_INLINE __m256d fg_log1p_unit4_f64(__m256d x)
{
    const __m256d s = _mm256_div_pd(x, _mm256_add_pd(_mm256_set1_pd(2.0), x));
    const __m256d s2 = _mm256_mul_pd(s, s);
    __m256d p = _mm256_set1_pd(1.0 / 33.0);
    for (int k = 15; k >= 0; k--) p = _mm256_fmadd_pd(p, s2, _mm256_set1_pd(1.0 / (double)(2 * k + 1)));
    return _mm256_mul_pd(_mm256_add_pd(s, s), p);
}

/* Horizontal sum / maximum of the lanes, in a fixed order (deterministic). */
FG_INLINE float fg_hsum8_f32(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

FG_INLINE float fg_hmax8_f32(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

FG_INLINE double fg_hsum4_f64(__m256d v)
{
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

FG_INLINE double fg_hmax4_f64(__m256d v)
{
    const __m128d s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
}

/* Lane masks for the first r (0..8 / 0..4) lanes: load from mask_table + 8 - r. */
static const int32_t fg_mask_table_i32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static const int64_t fg_mask_table_i64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
FG_INLINE __m256i fg_mask8(int64_t r) { return _mm256_loadu_si256((const __m256i *)(fg_mask_table_i32 + 8 - r)); }
FG_INLINE __m256i fg_mask4(int64_t r) { return _mm256_loadu_si256((const __m256i *)(fg_mask_table_i64 + 4 - r)); }

#endif
#endif
