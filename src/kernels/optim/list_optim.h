/* Dispatched kernels: optimizer steps, norms, clipping. Included by kernel_list.h; no include guard. */

/* One in-place update of params[0:n) from grads[0:n) by the rule cfg->kind (see fg_optim.h).
   State slot s lives at state + s*state_stride (NULL allowed when fg_optim_state_slots(cfg) == 0). */
FG_KERNEL(optim_step_f32, (float *params, const float *grads, float *state, int64_t state_stride,
                           int64_t n, const fg_optim_config *cfg),
          (params, grads, state, state_stride, n, cfg))
FG_KERNEL(optim_step_f64, (double *params, const double *grads, double *state, int64_t state_stride,
                           int64_t n, const fg_optim_config *cfg),
          (params, grads, state, state_stride, n, cfg))

/* Σ x[i]², accumulated in double in a fixed order: the same bits on every target and thread count. */
FG_KERNEL_RET(double, sum_squares_f32, (const float *x, int64_t n), (x, n))
FG_KERNEL_RET(double, sum_squares_f64, (const double *x, int64_t n), (x, n))
/* x *= s */
FG_KERNEL(scale_f32, (float *x, int64_t n, double s), (x, n, s))
FG_KERNEL(scale_f64, (double *x, int64_t n, double s), (x, n, s))
/* x = clamp(x, -clip, clip); NaN stays NaN */
FG_KERNEL(clip_value_f32, (float *x, int64_t n, double clip), (x, n, clip))
FG_KERNEL(clip_value_f64, (double *x, int64_t n, double clip), (x, n, clip))
/* number of NaN/±inf entries of x */
FG_KERNEL_RET(int64_t, count_nonfinite_f32, (const float *x, int64_t n), (x, n))
FG_KERNEL_RET(int64_t, count_nonfinite_f64, (const double *x, int64_t n), (x, n))
