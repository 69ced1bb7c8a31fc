# Declarations of the sparse kernels (src/kernels/model/fg_sparse.h, list_sparse.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    ctypedef struct fg_csr:
        const int64_t *indptr
        const int64_t *indices
        const void *data
        int64_t n_rows
        int64_t n_cols

    void fg_csr_dense_forward_f32(float *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                  const float *W, const float *b, int64_t m, int act, double act_alpha)
    void fg_csr_dense_forward_f64(double *out, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                  const double *W, const double *b, int64_t m, int act, double act_alpha)
    void fg_csr_weight_grad_f32(float *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                const float *grad_z, int64_t m, double beta)
    void fg_csr_weight_grad_f64(double *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                const double *grad_z, int64_t m, double beta)
    void fg_csr_dense_forward_ref_f32(float *out, const fg_csr *x, const int64_t *rows, int64_t start,
                                      int64_t n, const float *W, const float *b, int64_t m, int act,
                                      double act_alpha)
    void fg_csr_dense_forward_ref_f64(double *out, const fg_csr *x, const int64_t *rows, int64_t start,
                                      int64_t n, const double *W, const double *b, int64_t m, int act,
                                      double act_alpha)
    void fg_csr_weight_grad_ref_f32(float *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                    const float *grad_z, int64_t m, double beta)
    void fg_csr_weight_grad_ref_f64(double *dW, const fg_csr *x, const int64_t *rows, int64_t start, int64_t n,
                                    const double *grad_z, int64_t m, double beta)
