/* Public types and enums of the whole-model forward/backward/training step kernels. Included by fastgd_kernels.h. */
#ifndef FASTGD_MODEL_H
#define FASTGD_MODEL_H

#include "fg_common.h"

#endif
