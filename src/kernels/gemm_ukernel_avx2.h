/* AVX2+FMA micro-kernels of the GEMM (included by gemm.c on the avx2 target).
 *
 * gemm_ukernel_avx2_f32: 6×16 floats, gemm_ukernel_avx2_f64: 6×8 doubles. Both
 * hold the tile in 12 ymm accumulators; per k step they load one row of the B
 * micro-panel (2 vectors) and broadcast 6 elements of A: 12 FMAs for 8 loads.
 * A is read as a[i*rsa + p*csa] (a packed panel has rsa = 1, csa = MR; the
 * unpacked small-problem path passes the matrix strides); b[p*rsb + j] has
 * 16 (8) contiguous elements per row. The epilogue (bias, beta*C, relu or
 * leaky relu) runs on the accumulators before the single store.
 * Contract: as gemm_ukernel_generic in gemm_template.h. */

#if defined(__GNUC__) || defined(__clang__)
#define GEMM_ALWAYS_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define GEMM_ALWAYS_INLINE static __forceinline
#else
#define GEMM_ALWAYS_INLINE static inline
#endif

#define UT float
#define UV __m256
#define UW 8
#define UFN gemm_ukernel_avx2_f32
#define U_ZERO _mm256_setzero_ps
#define U_LOAD _mm256_loadu_ps
#define U_STORE _mm256_storeu_ps
#define U_BCAST _mm256_broadcast_ss
#define U_FMA _mm256_fmadd_ps
#define U_ADD _mm256_add_ps
#define U_MAX _mm256_max_ps
#define U_MUL _mm256_mul_ps
#define U_SET1 _mm256_set1_ps
#define U_LT(x, y) _mm256_cmp_ps(x, y, _CMP_LT_OQ)
#define U_BLEND _mm256_blendv_ps
#include "gemm_ukernel_avx2_template.h"
#undef UT
#undef UV
#undef UW
#undef UFN
#undef U_ZERO
#undef U_LOAD
#undef U_STORE
#undef U_BCAST
#undef U_FMA
#undef U_ADD
#undef U_MAX
#undef U_MUL
#undef U_SET1
#undef U_LT
#undef U_BLEND

#define UT double
#define UV __m256d
#define UW 4
#define UFN gemm_ukernel_avx2_f64
#define U_ZERO _mm256_setzero_pd
#define U_LOAD _mm256_loadu_pd
#define U_STORE _mm256_storeu_pd
#define U_BCAST _mm256_broadcast_sd
#define U_FMA _mm256_fmadd_pd
#define U_ADD _mm256_add_pd
#define U_MAX _mm256_max_pd
#define U_MUL _mm256_mul_pd
#define U_SET1 _mm256_set1_pd
#define U_LT(x, y) _mm256_cmp_pd(x, y, _CMP_LT_OQ)
#define U_BLEND _mm256_blendv_pd
#include "gemm_ukernel_avx2_template.h"
#undef UT
#undef UV
#undef UW
#undef UFN
#undef U_ZERO
#undef U_LOAD
#undef U_STORE
#undef U_BCAST
#undef U_FMA
#undef U_ADD
#undef U_MAX
#undef U_MUL
#undef U_SET1
#undef U_LT
#undef U_BLEND
