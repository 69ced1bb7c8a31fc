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

/* The bit layout of each element type, read by the template through its suffix. */
#define NORM_BITS_f32 uint32_t
#define NORM_SIGN_f32 0x80000000u
#define NORM_BIAS_f32 127
#define NORM_MANT_f32 23
#define NORM_BITS_f64 uint64_t
#define NORM_SIGN_f64 0x8000000000000000ull
#define NORM_BIAS_f64 1023
#define NORM_MANT_f64 52

#define FG_TEMPLATE "optim/norms_template.h"
#include "fg_each_type.h"
