/* Internal: the activations of enum fg_activation (registry/activations.h) and
 * their derivatives, one element at a time, for float and double
 * (fg_act_f32, fg_act_grad_f64, fg_act_backward_f32, ...: fg_act_template.h).
 * Shared by the reference twin and the per-target kernels, so both apply the
 * transcendental activations with the same libm calls (sigmoid, tanh and
 * softplus give identical results on every CPU target). The derivatives are
 * functions of the activation's OUTPUT, which is what the forward pass stores. */
#ifndef FASTGD_ACT_H
#define FASTGD_ACT_H

#include <math.h>

#include "gemm/fg_gemm.h"

#define FG_TEMPLATE "fg_act_template.h"
#include "fg_each_type.h"

/* 1 if the GEMM micro-kernels apply `act` in registers (registry/activations.h). */
FG_INLINE int fg_act_simd_epilogue(int act)
{
    switch (act) {
#define FG_ACTIVATION(ID, name, piecewise_linear, simd_epilogue) \
    case FG_ACT_##ID: return simd_epilogue;
#include "registry/activations.h"
#undef FG_ACTIVATION
    default: return 0;
    }
}

/* 1 for the activations whose act'' is zero almost everywhere (registry/activations.h). */
FG_INLINE int fg_act_is_piecewise_linear(int act)
{
    switch (act) {
#define FG_ACTIVATION(ID, name, piecewise_linear, simd_epilogue) \
    case FG_ACT_##ID: return piecewise_linear;
#include "registry/activations.h"
#undef FG_ACTIVATION
    default: return 0;
    }
}

#endif
