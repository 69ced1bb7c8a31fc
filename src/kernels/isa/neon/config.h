/* Block sizes of the NEON target (AArch64), for the caches of Arm Neoverse
 * N1/V1 (64 KiB L1d, 1 MiB private L2) and Apple M-series performance cores
 * (128 KiB L1d, a large shared L2); see avx2/config.h for what each means.
 *
 * MR×NR: 12×8 floats / 12×4 doubles = 24 of the 32 vector registers as
 * accumulators, 2 for a row of B, the rest for broadcast elements of A in
 * flight (gemm_ukernel.h).
 * KC: a KC×NR micro-panel of B (16 KiB f32 with KC 512, 8 KiB f64) stays in L1d
 *     beside the MR×KC micro-panel of A streaming past it (24 KiB).
 * MC: an MC×KC block of A (384 KiB) stays in half of a 1 MiB L2. */
#ifndef FASTGD_TARGET_CONFIG_H
#define FASTGD_TARGET_CONFIG_H

#define FG_GEMM_MR_F32 12
#define FG_GEMM_NR_F32 8
#define FG_GEMM_KC_F32 512
#define FG_GEMM_MC_F32 192
#define FG_GEMM_NC_F32 4080

#define FG_GEMM_MR_F64 12
#define FG_GEMM_NR_F64 4
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 192
#define FG_GEMM_NC_F64 4080

#define FG_GEMM_DIRECT_MAX_M 32
#define FG_GEMM_DIRECT_MAX_N 16

#endif
