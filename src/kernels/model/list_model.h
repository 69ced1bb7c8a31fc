/* Dispatched kernels: whole-model forward/backward/training step.
 * Included by kernel_list.h; no include guard. */

/* Forward n (<= m->rows_cap) rows of x (n, in) through every layer into m->acts. */
FG_KERNEL(FG_CAT2(model_forward, SFX), (const fg_model *m, const T *x, int64_t n), (m, x, n))
/* Backward after model_forward on the same x: grad_out (n, out_last) holds dL/dout
 * and is used as scratch; grads := beta*grads + dL/dparams; grad_x (n, in) gets
 * dL/dx unless NULL. */
FG_KERNEL(FG_CAT2(model_backward, SFX),
          (const fg_model *m, const T *x, T *grad_out, T *grad_x, int64_t n, double beta),
          (m, x, grad_out, grad_x, n, beta))
/* One training step on a batch: gather, forward, loss (spec's kind/reduction/
 * class_weight/smoothing/delta/scale; its data pointers are taken from the
 * batch), backward, optional clipping, optimizer update over every group.
 * Writes the loss, gradient norm and status into *res. */
FG_KERNEL(FG_CAT2(model_train_step, SFX),
          (const fg_model *m, const fg_batch *batch, const fg_loss_spec *loss, const fg_step_options *opt,
           fg_step_result *res),
          (m, batch, loss, opt, res))
