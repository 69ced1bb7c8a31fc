/* Internal: the SIMD vocabulary of the target being compiled, and its
 * type-generic names.
 *
 * Every target's isa/<target>/simd.h defines FG_SIMD (0: no vectors, the
 * kernels' portable C loops run) or, with FG_SIMD 1, per element type SFX
 * (f32, f64):
 *   fgv_SFX, fgm_SFX       vector and lane-mask types; FGV_W_SFX lanes
 *   fgv_load/store/set1/zero/bcast_SFX      (bcast: one element to all lanes)
 *   fgv_add/sub/mul/div/max/min_SFX(a, b)   max/min: a NaN lane of b comes out as is
 *   fgv_fma_SFX(a, b, c) = a*b + c, fgv_fnma_SFX(a, b, c) = c - a*b (one rounding)
 *   fgv_and/xor/andnot_SFX(a, b)            bitwise; andnot = ~a & b
 *   fgv_round_SFX(a)                        to nearest integer, ties to even
 *   fgv_lt/le/gt/ge/eq/neq/unord_SFX(a, b)  ordered, quiet comparisons -> lane mask
 *   fgv_blend_SFX(a, b, m) = m ? b : a, fgv_maskz_SFX(m, v) = m ? v : 0
 *   fgv_first_SFX(r)                        mask of the first r lanes (0 <= r <= W)
 *   fgv_load_first/store_first_SFX(p, m[, v])  touch only the lanes of such a mask
 *   fgv_scale2_SFX(p, k)                    p * 2^k for integral k (exp's last step)
 *   fgv_hsum/hmax_SFX(v)                    lane sum / maximum in a fixed order
 *   fgv_prefetch(p)
 * Kernels written once over the element type T with suffix SFX use the names
 * below (VEC, V_ADD, ...), which expand to the vocabulary of SFX at use. */
#ifndef FASTGD_SIMD_H
#define FASTGD_SIMD_H

#include "fg_common.h"
#include "simd.h" /* the target's, found through its include directory */

#if FG_SIMD
#define VEC FG_CAT2(fgv, SFX)
#define VMASK FG_CAT2(fgm, SFX)
#define VW FG_CAT2(FGV_W, SFX)
#define V_LOAD FG_CAT2(fgv_load, SFX)
#define V_STORE FG_CAT2(fgv_store, SFX)
#define V_SET1 FG_CAT2(fgv_set1, SFX)
#define V_ZERO FG_CAT2(fgv_zero, SFX)
#define V_BCAST FG_CAT2(fgv_bcast, SFX)
#define V_ADD FG_CAT2(fgv_add, SFX)
#define V_SUB FG_CAT2(fgv_sub, SFX)
#define V_MUL FG_CAT2(fgv_mul, SFX)
#define V_DIV FG_CAT2(fgv_div, SFX)
#define V_MAX FG_CAT2(fgv_max, SFX)
#define V_MIN FG_CAT2(fgv_min, SFX)
#define V_FMA FG_CAT2(fgv_fma, SFX)
#define V_FNMA FG_CAT2(fgv_fnma, SFX)
#define V_AND FG_CAT2(fgv_and, SFX)
#define V_XOR FG_CAT2(fgv_xor, SFX)
#define V_ANDNOT FG_CAT2(fgv_andnot, SFX)
#define V_ROUND FG_CAT2(fgv_round, SFX)
#define V_LT FG_CAT2(fgv_lt, SFX)
#define V_LE FG_CAT2(fgv_le, SFX)
#define V_GT FG_CAT2(fgv_gt, SFX)
#define V_GE FG_CAT2(fgv_ge, SFX)
#define V_EQ FG_CAT2(fgv_eq, SFX)
#define V_NEQ FG_CAT2(fgv_neq, SFX)
#define V_UNORD FG_CAT2(fgv_unord, SFX)
#define V_BLEND FG_CAT2(fgv_blend, SFX)
#define V_MASKZ FG_CAT2(fgv_maskz, SFX)
#define V_FIRST FG_CAT2(fgv_first, SFX)
#define V_LOAD_FIRST FG_CAT2(fgv_load_first, SFX)
#define V_STORE_FIRST FG_CAT2(fgv_store_first, SFX)
#define V_SCALE2 FG_CAT2(fgv_scale2, SFX)
#define V_EXP FG_CAT2(fgv_exp, SFX)
#define V_LOG1P_UNIT FG_CAT2(fgv_log1p_unit, SFX)
#define V_HSUM FG_CAT2(fgv_hsum, SFX)
#define V_HMAX FG_CAT2(fgv_hmax, SFX)
#endif

#endif
