# Declarations of the gemm kernels (src/kernels/gemm/fg_gemm.h, list_gemm.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    # Only the members the bindings name; the list is src/kernels/registry/activations.h.
    enum fg_activation:
        FG_ACT_IDENTITY
        FG_ACT_COUNT
    const char *fg_activation_name(int act)
    int fg_activation_grad_from_pre(int act)

    void fg_gemm_f32(float *C, int64_t ldc, const float *A, int64_t lda, int trans_a,
                     const float *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                     double beta, const float *bias, int act, double act_alpha,
                     void *workspace, int64_t workspace_bytes)
    void fg_gemm_f64(double *C, int64_t ldc, const double *A, int64_t lda, int trans_a,
                     const double *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                     double beta, const double *bias, int act, double act_alpha,
                     void *workspace, int64_t workspace_bytes)
    void fg_gemm_block_sizes_f32(int64_t *sizes)
    void fg_gemm_block_sizes_f64(int64_t *sizes)
    int64_t fg_gemm_workspace_size_f32(int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                                       int num_threads)
    int64_t fg_gemm_workspace_size_f64(int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                                       int num_threads)

    void fg_dense_forward_f32(float *out, float *pre, const float *x, const float *W, const float *b,
                              int64_t n, int64_t k, int64_t m, int act, double act_alpha,
                              void *workspace, int64_t workspace_bytes)
    void fg_dense_forward_f64(double *out, double *pre, const double *x, const double *W, const double *b,
                              int64_t n, int64_t k, int64_t m, int act, double act_alpha,
                              void *workspace, int64_t workspace_bytes)
    void fg_dense_backward_f32(float *grad_x, float *dW, float *db, float *grad_out,
                               const float *x, const float *W, const float *saved,
                               int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta,
                               void *workspace, int64_t workspace_bytes)
    void fg_dense_backward_f64(double *grad_x, double *dW, double *db, double *grad_out,
                               const double *x, const double *W, const double *saved,
                               int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta,
                               void *workspace, int64_t workspace_bytes)
    int64_t fg_dense_workspace_size_f32(int64_t n, int64_t k, int64_t m, int num_threads)
    int64_t fg_dense_workspace_size_f64(int64_t n, int64_t k, int64_t m, int num_threads)

    double fg_fma_peak_f32(int64_t iters)
    double fg_fma_peak_f64(int64_t iters)

    # Reference twins (gemm_ref.c), for the tests.
    void fg_gemm_ref_f32(float *C, int64_t ldc, const float *A, int64_t lda, int trans_a,
                         const float *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                         double beta, const float *bias, int act, double act_alpha)
    void fg_gemm_ref_f64(double *C, int64_t ldc, const double *A, int64_t lda, int trans_a,
                         const double *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                         double beta, const double *bias, int act, double act_alpha)
    void fg_dense_backward_ref_f32(float *grad_x, float *dW, float *db, float *grad_out,
                                   const float *x, const float *W, const float *saved,
                                   int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta)
    void fg_dense_backward_ref_f64(double *grad_x, double *dW, double *db, double *grad_out,
                                   const double *x, const double *W, const double *saved,
                                   int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta)
