/* Dispatched kernels: GEMM, dense layer forward/backward (issue 3). Included by kernel_list.h; no include guard. */
