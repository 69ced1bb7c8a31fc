/* The packed GEMM with fused bias + activation epilogue, compiled per CPU target.
 *
 *   C(m,n) := act(beta*C + op(A)(m,k)·op(B)(k,n) + bias(n))
 *
 * BLIS structure: a portable driver packs op(B) into KC×NR
 * micro-panels and op(A) into MR×KC micro-panels, blocks for the caches
 * (block sizes are data), and calls an MR×NR micro-kernel that
 * loops over k only and applies the epilogue in registers before the single
 * store. The block sizes (isa/<target>/config.h), the micro-kernels and the
 * transposing packers (isa/<target>/gemm_ukernel.h) belong to the target; the
 * portable micro-kernel and packers in gemm_template.h serve targets without.
 *
 * Threads split C into contiguous blocks of whole micro-tiles; each thread packs
 * its own panels into its slice of the workspace. Every element of C is computed
 * by one thread, with a k-blocking that depends on k only and the same
 * micro-kernel arithmetic for edge tiles, so results are bit-identical for any
 * thread count (not only for a given one).
 *
 * Small problems (few rows, or too little workspace) skip packing: gemm_direct
 * reads A and B in place. The choice depends on the shape only. */
#include "fg_internal.h"
#include "fg_threads.h"
#include "fg_act_vec.h"
#include "fg_simd.h"
#include "config.h"       /* the target's block sizes */
#include "gemm_ukernel.h" /* the target's micro-kernels and packers, if any */

#ifndef FG_GEMM_MASKED_EDGES
#define FG_GEMM_MASKED_EDGES 0
#endif
#ifndef FG_GEMM_A_PANEL_IN_L1
#define FG_GEMM_A_PANEL_IN_L1 0
#endif
#ifndef FG_GEMM_DIRECT_B_IN_PLACE
#define FG_GEMM_DIRECT_B_IN_PLACE 0
#endif
#ifndef FG_GEMM_PACKED_A_IN_PLACE
#define FG_GEMM_PACKED_A_IN_PLACE 0
#endif

/* Multiply-adds per thread below which one thread is faster than several. */
#define GEMM_GRAIN (1 << 20)

#define T float
#define SFX f32
#define MR FG_GEMM_MR_F32
#define NR FG_GEMM_NR_F32
#define KC FG_GEMM_KC_F32
#define MC FG_GEMM_MC_F32
#define NC FG_GEMM_NC_F32
#include "gemm_template.h" /* undefines its parameters */

#define T double
#define SFX f64
#define MR FG_GEMM_MR_F64
#define NR FG_GEMM_NR_F64
#define KC FG_GEMM_KC_F64
#define MC FG_GEMM_MC_F64
#define NC FG_GEMM_NC_F64
#include "gemm_template.h" /* undefines its parameters */
