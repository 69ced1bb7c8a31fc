/* Plain gradient descent over a flat buffer, compiled per CPU target.
 * The loop is written for the compiler to vectorize; per-target flags decide
 * the vector width. */
#include "fg_internal.h"
#include "fg_threads.h"

/* Elements per thread below which one thread is faster than several. */
#define SGD_GRAIN 32768

#define FG_TEMPLATE "sgd_template.h"
#include "fg_each_type.h"
