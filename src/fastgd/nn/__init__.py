"""Networks: dense layers (:mod:`~fastgd.nn.layers`), the model over one flat parameter arena
(:mod:`~fastgd.nn.model`), the losses (:mod:`~fastgd.nn.losses`) and the weight initializers
(:mod:`~fastgd.nn.init`)."""

from fastgd.nn.layers import ACTIVATIONS, Dense
from fastgd.nn.model import Sequential

__all__ = ["ACTIVATIONS", "Dense", "Sequential"]
