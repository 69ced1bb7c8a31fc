# fastgd's compiled core: the bindings of the C kernels.
#
# One extension module, so that the kernel table and the thread count exist
# once per process. Each concern lives in its own .pxi file included below;
# the public Python API (fastgd.ops, fastgd.optim, ...) is built on top.
# Cython directives are set once, in CMakeLists.txt.

cimport numpy as cnp
import numpy as np
from libc.stdint cimport int64_t, uint64_t

from fastgd._kernels cimport *
from fastgd._k_gemm cimport *
from fastgd._k_loss cimport *
from fastgd._k_optim cimport *
from fastgd._k_model cimport *
from fastgd._k_minimize cimport *
from fastgd._k_lbfgs_driver cimport *
from fastgd._k_curvature cimport *
from fastgd._k_sparse cimport *

cnp.import_array()

include "_build_info.pxi"
include "_validate.pxi"
include "_runtime.pxi"
include "_registry.pxi"
include "_gemm.pxi"
include "_losses.pxi"
include "_optim.pxi"
include "_sparse.pxi"
include "_scratch.pxi"
include "_model.pxi"
include "_minimize.pxi"
include "_lbfgs_driver.pxi"
include "_curvature.pxi"
