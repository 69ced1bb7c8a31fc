# Declarations of the model kernels (src/kernels/fg_model.h, list_model.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    pass
