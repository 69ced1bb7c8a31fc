/* The SIMD vocabulary of the portable target: 16-byte vectors in the GCC/Clang
 * vector extensions, which every such compiler turns into the architecture's
 * baseline SIMD (SSE2 on x86-64, NEON on aarch64, VSX on ppc64le, ...) or, on
 * an architecture without, into scalar code. Lane masks are integer vectors
 * with all bits set in the lanes that are on. Other compilers (MSVC) get
 * FG_SIMD 0: the kernels' plain C loops, which a build with
 * -DFG_NO_VECTOR_EXTENSIONS also runs, so that they are tested (.ci/kernels.sh).
 *
 * Plain IEEE arithmetic: the baseline instruction sets have no fused
 * multiply-add, so fgv_fma/fgv_fnma round twice (a multiply, then an add) on
 * this target. The kernels that use them (the GEMM, exp, log1p) are written so
 * that their accuracy does not depend on the single rounding: exp's k·ln2_hi is
 * exact, the polynomials lose at most an ulp more. */
#ifndef FASTGD_TARGET_SIMD_H
#define FASTGD_TARGET_SIMD_H

#include "fg_common.h"

#if (defined(__GNUC__) || defined(__clang__)) && !defined(FG_NO_VECTOR_EXTENSIONS)
#define FG_SIMD 1

typedef float fgv_f32 __attribute__((vector_size(16)));
typedef int32_t fgm_f32 __attribute__((vector_size(16)));
typedef double fgv_f64 __attribute__((vector_size(16)));
typedef int64_t fgm_f64 __attribute__((vector_size(16)));
/* unaligned views that may alias the element arrays */
typedef float fgv_f32_u __attribute__((vector_size(16), aligned(4), may_alias));
typedef double fgv_f64_u __attribute__((vector_size(16), aligned(8), may_alias));
#define FGV_W_f32 4
#define FGV_W_f64 2

/* Operations that are the same C for both element types. MT: the mask type;
 * SPLAT(x): x in every lane; SHIFTER: 1.5 * 2^(mantissa bits), which rounds to
 * an integer when added and subtracted in round-to-nearest arithmetic. */
#define FGV_OPS(SFX, VT, MT, T, W, SPLAT, SHIFTER)                                                    \
    FG_INLINE VT fgv_load_##SFX(const T *p) { return *(const VT##_u *)p; }                            \
    FG_INLINE void fgv_store_##SFX(T *p, VT v) { *(VT##_u *)p = v; }                                  \
    FG_INLINE VT fgv_set1_##SFX(T x) { return (VT)SPLAT(x); }                                        \
    FG_INLINE VT fgv_zero_##SFX(void) { return (VT){0}; }                                             \
    FG_INLINE VT fgv_bcast_##SFX(const T *p) { return fgv_set1_##SFX(*p); }                           \
    FG_INLINE VT fgv_add_##SFX(VT a, VT b) { return a + b; }                                          \
    FG_INLINE VT fgv_sub_##SFX(VT a, VT b) { return a - b; }                                          \
    FG_INLINE VT fgv_mul_##SFX(VT a, VT b) { return a * b; }                                          \
    FG_INLINE VT fgv_div_##SFX(VT a, VT b) { return a / b; }                                          \
    FG_INLINE VT fgv_fma_##SFX(VT a, VT b, VT c) { return a * b + c; }                                \
    FG_INLINE VT fgv_fnma_##SFX(VT a, VT b, VT c) { return c - a * b; }                               \
    FG_INLINE VT fgv_and_##SFX(VT a, VT b) { return (VT)((MT)a & (MT)b); }                            \
    FG_INLINE VT fgv_xor_##SFX(VT a, VT b) { return (VT)((MT)a ^ (MT)b); }                            \
    FG_INLINE VT fgv_andnot_##SFX(VT a, VT b) { return (VT)(~(MT)a & (MT)b); }                        \
    FG_INLINE MT fgv_lt_##SFX(VT a, VT b) { return (MT)(a < b); }                                     \
    FG_INLINE MT fgv_le_##SFX(VT a, VT b) { return (MT)(a <= b); }                                    \
    FG_INLINE MT fgv_gt_##SFX(VT a, VT b) { return (MT)(a > b); }                                     \
    FG_INLINE MT fgv_ge_##SFX(VT a, VT b) { return (MT)(a >= b); }                                    \
    FG_INLINE MT fgv_eq_##SFX(VT a, VT b) { return (MT)(a == b); }                                    \
    /* true for unordered lanes too, like the quiet != of C */                                        \
    FG_INLINE MT fgv_neq_##SFX(VT a, VT b) { return ~(MT)(a == b); }                                  \
    FG_INLINE MT fgv_unord_##SFX(VT a, VT b) { return ~((MT)(a == a) & (MT)(b == b)); }               \
    FG_INLINE VT fgv_blend_##SFX(VT a, VT b, MT m) { return (VT)(((MT)b & m) | ((MT)a & ~m)); }       \
    FG_INLINE VT fgv_maskz_##SFX(MT m, VT v) { return (VT)((MT)v & m); }                              \
    /* a > b ? a : b and a < b ? a : b: a NaN lane of b comes out as is, as in SSE/AVX */             \
    FG_INLINE VT fgv_max_##SFX(VT a, VT b) { return fgv_blend_##SFX(b, a, fgv_gt_##SFX(a, b)); }     \
    FG_INLINE VT fgv_min_##SFX(VT a, VT b) { return fgv_blend_##SFX(b, a, fgv_lt_##SFX(a, b)); }     \
    /* to the nearest integer, ties to even, for |a| < 2^(mantissa bits - 1) (exp's k) */            \
    FG_INLINE VT fgv_round_##SFX(VT a)                                                                \
    {                                                                                                 \
        const VT s = fgv_set1_##SFX(SHIFTER);                                                         \
        return (a + s) - s;                                                                           \
    }                                                                                                 \
    FG_INLINE MT fgv_first_##SFX(int64_t r)                                                           \
    {                                                                                                 \
        MT m = {0};                                                                                   \
        for (int i = 0; i < W; i++) m[i] = i < r ? -1 : 0;                                            \
        return m;                                                                                     \
    }                                                                                                 \
    FG_INLINE VT fgv_load_first_##SFX(const T *p, MT m)                                               \
    {                                                                                                 \
        VT v = {0};                                                                                   \
        for (int i = 0; i < W; i++)                                                                   \
            if (m[i]) v[i] = p[i];                                                                    \
        return v;                                                                                     \
    }                                                                                                 \
    FG_INLINE void fgv_store_first_##SFX(T *p, MT m, VT v)                                            \
    {                                                                                                 \
        for (int i = 0; i < W; i++)                                                                   \
            if (m[i]) p[i] = v[i];                                                                    \
    }                                                                                                 \
    /* lane sum / maximum in a fixed order: lane 0, then 1, ... */                                    \
    FG_INLINE T fgv_hsum_##SFX(VT v)                                                                  \
    {                                                                                                 \
        T s = v[0];                                                                                   \
        for (int i = 1; i < W; i++) s += v[i];                                                        \
        return s;                                                                                     \
    }                                                                                                 \
    FG_INLINE T fgv_hmax_##SFX(VT v)                                                                  \
    {                                                                                                 \
        T s = v[0];                                                                                   \
        for (int i = 1; i < W; i++) s = v[i] > s ? v[i] : s;                                          \
        return s;                                                                                     \
    }

#define FGV_SPLAT4(x) {x, x, x, x}
#define FGV_SPLAT2(x) {x, x}
FGV_OPS(f32, fgv_f32, fgm_f32, float, 4, FGV_SPLAT4, 12582912.0f)
FGV_OPS(f64, fgv_f64, fgm_f64, double, 2, FGV_SPLAT2, 6755399441055744.0)
#undef FGV_SPLAT4
#undef FGV_SPLAT2
#undef FGV_OPS

/* p * 2^k for integral k in [-252, 254] (float) / [-2044, 2046] (double), as
 * p * 2^h * 2^(k-h) with h = floor(k/2) so that both factors are normal numbers. */
FG_INLINE fgv_f32 fgv_scale2_f32(fgv_f32 p, fgv_f32 k)
{
    const fgm_f32 ki = __builtin_convertvector(k, fgm_f32), kh = ki >> 1;
    const fgv_f32 f1 = (fgv_f32)((kh + 127) << 23), f2 = (fgv_f32)((ki - kh + 127) << 23);
    return (p * f1) * f2;
}

FG_INLINE fgv_f64 fgv_scale2_f64(fgv_f64 p, fgv_f64 k)
{
    const fgm_f64 ki = __builtin_convertvector(k, fgm_f64), kh = ki >> 1;
    const fgv_f64 f1 = (fgv_f64)((kh + 1023) << 52), f2 = (fgv_f64)((ki - kh + 1023) << 52);
    return (p * f1) * f2;
}

FG_INLINE void fgv_prefetch(const void *p) { __builtin_prefetch(p); }

#else
#define FG_SIMD 0
#endif

#endif
