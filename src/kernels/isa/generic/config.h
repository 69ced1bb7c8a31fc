/* Block sizes of the portable target (see avx2/config.h for what each means).
 * The portable micro-kernel (gemm_template.h) keeps the AVX2 tile, which
 * compilers turn into SSE2 code on x86-64 and NEON code on aarch64. */
#ifndef FASTGD_TARGET_CONFIG_H
#define FASTGD_TARGET_CONFIG_H

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

#define FG_GEMM_DIRECT_MAX_M 32
#define FG_GEMM_DIRECT_MAX_N 16

#endif
