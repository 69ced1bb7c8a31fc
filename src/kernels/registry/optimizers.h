/* The optimizers, one line each: the only list of them. enum fg_optimizer
 * (FG_OPT_<ID>, numbered in this order), fg_optimizer_name() and the Python
 * table fastgd._core.OPTIMIZERS derive from it. The update rules live in
 * optim_elem_template.h (per element, shared with the reference twin) and the
 * state layout in fg_optim_state_slots (optim_internal.h).
 *
 * FG_OPTIMIZER(ID, name)
 * Deliberately no include guard: included once per expansion. */
FG_OPTIMIZER(SGD, sgd)
FG_OPTIMIZER(ADAGRAD, adagrad)
FG_OPTIMIZER(RMSPROP, rmsprop)
FG_OPTIMIZER(ADAM, adam)
FG_OPTIMIZER(ADAMW, adamw)
