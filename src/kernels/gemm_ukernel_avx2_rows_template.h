/* Included by gemm_ukernel_avx2.h once per element type: the micro-kernel
 * bodies of 6, 5, ..., 1 rows (gemm_ukernel_avx2_template.h) and the entry
 * points of that type (UK_ENTRY_POINTS). */
#define UK_R 6
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#include "gemm_ukernel_avx2_template.h"
#undef UK_R
#undef UK_ROWS
#define UK_R 5
#define UK_ROWS(X) X(0) X(1) X(2) X(3) X(4)
#include "gemm_ukernel_avx2_template.h"
#undef UK_R
#undef UK_ROWS
#define UK_R 4
#define UK_ROWS(X) X(0) X(1) X(2) X(3)
#include "gemm_ukernel_avx2_template.h"
#undef UK_R
#undef UK_ROWS
#define UK_R 3
#define UK_ROWS(X) X(0) X(1) X(2)
#include "gemm_ukernel_avx2_template.h"
#undef UK_R
#undef UK_ROWS
#define UK_R 2
#define UK_ROWS(X) X(0) X(1)
#include "gemm_ukernel_avx2_template.h"
#undef UK_R
#undef UK_ROWS
#define UK_R 1
#define UK_ROWS(X) X(0)
#include "gemm_ukernel_avx2_template.h"
#undef UK_R
#undef UK_ROWS
UK_ENTRY_POINTS
