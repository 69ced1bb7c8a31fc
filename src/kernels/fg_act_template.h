/* One activation's value and derivative, per element, for T (see fg_act.h).
 * FG_MATH(fn) is the libm function of T: expf for float, exp for double.
 * Deliberately no include guard: instantiated once per type. */

/* σ(v) = 1/(1 + e^-v) */
FG_INLINE T FG_CAT2(fg_sigmoid, SFX)(T v) { return (T)1 / ((T)1 + FG_MATH(exp)(-v)); }

/* σ(v), and in *complement 1 - σ(v) = σ(-v) without the cancellation of 1 - σ(v) where σ(v)
   nears 1 (the derivatives' σ(v)(1 - σ(v)) lost its digits there): e^-v σ(v) for v >= 0, and
   1 - σ(v), which is at least 1/2, below. */
FG_INLINE T FG_CAT2(fg_sigmoid_complement, SFX)(T v, T *complement)
{
    const T e = FG_MATH(exp)(-v), s = (T)1 / ((T)1 + e);
    *complement = v >= (T)0 ? e * s : (T)1 - s;
    return s;
}

/* GELU_TANH's σ argument v = 2u = 2√(2/π)(x + 0.044715x³), and dv/dx */
#define FG_GELU_TANH_V(x) ((T)1.5957691216057308 * ((x) + (T)0.044715 * (x) * (x) * (x)))
#define FG_GELU_TANH_DV(x) ((T)1.5957691216057308 * ((T)1 + (T)0.134145 * (x) * (x)))

/* SELU's scale and alpha * scale (torch.nn.SELU: alpha = 1.6732632423543772848, scale = 1.0507009873554804934) */
#define FG_SELU_SCALE ((T)1.0507009873554804934)
#define FG_SELU_ALPHA_SCALE ((T)1.7580993408473766)

/* MISH's gate tanh(softplus(x)), and in *k its part of the derivative, sech²(softplus(x)) σ(x), so that
   mish = x gate and mish' = gate + x k. With e = e^x and n = e(e + 2): gate = n/(n + 2) and
   k = 4e(1 + e)/(n + 2)², written in t = e^-|x| so that nothing overflows: the gate's numerator and
   denominator become 2t + m² and 2t + m² + 2w² (times t² with e = 1/t for x >= 0: m = 1, w = t;
   with e = t below: m = t, w = 1), and k = 4tw(1 + t)/(2t + m² + 2w²)². fgv_mish_gate is the same
   formula in vectors. */
FG_INLINE T FG_CAT2(fg_mish_gate, SFX)(T x, T *k)
{
    const T t = FG_MATH(exp)(-FG_MATH(fabs)(x));
    const T m = x >= (T)0 ? (T)1 : t, w = x >= (T)0 ? t : (T)1;
    const T num = (T)2 * t + m * m, den = num + (T)2 * w * w;
    *k = (T)4 * t * w * ((T)1 + t) / (den * den);
    return num / den;
}

/* NaN passes through relu and leaky relu ((x < 0) is false for NaN). */
FG_INLINE T FG_CAT2(fg_act, SFX)(T x, int act, T alpha)
{
    switch (act) {
    case FG_ACT_RELU: return x < (T)0 ? (T)0 : x;
    case FG_ACT_LEAKY_RELU: return x < (T)0 ? alpha * x : x;
    case FG_ACT_SIGMOID: return (T)1 / ((T)1 + FG_MATH(exp)(-x));
    case FG_ACT_TANH: return FG_MATH(tanh)(x);
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|. */
    case FG_ACT_SOFTPLUS: return (x > (T)0 ? x : (T)0) + FG_MATH(log1p)(FG_MATH(exp)(-FG_MATH(fabs)(x)));
    /* elu (Clevert et al. 2016, alpha = 1, as torch.nn.ELU()): e^x - 1 below 0. */
    case FG_ACT_ELU: return x > (T)0 ? x : FG_MATH(expm1)(x);
    /* x Φ(x) with Φ(x) = erfc(-x/√2)/2, accurate in both tails */
    case FG_ACT_GELU: return (T)0.5 * x * FG_MATH(erfc)(-x * (T)0.70710678118654752);
    case FG_ACT_GELU_TANH: return x * FG_CAT2(fg_sigmoid, SFX)(FG_GELU_TANH_V(x));
    case FG_ACT_SILU: return x * FG_CAT2(fg_sigmoid, SFX)(x);
    /* as elu, scaled: e^x - 1 by expm1, exact near 0 */
    case FG_ACT_SELU: return x > (T)0 ? FG_SELU_SCALE * x : FG_SELU_ALPHA_SCALE * FG_MATH(expm1)(x);
    case FG_ACT_MISH: {
        T k;
        return x * FG_CAT2(fg_mish_gate, SFX)(x, &k);
    }
    default: return x;
    }
}

/* d act / d z as a function of u: the output o, or for the activations flagged
 * grad_from_pre the pre-activation z. relu: 1 where o > 0 (0 at the kink, as
 * PyTorch); leaky relu (alpha >= 0): 1 where o > 0 else alpha; sigmoid: o(1-o);
 * tanh: 1-o²; softplus: sigmoid(z) = 1 - e^-o; elu: e^z where z <= 0, else 1
 * (so NaN gives 1, as in PyTorch); gelu: Φ(z) + z φ(z); gelu_tanh: s + z s(1-s) v'(z) with s = σ(v(z));
 * silu: s (1 + z(1-s)) with s = σ(z); selu: alpha scale e^z where z <= 0, else scale (as elu);
 * mish: gate + z k (fg_mish_gate). */
FG_INLINE T FG_CAT2(fg_act_grad, SFX)(T u, int act, T alpha)
{
    switch (act) {
    case FG_ACT_RELU: return u > (T)0 ? (T)1 : (T)0;
    case FG_ACT_LEAKY_RELU: return u > (T)0 ? (T)1 : alpha;
    case FG_ACT_SIGMOID: return u * ((T)1 - u);
    case FG_ACT_TANH: return (T)1 - u * u;
    case FG_ACT_SOFTPLUS: return -FG_MATH(expm1)(-u);
    case FG_ACT_ELU: return u <= (T)0 ? FG_MATH(exp)(u) : (T)1;
    case FG_ACT_GELU:
        return (T)0.5 * FG_MATH(erfc)(-u * (T)0.70710678118654752) +
               u * (T)0.39894228040143268 * FG_MATH(exp)((T)-0.5 * u * u);
    case FG_ACT_GELU_TANH: {
        T c;
        const T s = FG_CAT2(fg_sigmoid_complement, SFX)(FG_GELU_TANH_V(u), &c);
        return s + u * s * c * FG_GELU_TANH_DV(u);
    }
    case FG_ACT_SILU: {
        T c;
        const T s = FG_CAT2(fg_sigmoid_complement, SFX)(u, &c);
        return s * ((T)1 + u * c);
    }
    case FG_ACT_SELU: return u <= (T)0 ? FG_SELU_ALPHA_SCALE * FG_MATH(exp)(u) : FG_SELU_SCALE;
    case FG_ACT_MISH: {
        T k;
        const T gate = FG_CAT2(fg_mish_gate, SFX)(u, &k);
        return gate + u * k;
    }
    default: return (T)1;
    }
}

/* grad_out ⊙ act'(z) given u (as fg_act_grad). relu and leaky relu select
 * instead of multiplying, so a non-finite grad_out where the unit is off gives
 * 0, as in PyTorch. */
FG_INLINE T FG_CAT2(fg_act_backward, SFX)(T g, T u, int act, T alpha)
{
    switch (act) {
    case FG_ACT_IDENTITY: return g;
    case FG_ACT_RELU: return u > (T)0 ? g : (T)0;
    case FG_ACT_LEAKY_RELU: return u > (T)0 ? g : alpha * g;
    default: return g * FG_CAT2(fg_act_grad, SFX)(u, act, alpha);
    }
}

#undef FG_GELU_TANH_V
#undef FG_GELU_TANH_DV
#undef FG_SELU_SCALE
#undef FG_SELU_ALPHA_SCALE
