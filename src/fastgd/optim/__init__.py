"""Optimizers and what drives them: the first-order optimizers and gradient clipping
(:mod:`~fastgd.optim.optimizers`), learning-rate schedules (:mod:`~fastgd.optim.schedules`),
L-BFGS (:mod:`~fastgd.optim.lbfgs`) and Newton-CG (:mod:`~fastgd.optim.newton_cg`)."""

from fastgd.optim.optimizers import (
    SGD, AdaGrad, Adam, AdamW, Optimizer, RMSProp, clip_grad_norm, clip_grad_value, from_config, get, grad_norm)

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSProp", "Adam", "AdamW", "from_config", "get",
           "grad_norm", "clip_grad_norm", "clip_grad_value"]
