/* L-BFGS two-loop recursion and curvature pairs over flat buffers, compiled per
 * CPU target. The recursion streams 2·count + 1 passes over n elements (each pass
 * fuses one pair's update with the next pair's dot product): memory bound, so one
 * thread runs it, and its results are the same for every thread count. The loops
 * are written for the compiler to vectorize; the dot products keep sixteen
 * independent double lanes, a fixed order that does not depend on the target's
 * vector width. The compact-form kernels of the L-BFGS driver live here too. */
#include <math.h>

#include "fg_internal.h"

/* |x| into a running maximum (a NaN loses every comparison, so the maximum skips it) and a
 * running sum (which a NaN propagates into): the norm passes of fg_lbfgs_norms and
 * fg_lbfgs_accept, which keep two of each for the even and odd elements. */
FG_INLINE void lbfgs_norms_add(double x, double *max, double *sum)
{
    const double v = fabs(x);
    *max = v > *max ? v : *max;
    *sum += v;
}

#define FG_TEMPLATE "minimize/lbfgs_template.h"
#include "fg_each_type.h"
