/* Public types and enums of the function minimization helpers, L-BFGS kernels. Included by fastgd_kernels.h. */
#ifndef FASTGD_MINIMIZE_H
#define FASTGD_MINIMIZE_H

#include "fg_common.h"

#endif
