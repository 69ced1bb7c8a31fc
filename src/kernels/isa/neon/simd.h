/* The SIMD vocabulary of the NEON target (AArch64's baseline Advanced SIMD):
 * 128-bit vectors, 32 registers, fused multiply-add; lane masks are unsigned
 * integer vectors with all bits set in the lanes that are on. The operations
 * every SIMD target provides, per element type f32 / f64 (see fg_simd.h). */
#ifndef FASTGD_TARGET_SIMD_H
#define FASTGD_TARGET_SIMD_H

#include <arm_neon.h>

#include "fg_common.h"

#define FG_SIMD 1

typedef float32x4_t fgv_f32;
typedef uint32x4_t fgm_f32;
typedef float64x2_t fgv_f64;
typedef uint64x2_t fgm_f64;
#define FGV_W_f32 4
#define FGV_W_f64 2

/* S: the intrinsics' element suffix (f32, f64), U: the unsigned one (u32, u64). */
#define FGV_OPS(SFX, S, U, VT, MT, T, UT, W)                                                          \
    FG_INLINE VT fgv_load_##SFX(const T *p) { return vld1q_##S(p); }                                  \
    FG_INLINE void fgv_store_##SFX(T *p, VT v) { vst1q_##S(p, v); }                                   \
    FG_INLINE VT fgv_set1_##SFX(T x) { return vdupq_n_##S(x); }                                       \
    FG_INLINE VT fgv_zero_##SFX(void) { return vdupq_n_##S(0); }                                      \
    FG_INLINE VT fgv_bcast_##SFX(const T *p) { return vld1q_dup_##S(p); }                             \
    FG_INLINE VT fgv_add_##SFX(VT a, VT b) { return vaddq_##S(a, b); }                                \
    FG_INLINE VT fgv_sub_##SFX(VT a, VT b) { return vsubq_##S(a, b); }                                \
    FG_INLINE VT fgv_mul_##SFX(VT a, VT b) { return vmulq_##S(a, b); }                                \
    FG_INLINE VT fgv_div_##SFX(VT a, VT b) { return vdivq_##S(a, b); }                                \
    FG_INLINE VT fgv_fma_##SFX(VT a, VT b, VT c) { return vfmaq_##S(c, a, b); }                       \
    FG_INLINE VT fgv_fnma_##SFX(VT a, VT b, VT c) { return vfmsq_##S(c, a, b); }                      \
    FG_INLINE VT fgv_and_##SFX(VT a, VT b)                                                            \
    {                                                                                                 \
        return vreinterpretq_##S##_##U(vandq_##U(vreinterpretq_##U##_##S(a), vreinterpretq_##U##_##S(b))); \
    }                                                                                                 \
    FG_INLINE VT fgv_xor_##SFX(VT a, VT b)                                                            \
    {                                                                                                 \
        return vreinterpretq_##S##_##U(veorq_##U(vreinterpretq_##U##_##S(a), vreinterpretq_##U##_##S(b))); \
    }                                                                                                 \
    /* ~a & b */                                                                                      \
    FG_INLINE VT fgv_andnot_##SFX(VT a, VT b)                                                         \
    {                                                                                                 \
        return vreinterpretq_##S##_##U(vbicq_##U(vreinterpretq_##U##_##S(b), vreinterpretq_##U##_##S(a))); \
    }                                                                                                 \
    FG_INLINE VT fgv_round_##SFX(VT a) { return vrndnq_##S(a); }                                      \
    FG_INLINE MT fgv_lt_##SFX(VT a, VT b) { return vcltq_##S(a, b); }                                 \
    FG_INLINE MT fgv_le_##SFX(VT a, VT b) { return vcleq_##S(a, b); }                                 \
    FG_INLINE MT fgv_gt_##SFX(VT a, VT b) { return vcgtq_##S(a, b); }                                 \
    FG_INLINE MT fgv_ge_##SFX(VT a, VT b) { return vcgeq_##S(a, b); }                                 \
    FG_INLINE MT fgv_eq_##SFX(VT a, VT b) { return vceqq_##S(a, b); }                                 \
    /* true for unordered lanes too, like the quiet != of C */                                        \
    FG_INLINE MT fgv_neq_##SFX(VT a, VT b) { return veorq_##U(vceqq_##S(a, b), vdupq_n_##U(~(UT)0)); } \
    FG_INLINE MT fgv_unord_##SFX(VT a, VT b)                                                          \
    {                                                                                                 \
        return veorq_##U(vandq_##U(vceqq_##S(a, a), vceqq_##S(b, b)), vdupq_n_##U(~(UT)0));           \
    }                                                                                                 \
    FG_INLINE VT fgv_blend_##SFX(VT a, VT b, MT m) { return vbslq_##S(m, b, a); }                     \
    FG_INLINE VT fgv_maskz_##SFX(MT m, VT v)                                                          \
    {                                                                                                 \
        return vreinterpretq_##S##_##U(vandq_##U(m, vreinterpretq_##U##_##S(v)));                     \
    }                                                                                                 \
    /* a > b ? a : b and a < b ? a : b: a NaN lane of b comes out as is, as on the x86 targets        \
       (FMAX/FMIN would return the NaN of either operand) */                                          \
    FG_INLINE VT fgv_max_##SFX(VT a, VT b) { return vbslq_##S(vcgtq_##S(a, b), a, b); }               \
    FG_INLINE VT fgv_min_##SFX(VT a, VT b) { return vbslq_##S(vcltq_##S(a, b), a, b); }               \
    FG_INLINE VT fgv_load_first_##SFX(const T *p, MT m)                                               \
    {                                                                                                 \
        UT on[W];                                                                                     \
        T v[W];                                                                                       \
        vst1q_##U(on, m);                                                                             \
        for (int i = 0; i < W; i++) v[i] = on[i] ? p[i] : (T)0;                                       \
        return vld1q_##S(v);                                                                          \
    }                                                                                                 \
    FG_INLINE void fgv_store_first_##SFX(T *p, MT m, VT v)                                            \
    {                                                                                                 \
        UT on[W];                                                                                     \
        T x[W];                                                                                       \
        vst1q_##U(on, m);                                                                             \
        vst1q_##S(x, v);                                                                              \
        for (int i = 0; i < W; i++)                                                                   \
            if (on[i]) p[i] = x[i];                                                                   \
    }                                                                                                 \
    /* pairwise, in the fixed order of FADDP */                                                       \
    FG_INLINE T fgv_hsum_##SFX(VT v) { return vaddvq_##S(v); }                                        \
    FG_INLINE T fgv_hmax_##SFX(VT v) { return vmaxvq_##S(v); }

FGV_OPS(f32, f32, u32, float32x4_t, uint32x4_t, float, uint32_t, 4)
FGV_OPS(f64, f64, u64, float64x2_t, uint64x2_t, double, uint64_t, 2)
#undef FGV_OPS

/* The first r lanes (0 <= r <= lanes) on. */
static const uint32_t fgv_first_table_u32[8] = {~0u, ~0u, ~0u, ~0u, 0, 0, 0, 0};
static const uint64_t fgv_first_table_u64[4] = {~(uint64_t)0, ~(uint64_t)0, 0, 0};
FG_INLINE uint32x4_t fgv_first_f32(int64_t r) { return vld1q_u32(fgv_first_table_u32 + 4 - r); }
FG_INLINE uint64x2_t fgv_first_f64(int64_t r) { return vld1q_u64(fgv_first_table_u64 + 2 - r); }

/* p * 2^k for integral k in [-252, 254] (float) / [-2044, 2046] (double), as
 * p * 2^h * 2^(k-h) with h = floor(k/2) so that both factors are normal numbers. */
FG_INLINE float32x4_t fgv_scale2_f32(float32x4_t p, float32x4_t k)
{
    const int32x4_t ki = vcvtnq_s32_f32(k), kh = vshrq_n_s32(ki, 1), bias = vdupq_n_s32(127);
    const float32x4_t f1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(kh, bias), 23));
    const float32x4_t f2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ki, kh), bias), 23));
    return vmulq_f32(vmulq_f32(p, f1), f2);
}

FG_INLINE float64x2_t fgv_scale2_f64(float64x2_t p, float64x2_t k)
{
    const int64x2_t ki = vcvtnq_s64_f64(k), kh = vshrq_n_s64(ki, 1), bias = vdupq_n_s64(1023);
    const float64x2_t f1 = vreinterpretq_f64_s64(vshlq_n_s64(vaddq_s64(kh, bias), 52));
    const float64x2_t f2 = vreinterpretq_f64_s64(vshlq_n_s64(vaddq_s64(vsubq_s64(ki, kh), bias), 52));
    return vmulq_f64(vmulq_f64(p, f1), f2);
}

#if defined(__GNUC__) || defined(__clang__)
FG_INLINE void fgv_prefetch(const void *p) { __builtin_prefetch(p); }
#else
FG_INLINE void fgv_prefetch(const void *p) { (void)p; }
#endif

#endif
