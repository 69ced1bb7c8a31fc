/* Transposing GEMM packers for the x86 targets (AVX2 instructions; included by
 * avx2/gemm_ukernel.h and avx512/gemm_ukernel.h after their config.h).
 *
 * Packing a panel whose source runs along k (rows of A for op(A) = A, rows of
 * B for op(B) = Bᵀ) is a transpose; element by element it costs about as much
 * as the micro-kernel's work on it at small batch sizes, so it is done with
 * in-register 8×8 (float) / 4×4 (double) transposes. */
#ifndef FASTGD_X86_PACK_H
#define FASTGD_X86_PACK_H

#include <immintrin.h>

#include "fg_common.h"

/* o[p] = (r[0][p], ..., r[7][p]) for p < 8. */
FG_INLINE void fg_x86_transpose8_f32(__m256 r[8])
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

/* o[p] = (r[0][p], ..., r[3][p]) for p < 4. */
FG_INLINE void fg_x86_transpose4_f64(__m256d r[4])
{
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* The packers of one element type: L lanes per ymm, TRANSPOSE the L×L transpose.
 *
 * pack_bt: dst[p*nr + j] = src[j*ld + p] for j < nr, p < kc (a full B panel, op(B) = Bᵀ);
 *   nr is a multiple of L.
 * pack_an: dst[p*mr + i] = src[i*ld + p] for i < mr, p < kc (a full A panel, op(A) = A);
 *   mr <= 4L. Rows are transposed in groups of L; when mr is not a multiple of L the
 *   last group's L-wide store spills into the next column, which a later store (group 0
 *   of that column, or the scalar tail: the vector loops stop short of kc) overwrites;
 *   masked stores are slow on AMD cores.
 * Both read a group's L source rows 2L elements (one 64-byte line) at a time, the two
 * L×L transposes of a line back to back. Rows a multiple of 4 KiB apart (a leading
 * dimension of 1024 floats) share one L1 set; reading all 32 rows of a B panel, or all
 * MR rows of an A panel, before coming back for the line's second half would exceed the
 * set's ways and fetch every line twice from L2. */
#define FG_X86_PACKERS(T, SFX, VT, L, LOAD, STORE, ZERO, TRANSPOSE)                                     \
    /* Rows r0..r0+L-1 (those at or past `rows` read as zero), columns p0..p0+L-1 of src into     \
       dst[(p0+p)*ldd + col + i]. */                                                                  \
    FG_INLINE void fg_x86_transpose_block_##SFX(T *FG_RESTRICT dst, int64_t ldd, int64_t col,           \
                                                const T *FG_RESTRICT src, int64_t ld, int r0, int rows, \
                                                int64_t p0)                                             \
    {                                                                                                   \
        VT r[L];                                                                                        \
        for (int i = 0; i < L; i++) r[i] = r0 + i < rows ? LOAD(src + (r0 + i) * ld + p0) : ZERO();     \
        TRANSPOSE(r);                                                                                   \
        for (int p = 0; p < L; p++) STORE(dst + (p0 + p) * ldd + col, r[p]);                            \
    }                                                                                                   \
    FG_INLINE void fg_x86_pack_bt_##SFX(T *FG_RESTRICT dst, const T *FG_RESTRICT src, int64_t ld,         \
                                        int64_t kc, int nr)                                             \
    {                                                                                                   \
        int64_t p0 = 0;                                                                                 \
        for (; p0 + 2 * L <= kc; p0 += 2 * L)                                                           \
            for (int h = 0; h < nr / L; h++) {                                                          \
                fg_x86_transpose_block_##SFX(dst, nr, h * L, src, ld, h * L, nr, p0);                   \
                fg_x86_transpose_block_##SFX(dst, nr, h * L, src, ld, h * L, nr, p0 + L);               \
            }                                                                                           \
        for (; p0 + L <= kc; p0 += L)                                                                   \
            for (int h = 0; h < nr / L; h++)                                                            \
                fg_x86_transpose_block_##SFX(dst, nr, h * L, src, ld, h * L, nr, p0);                   \
        for (; p0 < kc; p0++)                                                                           \
            for (int j = 0; j < nr; j++) dst[p0 * nr + j] = src[j * ld + p0];                           \
    }                                                                                                   \
    FG_INLINE void fg_x86_pack_an_##SFX(T *FG_RESTRICT dst, const T *FG_RESTRICT src, int64_t ld,         \
                                        int64_t kc, int mr)                                             \
    {                                                                                                   \
        const int groups = (mr + L - 1) / L;                                                            \
        int64_t p0 = 0;                                                                                 \
        /* the last (spilling) group first, so group 0 overwrites its spill */                          \
        for (; p0 + 2 * L < kc; p0 += 2 * L)                                                            \
            for (int g = groups - 1; g >= 0; g--) {                                                     \
                fg_x86_transpose_block_##SFX(dst, mr, g * L, src, ld, g * L, mr, p0);                   \
                fg_x86_transpose_block_##SFX(dst, mr, g * L, src, ld, g * L, mr, p0 + L);               \
            }                                                                                           \
        for (; p0 + L < kc; p0 += L)                                                                    \
            for (int g = groups - 1; g >= 0; g--)                                                       \
                fg_x86_transpose_block_##SFX(dst, mr, g * L, src, ld, g * L, mr, p0);                   \
        for (; p0 < kc; p0++)                                                                           \
            for (int i = 0; i < mr; i++) dst[p0 * mr + i] = src[i * ld + p0];                           \
    }

FG_X86_PACKERS(float, f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_setzero_ps,
               fg_x86_transpose8_f32)
FG_X86_PACKERS(double, f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_setzero_pd,
               fg_x86_transpose4_f64)
#undef FG_X86_PACKERS

/* The packers gemm_template.h calls, for the including target's MR and NR (its config.h). */
#define FG_GEMM_PACK_BT 1
#define FG_GEMM_PACK_AN 1
#define FG_X86_TARGET_PACKERS(T, SFX, MR, NR)                                                           \
    static void gemm_pack_bt_##SFX(T *FG_RESTRICT dst, const T *FG_RESTRICT src, int64_t ld, int64_t kc)  \
    {                                                                                                   \
        fg_x86_pack_bt_##SFX(dst, src, ld, kc, NR);                                                     \
    }                                                                                                   \
    static void gemm_pack_an_##SFX(T *FG_RESTRICT dst, const T *FG_RESTRICT src, int64_t ld, int64_t kc)  \
    {                                                                                                   \
        fg_x86_pack_an_##SFX(dst, src, ld, kc, MR);                                                     \
    }
FG_X86_TARGET_PACKERS(float, f32, FG_GEMM_MR_F32, FG_GEMM_NR_F32)
FG_X86_TARGET_PACKERS(double, f64, FG_GEMM_MR_F64, FG_GEMM_NR_F64)
#undef FG_X86_TARGET_PACKERS

#endif
