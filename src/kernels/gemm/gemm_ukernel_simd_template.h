/* Body of one SIMD micro-kernel of UK_R rows (listed by UK_ROWS(X)) × 2 vectors, in the target's
 * vocabulary (fg_simd.h), included by gemm_ukernel_simd_type.h per element type and row count. The
 * accumulators are separate variables (not an array) so the compiler keeps every one in a
 * register. The full kernel has UK_MR rows; fewer rows serve the last rows of C without
 * computing padding. On targets with FG_GEMM_MASKED_EDGES the loads and stores of C and bias
 * touch only the first nr columns (an edge tile costs no copy); elsewhere an edge tile of exactly
 * one vector's columns (100 = 12·8 + 4 doubles on AVX2) touches only its first vector, in C,
 * and any other edge tile is an NR-wide copy (gemm_tile) and nr says how many of its columns
 * count. Either way a tile of at most one vector's columns (an output layer of 10 classes, a
 * regression's single output) runs a k loop over the first vector only: half the FMAs and one
 * load of B per step instead of two. Its second accumulators stay zero, and each element gets
 * the same FMAs in the same order as in the two-vector loop. */

/* Row i of the tile's A at step p: rows from UK_A_SPLIT on are addressed from a second pointer,
 * so that with A read in place (rsa a run-time row stride) the addresses need a few multiples
 * of rsa rather than one register per row, which spilled. */
#define UK_A_SPLIT 7
#define UK_A_ROW(i) ((i) < UK_A_SPLIT ? a + (i) * rsa : a_hi + ((i) - UK_A_SPLIT) * rsa)
/* The tile's rows of C are needed after the k loop: start fetching them now. */
#define UK_PREFETCH_C(i) fgv_prefetch(c + (i) * ldc); fgv_prefetch(c + (i) * ldc + 2 * VW - 1);
#define UK_DECL(i) VEC c##i##0 = V_ZERO(), c##i##1 = V_ZERO();
#define UK_FMA(i)                                                                      \
    {                                                                                  \
        const VEC ai = UK_LOAD_A(UK_A_ROW(i));                                           \
        c##i##0 = V_FMA(ai, b0, c##i##0);                                              \
        c##i##1 = V_FMA(ai, b1, c##i##1);                                              \
    }
#define UK_FMA_FIRST(i) c##i##0 = V_FMA(UK_LOAD_A(UK_A_ROW(i)), b0, c##i##0);
#define UK_BIAS(i) c##i##0 = V_ADD(c##i##0, v0); c##i##1 = V_ADD(c##i##1, v1);
#define UK_BETA(i)                                                                     \
    c##i##0 = V_FMA(vb, UK_LOAD_C(c + (i) * ldc, 0), c##i##0);                         \
    c##i##1 = V_FMA(vb, UK_LOAD_C(c + (i) * ldc + VW, 1), c##i##1);
#define UK_ACCUM(i)                                                                    \
    c##i##0 = V_ADD(c##i##0, UK_LOAD_C(c + (i) * ldc, 0));                             \
    c##i##1 = V_ADD(c##i##1, UK_LOAD_C(c + (i) * ldc + VW, 1));
/* max(0, x) returns x when x is NaN, like the scalar (x < 0 ? 0 : x). */
#define UK_RELU(i) c##i##0 = V_MAX(zero, c##i##0); c##i##1 = V_MAX(zero, c##i##1);
#define UK_LEAKY(i)                                                                    \
    c##i##0 = V_BLEND(c##i##0, V_MUL(va, c##i##0), V_LT(c##i##0, zero));               \
    c##i##1 = V_BLEND(c##i##1, V_MUL(va, c##i##1), V_LT(c##i##1, zero));
#define UK_STORE(i) UK_STORE_C(c + (i) * ldc, 0, c##i##0); UK_STORE_C(c + (i) * ldc + VW, 1, c##i##1);
GEMM_ALWAYS_INLINE void FG_CAT2(UK_NAME, FG_CAT2(rows, UK_R))(UK_ARGS_DECL)
{
    UK_ROWS(UK_PREFETCH_C)
    UK_ROWS(UK_DECL)
    const T *a_hi = a + (UK_R > UK_A_SPLIT ? UK_A_SPLIT : 0) * rsa;
    if (nr <= VW) {
        UK_UNROLL
        for (int64_t p = 0; p < kc; p++) {
            const VEC b0 = V_LOAD(b);
            UK_ROWS(UK_FMA_FIRST)
            a += csa;
            a_hi += csa;
            b += rsb;
        }
    } else {
        UK_UNROLL
        for (int64_t p = 0; p < kc; p++) {
            const VEC b0 = V_LOAD(b), b1 = V_LOAD(b + VW);
            UK_ROWS(UK_FMA)
            a += csa;
            a_hi += csa;
            b += rsb;
        }
    }
#if FG_GEMM_MASKED_EDGES
    const VMASK mask0 = V_FIRST(nr < VW ? nr : VW), mask1 = V_FIRST(nr > VW ? nr - VW : 0);
#define UK_LOAD_C(p, h) V_LOAD_FIRST(p, mask##h)
#define UK_STORE_C(p, h, v) V_STORE_FIRST(p, mask##h, v)
#else
    /* a tile of exactly one vector's columns is C itself (gemm_tile): its second half is not there */
    const int half1 = nr > VW;
#define UK_LOAD_C(p, h) ((h) == 0 || half1 ? V_LOAD(p) : V_ZERO())
#define UK_STORE_C(p, h, v) do { if ((h) == 0 || half1) V_STORE(p, v); } while (0)
#endif
    if (first) {
        if (bias) {
            const VEC v0 = UK_LOAD_C(bias, 0), v1 = UK_LOAD_C(bias + VW, 1);
            UK_ROWS(UK_BIAS)
        }
        if (beta != 0) {
            const VEC vb = V_SET1(beta);
            UK_ROWS(UK_BETA)
        }
    } else {
        UK_ROWS(UK_ACCUM)
    }
    if (last_act == FG_ACT_RELU) {
        const VEC zero = V_ZERO();
        UK_ROWS(UK_RELU)
    } else if (last_act == FG_ACT_LEAKY_RELU) {
        const VEC zero = V_ZERO(), va = V_SET1(alpha);
        UK_ROWS(UK_LEAKY)
    }
    UK_ROWS(UK_STORE)
#undef UK_LOAD_C
#undef UK_STORE_C
}

#undef UK_A_SPLIT
#undef UK_A_ROW
#undef UK_PREFETCH_C
#undef UK_DECL
#undef UK_FMA
#undef UK_FMA_FIRST
#undef UK_BIAS
#undef UK_BETA
#undef UK_ACCUM
#undef UK_RELU
#undef UK_LEAKY
#undef UK_STORE
