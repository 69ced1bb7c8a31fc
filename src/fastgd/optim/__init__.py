"""Optimizers and what drives them: the first-order optimizers and gradient clipping
(:mod:`~fastgd.optim.optimizers`), learning-rate schedules (:mod:`~fastgd.optim.schedules`),
L-BFGS (:mod:`~fastgd.optim.lbfgs`) and Newton-CG (:mod:`~fastgd.optim.newton_cg`)."""

# Every optimizer class and helper, as optimizers.__all__ lists them (one list: a new optimizer
# is exported here without an edit).
from fastgd.optim.optimizers import *  # noqa: F401,F403
from fastgd.optim.optimizers import __all__  # noqa: F401
