/* GEMM micro-kernels of the portable target (included by gemm.c): the SIMD
 * micro-kernel of gemm_ukernel_simd.h in this target's 16-byte vectors,
 * gemm_ukernel_f32 6×8 floats and gemm_ukernel_f64 6×4 doubles (per k step: a
 * row of B in 2 vector loads, 6 vector loads of A, 12 multiplies and 12 adds).
 *
 * The baseline SIMD of x86-64 (SSE2) has no broadcast load: a broadcast of A
 * would be a load and a shuffle, and the shuffles would compete with the
 * multiplies and adds for the same three vector ports (30 operations per k step
 * instead of 24). So the packer stores every element of A as a full vector of
 * copies (FG_GEMM_PACK_A_SPLAT, see gemm_template.h), and the kernel reads them
 * with plain loads, which run on the load ports. The packed block of A is 4
 * (float) / 2 (double) times larger; config.h sizes MC×KC for that.
 * The packers are the portable ones of gemm_template.h. Without vector
 * extensions (FG_SIMD 0) the portable micro-kernel of gemm_template.h runs. */
#if FG_SIMD
#define FG_GEMM_PACK_A_SPLAT 1
#include "gemm/gemm_ukernel_simd.h"
#endif
