/* Included by sparse.c once per element type T with name suffix SFX. */

#define SPARSE_FN(name) FG_FN(FG_CAT2(name, SFX))

/* Rows [i0, i1) of the forward pass. */
static void FG_CAT2(csr_forward_rows, SFX)(T *FG_RESTRICT out, const fg_csr *x, const int64_t *rows,
                                           int64_t start, int64_t i0, int64_t i1, const T *FG_RESTRICT W,
                                           const T *FG_RESTRICT b, int64_t m, int act, T alpha)
{
    const int64_t *indptr = x->indptr, *indices = x->indices;
    const T *data = (const T *)x->data;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t r = rows ? rows[i] : start + i;
        T *FG_RESTRICT o = out + i * m;
        if (b)
            memcpy(o, b, (size_t)m * sizeof(T));
        else
            for (int64_t j = 0; j < m; j++) o[j] = 0;
        for (int64_t p = indptr[r]; p < indptr[r + 1]; p++) {
            const T v = data[p];
            const T *FG_RESTRICT w = W + indices[p] * m;
            for (int64_t j = 0; j < m; j++) o[j] += v * w[j];
        }
        switch (act) {
        case FG_ACT_IDENTITY: break;
        case FG_ACT_RELU:
            for (int64_t j = 0; j < m; j++) o[j] = o[j] < (T)0 ? (T)0 : o[j];
            break;
        default: FG_CAT2(fg_act_rows, SFX)(o, o, m, act, alpha); break;
        }
    }
}

void SPARSE_FN(fg_csr_dense_forward)(T *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                     const T *W, const T *b, int64_t m, int act, double act_alpha)
{
    const int64_t work = (csr_batch_nnz(x, rows, start, n) + n) * m;
    FG_FOR_RANGES(fg_threads_for(work, SPARSE_GRAIN), n, 1,
                  FG_CAT2(csr_forward_rows, SFX)(out, x, rows, start, begin, end, W, b, m, act, (T)act_alpha));
}

/* Columns [j0, j1) of the weight gradient. */
static void FG_CAT2(csr_weight_grad_columns, SFX)(T *FG_RESTRICT dW, const fg_csr *x, const int64_t *rows,
                                                  int64_t start, int64_t n, const T *FG_RESTRICT g,
                                                  int64_t m, double beta, int64_t j0, int64_t j1)
{
    const int64_t *indptr = x->indptr, *indices = x->indices;
    const T *data = (const T *)x->data;
    const int64_t k = x->n_cols;
    for (int64_t c = 0; c < k; c++) {
        T *FG_RESTRICT d = dW + c * m;
        if (beta == 0.0)
            for (int64_t j = j0; j < j1; j++) d[j] = 0;
        else if (beta != 1.0)
            for (int64_t j = j0; j < j1; j++) d[j] *= (T)beta;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = rows ? rows[i] : start + i;
        const T *FG_RESTRICT gi = g + i * m;
        for (int64_t p = indptr[r]; p < indptr[r + 1]; p++) {
            const T v = data[p];
            T *FG_RESTRICT d = dW + indices[p] * m;
            for (int64_t j = j0; j < j1; j++) d[j] += v * gi[j];
        }
    }
}

void SPARSE_FN(fg_csr_weight_grad)(T *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                   const T *grad_z, int64_t m, double beta)
{
    const int64_t work = (csr_batch_nnz(x, rows, start, n) + x->n_cols) * m;
    const int64_t blocks = (m + SPARSE_COLUMN_BLOCK - 1) / SPARSE_COLUMN_BLOCK;
    int nt = fg_threads_for(work, SPARSE_GRAIN);
    if (nt > blocks) nt = (int)blocks;
    FG_FOR_RANGES(nt, m, SPARSE_COLUMN_BLOCK,
                  FG_CAT2(csr_weight_grad_columns, SFX)(dW, x, rows, start, n, grad_z, m, beta, begin, end));
}

void SPARSE_FN(fg_csr_dense_backward)(T *dW, T *db, T *grad_out, const fg_csr *x, const int64_t *rows,
                                      int64_t start, const T *saved, int64_t n, int64_t m, int act,
                                      double act_alpha, double beta)
{
    const T alpha = (T)act_alpha;
    if (db) {
        if (beta == 0.0)
            for (int64_t j = 0; j < m; j++) db[j] = 0;
        else
            for (int64_t j = 0; j < m; j++) db[j] *= (T)beta;
    }
    for (int64_t i = 0; i < n; i++) {
        T *FG_RESTRICT g = grad_out + i * m;
        const T *FG_RESTRICT o = saved + i * m;
        if (act != FG_ACT_IDENTITY) FG_CAT2(fg_act_grad_rows, SFX)(g, o, m, act, alpha);
        if (db)
            for (int64_t j = 0; j < m; j++) db[j] += g[j];
    }
    SPARSE_FN(fg_csr_weight_grad)(dW, x, rows, start, n, grad_out, m, beta);
}

#undef SPARSE_FN
