/* The SIMD vocabulary of the portable target: none. With FG_SIMD 0 the kernels
 * run their plain C loops (see fg_simd.h for what a SIMD target provides). */
#ifndef FASTGD_TARGET_SIMD_H
#define FASTGD_TARGET_SIMD_H

#define FG_SIMD 0

#endif
