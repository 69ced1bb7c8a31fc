/* Public types and enums of the optimizer steps, norms, clipping kernels. Included by fastgd_kernels.h. */
#ifndef FASTGD_OPTIM_H
#define FASTGD_OPTIM_H

#include "fg_common.h"

#endif
