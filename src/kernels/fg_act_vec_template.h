/* The array forms of the activations for T (see fg_act_vec.h). Deliberately no include guard:
 * instantiated once per type. */

#if FG_SIMD
/* erfc(z) for z >= 0 lane by lane (NaN stays NaN); the method is in fg_act_vec.h. */
FG_INLINE VEC FG_CAT2(fgv_erfc_pos, SFX)(VEC z)
{
    const int f32 = sizeof(T) == 4;
    const double *c = f32 ? fg_erfc_cheb_f32 : fg_erfc_cheb_f64;
    const int n = f32 ? 9 : 22;
    const double t_min = f32 ? 2.0 / 12.0 : 2.0 / 29.0, z_max = 2.0 / t_min - 2.0;
    const VEC two = V_SET1((T)2);
    const VEC t = V_DIV(two, V_ADD(two, V_MIN(V_SET1((T)z_max), z)));
    /* s = (2t - 1 - t_min) / (1 - t_min) in [-1, 1] */
    const VEC s = V_FMA(t, V_SET1((T)(2.0 / (1.0 - t_min))), V_SET1((T)(-(1.0 + t_min) / (1.0 - t_min))));
    const VEC s2 = V_ADD(s, s);
    VEC b1 = V_ZERO(), b2 = V_ZERO();
    for (int j = n; j >= 1; j--) {
        const VEC b0 = V_FMA(s2, b1, V_SUB(V_SET1((T)c[j]), b2));
        b2 = b1;
        b1 = b0;
    }
    const VEC p = V_FMA(s, b1, V_SUB(V_SET1((T)c[0]), b2));
    return V_MUL(t, V_EXP(V_FNMA(z, z, p)));
}

/* σ(v) = 1/(1 + e^-v) */
FG_INLINE VEC FG_CAT2(fgv_sigmoid, SFX)(VEC v)
{
    const VEC one = V_SET1((T)1);
    return V_DIV(one, V_ADD(one, V_EXP(V_SUB(V_ZERO(), v))));
}

/* σ(v) and 1 - σ(v) as fg_sigmoid_complement (fg_act_template.h) */
FG_INLINE VEC FG_CAT2(fgv_sigmoid_complement, SFX)(VEC v, VEC *complement)
{
    const VEC one = V_SET1((T)1);
    const VEC e = V_EXP(V_SUB(V_ZERO(), v));
    const VEC s = V_DIV(one, V_ADD(one, e));
    *complement = V_BLEND(V_SUB(one, s), V_MUL(e, s), V_GE(v, V_ZERO()));
    return s;
}

/* Φ(x) = erfc(-x/√2)/2: erfc(|x|/√2)/2 below 0, 1 - erfc(|x|/√2)/2 above */
FG_INLINE VEC FG_CAT2(fgv_normal_cdf, SFX)(VEC x)
{
    const VEC half = V_SET1((T)0.5);
    const VEC z = V_MUL(V_ANDNOT(V_SET1((T)-0.0), x), V_SET1((T)0.70710678118654752));
    const VEC e = V_MUL(half, FG_CAT2(fgv_erfc_pos, SFX)(z));
    return V_BLEND(V_SUB(V_SET1((T)1), e), e, V_LT(x, V_ZERO()));
}

/* GELU_TANH's σ argument v = 2√(2/π)(x + 0.044715x³) and dv/dx (as fg_act_template.h) */
FG_INLINE VEC FG_CAT2(fgv_gelu_tanh_v, SFX)(VEC x)
{
    const VEC x2 = V_MUL(x, x);
    return V_MUL(V_MUL(x, V_SET1((T)1.5957691216057308)), V_FMA(x2, V_SET1((T)0.044715), V_SET1((T)1)));
}

/* MISH's gate tanh(softplus(x)) and its k, as fg_mish_gate (fg_act_template.h). fgv_exp flushes
   e^-|x| to 0 below the smallest normal number, so mish(x) and mish'(x) for x below -87.3 (float) or
   -708.4 (double), |x| e^x under 1e-36 or 1e-305, are 0 where the plain form has them tiny. */
FG_INLINE VEC FG_CAT2(fgv_mish_gate, SFX)(VEC x, VEC *k)
{
    const VEC one = V_SET1((T)1), two = V_SET1((T)2);
    const VEC t = V_EXP(V_SUB(V_ZERO(), V_ANDNOT(V_SET1((T)-0.0), x)));
    const VMASK pos = V_GE(x, V_ZERO());
    const VEC m = V_BLEND(t, one, pos), w = V_BLEND(one, t, pos);
    const VEC num = V_FMA(m, m, V_MUL(two, t)), den = V_FMA(V_MUL(two, w), w, num);
    *k = V_DIV(V_MUL(V_MUL(V_SET1((T)4), t), V_MUL(w, V_ADD(one, t))), V_MUL(den, den));
    return V_DIV(num, den);
}

/* act(x) for the activations with a vector form (fg_act_has_vector); x for the others */
FG_INLINE VEC FG_CAT2(fgv_act, SFX)(VEC x, int act)
{
    switch (act) {
    case FG_ACT_GELU: return V_MUL(x, FG_CAT2(fgv_normal_cdf, SFX)(x));
    case FG_ACT_GELU_TANH: return V_MUL(x, FG_CAT2(fgv_sigmoid, SFX)(FG_CAT2(fgv_gelu_tanh_v, SFX)(x)));
    case FG_ACT_SILU: return V_MUL(x, FG_CAT2(fgv_sigmoid, SFX)(x));
    case FG_ACT_MISH: {
        VEC k;
        return V_MUL(x, FG_CAT2(fgv_mish_gate, SFX)(x, &k));
    }
    default: return x;
    }
}

/* act'(z) for the same activations (formulas as fg_act_grad) */
FG_INLINE VEC FG_CAT2(fgv_act_grad, SFX)(VEC z, int act)
{
    const VEC one = V_SET1((T)1);
    switch (act) {
    case FG_ACT_GELU: {
        const VEC phi = V_MUL(V_SET1((T)0.39894228040143268), V_EXP(V_MUL(V_SET1((T)-0.5), V_MUL(z, z))));
        return V_FMA(z, phi, FG_CAT2(fgv_normal_cdf, SFX)(z));
    }
    case FG_ACT_GELU_TANH: {
        VEC c;
        const VEC s = FG_CAT2(fgv_sigmoid_complement, SFX)(FG_CAT2(fgv_gelu_tanh_v, SFX)(z), &c);
        const VEC dv = V_MUL(V_SET1((T)1.5957691216057308), V_FMA(V_MUL(z, z), V_SET1((T)0.134145), one));
        return V_FMA(V_MUL(z, V_MUL(s, c)), dv, s);
    }
    case FG_ACT_SILU: {
        VEC c;
        const VEC s = FG_CAT2(fgv_sigmoid_complement, SFX)(z, &c);
        return V_MUL(s, V_FMA(z, c, one));
    }
    case FG_ACT_MISH: {
        VEC k;
        const VEC gate = FG_CAT2(fgv_mish_gate, SFX)(z, &k);
        return V_FMA(z, k, gate);
    }
    default: return one;
    }
}
#endif

/* 1 if fg_act_rows / fg_act_grad_rows run `act` in vectors on this target: the registry's
 * vector_form, on a target with a SIMD vocabulary. */
FG_INLINE int FG_CAT2(fg_act_has_vector, SFX)(int act)
{
    return FG_SIMD && fg_act_vector_form(act);
}

/* out[i] = act(z[i]) for i < n; out may be z. */
FG_INLINE void FG_CAT2(fg_act_rows, SFX)(T *out, const T *z, int64_t n, int act, T alpha)
{
#if FG_SIMD
    if (FG_CAT2(fg_act_has_vector, SFX)(act)) {
        int64_t i = 0;
        for (; i + VW <= n; i += VW) V_STORE(out + i, FG_CAT2(fgv_act, SFX)(V_LOAD(z + i), act));
        if (i < n) {
            const VMASK m = V_FIRST(n - i);
            V_STORE_FIRST(out + i, m, FG_CAT2(fgv_act, SFX)(V_LOAD_FIRST(z + i, m), act));
        }
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = FG_CAT2(fg_act, SFX)(z[i], act, alpha);
}

/* fg_act_rows split over threads in contiguous ranges. Each element goes through the same code
 * whatever the split (the body's vectors and the masked tail's, or the scalar form), so the
 * result is the same for every thread count. */
FG_INLINE void FG_CAT2(fg_act_rows_parallel, SFX)(T *out, const T *z, int64_t n, int act, T alpha)
{
    FG_FOR_RANGES(fg_threads_for(n, FG_ACT_GRAIN), n, 64,
                  FG_CAT2(fg_act_rows, SFX)(out + begin, z + begin, end - begin, act, alpha));
}

/* g[i] = g[i] ⊙ act'(z) for i < n, u[i] the value the derivative takes (fg_act_grad). */
FG_INLINE void FG_CAT2(fg_act_grad_rows, SFX)(T *g, const T *u, int64_t n, int act, T alpha)
{
#if FG_SIMD
    if (FG_CAT2(fg_act_has_vector, SFX)(act)) {
        int64_t i = 0;
        for (; i + VW <= n; i += VW) V_STORE(g + i, V_MUL(V_LOAD(g + i), FG_CAT2(fgv_act_grad, SFX)(V_LOAD(u + i), act)));
        if (i < n) {
            const VMASK m = V_FIRST(n - i);
            V_STORE_FIRST(g + i, m, V_MUL(V_LOAD_FIRST(g + i, m), FG_CAT2(fgv_act_grad, SFX)(V_LOAD_FIRST(u + i, m), act)));
        }
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) g[i] = FG_CAT2(fg_act_backward, SFX)(g[i], u[i], act, alpha);
}
