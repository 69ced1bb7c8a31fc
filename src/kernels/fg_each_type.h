/* Instantiate a per-type template: include FG_TEMPLATE (a quoted path under src/kernels)
 * once with T = float, SFX = f32 and once with T = double, SFX = f64, then undefine them. Inside,
 * FG_CAT2(name, SFX) names a per-type function and FG_MATH(fn) is the libm function
 * of T (expf / exp).
 * Usage:  #define FG_TEMPLATE "minimize/lbfgs_template.h"
 *         #include "fg_each_type.h"
 * Deliberately no include guard: included once per template. */
#ifndef FG_TEMPLATE
#error "define FG_TEMPLATE before including fg_each_type.h"
#endif

#define T float
#define SFX f32
#define FG_MATH(fn) fn##f
#include FG_TEMPLATE
#undef T
#undef SFX
#undef FG_MATH

#define T double
#define SFX f64
#define FG_MATH(fn) fn
#include FG_TEMPLATE
#undef T
#undef SFX
#undef FG_MATH

#undef FG_TEMPLATE
