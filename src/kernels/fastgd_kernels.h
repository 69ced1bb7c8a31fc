/* fastgd's C kernel library: the one header the Python bindings include.
 *
 * Conventions for every kernel:
 *   - outputs first, then inputs, then sizes; sizes and leading dimensions are
 *     int64_t counts of elements;
 *   - matrices are row-major; a dense layer's weights are (in_features, out_features);
 *   - kernels never allocate in the hot path and never touch Python;
 *   - *_f32 / *_f64 name the element type; nothing mixes the two.
 */
#ifndef FASTGD_KERNELS_H
#define FASTGD_KERNELS_H

#include "fg_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CPU targets ------------------------------------------------------- */

/* One value per line of isa/targets.h, in its order: FG_ISA_generic (portable
 * C, any CPU, always 0), FG_ISA_avx2, ... A target's number may change when
 * targets are added; programs use the names. */
enum fg_isa {
#define FG_TARGET(name, architectures, flags, msvc_flags, cpu_check) FG_ISA_##name,
#include "isa/targets.h"
#undef FG_TARGET
    FG_ISA_COUNT
};

/* Name of a target ("generic", "avx2", ...: isa/targets.h), or "unknown". */
const char *fg_isa_name(int isa);
/* 1 if this build contains code for `isa`. */
int fg_isa_compiled(int isa);
/* 1 if the running CPU (and OS) can execute `isa`. */
int fg_isa_cpu_supports(int isa);
/* The best target that is both compiled and supported by the CPU. */
int fg_isa_best(void);
/* Route every kernel to `isa`. Returns 0, or -1 (and changes nothing) when
 * the target is not compiled in or not supported by this CPU. */
int fg_isa_select(int isa);
/* The target the kernels currently run. */
int fg_isa_current(void);

/* ---- threads ------------------------------------------------------------ */

/* 1 if the library was built with OpenMP. */
int fg_openmp_enabled(void);
/* The OpenMP version macro (e.g. 201511), or 0 without OpenMP. */
int fg_openmp_version(void);
/* Threads the kernels may use (>= 1). Kernels use fewer for small work. */
void fg_set_num_threads(int n);
int fg_get_num_threads(void);
/* With `on`, kernels also use no more threads than the CPUs other processes
 * leave free (threads_load.c); fastgd's default, off once a count is set. */
void fg_set_threads_adapt_to_load(int on);
int fg_get_threads_adapt_to_load(void);

/* ---- types of each kernel area ------------------------------------------ */

#include "gemm/fg_gemm.h"
#include "loss/fg_loss.h"
#include "optim/fg_optim.h"
#include "model/fg_model.h"
#include "minimize/fg_minimize.h"
#include "model/fg_hvp.h"
#include "model/fg_sparse.h"

/* ---- the dispatched kernels -------------------------------------------- */

#define FG_KERNEL(name, params, args) void FG_CAT2(fg, name) params;
#define FG_KERNEL_RET(type, name, params, args) type FG_CAT2(fg, name) params;
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET

#ifdef __cplusplus
}
#endif

#endif
