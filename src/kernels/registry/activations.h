/* The activations, one line each: the only list of them. Everything else derives
 * from it: enum fg_activation (FG_ACT_<ID>, numbered in this order),
 * fg_activation_name() and the Python names (fastgd.ACTIVATIONS reads them from
 * the compiled module), the GEMM epilogue's choice of path, and the HVP kernels'
 * test for a zero second derivative.
 *
 * FG_ACTIVATION(ID, name, piecewise_linear, simd_epilogue, grad_from_pre, vector_form)
 *   ID                enum suffix (FG_ACT_ID)
 *   name              the Python name
 *   piecewise_linear  1 if act'' is zero almost everywhere
 *   simd_epilogue     1 if the GEMM micro-kernels apply it in registers
 *                     (gemm_ukernel_simd_template.h); 0: applied after the
 *                     tile is stored, per element by fg_act_* or, for those
 *                     with a vector form, by fg_act_rows_* (fg_act_vec.h)
 *   grad_from_pre     0: act' and act'' are functions of the output a = act(z),
 *                     which is all the forward pass keeps; 1: of the
 *                     pre-activation z (the output does not determine it), so
 *                     the training forward pass keeps z as well (fg_model.pres)
 *   vector_form       1 if fgv_act / fgv_act_grad (fg_act_vec_template.h) have
 *                     a case for it: fg_act_rows_* run it in vectors on targets
 *                     with a SIMD vocabulary; 0: per element through libm
 * The per-element formulas live in fg_act_template.h (value, derivative) and
 * fg_hvp.h (second derivative). Keep IDENTITY first: it is the zero value.
 * Deliberately no include guard: included once per expansion. */
FG_ACTIVATION(IDENTITY, identity, 1, 1, 0, 0)
FG_ACTIVATION(RELU, relu, 1, 1, 0, 0)
FG_ACTIVATION(LEAKY_RELU, leaky_relu, 1, 1, 0, 0)
FG_ACTIVATION(SIGMOID, sigmoid, 0, 0, 0, 0)
FG_ACTIVATION(TANH, tanh, 0, 0, 0, 0)
FG_ACTIVATION(SOFTPLUS, softplus, 0, 0, 0, 0)
/* e^z - 1 below 0: its derivative e^z is read from z, since o + 1 from the output cancels (to 0
 * in float32 below z = -17) */
FG_ACTIVATION(ELU, elu, 0, 0, 1, 0)
/* x Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel 2016), as torch.nn.GELU() */
FG_ACTIVATION(GELU, gelu, 0, 0, 1, 1)
/* x σ(2u), u = √(2/π)(x + 0.044715 x³), i.e. 0.5 x (1 + tanh u): torch.nn.GELU(approximate="tanh") */
FG_ACTIVATION(GELU_TANH, gelu_tanh, 0, 0, 1, 1)
/* x σ(x) (Elfwing et al. 2018; "swish"), as torch.nn.SiLU() */
FG_ACTIVATION(SILU, silu, 0, 0, 1, 1)
/* scale (x if x > 0 else alpha (e^x - 1)), alpha = 1.6732632423543772848, scale = 1.0507009873554804934
 * (Klambauer et al. 2017), as torch.nn.SELU(); its derivative is read from z, as ELU's */
FG_ACTIVATION(SELU, selu, 0, 0, 1, 0)
/* x tanh(softplus(x)) (Misra 2019), as torch.nn.Mish(): not monotonic (its minimum is at x = -1.19), so
 * the output does not determine z */
FG_ACTIVATION(MISH, mish, 0, 0, 1, 1)
