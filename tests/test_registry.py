"""The registries (src/kernels/registry/*.h) as the Python layer sees them: every name table
is read from the compiled library, in C enum order, and every registered activation, loss and
optimizer is reachable by its name."""

import numpy as np
import pytest

import fastgd
from fastgd import _core, optim


def test_name_tables_come_from_the_c_enums():
    assert fastgd.ACTIVATIONS == _core.ACTIVATIONS
    assert fastgd.ACTIVATIONS[0] == "identity"
    assert len(set(_core.ACTIVATIONS)) == len(_core.ACTIVATIONS)
    assert _core.LOSSES == ("softmax_ce", "bce", "mse", "mae", "huber", "poisson")
    assert _core.OPTIMIZERS == ("sgd", "adagrad", "rmsprop", "adam", "adamw", "adamax")
    for kind, name in enumerate(_core.LOSSES):
        assert getattr(_core, "LOSS_" + name.upper()) == kind


@pytest.mark.parametrize("act", fastgd.ACTIVATIONS)
def test_every_activation_is_usable_by_name(act):
    layer = fastgd.Dense(3, 2, activation=act)
    assert layer.activation_id == fastgd.ACTIVATIONS.index(act)
    x = np.linspace(-2, 2, 12).reshape(4, 3)
    W = np.full((3, 2), 0.5)
    out = fastgd.ops.dense_forward(x, W, np.zeros(2), activation=act)
    assert out.shape == (4, 2) and np.isfinite(out).all()


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="activation must be one of .*'elu'.* got 'rleu'"):
        fastgd.Dense(3, 2, activation="rleu")


@pytest.mark.parametrize("cls, name", [(optim.SGD, "sgd"), (optim.AdaGrad, "adagrad"),
                                       (optim.RMSProp, "rmsprop"), (optim.Adam, "adam"),
                                       (optim.AdamW, "adamw"), (optim.Adamax, "adamax")])
def test_optimizer_kinds_are_their_registry_positions(cls, name):
    assert cls._kind == _core.OPTIMIZERS.index(name)
