/* Portable SIMD micro-kernels of the GEMM for the generic target, written with
 * the GCC/Clang vector extensions (16-byte vectors: SSE2 on any x86-64, NEON on
 * aarch64, VSX on ppc64le, ...), so every compiler of that family vectorizes
 * them for the CPU's baseline instruction set. Plain IEEE arithmetic: no FMA
 * contraction is assumed or needed (a multiply, then an add).
 *
 * gemm_ukernel_vec_f32: 6×8 floats, gemm_ukernel_vec_f64: 6×4 doubles; the
 * tile is 12 vector accumulators, which leaves 4 of the 16 registers of the
 * smallest register files (SSE2, VSX's half) for the 2 vectors of a B row, the
 * broadcast A element and the product. Per k step: 2 vector loads of B, 6
 * scalar loads of A, 12 multiplies and 12 adds.
 * Contract: as gemm_ukernel_generic in gemm_template.h. */

#if !(defined(__GNUC__) || defined(__clang__))
#error "gemm_ukernel_vec.h needs the GCC/Clang vector extensions"
#endif

typedef float gemm_vec_f32 __attribute__((vector_size(16)));
typedef int32_t gemm_vec_i32 __attribute__((vector_size(16)));
/* an unaligned view of 4 floats that may alias float arrays */
typedef float gemm_vec_f32_u __attribute__((vector_size(16), aligned(4), may_alias));
typedef double gemm_vec_f64 __attribute__((vector_size(16)));
typedef int64_t gemm_vec_i64 __attribute__((vector_size(16)));
typedef double gemm_vec_f64_u __attribute__((vector_size(16), aligned(8), may_alias));

#define UK_VEC_BODY(UT, UV, UVI, UVU, UW, MR_, NV, BCAST, NAME)                                           \
    static inline __attribute__((always_inline)) void NAME(                                              \
        int64_t kc, const UT *FG_RESTRICT a, int64_t rsa, int64_t csa, const UT *FG_RESTRICT b,          \
        int64_t rsb, UT *FG_RESTRICT c, int64_t ldc, const UT *FG_RESTRICT bias, UT beta, int first,     \
        int last_act, UT alpha)                                                                          \
    {                                                                                                    \
        UV acc[MR_][NV];                                                                                 \
        for (int i = 0; i < MR_; i++)                                                                    \
            for (int j = 0; j < NV; j++) acc[i][j] = BCAST((UT)0);                                       \
        for (int64_t p = 0; p < kc; p++) {                                                               \
            UV bv[NV];                                                                                   \
            for (int j = 0; j < NV; j++) bv[j] = *(const UVU *)(b + j * UW);                             \
            for (int i = 0; i < MR_; i++) {                                                              \
                const UV ai = BCAST(a[i * rsa]);                                                         \
                for (int j = 0; j < NV; j++) acc[i][j] += ai * bv[j];                                    \
            }                                                                                            \
            a += csa;                                                                                    \
            b += rsb;                                                                                    \
        }                                                                                                \
        if (first) {                                                                                     \
            if (bias)                                                                                    \
                for (int j = 0; j < NV; j++) {                                                           \
                    const UV v = *(const UVU *)(bias + j * UW);                                          \
                    for (int i = 0; i < MR_; i++) acc[i][j] += v;                                        \
                }                                                                                        \
            if (beta != 0) {                                                                             \
                const UV vb = BCAST(beta);                                                               \
                for (int i = 0; i < MR_; i++)                                                            \
                    for (int j = 0; j < NV; j++) acc[i][j] += vb * *(const UVU *)(c + i * ldc + j * UW); \
            }                                                                                            \
        } else {                                                                                         \
            for (int i = 0; i < MR_; i++)                                                                \
                for (int j = 0; j < NV; j++) acc[i][j] += *(const UVU *)(c + i * ldc + j * UW);          \
        }                                                                                                \
        /* (x < 0) is false for NaN, so NaN passes through relu and leaky relu */                        \
        if (last_act == FG_ACT_RELU || last_act == FG_ACT_LEAKY_RELU) {                                  \
            const UV zero = BCAST((UT)0), va = BCAST(last_act == FG_ACT_RELU ? (UT)0 : alpha);           \
            for (int i = 0; i < MR_; i++)                                                                \
                for (int j = 0; j < NV; j++) {                                                           \
                    const UVI neg = (UVI)(acc[i][j] < zero);                                             \
                    acc[i][j] = (UV)(((UVI)(va * acc[i][j]) & neg) | ((UVI)acc[i][j] & ~neg));           \
                }                                                                                        \
        }                                                                                                \
        for (int i = 0; i < MR_; i++)                                                                    \
            for (int j = 0; j < NV; j++) *(UVU *)(c + i * ldc + j * UW) = acc[i][j];                     \
    }

#define UK_VEC_BCAST_F32(s) ((gemm_vec_f32){(s), (s), (s), (s)})
#define UK_VEC_BCAST_F64(s) ((gemm_vec_f64){(s), (s)})

UK_VEC_BODY(float, gemm_vec_f32, gemm_vec_i32, gemm_vec_f32_u, 4, 6, 2, UK_VEC_BCAST_F32, gemm_ukernel_vec_f32_any)
UK_VEC_BODY(double, gemm_vec_f64, gemm_vec_i64, gemm_vec_f64_u, 2, 6, 2, UK_VEC_BCAST_F64, gemm_ukernel_vec_f64_any)

/* The entry point NAME: the packed case (rsa = 1, csa = MR, rsb = NR) with its
 * strides as constants, so the addresses in the k loop are immediates; other
 * strides (the unpacked small-problem path) through the general body. */
#define UK_VEC_ENTRY(UT, NAME, MR_, NR_)                                                                  \
    static void NAME(int64_t kc, const UT *FG_RESTRICT a, int64_t rsa, int64_t csa, const UT *FG_RESTRICT b, \
                     int64_t rsb, UT *FG_RESTRICT c, int64_t ldc, const UT *FG_RESTRICT bias, UT beta,   \
                     int first, int last_act, UT alpha)                                                  \
    {                                                                                                    \
        if (rsa == 1 && csa == MR_ && rsb == NR_)                                                        \
            NAME##_any(kc, a, 1, MR_, b, NR_, c, ldc, bias, beta, first, last_act, alpha);               \
        else                                                                                             \
            NAME##_any(kc, a, rsa, csa, b, rsb, c, ldc, bias, beta, first, last_act, alpha);             \
    }
UK_VEC_ENTRY(float, gemm_ukernel_vec_f32, 6, 8)
UK_VEC_ENTRY(double, gemm_ukernel_vec_f64, 6, 4)

#undef UK_VEC_BODY
#undef UK_VEC_ENTRY
#undef UK_VEC_BCAST_F32
#undef UK_VEC_BCAST_F64
