/* GEMM micro-kernels of the portable target (included by gemm.c): the SIMD
 * micro-kernel of gemm_ukernel_simd.h in this target's 16-byte vectors,
 * gemm_ukernel_f32 6×8 floats and gemm_ukernel_f64 6×4 doubles (per k step: a
 * row of B in 2 vector loads, 6 broadcast elements of A, 12 multiplies and 12
 * adds). The packers are the portable ones of gemm_template.h. Without vector
 * extensions (FG_SIMD 0) the portable micro-kernel of gemm_template.h runs. */
#if FG_SIMD
#include "gemm_ukernel_simd.h"
#endif
