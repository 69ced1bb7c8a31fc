/* Included by gemm.c once per element type T (suffix SFX) with the block sizes
 * MR, NR, KC, MC, NC, which it undefines at its end. When the target's
 * gemm_ukernel.h defines FG_GEMM_UKERNEL, its gemm_ukernel_SFX (MR×NR) and
 * gemm_ukernel_SFX_rows (fewer rows) replace the portable micro-kernel, and
 * FG_GEMM_PACK_BT / FG_GEMM_PACK_AN its gemm_pack_bt_SFX / gemm_pack_an_SFX the
 * portable transposing packers of full panels. A target that defines
 * FG_GEMM_PACK_A_SPLAT (with SIMD) gets packed A with every element stored as a
 * full vector of VW copies (GEMM_AS of them), so that its micro-kernel loads
 * each operand of A with one plain vector load instead of a broadcast, which
 * the baseline SIMD of some architectures (SSE2) only has as a shuffle.
 * Names local to one instantiation get the suffix through GN(). */

#define GN(name) FG_CAT2(name, SFX)

#ifndef FG_GEMM_TEMPLATE_ONCE
#define FG_GEMM_TEMPLATE_ONCE
/* The activations the micro-kernels apply in registers; the others are applied by
 * fg_act_rows_* on the tile just stored, while it is in L1: in vectors for those with a
 * vector form (fg_act_has_vector), with the same libm calls on every target for the rest. */
#define GEMM_VECTOR_ACT(act) (fg_act_simd_epilogue(act) ? (act) : FG_ACT_IDENTITY)
#define GEMM_NOT_LAST (-1)
#define GEMM_ALIGN 64
FG_INLINE int64_t gemm_round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }
#endif

#if defined(FG_GEMM_PACK_A_SPLAT) && FG_SIMD
#if defined(FG_GEMM_PACK_AN) || FG_GEMM_MASKED_EDGES
#error "FG_GEMM_PACK_A_SPLAT works with the portable packers of A only"
#endif
#define GEMM_AS VW
#else
#define GEMM_AS 1
#endif

/* One argument bundle, so the drivers below read like the loop nest they are.
 * op(A)(i,p) = A[i*rsa + p*csa]; op(B)(p,j) = B[p*rsb + j*csb]. */
typedef struct GN(gemm_problem) {
    T *C;
    int64_t ldc;
    const T *A, *B;
    int64_t rsa, csa, rsb, csb;
    int64_t m, n, k;
    T beta, alpha;
    const T *bias;
    int act;
    const T *a_packed; /* all of op(A) packed (gemm_pack_a_whole), or NULL: packed block by block */
    int c_trans;       /* the problem is the caller's Cᵀ: element (i,j) at C[j*ldc + i] (gemm_c_transposed) */
} GN(gemm_problem);

#ifndef FG_GEMM_UKERNEL
/* The portable micro-kernel: C tile (MR×NR, row stride ldc) from
 * a (op(A) rows: a[i*rsa + p*csa]) and b (b[p*rsb + j], NR contiguous).
 * first: C := acc + bias + beta*C (beta == 0: C not read); otherwise
 * C := acc + C. last_act: the activation to apply, or GEMM_NOT_LAST.
 * nr: the columns of C that count: below NR on an edge tile, which on targets without
 * FG_GEMM_MASKED_EDGES is a local NR-wide copy (gemm_tile), all of whose columns are written. */
static void GN(gemm_ukernel_generic)(int64_t kc, const T *FG_RESTRICT a, int64_t rsa, int64_t csa,
                                     const T *FG_RESTRICT b, int64_t rsb, T *FG_RESTRICT c,
                                     int64_t ldc, int64_t nr, const T *FG_RESTRICT bias, T beta,
                                     int first, int last_act, T alpha)
{
    (void)nr;
    T acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = 0;
    for (int64_t p = 0; p < kc; p++) {
        const T *bp = b + p * rsb;
        for (int i = 0; i < MR; i++) {
            const T ai = a[i * rsa + p * csa];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) {
            T t = acc[i][j];
            if (first) {
                if (bias) t += bias[j];
                if (beta != 0) t += beta * c[i * ldc + j];
            } else {
                t += c[i * ldc + j];
            }
            if (last_act != GEMM_NOT_LAST) t = GN(fg_act)(t, last_act, alpha);
            c[i * ldc + j] = t;
        }
}
#define GEMM_UKERNEL GN(gemm_ukernel_generic)
#else
#define GEMM_UKERNEL GN(gemm_ukernel)
#define GEMM_UKERNEL_ROWS FG_CAT2(GN(gemm_ukernel), rows)
#endif
/* Whether an edge tile nr columns wide is exactly the SIMD kernel's first vector, which that
   kernel loads and stores alone (gemm_ukernel_simd_template.h). */
#if defined(FG_GEMM_UKERNEL) && FG_SIMD
#define GEMM_ONE_VECTOR_EDGE(nr) ((nr) == VW && NR == 2 * VW)
#else
#define GEMM_ONE_VECTOR_EDGE(nr) 0
#endif

/* One MR×NR tile of C (mr×nr of it inside C) through the micro-kernel. Edge
 * tiles run a micro-kernel of mr rows and, on FG_GEMM_MASKED_EDGES targets,
 * nr columns, or the full one on a local tile; an element's arithmetic does
 * not depend on where its tile falls. A tile of a transposed C (c_trans) goes
 * through the local tile too, transposed on its way in and out; such a problem
 * has no bias (gemm_c_transposed). */
static void GN(gemm_tile)(const GN(gemm_problem) *pb, int64_t kc, const T *a, int64_t rsa,
                          int64_t csa, const T *b, int64_t rsb, int64_t i0, int64_t j0, int64_t mr,
                          int64_t nr, int first, int last)
{
    /* element (i,j) of the tile at c[i*rsc + j*csc] */
    const int64_t rsc = pb->c_trans ? 1 : pb->ldc, csc = pb->c_trans ? pb->ldc : 1;
    T *c = pb->C + i0 * rsc + j0 * csc;
    const T *bias = (first && pb->bias) ? pb->bias + j0 : NULL;
    const int last_act = last ? GEMM_VECTOR_ACT(pb->act) : GEMM_NOT_LAST;
    /* the kernel writes C in place, or a local tile when C is transposed or the tile is
       narrower than the kernel can mask, other than one vector wide for the SIMD kernel (or
       shorter than it, without a kernel of mr rows) */
    int direct = !pb->c_trans && (FG_GEMM_MASKED_EDGES || nr == NR || GEMM_ONE_VECTOR_EDGE(nr));
#ifndef GEMM_UKERNEL_ROWS
    direct = direct && mr == MR;
#endif
    T tile[MR * NR], bias_tile[NR];
    T *dst = c;
    int64_t ldd = pb->ldc;
    const T *bias_dst = bias;
    if (!direct) {
        const int read_c = !first || pb->beta != 0;
        for (int64_t i = 0; i < MR; i++)
            for (int64_t j = 0; j < NR; j++)
                tile[i * NR + j] = (read_c && i < mr && j < nr) ? c[i * rsc + j * csc] : 0;
        if (bias) {
            for (int64_t j = 0; j < NR; j++) bias_tile[j] = j < nr ? bias[j] : 0;
            bias_dst = bias_tile;
        }
        dst = tile;
        ldd = NR;
    }
#ifdef GEMM_UKERNEL_ROWS
    if (mr < MR) /* the last rows of C: a kernel of exactly mr rows */
        GEMM_UKERNEL_ROWS((int)mr, kc, a, rsa, csa, b, rsb, dst, ldd, nr, bias_dst, pb->beta, first, last_act,
                          pb->alpha);
    else
#endif
        GEMM_UKERNEL(kc, a, rsa, csa, b, rsb, dst, ldd, nr, bias_dst, pb->beta, first, last_act, pb->alpha);
    if (!direct)
        for (int64_t i = 0; i < mr; i++)
            for (int64_t j = 0; j < nr; j++) c[i * rsc + j * csc] = tile[i * NR + j];
    if (last && pb->act != GEMM_VECTOR_ACT(pb->act)) {
        /* the caller's rows that the tile covers */
        const int64_t rows = pb->c_trans ? nr : mr, cols = pb->c_trans ? mr : nr;
        for (int64_t r = 0; r < rows; r++)
            GN(fg_act_rows)(c + r * pb->ldc, c + r * pb->ldc, cols, pb->act, pb->alpha);
    }
}

/* The k blocking (fg_gemm_k_step). */
FG_INLINE int64_t GN(gemm_kc)(int64_t k) { return fg_gemm_k_step(k, KC); }

/* Pack op(B)(pc:pc+kc, jc:jc+nc) into KC×NR micro-panels: panel q holds
 * columns jc+q*NR.., row p at bp[q*NR*kc + p*NR], zero-padded past nc. */
static void GN(gemm_pack_b)(T *FG_RESTRICT bp, const GN(gemm_problem) *pb, int64_t pc, int64_t kc,
                            int64_t jc, int64_t nc)
{
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        const int64_t nr = fg_min_i64(NR, nc - j0);
        const T *src = pb->B + pc * pb->rsb + (jc + j0) * pb->csb;
        T *dst = bp + j0 * kc;
        if (pb->csb == 1 && nr == NR) {
#if FG_SIMD && NR % VW == 0
            /* Whole vectors: written as an element loop, the compiler turns each row into a
               call to memcpy, which for one or two cache lines costs more than the copy. */
            for (int64_t p = 0; p < kc; p++)
                for (int j = 0; j < NR; j += VW) V_STORE(dst + p * NR + j, V_LOAD(src + p * pb->rsb + j));
#else
            for (int64_t p = 0; p < kc; p++)
                for (int j = 0; j < NR; j++) dst[p * NR + j] = src[p * pb->rsb + j];
#endif
        } else if (pb->csb == 1) {
            for (int64_t p = 0; p < kc; p++)
                for (int64_t j = 0; j < NR; j++) dst[p * NR + j] = j < nr ? src[p * pb->rsb + j] : 0;
#ifdef FG_GEMM_PACK_BT
        } else if (nr == NR) {
            GN(gemm_pack_bt)(dst, src, pb->csb, kc);
#endif
        } else {
            /* op(B) = Bᵀ: column j of op(B) is a contiguous row of B. */
            for (int64_t j = 0; j < NR; j++) {
                if (j < nr) {
                    const T *col = src + j * pb->csb;
                    for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = col[p];
                } else {
                    for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = 0;
                }
            }
        }
    }
}

#if FG_SIMD && FG_GEMM_MASKED_EDGES && MR <= 2 * VW
/* dst[p*MR + i] = src[p*ld + i] for i < MR, p < kc (a full panel of op(A) = Aᵀ): one or two
 * masked vectors per column, on targets whose masked loads and stores are cheap. */
static void GN(gemm_pack_at_masked)(T *FG_RESTRICT dst, const T *FG_RESTRICT src, int64_t ld, int64_t kc)
{
    const VMASK m0 = V_FIRST(MR < VW ? MR : VW), m1 = V_FIRST(MR > VW ? MR - VW : 0);
    for (int64_t p = 0; p < kc; p++) {
        V_STORE_FIRST(dst + p * MR, m0, V_LOAD_FIRST(src + p * ld, m0));
        if (MR > VW) V_STORE_FIRST(dst + p * MR + VW, m1, V_LOAD_FIRST(src + p * ld + VW, m1));
    }
}
#define GEMM_PACK_AT_MASKED 1
#endif

/* Element e of a packed panel of A: GEMM_AS copies from dst[e*GEMM_AS] on. */
FG_INLINE void GN(gemm_put_a)(T *FG_RESTRICT dst, int64_t e, T x)
{
#if GEMM_AS > 1
    V_STORE(dst + e * GEMM_AS, V_SET1(x));
#else
    dst[e] = x;
#endif
}

/* A full panel of op(A) (MR rows, kc columns; column p from src[i*rs + p*cs]) in plain C: with one
 * of the strides the constant 1 it is the packing of op(A) = Aᵀ or op(A) = A on the targets that
 * have no vector packer for it. */
FG_INLINE void GN(gemm_pack_a_full)(T *FG_RESTRICT dst, const T *FG_RESTRICT src, int64_t rs, int64_t cs,
                                    int64_t kc)
{
    for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < MR; i++) GN(gemm_put_a)(dst, p * MR + i, src[i * rs + p * cs]);
}
#ifdef GEMM_PACK_AT_MASKED
#define GEMM_PACK_AT(dst, src, csa, kc) GN(gemm_pack_at_masked)(dst, src, csa, kc)
#else
#define GEMM_PACK_AT(dst, src, csa, kc) GN(gemm_pack_a_full)(dst, src, 1, csa, kc)
#endif
#ifdef FG_GEMM_PACK_AN
#define GEMM_PACK_AN(dst, src, rsa, kc) GN(gemm_pack_an)(dst, src, rsa, kc)
#else
#define GEMM_PACK_AN(dst, src, rsa, kc) GN(gemm_pack_a_full)(dst, src, rsa, 1, kc)
#endif

/* Pack op(A)(ic:ic+mc, pc:pc+kc) into MR×KC micro-panels: panel q holds rows
 * ic+q*MR.., column p at ap[(q*MR*kc + p*MR) * GEMM_AS], zero-padded past mc. */
static void GN(gemm_pack_a)(T *FG_RESTRICT ap, const T *A, int64_t rsa, int64_t csa, int64_t ic,
                            int64_t mc, int64_t pc, int64_t kc)
{
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        const int64_t mr = fg_min_i64(MR, mc - i0);
        const T *src = A + (ic + i0) * rsa + pc * csa;
        T *dst = ap + i0 * kc * GEMM_AS;
        if (rsa == 1 && mr == MR) {
            /* op(A) = Aᵀ: MR consecutive elements of a row of A per column p. */
            GEMM_PACK_AT(dst, src, csa, kc);
        } else if (csa == 1 && mr == MR) {
            /* op(A) = A: MR row streams read in step, MR contiguous stores per column p. */
            GEMM_PACK_AN(dst, src, rsa, kc);
        } else {
            for (int64_t i = 0; i < MR; i++) {
                if (i < mr) {
                    const T *row = src + i * rsa;
                    for (int64_t p = 0; p < kc; p++) GN(gemm_put_a)(dst, p * MR + i, row[p * csa]);
                } else {
                    for (int64_t p = 0; p < kc; p++) GN(gemm_put_a)(dst, p * MR + i, 0);
                }
            }
        }
    }
}

/* Whether gemm_packed_rows reads op(A)'s full MR×KC micro-panels in place rather than
 * packing them: on targets that choose it (FG_GEMM_PACKED_A_IN_PLACE), when op(A) = A (each
 * row of a panel a contiguous run of A's row) and A's rows do not lie a multiple of 4 KiB
 * apart: MR rows that do share one set of L1, more than its ways, once a k block is shorter
 * than a row. The micro-kernel does the same arithmetic on A in place as on A packed. */
FG_INLINE int GN(gemm_packed_a_in_place)(const GN(gemm_problem) *pb)
{
    return FG_GEMM_PACKED_A_IN_PLACE && !pb->a_packed && pb->csa == 1 &&
           (pb->rsa * (int64_t)sizeof(T)) % 4096 != 0;
}

/* Rows m0:m1 of C, on thread `part` of `parts`. The KC×NC block of B is
 * packed once into the shared bp, each thread packing a contiguous share of
 * its micro-panels, with barriers around its use; each thread packs its own
 * MC×KC blocks of A into ap (or, gemm_packed_a_in_place, only the last rows of
 * its block that fill no whole micro-panel). Every thread runs the same jc/pc
 * loops, so all reach the same barriers. */
static void GN(gemm_packed_rows)(const GN(gemm_problem) *pb, int64_t m0, int64_t m1, T *ap, T *bp, int part,
                                 int parts)
{
    const int64_t kstep = GN(gemm_kc)(pb->k);
    const int a_in_place = GN(gemm_packed_a_in_place)(pb);
    for (int64_t jc = 0; jc < pb->n; jc += NC) {
        const int64_t nc = fg_min_i64(NC, pb->n - jc);
        for (int64_t pc = 0; pc < pb->k; pc += kstep) {
            const int64_t kc = fg_min_i64(kstep, pb->k - pc);
            const int first = pc == 0, last = pc + kc == pb->k;
            int64_t j0, j1;
            fg_split_range(nc, parts, part, NR, &j0, &j1);
            if (j0 < j1) GN(gemm_pack_b)(bp + j0 * kc, pb, pc, kc, jc + j0, j1 - j0);
#ifdef _OPENMP
#pragma omp barrier
#endif
            for (int64_t ic = m0; ic < m1; ic += MC) {
                const int64_t mc = fg_min_i64(MC, m1 - ic), mc_full = a_in_place ? mc / MR * MR : 0;
                const T *a = ap;
                if (pb->a_packed) a = pb->a_packed + (pc * gemm_round_up(pb->m, MR) + ic * kc) * GEMM_AS;
                else GN(gemm_pack_a)(ap, pb->A, pb->rsa, pb->csa, ic + mc_full, mc - mc_full, pc, kc);
#if FG_GEMM_A_PANEL_IN_L1
                /* A's micro-panel stays in L1 while B's stream from L2 (the broadcast
                 * operand resident, as BLIS keeps it: the vector operand is the larger). */
                for (int64_t ir = 0; ir < mc; ir += MR)
                    for (int64_t jr = 0; jr < nc; jr += NR)
#else
                /* B's micro-panel stays in L1 while A's stream from L2. */
                for (int64_t jr = 0; jr < nc; jr += NR)
                    for (int64_t ir = 0; ir < mc; ir += MR)
#endif
                        if (ir < mc_full)
                            GN(gemm_tile)(pb, kc, pb->A + (ic + ir) * pb->rsa + pc, pb->rsa, 1, bp + jr * kc, NR,
                                          ic + ir, jc + jr, MR, fg_min_i64(NR, nc - jr), first, last);
                        else
                            GN(gemm_tile)(pb, kc, a + (ir - mc_full) * kc * GEMM_AS, GEMM_AS, MR * GEMM_AS,
                                          bp + jr * kc, NR, ic + ir, jc + jr, fg_min_i64(MR, mc - ir),
                                          fg_min_i64(NR, nc - jr), first, last);
            }
#ifdef _OPENMP
#pragma omp barrier
#endif
        }
    }
}

/* Whether gemm_direct_region reads B's full KC×NR panels in place rather than
 * copying them: on targets that choose it (FG_GEMM_DIRECT_B_IN_PLACE), when
 * op(B) = B (NR contiguous elements per row) and B's rows do not lie a multiple
 * of 4 KiB apart. Rows that do share a few sets of L1 and L2, fewer than a
 * panel's rows need, and run slower in place than copied. */
FG_INLINE int GN(gemm_direct_b_in_place)(const GN(gemm_problem) *pb)
{
    return FG_GEMM_DIRECT_B_IN_PLACE && pb->csb == 1 && (pb->rsb * (int64_t)sizeof(T)) % 4096 != 0;
}

/* C(m0:m1, n0:n1) without packing A (small problems): A is read in place, its
 * last rows (fewer than MR) too where a kernel of that many rows reads A's
 * elements as they lie (GEMM_UKERNEL_ROWS, with A broadcast rather than splat),
 * elsewhere through a small panel packed once per k block. A KC×NR panel of B
 * is either read in place (gemm_direct_b_in_place) or copied to the stack one
 * at a time: read in place, B's rows (often a power of two apart) can fall into
 * a few L1 sets. The micro-kernel's arithmetic is the same either way. */
static void GN(gemm_direct_region)(const GN(gemm_problem) *pb, int64_t m0, int64_t m1, int64_t n0,
                                   int64_t n1)
{
    const int64_t kstep = GN(gemm_kc)(pb->k);
#if defined(GEMM_UKERNEL_ROWS) && GEMM_AS == 1
    const int64_t m_full = m1;
#else
    const int64_t m_full = m0 + (m1 - m0) / MR * MR;
#endif
    const int b_in_place = GN(gemm_direct_b_in_place)(pb);
    T bpanel[KC * NR], apanel[KC * MR * GEMM_AS];
    for (int64_t pc = 0; pc < pb->k; pc += kstep) {
        const int64_t kc = fg_min_i64(kstep, pb->k - pc);
        const int first = pc == 0, last = pc + kc == pb->k;
        if (m_full < m1) GN(gemm_pack_a)(apanel, pb->A, pb->rsa, pb->csa, m_full, m1 - m_full, pc, kc);
        for (int64_t j0 = n0; j0 < n1; j0 += NR) {
            const int64_t nr = fg_min_i64(NR, n1 - j0);
            const T *b = bpanel;
            int64_t rsb = NR;
            if (b_in_place && nr == NR) {
                b = pb->B + pc * pb->rsb + j0;
                rsb = pb->rsb;
            } else {
                GN(gemm_pack_b)(bpanel, pb, pc, kc, j0, nr);
            }
            for (int64_t i0 = m0; i0 < m_full; i0 += MR)
                GN(gemm_tile)(pb, kc, pb->A + i0 * pb->rsa + pc * pb->csa, pb->rsa, pb->csa, b, rsb, i0, j0,
                              fg_min_i64(MR, m_full - i0), nr, first, last);
            if (m_full < m1)
                GN(gemm_tile)(pb, kc, apanel, GEMM_AS, MR * GEMM_AS, b, rsb, m_full, j0, m1 - m_full, nr, first,
                              last);
        }
    }
}

/* Bytes of the shared packed block of B, and of one thread's block of A (the
 * same formulas on every target). */
static int64_t GN(gemm_b_bytes)(int64_t n, int64_t k)
{
    return gemm_round_up(gemm_round_up(fg_min_i64(NC, n), NR) * fg_min_i64(KC, k) * (int64_t)sizeof(T), GEMM_ALIGN);
}

static int64_t GN(gemm_a_bytes)(int64_t m, int64_t k)
{
    return gemm_round_up(gemm_round_up(fg_min_i64(MC, m), MR) * fg_min_i64(KC, k) * GEMM_AS * (int64_t)sizeof(T),
                         GEMM_ALIGN);
}

FG_INLINE int GN(gemm_is_direct)(int64_t m, int64_t n)
{
    return m <= FG_GEMM_DIRECT_MAX_M || n <= FG_GEMM_DIRECT_MAX_N;
}

/* Whether the unpacked path computes Cᵀ = op(B)ᵀ·A instead of C = Aᵀ·op(B): for a narrow C
 * (n below NR, such as the weight gradient hᵀ·g of a 10-class output layer) whose n columns
 * fill less of their vectors than its m rows would. op(A) = Aᵀ then has A as the operand read
 * in vectors, contiguous along m and read in place, and op(B)'s few columns are broadcast:
 * every FMA uses all its lanes. The tiles go through a local copy, transposed on the way out,
 * which a k of at least NR keeps small beside the product. Not with a bias: it would run
 * along the micro-kernel's rows. Every tile of C takes the same orientation, chosen by the
 * shape only, so results stay independent of the thread count. */
FG_INLINE int GN(gemm_c_transposed)(int64_t m, int64_t n, int64_t k, int trans_a, const T *bias)
{
#if FG_SIMD
    return trans_a && !bias && n < NR && k >= NR && n * gemm_round_up(m, VW) < m * gemm_round_up(n, VW);
#else
    (void)m, (void)n, (void)k, (void)trans_a, (void)bias;
    return 0;
#endif
}

int64_t FG_FN(FG_CAT2(fg_gemm_workspace_size, SFX))(int64_t m, int64_t n, int64_t k, int trans_a,
                                                    int trans_b, int num_threads)
{
    (void)trans_a;
    (void)trans_b;
    if (m <= 0 || n <= 0 || k <= 0 || GN(gemm_is_direct)(m, n)) return 0;
    if (num_threads < 1) num_threads = 1;
    return GN(gemm_b_bytes)(n, k) + num_threads * GN(gemm_a_bytes)(m, k);
}

void FG_FN(FG_CAT2(fg_gemm_block_sizes, SFX))(int64_t *sizes)
{
    sizes[0] = MR;
    sizes[1] = NR;
    sizes[2] = KC;
    sizes[3] = MC;
    sizes[4] = NC;
}

/* C := act(beta*C + bias) when k == 0 (the product is empty). */
static void GN(gemm_no_k)(const GN(gemm_problem) *pb)
{
    for (int64_t i = 0; i < pb->m; i++) {
        T *c = pb->C + i * pb->ldc;
        for (int64_t j = 0; j < pb->n; j++) {
            T t = pb->bias ? pb->bias[j] : 0;
            if (pb->beta != 0) t += pb->beta * c[j];
            c[j] = t;
        }
        GN(fg_act_rows)(c, c, pb->n, pb->act, pb->alpha);
    }
}

/* Thread `part` of `parts`: its share of C's rows (split_rows) or columns, packed into the
 * workspace (B shared at its start, then one A block per thread) or direct. */
static void GN(gemm_part)(const GN(gemm_problem) *pb, int direct, int split_rows, void *workspace, int64_t b_bytes,
                          int64_t a_bytes, int part, int parts)
{
    int64_t m0 = 0, m1 = pb->m, n0 = 0, n1 = pb->n;
    if (split_rows) fg_split_range(pb->m, parts, part, MR, &m0, &m1);
    else fg_split_range(pb->n, parts, part, NR, &n0, &n1);
    if (!direct) {
        T *bp = (T *)workspace;
        T *ap = (T *)((char *)workspace + b_bytes + (int64_t)part * a_bytes);
        GN(gemm_packed_rows)(pb, m0, m1, ap, bp, part, parts);
    } else if (m0 < m1 && n0 < n1) {
        GN(gemm_direct_region)(pb, m0, m1, n0, n1);
    }
}

/* All of op(A)(m,k) in the MR×kc micro-panels the packed path reads: k block pc (of width kc,
 * gemm_kc's blocking) at element pc*round_up(m, MR), its rows in panels of MR as gemm_pack_a
 * lays them out. A block of MC rows from row ic (a multiple of MR, since MC is) is then the
 * contiguous range from (pc*round_up(m, MR) + ic*kc), byte for byte what gemm_pack_a writes. */
#if MC % MR != 0
#error "gemm_pack_a_whole needs MC to be a multiple of MR"
#endif

int64_t FG_FN(FG_CAT2(fg_gemm_packed_a_size, SFX))(int64_t m, int64_t n, int64_t k)
{
    if (m <= 0 || n <= 0 || k <= 0 || GN(gemm_is_direct)(m, n)) return 0;
    return gemm_round_up(m, MR) * k * GEMM_AS * (int64_t)sizeof(T);
}

int64_t FG_FN(FG_CAT2(fg_gemm_packed_a_layout, SFX))(void)
{
    /* this target's own packer: no two targets or element types share it */
    return (int64_t)(intptr_t)&FG_FN(FG_CAT2(fg_gemm_pack_a_whole, SFX));
}

int64_t FG_FN(FG_CAT2(fg_gemm_pack_a_whole, SFX))(T *packed, int64_t packed_bytes, const T *A, int64_t lda,
                                                  int trans_a, int64_t m, int64_t n, int64_t k)
{
    const int64_t need = FG_FN(FG_CAT2(fg_gemm_packed_a_size, SFX))(m, n, k);
    if (need == 0 || packed_bytes < need) return 0;
    const int64_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
    const int64_t kstep = GN(gemm_kc)(k), m_pad = gemm_round_up(m, MR);
    for (int64_t pc = 0; pc < k; pc += kstep)
        GN(gemm_pack_a)(packed + pc * m_pad * GEMM_AS, A, rsa, csa, 0, m, pc, fg_min_i64(kstep, k - pc));
    return FG_FN(FG_CAT2(fg_gemm_packed_a_layout, SFX))();
}

void FG_FN(FG_CAT2(fg_gemm_prepacked, SFX))(T *C, int64_t ldc, const T *A, int64_t lda, int trans_a,
                                            const T *a_packed, const T *B, int64_t ldb, int trans_b, int64_t m,
                                            int64_t n, int64_t k, double beta, const T *bias, int act,
                                            double act_alpha, void *workspace, int64_t workspace_bytes)
{
    if (m <= 0 || n <= 0) return;
    GN(gemm_problem) pb;
    pb.a_packed = a_packed;
    pb.C = C;
    pb.ldc = ldc;
    pb.A = A;
    pb.B = B;
    pb.rsa = trans_a ? 1 : lda;
    pb.csa = trans_a ? lda : 1;
    pb.rsb = trans_b ? 1 : ldb;
    pb.csb = trans_b ? ldb : 1;
    pb.m = m;
    pb.n = n;
    pb.k = k;
    pb.beta = (T)beta;
    pb.alpha = (T)act_alpha;
    pb.bias = bias;
    pb.act = (act >= 0 && act < FG_ACT_COUNT) ? act : FG_ACT_IDENTITY;
    pb.c_trans = 0;
    if (k <= 0) {
        GN(gemm_no_k)(&pb);
        return;
    }
    int direct = GN(gemm_is_direct)(m, n);
    if (direct && GN(gemm_c_transposed)(m, n, k, trans_a, bias)) {
        /* Cᵀ(n,m) = op(B)ᵀ·op(A)ᵀ: the operands trade places, a row stride becoming a column stride */
        const int64_t rsa = pb.rsa, csa = pb.csa;
        pb.c_trans = 1;
        pb.A = B;
        pb.B = A;
        pb.rsa = pb.csb;
        pb.csa = pb.rsb;
        pb.rsb = csa;
        pb.csb = rsa;
        pb.m = n;
        pb.n = m;
        m = pb.m;
        n = pb.n;
    }

    const int64_t tiles_m = (m + MR - 1) / MR, tiles_n = (n + NR - 1) / NR;
    /* The packed path splits rows (it has m > FG_GEMM_DIRECT_MAX_M) and shares
     * B; the small path splits the dimension with more micro-tiles. */
    const int split_rows = !direct || tiles_m >= tiles_n;
    int nt = fg_threads_for(m * n * k, GEMM_GRAIN);
    if (nt > (split_rows ? tiles_m : tiles_n)) nt = (int)(split_rows ? tiles_m : tiles_n);
    const int64_t b_bytes = GN(gemm_b_bytes)(n, k), a_bytes = GN(gemm_a_bytes)(m, k);
    if (!direct) {
        const int64_t room = (workspace && workspace_bytes >= b_bytes) ? (workspace_bytes - b_bytes) / a_bytes : 0;
        if (room < 1) direct = 1; /* no room to pack: correct, slower */
        else if (room < nt) nt = (int)room;
    }
    if (nt <= 1) {
        /* no parallel region: libgomp allocates a team even for one whose if clause is false
           (~1 µs, several per training step); the packed path's barriers then bind to no team */
        GN(gemm_part)(&pb, direct, split_rows, workspace, b_bytes, a_bytes, 0, 1);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    GN(gemm_part)(&pb, direct, split_rows, workspace, b_bytes, a_bytes, FG_THREAD_ID(), FG_THREAD_COUNT());
}

void FG_FN(FG_CAT2(fg_gemm, SFX))(T *C, int64_t ldc, const T *A, int64_t lda, int trans_a, const T *B,
                                  int64_t ldb, int trans_b, int64_t m, int64_t n, int64_t k, double beta,
                                  const T *bias, int act, double act_alpha, void *workspace,
                                  int64_t workspace_bytes)
{
    FG_FN(FG_CAT2(fg_gemm_prepacked, SFX))(C, ldc, A, lda, trans_a, NULL, B, ldb, trans_b, m, n, k, beta, bias, act,
                                           act_alpha, workspace, workspace_bytes);
}

#undef GEMM_UKERNEL
#undef GEMM_UKERNEL_ROWS
#undef GEMM_PACK_AT_MASKED
#undef GEMM_PACK_AT
#undef GEMM_PACK_AN
#undef GEMM_AS
#undef GEMM_ONE_VECTOR_EDGE
#undef GN
#undef T
#undef SFX
#undef MR
#undef NR
#undef KC
#undef MC
#undef NC
