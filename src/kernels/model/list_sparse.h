/* Dispatched kernels: a dense layer whose input is a CSR matrix (fg_sparse.h). Included by
 * kernel_list.h; no include guard.
 *
 * The batch is rows r_i = rows[i] of x (i in [0, n)), or r_i = start + i when rows is NULL;
 * every r_i must be in [0, x->n_rows). */

/* The forward pass of a whole model (fg_model.h) on rows [0, n) of a CSR x (n <= m->rows_cap). */
FG_KERNEL(FG_CAT2(model_forward_csr, SFX), (const fg_model *m, const fg_csr *x, int64_t n), (m, x, n))
/* out(n,m) = act(x[r_i]·W(k,m) + b(m)), k = x->n_cols; b may be NULL. */
FG_KERNEL(FG_CAT2(csr_dense_forward, SFX),
          (T *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n, const T *W, const T *b,
           int64_t m, int act, double act_alpha),
          (out, x, rows, start, n, W, b, m, act, act_alpha))
/* dW(k,m) := beta*dW + x[r]ᵀ·grad_z(n,m); beta == 0 never reads dW. */
FG_KERNEL(FG_CAT2(csr_weight_grad, SFX),
          (T *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n, const T *grad_z, int64_t m,
           double beta),
          (dW, x, rows, start, n, grad_z, m, beta))
/* The backward pass of that layer without dL/dx: grad_out(n,m) := grad_z = grad_out ⊙ act'(saved),
   saved as in dense_backward (out, or pre for grad_from_pre); db(m) := beta*db + Σ_rows grad_z (db may be NULL); dW as csr_weight_grad. */
FG_KERNEL(FG_CAT2(csr_dense_backward, SFX),
          (T *dW, T *db, T *grad_out, const fg_csr *x, const int64_t *rows, int64_t start, const T *saved,
           int64_t n, int64_t m, int act, double act_alpha, double beta),
          (dW, db, grad_out, x, rows, start, saved, n, m, act, act_alpha, beta))
