/* Whole-model kernels: forward and backward through a stack of dense layers
 * and the fused training step, compiled per CPU target. They call this
 * target's dense, loss and optimizer kernels directly (fg_internal.h). */
#include <math.h>
#include <string.h>

#include "fg_internal.h"
#include "fg_act_vec.h"

#define FG_TEMPLATE "model/model_template.h"
#include "fg_each_type.h"
