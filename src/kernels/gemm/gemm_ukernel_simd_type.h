/* The SIMD GEMM micro-kernels of one element type, included by gemm_ukernel_simd.h once per
 * type with T, SFX (element type), UK_MR (rows of the full tile, 1..16; the tile is UK_MR × 2
 * vectors) and UK_NAME (name prefix). It defines
 *   UK_NAME(...)            the full UK_MR-row kernel; the packed case's strides (rsa = 1,
 *                           csa = UK_MR, rsb = 2 vectors) become constants, so its addresses
 *                           are immediates;
 *   UK_NAME_rows(mr, ...)   the kernel for the last mr < UK_MR rows of C.
 * Argument contract: as gemm_ukernel_generic in gemm_template.h, plus nr (see
 * gemm_ukernel_simd_template.h). Undefines its parameters at its end. */

#if defined(__GNUC__) || defined(__clang__)
#define GEMM_ALWAYS_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define GEMM_ALWAYS_INLINE static __forceinline
#else
#define GEMM_ALWAYS_INLINE static inline
#endif
/* Unrolling the k loop 4 times halves its counter and branch overhead. */
#if defined(__GNUC__)
#define UK_UNROLL _Pragma("GCC unroll 4")
#else
#define UK_UNROLL
#endif
#define UK_ARGS_DECL                                                                                     \
    int64_t kc, const T *FG_RESTRICT a, int64_t rsa, int64_t csa, const T *FG_RESTRICT b, int64_t rsb, \
        T *FG_RESTRICT c, int64_t ldc, int64_t nr, const T *FG_RESTRICT bias, T beta, int first,        \
        int last_act, T alpha
#define UK_ARGS kc, a, rsa, csa, b, rsb, c, ldc, nr, bias, beta, first, last_act, alpha
/* A packed with every element as a vector of UK_AS copies (FG_GEMM_PACK_A_SPLAT in
 * gemm_template.h) has rsa = UK_AS and csa = UK_MR * UK_AS, which A read in place
 * (rsa or csa is 1) never has: its operands are plain vector loads, not broadcasts. */
#if defined(FG_GEMM_PACK_A_SPLAT)
#define UK_AS VW
#else
#define UK_AS 1
#endif
#define UK_LOAD_A(p) (UK_AS > 1 && rsa == UK_AS && csa == UK_MR * UK_AS ? V_LOAD(p) : V_BCAST(p))

#if UK_MR >= 1
#define UK_R 1
#define UK_ROWS(X) X(0)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 2
#define UK_R 2
#define UK_ROWS(X) X(0) X(1)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 3
#define UK_R 3
#define UK_ROWS(X) X(0) X(1) X(2)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 4
#define UK_R 4
#define UK_ROWS(X) X(0) X(1) X(2) X(3)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 5
#define UK_R 5
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 6
#define UK_R 6
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 7
#define UK_R 7
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 8
#define UK_R 8
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 9
#define UK_R 9
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 10
#define UK_R 10
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 11
#define UK_R 11
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 12
#define UK_R 12
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 13
#define UK_R 13
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 14
#define UK_R 14
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 15
#define UK_R 15
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif
#if UK_MR >= 16
#define UK_R 16
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#include "gemm_ukernel_simd_template.h"
#undef UK_R
#undef UK_ROWS
#endif

static void UK_NAME(UK_ARGS_DECL)
{
    if (rsa == UK_AS && csa == UK_MR * UK_AS && rsb == 2 * VW)
        FG_CAT2(UK_NAME, FG_CAT2(rows, UK_MR))(kc, a, UK_AS, UK_MR * UK_AS, b, 2 * VW, c, ldc, nr, bias, beta, first,
                                               last_act, alpha);
    else
        FG_CAT2(UK_NAME, FG_CAT2(rows, UK_MR))(UK_ARGS);
}

static void FG_CAT2(UK_NAME, rows)(int mr, UK_ARGS_DECL)
{
    switch (mr) {
#if UK_MR > 1
    case 1: FG_CAT2(UK_NAME, rows_1)(UK_ARGS); break;
#endif
#if UK_MR > 2
    case 2: FG_CAT2(UK_NAME, rows_2)(UK_ARGS); break;
#endif
#if UK_MR > 3
    case 3: FG_CAT2(UK_NAME, rows_3)(UK_ARGS); break;
#endif
#if UK_MR > 4
    case 4: FG_CAT2(UK_NAME, rows_4)(UK_ARGS); break;
#endif
#if UK_MR > 5
    case 5: FG_CAT2(UK_NAME, rows_5)(UK_ARGS); break;
#endif
#if UK_MR > 6
    case 6: FG_CAT2(UK_NAME, rows_6)(UK_ARGS); break;
#endif
#if UK_MR > 7
    case 7: FG_CAT2(UK_NAME, rows_7)(UK_ARGS); break;
#endif
#if UK_MR > 8
    case 8: FG_CAT2(UK_NAME, rows_8)(UK_ARGS); break;
#endif
#if UK_MR > 9
    case 9: FG_CAT2(UK_NAME, rows_9)(UK_ARGS); break;
#endif
#if UK_MR > 10
    case 10: FG_CAT2(UK_NAME, rows_10)(UK_ARGS); break;
#endif
#if UK_MR > 11
    case 11: FG_CAT2(UK_NAME, rows_11)(UK_ARGS); break;
#endif
#if UK_MR > 12
    case 12: FG_CAT2(UK_NAME, rows_12)(UK_ARGS); break;
#endif
#if UK_MR > 13
    case 13: FG_CAT2(UK_NAME, rows_13)(UK_ARGS); break;
#endif
#if UK_MR > 14
    case 14: FG_CAT2(UK_NAME, rows_14)(UK_ARGS); break;
#endif
#if UK_MR > 15
    case 15: FG_CAT2(UK_NAME, rows_15)(UK_ARGS); break;
#endif
    default: break;
    }
}

#undef GEMM_ALWAYS_INLINE
#undef UK_UNROLL
#undef UK_ARGS_DECL
#undef UK_ARGS
#undef UK_AS
#undef UK_LOAD_A
#undef T
#undef SFX
#undef UK_MR
#undef UK_NAME
