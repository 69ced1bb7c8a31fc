/* GEMM micro-kernels and packers of the AVX2+FMA target (included by gemm.c).
 *
 * Micro-kernels (gemm_ukernel_simd.h in this target's vocabulary): gemm_ukernel_f32 6×16
 * floats, gemm_ukernel_f64 6×8 doubles. Both hold the tile in 12 ymm accumulators; per k step
 * they load one row of the B micro-panel (2 vectors) and broadcast 6 elements of A: 12 FMAs for
 * 8 loads. Edge tiles narrower than NR go through a copy (gemm_template.h): masked stores are
 * slow on AMD cores. */
#define FG_GEMM_PACK_BT 1
#define FG_GEMM_PACK_AN 1
#include "gemm_ukernel_simd_types.h"

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
static void gemm_pack_bt_f32(float *FG_RESTRICT dst, const float *FG_RESTRICT src, int64_t ld, int64_t kc)
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
static void gemm_pack_an_f32(float *FG_RESTRICT dst, const float *FG_RESTRICT src, int64_t ld, int64_t kc)
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
static void gemm_pack_bt_f64(double *FG_RESTRICT dst, const double *FG_RESTRICT src, int64_t ld, int64_t kc)
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
static void gemm_pack_an_f64(double *FG_RESTRICT dst, const double *FG_RESTRICT src, int64_t ld, int64_t kc)
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
