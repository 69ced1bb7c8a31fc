# Declarations of fastgd's C kernel library (src/kernels/fastgd_kernels.h), once.
from libc.stdint cimport int64_t

cdef extern from "fastgd_kernels.h" nogil:
    enum:
        FG_ISA_COUNT

    const char *fg_isa_name(int isa)
    int fg_isa_compiled(int isa)
    int fg_isa_cpu_supports(int isa)
    int fg_isa_best()
    int fg_isa_select(int isa)
    int fg_isa_current()

    int fg_openmp_enabled()
    int fg_openmp_version()
    void fg_set_num_threads(int n)
    int fg_get_num_threads()
    void fg_set_threads_adapt_to_load(int on)
    int fg_get_threads_adapt_to_load()

cdef extern from "fg_threads.h" nogil:
    int fg_threads_free(int limit)
