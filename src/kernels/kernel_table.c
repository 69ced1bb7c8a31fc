/* This target's kernel table (fg_dispatch.h), compiled once per target. */
#include "fg_internal.h"
#include "fg_dispatch.h"

const fg_kernel_table FG_FN(fg_kernel_table) = {
#define FG_KERNEL(name, params, args) FG_FN(FG_CAT2(fg, name)),
#define FG_KERNEL_RET(type, name, params, args) FG_FN(FG_CAT2(fg, name)),
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET
};
