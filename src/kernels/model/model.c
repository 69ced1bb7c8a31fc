/* Whole-model kernels: forward and backward through a stack of dense layers
 * and the fused training step, compiled per CPU target. They call this
 * target's dense, loss and optimizer kernels directly (fg_internal.h). */
#include <math.h>
#include <string.h>

#include "fg_internal.h"
#include "fg_act_vec.h"
#include "config.h" /* the target's FG_MODEL_ROW_BLOCK_MIN_BYTES */

/* A target without FG_MODEL_ROW_BLOCK_MIN_BYTES takes a step's rows at once (fg_model_train_step). */
#ifndef FG_MODEL_ROW_BLOCK_MIN_BYTES
#define FG_MODEL_ROW_BLOCK_MIN_BYTES (-1)
#endif

/* The largest e for which a sum of n squares, each below 2^(2e), cannot overflow in double: with
   n < 2^L the exact sum is below 2^(L + 2e) <= 2^1022, and rounding each addition at most doubles
   a sum of non-negative terms (an addition rounds up only by less than the term it adds). */
static int model_sum_squares_safe_exponent(int64_t n)
{
    int bits = 0;
    while (bits < 63 && (n >> bits) != 0) bits++;
    return (1022 - bits) / 2;
}

/* A bound on a step's gradient from the operands of its backward pass. Layer l's dW = Aᵀ·G and
   db = Gᵀ·1 sum n products (or terms); with every |A| below 2^in_exp, every |G| below 2^grad_exp
   and n < 2^L, the exact sums of absolute values stay below n·2^(in_exp + grad_exp), and any order
   of those n multiplications and additions, fused or not, errs by at most γ_n = nu/(1 − nu) < 1
   times that sum when nu < 1/2 (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
   §3.1). With in_exp + grad_exp = e − L − 1, every entry of the gradient then stays below 2^e:
   what count_large(grads, e) == 0 tells, read from n·(in + out) entries per layer (x, the hidden
   activations, the grad_z of each layer, all just computed) instead of the gradient's in·out + out.
   `held` starts at 1 and drops to 0 when an operand reaches its limit. */
typedef struct model_bound {
    int in_exp, grad_exp;
    int held;
} model_bound;

/* Set up b for a batch of n rows and a gradient checked against 2^e; 0 when the bound reads more
   than half as many entries as the gradient has (count_large, called per operand, then saves
   little or nothing: at batch 128 of 784-256-128-10 it read 200k entries slower than the
   gradient's 235k), or n is too large for it (n·u < 1/2 for float's u = 2^-24). */
static int model_bound_init(model_bound *b, const fg_model *m, int64_t n, int64_t n_params, int e)
{
    int64_t reads = 0;
    for (int64_t l = 0; l < m->n_layers; l++) reads += n * (m->layers[l].in + m->layers[l].out);
    if (n > ((int64_t)1 << 22) || 2 * reads > n_params) return 0;
    int bits = 0;
    while ((n >> bits) != 0) bits++;
    const int sum = e - bits - 1;
    b->in_exp = sum / 2;
    b->grad_exp = sum - sum / 2;
    b->held = 1;
    return 1;
}

/* Bytes of the first layer's dW that a training step computes and then updates at a time
   (model_first_layer_update): a few times the L1 cache, so the block stays in L2 while the
   optimizer streams its parameters and state; at batch 32 of 784-256-128-10 in float32 on AVX-512
   the step took ~3 % less than with the update after the whole backward pass (32 KiB blocks:
   no gain, the GEMM's per-call cost eats it). */
#define MODEL_UPDATE_BLOCK_BYTES 262144
/* ... but at least this many rows of dW a block: a wide layer's 256 KiB is a few rows, which the
   GEMM runs on its path for short products at a third of its packed path's rate (784→16384 in
   float32: 4-row blocks made dW 3.5× slower, the whole step slower than the update after it). */
#define MODEL_UPDATE_MIN_ROWS 256

#define FG_TEMPLATE "model/model_template.h"
#include "fg_each_type.h"
