/* The names of the entries of the registries (the lists in registry/), compiled once. The
 * Python layer reads its name tables from these at import. */
#include <stddef.h>

#include "fastgd_kernels.h"
#include "fg_act.h"

const char *fg_activation_name(int act)
{
    static const char *const names[] = {
#define FG_ACTIVATION(ID, name, piecewise_linear, simd_epilogue, grad_from_pre, vector_form) #name,
#include "registry/activations.h"
#undef FG_ACTIVATION
    };
    return (act >= 0 && act < FG_ACT_COUNT) ? names[act] : NULL;
}

int fg_activation_grad_from_pre(int act) { return fg_act_grad_from_pre(act); }

const char *fg_loss_name(int kind)
{
    static const char *const names[] = {
#define FG_LOSS(ID, name, vector_form) #name,
#include "registry/losses.h"
#undef FG_LOSS
    };
    return (kind >= 0 && kind < FG_LOSS_COUNT) ? names[kind] : NULL;
}

const char *fg_optimizer_name(int kind)
{
    static const char *const names[] = {
#define FG_OPTIMIZER(ID, name) #name,
#include "registry/optimizers.h"
#undef FG_OPTIMIZER
    };
    return (kind >= 0 && kind < FG_OPT_COUNT) ? names[kind] : NULL;
}

const char *fg_optim_config_field(int i, const char **type, int64_t *offset)
{
    static const struct {
        const char *name, *type;
        size_t offset;
    } fields[] = {
#define FG_OPTIM_FIELD(type, name) {#name, #type, offsetof(fg_optim_config, name)},
#include "registry/optimizers.h"
#undef FG_OPTIM_FIELD
    };
    if (i < 0 || i >= (int)(sizeof fields / sizeof fields[0])) return NULL;
    *type = fields[i].type;
    *offset = (int64_t)fields[i].offset;
    return fields[i].name;
}
