# Declarations of the gemm kernels (src/kernels/fg_gemm.h, list_gemm.h).
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    pass
