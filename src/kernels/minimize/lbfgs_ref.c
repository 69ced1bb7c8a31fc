/* Reference twin of the L-BFGS two-loop recursion (see list_minimize.h): the
 * textbook loops (Nocedal & Wright, Algorithm 7.4), one double accumulator per
 * dot product, no tricks. The test oracle of fg_lbfgs_direction_*. */
#include "fastgd_kernels.h"

#define FG_TEMPLATE "minimize/lbfgs_ref_template.h"
#include "fg_each_type.h"
