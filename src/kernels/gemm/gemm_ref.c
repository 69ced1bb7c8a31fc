/* Reference twins of the GEMM and dense layer kernels: the contracts written as
 * plain loops, compiled once without target flags. They are the test oracle
 * (exposed as fastgd._core.gemm_ref / dense_backward_ref), not a fast path. */
#include "fastgd_kernels.h"
#include "fg_act.h"

#define FG_TEMPLATE "gemm/gemm_ref_template.h"
#include "fg_each_type.h"
