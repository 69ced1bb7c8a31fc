# Declarations of the minimize kernels (src/kernels/fg_minimize.h, list_minimize.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    pass
