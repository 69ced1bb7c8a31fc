/* Internal: the activations of enum fg_activation (registry/activations.h) and
 * their derivatives, one element at a time, for float and double
 * (fg_act_f32, fg_act_grad_f64, fg_act_backward_f32, ...: fg_act_template.h).
 * Shared by the reference twin and the per-target kernels, so both apply the
 * transcendental activations with the same libm calls (sigmoid, tanh and
 * softplus give identical results on every CPU target). The derivatives take
 * u, the value the forward pass keeps for them: the activation's output, or its
 * pre-activation z for the activations flagged grad_from_pre in the registry. */
#ifndef FASTGD_ACT_H
#define FASTGD_ACT_H

#include <math.h>

#include "gemm/fg_gemm.h"

#define FG_TEMPLATE "fg_act_template.h"
#include "fg_each_type.h"

/* The registry's flags of `act` (registry/activations.h), 0 for an unknown value. */
enum { FG_ACT_PIECEWISE_LINEAR = 1, FG_ACT_SIMD_EPILOGUE = 2, FG_ACT_GRAD_FROM_PRE = 4, FG_ACT_VECTOR_FORM = 8 };
FG_INLINE int fg_act_flags(int act)
{
    static const unsigned char flags[] = {
#define FG_ACTIVATION(ID, name, piecewise_linear, simd_epilogue, grad_from_pre, vector_form) \
    (piecewise_linear) * FG_ACT_PIECEWISE_LINEAR + (simd_epilogue) * FG_ACT_SIMD_EPILOGUE + \
        (grad_from_pre) * FG_ACT_GRAD_FROM_PRE + (vector_form) * FG_ACT_VECTOR_FORM,
#include "registry/activations.h"
#undef FG_ACTIVATION
    };
    return (act >= 0 && act < FG_ACT_COUNT) ? flags[act] : 0;
}

/* 1 if the GEMM micro-kernels apply `act` in registers. */
FG_INLINE int fg_act_simd_epilogue(int act) { return (fg_act_flags(act) & FG_ACT_SIMD_EPILOGUE) != 0; }

/* 1 for the activations whose act'' is zero almost everywhere. */
FG_INLINE int fg_act_is_piecewise_linear(int act) { return (fg_act_flags(act) & FG_ACT_PIECEWISE_LINEAR) != 0; }

/* 1 for the activations whose derivatives are functions of the pre-activation z rather than
 * of the output: their backward passes read z, which the training forward pass keeps. */
FG_INLINE int fg_act_grad_from_pre(int act) { return (fg_act_flags(act) & FG_ACT_GRAD_FROM_PRE) != 0; }

/* 1 for the activations with a vector form (fgv_act, fgv_act_grad in fg_act_vec_template.h). */
FG_INLINE int fg_act_vector_form(int act) { return (fg_act_flags(act) & FG_ACT_VECTOR_FORM) != 0; }

#endif
