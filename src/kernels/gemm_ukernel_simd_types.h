/* The SIMD GEMM micro-kernels (gemm_ukernel_simd.h) of a target, for float and
 * double, with the target's MR (config.h): gemm_ukernel_f32 / gemm_ukernel_f64
 * and their _rows variants. Included by a target's gemm_ukernel.h. */
#define FG_GEMM_UKERNEL 1

#define T float
#define SFX f32
#define UK_MR FG_GEMM_MR_F32
#define UK_NAME gemm_ukernel_f32
#include "gemm_ukernel_simd.h"

#define T double
#define SFX f64
#define UK_MR FG_GEMM_MR_F64
#define UK_NAME gemm_ukernel_f64
#include "gemm_ukernel_simd.h"
