"""fastgd: fast gradient descent and neural-network training on the CPU."""

from fastgd import _core
from fastgd._runtime import config, get_num_threads, set_num_threads, show_config, threads
from fastgd import callbacks, curvature, datasets, init, io, layers, losses, metrics, ops, optim, schedules, training
from fastgd.callbacks import EarlyStopping
from fastgd.curvature import hessian, hvp
from fastgd.io import load, load_checkpoint, save_checkpoint
from fastgd.layers import ACTIVATIONS, Dense
from fastgd.lbfgs import LBFGS
from fastgd.losses import MAE, MSE, BinaryCrossEntropy, Huber, Loss, Poisson, SoftmaxCrossEntropy
from fastgd.minimize import OptimizeResult, approx_grad, check_grad, maximize, minimize
from fastgd.model import Sequential
from fastgd.newton_cg import NewtonCG
from fastgd.optim import clip_grad_norm, clip_grad_value, grad_norm
from fastgd.training import DivergenceError, History, fit_restarts

__version__: str = _core.BUILD_INFO["version"]

__all__ = [
    "__version__",
    # runtime
    "config", "show_config", "set_num_threads", "get_num_threads", "threads",
    # modules
    "ops", "init", "layers", "callbacks", "datasets", "io", "training", "losses", "metrics", "optim",
    "schedules", "curvature",
    # the model and its training
    "ACTIVATIONS", "Dense", "Sequential", "EarlyStopping", "DivergenceError", "History", "fit_restarts",
    "load", "save_checkpoint", "load_checkpoint",
    # losses
    "Loss", "SoftmaxCrossEntropy", "BinaryCrossEntropy", "MSE", "MAE", "Huber", "Poisson",
    # optimizers
    "clip_grad_norm", "clip_grad_value", "grad_norm", "LBFGS", "NewtonCG",
    # minimization and curvature
    "minimize", "maximize", "OptimizeResult", "check_grad", "approx_grad", "hvp", "hessian",
]
