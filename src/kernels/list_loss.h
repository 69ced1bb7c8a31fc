/* Dispatched kernels: losses and their gradients (issue 4). Included by kernel_list.h; no include guard. */
