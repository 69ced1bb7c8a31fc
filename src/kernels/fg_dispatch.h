/* Internal: the kernel table, one per compiled target. kernel_table.c (compiled
 * per target) fills fg_kernel_table_<target> with that target's builds of the
 * kernels of kernel_list.h; dispatch.c routes the public entry points through
 * the selected one. */
#ifndef FASTGD_DISPATCH_H
#define FASTGD_DISPATCH_H

#include "fastgd_kernels.h"

typedef struct fg_kernel_table {
#define FG_KERNEL(name, params, args) void(*name) params;
#define FG_KERNEL_RET(type, name, params, args) type(*name) params;
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET
} fg_kernel_table;

#endif
