/* The reference twin of fg_model_hvp_f32/f64: the same R-operator pass (model_hvp_template.h) on
 * the plain-loop GEMM and loss twins, compiled once without target flags; the test oracle. */
#include <math.h>

#include "fastgd_kernels.h"
#include "fg_act.h"
#include "fg_hvp.h"
#include "loss/fg_loss_elem.h"

/* out = act(x·W + b) by the plain GEMM, through z in pre when that is not NULL, then act
 * element by element */
#define HVP_DENSE_FORWARD(out, pre, x, W, b, N, K, M, act, alpha)                                          \
    do {                                                                                                \
        T *z_ = (pre) ? (pre) : (out);                                                                  \
        FG_CAT2(fg_gemm_ref, SFX)(z_, M, x, K, 0, W, M, 0, N, M, K, 0.0, b, (pre) ? FG_ACT_IDENTITY : (act), \
                                  (pre) ? 0.0 : (alpha));                                               \
        if (pre)                                                                                        \
            for (int64_t e_ = 0; e_ < (N) * (M); e_++) (out)[e_] = FG_CAT2(fg_act, SFX)(z_[e_], act, (T)(alpha)); \
    } while (0)

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
