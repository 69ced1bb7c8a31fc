/* The SIMD vocabulary of the AVX2+FMA target: 256-bit vectors, lane masks held
 * in vectors (all bits set = lane on). The operations every SIMD target
 * provides, per element type f32 / f64 (see fg_simd.h for the list and the
 * type-generic V_* names the kernels use). */
#ifndef FASTGD_TARGET_SIMD_H
#define FASTGD_TARGET_SIMD_H

#include <immintrin.h>

#include "fg_common.h"
#include "isa/x86_simd.h"

#define FG_SIMD 1

typedef __m256 fgv_f32;
typedef __m256 fgm_f32;
typedef __m256d fgv_f64;
typedef __m256d fgm_f64;
#define FGV_W_f32 8
#define FGV_W_f64 4

#define FGV_OPS(SFX, S, VT, T)                                                                     \
    FGV_X86_OPS(SFX, _mm256, S, VT, T)                                                             \
    FG_INLINE VT fgv_round_##SFX(VT a)                                                             \
    {                                                                                              \
        return _mm256_round_##S(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                 \
    }                                                                                              \
    FG_INLINE VT fgv_lt_##SFX(VT a, VT b) { return _mm256_cmp_##S(a, b, _CMP_LT_OQ); }             \
    FG_INLINE VT fgv_le_##SFX(VT a, VT b) { return _mm256_cmp_##S(a, b, _CMP_LE_OQ); }             \
    FG_INLINE VT fgv_gt_##SFX(VT a, VT b) { return _mm256_cmp_##S(a, b, _CMP_GT_OQ); }             \
    FG_INLINE VT fgv_ge_##SFX(VT a, VT b) { return _mm256_cmp_##S(a, b, _CMP_GE_OQ); }             \
    FG_INLINE VT fgv_eq_##SFX(VT a, VT b) { return _mm256_cmp_##S(a, b, _CMP_EQ_OQ); }             \
    FG_INLINE VT fgv_neq_##SFX(VT a, VT b) { return _mm256_cmp_##S(a, b, _CMP_NEQ_OQ); }           \
    FG_INLINE VT fgv_unord_##SFX(VT a, VT b) { return _mm256_cmp_##S(a, b, _CMP_UNORD_Q); }        \
    FG_INLINE VT fgv_blend_##SFX(VT a, VT b, VT m) { return _mm256_blendv_##S(a, b, m); }          \
    FG_INLINE VT fgv_maskz_##SFX(VT m, VT v) { return _mm256_and_##S(m, v); }                      \
    FG_INLINE VT fgv_load_first_##SFX(const T *p, VT m)                                            \
    {                                                                                              \
        return _mm256_maskload_##S(p, _mm256_cast##S##_si256(m));                                  \
    }                                                                                              \
    FG_INLINE void fgv_store_first_##SFX(T *p, VT m, VT v)                                         \
    {                                                                                              \
        _mm256_maskstore_##S(p, _mm256_cast##S##_si256(m), v);                                     \
    }

FGV_OPS(f32, ps, __m256, float)
FGV_OPS(f64, pd, __m256d, double)
#undef FGV_OPS

FG_INLINE __m256 fgv_bcast_f32(const float *p) { return _mm256_broadcast_ss(p); }
FG_INLINE __m256d fgv_bcast_f64(const double *p) { return _mm256_broadcast_sd(p); }

/* The first r lanes (0 <= r <= lanes) on. */
static const int32_t fgv_first_table_i32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static const int64_t fgv_first_table_i64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
FG_INLINE __m256 fgv_first_f32(int64_t r)
{
    return _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(fgv_first_table_i32 + 8 - r)));
}
FG_INLINE __m256d fgv_first_f64(int64_t r)
{
    return _mm256_castsi256_pd(_mm256_loadu_si256((const __m256i *)(fgv_first_table_i64 + 4 - r)));
}

/* p * 2^k for integral k in [-252, 254] (float) / [-2044, 2046] (double), as
 * p * 2^h * 2^(k-h) with h = floor(k/2) so that both factors are normal numbers. */
FG_INLINE __m256 fgv_scale2_f32(__m256 p, __m256 k)
{
    const __m256i ki = _mm256_cvtps_epi32(k);
    const __m256i kh = _mm256_srai_epi32(ki, 1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(kh, bias), 23));
    const __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ki, kh), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
}

FG_INLINE __m256d fgv_scale2_f64(__m256d p, __m256d k)
{
    const __m128i k32 = _mm256_cvtpd_epi32(k);
    const __m128i h32 = _mm_srai_epi32(k32, 1);
    const __m256i bias = _mm256_set1_epi64x(1023);
    const __m256i kh = _mm256_cvtepi32_epi64(h32);
    const __m256i kr = _mm256_cvtepi32_epi64(_mm_sub_epi32(k32, h32));
    const __m256d f1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(kh, bias), 52));
    const __m256d f2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(kr, bias), 52));
    return _mm256_mul_pd(_mm256_mul_pd(p, f1), f2);
}

/* Horizontal sum / maximum of the lanes, in a fixed order (deterministic). */
FG_INLINE float fgv_hsum_f32(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

FG_INLINE float fgv_hmax_f32(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

FG_INLINE double fgv_hsum_f64(__m256d v)
{
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

FG_INLINE double fgv_hmax_f64(__m256d v)
{
    const __m128d s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
}

FG_INLINE void fgv_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#endif
