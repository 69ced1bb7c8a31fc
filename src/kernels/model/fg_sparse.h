/* Public types of the sparse kernels: the first layer of a network reading a CSR matrix.
 * Included by fastgd_kernels.h.
 *
 * Row r of a CSR matrix (n_rows, n_cols) holds the values data[p] at columns indices[p] for
 * p in [indptr[r], indptr[r+1]). Columns may repeat within a row (their values add up, as in
 * SciPy) and need not be sorted. The kernels trust the structure: the caller has checked that
 * indptr is non-decreasing, that indptr[0] >= 0 and indptr[n_rows] do not pass the end of
 * indices/data, and that every index in [indptr[0], indptr[n_rows]) is in [0, n_cols). */
#ifndef FASTGD_SPARSE_H
#define FASTGD_SPARSE_H

#include "fg_common.h"

typedef struct fg_csr {
    const int64_t *indptr;  /* (n_rows + 1) */
    const int64_t *indices; /* column of each stored value */
    const void *data;       /* stored values, of the kernel's element type */
    int64_t n_rows, n_cols;
} fg_csr;

/* The plain reference twins of the sparse kernels (sparse_ref.c): same contracts, scalar C,
 * sums in double. The test oracle; not dispatched. */
void fg_csr_dense_forward_ref_f32(float *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                  const float *W, const float *b, int64_t m, int act, double act_alpha);
void fg_csr_dense_forward_ref_f64(double *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                  const double *W, const double *b, int64_t m, int act, double act_alpha);
void fg_csr_weight_grad_ref_f32(float *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                const float *grad_z, int64_t m, double beta);
void fg_csr_weight_grad_ref_f64(double *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                const double *grad_z, int64_t m, double beta);

#endif
