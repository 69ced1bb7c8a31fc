/* The GEMM micro-kernels written once in the SIMD vocabulary (fg_simd.h), for a target's
 * gemm_ukernel.h to include: gemm_ukernel_f32 / _f64, FG_GEMM_MR_* rows × 2 vectors
 * (NR = 2 lanes of vectors), and their _rows variants for fewer rows
 * (gemm_ukernel_simd_type.h). Per k step a kernel loads one row of the B micro-panel
 * (2 vectors) and broadcasts MR elements of A: 2 MR FMAs for MR + 2 loads. */
#define FG_GEMM_UKERNEL 1

#define T float
#define SFX f32
#define UK_MR FG_GEMM_MR_F32
#define UK_NAME gemm_ukernel_f32
#include "gemm_ukernel_simd_type.h"

#define T double
#define SFX f64
#define UK_MR FG_GEMM_MR_F64
#define UK_NAME gemm_ukernel_f64
#include "gemm_ukernel_simd_type.h"
