/* Dispatched kernels: a dense layer whose input is a CSR matrix (fg_sparse.h). Included by
 * kernel_list.h; no include guard.
 *
 * The batch is rows r_i = rows[i] of x (i in [0, n)), or r_i = start + i when rows is NULL;
 * every r_i must be in [0, x->n_rows). */

/* The forward pass of a whole model (fg_model.h) on rows [0, n) of a CSR x (n <= m->rows_cap). */
FG_KERNEL(model_forward_csr_f32, (const fg_model *m, const fg_csr *x, int64_t n), (m, x, n))
FG_KERNEL(model_forward_csr_f64, (const fg_model *m, const fg_csr *x, int64_t n), (m, x, n))
/* out(n,m) = act(x[r_i]·W(k,m) + b(m)), k = x->n_cols; b may be NULL. */
FG_KERNEL(csr_dense_forward_f32, (float *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                  const float *W, const float *b, int64_t m, int act, double act_alpha),
          (out, x, rows, start, n, W, b, m, act, act_alpha))
FG_KERNEL(csr_dense_forward_f64, (double *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                  const double *W, const double *b, int64_t m, int act, double act_alpha),
          (out, x, rows, start, n, W, b, m, act, act_alpha))
/* dW(k,m) := beta*dW + x[r]ᵀ·grad_z(n,m); beta == 0 never reads dW. */
FG_KERNEL(csr_weight_grad_f32, (float *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                const float *grad_z, int64_t m, double beta),
          (dW, x, rows, start, n, grad_z, m, beta))
FG_KERNEL(csr_weight_grad_f64, (double *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                const double *grad_z, int64_t m, double beta),
          (dW, x, rows, start, n, grad_z, m, beta))
/* The backward pass of that layer without dL/dx: grad_out(n,m) := grad_z = grad_out ⊙ act'(saved),
   saved as in dense_backward (out, or pre for grad_from_pre); db(m) := beta*db + Σ_rows grad_z (db may be NULL); dW as csr_weight_grad. */
FG_KERNEL(csr_dense_backward_f32, (float *dW, float *db, float *grad_out, const fg_csr *x, const int64_t *rows,
                                   int64_t start, const float *saved, int64_t n, int64_t m, int act,
                                   double act_alpha, double beta),
          (dW, db, grad_out, x, rows, start, saved, n, m, act, act_alpha, beta))
FG_KERNEL(csr_dense_backward_f64, (double *dW, double *db, double *grad_out, const fg_csr *x, const int64_t *rows,
                                   int64_t start, const double *saved, int64_t n, int64_t m, int act,
                                   double act_alpha, double beta),
          (dW, db, grad_out, x, rows, start, saved, n, m, act, act_alpha, beta))
