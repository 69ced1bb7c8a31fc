/* Block sizes of the AVX-512 target (meaning as in avx2/config.h).
 *
 * MR×NR = 14×32 floats / 14×16 doubles: 28 zmm accumulators, 2 for the row of
 * B and 1 for the broadcast element of A, of the 32 registers; per k step 16
 * loads feed 28 FMAs, under the two loads per cycle that two FMA pipes allow.
 * Loop order as BLIS runs its Skylake-X kernels (FG_GEMM_A_PANEL_IN_L1): the
 * MR×KC micro-panel of A (the broadcast operand: 14 KiB f32, 28 KiB f64) stays
 * in the 48 KiB L1d of Sapphire Rapids / Ice Lake server cores while the wider
 * KC×NR micro-panels of B stream from L2, where the KC×NC block of B (1 MiB)
 * stays in the 2 MiB L2. Keeping B's 32-48 KiB micro-panel in
 * L1 instead (the AVX2 order) left too little room for A's stream and ran the
 * transposed products at ~60% of peak; this order runs them at ~80%.
 * KC 256 rather than 384 for floats: k = 1024 then runs as 4 blocks of 256, not 3 of
 * 342, and the B block leaves L2 room for the blocks of A and C; measured paired in
 * one process (thread CPU time, f32, 1 thread, shared Sapphire Rapids), the products
 * of a batch-256 step of 784-1024-1024-10 with k = 1024 (h·W 256×1024→1024, g·Wᵀ
 * 256×1024 at k 1024) ran 3-8% faster in each of seven runs (65-76% of peak to 68-79%;
 * the same code against itself differed by up to 2%); k = 784 (4 blocks of 196, not 3
 * of 262) and k <= 512 (blocked the same) ran as before.
 * MC: rows of A packed at once (an MC×KC block, walked panel by panel).
 * Edge tiles mask their loads and stores of C (FG_GEMM_MASKED_EDGES): opmask
 * stores cost what plain ones do, so no tile is copied.
 * FG_GEMM_DIRECT_B_IN_PLACE: the unpacked path (at most FG_GEMM_DIRECT_MAX_M
 * rows) reads B's full micro-panels in place, with B's row stride, instead of
 * copying each to the stack first, unless B's rows lie a multiple of 4 KiB apart
 * (gemm_direct_b_in_place). Measured on a shared Sapphire Rapids, f32, 1 thread,
 * in % of peak: x·W at 32×784→256 went from 73-75% to 81-87%, 8×784→256 from
 * 40-46% to 54-70%; 32×1024→1024 (rows 4 KiB apart) ran at 58-60% copied but
 * 38-47% in place, hence the exception.
 * FG_GEMM_PACKED_A_IN_PLACE: the packed path (more rows) reads op(A) = A's full
 * micro-panels in place too, with A's row stride, under the same 4 KiB exception
 * (gemm_packed_a_in_place); only B is packed. Paired in one process, by thread
 * CPU time on a shared Sapphire Rapids, f32, 1 thread, the products of a batch-512
 * train step of 784-256-128-10 got faster: x·W 512×784→256 by 3-4%, 512×256→128
 * by 9-11%, g·Wᵀ 512×256 (k 128) by 4%, 512×128 (k 10) by 6-13%. Reading op(A) = Aᵀ in
 * place (rows of x 49 lines apart) did not pay: xᵀ·g ran as fast as packed.
 * FG_GEMM_DIRECT_MAX_M: with B read in place, the unpacked path beats packing
 * op(A) and op(B) up to 128 rows (a batch of 128): in the same runs, f32 x·W
 * 128×784→256 went from 84% to 91% of peak, 128×256→128 from 79% to 91% and
 * 64×64→64 from 65% to 81%, g·Wᵀ of a 256→128 layer at batch 128 from 81% to
 * 85%; f64 alike (x·W 128×784→256: 77% → 88%). At 256 and 512 rows it no
 * longer paid. */
#ifndef FASTGD_TARGET_CONFIG_H
#define FASTGD_TARGET_CONFIG_H

#define FG_GEMM_MR_F32 14
#define FG_GEMM_NR_F32 32
#define FG_GEMM_KC_F32 256
#define FG_GEMM_MC_F32 322
#define FG_GEMM_NC_F32 1024

#define FG_GEMM_MR_F64 14
#define FG_GEMM_NR_F64 16
#define FG_GEMM_KC_F64 256
#define FG_GEMM_MC_F64 168
#define FG_GEMM_NC_F64 512

#define FG_GEMM_DIRECT_MAX_M 128
#define FG_GEMM_DIRECT_MAX_N 16

#define FG_GEMM_MASKED_EDGES 1
#define FG_GEMM_A_PANEL_IN_L1 1
#define FG_GEMM_DIRECT_B_IN_PLACE 1
#define FG_GEMM_PACKED_A_IN_PLACE 1

/* FG_MODEL_ROW_BLOCK_MIN_BYTES: a training step without update (the L-BFGS objective) over rows
 * spanning several of the GEMM's k blocks, whose layers' outputs take at least this many bytes,
 * runs forward, loss and backward one k block of rows at a time, their activations and gradients
 * in L2 (fg_model_train_step), bit for bit as at once. Paired in one process (thread CPU time,
 * 1 thread, shared Sapphire Rapids), the digits L-BFGS evaluation on 1347 rows (6 blocks of 225)
 * took, blocked against at once: 64-100-10 f64 (1.2 MB of outputs) 6-7 % less, the whole
 * scikit-learn-compatible lbfgs fit 4-6 % less; 64-256-10 f64 17 % less, f32 (1.4 MB) 8 % less;
 * 64-100-10 f32 (0.6 MB, in L2 at once) 2 % more. Here the blocks lose nothing of the packed
 * input the whole batch reads (op(A) is read in place, FG_GEMM_PACKED_A_IN_PLACE); the AVX2
 * target, which packs each block's x anew, took 4-6 % more at 64-100-10 f64, and takes its
 * rows at once (no FG_MODEL_ROW_BLOCK_MIN_BYTES). */
#define FG_MODEL_ROW_BLOCK_MIN_BYTES (1 << 20)

#endif
