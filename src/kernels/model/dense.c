/* Dense layer forward and backward on top of the GEMM, compiled per CPU target.
 *
 *   forward:  out(n,m) = act(x(n,k)·W(k,m) + b(m))        one GEMM, fused epilogue; or, keeping
 *             pre(n,m) = x·W + b, out = act(pre)           the pre-activation, GEMM + one threaded pass
 *   backward: grad_z = grad_out ⊙ act'(saved)              in place in grad_out; saved is out,
 *                                                          or pre (fg_act_grad_from_pre)
 *             dW(k,m) := beta*dW + xᵀ·grad_z               GEMM, trans_a
 *             db(m)   := beta*db + Σ_rows grad_z           fixed row order
 *             grad_x(n,k) = grad_z·Wᵀ                      GEMM, trans_b (skipped if NULL)
 * Each piece is deterministic for any thread count (see gemm.c). */
#include "fg_internal.h"
#include "fg_act_vec.h"

/* Columns of db summed at once: a stack row of partial sums stays in L1 while
 * the rows of grad_z stream past, and the row order stays fixed. */
#define DENSE_DB_BLOCK 256

#define FG_TEMPLATE "model/dense_template.h"
#include "fg_each_type.h"
