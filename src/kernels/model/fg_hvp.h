/* Public types and shared element-wise pieces of the curvature kernels: the exact
 * Hessian-vector product of a model's loss with respect to its flat parameters by the
 * R-operator (Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation
 * 6(1), 1994), and the Gauss-Newton product. Included by fastgd_kernels.h.
 *
 * With z_l = a_{l-1}·W_l + b_l, a_l = act(z_l), a_0 = x and g_l = dL/da_l, the product with a
 * direction (V_l, vb_l) in the parameter layout is a forward-mode pass over the backward pass:
 *
 *   R(z_l) = R(a_{l-1})·W_l + a_{l-1}·V_l + vb_l        R(a_0) = 0
 *   R(a_l) = act'(z_l) ⊙ R(z_l)
 *   R(g_L) = ∇²ℓ(a_L) · R(a_L)                            the loss's Hessian on the outputs
 *   δ_l    = g_l ⊙ act'(z_l)
 *   R(δ_l) = R(g_l) ⊙ act'(z_l) + g_l ⊙ act''(z_l) ⊙ R(z_l)
 *   (Hv)_{W_l} = R(a_{l-1})ᵀ·δ_l + a_{l-1}ᵀ·R(δ_l)        (Hv)_{b_l} = Σ_rows R(δ_l)
 *   R(g_{l-1}) = R(δ_l)·W_lᵀ + δ_l·V_lᵀ
 *
 * The Gauss-Newton product G·v = Jᵀ ∇²ℓ J v drops every term that carries the loss gradient
 * (the act'' term, R(a_{l-1})ᵀ·δ_l and δ_l·V_lᵀ): it is a plain backward pass of ∇²ℓ·R(a_L),
 * positive semi-definite for every loss fastgd has (each loss is convex in the outputs). */
#ifndef FASTGD_HVP_H
#define FASTGD_HVP_H

#include <math.h>

#include "fg_common.h"
#include "gemm/fg_gemm.h"
#include "loss/fg_loss.h"
#include "fg_model.h"

/* Elements of the scratch buffer fg_model_hvp_* needs for n rows: R(z_l) and R(a_l) of every
 * layer, then two (n, widest layer) buffers for R(g). */
FG_INLINE int64_t fg_model_hvp_scratch_elems(const int64_t *outs, int64_t n_layers, int64_t max_width,
                                             int64_t n)
{
    int64_t total = 2 * max_width;
    for (int64_t l = 0; l < n_layers; l++) total += 2 * outs[l];
    return total * n;
}

/* act''(z) as a function of u, the value the forward pass keeps for the derivatives (fg_act.h):
 * the output o, or the pre-activation z for the activations flagged grad_from_pre. relu and
 * leaky relu: 0 almost everywhere; identity: 0. sigmoid: o(1-o)(1-2o); tanh: -2o(1-o²);
 * softplus: sigmoid'(z) = σ(1-σ) with σ = 1 - e^-o; elu: e^z where z <= 0, else 0;
 * gelu: φ(z)(2 - z²); gelu_tanh: s(1-s)(2v' + z((1-2s)v'² + v'')) with s = σ(v),
 * v = 2√(2/π)(z + 0.044715z³); silu: s(1-s)(2 + z(1-2s)) with s = σ(z); selu: alpha scale e^z
 * where z <= 0, else 0; mish: with gate = tanh(softplus(z)) and k = sech²(softplus(z)) σ(z)
 * (fg_mish_gate in fg_act_template.h), gate' = k and k' = k((1-σ) - 2 gate σ), so
 * mish'' = k(2 + z((1-σ) - 2 gate σ)), in t = e^-|z| as there (σ = 1/(1+t) from z >= 0, t/(1+t)
 * below). A new activation must be added here too (unless piecewise linear): the assertion makes
 * the build say so. */
_Static_assert(FG_ACT_COUNT == 12, "an activation was added to registry/activations.h: give fg_act_grad2 "
                                   "its second derivative");
FG_INLINE double fg_act_grad2(double u, int act)
{
    switch (act) {
    case FG_ACT_SIGMOID: return u * (1.0 - u) * (1.0 - 2.0 * u);
    case FG_ACT_TANH: return -2.0 * u * (1.0 - u * u);
    case FG_ACT_SOFTPLUS: {
        const double e = exp(-u);
        return (1.0 - e) * e;
    }
    case FG_ACT_ELU: return u <= 0.0 ? exp(u) : 0.0;
    case FG_ACT_GELU: return 0.39894228040143268 * exp(-0.5 * u * u) * (2.0 - u * u);
    case FG_ACT_GELU_TANH: {
        const double c = 1.5957691216057308, dv = c * (1.0 + 0.134145 * u * u), d2v = c * 0.26829 * u;
        const double s = 1.0 / (1.0 + exp(-c * (u + 0.044715 * u * u * u))), ds = s * (1.0 - s);
        return ds * (2.0 * dv + u * ((1.0 - 2.0 * s) * dv * dv + d2v));
    }
    case FG_ACT_SILU: {
        const double s = 1.0 / (1.0 + exp(-u));
        return s * (1.0 - s) * (2.0 + u * (1.0 - 2.0 * s));
    }
    case FG_ACT_SELU: return u <= 0.0 ? 1.7580993408473766 * exp(u) : 0.0;
    case FG_ACT_MISH: {
        const double t = exp(-fabs(u)), m = u >= 0.0 ? 1.0 : t, w = u >= 0.0 ? t : 1.0;
        const double num = 2.0 * t + m * m, den = num + 2.0 * w * w, gate = num / den;
        const double k = 4.0 * t * w * (1.0 + t) / (den * den);
        /* (1-σ) - 2 gate σ = (t - 2 gate)/(1+t) from z >= 0, (1 - 2 gate t)/(1+t) below */
        return k * (2.0 + u * (u >= 0.0 ? t - 2.0 * gate : 1.0 - 2.0 * gate * t) / (1.0 + t));
    }
    default: return 0.0;
    }
}

/* The reference twins of fg_model_hvp_f32/f64 (model_hvp_ref.c): same contract, plain loops;
 * the test oracle, not dispatched. */
double fg_model_hvp_ref_f32(const fg_model *m, float *hv, const float *v, const float *x, int64_t n,
                            const fg_loss_spec *spec, int gauss_newton, double beta, float *scratch,
                            int forward_done);
double fg_model_hvp_ref_f64(const fg_model *m, double *hv, const double *v, const double *x, int64_t n,
                            const fg_loss_spec *spec, int gauss_newton, double beta, double *scratch,
                            int forward_done);

#endif
