"""fastgd's functional API: the C kernels as plain functions on NumPy arrays.

Every function checks its arguments (dtype, shape, contiguity, aliasing) and
raises ``TypeError``/``ValueError`` naming the argument; then it runs one C
kernel with the GIL released.
"""

from fastgd._core import inplace_sgd_step

__all__ = ["inplace_sgd_step"]

# ---- optim area (issue 5): norms and clipping over flat gradient buffers ----
from fastgd.optim import clip_grad_norm, clip_grad_value, grad_norm  # noqa: E402

__all__ += ["clip_grad_norm", "clip_grad_value", "grad_norm"]
