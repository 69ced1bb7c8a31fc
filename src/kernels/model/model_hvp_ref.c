/* The reference twin of fg_model_hvp_f32/f64: the same R-operator pass (model_hvp_template.h) on
 * the plain-loop GEMM and loss twins, compiled once without target flags; the test oracle. */
#include <math.h>

#include "fastgd_kernels.h"
#include "fg_act.h"
#include "fg_hvp.h"
#include "loss/fg_loss_elem.h"

#define T float
#define SFX f32
#define HVP_NAME fg_model_hvp_ref_f32
#define HVP_GEMM(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha) \
    fg_gemm_ref_f32(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha)
#define HVP_LOSS(grad, pred, n, c, spec) fg_loss_ref_f32(grad, pred, n, c, spec)
#include "model_hvp_template.h"

#define T double
#define SFX f64
#define HVP_NAME fg_model_hvp_ref_f64
#define HVP_GEMM(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha) \
    fg_gemm_ref_f64(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha)
#define HVP_LOSS(grad, pred, n, c, spec) fg_loss_ref_f64(grad, pred, n, c, spec)
#include "model_hvp_template.h"
