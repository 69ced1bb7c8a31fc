/* Block sizes of the AVX-512 target (meaning as in avx2/config.h).
 *
 * MR×NR = 14×32 floats / 14×16 doubles: 28 zmm accumulators, 2 for the row of
 * B and 1 for the broadcast element of A, of the 32 registers; per k step 16
 * loads feed 28 FMAs, under the two loads per cycle that two FMA pipes allow.
 * KC: a KC×NR micro-panel of B (32 KiB) stays in the 48 KiB L1d of Sapphire
 *     Rapids / Ice Lake server cores while MR×KC panels of A stream past it.
 * MC: an MC×KC block of A (~330 KiB) stays in the 1-2 MiB L2.
 * Edge tiles mask their loads and stores of C (FG_GEMM_MASKED_EDGES): opmask
 * stores cost what plain ones do, so no tile is copied. */
#ifndef FASTGD_TARGET_CONFIG_H
#define FASTGD_TARGET_CONFIG_H

#define FG_GEMM_MR_F32 14
#define FG_GEMM_NR_F32 32
#define FG_GEMM_KC_F32 256
#define FG_GEMM_MC_F32 322
#define FG_GEMM_NC_F32 4096

#define FG_GEMM_MR_F64 14
#define FG_GEMM_NR_F64 16
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 168
#define FG_GEMM_NC_F64 4096

#define FG_GEMM_DIRECT_MAX_M 32
#define FG_GEMM_DIRECT_MAX_N 16

#define FG_GEMM_MASKED_EDGES 1

#endif
