"""fastgd: fast gradient descent and neural-network training on the CPU.

Subpackages: :mod:`fastgd.nn` (layers, the model, losses, initializers), :mod:`fastgd.optim`
(optimizers, schedules, L-BFGS, Newton-CG), :mod:`fastgd.training` (the fit loop, callbacks, saving
and checkpoints), :mod:`fastgd.sklearn` (scikit-learn estimators); :func:`minimize` and
:mod:`fastgd.curvature` work on plain parameter vectors.
"""

import sys as _sys

from fastgd import _core
from fastgd._runtime import config, get_num_threads, set_num_threads, show_config, threads
from fastgd import curvature, datasets, metrics, nn, ops, optim, training
from fastgd.nn import init, layers, losses, model
from fastgd.optim import lbfgs, newton_cg, schedules
from fastgd.training import callbacks, io
from fastgd.curvature import hessian, hvp
from fastgd.minimize import OptimizeResult, approx_grad, check_grad, maximize, minimize
from fastgd.nn.layers import ACTIVATIONS, Dense
from fastgd.nn.losses import MAE, MSE, BinaryCrossEntropy, Huber, Loss, Poisson, SoftmaxCrossEntropy
from fastgd.nn.model import Sequential
from fastgd.optim import clip_grad_norm, clip_grad_value, grad_norm
from fastgd.optim.lbfgs import LBFGS
from fastgd.optim.newton_cg import NewtonCG
from fastgd.training import DivergenceError, History, fit_restarts
from fastgd.training.callbacks import EarlyStopping
from fastgd.training.io import load, load_checkpoint, save_checkpoint

# The module paths of releases before the subpackages, which import statements and pickles
# (a model pickles as fastgd.model._restore) still name.
for _module in (init, layers, losses, model, lbfgs, newton_cg, schedules, callbacks, io):
    _sys.modules.setdefault("fastgd." + _module.__name__.rpartition(".")[2], _module)
del _module

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
