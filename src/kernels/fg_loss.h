/* Public types and enums of the losses and their gradients kernels. Included by fastgd_kernels.h. */
#ifndef FASTGD_LOSS_H
#define FASTGD_LOSS_H

#include "fg_common.h"

#endif
