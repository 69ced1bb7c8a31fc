/* fg_exp_portable, fgv_exp and fgv_log1p_unit for T (see fg_vmath.h for the methods and their
 * accuracy; it instantiates this file once per type). Deliberately no include guard. */

/* A constant of T: its float and double values (each literal converts exactly). */
#define VM_CONST(f, d) ((T)(sizeof(T) == 4 ? (f) : (d)))
#define VM_HI VM_CONST(88.72283935546875f, 709.782712893384) /* largest x with finite exp(x) */
#define VM_LO VM_CONST(-87.33654022216797f, -708.3964185322641) /* log of the smallest normal */
#define VM_LOG2E VM_CONST(1.44269504088896341f, 1.4426950408889634)
/* ln2 = VM_LN2_HI + VM_LN2_LO with k*VM_LN2_HI exact: 8 significant bits (float), fdlibm's
 * split (double) */
#define VM_LN2_HI VM_CONST(0.693359375f, 6.93147180369123816490e-01)
#define VM_LN2_LO VM_CONST(-2.12194440e-4f, 1.90821492927058770002e-10)
/* exp(r) ≈ Σ_j r^j / j! for j = VM_EXP_DEGREE down to 0: the last VM_EXP_DEGREE + 1 entries of
 * exp_coef */
#define VM_EXP_DEGREE (sizeof(T) == 4 ? 7 : 13)

/* Taylor coefficients 1/13!, ..., 1/2!, 1, 1 */
static const T FG_CAT2(fg_exp_coef, SFX)[14] = {
    (T)1 / (T)6227020800.0, (T)1 / (T)479001600, (T)1 / (T)39916800, (T)1 / (T)3628800, (T)1 / (T)362880,
    (T)1 / (T)40320, (T)1 / (T)5040, (T)1 / (T)720, (T)1 / (T)120, (T)1 / (T)24, (T)1 / (T)6, (T)0.5, 1, 1};

/* 2^e for the exponent e of a normal number of T, from its bits (e + bias) << mantissa bits. */
FG_INLINE T FG_CAT2(fg_pow2i, SFX)(int32_t e)
{
    const int f32 = sizeof(T) == 4;
    const uint64_t bits = (uint64_t)(e + (f32 ? 127 : 1023)) << (f32 ? 23 : 52);
    const uint32_t bits32 = (uint32_t)bits;
    T f;
    memcpy(&f, f32 ? (const void *)&bits32 : (const void *)&bits, sizeof f);
    return f;
}

FG_INLINE T FG_CAT2(fg_exp_portable, SFX)(T x)
{
    const T hi = VM_HI, lo = VM_LO;
    /* quiet comparisons (no FP exception on NaN), so compilers may evaluate both sides */
    const T xc = isgreaterequal(x, lo) ? (islessequal(x, hi) ? x : hi) : lo; /* NaN -> lo */
    const T shifter = VM_CONST(12582912.0f, 6755399441055744.0); /* 1.5 * 2^23, 1.5 * 2^52 */
    const T k = (xc * VM_LOG2E + shifter) - shifter;
    const T r = (xc - k * VM_LN2_HI) - k * VM_LN2_LO;
    const T *coef = FG_CAT2(fg_exp_coef, SFX);
    T p = coef[13 - VM_EXP_DEGREE];
    for (int i = 14 - VM_EXP_DEGREE; i < 14; i++) p = p * r + coef[i];
    const int32_t ki = (int32_t)k, kh = ki / 2; /* 2^k = 2^kh * 2^(k-kh), both normal */
    const T result = p * FG_CAT2(fg_pow2i, SFX)(kh) * FG_CAT2(fg_pow2i, SFX)(ki - kh);
    return isunordered(x, x) ? x : (isless(x, lo) ? (T)0 : (isgreater(x, hi) ? (T)INFINITY : result));
}

#if FG_SIMD
/* The vector versions, in the target's SIMD vocabulary (fg_simd.h). */
FG_INLINE VEC FG_CAT2(fgv_exp, SFX)(VEC x)
{
    const VEC hi = V_SET1(VM_HI), lo = V_SET1(VM_LO);
    /* min(hi, x) returns x when x is NaN, so NaN reaches the final blend unchanged. */
    const VEC xc = V_MAX(lo, V_MIN(hi, x));
    const VEC k = V_ROUND(V_MUL(xc, V_SET1(VM_LOG2E)));
    VEC r = V_FNMA(k, V_SET1(VM_LN2_HI), xc);
    r = V_FNMA(k, V_SET1(VM_LN2_LO), r);
    const T *coef = FG_CAT2(fg_exp_coef, SFX);
    VEC p = V_SET1(coef[13 - VM_EXP_DEGREE]);
    for (int i = 14 - VM_EXP_DEGREE; i < 14; i++) p = V_FMA(p, r, V_SET1(coef[i]));
    /* k in [-126, 128] (float), [-1022, 1024] (double) */
    VEC result = V_SCALE2(p, k);
    result = V_BLEND(result, V_ZERO(), V_LT(x, lo));
    result = V_BLEND(result, V_SET1((T)INFINITY), V_GT(x, hi));
    return V_BLEND(result, x, V_UNORD(x, x));
}

/* The series of fg_vmath.h evaluated by Horner in s²: the coefficients 1/(2k + 1) for k = top
 * down to 0, top = 7 (float) or 16 (double). */
FG_INLINE VEC FG_CAT2(fgv_log1p_unit, SFX)(VEC x)
{
    const int top = sizeof(T) == 4 ? 7 : 16;
    const VEC s = V_DIV(x, V_ADD(V_SET1((T)2), x));
    const VEC s2 = V_MUL(s, s);
    VEC p = V_SET1((T)1 / (T)(2 * top + 1));
    for (int k = top - 1; k >= 0; k--) p = V_FMA(p, s2, V_SET1((T)1 / (T)(2 * k + 1)));
    return V_MUL(V_ADD(s, s), p);
}
#endif

#undef VM_CONST
#undef VM_HI
#undef VM_LO
#undef VM_LOG2E
#undef VM_LN2_HI
#undef VM_LN2_LO
#undef VM_EXP_DEGREE
