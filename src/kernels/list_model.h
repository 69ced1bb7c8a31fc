/* Dispatched kernels: whole-model forward/backward/training step (issues 4, 6). Included by kernel_list.h; no include guard. */
