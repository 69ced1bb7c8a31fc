/* The dispatched kernels, listed once, each written once for both element types.
 *
 * FG_KERNEL(name, (parameters), (arguments))           a kernel returning void
 * FG_KERNEL_RET(type, name, (parameters), (arguments)) a kernel returning `type`
 * FG_KERNEL_SIZE(name, (parameters), (arguments))      a workspace size (int64_t bytes): its
 *     public entry point returns the largest over the compiled targets, so a workspace
 *     sized once serves every target (they block differently); elsewhere it reads as
 *     FG_KERNEL_RET(int64_t, ...)
 *
 * For each entry the build provides fg_<name>_<target> for every CPU target
 * (see fg_common.h), a slot in fg_kernel_table, and the public entry point
 * fg_<name>, which calls the slot of the target selected at import.
 * This file is included several times with different definitions of the two
 * macros; it deliberately has no include guard.
 *
 * Each area keeps its entries in its own list_<area>.h (kernel_areas.h includes them in order),
 * written like a per-type template: with T for the element type and FG_CAT2(name, SFX) for the
 * name, so that kernel_areas.h, instantiated by fg_each_type.h, lists every float (_f32) entry
 * and then every double (_f64) one. */
#ifndef FG_KERNEL_SIZE
#define FG_KERNEL_SIZE(name, params, args) FG_KERNEL_RET(int64_t, name, params, args)
#define FG_KERNEL_SIZE_AS_RET
#endif
#define FG_TEMPLATE "kernel_areas.h"
#include "fg_each_type.h"
#ifdef FG_KERNEL_SIZE_AS_RET
#undef FG_KERNEL_SIZE
#undef FG_KERNEL_SIZE_AS_RET
#endif
