/* The dispatched kernels, listed once.
 *
 * FG_KERNEL(name, (parameters), (arguments))           a kernel returning void
 * FG_KERNEL_RET(type, name, (parameters), (arguments)) a kernel returning `type`
 *
 * For each entry the build provides fg_<name>_<target> for every CPU target
 * (see fg_common.h), a slot in fg_kernel_table, and the public entry point
 * fg_<name>, which calls the slot of the target selected at import.
 * This file is included several times with different definitions of the two
 * macros; it deliberately has no include guard.
 *
 * Each area keeps its entries in its own list_<area>.h, included here in order. */
#include "list_gemm.h"
#include "list_loss.h"
#include "list_optim.h"
#include "list_model.h"
#include "list_minimize.h"
#include "list_curvature.h"
#include "list_sparse.h"
