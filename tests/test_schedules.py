"""Learning-rate schedules vs their formulas and torch.optim.lr_scheduler."""

import math
import pickle

import numpy as np
import pytest

from fastgd import optim, schedules

EPOCHS = 40


def trace(schedule, n=EPOCHS):
    lrs = [schedule.get_last_lr()]
    for _ in range(n):
        schedule.step()
        lrs.append(schedule.get_last_lr())
    return lrs


def torch_trace(make_scheduler, lr=0.1, n=EPOCHS):
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_scheduler(torch.optim.lr_scheduler, opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def test_step_decay():
    lrs = trace(schedules.StepDecay(optim.SGD(0.1), step_size=7, gamma=0.5))
    np.testing.assert_allclose(lrs, [0.1 * 0.5 ** (t // 7) for t in range(EPOCHS + 1)], rtol=1e-15)
    np.testing.assert_allclose(lrs, torch_trace(lambda s, o: s.StepLR(o, step_size=7, gamma=0.5)), rtol=1e-12)


def test_exponential_decay():
    lrs = trace(schedules.ExponentialDecay(optim.SGD(0.1), gamma=0.9))
    np.testing.assert_allclose(lrs, [0.1 * 0.9 ** t for t in range(EPOCHS + 1)], rtol=1e-15)
    np.testing.assert_allclose(lrs, torch_trace(lambda s, o: s.ExponentialLR(o, gamma=0.9)), rtol=1e-12)


def test_inverse_time_decay():
    lrs = trace(schedules.InverseTimeDecay(optim.SGD(0.1), decay_rate=0.5, decay_steps=3))
    np.testing.assert_allclose(lrs, [0.1 / (1 + 0.5 * t / 3) for t in range(EPOCHS + 1)], rtol=1e-15)
    np.testing.assert_allclose(
        lrs, torch_trace(lambda s, o: s.LambdaLR(o, lambda t: 1 / (1 + 0.5 * t / 3))), rtol=1e-12)


def test_cosine_decay_without_warmup():
    lrs = trace(schedules.CosineDecay(optim.SGD(0.1), total_steps=30, min_lr=0.01), n=30)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 30)) / 2 for t in range(31)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-14)
    np.testing.assert_allclose(
        lrs, torch_trace(lambda s, o: s.CosineAnnealingLR(o, T_max=30, eta_min=0.01), n=30), rtol=1e-9)


def test_cosine_decay_with_warmup():
    sched = schedules.CosineDecay(optim.SGD(0.1), total_steps=30, warmup_steps=5, min_lr=0.0)
    lrs = trace(sched, n=35)
    assert lrs[:5] == pytest.approx([0.1 * (t + 1) / 5 for t in range(5)], rel=1e-15)
    assert lrs[5] == pytest.approx(0.1) and lrs[30:] == [0.0] * 6
    expected = torch_trace(lambda s, o: s.SequentialLR(o, [
        s.LinearLR(o, start_factor=1 / 5, end_factor=1.0, total_iters=4),
        s.CosineAnnealingLR(o, T_max=25, eta_min=0.0)], milestones=[5]), n=30)
    np.testing.assert_allclose(lrs[:31], expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_on_plateau_matches_torch(mode, rng):
    torch = pytest.importorskip("torch")
    metrics = np.concatenate([np.linspace(1, 0.5, 10), np.full(15, 0.5), np.linspace(0.5, 0.2, 5),
                              np.full(30, 0.2) + rng.normal(0, 1e-6, 30)])
    if mode == "max":
        metrics = 2 - metrics
    opt = optim.SGD(0.1)
    sched = schedules.ReduceLROnPlateau(opt, mode=mode, factor=0.5, patience=3, min_lr=0.004)
    assert sched.needs_metric
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, mode=mode, factor=0.5, patience=3,
                                                        threshold=1e-4, min_lr=0.004)
    ours, theirs = [], []
    for m in metrics:
        sched.step(m)
        tsched.step(float(m))
        ours.append(opt.lr)
        theirs.append(topt.param_groups[0]["lr"])
    assert ours == pytest.approx(theirs, rel=1e-15)
    assert min(ours) == 0.004


def test_schedule_drives_the_optimizer_used_by_step():
    opt = optim.SGD(1.0)
    sched = schedules.ExponentialDecay(opt, gamma=0.5, interval="step")
    p = np.zeros(3)
    for _ in range(3):
        opt.step(p, np.ones(3))
        sched.step()
    np.testing.assert_allclose(p, -(1 + 0.5 + 0.25) * np.ones(3), rtol=1e-15)
    assert sched.interval == "step" and not sched.needs_metric


@pytest.mark.parametrize("make", [
    lambda o: schedules.StepDecay(o, 3, 0.5),
    lambda o: schedules.ExponentialDecay(o, 0.9),
    lambda o: schedules.InverseTimeDecay(o, 0.1),
    lambda o: schedules.CosineDecay(o, 20, warmup_steps=2, min_lr=1e-4),
    lambda o: schedules.ReduceLROnPlateau(o, patience=1),
])
def test_state_dict_and_config_round_trip(make):
    opt = optim.Adam(0.1)
    sched = make(opt)
    for i in range(5):
        sched.step(1.0) if sched.needs_metric else sched.step()
    state, lr = sched.state_dict(), opt.lr
    opt2 = optim.Adam(0.1)
    sched2 = schedules.from_config(opt2, sched.get_config())
    sched2.load_state_dict(state)
    assert opt2.lr == lr
    for i in range(5):
        for s in (sched, sched2):
            s.step(1.0) if s.needs_metric else s.step()
    assert opt2.lr == opt.lr
    assert repr(sched).startswith(type(sched).__name__)


@pytest.mark.parametrize("make, message", [
    (lambda o: schedules.StepDecay(o, 0), "step_size"),
    (lambda o: schedules.StepDecay(o, 2, gamma=0), "gamma"),
    (lambda o: schedules.ExponentialDecay(o, -0.5), "gamma"),
    (lambda o: schedules.InverseTimeDecay(o, -1.0), "decay_rate"),
    (lambda o: schedules.InverseTimeDecay(o, 1.0, decay_steps=0), "decay_steps"),
    (lambda o: schedules.CosineDecay(o, 0), "total_steps"),
    (lambda o: schedules.CosineDecay(o, 10, warmup_steps=10), "warmup_steps"),
    (lambda o: schedules.CosineDecay(o, 10, min_lr=-1), "min_lr"),
    (lambda o: schedules.ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: schedules.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: schedules.ReduceLROnPlateau(o, patience=-1), "patience"),
    (lambda o: schedules.StepDecay(o, 2, interval="batch"), "interval"),
    # fit steps a plateau schedule with the epoch's monitored value: per step it raised
    # "step() missing 1 required positional argument: 'metric'" after the first batch
    (lambda o: schedules.ReduceLROnPlateau(o, interval="step"), "interval must be 'epoch' for ReduceLROnPlateau"),
])
def test_invalid_arguments_raise_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make(optim.SGD(0.1))


def test_needs_an_optimizer():
    with pytest.raises(TypeError, match="optimizer"):
        schedules.StepDecay(None, 2)


def test_a_learning_rate_grown_past_the_floats_is_a_clear_error():
    opt = optim.SGD(lr=1e-3)
    s = schedules.ExponentialDecay(opt, gamma=10.0)
    for _ in range(300):
        s.step()
    with pytest.raises(ValueError, match="ExponentialDecay's learning rate overflows at step 3"):
        for _ in range(100):
            s.step()
    assert math.isfinite(opt.lr)


def test_lr_at_any_step_is_the_power_in_floating_point():
    # lr_at raised OverflowError, naming nothing, where gamma**n passed the float range (gamma 10
    # at step 1000) or n did (any gamma after 10**400 steps); as in floating point, a growing
    # power is inf there and a decaying one 0
    opt = optim.SGD(lr=0.1)
    assert schedules.StepDecay(opt, 1, gamma=10.0).lr_at(1000) == math.inf
    assert schedules.ExponentialDecay(opt, gamma=10.0).lr_at(10**6) == math.inf
    for make in (lambda g: schedules.StepDecay(opt, 3, gamma=g), lambda g: schedules.ExponentialDecay(opt, gamma=g)):
        assert make(0.5).lr_at(10**400) == 0.0
        assert make(1.0).lr_at(10**400) == 0.1
        assert make(2.0).lr_at(10**400) == math.inf
        assert make(0.5).lr_at(2**63) == 0.0


def _pickled_schedules():
    return [schedules.StepDecay(optim.SGD(lr=0.1), step_size=2, gamma=0.5),
            schedules.CosineDecay(optim.Adam(lr=0.1), total_steps=10, warmup_steps=2),
            schedules.ReduceLROnPlateau(optim.SGD(lr=0.1), patience=0)]


@pytest.mark.parametrize("index", range(3))
def test_a_pickled_schedule_and_its_optimizer_continue_exactly(index):
    sched = _pickled_schedules()[index]
    metric = () if not sched.needs_metric else (1.0,)
    for _ in range(3):
        sched.step(*metric)
    opt2, twin = pickle.loads(pickle.dumps((sched.optimizer, sched)))
    assert twin.optimizer is opt2 and opt2.lr == sched.optimizer.lr
    assert twin.get_config() == sched.get_config() and twin.state_dict() == sched.state_dict()
    for _ in range(3):
        sched.step(*metric)
        twin.step(*metric)
        assert opt2.lr == sched.optimizer.lr


def test_unpickling_a_tampered_schedule_is_checked_as_its_constructor_and_state_dict_are():
    # its attributes were restored as pickled: a step_size of 0 raised ZeroDivisionError at the
    # next step, a negative step count "t must be an integer >= 0"
    sched = _pickled_schedules()[0]
    restore, (optimizer, config, state) = sched.__reduce__()
    for bad_config, bad_state, message in (({"step_size": 0}, {}, r"step_size must be an integer >= 1"),
                                           ({"gamma": float("nan")}, {}, r"gamma must be"),
                                           ({}, {"last_step": -1}, r"state\['last_step'\] must be an integer >= 0")):
        with pytest.raises(ValueError, match=message):
            restore(optimizer, {**config, **bad_config}, {**state, **bad_state})
    assert pickle.loads(pickle.dumps(sched)).state_dict() == sched.state_dict()
