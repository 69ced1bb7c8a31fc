/* Internal: this target's build of every dispatched kernel, so that composite
 * kernels (a dense layer calling the GEMM, a training step calling the dense
 * layers, the loss and the optimizer) call their siblings of the same target
 * directly, without going back through the dispatch table.
 * Include only from sources compiled per target (FG_ISA defined). */
#ifndef FASTGD_INTERNAL_H
#define FASTGD_INTERNAL_H

#include "fastgd_kernels.h"

#ifndef FG_ISA
#error "fg_internal.h is for sources compiled once per CPU target"
#endif

#define FG_KERNEL(name, params, args) void FG_FN(FG_CAT2(fg, name)) params;
#define FG_KERNEL_RET(type, name, params, args) type FG_FN(FG_CAT2(fg, name)) params;
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET

#endif
