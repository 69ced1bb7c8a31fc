"""Optimizer steps: the documented formulas (NumPy), torch.optim, the reference twins, state."""

import math

import numpy as np
import pytest

import fastgd
from fastgd import _core, optim

# (class name, hyperparameters): every variant of every rule
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.02)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("AdaGrad", dict(lr=0.1)),
    ("AdaGrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.02, initial_accumulator_value=0.3)),
    ("AdaGrad", dict(lr=0.1, eps=1e-6, maximize=True)),
    ("RMSProp", dict(lr=0.01)),
    ("RMSProp", dict(lr=0.01, momentum=0.6)),
    ("RMSProp", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSProp", dict(lr=0.01, alpha=0.3, centered=True, momentum=0.6, weight_decay=0.02)),
    ("RMSProp", dict(lr=0.01, maximize=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.4), eps=1e-6)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, maximize=True)),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in h.items()) for name, h in CASES]
STEPS = 24
LR_CHANGE_AT = 11  # the learning rate is halved before this step


def lerp(a, b, w):
    return a + w * (b - a) if w < 0.5 else b - (b - a) * (1 - w)


class NumpyOptimizer:
    """The documented update of each class, written out with NumPy (float64)."""

    def __init__(self, name, h):
        self.name = name
        self.h = dict(optim.__dict__[name](**h).get_config())
        self.t = 0
        self.s = {}

    def step(self, p, g):
        h, s = self.h, self.s
        self.t += 1
        t, lr, wd = self.t, h["lr"], h.get("weight_decay", 0.0)
        d = -g if h.get("maximize") else g.copy()
        name = self.name
        if name == "AdamW":
            p *= 1 - lr * wd
        elif wd:
            d = d + wd * p
        if name == "SGD":
            mu = h["momentum"]
            if mu:
                s["b"] = d.copy() if t == 1 else s["b"] * mu + (1 - h["dampening"]) * d
                d = d + mu * s["b"] if h["nesterov"] else s["b"]
            p += -lr * d
        elif name == "AdaGrad":
            clr = lr / (1 + (t - 1) * h["lr_decay"])
            s.setdefault("r", np.full_like(p, h["initial_accumulator_value"]))
            s["r"] = s["r"] + d * d
            p += -clr * d / (np.sqrt(s["r"]) + h["eps"])
        elif name == "RMSProp":
            a = h["alpha"]
            s["sq"] = s.get("sq", 0) * a + (1 - a) * d * d
            if h["centered"]:
                s["avg"] = lerp(s.get("avg", np.zeros_like(p)), d, 1 - a)
                den = np.sqrt(np.maximum(s["sq"] - s["avg"] * s["avg"], 0)) + h["eps"]
            else:
                den = np.sqrt(s["sq"]) + h["eps"]
            if h["momentum"] > 0:
                s["b"] = s.get("b", 0) * h["momentum"] + d / den
                p += -lr * s["b"]
            else:
                p += -lr * d / den
        elif name == "Adamax":
            b1, b2 = h["betas"]
            s["m"] = lerp(s.get("m", np.zeros_like(p)), d, 1 - b1)
            s["u"] = np.maximum(s.get("u", 0) * b2, np.abs(d) + h["eps"])
            p += -(lr / (1 - b1 ** t)) * s["m"] / s["u"]
        else:
            b1, b2 = h["betas"]
            s["m"] = lerp(s.get("m", np.zeros_like(p)), d, 1 - b1)
            s["v"] = s.get("v", 0) * b2 + (1 - b2) * d * d
            v = s["v"]
            if h["amsgrad"]:
                s["vmax"] = np.maximum(s.get("vmax", 0), v)
                v = s["vmax"]
            den = np.sqrt(v) * (1 / math.sqrt(1 - b2 ** t)) + h["eps"]
            p += -(lr / (1 - b1 ** t)) * s["m"] / den


def run(opt, p, grads):
    for i, g in enumerate(grads):
        if i == LR_CHANGE_AT:
            opt.lr = opt.lr * 0.5
        opt.step(p, g)
    return p


def problem(rng, dtype, n=257):
    p = rng.standard_normal(n).astype(dtype)
    grads = [(rng.standard_normal(n) * rng.uniform(0.1, 3)).astype(dtype) for _ in range(STEPS)]
    return p, grads


def make(name, h):
    return getattr(optim, name)(**h)


@pytest.mark.parametrize("name, h", CASES, ids=IDS)
def test_matches_documented_formula(isa, rng, name, h):
    p0, grads = problem(rng, np.float64)
    ref = NumpyOptimizer(name, h)
    expected = p0.copy()
    for i, g in enumerate(grads):
        if i == LR_CHANGE_AT:
            ref.h["lr"] *= 0.5
        ref.step(expected, g)
    got = run(make(name, h), p0.copy(), grads)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert not np.array_equal(got, p0)


TORCH_NAMES = {"SGD": "SGD", "AdaGrad": "Adagrad", "RMSProp": "RMSprop", "Adam": "Adam", "AdamW": "AdamW",
               "Adamax": "Adamax"}


@pytest.mark.parametrize("name, h", CASES, ids=IDS)
def test_matches_torch(isa, dtype, rng, name, h):
    torch = pytest.importorskip("torch")
    p0, grads = problem(rng, dtype)
    tp = torch.tensor(p0.copy(), requires_grad=True)
    topt = getattr(torch.optim, TORCH_NAMES[name])([tp], foreach=False, **h)
    for i, g in enumerate(grads):
        if i == LR_CHANGE_AT:
            for group in topt.param_groups:
                group["lr"] *= 0.5
        tp.grad = torch.from_numpy(g.copy())
        topt.step()
    got = run(make(name, h), p0.copy(), grads)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, tp.detach().numpy(), rtol=tol, atol=tol)


def test_momentum_is_the_velocity_form(rng):
    """V ← μV − η∇L, θ ← θ + V (V = 0 at first, η constant) is SGD(momentum=μ)."""
    p0, grads = problem(rng, np.float64)
    theta, V = p0.copy(), np.zeros_like(p0)
    opt, p = optim.SGD(0.05, momentum=0.9), p0.copy()
    for g in grads:
        V = 0.9 * V - 0.05 * g
        theta = theta + V
        opt.step(p, g)
    np.testing.assert_allclose(p, theta, rtol=1e-12, atol=1e-12)


def test_nesterov_is_the_look_ahead_gradient_form(rng):
    """V ← μV − η∇L(θ + μV), θ ← θ + V: SGD(nesterov=True) keeps θ' = θ + μV and takes the
    gradient there, on a quadratic whose gradient depends on where it is taken."""
    A = rng.standard_normal((20, 20))
    A = A @ A.T / 20 + np.eye(20)
    c = rng.standard_normal(20)
    mu, lr = 0.8, 0.1
    theta, V = rng.standard_normal(20), np.zeros(20)
    opt, p = optim.SGD(lr, momentum=mu, nesterov=True), theta.copy()
    for _ in range(30):
        V = mu * V - lr * (A @ (theta + mu * V) - c)
        theta = theta + V
        opt.step(p, A @ p - c)
    np.testing.assert_allclose(p, theta + mu * V, rtol=1e-12, atol=1e-12)


def test_momentum_under_a_constant_gradient_reaches_the_terminal_step(rng):
    """The step tends to η·g/(1 − μ): momentum 0.9 moves ten times as far as plain SGD."""
    g = rng.standard_normal(50)
    p = np.zeros(50)
    opt = optim.SGD(0.01, momentum=0.9)
    for _ in range(400):  # 0.9**400 ≈ 5e-19
        before = p.copy()
        opt.step(p, g)
    np.testing.assert_allclose(p - before, -0.01 * g / (1 - 0.9), rtol=1e-12)


@pytest.mark.parametrize("name, h", CASES, ids=IDS)
def test_dispatched_kernel_is_bit_identical_to_reference_twin(isa, dtype, rng, name, h):
    """Vectorized, specialized, threaded loops vs the scalar reference: same bits, any size."""
    for n in (1, 7, 8, 9, 63, 64, 65, 1000):
        p, grads = problem(rng, dtype, n)
        opt = make(name, h)
        q = p.copy()
        state_q = None
        for g in grads[:5]:
            state, groups = opt._plan(n, dtype)
            if state_q is None:
                state_q = state.copy()
            _core.inplace_optim_step(p, g, state if state.size else None, groups)
            _core.inplace_optim_step(q, g, state_q if state_q.size else None, groups, reference=True)
            _core.count_step(opt)
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(state, state_q)


@pytest.mark.parametrize("name, h", CASES[1::3], ids=IDS[1::3])
def test_thread_counts_and_targets_give_identical_bits(dtype, rng, name, h):
    n = 70_001  # 5 chunks of the kernel's grain: up to 3 threads
    p0, grads = problem(rng, dtype, n)
    results = []
    for isa in [i for i in _core.isa_compiled() if i in _core.isa_cpu_supported()]:
        previous = _core.isa_current()
        _core.isa_select(isa)
        try:
            for threads in (1, 2, 3):
                with fastgd.threads(threads):
                    opt = make(name, h)
                    p = p0.copy()
                    for g in grads[:3]:
                        opt.step(p, g)
                    results.append(p)
        finally:
            _core.isa_select(previous)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("name, h", CASES, ids=IDS)
def test_state_dict_round_trip_mid_run_continues_identically(dtype, rng, name, h):
    p0, grads = problem(rng, dtype)
    straight = run(make(name, h), p0.copy(), grads)
    opt = make(name, h)
    p = p0.copy()
    for g in grads[:LR_CHANGE_AT]:
        opt.step(p, g)
    saved, p_saved = opt.state_dict(), p.copy()
    opt.step(p, grads[0] * 100)  # later steps must not leak into the saved copy
    assert saved["step"] == LR_CHANGE_AT
    resumed = optim.from_config(saved["config"])
    resumed.load_state_dict(saved)
    resumed.lr = resumed.lr * 0.5
    for g in grads[LR_CHANGE_AT:]:
        resumed.step(p_saved, g)
    np.testing.assert_array_equal(p_saved, straight)


def test_state_dict_state_is_compact_slot_after_slot():
    # internally every slot starts on a cache line (stride 16 here); state_dict exchanges the
    # compact layout, slot s of element i at s * n + i, and loading re-pads it
    n, g = 10, np.linspace(-1.0, 1.0, 10)
    opt = optim.Adam(0.1, betas=(0.9, 0.99))
    opt.step(np.zeros(n), g)
    state = opt.state_dict()["state"]
    np.testing.assert_allclose(state, np.concatenate([0.1 * g, 0.01 * g * g]), rtol=1e-15)
    again = optim.Adam(0.1, betas=(0.9, 0.99))
    again.load_state_dict(opt.state_dict())
    np.testing.assert_array_equal(again.state_dict()["state"], state)
    p, q = np.ones(n), np.ones(n)
    opt.step(p, g)
    again.step(q, g)
    np.testing.assert_array_equal(p, q)
    bad = opt.state_dict()
    bad["state"] = bad["state"][:-1]
    with pytest.raises(ValueError, match="must hold 2 slots x n=10 elements = 20"):
        optim.Adam().load_state_dict(bad)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_without_weight_decay_leaves_an_infinite_parameter_alone(name):
    # torch adds weight decay only when it is nonzero: 0 * inf must not turn the moments into NaN
    p, g = np.array([np.inf, 1.0, -np.inf]), np.array([0.5, 0.5, -0.5])
    opt = getattr(optim, name)(0.1, weight_decay=0.0)
    for _ in range(3):
        opt.step(p, g)
    assert p[0] == np.inf and p[2] == -np.inf and np.isfinite(p[1])
    assert np.all(np.isfinite(opt.state_dict()["state"]))


def test_noisy_sgd_adds_scaled_counter_based_normals(isa, dtype, rng):
    n, lr, noise, seed = 1000, 0.04, 0.3, 1234
    p0, grads = problem(rng, dtype, n)
    plain, noisy = p0.copy(), p0.copy()
    a, b = optim.SGD(lr, momentum=0.9), optim.SGD(lr, momentum=0.9, noise=noise, seed=seed)
    for step, g in enumerate(grads[:3], start=1):
        a.step(plain, g)
        b.step(noisy, g)
        xi = _core.optim_noise_normal(n, seed, step).astype(dtype)
        plain = plain + dtype.type(noise * math.sqrt(lr)) * xi
        np.testing.assert_array_equal(noisy, plain)


def test_noisy_sgd_is_reproducible_per_seed_and_thread_count(dtype, rng):
    n = 100_001
    p0, grads = problem(rng, dtype, n)
    runs = {}
    for seed, threads in [(7, 1), (7, 2), (7, 3), (8, 2)]:
        with fastgd.threads(threads):
            p = p0.copy()
            opt = optim.SGD(0.01, noise=0.5, seed=seed)
            for g in grads[:2]:
                opt.step(p, g)
        runs[seed, threads] = p
    np.testing.assert_array_equal(runs[7, 1], runs[7, 2])
    np.testing.assert_array_equal(runs[7, 1], runs[7, 3])
    assert not np.array_equal(runs[7, 1], runs[8, 2])


def test_noisy_sgd_with_drawn_seed_resumes_identically_from_state_dict(rng):
    p0, grads = problem(rng, np.float64)
    opt = optim.SGD(0.01, momentum=0.9, noise=0.1)  # seed drawn at random, kept in the config
    p = p0.copy()
    for g in grads[:5]:
        opt.step(p, g)
    saved, p_saved = opt.state_dict(), p.copy()
    for g in grads[5:]:
        opt.step(p, g)
    resumed = optim.from_config(saved["config"])
    resumed.load_state_dict(saved)
    for g in grads[5:]:
        resumed.step(p_saved, g)
    np.testing.assert_array_equal(p_saved, p)


def test_noise_is_standard_normal_and_fresh_every_step():
    xi = _core.optim_noise_normal(200_000, 42, 1)
    assert abs(xi.mean()) < 0.01 and abs(xi.std() - 1) < 0.01
    assert abs(np.mean(xi ** 4) - 3) < 0.1  # Gaussian kurtosis
    assert abs(np.mean(np.abs(xi) < 1.959964) - 0.95) < 0.003
    other = _core.optim_noise_normal(200_000, 42, 2)
    assert abs(np.corrcoef(xi, other)[0, 1]) < 0.01
    np.testing.assert_array_equal(xi, _core.optim_noise_normal(200_000, 42, 1))


def test_param_groups_exempt_a_range_from_weight_decay(isa, dtype, rng):
    p0, grads = problem(rng, dtype, 300)
    opt = optim.Adam(0.01, weight_decay=0.1)
    opt.set_param_groups([(0, 200, {}), (200, 300, {"weight_decay": 0.0})])
    p = p0.copy()
    for g in grads:
        opt.step(p, g)
    first, second = p0[:200].copy(), p0[200:].copy()
    a, b = optim.Adam(0.01, weight_decay=0.1), optim.Adam(0.01)
    for g in grads:
        a.step(first, g[:200].copy())
        b.step(second, g[200:].copy())
    np.testing.assert_array_equal(p, np.concatenate([first, second]))
    state, groups = opt._plan(300, dtype)
    assert [(g["start"], g["stop"], g["weight_decay"]) for g in groups] == [(0, 200, 0.1), (200, 300, 0.0)]


def test_noisy_groups_draw_independent_noise():
    opt = optim.SGD(1.0, noise=1.0, seed=3)
    opt.set_param_groups([(0, 50, {}), (50, 100, {})])
    p = np.zeros(100)
    opt.step(p, np.zeros(100))
    assert not np.array_equal(p[:50], p[50:])


def _config_dict(group):
    """One plan group's fg_optim_config as the dict the low-level bindings also take."""
    return {k: group[k].item() for k in _core.OPTIM_CONFIG_FIELDS}


def test_plan_contract():
    opt = optim.RMSProp(0.01, centered=True, momentum=0.5)
    state, groups = opt._plan(10, np.float32)
    # three slots, each starting on a 64-byte line: stride optim_state_stride(10) = 16
    assert _core.optim_state_stride(10) == 16
    assert state.dtype == np.float32 and state.shape == (48,) and state.flags.c_contiguous
    assert state.ctypes.data % 64 == 0
    assert groups.dtype == _core.OPTIM_GROUP_DTYPE and groups.dtype.itemsize == _core.OPTIM_GROUP_DTYPE.itemsize
    assert set(groups.dtype.names) == {"start", "stop"} | set(_core.OPTIM_CONFIG_FIELDS)
    (group,) = groups
    assert (group["start"], group["stop"]) == (0, 10)
    cfg = _config_dict(group)
    assert cfg["kind"] == 2 and cfg["step"] == 1 and cfg["centered"] == 1 and cfg["lr"] == 0.01
    assert _core.optim_state_slots(cfg) == 3
    np.testing.assert_array_equal(_core.optim_groups([(0, 10, cfg)]), groups)
    _core.count_step(opt)
    assert opt._plan(10, np.float32)[1][0]["step"] == 2
    assert opt._plan(10, np.float32)[0] is state
    assert optim.SGD(0.1)._plan(5, np.float64)[0].size == 0


def test_config_round_trip():
    for name, h in CASES:
        opt = make(name, h)
        opt.set_param_groups([(0, 3, {}), (3, 4, {"weight_decay": 0.0})])
        again = optim.from_config(opt.get_config())
        assert type(again) is type(opt) and again.get_config() == opt.get_config()
        assert repr(opt).startswith(name + "(")


@pytest.mark.parametrize("ctor, message", [
    (lambda: optim.SGD(-0.1), "lr"),
    (lambda: optim.SGD(float("nan")), "lr"),
    (lambda: optim.SGD(0.1, momentum=-1), "momentum"),
    (lambda: optim.SGD(0.1, dampening=2), "dampening"),
    (lambda: optim.SGD(0.1, nesterov=True), "nesterov"),
    (lambda: optim.SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda: optim.SGD(0.1, weight_decay=-1e-3), "weight_decay"),
    (lambda: optim.SGD(0.1, noise=-1), "noise"),
    (lambda: optim.AdaGrad(0.1, eps=0.0), "eps"),
    (lambda: optim.AdaGrad(0.1, lr_decay=-1), "lr_decay"),
    (lambda: optim.AdaGrad(0.1, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda: optim.RMSProp(0.1, alpha=1.0), "alpha"),
    (lambda: optim.RMSProp(0.1, eps=-1e-8), "eps"),
    (lambda: optim.RMSProp(0.1, momentum=-0.5), "momentum"),
    (lambda: optim.Adam(0.1, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda: optim.Adam(0.1, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda: optim.Adam(0.1, betas=(0.9,)), "betas"),
    (lambda: optim.Adam(0.1, eps=0), "eps"),
    (lambda: optim.AdamW(0.1, weight_decay=-1), "weight_decay"),
])
def test_invalid_hyperparameters_raise_naming_them(ctor, message):
    with pytest.raises(ValueError, match=message):
        ctor()


def test_invalid_lr_assignment_and_group_override_raise():
    opt = optim.Adam()
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1
    with pytest.raises(ValueError, match="betas"):
        opt.set_param_groups([(0, 3, {"betas": (2, 0)})])
    with pytest.raises(ValueError, match="overrides"):
        opt.set_param_groups([(0, 3, {"lr": 0.1})])
    with pytest.raises(ValueError, match="tile"):
        opt.set_param_groups([(0, 3, {}), (4, 6, {})])
    opt.set_param_groups([(0, 3, {})])
    with pytest.raises(ValueError, match="tile"):
        opt.step(np.zeros(5), np.zeros(5))


def test_mismatched_params_and_grads_raise():
    opt = optim.SGD(0.1, momentum=0.9)
    with pytest.raises(ValueError, match="grads"):
        opt.step(np.zeros(4), np.zeros(5))
    with pytest.raises(TypeError, match="grads must have the dtype of params"):
        opt.step(np.zeros(4), np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="grads must be a numpy.ndarray"):
        opt.step(np.zeros(4), [0.0] * 4)
    with pytest.raises(ValueError, match="params"):
        opt.step(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="float32 or float64"):
        opt.step(np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step(np.zeros(8)[::2], np.zeros(4))
    buf = np.zeros(8)
    with pytest.raises(ValueError, match="share memory"):
        opt.step(buf[:4], buf[2:6])
    opt.step(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="reset"):
        opt.step(np.zeros(5), np.ones(5))
    with pytest.raises(ValueError, match="reset"):
        opt.step(np.zeros(4, dtype=np.float32), np.ones(4, dtype=np.float32))
    opt.reset()
    opt.step(np.zeros(5), np.ones(5))
    assert opt.step_count == 1


@pytest.mark.parametrize("size", [0, 1, 17, 1000])
def test_aligned_zeros_start_on_a_cache_line(dtype, size):
    a = _core.aligned_zeros(size, dtype)
    assert a.shape == (size,) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
    assert not a.any()
    if size:  # an empty slice need not point into the buffer
        assert a.ctypes.data % 64 == 0
    model = fastgd.Sequential([fastgd.Dense(3, 5), fastgd.Dense(5, 2)], dtype=dtype)
    assert model.params.ctypes.data % 64 == 0 and model.grads.ctypes.data % 64 == 0
    with pytest.raises(ValueError, match="size must be >= 0"):
        _core.aligned_zeros(-1, dtype)


def test_low_level_step_validates_state_and_groups():
    cfg = _config_dict(optim.Adam()._plan(4, np.float64)[1][0])
    p, g = np.zeros(4), np.ones(4)
    with pytest.raises(ValueError, match="state must hold 2 slots x 16"):
        _core.inplace_optim_step(p, g, np.zeros(31), [(0, 4, cfg)])
    with pytest.raises(ValueError, match="state must be"):
        _core.inplace_optim_step(p, g, None, [(0, 4, cfg)])
    with pytest.raises(TypeError, match="state must have the dtype"):
        _core.inplace_optim_step(p, g, np.zeros(32, np.float32), [(0, 4, cfg)])
    with pytest.raises(ValueError, match="tile"):
        _core.inplace_optim_step(p, g, np.zeros(32), [(0, 3, cfg)])
    with pytest.raises(ValueError, match="No value specified|kind|struct"):
        _core.inplace_optim_step(p, g, np.zeros(32), [(0, 4, {"lr": 0.1})])


def test_empty_buffer_is_a_no_op():
    opt = optim.Adam()
    p = np.zeros(0, dtype=np.float32)
    opt.step(p, p.copy())
    assert opt.step_count == 1


@pytest.mark.parametrize("name, h", [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("AdaGrad", dict(lr=0.5)), ("RMSProp", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.05)), ("AdamW", dict(lr=0.05, weight_decay=1e-4)), ("Adamax", dict(lr=0.05)),
])
def test_minimizes_a_convex_quadratic(dtype, name, h):
    """f(θ) = ½ Σ a_i (θ_i − c_i)², badly conditioned: every optimizer gets close to c."""
    a = np.linspace(0.2, 2.0, 50).astype(dtype)
    c = np.linspace(-1, 1, 50).astype(dtype)
    theta = np.zeros(50, dtype=dtype)
    opt = make(name, h)
    for _ in range(2000):
        opt.step(theta, a * (theta - c))
    assert np.abs(theta - c).max() < 0.02


def test_maximize_climbs_25_sin_x_minus_x_squared():
    """Seed 003's gradient ascent: from x = 0.5 to the local maximum of 25 sin x − x² (x ≈ 1.47)."""
    x = np.array([0.5])
    opt = optim.SGD(0.01, maximize=True)
    for _ in range(500):
        opt.step(x, 25 * np.cos(x) - 2 * x)
    assert abs(25 * np.cos(x[0]) - 2 * x[0]) < 1e-8 and -25 * np.sin(x[0]) - 2 < 0


def test_step_on_a_model_uses_its_flat_arenas(rng):
    class Arenas:  # what a fastgd Model exposes: flat parameter and gradient buffers
        params = rng.standard_normal(20)
        grads = rng.standard_normal(20)

    model = Arenas()
    expected = model.params - 0.1 * model.grads
    optim.SGD(0.1).step(model)
    np.testing.assert_allclose(model.params, expected, rtol=1e-15)


@pytest.mark.parametrize("name, hyper", [("SGD", {}), ("SGD", {"momentum": 0.9}), ("AdaGrad", {}),
                                         ("RMSProp", {}), ("Adamax", {}), ("Adam", {}),
                                         ("AdamW", {"weight_decay": 0.0})])
@pytest.mark.parametrize("reference", [False, True])
def test_infinite_parameters_stay_infinite_without_weight_decay(name, hyper, reference):
    # as in torch: weight_decay=0 adds no 0·p term to the gradient, which would be NaN for p = ±inf
    opt = getattr(optim, name)(lr=0.1, **hyper)
    p = np.array([np.inf, -np.inf, 1.0])
    state, groups = opt._plan(3, p.dtype)
    _core.inplace_optim_step(p, np.full(3, 0.5), state if state.size else None, groups, reference=reference)
    assert p[0] == np.inf and p[1] == -np.inf and p[2] < 1.0


@pytest.mark.parametrize("reference", [False, True])
def test_centered_rmsprop_variance_rounding_below_zero_is_zero(isa, dtype, rng, reference):
    # Under a constant gradient the running mean of squares and the square of the running mean
    # end an ulp apart either way; the square root of a negative difference made parameters NaN
    # (torch.optim.RMSprop's too). The variance is 0 there, so the denominator is eps.
    g = rng.standard_normal(1000).astype(dtype)
    opt = optim.RMSProp(lr=0.01, alpha=0.5, centered=True)
    p = np.zeros(1000, dtype)
    for _ in range(200):
        before = p.copy()
        state, groups = opt._plan(p.size, p.dtype)
        _core.inplace_optim_step(p, g, state, groups, reference=reference, optimizer=opt)
    assert np.isfinite(p).all()
    sq, avg = opt.state_dict()["state"].reshape(2, 1000)
    negative = sq - avg * avg < 0
    assert negative.any()  # the case occurs
    lr, eps = dtype.type(0.01), dtype.type(1e-8)
    np.testing.assert_array_equal(p[negative], (before + -lr * g / eps)[negative])


@pytest.mark.parametrize("reference", [False, True])
def test_centered_rmsprop_with_an_overflowing_square_mean_takes_no_step(isa, dtype, reference):
    # as torch: once the mean of squares is infinite so is the variance, and the update
    # d/√inf is 0, also where the squared mean overflows too (inf - inf was NaN)
    root = np.sqrt(np.finfo(dtype).max)
    g = np.array([4 * root, -4 * root, 1.6 * root, 1.0], dtype)  # the last but one: only sq overflows
    p = np.array([1.0, 2.0, 3.0, 4.0], dtype)
    opt = optim.RMSProp(lr=0.01, alpha=0.5, centered=True)
    state, groups = opt._plan(p.size, p.dtype)
    _core.inplace_optim_step(p, g, state, groups, reference=reference, optimizer=opt)
    np.testing.assert_array_equal(p[:3], [1.0, 2.0, 3.0])
    assert p[3] < 4.0
