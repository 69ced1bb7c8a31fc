/* Whole-model kernels: forward and backward through a stack of dense layers
 * and the fused training step, compiled per CPU target. They call this
 * target's dense, loss and optimizer kernels directly (fg_internal.h). */
#include <math.h>
#include <string.h>

#include "fg_internal.h"
#include "fg_act_vec.h"

/* The largest e for which a sum of n squares, each below 2^(2e), cannot overflow in double: with
   n < 2^L the exact sum is below 2^(L + 2e) <= 2^1022, and rounding each addition at most doubles
   a sum of non-negative terms (an addition rounds up only by less than the term it adds). */
static int model_sum_squares_safe_exponent(int64_t n)
{
    int bits = 0;
    while (bits < 63 && (n >> bits) != 0) bits++;
    return (1022 - bits) / 2;
}

#define FG_TEMPLATE "model/model_template.h"
#include "fg_each_type.h"
