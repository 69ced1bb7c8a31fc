/* The SIMD vocabulary of the AVX-512 target (F, BW, DQ, VL): 512-bit vectors
 * and opmask registers as lane masks (see fg_simd.h for the list). */
#ifndef FASTGD_TARGET_SIMD_H
#define FASTGD_TARGET_SIMD_H

#include <immintrin.h>

#include "fg_common.h"
#include "isa/x86_simd.h"

#define FG_SIMD 1

typedef __m512 fgv_f32;
typedef __mmask16 fgm_f32;
typedef __m512d fgv_f64;
typedef __mmask8 fgm_f64;
#define FGV_W_f32 16
#define FGV_W_f64 8

#define FGV_OPS(SFX, S, VT, MT, T)                                                                 \
    FGV_X86_OPS(SFX, _mm512, S, VT, T)                                                             \
    FG_INLINE VT fgv_bcast_##SFX(const T *p) { return _mm512_set1_##S(*p); }                       \
    FG_INLINE VT fgv_round_##SFX(VT a)                                                             \
    {                                                                                              \
        return _mm512_roundscale_##S(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);            \
    }                                                                                              \
    FG_INLINE MT fgv_lt_##SFX(VT a, VT b) { return _mm512_cmp_##S##_mask(a, b, _CMP_LT_OQ); }      \
    FG_INLINE MT fgv_le_##SFX(VT a, VT b) { return _mm512_cmp_##S##_mask(a, b, _CMP_LE_OQ); }      \
    FG_INLINE MT fgv_gt_##SFX(VT a, VT b) { return _mm512_cmp_##S##_mask(a, b, _CMP_GT_OQ); }      \
    FG_INLINE MT fgv_ge_##SFX(VT a, VT b) { return _mm512_cmp_##S##_mask(a, b, _CMP_GE_OQ); }      \
    FG_INLINE MT fgv_eq_##SFX(VT a, VT b) { return _mm512_cmp_##S##_mask(a, b, _CMP_EQ_OQ); }      \
    FG_INLINE MT fgv_neq_##SFX(VT a, VT b) { return _mm512_cmp_##S##_mask(a, b, _CMP_NEQ_OQ); }    \
    FG_INLINE MT fgv_unord_##SFX(VT a, VT b) { return _mm512_cmp_##S##_mask(a, b, _CMP_UNORD_Q); } \
    FG_INLINE VT fgv_blend_##SFX(VT a, VT b, MT m) { return _mm512_mask_blend_##S(m, a, b); }      \
    FG_INLINE VT fgv_maskz_##SFX(MT m, VT v) { return _mm512_maskz_mov_##S(m, v); }                \
    FG_INLINE MT fgv_first_##SFX(int64_t r) { return (MT)((1u << r) - 1u); }                       \
    FG_INLINE VT fgv_load_first_##SFX(const T *p, MT m) { return _mm512_maskz_loadu_##S(m, p); }   \
    FG_INLINE void fgv_store_first_##SFX(T *p, MT m, VT v) { _mm512_mask_storeu_##S(p, m, v); }    \
    /* p * 2^k (k integral): one exactly rounded vscalef */                                        \
    FG_INLINE VT fgv_scale2_##SFX(VT p, VT k) { return _mm512_scalef_##S(p, k); }                  \
    /* the compiler's fixed reduction tree */                                                      \
    FG_INLINE T fgv_hsum_##SFX(VT v) { return _mm512_reduce_add_##S(v); }                          \
    FG_INLINE T fgv_hmax_##SFX(VT v) { return _mm512_reduce_max_##S(v); }

FGV_OPS(f32, ps, __m512, __mmask16, float)
FGV_OPS(f64, pd, __m512d, __mmask8, double)
#undef FGV_OPS

FG_INLINE void fgv_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

#endif
