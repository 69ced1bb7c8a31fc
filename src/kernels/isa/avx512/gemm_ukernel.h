/* GEMM micro-kernels and packers of the AVX-512 target (included by gemm.c).
 *
 * Micro-kernels: gemm_ukernel_simd.h in this target's vocabulary, 14×32 floats / 14×16
 * doubles in 28 zmm accumulators; per k step 28 FMAs for 16 loads. Edge tiles of fewer rows
 * run a kernel of exactly that many rows, and narrower ones mask their loads and stores of C
 * and bias with opmasks (FG_GEMM_MASKED_EDGES in config.h): no edge tile is copied.
 * Packers: the x86 transposing ones (ymm transposes). */
#include "gemm/gemm_ukernel_simd.h"
#include "isa/x86_pack.h"
