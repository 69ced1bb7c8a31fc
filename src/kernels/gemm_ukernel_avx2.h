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

#define UK_MR 6

GEMM_ALWAYS_INLINE void gemm_ukernel_avx2_f32_body(int64_t kc, const float *FG_RESTRICT a, int64_t rsa,
                                                   int64_t csa, const float *FG_RESTRICT b, int64_t rsb,
                                                   float *FG_RESTRICT c, int64_t ldc,
                                                   const float *FG_RESTRICT bias, float beta, int first,
                                                   int last_act, float alpha)
{
    __m256 acc[UK_MR][2];
    for (int i = 0; i < UK_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int i = 0; i < UK_MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * rsa);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += csa;
        b += rsb;
    }
    if (first) {
        if (bias) {
            const __m256 v0 = _mm256_loadu_ps(bias), v1 = _mm256_loadu_ps(bias + 8);
            for (int i = 0; i < UK_MR; i++) {
                acc[i][0] = _mm256_add_ps(acc[i][0], v0);
                acc[i][1] = _mm256_add_ps(acc[i][1], v1);
            }
        }
        if (beta != 0.0f) {
            const __m256 vb = _mm256_set1_ps(beta);
            for (int i = 0; i < UK_MR; i++) {
                acc[i][0] = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + i * ldc), acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + i * ldc + 8), acc[i][1]);
            }
        }
    } else {
        for (int i = 0; i < UK_MR; i++) {
            acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(c + i * ldc));
            acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(c + i * ldc + 8));
        }
    }
    if (last_act == FG_ACT_RELU) {
        /* max(0, x) returns x when x is NaN, as the scalar (x < 0 ? 0 : x). */
        const __m256 zero = _mm256_setzero_ps();
        for (int i = 0; i < UK_MR; i++) {
            acc[i][0] = _mm256_max_ps(zero, acc[i][0]);
            acc[i][1] = _mm256_max_ps(zero, acc[i][1]);
        }
    } else if (last_act == FG_ACT_LEAKY_RELU) {
        const __m256 zero = _mm256_setzero_ps(), va = _mm256_set1_ps(alpha);
        for (int i = 0; i < UK_MR; i++)
            for (int h = 0; h < 2; h++) {
                const __m256 neg = _mm256_cmp_ps(acc[i][h], zero, _CMP_LT_OQ);
                acc[i][h] = _mm256_blendv_ps(acc[i][h], _mm256_mul_ps(va, acc[i][h]), neg);
            }
    }
    for (int i = 0; i < UK_MR; i++) {
        _mm256_storeu_ps(c + i * ldc, acc[i][0]);
        _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
    }
}

static void gemm_ukernel_avx2_f32(int64_t kc, const float *FG_RESTRICT a, int64_t rsa, int64_t csa,
                                  const float *FG_RESTRICT b, int64_t rsb, float *FG_RESTRICT c,
                                  int64_t ldc, const float *FG_RESTRICT bias, float beta, int first,
                                  int last_act, float alpha)
{
    /* The packed case with constant strides, so its A addresses are immediates. */
    if (rsa == 1 && csa == UK_MR && rsb == 16)
        gemm_ukernel_avx2_f32_body(kc, a, 1, UK_MR, b, 16, c, ldc, bias, beta, first, last_act, alpha);
    else
        gemm_ukernel_avx2_f32_body(kc, a, rsa, csa, b, rsb, c, ldc, bias, beta, first, last_act, alpha);
}

GEMM_ALWAYS_INLINE void gemm_ukernel_avx2_f64_body(int64_t kc, const double *FG_RESTRICT a, int64_t rsa,
                                                   int64_t csa, const double *FG_RESTRICT b, int64_t rsb,
                                                   double *FG_RESTRICT c, int64_t ldc,
                                                   const double *FG_RESTRICT bias, double beta, int first,
                                                   int last_act, double alpha)
{
    __m256d acc[UK_MR][2];
    for (int i = 0; i < UK_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_pd();
    for (int64_t p = 0; p < kc; p++) {
        const __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
        for (int i = 0; i < UK_MR; i++) {
            const __m256d ai = _mm256_broadcast_sd(a + i * rsa);
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
        }
        a += csa;
        b += rsb;
    }
    if (first) {
        if (bias) {
            const __m256d v0 = _mm256_loadu_pd(bias), v1 = _mm256_loadu_pd(bias + 4);
            for (int i = 0; i < UK_MR; i++) {
                acc[i][0] = _mm256_add_pd(acc[i][0], v0);
                acc[i][1] = _mm256_add_pd(acc[i][1], v1);
            }
        }
        if (beta != 0.0) {
            const __m256d vb = _mm256_set1_pd(beta);
            for (int i = 0; i < UK_MR; i++) {
                acc[i][0] = _mm256_fmadd_pd(vb, _mm256_loadu_pd(c + i * ldc), acc[i][0]);
                acc[i][1] = _mm256_fmadd_pd(vb, _mm256_loadu_pd(c + i * ldc + 4), acc[i][1]);
            }
        }
    } else {
        for (int i = 0; i < UK_MR; i++) {
            acc[i][0] = _mm256_add_pd(acc[i][0], _mm256_loadu_pd(c + i * ldc));
            acc[i][1] = _mm256_add_pd(acc[i][1], _mm256_loadu_pd(c + i * ldc + 4));
        }
    }
    if (last_act == FG_ACT_RELU) {
        const __m256d zero = _mm256_setzero_pd();
        for (int i = 0; i < UK_MR; i++) {
            acc[i][0] = _mm256_max_pd(zero, acc[i][0]);
            acc[i][1] = _mm256_max_pd(zero, acc[i][1]);
        }
    } else if (last_act == FG_ACT_LEAKY_RELU) {
        const __m256d zero = _mm256_setzero_pd(), va = _mm256_set1_pd(alpha);
        for (int i = 0; i < UK_MR; i++)
            for (int h = 0; h < 2; h++) {
                const __m256d neg = _mm256_cmp_pd(acc[i][h], zero, _CMP_LT_OQ);
                acc[i][h] = _mm256_blendv_pd(acc[i][h], _mm256_mul_pd(va, acc[i][h]), neg);
            }
    }
    for (int i = 0; i < UK_MR; i++) {
        _mm256_storeu_pd(c + i * ldc, acc[i][0]);
        _mm256_storeu_pd(c + i * ldc + 4, acc[i][1]);
    }
}

static void gemm_ukernel_avx2_f64(int64_t kc, const double *FG_RESTRICT a, int64_t rsa, int64_t csa,
                                  const double *FG_RESTRICT b, int64_t rsb, double *FG_RESTRICT c,
                                  int64_t ldc, const double *FG_RESTRICT bias, double beta, int first,
                                  int last_act, double alpha)
{
    if (rsa == 1 && csa == UK_MR && rsb == 8)
        gemm_ukernel_avx2_f64_body(kc, a, 1, UK_MR, b, 8, c, ldc, bias, beta, first, last_act, alpha);
    else
        gemm_ukernel_avx2_f64_body(kc, a, rsa, csa, b, rsb, c, ldc, bias, beta, first, last_act, alpha);
}

#undef UK_MR
