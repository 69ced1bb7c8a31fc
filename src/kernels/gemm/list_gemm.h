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

/* An operand packed once for many products (a full-batch input every L-BFGS evaluation reads):
   bytes of all of op(A)(m,k) packed for a product with n columns, 0 when that product reads A in
   place (then nothing needs packing); packed := op(A), as the packed path of fg_gemm_* lays out
   each block, returning gemm_packed_a_layout's token, or 0 having written nothing when the
   product reads A in place or packed_bytes is less than it needs (the active target may have
   changed since the size was asked); and fg_gemm_* reading op(A) from packed (what gemm_pack_a_whole wrote for the same
   A, lda, trans_a, m, n, k) instead of packing it, bit-identical to fg_gemm_*. a_packed NULL:
   fg_gemm_* itself. The size is the active target's (a packing serves only the target that made
   it), not the largest over targets as for workspaces. */
FG_KERNEL_RET(int64_t, FG_CAT2(gemm_packed_a_size, SFX), (int64_t m, int64_t n, int64_t k), (m, n, k))
/* A token naming the layout gemm_pack_a_whole writes, the same for every packing the active
   target makes of this element type and different from every other target's and type's. */
FG_KERNEL_RET(int64_t, FG_CAT2(gemm_packed_a_layout, SFX), (void), ())
FG_KERNEL_RET(int64_t, FG_CAT2(gemm_pack_a_whole, SFX),
              (T *packed, int64_t packed_bytes, const T *A, int64_t lda, int trans_a, int64_t m, int64_t n,
               int64_t k),
              (packed, packed_bytes, A, lda, trans_a, m, n, k))
FG_KERNEL(FG_CAT2(gemm_prepacked, SFX),
          (T *C, int64_t ldc, const T *A, int64_t lda, int trans_a, const T *a_packed, const T *B, int64_t ldb,
           int trans_b, int64_t m, int64_t n, int64_t k, double beta, const T *bias, int act, double act_alpha,
           void *workspace, int64_t workspace_bytes),
          (C, ldc, A, lda, trans_a, a_packed, B, ldb, trans_b, m, n, k, beta, bias, act, act_alpha, workspace,
           workspace_bytes))

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
/* fg_dense_forward_* and fg_dense_backward_* with x read from x_packed (forward: x as op(A) of
   x·W, gemm_pack_a_whole(x_packed, x, k, 0, n, m, k); backward: xᵀ of xᵀ·grad_z,
   gemm_pack_a_whole(x_packed, x, k, 1, k, m, n)), or packed anew when x_packed is NULL */
FG_KERNEL(FG_CAT2(dense_forward_prepacked, SFX), (T *out, T *pre, const T *x, const T *x_packed, const T *W,
                                                  const T *b, int64_t n, int64_t k, int64_t m, int act,
                                                  double act_alpha, void *workspace, int64_t workspace_bytes),
          (out, pre, x, x_packed, W, b, n, k, m, act, act_alpha, workspace, workspace_bytes))
/* resume (fg_dense_backward_prepacked_*, fg_dense_backward_input_*): dW and db hold the sums of
   the rows before these, which go on from there (beta ignored): db's row sums in row order, dW
   by fg_gemm_* with beta 1. Rows taken in ranges that way from the first give db bit for bit as
   all at once with beta 0, and dW too when every range is one of fg_gemm_k_step's k blocks of the
   whole (its product of the range is then the GEMM's own block step). */
FG_KERNEL(FG_CAT2(dense_backward_prepacked, SFX),
          (T *grad_x, T *dW, T *db, T *grad_out, const T *x, const T *x_packed, const T *W, const T *saved, int64_t n,
           int64_t k, int64_t m, int act, double act_alpha, double beta, int resume, void *workspace,
           int64_t workspace_bytes),
          (grad_x, dW, db, grad_out, x, x_packed, W, saved, n, k, m, act, act_alpha, beta, resume, workspace,
           workspace_bytes))
/* grad_x(n,k) = grad_z(n,m)·W(k,m)ᵀ and the first part of the backward pass of the layer whose output
   grad_x is the gradient of: grad_x := grad_x ⊙ act_in'(saved_in) and db_in(k) := Σ_rows grad_x (db_in
   may be NULL), in blocks of rows, each while it is in cache. Bit for bit the product of
   fg_dense_backward_* followed by that layer's fg_dense_backward_* with beta 0 (its workspace),
   or with resume (see above) for resume. */
FG_KERNEL(FG_CAT2(dense_backward_input, SFX),
          (T *grad_x, T *db_in, const T *grad_z, const T *W, const T *saved_in, int64_t n, int64_t k, int64_t m,
           int act_in, double alpha_in, int resume, void *workspace, int64_t workspace_bytes),
          (grad_x, db_in, grad_z, W, saved_in, n, k, m, act_in, alpha_in, resume, workspace, workspace_bytes))
/* Bytes of workspace fg_dense_forward_* and fg_dense_backward_* need on num_threads threads. */
FG_KERNEL_SIZE(FG_CAT2(dense_workspace_size, SFX), (int64_t n, int64_t k, int64_t m, int num_threads),
               (n, k, m, num_threads))

/* The selected target's GEMM block sizes: sizes[0..4] = MR, NR, KC, MC, NC (tests, benchmarks). */
FG_KERNEL(FG_CAT2(gemm_block_sizes, SFX), (int64_t *sizes), (sizes))

/* The machine's FMA ceiling: `iters` rounds of independent register-only FMA chains on each of
   fg_get_num_threads() threads. Returns the floating-point operations done (2 per FMA lane). */
FG_KERNEL_RET(double, FG_CAT2(fma_peak, SFX), (int64_t iters), (iters))
