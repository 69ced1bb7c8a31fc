/* Dense layer forward and backward on top of the GEMM, compiled per CPU target.
 *
 *   forward:  out(n,m) = act(x(n,k)·W(k,m) + b(m))        one GEMM, fused epilogue; or, keeping
 *             pre(n,m) = x·W + b, out = act(pre)           the pre-activation, GEMM + one threaded pass
 *   backward: grad_z = grad_out ⊙ act'(saved)              in place in grad_out; saved is out,
 *                                                          or pre (fg_act_grad_from_pre)
 *             dW(k,m) := beta*dW + xᵀ·grad_z               GEMM, trans_a
 *             db(m)   := beta*db + Σ_rows grad_z           fixed row order
 *             grad_x(n,k) = grad_z·Wᵀ                      GEMM, trans_b (skipped if NULL)
 *   backward_input: grad_x = grad_z·Wᵀ, then the layer below's grad_z and db from it, block by block
 * Each piece is deterministic for any thread count (see gemm.c). */
#include "fg_internal.h"
#include "fg_act_vec.h"

/* Columns of db summed at once: a stack row of partial sums stays in L1 while
 * the rows of grad_z stream past, and the row order stays fixed. */
#define DENSE_DB_BLOCK 256
/* Bytes of grad_x that fg_dense_backward_input computes and then passes through act' and db at a
   time, while they are in L2 (the whole of a batch's grad_x, beside the layer's activations and
   the batch, may not be: 1347 rows of 100 doubles and their activations are 2 MiB), and the rows a
   block has at least, for the GEMM's per-call cost. Paired in one process by thread CPU time on a
   shared Sapphire Rapids, 1 thread, float64, the full-batch gradient of 64-100-10 on 1347 rows
   (an L-BFGS evaluation on the digits) took 2-3 % less than with act' and db after the whole
   product (AVX-512: 777 → 756 µs with 256 KiB blocks; 32-128 KiB, 512 KiB and one block: 762-778). */
#define DENSE_INPUT_BLOCK_BYTES 262144
#define DENSE_INPUT_MIN_ROWS 64
/* Each block's product reads all of W again and, with few rows, loses the packing a whole
   batch's product gets: past DENSE_INPUT_MAX_W_BYTES of W (beside a block in L2) the rows go
   in one block, act' and db after the whole product. Paired as above, float32, the
   784-2048-2048-10 step at batch 1024 (16 MiB layers) took 8-12 % more in 64-row blocks. */
#define DENSE_INPUT_MAX_W_BYTES 131072

#define FG_TEMPLATE "model/dense_template.h"
#include "fg_each_type.h"
