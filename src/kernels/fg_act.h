/* Internal: the activations of enum fg_activation and their derivatives, one
 * element at a time, for float and double. Shared by the reference twin and
 * the per-target kernels, so both apply the transcendental activations with
 * the same libm calls (sigmoid, tanh and softplus give identical results on
 * every CPU target). The derivatives are functions of the activation's OUTPUT,
 * which is what the forward pass stores. */
#ifndef FASTGD_ACT_H
#define FASTGD_ACT_H

#include <math.h>

#include "fg_gemm.h"

/* NaN passes through relu and leaky relu ((x < 0) is false for NaN). */
FG_INLINE float fg_act_f32(float x, int act, float alpha)
{
    switch (act) {
    case FG_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case FG_ACT_LEAKY_RELU: return x < 0.0f ? alpha * x : x;
    case FG_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case FG_ACT_TANH: return tanhf(x);
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|. */
    case FG_ACT_SOFTPLUS: return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
    default: return x;
    }
}

FG_INLINE double fg_act_f64(double x, int act, double alpha)
{
    switch (act) {
    case FG_ACT_RELU: return x < 0.0 ? 0.0 : x;
    case FG_ACT_LEAKY_RELU: return x < 0.0 ? alpha * x : x;
    case FG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case FG_ACT_TANH: return tanh(x);
    case FG_ACT_SOFTPLUS: return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
    default: return x;
    }
}

/* d act / d z at the point whose output is o. relu: 1 where o > 0 (0 at the
 * kink, as PyTorch); leaky relu (alpha >= 0): 1 where o > 0 else alpha;
 * sigmoid: o(1-o); tanh: 1-o²; softplus: sigmoid(z) = 1 - e^-o. */
FG_INLINE float fg_act_grad_f32(float o, int act, float alpha)
{
    switch (act) {
    case FG_ACT_RELU: return o > 0.0f ? 1.0f : 0.0f;
    case FG_ACT_LEAKY_RELU: return o > 0.0f ? 1.0f : alpha;
    case FG_ACT_SIGMOID: return o * (1.0f - o);
    case FG_ACT_TANH: return 1.0f - o * o;
    case FG_ACT_SOFTPLUS: return -expm1f(-o);
    default: return 1.0f;
    }
}

FG_INLINE double fg_act_grad_f64(double o, int act, double alpha)
{
    switch (act) {
    case FG_ACT_RELU: return o > 0.0 ? 1.0 : 0.0;
    case FG_ACT_LEAKY_RELU: return o > 0.0 ? 1.0 : alpha;
    case FG_ACT_SIGMOID: return o * (1.0 - o);
    case FG_ACT_TANH: return 1.0 - o * o;
    case FG_ACT_SOFTPLUS: return -expm1(-o);
    default: return 1.0;
    }
}

/* grad_out ⊙ act'(z) given the output o. relu and leaky relu select instead of
 * multiplying, so a non-finite grad_out where the unit is off gives 0, as in
 * PyTorch. */
FG_INLINE float fg_act_backward_f32(float g, float o, int act, float alpha)
{
    switch (act) {
    case FG_ACT_IDENTITY: return g;
    case FG_ACT_RELU: return o > 0.0f ? g : 0.0f;
    case FG_ACT_LEAKY_RELU: return o > 0.0f ? g : alpha * g;
    default: return g * fg_act_grad_f32(o, act, alpha);
    }
}

FG_INLINE double fg_act_backward_f64(double g, double o, int act, double alpha)
{
    switch (act) {
    case FG_ACT_IDENTITY: return g;
    case FG_ACT_RELU: return o > 0.0 ? g : 0.0;
    case FG_ACT_LEAKY_RELU: return o > 0.0 ? g : alpha * g;
    default: return g * fg_act_grad_f64(o, act, alpha);
    }
}

#endif
