/* Dispatched kernels: optimizer steps, norms, clipping (issue 5). Included by kernel_list.h; no include guard. */

/* params -= lr * grads; params, grads (n) */
FG_KERNEL(sgd_step_f32, (float *FG_RESTRICT params, const float *FG_RESTRICT grads, int64_t n, double lr),
          (params, grads, n, lr))
FG_KERNEL(sgd_step_f64, (double *FG_RESTRICT params, const double *FG_RESTRICT grads, int64_t n, double lr),
          (params, grads, n, lr))
