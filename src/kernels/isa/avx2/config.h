/* Block sizes of the AVX2+FMA target.
 *
 * MR×NR is the micro-tile held in registers: 6×16 floats / 6×8 doubles = 12 ymm
 * accumulators, leaving 4 for the B row and the broadcast A element.
 * KC: a KC×NR micro-panel of B (16 KiB) stays in the 32 KiB L1d while an MR×KC
 *     micro-panel of A streams past it.
 * MC: an MC×KC block of A (~168 KiB f32, ~144 KiB f64) stays in the 512 KiB L2.
 * NC: a KC×NC block of B lives in L3 / memory.
 * Tuned for AMD Zen 3; they are plain numbers to change for other caches.
 * FG_GEMM_DIRECT_MAX_M: rows of op(A) up to which the unpacked path runs (batch
 * 1..32 of a dense layer: packing A costs as much as it saves there);
 * FG_GEMM_DIRECT_MAX_N: columns up to which it runs (a 10-class output layer).
 * What the AVX-512 target adds stays off here: B read in place by the unpacked path
 * (FG_GEMM_DIRECT_B_IN_PLACE), that path up to 128 rows, A read in place by the packed path
 * (FG_GEMM_PACKED_A_IN_PLACE), A's micro-panel kept in L1 (FG_GEMM_A_PANEL_IN_L1). Paired in one
 * process against this configuration, by thread CPU time, 1 thread, float64, on a shared
 * Intel Xeon (Sapphire Rapids) running this target's code, the products of a small MLP's
 * training step at batch 200 (200×64→100, 64×200·200×100, 100×200·200×10, 1347×64→100) ran
 * at 73-77% of the AVX2 FMA peak (10 columns: 43-46%) with and without each of them, within
 * the run-to-run spread of 1-2 points; A in place made g·Wᵀ with k = 10 slower (50% → 45%).
 * On an AMD EPYC (Zen 3), each switched on alone, and the row blocking of the AVX-512 target
 * (FG_MODEL_ROW_BLOCK_MIN_BYTES) as well, best of three rounds in separate processes, 1 thread:
 * a digits L-BFGS fit (float64, 1347×64→100→10, 17 evaluations) took 24.3-25.2 ms against
 * 24.9 ms without, and the float32 784-256-128-10 training step (batch 32/128/512) and
 * 512×784×256 and 1024³ GEMMs moved within the run-to-run spread of about 5%. */
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
