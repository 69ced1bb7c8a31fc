/* The losses, one line each: the only list of them. enum fg_loss (FG_LOSS_<ID>,
 * numbered in this order), fg_loss_name() and the Python constants
 * fastgd._core.LOSSES / LOSS_<ID> derive from it. The formulas live in
 * loss_template.h (fused forward/backward) and loss_ref.c (the reference twin).
 *
 * FG_LOSS(ID, name)
 * Deliberately no include guard: included once per expansion. */
FG_LOSS(SOFTMAX_CE, softmax_ce)
FG_LOSS(BCE, bce)
FG_LOSS(MSE, mse)
FG_LOSS(MAE, mae)
FG_LOSS(HUBER, huber)
FG_LOSS(POISSON, poisson)
