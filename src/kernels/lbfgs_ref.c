/* Reference twin of the L-BFGS two-loop recursion (see list_minimize.h): the
 * textbook loops (Nocedal & Wright, Algorithm 7.4), one double accumulator per
 * dot product, no tricks. The test oracle of fg_lbfgs_direction_*. */
#include "fastgd_kernels.h"

#define T float
#define SFX f32
#include "lbfgs_ref_template.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "lbfgs_ref_template.h"
#undef T
#undef SFX
