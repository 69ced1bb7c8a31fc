/* The part of the x86 SIMD vocabularies (fg_simd.h) that AVX2 and AVX-512 spell alike: the
 * loads, stores and arithmetic, whose intrinsics differ only by their prefix P (_mm256,
 * _mm512). Included by avx2/simd.h and avx512/simd.h, which add what differs (comparisons and
 * lane masks, rounding, horizontal reductions). */
#ifndef FASTGD_X86_SIMD_H
#define FASTGD_X86_SIMD_H

#include <immintrin.h>

#include "fg_common.h"

#define FGV_X86_OPS(SFX, P, S, VT, T)                                                              \
    FG_INLINE VT fgv_load_##SFX(const T *p) { return P##_loadu_##S(p); }                           \
    FG_INLINE void fgv_store_##SFX(T *p, VT v) { P##_storeu_##S(p, v); }                           \
    FG_INLINE VT fgv_set1_##SFX(T x) { return P##_set1_##S(x); }                                   \
    FG_INLINE VT fgv_zero_##SFX(void) { return P##_setzero_##S(); }                                \
    FG_INLINE VT fgv_add_##SFX(VT a, VT b) { return P##_add_##S(a, b); }                           \
    FG_INLINE VT fgv_sub_##SFX(VT a, VT b) { return P##_sub_##S(a, b); }                           \
    FG_INLINE VT fgv_mul_##SFX(VT a, VT b) { return P##_mul_##S(a, b); }                           \
    FG_INLINE VT fgv_div_##SFX(VT a, VT b) { return P##_div_##S(a, b); }                           \
    FG_INLINE VT fgv_max_##SFX(VT a, VT b) { return P##_max_##S(a, b); }                           \
    FG_INLINE VT fgv_min_##SFX(VT a, VT b) { return P##_min_##S(a, b); }                           \
    FG_INLINE VT fgv_fma_##SFX(VT a, VT b, VT c) { return P##_fmadd_##S(a, b, c); }                \
    FG_INLINE VT fgv_fnma_##SFX(VT a, VT b, VT c) { return P##_fnmadd_##S(a, b, c); }              \
    FG_INLINE VT fgv_and_##SFX(VT a, VT b) { return P##_and_##S(a, b); }                           \
    FG_INLINE VT fgv_xor_##SFX(VT a, VT b) { return P##_xor_##S(a, b); }                           \
    FG_INLINE VT fgv_andnot_##SFX(VT a, VT b) { return P##_andnot_##S(a, b); }

#endif
