/* Included by sparse_ref.c once per element type T (suffix SFX): see fg_each_type.h. */
void FG_CAT2(fg_csr_dense_forward_ref, SFX)(T *out, const fg_csr *x, const int64_t *rows, int64_t start,
                                            int64_t n, const T *W, const T *b, int64_t m, int act,
                                            double act_alpha)
{
    const T *data = (const T *)x->data;
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = rows ? rows[i] : start + i;
        for (int64_t j = 0; j < m; j++) {
            double z = b ? (double)b[j] : 0.0;
            for (int64_t p = x->indptr[r]; p < x->indptr[r + 1]; p++)
                z += (double)data[p] * (double)W[x->indices[p] * m + j];
            out[i * m + j] = FG_CAT2(fg_act, SFX)((T)z, act, (T)act_alpha);
        }
    }
}

void FG_CAT2(fg_csr_weight_grad_ref, SFX)(T *dW, const fg_csr *x, const int64_t *rows, int64_t start,
                                          int64_t n, const T *grad_z, int64_t m, double beta)
{
    const T *data = (const T *)x->data;
    for (int64_t c = 0; c < x->n_cols * m; c++) dW[c] = beta == 0.0 ? (T)0 : (T)beta * dW[c];
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = rows ? rows[i] : start + i;
        for (int64_t p = x->indptr[r]; p < x->indptr[r + 1]; p++)
            for (int64_t j = 0; j < m; j++) dW[x->indices[p] * m + j] += data[p] * grad_z[i * m + j];
    }
}
