/* GEMM micro-kernels of the NEON target (included by gemm.c): the SIMD
 * micro-kernel of gemm_ukernel_simd.h in this target's vocabulary,
 * gemm_ukernel_f32 12×8 floats and gemm_ukernel_f64 12×4 doubles. Per k step: a
 * row of B in one LDP of 2 vectors, the 12 elements of A (compilers load them
 * as scalars, mostly in pairs, and multiply by element: FMLA v.4s, v.4s, v.s[0]),
 * 24 fused multiply-adds into 24 accumulator registers. The packers are the
 * portable ones of gemm_template.h. */
#include "gemm/gemm_ukernel_simd.h"
