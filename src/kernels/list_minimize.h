/* Dispatched kernels: function minimization helpers, L-BFGS (issue 7). Included by kernel_list.h; no include guard. */
