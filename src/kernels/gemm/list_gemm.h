/* Dispatched kernels: GEMM, dense layer forward/backward. Included by kernel_list.h; no include guard.
 * Contracts: see fg_gemm.h. */

/* C(m,n) := act(beta*C + op(A)(m,k)·op(B)(k,n) + bias(n)); beta == 0 never reads C; bias may be NULL */
FG_KERNEL(FG_CAT2(gemm, SFX), (T *C, int64_t ldc, const T *A, int64_t lda, int trans_a,
                               const T *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                               double beta, const T *bias, int act, double act_alpha,
                               void *workspace, int64_t workspace_bytes),
          (C, ldc, A, lda, trans_a, B, ldb, trans_b, m, n, k, beta, bias, act, act_alpha, workspace,
           workspace_bytes))
/* Bytes of workspace fg_gemm_* needs to run on num_threads threads (on every CPU target). */
FG_KERNEL_SIZE(FG_CAT2(gemm_workspace_size, SFX),
               (int64_t m, int64_t n, int64_t k, int trans_a, int trans_b, int num_threads),
               (m, n, k, trans_a, trans_b, num_threads))

/* out(n,m) = act(x(n,k)·W(k,m) + b(m)); b may be NULL. pre NULL: in one GEMM with the activation
   in its epilogue; else pre(n,m) := x·W + b as well (the backward pass of an activation flagged
   grad_from_pre needs it), then out = act(pre) */
FG_KERNEL(FG_CAT2(dense_forward, SFX), (T *out, T *pre, const T *x, const T *W, const T *b,
                                        int64_t n, int64_t k, int64_t m, int act, double act_alpha,
                                        void *workspace, int64_t workspace_bytes),
          (out, pre, x, W, b, n, k, m, act, act_alpha, workspace, workspace_bytes))
/* grad_out(n,m) := grad_z = grad_out ⊙ act'(saved), saved the forward's out, or its pre for the
   activations flagged grad_from_pre (fg_act_grad_from_pre); dW(k,m) := beta*dW + xᵀ·grad_z;
   db(m) := beta*db + Σ_rows grad_z (db may be NULL); grad_x(n,k) = grad_z·Wᵀ (grad_x may be NULL) */
FG_KERNEL(FG_CAT2(dense_backward, SFX),
          (T *grad_x, T *dW, T *db, T *grad_out, const T *x, const T *W, const T *saved, int64_t n, int64_t k,
           int64_t m, int act, double act_alpha, double beta, void *workspace, int64_t workspace_bytes),
          (grad_x, dW, db, grad_out, x, W, saved, n, k, m, act, act_alpha, beta, workspace, workspace_bytes))
/* Bytes of workspace fg_dense_forward_* and fg_dense_backward_* need on num_threads threads. */
FG_KERNEL_SIZE(FG_CAT2(dense_workspace_size, SFX), (int64_t n, int64_t k, int64_t m, int num_threads),
               (n, k, m, num_threads))

/* The selected target's GEMM block sizes: sizes[0..4] = MR, NR, KC, MC, NC (tests, benchmarks). */
FG_KERNEL(FG_CAT2(gemm_block_sizes, SFX), (int64_t *sizes), (sizes))

/* The machine's FMA ceiling: `iters` rounds of independent register-only FMA chains on each of
   fg_get_num_threads() threads. Returns the floating-point operations done (2 per FMA lane). */
FG_KERNEL_RET(double, FG_CAT2(fma_peak, SFX), (int64_t iters), (iters))
