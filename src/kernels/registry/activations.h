/* The activations, one line each: the only list of them. Everything else derives
 * from it: enum fg_activation (FG_ACT_<ID>, numbered in this order),
 * fg_activation_name() and the Python names (fastgd.ACTIVATIONS reads them from
 * the compiled module), the GEMM epilogue's choice of path, and the HVP kernels'
 * test for a zero second derivative.
 *
 * FG_ACTIVATION(ID, name, piecewise_linear, simd_epilogue)
 *   ID                enum suffix (FG_ACT_ID)
 *   name              the Python name
 *   piecewise_linear  1 if act'' is zero almost everywhere
 *   simd_epilogue     1 if the GEMM micro-kernels apply it in registers
 *                     (gemm_ukernel_simd_template.h); 0: applied per element
 *                     by fg_act_* after the tile is stored
 * The per-element formulas live in fg_act_template.h (value, derivative) and
 * fg_hvp.h (second derivative). Keep IDENTITY first: it is the zero value.
 * Deliberately no include guard: included once per expansion. */
FG_ACTIVATION(IDENTITY, identity, 1, 1)
FG_ACTIVATION(RELU, relu, 1, 1)
FG_ACTIVATION(LEAKY_RELU, leaky_relu, 1, 1)
FG_ACTIVATION(SIGMOID, sigmoid, 0, 0)
FG_ACTIVATION(TANH, tanh, 0, 0)
FG_ACTIVATION(SOFTPLUS, softplus, 0, 0)
FG_ACTIVATION(ELU, elu, 0, 0)
