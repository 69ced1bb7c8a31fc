/* Included by loss.c (targets with SIMD) once per element type T (suffix SFX): the row
 * primitives of the loss kernels in the target's SIMD vocabulary (fg_simd.h). Every row length
 * works (the tail is a masked vector). Undefines T and SFX at its end for the next type. */

/* max_j z_j; lanes past the row end read as -inf. */
static T FG_CAT2(row_max_simd, SFX)(const T *FG_RESTRICT z, int64_t c)
{
    const VEC neg_inf = V_SET1(-INFINITY);
    VEC vm = neg_inf;
    int64_t j = 0;
    for (; j + VW <= c; j += VW) vm = V_MAX(vm, V_LOAD(z + j));
    if (j < c) {
        const VMASK mask = V_FIRST(c - j);
        vm = V_MAX(vm, V_BLEND(neg_inf, V_LOAD_FIRST(z + j, mask), mask));
    }
    return V_HMAX(vm);
}

/* See row_exp_sum in loss_template.h: e_j = exp(z_j - m), returns the sum of the e_j != 1 and
 * counts the others in *ones. */
static T FG_CAT2(row_exp_sum_simd, SFX)(T *FG_RESTRICT e, const T *FG_RESTRICT z, int64_t c, T m,
                                        double *ones)
{
    const VEC vm = V_SET1(m), one = V_SET1((T)1), neg_inf = V_SET1(-INFINITY);
    VEC acc = V_ZERO(), cnt = V_ZERO();
    int64_t j = 0;
    for (; j + VW <= c; j += VW) {
        const VEC v = V_EXP(V_SUB(V_LOAD(z + j), vm));
        if (e) V_STORE(e + j, v);
        const VMASK is_one = V_EQ(v, one);
        acc = V_ADD(acc, V_BLEND(v, V_ZERO(), is_one));
        cnt = V_ADD(cnt, V_MASKZ(is_one, one));
    }
    if (j < c) {
        const VMASK mask = V_FIRST(c - j);
        const VEC x = V_BLEND(neg_inf, V_SUB(V_LOAD_FIRST(z + j, mask), vm), mask);
        const VEC v = V_EXP(x); /* exp(-inf) = 0 in the lanes past the end */
        if (e) V_STORE_FIRST(e + j, mask, v);
        const VMASK is_one = V_EQ(v, one);
        acc = V_ADD(acc, V_BLEND(v, V_ZERO(), is_one));
        cnt = V_ADD(cnt, V_MASKZ(is_one, one));
    }
    *ones = (double)V_HSUM(cnt);
    return V_HSUM(acc);
}

/* One vector of an elementwise loss with a vector form (fg_loss_vector_form): returns the per-lane
 * losses, writes k * dl/dp to *grad. */
FG_INLINE VEC FG_CAT2(elementwise_vec_simd, SFX)(VEC p, VEC t, int kind, VEC delta, VEC k, VEC *grad)
{
    const VEC zero = V_ZERO(), one = V_SET1((T)1), half = V_SET1((T)0.5);
    const VEC sign_bit = V_SET1((T)-0.0);
    if (kind == FG_LOSS_BCE) {
        const VEC e = V_EXP(V_SUB(zero, V_ANDNOT(sign_bit, p))); /* exp(-|z|) */
        const VEC l = V_ADD(V_SUB(V_MAX(p, zero), V_MUL(p, t)), V_LOG1P_UNIT(e));
        const VEC r = V_DIV(one, V_ADD(one, e));
        const VEC sig = V_BLEND(V_MUL(e, r), r, V_GE(p, zero));
        *grad = V_MUL(k, V_SUB(sig, t));
        return l;
    }
    if (kind == FG_LOSS_POISSON) {
        const VEC e = V_EXP(p);
        *grad = V_MUL(k, V_SUB(e, t));
        return V_SUB(e, V_MUL(t, p));
    }
    const VEC d = V_SUB(p, t);
    const VEC ad = V_ANDNOT(sign_bit, d);
    if (kind == FG_LOSS_MSE) {
        *grad = V_MUL(V_ADD(k, k), d);
        return V_MUL(d, d);
    }
    if (kind == FG_LOSS_MAE) {
        /* sign(d) * k, 0 at d == 0 */
        const VEC signed_k = V_XOR(V_AND(sign_bit, d), k);
        *grad = V_MASKZ(V_NEQ(d, zero), signed_k);
        return ad;
    }
    if (kind != FG_LOSS_HUBER) { /* not reached: row_elementwise_simd checks the registry */
        *grad = V_SET1((T)NAN);
        return *grad;
    }
    const VEC quad = V_MUL(half, V_MUL(d, d));
    const VEC lin = V_MUL(delta, V_SUB(ad, V_MUL(half, delta)));
    *grad = V_MUL(k, V_MAX(V_SUB(zero, delta), V_MIN(delta, d)));
    return V_BLEND(lin, quad, V_LE(ad, delta));
}

static double FG_CAT2(row_elementwise_scalar, SFX)(T *FG_RESTRICT g, const T *FG_RESTRICT p,
                                                   const T *FG_RESTRICT t, int64_t c, int kind,
                                                   T delta, T k); /* loss_template.h */

/* Σ_j l(p_j, t_j) of one row, in T lanes, and grad_j = k dl/dp_j when g != NULL. */
static double FG_CAT2(row_elementwise_simd, SFX)(T *FG_RESTRICT g, const T *FG_RESTRICT p,
                                                 const T *FG_RESTRICT t, int64_t c, int kind,
                                                 T delta, T k)
{
    if (!fg_loss_vector_form(kind))
        return FG_CAT2(row_elementwise_scalar, SFX)(g, p, t, c, kind, delta, k);
    const VEC vdelta = V_SET1(delta), vk = V_SET1(k);
    VEC acc = V_ZERO(), gv;
    int64_t j = 0;
    for (; j + VW <= c; j += VW) {
        acc = V_ADD(acc, FG_CAT2(elementwise_vec_simd, SFX)(V_LOAD(p + j), V_LOAD(t + j), kind, vdelta, vk, &gv));
        if (g) V_STORE(g + j, gv);
    }
    if (j < c) {
        const VMASK mask = V_FIRST(c - j);
        const VEC l = FG_CAT2(elementwise_vec_simd, SFX)(V_LOAD_FIRST(p + j, mask), V_LOAD_FIRST(t + j, mask),
                                                         kind, vdelta, vk, &gv);
        acc = V_ADD(acc, V_MASKZ(mask, l));
        if (g) V_STORE_FIRST(g + j, mask, gv);
    }
    return (double)V_HSUM(acc);
}

#undef T
#undef SFX
