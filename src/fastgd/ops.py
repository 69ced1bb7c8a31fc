"""fastgd's functional API: the C kernels as plain functions on NumPy arrays.

Every function checks its arguments (dtype, shape, contiguity, aliasing) and
raises ``TypeError``/``ValueError`` naming the argument; then it runs one C
kernel with the GIL released.
"""

from fastgd._core import inplace_sgd_step

__all__ = ["inplace_sgd_step"]

# ---- gemm ----
from fastgd._core import dense_backward, dense_forward, matmul  # noqa: E402

__all__ += ["matmul", "dense_forward", "dense_backward"]

# ---- losses: fused loss + gradient, see fastgd.losses --------------------
from fastgd.nn.losses import (  # noqa: E402
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    poisson_nll_loss,
)

__all__ += ["cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "huber_loss",
            "poisson_nll_loss"]

# ---- optim: norms and clipping over flat gradient buffers ----
from fastgd.optim import clip_grad_norm, clip_grad_value, grad_norm  # noqa: E402

__all__ += ["clip_grad_norm", "clip_grad_value", "grad_norm"]
