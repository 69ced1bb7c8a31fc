"""Shared fixtures: every kernel test runs on each CPU target this machine can
execute; with FASTGD_ARCH set (CI runs the whole suite once per target that
way) on that target only."""

import os

import numpy as np
import pytest

import fastgd
from fastgd import _core

ISAS = ([_core.isa_current()] if os.environ.get("FASTGD_ARCH") else
        [isa for isa in _core.isa_compiled() if isa in _core.isa_cpu_supported()])


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test with the kernels routed to one CPU target, then restore."""
    previous = _core.isa_current()
    _core.isa_select(request.param)
    try:
        yield request.param
    finally:
        _core.isa_select(previous)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


def _build_mlp(widths, dtype="float64", seed=0):
    layers = [fastgd.Dense(a, b, activation="tanh") for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastgd.Dense(widths[-2], widths[-1], activation="identity"))
    return fastgd.Sequential(layers, dtype=dtype, seed=seed)


@pytest.fixture
def make_mlp():
    """``make_mlp(widths, dtype="float64", seed=0)``: a Sequential of Dense layers of these
    widths, tanh on the hidden layers and identity on the output."""
    return _build_mlp


@pytest.fixture(autouse=True)
def _restore_threads():
    n = fastgd.get_num_threads()
    yield
    fastgd.set_num_threads(n)
