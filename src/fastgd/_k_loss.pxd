# Declarations of the loss kernels (src/kernels/fg_loss.h, list_loss.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    pass
