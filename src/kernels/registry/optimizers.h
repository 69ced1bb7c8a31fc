/* The optimizers, one line each, and the fields of their configuration: the only lists of
 * them. Each expansion defines one of the two macros.
 *
 * FG_OPTIMIZER(ID, name): enum fg_optimizer (FG_OPT_<ID>, numbered in this order),
 * fg_optimizer_name() and the Python table fastgd._core.OPTIMIZERS derive from it. The update
 * rules, their coefficients and state layout live in optim_elem_template.h (shared by the
 * dispatched loops and the reference twin).
 *
 * FG_OPTIM_FIELD(type, name): the fields of struct fg_optim_config in order (type: int,
 * int64_t, uint64_t or double); the NumPy dtype of an optimizer plan's groups
 * (fastgd._core.OPTIM_GROUP_DTYPE) and the Python field list derive from it.
 * Deliberately no include guard: included once per expansion. */
#ifdef FG_OPTIMIZER
FG_OPTIMIZER(SGD, sgd)
FG_OPTIMIZER(ADAGRAD, adagrad)
FG_OPTIMIZER(RMSPROP, rmsprop)
FG_OPTIMIZER(ADAM, adam)
FG_OPTIMIZER(ADAMW, adamw)
FG_OPTIMIZER(ADAMAX, adamax)
#endif

#ifdef FG_OPTIM_FIELD
FG_OPTIM_FIELD(int, kind)                          /* enum fg_optimizer */
FG_OPTIM_FIELD(int64_t, step)                      /* 1-based number of this update (bias correction, first momentum step, ...) */
FG_OPTIM_FIELD(double, lr)
FG_OPTIM_FIELD(double, weight_decay)
FG_OPTIM_FIELD(double, momentum)                   /* SGD, RMSProp */
FG_OPTIM_FIELD(double, dampening)                  /* SGD */
FG_OPTIM_FIELD(int, nesterov)                      /* SGD */
FG_OPTIM_FIELD(double, noise_std)                  /* noisy SGD; counter-based RNG keyed by (seed, step, index) */
FG_OPTIM_FIELD(uint64_t, noise_seed)
FG_OPTIM_FIELD(double, eps)                        /* AdaGrad, RMSProp, Adam/AdamW */
FG_OPTIM_FIELD(double, lr_decay)                   /* AdaGrad */
FG_OPTIM_FIELD(double, initial_accumulator_value)  /* AdaGrad */
FG_OPTIM_FIELD(double, alpha)                      /* RMSProp */
FG_OPTIM_FIELD(int, centered)                      /* RMSProp */
FG_OPTIM_FIELD(double, beta1)                      /* Adam/AdamW, Adamax */
FG_OPTIM_FIELD(double, beta2)                      /* Adam/AdamW, Adamax */
FG_OPTIM_FIELD(int, amsgrad)                       /* Adam/AdamW */
FG_OPTIM_FIELD(int, maximize)                      /* ascend instead of descend */
#endif
