/* Body of one AVX2+FMA micro-kernel of UK_R rows (listed by UK_ROWS(X)) × 2
 * vectors, included by gemm_ukernel_avx2.h per element type and row count with:
 * UT (element), UV (vector type), UW (lanes), UFN (name prefix), and the
 * intrinsics U_ZERO, U_LOAD, U_STORE, U_BCAST, U_FMA, U_ADD, U_MAX, U_MUL,
 * U_SET1, U_LT, U_BLEND. The accumulators are separate variables (not an
 * array) so the compiler keeps every one in a register. The full kernel has
 * 6 rows; 1..5 rows serve the last rows of C without computing padding. */

/* The tile's rows of C are needed after the k loop: start fetching them now. */
#define UK_PREFETCH_C(i)                                                               \
    _mm_prefetch((const char *)(c + (i) * ldc), _MM_HINT_T0);                          \
    _mm_prefetch((const char *)(c + (i) * ldc + 2 * UW - 1), _MM_HINT_T0);
#define UK_DECL(i) UV c##i##0 = U_ZERO(), c##i##1 = U_ZERO();
#define UK_FMA(i)                                                                      \
    {                                                                                  \
        const UV ai = U_BCAST(a + (i) * rsa);                                          \
        c##i##0 = U_FMA(ai, b0, c##i##0);                                              \
        c##i##1 = U_FMA(ai, b1, c##i##1);                                              \
    }
#define UK_BIAS(i) c##i##0 = U_ADD(c##i##0, v0); c##i##1 = U_ADD(c##i##1, v1);
#define UK_BETA(i)                                                                     \
    c##i##0 = U_FMA(vb, U_LOAD(c + (i) * ldc), c##i##0);                               \
    c##i##1 = U_FMA(vb, U_LOAD(c + (i) * ldc + UW), c##i##1);
#define UK_ACCUM(i)                                                                    \
    c##i##0 = U_ADD(c##i##0, U_LOAD(c + (i) * ldc));                                   \
    c##i##1 = U_ADD(c##i##1, U_LOAD(c + (i) * ldc + UW));
/* max(0, x) returns x when x is NaN, like the scalar (x < 0 ? 0 : x). */
#define UK_RELU(i) c##i##0 = U_MAX(zero, c##i##0); c##i##1 = U_MAX(zero, c##i##1);
#define UK_LEAKY(i)                                                                    \
    c##i##0 = U_BLEND(c##i##0, U_MUL(va, c##i##0), U_LT(c##i##0, zero));               \
    c##i##1 = U_BLEND(c##i##1, U_MUL(va, c##i##1), U_LT(c##i##1, zero));
#define UK_STORE(i) U_STORE(c + (i) * ldc, c##i##0); U_STORE(c + (i) * ldc + UW, c##i##1);
GEMM_ALWAYS_INLINE void FG_CAT2(UFN, FG_CAT2(rows, UK_R))(int64_t kc, const UT *FG_RESTRICT a, int64_t rsa, int64_t csa,
                                           const UT *FG_RESTRICT b, int64_t rsb, UT *FG_RESTRICT c,
                                           int64_t ldc, const UT *FG_RESTRICT bias, UT beta, int first,
                                           int last_act, UT alpha)
{
    UK_ROWS(UK_PREFETCH_C)
    UK_ROWS(UK_DECL)
    UK_UNROLL
    for (int64_t p = 0; p < kc; p++) {
        const UV b0 = U_LOAD(b), b1 = U_LOAD(b + UW);
        UK_ROWS(UK_FMA)
        a += csa;
        b += rsb;
    }
    if (first) {
        if (bias) {
            const UV v0 = U_LOAD(bias), v1 = U_LOAD(bias + UW);
            UK_ROWS(UK_BIAS)
        }
        if (beta != 0) {
            const UV vb = U_SET1(beta);
            UK_ROWS(UK_BETA)
        }
    } else {
        UK_ROWS(UK_ACCUM)
    }
    if (last_act == FG_ACT_RELU) {
        const UV zero = U_ZERO();
        UK_ROWS(UK_RELU)
    } else if (last_act == FG_ACT_LEAKY_RELU) {
        const UV zero = U_ZERO(), va = U_SET1(alpha);
        UK_ROWS(UK_LEAKY)
    }
    UK_ROWS(UK_STORE)
}

#undef UK_PREFETCH_C
#undef UK_DECL
#undef UK_FMA
#undef UK_BIAS
#undef UK_BETA
#undef UK_ACCUM
#undef UK_RELU
#undef UK_LEAKY
#undef UK_STORE
