/* Whole-model kernels: forward and backward through a stack of dense layers
 * and the fused training step, compiled per CPU target. They call this
 * target's dense, loss and optimizer kernels directly (fg_internal.h). */
#include <math.h>
#include <string.h>

#include "fg_internal.h"

#define T float
#define SFX f32
#include "mlp_template.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "mlp_template.h"
#undef T
#undef SFX
