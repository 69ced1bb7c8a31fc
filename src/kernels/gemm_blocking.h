/* Internal: the GEMM's register and cache block sizes, in one place.
 *
 * MR×NR is the micro-tile held in registers (AVX2: 6×16 floats / 6×8 doubles
 * = 12 ymm accumulators, leaving 4 for the B row and the broadcast A element).
 * Each target has its own tile; packing and workspace sizes follow it (the
 * bindings ask the selected target for the workspace size).
 * KC: a KC×NR micro-panel of B (16 KiB) stays in the 32 KiB L1d while an MR×KC
 *     micro-panel of A streams past it.
 * MC: an MC×KC block of A (~168 KiB f32, ~144 KiB f64) stays in the 512 KiB L2.
 * NC: a KC×NC block of B lives in L3 / memory.
 * Tuned for AMD Zen 3; they are plain numbers to change for other caches. */
#ifndef FASTGD_GEMM_BLOCKING_H
#define FASTGD_GEMM_BLOCKING_H

#include "fg_common.h"

#if FG_HAVE_AVX2
#define FG_GEMM_MR_F32 6
#define FG_GEMM_NR_F32 16
#define FG_GEMM_KC_F32 256
#define FG_GEMM_MC_F32 168
#define FG_GEMM_NC_F32 4080

#define FG_GEMM_MR_F64 6
#define FG_GEMM_NR_F64 8
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 72
#define FG_GEMM_NC_F64 4080
#else
/* The generic target: 16-byte vectors (gemm_ukernel_vec.h), 6×2 of them per
 * tile; an MC×KC block of A (96 KiB) fits the smallest L2
 * caches (256 KiB) the portable build may meet. */
#define FG_GEMM_MR_F32 6
#define FG_GEMM_NR_F32 8
#define FG_GEMM_KC_F32 256
#define FG_GEMM_MC_F32 96
#define FG_GEMM_NC_F32 4080

#define FG_GEMM_MR_F64 6
#define FG_GEMM_NR_F64 4
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 48
#define FG_GEMM_NC_F64 4080
#endif

/* Rows of op(A) up to which the unpacked path runs (batch 1..32 of a dense
 * layer): packing A costs as much as it saves there. */
#define FG_GEMM_DIRECT_MAX_M 32
/* Columns up to which the unpacked path runs (a 10-class output layer). */
#define FG_GEMM_DIRECT_MAX_N 16

#endif
