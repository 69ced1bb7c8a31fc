/* Dispatched kernels: optimizer steps, norms, clipping. Included by kernel_list.h; no include guard. */

/* One in-place update of params[0:n) from grads[0:n) by the rule cfg->kind (see fg_optim.h).
   State slot s lives at state + s*state_stride (NULL allowed when fg_optim_state_slots(cfg) == 0). */
FG_KERNEL(FG_CAT2(optim_step, SFX), (T *params, const T *grads, T *state, int64_t state_stride,
                                     int64_t n, const fg_optim_config *cfg),
          (params, grads, state, state_stride, n, cfg))

/* Σ x[i]², accumulated in double in a fixed order: the same bits on every target and thread count. */
FG_KERNEL_RET(double, FG_CAT2(sum_squares, SFX), (const T *x, int64_t n), (x, n))
/* x *= s */
FG_KERNEL(FG_CAT2(scale, SFX), (T *x, int64_t n, double s), (x, n, s))
/* x = clamp(x, -clip, clip); NaN stays NaN */
FG_KERNEL(FG_CAT2(clip_value, SFX), (T *x, int64_t n, double clip), (x, n, clip))
/* number of entries of x that are NaN, ±inf or at least 2^exponent in magnitude (exponent clamped
   to the type's normal range, so a large one counts only NaN and ±inf) */
FG_KERNEL_RET(int64_t, FG_CAT2(count_large, SFX), (const T *x, int64_t n, int exponent), (x, n, exponent))
/* number of NaN/±inf entries of x */
FG_KERNEL_RET(int64_t, FG_CAT2(count_nonfinite, SFX), (const T *x, int64_t n), (x, n))
