/* The losses, one line each: the only list of them. enum fg_loss (FG_LOSS_<ID>,
 * numbered in this order), fg_loss_name() and the Python constants
 * fastgd._core.LOSSES / LOSS_<ID> derive from it. The formulas live in
 * loss_template.h (fused forward/backward) and loss_ref.c (the reference twin).
 *
 * FG_LOSS(ID, name, vector_form)
 *   ID           enum suffix (FG_LOSS_ID)
 *   name         the Python name
 *   vector_form  1 if elementwise_vec_simd (loss_simd_template.h) has a case
 *                for it: its rows run in vectors on targets with a SIMD
 *                vocabulary; 0: per element through fg_loss_elem in double.
 *                Softmax cross-entropy couples a row and has its own vector
 *                row primitives, so it is 0 here.
 * Deliberately no include guard: included once per expansion. */
FG_LOSS(SOFTMAX_CE, softmax_ce, 0)
FG_LOSS(BCE, bce, 1)
FG_LOSS(MSE, mse, 1)
FG_LOSS(MAE, mae, 1)
FG_LOSS(HUBER, huber, 1)
FG_LOSS(POISSON, poisson, 1)
