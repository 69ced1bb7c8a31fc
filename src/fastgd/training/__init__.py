"""Training a model: the fit loop (:mod:`~fastgd.training.loop`), callbacks
(:mod:`~fastgd.training.callbacks`), and saving models and checkpoints (:mod:`~fastgd.training.io`)."""

from fastgd.training.loop import DivergenceError, History, evaluate, fit, fit_restarts, partial_fit

__all__ = ["fit", "evaluate", "partial_fit", "fit_restarts", "History", "DivergenceError"]
