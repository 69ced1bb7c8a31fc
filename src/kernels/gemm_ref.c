/* Reference twins of the GEMM and dense layer kernels: the contracts written as
 * plain loops, compiled once without target flags. They are the test oracle
 * (exposed as fastgd._core.gemm_ref / dense_backward_ref), not a fast path. */
#include "fastgd_kernels.h"
#include "fg_act.h"

#define REF_TEMPLATE(T, SFX)                                                                      \
    void fg_gemm_ref_##SFX(T *C, int64_t ldc, const T *A, int64_t lda, int trans_a, const T *B,   \
                           int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k, double beta, \
                           const T *bias, int act, double act_alpha)                              \
    {                                                                                             \
        for (int64_t i = 0; i < m; i++)                                                           \
            for (int64_t j = 0; j < n; j++) {                                                     \
                T acc = 0;                                                                        \
                for (int64_t p = 0; p < k; p++) {                                                 \
                    const T a = trans_a ? A[p * lda + i] : A[i * lda + p];                        \
                    const T b = trans_b ? B[j * ldb + p] : B[p * ldb + j];                        \
                    acc += a * b;                                                                 \
                }                                                                                 \
                if (bias) acc += bias[j];                                                         \
                /* beta == 0 never reads C: C may hold NaN or garbage. */                         \
                if (beta != 0.0) acc += (T)beta * C[i * ldc + j];                                 \
                C[i * ldc + j] = fg_act_##SFX(acc, act, (T)act_alpha);                            \
            }                                                                                     \
    }                                                                                             \
                                                                                                  \
    void fg_dense_backward_ref_##SFX(T *grad_x, T *dW, T *db, T *grad_out, const T *x,            \
                                     const T *W, const T *out, int64_t n, int64_t k, int64_t m,   \
                                     int act, double act_alpha, double beta)                      \
    {                                                                                             \
        for (int64_t i = 0; i < n * m; i++)                                                       \
            grad_out[i] = fg_act_backward_##SFX(grad_out[i], out[i], act, (T)act_alpha);                          \
        /* dW = beta*dW + xᵀ·grad_z */                                                            \
        fg_gemm_ref_##SFX(dW, m, x, k, 1, grad_out, m, 0, k, m, n, beta, NULL, FG_ACT_IDENTITY,   \
                          0.0);                                                                   \
        if (db)                                                                                   \
            for (int64_t j = 0; j < m; j++) {                                                     \
                T s = 0;                                                                          \
                for (int64_t i = 0; i < n; i++) s += grad_out[i * m + j];                         \
                db[j] = beta != 0.0 ? (T)beta * db[j] + s : s;                                    \
            }                                                                                     \
        /* grad_x = grad_z·Wᵀ */                                                                  \
        if (grad_x)                                                                               \
            fg_gemm_ref_##SFX(grad_x, k, grad_out, m, 0, W, m, 1, n, k, m, 0.0, NULL,             \
                              FG_ACT_IDENTITY, 0.0);                                              \
    }

REF_TEMPLATE(float, f32)
REF_TEMPLATE(double, f64)
