/* Dispatched kernels: losses and their gradients. Included by kernel_list.h; no include guard. */

/* Returns the loss of pred (n, c) (row-major logits / predictions) and, when grad != NULL, writes
   grad (n, c) = d loss / d pred; see fg_loss.h for the formulas and the reduction. Returns NaN
   for an invalid spec (grad untouched) or a label outside [0, c) (grad NaN). grad must not overlap
   the inputs. */
FG_KERNEL_RET(double, FG_CAT2(loss, SFX),
              (T *grad, const T *pred, int64_t n, int64_t c, const fg_loss_spec *spec),
              (grad, pred, n, c, spec))
/* fg_loss_* over all n rows, rows [r0, r1) at a time: grad and pred hold those rows (row r0 at
   grad[0], pred[0]), spec's arrays all n. partial (FG_LOSS_ROWS_STATE) carries the reduction's
   partial sums from one call to the next (r0 = 0 starts them and reads the labels, weights and
   class weights of all n rows once; the later ranges read only their own rows). Ranges taken in order from r0 = 0
   give each row's gradient, and with the one ending at n the loss (returned: the reduction of the
   rows so far), bit for bit as fg_loss_* gives them at once. NaN as fg_loss_*, or for a range
   outside [0, n). */
FG_KERNEL_RET(double, FG_CAT2(loss_rows, SFX),
              (T *grad, const T *pred, int64_t n, int64_t c, const fg_loss_spec *spec, int64_t r0, int64_t r1,
               double *partial),
              (grad, pred, n, c, spec, r0, r1, partial))
