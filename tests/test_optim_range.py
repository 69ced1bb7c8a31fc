"""An optimizer update restricted to a range of the parameters (``inplace_optim_step(...,
start=, stop=)``, what a data-parallel rank applies to its slice): bit for bit the full update
there, nothing elsewhere."""

import numpy as np
import pytest

from fastgd import _core, optim

OPTIMIZERS = [
    lambda: optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: optim.AdaGrad(lr=0.1, lr_decay=0.01),
    lambda: optim.RMSProp(lr=0.01, momentum=0.5, centered=True),
    lambda: optim.Adam(lr=0.01, amsgrad=True, weight_decay=1e-2),
    lambda: optim.AdamW(lr=0.01),
    lambda: optim.Adamax(lr=0.01),
]


def arrays(n, dtype, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,cuts", [(1, [0, 1]), (37, [0, 5, 5, 20, 37]), (100, [0, 33, 66, 100])])
def test_ranges_tiling_the_parameters_give_the_full_update(make, dtype, n, cuts):
    full, split = make(), make()
    groups = [(0, n // 2, {}), (n // 2, n, {"weight_decay": 0.0})] if n > 1 else None
    for opt in (full, split):
        opt.set_param_groups(groups)
    p_full, _ = arrays(n, dtype, 0)
    p_split = p_full.copy()
    for step in range(3):
        _, g = arrays(n, dtype, step + 1)
        full.step(p_full, g)
        state, plan = split._plan(n, p_split.dtype)
        for a, b in zip(cuts[:-1], cuts[1:]):
            before = p_split.copy()
            _core.inplace_optim_step(p_split, g, state if state.size else None, plan, start=a, stop=b)
            outside = np.ones(n, bool)
            outside[a:b] = False
            np.testing.assert_array_equal(p_split[outside], before[outside])
        _core.count_step(split)
        np.testing.assert_array_equal(p_split, p_full)
        np.testing.assert_array_equal(split.state_dict()["state"], full.state_dict()["state"])


def test_optimizer_step_range_counts_one_step():
    opt = optim.Adam(lr=0.01)
    p, g = arrays(10, np.float64, 0)
    opt._step_range(p, g, 2, 7)
    assert opt.step_count == 1


def test_range_is_checked():
    p, g = arrays(10, np.float64, 0)
    groups = [(0, 10, dict(optim.SGD(lr=0.1)._group_cfg(0, {})))]
    for start, stop in ((-1, 5), (3, 2), (0, 11)):
        with pytest.raises(ValueError, match="start and stop"):
            _core.inplace_optim_step(p, g, None, groups, start=start, stop=stop)
    with pytest.raises(TypeError, match="start must be an integer"):
        _core.inplace_optim_step(p, g, None, groups, start=1.5)
    with pytest.raises(TypeError, match="stop must be an integer"):
        _core.inplace_optim_step(p, g, None, groups, stop=True)


def test_a_range_may_not_cut_a_noisy_group():
    opt = optim.SGD(lr=0.1, noise=0.5, seed=3)
    assert opt._noisy() and not optim.SGD(lr=0.1)._noisy()
    p, g = arrays(10, np.float64, 0)
    state, plan = opt._plan(10, p.dtype)
    with pytest.raises(ValueError, match="cut group 0"):
        _core.inplace_optim_step(p, g, state if state.size else None, plan, start=0, stop=5)
    whole = p.copy()
    _core.inplace_optim_step(whole, g, state if state.size else None, plan, start=0, stop=10)
    reference = p.copy()
    _core.inplace_optim_step(reference, g, state if state.size else None, plan)
    np.testing.assert_array_equal(whole, reference)
