/* Portable C helpers shared by every kernel source: restrict, inline, and the
 * name mangling that gives each CPU target its own symbols.
 *
 * Every source listed under FASTGD_DISPATCH_SOURCES in CMakeLists.txt is compiled
 * once per target of isa/targets.h with -DFG_ISA=<target> and isa/<target>/ on
 * its include path. FG_FN(name) appends the target, so the same C text yields
 * fg_optim_step_f32_generic and fg_optim_step_f32_avx2 side by side in one library. */
#ifndef FASTGD_COMMON_H
#define FASTGD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
#define FG_RESTRICT __restrict
#define FG_INLINE static __inline
#else
#define FG_RESTRICT restrict
#define FG_INLINE static inline
#endif

#define FG_CAT2_(a, b) a##_##b
#define FG_CAT2(a, b) FG_CAT2_(a, b)

#ifdef FG_ISA
#define FG_FN(name) FG_CAT2(name, FG_ISA)
#endif

FG_INLINE int64_t fg_min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
FG_INLINE int64_t fg_max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

#endif
