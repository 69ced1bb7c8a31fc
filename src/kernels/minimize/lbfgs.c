/* L-BFGS two-loop recursion and curvature pairs over flat buffers, compiled per
 * CPU target. The recursion streams 2·count + 1 passes over n elements (each pass
 * fuses one pair's update with the next pair's dot product): memory bound, so one
 * thread runs it, and its results are the same for every thread count. The loops
 * are written for the compiler to vectorize; the dot products keep four
 * independent double accumulators, a fixed order that does not depend on the
 * target's vector width. */
#include "fg_internal.h"

#define FG_TEMPLATE "minimize/lbfgs_template.h"
#include "fg_each_type.h"
