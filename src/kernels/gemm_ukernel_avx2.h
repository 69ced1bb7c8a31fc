/* AVX2+FMA micro-kernels of the GEMM (included by gemm.c on the avx2 target).
 *
 * gemm_ukernel_avx2_f32: 6×16 floats, gemm_ukernel_avx2_f64: 6×8 doubles. Both
 * hold the tile in 12 ymm accumulators; per k step they load one row of the B
 * micro-panel (2 vectors) and broadcast 6 elements of A: 12 FMAs for 8 loads.
 * A is read as a[i*rsa + p*csa] (a packed panel has rsa = 1, csa = MR; the
 * unpacked small-problem path passes the matrix strides); b[p*rsb + j] has
 * 16 (8) contiguous elements per row. The epilogue (bias, beta*C, relu or
 * leaky relu) runs on the accumulators before the single store.
 * Contract: as gemm_ukernel_generic in gemm_template.h. */

#if defined(__GNUC__) || defined(__clang__)
#define GEMM_ALWAYS_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define GEMM_ALWAYS_INLINE static __forceinline
#else
#define GEMM_ALWAYS_INLINE static inline
#endif

/* The entry points of one element type: the full 6-row kernel (with the packed
 * case's strides as constants, so its addresses are immediates) and the kernel
 * for the last mr < 6 rows of C. */
#define UK_ARGS_DECL                                                                                      \
    int64_t kc, const UT *FG_RESTRICT a, int64_t rsa, int64_t csa, const UT *FG_RESTRICT b, int64_t rsb, \
        UT *FG_RESTRICT c, int64_t ldc, const UT *FG_RESTRICT bias, UT beta, int first, int last_act, UT alpha
#define UK_ARGS kc, a, rsa, csa, b, rsb, c, ldc, bias, beta, first, last_act, alpha
#define UK_ENTRY_POINTS                                                                                   \
    static void UFN(UK_ARGS_DECL)                                                                         \
    {                                                                                                     \
        if (rsa == 1 && csa == 6 && rsb == 2 * UW)                                                        \
            FG_CAT2(UFN, rows_6)(kc, a, 1, 6, b, 2 * UW, c, ldc, bias, beta, first, last_act, alpha);      \
        else                                                                                              \
            FG_CAT2(UFN, rows_6)(UK_ARGS);                                                                \
    }                                                                                                     \
    static void FG_CAT2(UFN, rows)(int mr, UK_ARGS_DECL)                                                  \
    {                                                                                                     \
        switch (mr) {                                                                                     \
        case 1: FG_CAT2(UFN, rows_1)(UK_ARGS); break;                                                     \
        case 2: FG_CAT2(UFN, rows_2)(UK_ARGS); break;                                                     \
        case 3: FG_CAT2(UFN, rows_3)(UK_ARGS); break;                                                     \
        case 4: FG_CAT2(UFN, rows_4)(UK_ARGS); break;                                                     \
        default: FG_CAT2(UFN, rows_5)(UK_ARGS); break;                                                    \
        }                                                                                                 \
    }

#define UT float
#define UV __m256
#define UW 8
#define UFN gemm_ukernel_avx2_f32
#define U_ZERO _mm256_setzero_ps
#define U_LOAD _mm256_loadu_ps
#define U_STORE _mm256_storeu_ps
#define U_BCAST _mm256_broadcast_ss
#define U_FMA _mm256_fmadd_ps
#define U_ADD _mm256_add_ps
#define U_MAX _mm256_max_ps
#define U_MUL _mm256_mul_ps
#define U_SET1 _mm256_set1_ps
#define U_LT(x, y) _mm256_cmp_ps(x, y, _CMP_LT_OQ)
#define U_BLEND _mm256_blendv_ps
/* Unrolling the k loop 4 times halves its counter and branch overhead. */
#if defined(__GNUC__)
#define UK_UNROLL _Pragma("GCC unroll 4")
#else
#define UK_UNROLL
#endif

#include "gemm_ukernel_avx2_rows_template.h"
#undef UT
#undef UV
#undef UW
#undef UFN
#undef U_ZERO
#undef U_LOAD
#undef U_STORE
#undef U_BCAST
#undef U_FMA
#undef U_ADD
#undef U_MAX
#undef U_MUL
#undef U_SET1
#undef U_LT
#undef U_BLEND

#define UT double
#define UV __m256d
#define UW 4
#define UFN gemm_ukernel_avx2_f64
#define U_ZERO _mm256_setzero_pd
#define U_LOAD _mm256_loadu_pd
#define U_STORE _mm256_storeu_pd
#define U_BCAST _mm256_broadcast_sd
#define U_FMA _mm256_fmadd_pd
#define U_ADD _mm256_add_pd
#define U_MAX _mm256_max_pd
#define U_MUL _mm256_mul_pd
#define U_SET1 _mm256_set1_pd
#define U_LT(x, y) _mm256_cmp_pd(x, y, _CMP_LT_OQ)
#define U_BLEND _mm256_blendv_pd
#include "gemm_ukernel_avx2_rows_template.h"
#undef UT
#undef UV
#undef UW
#undef UFN
#undef U_ZERO
#undef U_LOAD
#undef U_STORE
#undef U_BCAST
#undef U_FMA
#undef U_ADD
#undef U_MAX
#undef U_MUL
#undef U_SET1
#undef U_LT
#undef U_BLEND

/* ---- transposing pack routines -------------------------------------------
 * Packing a panel whose source runs along k (rows of A for op(A) = A, rows of
 * B for op(B) = Bᵀ) is a transpose; element by element it costs about as much
 * as the micro-kernel's work on it at small batch sizes, so it is done with
 * in-register 8×8 (float) / 4×4 (double) transposes. */

/* o[p] = (r[0][p], ..., r[7][p]) for p < 8. */
FG_INLINE void gemm_transpose8_f32(__m256 r[8])
{
    __m256 t[8], s[8];
    for (int q = 0; q < 4; q++) {
        t[2 * q] = _mm256_unpacklo_ps(r[2 * q], r[2 * q + 1]);
        t[2 * q + 1] = _mm256_unpackhi_ps(r[2 * q], r[2 * q + 1]);
    }
    for (int h = 0; h < 2; h++) {
        s[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; q++) {
        r[q] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x20);
        r[q + 4] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x31);
    }
}

/* dst[p*16 + j] = src[j*ld + p] for j < 16, p < kc (a full B panel, op(B) = Bᵀ). */
static void gemm_pack_bt_avx2_f32(float *FG_RESTRICT dst, const float *FG_RESTRICT src, int64_t ld, int64_t kc)
{
    int64_t p0 = 0;
    for (; p0 + 8 <= kc; p0 += 8)
        for (int h = 0; h < 2; h++) {
            __m256 r[8];
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(src + (h * 8 + j) * ld + p0);
            gemm_transpose8_f32(r);
            for (int p = 0; p < 8; p++) _mm256_storeu_ps(dst + (p0 + p) * 16 + h * 8, r[p]);
        }
    for (; p0 < kc; p0++)
        for (int j = 0; j < 16; j++) dst[p0 * 16 + j] = src[j * ld + p0];
}

/* dst[p*6 + i] = src[i*ld + p] for i < 6, p < kc (a full A panel, op(A) = A). */
static void gemm_pack_an_avx2_f32(float *FG_RESTRICT dst, const float *FG_RESTRICT src, int64_t ld, int64_t kc)
{
    /* Each 8-wide store spills 2 lanes into the next column, which the next
     * store (or the scalar tail: the vector loop stops short of kc) overwrites.
     * Masked stores are slow on AMD cores. */
    int64_t p0 = 0;
    for (; p0 + 8 < kc; p0 += 8) {
        __m256 r[8];
        for (int i = 0; i < 6; i++) r[i] = _mm256_loadu_ps(src + i * ld + p0);
        r[6] = r[7] = _mm256_setzero_ps();
        gemm_transpose8_f32(r);
        for (int p = 0; p < 8; p++) _mm256_storeu_ps(dst + (p0 + p) * 6, r[p]);
    }
    for (; p0 < kc; p0++)
        for (int i = 0; i < 6; i++) dst[p0 * 6 + i] = src[i * ld + p0];
}

/* o[p] = (r[0][p], ..., r[3][p]) for p < 4. */
FG_INLINE void gemm_transpose4_f64(__m256d r[4])
{
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* dst[p*8 + j] = src[j*ld + p] for j < 8, p < kc. */
static void gemm_pack_bt_avx2_f64(double *FG_RESTRICT dst, const double *FG_RESTRICT src, int64_t ld, int64_t kc)
{
    int64_t p0 = 0;
    for (; p0 + 4 <= kc; p0 += 4)
        for (int h = 0; h < 2; h++) {
            __m256d r[4];
            for (int j = 0; j < 4; j++) r[j] = _mm256_loadu_pd(src + (h * 4 + j) * ld + p0);
            gemm_transpose4_f64(r);
            for (int p = 0; p < 4; p++) _mm256_storeu_pd(dst + (p0 + p) * 8 + h * 4, r[p]);
        }
    for (; p0 < kc; p0++)
        for (int j = 0; j < 8; j++) dst[p0 * 8 + j] = src[j * ld + p0];
}

/* dst[p*6 + i] = src[i*ld + p] for i < 6, p < kc. */
static void gemm_pack_an_avx2_f64(double *FG_RESTRICT dst, const double *FG_RESTRICT src, int64_t ld, int64_t kc)
{
    int64_t p0 = 0;
    for (; p0 + 4 <= kc; p0 += 4) {
        __m256d r[4], s[4];
        for (int i = 0; i < 4; i++) r[i] = _mm256_loadu_pd(src + i * ld + p0);
        s[0] = _mm256_loadu_pd(src + 4 * ld + p0);
        s[1] = _mm256_loadu_pd(src + 5 * ld + p0);
        s[2] = s[3] = _mm256_setzero_pd();
        gemm_transpose4_f64(r);
        gemm_transpose4_f64(s);
        for (int p = 0; p < 4; p++) {
            _mm256_storeu_pd(dst + (p0 + p) * 6, r[p]);
            _mm_storeu_pd(dst + (p0 + p) * 6 + 4, _mm256_castpd256_pd128(s[p]));
        }
    }
    for (; p0 < kc; p0++)
        for (int i = 0; i < 6; i++) dst[p0 * 6 + i] = src[i * ld + p0];
}
#undef UK_ENTRY_POINTS
#undef UK_ARGS_DECL
#undef UK_ARGS
