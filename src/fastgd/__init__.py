"""fastgd: fast gradient descent and neural-network training on the CPU."""

from fastgd import _core
from fastgd._runtime import config, get_num_threads, set_num_threads, show_config, threads
from fastgd import ops
from fastgd import init, layers
from fastgd.layers import ACTIVATIONS, Dense
from fastgd.model import Sequential
from fastgd import callbacks, datasets, io, training
from fastgd.callbacks import EarlyStopping
from fastgd.io import load, load_checkpoint, save_checkpoint
from fastgd.training import DivergenceError, History, fit_restarts

__version__: str = _core.BUILD_INFO["version"]

__all__ = [
    "__version__",
    "config",
    "show_config",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "ops",
    "init",
    "layers",
    "ACTIVATIONS",
    "Dense",
    "Sequential",
    "callbacks",
    "datasets",
    "io",
    "training",
    "EarlyStopping",
    "load",
    "save_checkpoint",
    "load_checkpoint",
    "DivergenceError",
    "History",
    "fit_restarts",
]

# ---- losses and metrics (issue 4) -----------------------------------------------------
from fastgd import losses, metrics  # noqa: E402
from fastgd.losses import MAE, MSE, BinaryCrossEntropy, Huber, Loss, Poisson, SoftmaxCrossEntropy  # noqa: E402

__all__ += ["losses", "metrics", "Loss", "SoftmaxCrossEntropy", "BinaryCrossEntropy", "MSE", "MAE", "Huber", "Poisson"]

# ---- optim area (issue 5) ----
from fastgd import optim, schedules  # noqa: E402
from fastgd.optim import clip_grad_norm, clip_grad_value, grad_norm  # noqa: E402

__all__ += ["optim", "schedules", "clip_grad_norm", "clip_grad_value", "grad_norm"]

# ---- minimize (issue 7) ----
from fastgd.lbfgs import LBFGS  # noqa: E402
from fastgd.minimize import OptimizeResult, approx_grad, check_grad, maximize, minimize  # noqa: E402

__all__ += ["minimize", "maximize", "OptimizeResult", "check_grad", "approx_grad", "LBFGS"]

# ---- curvature: Hessian-vector products, eigenvalues, Newton-CG ----
from fastgd import curvature  # noqa: E402
from fastgd.curvature import hessian, hvp  # noqa: E402
from fastgd.newton_cg import NewtonCG  # noqa: E402

__all__ += ["curvature", "hvp", "hessian", "NewtonCG"]
