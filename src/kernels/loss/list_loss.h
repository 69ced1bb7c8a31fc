/* Dispatched kernels: losses and their gradients. Included by kernel_list.h; no include guard. */

/* Returns the loss of pred (n, c) (row-major logits / predictions) and, when grad != NULL, writes
   grad (n, c) = d loss / d pred; see fg_loss.h for the formulas and the reduction. Returns NaN
   (grad untouched) for an invalid spec or a label outside [0, c). grad must not overlap the inputs. */
FG_KERNEL_RET(double, FG_CAT2(loss, SFX),
              (T *grad, const T *pred, int64_t n, int64_t c, const fg_loss_spec *spec),
              (grad, pred, n, c, spec))
