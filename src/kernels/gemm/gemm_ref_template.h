/* Included by gemm_ref.c once per element type T (suffix SFX): see fg_each_type.h. */
void FG_CAT2(fg_gemm_ref, SFX)(T *C, int64_t ldc, const T *A, int64_t lda, int trans_a, const T *B,
                               int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k, double beta,
                               const T *bias, int act, double act_alpha)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            T acc = 0;
            for (int64_t p = 0; p < k; p++) {
                const T a = trans_a ? A[p * lda + i] : A[i * lda + p];
                const T b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
            }
            if (bias) acc += bias[j];
            /* beta == 0 never reads C: C may hold NaN or garbage. */
            if (beta != 0.0) acc += (T)beta * C[i * ldc + j];
            C[i * ldc + j] = FG_CAT2(fg_act, SFX)(acc, act, (T)act_alpha);
        }
}

void FG_CAT2(fg_dense_backward_ref, SFX)(T *grad_x, T *dW, T *db, T *grad_out, const T *x,
                                         const T *W, const T *saved, int64_t n, int64_t k, int64_t m,
                                         int act, double act_alpha, double beta)
{
    for (int64_t i = 0; i < n * m; i++)
        grad_out[i] = FG_CAT2(fg_act_backward, SFX)(grad_out[i], saved[i], act, (T)act_alpha);
    /* dW = beta*dW + xᵀ·grad_z */
    FG_CAT2(fg_gemm_ref, SFX)(dW, m, x, k, 1, grad_out, m, 0, k, m, n, beta, NULL, FG_ACT_IDENTITY,
                      0.0);
    if (db)
        for (int64_t j = 0; j < m; j++) {
            T s = 0;
            for (int64_t i = 0; i < n; i++) s += grad_out[i * m + j];
            db[j] = beta != 0.0 ? (T)beta * db[j] + s : s;
        }
    /* grad_x = grad_z·Wᵀ */
    if (grad_x)
        FG_CAT2(fg_gemm_ref, SFX)(grad_x, k, grad_out, m, 0, W, m, 1, n, k, m, 0.0, NULL,
                          FG_ACT_IDENTITY, 0.0);
}
