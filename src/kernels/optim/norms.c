/* Gradient norms and clipping over flat buffers, compiled per CPU target: Σx² (deterministic, in
 * double), x *= s, clamp to [-c, c], counts of large or non-finite entries. */
#include <math.h>
#include <string.h>

#include "fg_internal.h"
#include "fg_threads.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#define NORM_BLOCK 4096  /* elements per block sum */
/* Block sums kept at a time (32 KiB of stack): one parallel region covers 16M elements, since
 * every region start costs a wake-up of the other threads, dearly when the cores are shared. */
#define NORM_GROUP 4096
#define NORM_GRAIN 32768 /* elements per thread, at least */

enum { NORM_SUM_SQUARES, NORM_COUNT_AT_LEAST, NORM_SCALE, NORM_CLAMP };

/* acc + x², x² exact in double for a float x (24-bit significands square into 48 bits), so one
   fused multiply-add rounds exactly as the addition does: the same bits, one instruction fewer,
   where the target has the instruction. A double's square is rounded, so it keeps both steps. */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define NORM_ADD_SQUARE(acc, x) \
    (sizeof(x) == 4 ? fma((double)(x), (double)(x), (acc)) : (acc) + (double)(x) * (double)(x))
#else
#define NORM_ADD_SQUARE(acc, x) ((acc) + (double)(x) * (double)(x))
#endif

#define T float
#define SFX f32
#define U uint32_t
#define SIGN 0x80000000u
#define BIAS 127
#define MANT 23
#include "norms_template.h"
#undef T
#undef SFX
#undef U
#undef SIGN
#undef BIAS
#undef MANT

#define T double
#define SFX f64
#define U uint64_t
#define SIGN 0x8000000000000000ull
#define BIAS 1023
#define MANT 52
#include "norms_template.h"
#undef T
#undef SFX
#undef U
#undef SIGN
#undef BIAS
#undef MANT
