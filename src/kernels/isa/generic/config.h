/* Block sizes of the portable target (see avx2/config.h for what each means).
 * Its micro-kernel (gemm_ukernel.h) holds 6×2 vectors of 16 bytes: 12
 * accumulators, which leaves 4 of the 16 registers of the smallest SIMD
 * register files (SSE2) for a row of B, an element of A and the product (there
 * is no fused multiply-add). Packed A stores each element as a full vector (4
 * floats / 2 doubles), so an MC×KC block of A takes 48×256×16 bytes = 192 KiB
 * for both types, which fits the smallest L2 caches (256 KiB) the portable
 * build may meet; the micro-panel of B (KC×NR, 8 KiB) stays in L1. */
#ifndef FASTGD_TARGET_CONFIG_H
#define FASTGD_TARGET_CONFIG_H

#define FG_GEMM_MR_F32 6
#define FG_GEMM_NR_F32 8
#define FG_GEMM_KC_F32 256
#define FG_GEMM_MC_F32 48
#define FG_GEMM_NC_F32 4080

#define FG_GEMM_MR_F64 6
#define FG_GEMM_NR_F64 4
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 48
#define FG_GEMM_NC_F64 4080

#define FG_GEMM_DIRECT_MAX_M 32
#define FG_GEMM_DIRECT_MAX_N 16

#endif
