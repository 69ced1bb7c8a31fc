/* One activation's value and derivative, per element, for T (see fg_act.h).
 * FG_MATH(fn) is the libm function of T: expf for float, exp for double.
 * Deliberately no include guard: instantiated once per type. */

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
    default: return x;
    }
}

/* d act / d z at the point whose output is o. relu: 1 where o > 0 (0 at the
 * kink, as PyTorch); leaky relu (alpha >= 0): 1 where o > 0 else alpha;
 * sigmoid: o(1-o); tanh: 1-o²; softplus: sigmoid(z) = 1 - e^-o; elu: 1 where
 * o > 0, else e^z = o + 1. */
FG_INLINE T FG_CAT2(fg_act_grad, SFX)(T o, int act, T alpha)
{
    switch (act) {
    case FG_ACT_RELU: return o > (T)0 ? (T)1 : (T)0;
    case FG_ACT_LEAKY_RELU: return o > (T)0 ? (T)1 : alpha;
    case FG_ACT_SIGMOID: return o * ((T)1 - o);
    case FG_ACT_TANH: return (T)1 - o * o;
    case FG_ACT_SOFTPLUS: return -FG_MATH(expm1)(-o);
    case FG_ACT_ELU: return o > (T)0 ? (T)1 : o + (T)1;
    default: return (T)1;
    }
}

/* grad_out ⊙ act'(z) given the output o. relu and leaky relu select instead of
 * multiplying, so a non-finite grad_out where the unit is off gives 0, as in
 * PyTorch. */
FG_INLINE T FG_CAT2(fg_act_backward, SFX)(T g, T o, int act, T alpha)
{
    switch (act) {
    case FG_ACT_IDENTITY: return g;
    case FG_ACT_RELU: return o > (T)0 ? g : (T)0;
    case FG_ACT_LEAKY_RELU: return o > (T)0 ? g : alpha * g;
    default: return g * FG_CAT2(fg_act_grad, SFX)(o, act, alpha);
    }
}
