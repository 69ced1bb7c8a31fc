/* The fused optimizer steps (SGD with momentum/Nesterov/noise, AdaGrad, RMSProp, Adam, AdamW),
 * compiled per CPU target. One call updates a flat parameter buffer and its flat state in place,
 * one pass over memory; the formulas are in optim_elem_template.h. */
#include "fg_internal.h"
#include "fg_threads.h"
#include "optim_internal.h"

/* Elements per thread below which one thread is faster than several: a step streams 3 to 7
 * arrays, a few microseconds per 16K elements, comparable to waking a thread. */
#define OPTIM_GRAIN 16384
#define OPTIM_NOISE_GRAIN 2048

#define FG_TEMPLATE "optim/optim_template.h"
#include "fg_each_type.h"
