/* Instantiate a per-type template: include FG_TEMPLATE (a quoted file name) once with
 * T = float, SFX = f32 and once with T = double, SFX = f64, then undefine all three.
 * Usage:  #define FG_TEMPLATE "sgd_template.h"
 *         #include "fg_each_type.h"
 * Deliberately no include guard: included once per template. */
#ifndef FG_TEMPLATE
#error "define FG_TEMPLATE before including fg_each_type.h"
#endif

#define T float
#define SFX f32
#include FG_TEMPLATE
#undef T
#undef SFX

#define T double
#define SFX f64
#include FG_TEMPLATE
#undef T
#undef SFX

#undef FG_TEMPLATE
