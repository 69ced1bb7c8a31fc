/* A dense layer whose input is a CSR matrix, compiled per CPU target (contracts in
 * list_sparse.h and fg_sparse.h).
 *
 *   forward:  out_i = act(b + Σ_p data[p] · W[indices[p], :])  over the stored values of row r_i
 *   backward: grad_z = grad_out ⊙ act'(out); db = Σ_i grad_z_i;
 *             dW[indices[p], :] += data[p] · grad_z_i          over the stored values of row r_i
 *
 * Both cost O(nnz·m) instead of the dense O(n·k·m). The forward pass splits the rows among
 * threads; the weight gradient splits the columns of dW, so every thread reads all stored values
 * but writes its own columns, in row order: the result does not depend on the thread count. */
#include <string.h>

#include "fg_internal.h"
#include "fg_act_vec.h"
#include "fg_threads.h"

/* Fewer multiply-adds than this per thread are not worth a parallel region. */
#define SPARSE_GRAIN 32768
/* dW columns are split among threads in blocks of this many (a 64-byte line of float). */
#define SPARSE_COLUMN_BLOCK 16

/* Stored values in the batch's rows. */
static int64_t csr_batch_nnz(const fg_csr *x, const int64_t *rows, int64_t start, int64_t n)
{
    if (!rows) return n ? x->indptr[start + n] - x->indptr[start] : 0;
    int64_t nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += x->indptr[rows[i] + 1] - x->indptr[rows[i]];
    return nnz;
}

#define FG_TEMPLATE "model/sparse_template.h"
#include "fg_each_type.h"
