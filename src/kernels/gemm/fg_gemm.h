/* Public types and enums of the GEMM, dense layer forward/backward kernels. Included by fastgd_kernels.h. */
#ifndef FASTGD_GEMM_H
#define FASTGD_GEMM_H

#include "fg_common.h"

/* The activation fused into a GEMM / dense layer epilogue. act_alpha is the
 * negative slope of LEAKY_RELU and is ignored by the others. */
enum fg_activation {
#define FG_ACTIVATION(ID, name, piecewise_linear, simd_epilogue, grad_from_pre, vector_form) FG_ACT_##ID,
#include "registry/activations.h"
#undef FG_ACTIVATION
    FG_ACT_COUNT
};

/* The Python name of an activation ("relu", ...: registry/activations.h), or NULL. */
const char *fg_activation_name(int act);

/* 1 if the derivatives of `act` are functions of the pre-activation z, so its backward pass
 * needs z kept by the forward pass (registry/activations.h), else 0. */
int fg_activation_grad_from_pre(int act);

/* The GEMM's k blocking (kc: its KC, fg_gemm_block_sizes_*): ceil(k / kc) blocks of this many
 * steps of k (the last block shorter), each block's product of an element of C added to it after
 * the block before's. It depends on k only, which keeps results independent of the thread count. */
FG_INLINE int64_t fg_gemm_k_step(int64_t k, int64_t kc)
{
    const int64_t blocks = (k + kc - 1) / kc;
    return blocks > 0 ? (k + blocks - 1) / blocks : 1;
}

/* Reference twins (gemm_ref.c): plain triple loops, compiled once, no SIMD.
 * Same contracts as fg_gemm_* / fg_dense_* (no workspace); the test oracle. */
void fg_gemm_ref_f32(float *C, int64_t ldc, const float *A, int64_t lda, int trans_a,
                     const float *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                     double beta, const float *bias, int act, double act_alpha);
void fg_gemm_ref_f64(double *C, int64_t ldc, const double *A, int64_t lda, int trans_a,
                     const double *B, int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k,
                     double beta, const double *bias, int act, double act_alpha);
void fg_dense_backward_ref_f32(float *grad_x, float *dW, float *db, float *grad_out,
                               const float *x, const float *W, const float *saved,
                               int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta);
void fg_dense_backward_ref_f64(double *grad_x, double *dW, double *db, double *grad_out,
                               const double *x, const double *W, const double *saved,
                               int64_t n, int64_t k, int64_t m, int act, double act_alpha, double beta);

#endif
