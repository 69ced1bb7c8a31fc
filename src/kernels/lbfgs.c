/* L-BFGS two-loop recursion over flat buffers, compiled per CPU target.
 * The work is 4·count passes of a dot product or an axpy over n elements: memory
 * bound, so one thread streams it; the loops are written for the compiler to
 * vectorize (the dot products keep four independent double accumulators, a fixed
 * order that does not depend on the target's vector width). */
#include "fg_internal.h"

#define T float
#define SFX f32
#include "lbfgs_template.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "lbfgs_template.h"
#undef T
#undef SFX
