/* Dispatched kernels: GEMM, dense layer forward/backward. Included by kernel_list.h; no include guard.
 * Contracts: see fg_gemm.h. */

/* C(m,n) := act(beta*C + op(A)(m,k)·op(B)(k,n) + bias(n)); beta == 0 never reads C; bias may be NULL */
FG_KERNEL(gemm_f32, (float *C, int64_t ldc, const float *A, int64_t lda, int trans_a,
                     const float *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                     double beta, const float *bias, int act, double act_alpha,
                     void *workspace, int64_t workspace_bytes),
          (C, ldc, A, lda, trans_a, B, ldb, trans_b, m, n, k, beta, bias, act, act_alpha, workspace,
           workspace_bytes))
FG_KERNEL(gemm_f64, (double *C, int64_t ldc, const double *A, int64_t lda, int trans_a,
                     const double *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                     double beta, const double *bias, int act, double act_alpha,
                     void *workspace, int64_t workspace_bytes),
          (C, ldc, A, lda, trans_a, B, ldb, trans_b, m, n, k, beta, bias, act, act_alpha, workspace,
           workspace_bytes))
/* Bytes of workspace fg_gemm_* needs to run on num_threads threads (on every CPU target). */
FG_KERNEL_SIZE(gemm_workspace_size_f32,
               (int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, int num_threads),
               (m, n, k, trans_a, trans_b, num_threads))
FG_KERNEL_SIZE(gemm_workspace_size_f64,
               (int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, int num_threads),
               (m, n, k, trans_a, trans_b, num_threads))

/* out(n,m) = act(x(n,k)·W(k,m) + b(m)); b may be NULL. pre NULL: in one GEMM with the activation
   in its epilogue; else pre(n,m) := x·W + b as well (the backward pass of an activation flagged
   grad_from_pre needs it), then out = act(pre) */
FG_KERNEL(dense_forward_f32, (float *out, float *pre, const float *x, const float *W, const float *b,
                              int64_t n, int64_t k, int64_t m, int act, double act_alpha,
                              void *workspace, int64_t workspace_bytes),
          (out, pre, x, W, b, n, k, m, act, act_alpha, workspace, workspace_bytes))
FG_KERNEL(dense_forward_f64, (double *out, double *pre, const double *x, const double *W, const double *b,
                              int64_t n, int64_t k, int64_t m, int act, double act_alpha,
                              void *workspace, int64_t workspace_bytes),
          (out, pre, x, W, b, n, k, m, act, act_alpha, workspace, workspace_bytes))
/* grad_out(n,m) := grad_z = grad_out ⊙ act'(saved), saved the forward's out, or its pre for the
   activations flagged grad_from_pre (fg_act_grad_from_pre); dW(k,m) := beta*dW + xᵀ·grad_z;
   db(m) := beta*db + Σ_rows grad_z (db may be NULL); grad_x(n,k) = grad_z·Wᵀ (grad_x may be NULL) */
FG_KERNEL(dense_backward_f32, (float *grad_x, float *dW, float *db, float *grad_out,
                               const float *x, const float *W, const float *saved,
                               int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta,
                               void *workspace, int64_t workspace_bytes),
          (grad_x, dW, db, grad_out, x, W, saved, n, k, m, act, act_alpha, beta, workspace, workspace_bytes))
FG_KERNEL(dense_backward_f64, (double *grad_x, double *dW, double *db, double *grad_out,
                               const double *x, const double *W, const double *saved,
                               int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta,
                               void *workspace, int64_t workspace_bytes),
          (grad_x, dW, db, grad_out, x, W, saved, n, k, m, act, act_alpha, beta, workspace, workspace_bytes))
/* Bytes of workspace fg_dense_forward_* and fg_dense_backward_* need on num_threads threads. */
FG_KERNEL_SIZE(dense_workspace_size_f32, (int64_t n, int64_t k, int64_t m, int num_threads),
               (n, k, m, num_threads))
FG_KERNEL_SIZE(dense_workspace_size_f64, (int64_t n, int64_t k, int64_t m, int num_threads),
               (n, k, m, num_threads))

/* The selected target's GEMM block sizes: sizes[0..4] = MR, NR, KC, MC, NC (tests, benchmarks). */
FG_KERNEL(gemm_block_sizes_f32, (int64_t *sizes), (sizes))
FG_KERNEL(gemm_block_sizes_f64, (int64_t *sizes), (sizes))

/* The machine's FMA ceiling: `iters` rounds of independent register-only FMA chains on each of
   fg_get_num_threads() threads. Returns the floating-point operations done (2 per FMA lane). */
FG_KERNEL_RET(double, fma_peak_f32, (int64_t iters), (iters))
FG_KERNEL_RET(double, fma_peak_f64, (int64_t iters), (iters))
