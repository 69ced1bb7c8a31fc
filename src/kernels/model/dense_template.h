/* Included by dense.c once per element type T (suffix SFX): see fg_each_type.h. */
/* grad_z = grad_out ⊙ act'(u) in place (u: out, or the pre-activation, see fg_act.h) and db := beta*db + Σ_rows grad_z, in one pass over
   column blocks; the activation is switched on outside the loops, so each inner loop is one
   vectorizable line (ReLU with db: the mask and the sum in one loop over the row, which reads the
   row once). The rows are summed in order, for any target and thread count.
   resume: db holds the sums of the rows before these (beta ignored), which go on from there; the
   rows of a batch taken in blocks this way give db bit for bit as taken at once with beta 0. */
static void FG_CAT2(dense_act_db, SFX)(T *FG_RESTRICT g, const T *FG_RESTRICT out, T *FG_RESTRICT db,
                                       int64_t n, int64_t m, int act, T alpha, double beta, int resume)
{
    if (act == FG_ACT_IDENTITY && !db) return;
    for (int64_t j0 = 0; j0 < m; j0 += DENSE_DB_BLOCK) {
        const int64_t w = fg_min_i64(DENSE_DB_BLOCK, m - j0);
        T sum[DENSE_DB_BLOCK];
        for (int64_t j = 0; j < w; j++) sum[j] = (resume && db) ? db[j0 + j] : 0;
        for (int64_t i = 0; i < n; i++) {
            T *FG_RESTRICT r = g + i * m + j0;
            const T *FG_RESTRICT o = out + i * m + j0;
            if (act == FG_ACT_RELU && db) {
                for (int64_t j = 0; j < w; j++) {
                    const T v = o[j] > (T)0 ? r[j] : (T)0;
                    r[j] = v;
                    sum[j] += v;
                }
                continue;
            }
            switch (act) {
            case FG_ACT_IDENTITY: break;
            case FG_ACT_RELU:
                for (int64_t j = 0; j < w; j++) r[j] = o[j] > (T)0 ? r[j] : (T)0;
                break;
            case FG_ACT_LEAKY_RELU:
                for (int64_t j = 0; j < w; j++) r[j] = o[j] > (T)0 ? r[j] : alpha * r[j];
                break;
            case FG_ACT_SIGMOID:
                for (int64_t j = 0; j < w; j++) r[j] = r[j] * (o[j] * ((T)1 - o[j]));
                break;
            case FG_ACT_TANH:
                for (int64_t j = 0; j < w; j++) r[j] = r[j] * ((T)1 - o[j] * o[j]);
                break;
            default: FG_CAT2(fg_act_grad_rows, SFX)(r, o, w, act, alpha); break;
            }
            if (db)
                for (int64_t j = 0; j < w; j++) sum[j] += r[j];
        }
        if (!db) continue;
        if (beta != 0.0 && !resume)
            for (int64_t j = 0; j < w; j++) db[j0 + j] = (T)beta * db[j0 + j] + sum[j];
        else
            for (int64_t j = 0; j < w; j++) db[j0 + j] = sum[j];
    }
}

void FG_FN(FG_CAT2(fg_dense_forward_prepacked, SFX))(T *out, T *pre, const T *x, const T *x_packed, const T *W,
                                                     const T *b, int64_t n, int64_t k, int64_t m, int act,
                                                     double act_alpha, void *workspace, int64_t workspace_bytes)
{
    if (!pre) {
        FG_FN(FG_CAT2(fg_gemm_prepacked, SFX))(out, m, x, k, 0, x_packed, W, m, 0, n, m, k, 0.0, b, act, act_alpha,
                                               workspace, workspace_bytes);
        return;
    }
    FG_FN(FG_CAT2(fg_gemm_prepacked, SFX))(pre, m, x, k, 0, x_packed, W, m, 0, n, m, k, 0.0, b, FG_ACT_IDENTITY, 0.0,
                                           workspace, workspace_bytes);
    FG_CAT2(fg_act_rows_parallel, SFX)(out, pre, n * m, act, (T)act_alpha);
}

void FG_FN(FG_CAT2(fg_dense_forward, SFX))(T *out, T *pre, const T *x, const T *W, const T *b, int64_t n,
                                           int64_t k, int64_t m, int act, double act_alpha,
                                           void *workspace, int64_t workspace_bytes)
{
    FG_FN(FG_CAT2(fg_dense_forward_prepacked, SFX))(out, pre, x, NULL, W, b, n, k, m, act, act_alpha, workspace,
                                                    workspace_bytes);
}

int64_t FG_FN(FG_CAT2(fg_dense_workspace_size, SFX))(int64_t n, int64_t k, int64_t m, int num_threads)
{
    const int64_t fwd = FG_FN(FG_CAT2(fg_gemm_workspace_size, SFX))(n, m, k, 0, 0, num_threads);
    const int64_t dw = FG_FN(FG_CAT2(fg_gemm_workspace_size, SFX))(k, m, n, 1, 0, num_threads);
    const int64_t dx = FG_FN(FG_CAT2(fg_gemm_workspace_size, SFX))(n, k, m, 0, 1, num_threads);
    return fg_max_i64(fwd, fg_max_i64(dw, dx));
}

void FG_FN(FG_CAT2(fg_dense_backward_prepacked, SFX))(T *grad_x, T *dW, T *db, T *grad_out, const T *x,
                                                      const T *x_packed, const T *W, const T *saved, int64_t n,
                                                      int64_t k, int64_t m, int act, double act_alpha, double beta,
                                                      int resume, void *workspace, int64_t workspace_bytes)
{
    FG_CAT2(dense_act_db, SFX)(grad_out, saved, db, n, m, act, (T)act_alpha, beta, resume);
    FG_FN(FG_CAT2(fg_gemm_prepacked, SFX))(dW, m, x, k, 1, x_packed, grad_out, m, 0, k, m, n, resume ? 1.0 : beta, NULL,
                                           FG_ACT_IDENTITY, 0.0, workspace, workspace_bytes);
    if (grad_x)
        FG_FN(FG_CAT2(fg_gemm, SFX))(grad_x, k, grad_out, m, 0, W, m, 1, n, k, m, 0.0, NULL,
                             FG_ACT_IDENTITY, 0.0, workspace, workspace_bytes);
}

void FG_FN(FG_CAT2(fg_dense_backward, SFX))(T *grad_x, T *dW, T *db, T *grad_out, const T *x,
                                            const T *W, const T *saved, int64_t n, int64_t k, int64_t m,
                                            int act, double act_alpha, double beta, void *workspace,
                                            int64_t workspace_bytes)
{
    FG_FN(FG_CAT2(fg_dense_backward_prepacked, SFX))(grad_x, dW, db, grad_out, x, NULL, W, saved, n, k, m, act,
                                                     act_alpha, beta, 0, workspace, workspace_bytes);
}

void FG_FN(FG_CAT2(fg_dense_backward_input, SFX))(T *grad_x, T *db_in, const T *grad_z, const T *W, const T *saved_in,
                                                  int64_t n, int64_t k, int64_t m, int act_in, double alpha_in,
                                                  int resume, void *workspace, int64_t workspace_bytes)
{
    /* rows of grad_x a block: DENSE_INPUT_BLOCK_BYTES of it, at least DENSE_INPUT_MIN_ROWS; all
       rows at once when W is larger than DENSE_INPUT_MAX_W_BYTES */
    const int64_t rows =
        k * m * (int64_t)sizeof(T) > DENSE_INPUT_MAX_W_BYTES
            ? fg_max_i64(n, 1)
            : fg_max_i64(DENSE_INPUT_MIN_ROWS, DENSE_INPUT_BLOCK_BYTES / ((int64_t)sizeof(T) * fg_max_i64(k, 1)));
    for (int64_t r0 = 0; r0 == 0 || r0 < n; r0 += rows) { /* once at n = 0, for db = 0 */
        const int64_t r = fg_min_i64(rows, n - r0);
        FG_FN(FG_CAT2(fg_gemm, SFX))(grad_x + r0 * k, k, grad_z + r0 * m, m, 0, W, m, 1, r, k, m, 0.0, NULL,
                                     FG_ACT_IDENTITY, 0.0, workspace, workspace_bytes);
        FG_CAT2(dense_act_db, SFX)(grad_x + r0 * k, saved_in + r0 * k, db_in, r, k, act_in, (T)alpha_in, 0.0,
                                   resume || r0 > 0);
    }
}
