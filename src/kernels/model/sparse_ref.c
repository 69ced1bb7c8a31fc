/* The plain reference twins of the sparse kernels (fg_sparse.h): scalar loops, the forward
 * sums in double. Compiled once, not per target; the test oracle. */
#include "fastgd_kernels.h"
#include "fg_act.h"

#define FG_TEMPLATE "model/sparse_ref_template.h"
#include "fg_each_type.h"
