# The registries of the C kernels (src/kernels/registry/*.h) as Python name tables, read from
# the compiled library at import: a name's position is its C enum value, so nothing above this
# module copies the enums.


cdef tuple _names(const char *(*name_of)(int) noexcept nogil, int count):
    return tuple(name_of(i).decode("ascii") for i in range(count))


ACTIVATIONS = _names(fg_activation_name, FG_ACT_COUNT)
# The activations whose derivatives are functions of the pre-activation (their backward
# passes need it kept: dense_forward's ``pre_activation``, dense_backward's ``pre_activation``).
ACTIVATIONS_GRAD_FROM_PRE = tuple(name for i, name in enumerate(ACTIVATIONS) if fg_activation_grad_from_pre(i))
LOSSES = _names(fg_loss_name, FG_LOSS_COUNT)
OPTIMIZERS = _names(fg_optimizer_name, FG_OPT_COUNT)

# LOSS_SOFTMAX_CE, LOSS_BCE, ...: the enum fg_loss values by name.
globals().update({"LOSS_" + name.upper(): kind for kind, name in enumerate(LOSSES)})
