/* Dispatched kernels: Hessian-vector and Gauss-Newton-vector products of a model's loss
 * (fg_hvp.h). Included by kernel_list.h; no include guard. */

/* hv := beta*hv + H·v (gauss_newton = 0) or beta*hv + G·v (gauss_newton = 1), where H (G) is
   the Hessian (Gauss-Newton matrix) of the loss `spec` of model m on x (n, in), n <= rows_cap,
   with respect to the flat parameters; v and hv (n_params) use the parameter arena's layout.
   scratch holds fg_model_hvp_scratch_elems(...) elements; m->acts, gbuf0/1 and the workspace
   are overwritten. forward_done = 1 says m->acts already hold the forward pass of these n rows
   of x at the current parameters (left by a training step or product on the same rows): the
   forward GEMMs are skipped, a quarter of a product's work. Returns the loss, or NaN (hv
   untouched) for an invalid spec or label. */
FG_KERNEL_RET(double, FG_CAT2(model_hvp, SFX),
              (const fg_model *m, T *hv, const T *v, const T *x, int64_t n,
               const fg_loss_spec *spec, int gauss_newton, double beta, T *scratch, int forward_done),
              (m, hv, v, x, n, spec, gauss_newton, beta, scratch, forward_done))
