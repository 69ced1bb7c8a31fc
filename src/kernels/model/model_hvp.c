/* Hessian-vector and Gauss-Newton-vector products of a model's loss (fg_hvp.h), compiled per
 * CPU target: the R-operator pass of model_hvp_template.h on this target's GEMM, loss and dense
 * forward. */
#include <math.h>

#include "fg_internal.h"
#include "fg_act.h"
#include "fg_hvp.h"
#include "loss/fg_loss_elem.h"

/* the training forward's layer pass, so a product's forward equals a training step's bit for bit */
#define HVP_DENSE_FORWARD(out, pre, x, W, b, N, K, M, act, alpha)                                        \
    FG_FN(FG_CAT2(fg_dense_forward, SFX))(out, pre, x, W, b, N, K, M, act, alpha, m->workspace, \
                                          m->workspace_bytes)

#define T float
#define SFX f32
#define HVP_NAME FG_FN(fg_model_hvp_f32)
#define HVP_GEMM(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha)                    \
    FG_FN(fg_gemm_f32)(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha, m->workspace, \
                       m->workspace_bytes)
#define HVP_LOSS(grad, pred, n, c, spec) FG_FN(fg_loss_f32)(grad, pred, n, c, spec)
#include "model_hvp_template.h"

#define T double
#define SFX f64
#define HVP_NAME FG_FN(fg_model_hvp_f64)
#define HVP_GEMM(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha)                    \
    FG_FN(fg_gemm_f64)(C, ldc, A, lda, ta, B, ldb, tb, M, N, K, beta, bias, act, alpha, m->workspace, \
                       m->workspace_bytes)
#define HVP_LOSS(grad, pred, n, c, spec) FG_FN(fg_loss_f64)(grad, pred, n, c, spec)
#include "model_hvp_template.h"
