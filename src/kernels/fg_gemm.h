/* Public types and enums of the GEMM, dense layer forward/backward kernels. Included by fastgd_kernels.h. */
#ifndef FASTGD_GEMM_H
#define FASTGD_GEMM_H

#include "fg_common.h"

#endif
