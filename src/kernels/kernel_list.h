/* The dispatched kernels, listed once.
 *
 * FG_KERNEL(name, (parameters), (arguments))           a kernel returning void
 * FG_KERNEL_RET(type, name, (parameters), (arguments)) a kernel returning `type`
 *
 * For each entry the build provides fg_<name>_<target> for every CPU target
 * (see fg_common.h), a slot in fg_kernel_table, and the public entry point
 * fg_<name>, which calls the slot of the target selected at import.
 * This file is included several times with different definitions of the two
 * macros; it deliberately has no include guard. */

/* params -= lr * grads; params, grads (n) */
FG_KERNEL(sgd_step_f32, (float *FG_RESTRICT params, const float *FG_RESTRICT grads, int64_t n, double lr),
          (params, grads, n, lr))
FG_KERNEL(sgd_step_f64, (double *FG_RESTRICT params, const double *FG_RESTRICT grads, int64_t n, double lr),
          (params, grads, n, lr))
