"""fastgd's functional API: the C kernels as plain functions on NumPy arrays.

Every function checks its arguments (dtype, shape, contiguity, aliasing) and
raises ``TypeError``/``ValueError`` naming the argument; then it runs one C
kernel with the GIL released.
"""

from fastgd._core import inplace_sgd_step

__all__ = ["inplace_sgd_step"]

# ---- gemm (issue 3) ----
from fastgd._core import dense_backward, dense_forward, matmul  # noqa: E402

__all__ += ["matmul", "dense_forward", "dense_backward"]
