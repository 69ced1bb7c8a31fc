/* GEMM micro-kernels and packers of the AVX2+FMA target (included by gemm.c).
 *
 * Micro-kernels: gemm_ukernel_simd.h in this target's vocabulary, 6×16 floats / 6×8 doubles
 * in 12 ymm accumulators; per k step 12 FMAs for 8 loads. Edge tiles narrower than NR go
 * through a copy (gemm_template.h): masked stores are slow on AMD cores. A copy of at most one
 * vector's columns (10 classes: 8 + 2) runs the one-vector k loop, half the FMAs.
 * Packers: the x86 transposing ones. */
#include "gemm/gemm_ukernel_simd.h"
#include "isa/x86_pack.h"
