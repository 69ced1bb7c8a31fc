"""Misuse of fastgd's function-level API, refused with an error naming the argument: minimize's
finite-difference steps and vectorized values, the curvature tools' products, schedules, optimizer
parameter groups and state, callbacks' output paths and monitored names, show_config."""

import io
import re
import warnings

import numpy as np
import pytest

import fastgd as fg
from fastgd import curvature, optim
from fastgd.optim import schedules
from fastgd.training import callbacks


def _quadratic(x):
    return float(((x - 1.0) ** 2).sum())


def _batch_quadratic(xs):
    return ((xs - 1.0) ** 2).sum(axis=1)


# ---- minimize / approx_grad ----------------------------------------------------------------------

def test_approx_grad_refuses_a_step_that_rounds_away():
    # 1e10 ± 1e-300 is 1e10: the difference quotient divided by zero (a ZeroDivisionError)
    with pytest.raises(ValueError, match=r"eps is too small for x: .* at index 0"):
        fg.approx_grad(_quadratic, np.array([1e10, 1.0]), eps=1e-300)
    with pytest.raises(ValueError, match="eps is too small"):
        fg.minimize(_quadratic, np.array([1e10, 1.0]), eps=1e-300)
    np.testing.assert_allclose(fg.approx_grad(_quadratic, np.array([1e10, 1.0]), eps=1.0), [2e10 - 2.0, 0.0], rtol=1e-6)


def test_approx_grad_refuses_a_step_past_the_float_range():
    # x + h overflowed to inf: the gradient came back NaN, and minimize blamed fun's domain
    with pytest.raises(ValueError, match=r"eps is too large for x: x ± 1e\+308 is not finite in float64 at x = "
                                         r"1e\+308 \(index 1\); pass a smaller eps"):
        fg.approx_grad(_quadratic, np.array([0.0, 1e308]), eps=1e308)
    with pytest.raises(ValueError, match="eps is too large for x"):
        fg.minimize(lambda x: float(np.sin(x).sum()), np.array([1e308]), eps=1e308)
    np.testing.assert_allclose(fg.approx_grad(lambda x: float(x.sum()), np.array([1e308]), eps=1e307), [1.0])


@pytest.mark.parametrize("eps, match", [(-1.0, "eps must be positive and finite"),
                                        (0.0, "eps must be positive and finite"),
                                        (np.ones(3), r"eps must be a number or an array of shape \(2,\)"),
                                        ("a", "eps must hold real numbers")])
def test_vectorized_minimize_checks_eps_as_the_one_point_path_does(eps, match):
    # the batch path read eps unchecked: a negative step ran, a zero one divided 0 by 0
    for x0, vectorized in ((np.zeros(2), False), (np.zeros((2, 2)), True)):
        fun = _batch_quadratic if vectorized else _quadratic
        with pytest.raises((TypeError, ValueError), match=match):
            fg.minimize(fun, x0, vectorized=vectorized, optimizer=optim.SGD(lr=0.1), eps=eps)


def test_vectorized_minimize_refuses_complex_values():
    # a float64 cast dropped the imaginary part with only a ComplexWarning
    with pytest.raises(TypeError, match="a vectorized fun's values must hold real numbers"):
        fg.minimize(lambda xs: _batch_quadratic(xs) + 1j, np.zeros((2, 2)), vectorized=True,
                    optimizer=optim.SGD(lr=0.1))


def test_minimize_reports_a_hessp_of_the_wrong_shape():
    # the stationary-point analysis read the shape error as "not finite around x" and set
    # stationary=None without a word
    with pytest.raises(ValueError, match=r"hessp must return an array of shape \(2,\), got \(3,\)"):
        fg.minimize(_quadratic, np.zeros(2), hessp=lambda x, v: np.zeros(3))
    res = fg.minimize(_quadratic, np.zeros(2), hessp=lambda x, v: 2.0 * v)
    assert res.stationary == "minimum"
    np.testing.assert_allclose(res.hess_eigenvalues, [2.0, 2.0])


@pytest.mark.parametrize("make", [fg.LBFGS, fg.NewtonCG])
def test_closure_of_lbfgs_and_newton_cg_returns_real_numbers(make):
    # float() parsed a loss "1.5" and read True as 1; complex gradients lost their imaginary part
    # (after NumPy's ComplexWarning), strings raised NumPy's "could not convert string to float"
    # and [1, None] became a NaN gradient that ended the step silently
    def closure(loss, grads):
        return lambda p: (loss, grads(p))

    for loss, message in (("1.5", "closure must return a real number, got str"),
                          (True, "closure must return a real number, got bool")):
        with pytest.raises(TypeError, match=message):
            make().step(closure(loss, lambda p: 2 * p), np.array([1.0, 2.0]))
    for grads, dtype in ((lambda p: (2 * p).astype(complex), "complex128"), (lambda p: np.array(["a", "b"]), "<U1"),
                         (lambda p: np.array([1, None], dtype=object), "object")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(TypeError, match=rf"closure's grads must hold real numbers, got array of dtype {dtype}"):
                make().step(closure(1.0, grads), np.array([1.0, 2.0]))
    # a ragged value raised NumPy's unnamed "inhomogeneous shape" error
    with pytest.raises(ValueError, match="closure must return a scalar, got a ragged tuple"):
        make().step(closure((1.0, [1, 2]), lambda p: 2 * p), np.array([1.0, 2.0]))
    x = np.array([1.0, 2.0])
    make().step(lambda p: (np.array([float(p @ p)]), 2 * p), x)  # a one-element array is a value
    assert float(x @ x) < 5.0


@pytest.mark.parametrize("make", [fg.LBFGS, fg.NewtonCG])
def test_lbfgs_and_newton_cg_refuse_a_nonfinite_gradient_at_the_start(make):
    # L-BFGS reported "line search failed" for a finite loss with a NaN gradient, NewtonCG "a
    # Hessian-vector product is not finite", as a non-finite loss there is refused by name
    for bad in (np.nan, np.inf):
        params = np.array([1.0, 2.0])
        with pytest.raises(ValueError, match=rf"closure returned a non-finite gradient \(1 of 2 entries, {bad}\) "
                                             "at the starting point"):
            make().step(lambda p: (float(p @ p), np.array([bad, 1.0])), params)
        np.testing.assert_array_equal(params, [1.0, 2.0])


def test_newton_cg_names_a_reorthogonalization_basis_past_memory():
    # reorthogonalize=True keeps up to d residuals of d values: NumPy's MemoryError named nothing
    params = np.ones(10**6)
    with pytest.raises(ValueError, match=r"reorthogonalize=True: an array of shape \(1000000, 1000000\) "
                                         r"\(8,000,000,000,000 bytes\) is more than this process can allocate"):
        fg.NewtonCG(reorthogonalize=True).step(lambda p: (float(p @ p), 2.0 * p), params)
    np.testing.assert_array_equal(params, 1.0)


def test_minimize_neither_keeps_nor_writes_the_arrays_jac_returns():
    # a jac returning one buffer it overwrites: the "last finite point" of nonfinite="stop" kept
    # that buffer, and reported the NaN gradient of the refused point as its jac; and the
    # vectorized path zeroed the rows of finished starts inside the array jac returned
    buf = np.empty(2)

    def fun(x):
        return float(x @ x) if x[0] < 5 else float("nan")

    def jac(x):
        buf[:] = 2 * x if x[0] < 5 else np.nan
        return buf

    res = fg.minimize(fun, np.array([-1.0, 1.0]), jac=jac, optimizer=optim.SGD(lr=2.0), nonfinite="stop",
                      stationary=False)
    assert res.message.startswith("fun returned a non-finite value nan at iteration 3")
    np.testing.assert_array_equal(res.x, [-9.0, 9.0])
    np.testing.assert_array_equal(res.jac, [-18.0, 18.0])

    returned = []

    def jac_batch(xs):
        g = 2 * xs
        returned.append((g, g.copy()))
        return g

    x0 = np.array([[0.0, 0.0], [3.0, -4.0]])  # the first start has converged at x0
    fg.minimize(lambda xs: (xs ** 2).sum(axis=1), x0, jac=jac_batch, vectorized=True, optimizer=optim.SGD(lr=0.1),
                max_iter=5, stationary=False)
    for g, as_returned in returned:
        np.testing.assert_array_equal(g, as_returned)

    values = np.empty(2)

    def fun_batch(xs):  # values in one buffer: the central differences subtracted it from itself
        values[:] = ((xs - 3.0) ** 2).sum(axis=1)
        return values

    res = fg.minimize(fun_batch, np.zeros((2, 2)), vectorized=True, optimizer=optim.SGD(lr=0.1), stationary=False)
    assert res.success and res.nit > 0
    np.testing.assert_allclose(res.x, [3.0, 3.0], atol=1e-5)


_DIAGONAL = np.array([1.0, 3.0, 10.0])


def test_a_hessp_that_writes_into_its_arguments_changes_no_run():
    # hessp writing the product into v overwrote NewtonCG's CG direction: 481 iterations instead
    # of one Newton step on a quadratic
    diagonal = _DIAGONAL

    def fun(x):
        return 0.5 * float(x @ (diagonal * x)), diagonal * x

    def hessp_in_place(x, v):
        np.multiply(diagonal, v, out=v)
        x[:] = 100.0
        return v

    res = fg.minimize(fun, np.ones(3), jac=True, optimizer=fg.NewtonCG(), hessp=hessp_in_place)
    assert res.success and res.nit == 1
    np.testing.assert_allclose(res.hess_eigenvalues, diagonal)
    opt, params = fg.NewtonCG(), np.ones(3)
    opt.step(fun, params, hessp=hessp_in_place)
    np.testing.assert_allclose(params, 0.0, atol=1e-12)


def test_a_vectorized_fun_that_writes_into_its_batch_changes_no_run():
    # scaling the batch in place turned the central differences' divisor into 0 ("non-finite
    # value or gradient at x0"); the docstring promises fun a fresh array
    def batch_in_place(xs):
        values = 0.5 * (xs * xs * _DIAGONAL).sum(axis=1)
        xs *= 0.0
        return values

    res = fg.minimize(batch_in_place, np.ones((2, 3)), vectorized=True, optimizer=optim.SGD(lr=0.1),
                      stationary=False)
    assert res.success
    np.testing.assert_allclose(res.x, 0.0, atol=1e-5)


# ---- curvature ----------------------------------------------------------------------------------

def _value_and_grad(x):
    return float((x ** 2).sum()), 2.0 * x


def test_hvp_refuses_a_gradient_of_another_shape():
    # a (5,) gradient for a (3,) x came back as a (5,) "product"
    with pytest.raises(ValueError, match=r"fun's gradient must have the shape of x \(3,\), got shape \(5,\)"):
        fg.hvp(lambda x: (0.0, np.zeros(5)), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"jac must have the shape of x \(3,\), got shape \(1,\)"):
        fg.hvp(None, np.ones(3), np.ones(3), jac=lambda x: np.zeros(1))


def test_hvp_of_a_vector_near_the_float_range():
    # ‖v‖ overflowed to inf: v/‖v‖ was 0 and the product NaN
    v = np.full(3, 1e300)
    np.testing.assert_allclose(fg.hvp(_value_and_grad, np.ones(3), v), 2.0 * v, rtol=1e-6)


def test_hvp_at_a_point_near_the_float_range():
    # ‖x‖ overflowed to inf, and so did the default step: the product was NaN
    def gradient(x):
        return 0.0, 2.0 * x

    for x in (np.full(3, 1e200), np.array([1e307, 0.0, 1.0])):
        np.testing.assert_allclose(fg.hvp(gradient, x, np.ones(3)), np.full(3, 2.0), rtol=1e-6)
    # a large finite eps: the divisor 2·eps overflowed and the product was exactly 0
    np.testing.assert_allclose(fg.hvp(gradient, np.ones(3), np.ones(3), eps=1e308), np.full(3, 2.0), rtol=1e-6)
    # a step past the float range evaluated the gradient at infinity
    with pytest.raises(ValueError, match=r"eps=1e\+308 is too large for x: x ± eps·v/\|v\| is not finite"):
        fg.hvp(gradient, np.full(3, 1.5e308), np.ones(3), eps=1e308)


def test_hvp_refuses_a_gradient_that_is_not_finite_beside_x():
    # a gradient that is NaN or infinite at x ± h·v/|v| came back as a NaN product (and fg.hessian
    # as a matrix of NaN), where the model's products and Lanczos refuse one by name
    def sqrt_sum(x):  # defined for x >= 0 only
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.sqrt(x).sum()), 0.5 / np.sqrt(x)

    with pytest.raises(ValueError, match=r"fun's gradient is not finite at x ± h·v/\|v\| \(h=6\.06e-06\): "
                                         r"is x at the edge of fun's domain\?"):
        fg.hvp(sqrt_sum, np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="fun's gradient is not finite"):
        fg.hessian(sqrt_sum, np.array([0.0, 1.0]))
    np.testing.assert_allclose(fg.hvp(sqrt_sum, np.array([1.0, 4.0]), np.array([1.0, 0.0])), [-0.25, 0.0], rtol=1e-6)
    # finite gradients, a product past the range (H = 1e300·I, |v| = 1e10): inf with a warning before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="the Hessian-vector product is not finite: it passes float64's range"):
            fg.hvp(lambda x: (0.0, 1e300 * x), np.ones(2), np.full(2, 1e10))


def test_hvp_refuses_a_step_that_rounds_away():
    # x ± h·u equal to x gave a product of exactly 0 (the Hessian here is 2·I)
    with pytest.raises(ValueError, match="eps=1e-300 is too small for x"):
        fg.hvp(_value_and_grad, np.full(3, 1e10), np.ones(3), eps=1e-300)


def test_hessian_checks_max_dim_and_names_a_matrix_past_memory():
    # max_dim="a" or None raised the comparison's TypeError, and a max_dim raised past memory
    # NumPy's MemoryError (naming neither the argument nor the bytes)
    def f(x):
        return float(x @ x), 2 * x

    for bad in ("a", None, 2.5, True):
        with pytest.raises(TypeError, match=r"max_dim must be an integer >= 1, got"):
            curvature.hessian(f, np.ones(3), max_dim=bad)
    with pytest.raises(ValueError, match=r"max_dim must be an integer >= 1, got 0"):
        curvature.hessian(f, np.ones(3), max_dim=0)
    with pytest.raises(ValueError, match=r"^x: an array of shape \(2000000, 2000000\) \(32,000,000,000,000 bytes\) is "
                                         r"more than this process can allocate"):
        curvature.hessian(f, np.ones(2_000_000), max_dim=10**9)
    np.testing.assert_allclose(curvature.hessian(f, np.ones(3), max_dim=3), 2 * np.eye(3))


def test_classify_stationary_takes_real_eigenvalues():
    # strings were parsed ("1", "2": a minimum), None read as NaN (degenerate), complex raised float()'s error
    for bad, kind in ((["1", "2"], "<U1"), (None, "object"), ([1 + 1j, 2], "complex128")):
        with pytest.raises(TypeError, match=f"eigenvalues must hold real numbers, got array of dtype {kind}"):
            curvature.classify_stationary(bad)
    assert curvature.classify_stationary([1.0, 2.0]) == "minimum"


def test_curvature_of_a_gradient_returned_in_one_reused_buffer():
    # the central difference grad(x + h·u) - grad(x - h·u) subtracted the buffer from itself: hvp
    # and hessian returned zeros, and minimize called the minimum of Σ c_i x_i² "degenerate"
    c = np.array([1.0, 2.0, 3.0])
    buf = np.empty(3)

    def jac(x):
        buf[:] = 2 * c * x
        return buf

    np.testing.assert_allclose(curvature.hvp(lambda x: (float(c @ x ** 2), jac(x)), np.ones(3), np.ones(3)), 2 * c,
                               rtol=1e-6)
    np.testing.assert_allclose(curvature.hessian(None, np.ones(3), jac=jac), np.diag(2 * c), atol=1e-6)
    res = fg.minimize(lambda x: float(c @ x ** 2), np.ones(3), jac=jac)
    np.testing.assert_allclose(res.hess_eigenvalues, 2 * c, rtol=1e-5)
    assert res.stationary == "minimum"


# ---- schedules and optimizers used on their own --------------------------------------------------

@pytest.mark.parametrize("schedule", [
    lambda opt: schedules.StepDecay(opt, 2), lambda opt: schedules.ExponentialDecay(opt, 0.5),
    lambda opt: schedules.InverseTimeDecay(opt, 1.0), lambda opt: schedules.CosineDecay(opt, 10)])
def test_schedule_lr_at_refuses_a_negative_or_non_integer_step(schedule):
    # lr_at(-1) divided by zero (InverseTimeDecay, CosineDecay) or gave an lr above the base
    # (StepDecay: 1.0 from 0.1, ExponentialDecay: 3.2 at -5)
    s = schedule(optim.SGD(lr=0.1))
    with pytest.raises(ValueError, match=r"t must be an integer >= 0, got -1"):
        s.lr_at(-1)
    with pytest.raises(TypeError, match=r"t must be an integer >= 0, got 1.5"):
        s.lr_at(1.5)
    assert s.lr_at(0) == pytest.approx(0.1)


@pytest.mark.parametrize("stop", [1.5, "3", True])
def test_param_groups_refuse_bounds_that_are_not_integers(stop):
    # int() truncated 1.5 to 1, parsed "3" and read True as 1
    with pytest.raises(TypeError, match="a group's stop must be an integer >= 0"):
        optim.SGD(lr=0.1).set_param_groups([(0, stop, {})])


def _adam_state():
    opt = optim.Adam(lr=0.1)
    opt.step(np.zeros(4), np.ones(4))
    return opt.state_dict()


def test_load_state_dict_refuses_nonfinite_moments():
    # NaN moments loaded silently and every later step wrote NaN into the parameters
    state = _adam_state()
    state["state"] = np.full_like(state["state"], np.nan)
    with pytest.raises(ValueError, match=r"state_dict\['state'\] must be finite"):
        optim.Adam(lr=0.1).load_state_dict(state)


@pytest.mark.parametrize("make", [fg.LBFGS, fg.NewtonCG])
@pytest.mark.parametrize("key", ["x", "grad"])
def test_closure_driven_optimizers_refuse_a_nonfinite_point_in_their_state(make, key):
    # a NaN gradient loaded silently and the next step from that point searched along it: L-BFGS
    # ended on "line search failed", NewtonCG blamed the closure
    opt, params = make(), np.array([1.0, 2.0])
    opt.step(lambda p: (float(p @ p), 2.0 * p), params)
    state = opt.state_dict()
    state[key] = np.array([0.5, np.nan], dtype=state[key].dtype)
    with pytest.raises(ValueError, match=rf"state\['{key}'\] must be finite, got nan at flat index 1"):
        make().load_state_dict(state)


@pytest.mark.parametrize("make,slot", [(lambda: optim.Adam(lr=0.1), 1), (lambda: optim.Adam(lr=0.1, amsgrad=True), 2),
                                       (lambda: optim.AdaGrad(lr=0.1), 0), (lambda: optim.RMSProp(lr=0.1), 0)])
def test_load_state_dict_refuses_negative_squared_gradient_sums(make, slot):
    # the update takes their square root: a negative one loaded silently and the next step (or a
    # fit resumed from a checkpoint holding it) wrote NaN into the parameters
    opt = make()
    opt.step(np.zeros(4), np.ones(4))
    state = opt.state_dict()
    state["state"][slot * 4 + 2] = -1.0
    with pytest.raises(ValueError, match=rf"state_dict\['state'\] slot {slot} \(\w+\) must be >= 0 .*got -1.0 at "
                                         rf"flat index {slot * 4 + 2}"):
        make().load_state_dict(state)


def test_load_state_dict_refuses_moments_past_the_dtype():
    # 1e300 became infinity in a float32 state (NumPy's overflow warning, then NaN parameters)
    opt = optim.Adam(lr=0.1)
    opt.step(np.zeros(4, np.float32), np.ones(4, np.float32))
    state = opt.state_dict()
    state["state"] = state["state"].astype(np.float64)
    state["state"][5] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"state_dict\['state'\] must be finite in float32, got 1e\+300 at flat "
                                             r"index 5, past its range"):
            optim.Adam(lr=0.1).load_state_dict(state)


def test_a_refused_state_dict_leaves_the_optimizer_as_it_was():
    # the hyperparameters of the refused dict stayed, beside the old state and step count
    opt = optim.Adam(lr=0.1)
    p = np.zeros(4)
    opt.step(p, np.ones(4))
    before = opt.state_dict()
    bad = _adam_state()
    bad["config"] = {**bad["config"], "weight_decay": 0.5, "lr": 0.3}
    bad["lr"], bad["step"] = 0.3, -1
    with pytest.raises(ValueError, match=r"state_dict\['step'\]"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["config"] == before["config"] and after["lr"] == 0.1 and after["step"] == 1
    np.testing.assert_array_equal(after["state"], before["state"])
    with pytest.raises(TypeError, match=r"state_dict\['config'\] must be a dict .*got list"):
        opt.load_state_dict({**bad, "config": [1, 2], "step": 1})
    assert opt.state_dict()["config"] == before["config"]


@pytest.mark.parametrize("make", [lambda eps: optim.Adam(lr=0.1, eps=eps), lambda eps: optim.AdamW(lr=0.1, eps=eps),
                                  lambda eps: optim.Adamax(lr=0.1, eps=eps), lambda eps: optim.AdaGrad(lr=0.1, eps=eps),
                                  lambda eps: optim.RMSProp(lr=0.1, eps=eps, centered=True)])
def test_eps_must_stay_positive_and_finite_in_the_parameters_dtype(make):
    # the kernels compute in the parameters' dtype: eps=1e-50 was 0 in float32, and a parameter
    # whose gradient was still 0 became NaN (0/0) at its first step; eps=1e39 was infinite there
    # and every update 0
    g = np.array([0.0, 1.0, 0.0, 1.0], np.float32)
    for eps, rounded in ((1e-50, r"0\.0"), (1e39, "inf")):
        p = np.ones(4, np.float32)
        with pytest.raises(ValueError, match=rf"eps={re.escape(f'{eps:g}')} is {rounded} in float32, the parameters' dtype: it must "
                                             r"lie in \[1.401e-45, 3.403e\+38\]"):
            make(eps).step(p, g)
        np.testing.assert_array_equal(p, 1.0)
        p64 = np.ones(4)
        make(eps).step(p64, g.astype(np.float64))  # representable in float64
        assert np.isfinite(p64).all()
    opt = make(1e-8)
    opt.set_param_groups([(0, 2, {}), (2, 4, {"eps": 1e-60})])
    with pytest.raises(ValueError, match="eps=1e-60 is 0.0 in float32"):
        opt.step(np.ones(4, np.float32), g)


@pytest.mark.parametrize("make, name", [(lambda v: optim.SGD(lr=v), "lr"), (lambda v: optim.SGD(lr=0.1, momentum=v), "momentum"),
                                        (lambda v: optim.SGD(lr=0.1, noise=v, seed=0), "noise"),
                                        (lambda v: optim.Adam(lr=0.1, weight_decay=v), "weight_decay"),
                                        (lambda v: optim.AdaGrad(lr=0.1, initial_accumulator_value=v),
                                         "initial_accumulator_value")])
def test_hyperparameters_must_be_finite_in_the_parameters_dtype(make, name):
    # 1e39 is infinite in float32: every parameter of a direct step became NaN (fit then blamed the
    # learning rate in a DivergenceError)
    p = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=rf"{name}=1e\+39 is inf in float32, the parameters' dtype: it must lie in "
                                         r"\[0, 3.403e\+38\]"):
        make(1e39).step(p, np.ones(4, np.float32))
    np.testing.assert_array_equal(p, 1.0)
    make(1e30).step(np.ones(4), np.ones(4))  # finite in float64


def test_lr_changed_between_steps_is_checked_in_the_parameters_dtype():
    # a schedule or the user sets lr between steps: 1e39 after a float32 step made every
    # parameter -inf without an error, where SGD(lr=1e39) is refused at its first step
    opt = optim.SGD(lr=0.1)
    p = np.ones(4, np.float32)
    opt.step(p, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"lr=1e\+39 is inf in float32, the parameters' dtype"):
        opt.lr = 1e39
    assert opt.lr == 0.1
    opt.step(p, np.ones(4, np.float32))
    np.testing.assert_allclose(p, 0.8)
    opt.lr = 1e30  # finite in float32
    opt.reset()
    opt.lr = 1e39  # not bound to parameters: checked at the next step
    with pytest.raises(ValueError, match=r"lr=1e\+39 is inf in float32"):
        opt.step(np.ones(4, np.float32), np.ones(4, np.float32))
    # a float64 state loaded into an optimizer bound to float32 parameters is checked in its own dtype
    sgd64 = optim.SGD(lr=1e39)
    sgd64.step(np.ones(4), np.zeros(4))
    bound32 = optim.SGD(lr=0.1)
    bound32.step(np.ones(4, np.float32), np.zeros(4, np.float32))
    bound32.load_state_dict(sgd64.state_dict())
    assert bound32.lr == 1e39


def test_c_array_casts_object_and_text_past_float32_without_a_warning():
    # the finite check names such a value; a NumPy overflow warning turned into an error hid it
    from fastgd import _validation
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for given in (np.array([1e39], dtype=object), np.array(["1e39"]), np.array([1e300])):
            assert np.isinf(_validation.c_array(given, np.float32)).all()


def test_load_state_dict_names_a_missing_hyperparameter():
    state = _adam_state()
    del state["config"]["lr"]  # a KeyError: 'lr' before
    with pytest.raises(ValueError, match=r"state_dict\['config'\] lacks the hyperparameter 'lr'"):
        optim.Adam(lr=0.1).load_state_dict(state)


# ---- callbacks -----------------------------------------------------------------------------------

def _fit(callback):
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = fg.Sequential([fg.Dense(3, 1, activation=None)], dtype="float64", seed=0)
    return model.fit(X, X[:, :1], loss="mse", optimizer=optim.SGD(lr=0.01), epochs=2, callbacks=[callback],
                     verbose=0)


def test_model_checkpoint_names_a_monitor_that_is_not_logged(tmp_path):
    # a KeyError: 'acc' at the first epoch's end
    with pytest.raises(ValueError, match=r"ModelCheckpoint: monitor 'acc' is not among the logged values"):
        _fit(callbacks.ModelCheckpoint(str(tmp_path / "best.npz"), monitor="acc", save_best_only=True))


@pytest.mark.parametrize("make", [lambda p: callbacks.CSVLogger(p + ".csv"),
                                  lambda p: callbacks.ModelCheckpoint(p + ".npz")])
def test_output_callbacks_check_their_path_before_training(tmp_path, make):
    # a FileNotFoundError / IsADirectoryError after the first epoch had been trained
    missing = str(tmp_path / "no such dir" / "out")
    with pytest.raises(ValueError, match="in a directory that does not exist"):
        _fit(make(missing))
    directory = tmp_path / "d.csv"
    directory.mkdir()
    with pytest.raises(ValueError, match="is a directory, it must name a file"):
        _fit(callbacks.CSVLogger(str(directory)))
    _fit(make(str(tmp_path / "out")))  # a file in an existing directory: fine


# ---- runtime -------------------------------------------------------------------------------------

def test_show_config_refuses_a_file_that_cannot_be_written():
    # an AttributeError: 'int' object has no attribute 'write'
    with pytest.raises(TypeError, match="file must be a text file"):
        fg.show_config(3)
    out = io.StringIO()
    fg.show_config(out)
    assert "version" in out.getvalue()


def test_lbfgs_refuses_a_history_larger_than_the_machine_before_touching_it():
    # 2·(1e9 + 1)·2 float64 (32 GB) plus the products' matrices: malloc granted it (overcommit) and
    # zeroing it got the process killed by the OOM killer
    with pytest.raises(ValueError, match=r"history_size=1000000000: .* more than this machine's memory"):
        fg.minimize(_quadratic, np.zeros(2), optimizer=fg.LBFGS(history_size=10**9))


def test_minimize_refuses_a_boolean_objective():
    # a comparison returned by mistake read as 0 or 1: approx_grad gave 82570 for x[0] > 0 at 0
    with pytest.raises(TypeError, match="fun must return a real number, got bool"):
        fg.approx_grad(lambda x: x[0] > 0, np.zeros(2))
    with pytest.raises(TypeError, match="fun must return a real number, got bool"):
        fg.minimize(lambda x: True, np.zeros(2))


def test_minimize_names_a_callback_whose_answer_has_no_truth_value():
    # NumPy's "truth value of an array ... is ambiguous", naming neither the callback nor what it returned
    with pytest.raises(TypeError, match=r"callback must return True \(stop\), False or None, got array of dtype bool"):
        fg.minimize(_quadratic, np.zeros(2), callback=lambda x: x > 0.5)


@pytest.mark.parametrize("metric", ["a", None, np.ones(2), True])
def test_reduce_lr_on_plateau_names_a_metric_that_is_not_a_number(metric):
    # float()'s "could not convert string to float" / "argument must be ... not 'NoneType'"; True read as 1.0
    with pytest.raises(TypeError, match="metric must be a number"):
        schedules.ReduceLROnPlateau(optim.SGD(lr=0.1)).step(metric)


def test_gradient_lists_refuse_arrays_that_overlap():
    # the same array twice was scaled twice by clip_grad_norm (to 1/6 of itself instead of 1/√6)
    g = np.ones(3)
    for call in (lambda: fg.clip_grad_norm([g, g], 1.0), lambda: fg.grad_norm([g, np.ones(2), g[1:]])):
        with pytest.raises(ValueError, match=r"grads\[0\] and grads\[\d\] overlap in memory"):
            call()
    np.testing.assert_array_equal(g, 1.0)
    buffer = np.ones(6)
    total = fg.clip_grad_norm([buffer[:3], buffer[3:]], 1.0)  # adjacent, not overlapping: fine
    assert total == pytest.approx(6 ** 0.5)
    np.testing.assert_allclose(np.linalg.norm(buffer), 1.0, rtol=1e-5)


def _stepped(make):
    """An optimizer of `make` after two steps on an ill-conditioned quadratic, with its point."""
    scale = np.array([1.0, 10.0, 100.0])
    opt, p = make(), np.ones(3)
    for _ in range(2):
        opt.step(lambda q: (float(0.5 * (scale * q * q).sum()), scale * q), p)
    return opt


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _same_state(a[k], b[k])
        elif isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("make", [fg.LBFGS, fg.NewtonCG])
def test_a_refused_second_order_state_leaves_the_optimizer_as_it_was(make):
    # the counters, the point and the L-BFGS history were installed before the gradient was
    # refused: the optimizer went on with a point and no gradient
    opt = _stepped(make)
    before = opt.state_dict()
    bad = {**before, "n_iter": 7, "grad": np.zeros(2)}
    with pytest.raises(ValueError, match=r"state\['grad'\] must have shape \(3,\), got \(2,\)"):
        opt.load_state_dict(bad)
    _same_state(opt.state_dict(), before)


@pytest.mark.parametrize("make, bad", [
    (lambda opt: schedules.StepDecay(opt, step_size=2), {"base_lr": 0.5, "last_step": -1}),
    (lambda opt: schedules.ReduceLROnPlateau(opt), {"base_lr": 0.5, "best": 0.25, "num_bad": 1, "lr": -1.0}),
])
def test_a_refused_schedule_state_leaves_the_schedule_and_its_optimizer_as_they_were(make, bad):
    opt = optim.SGD(lr=0.1)
    sched = make(opt)
    sched.step(*(() if isinstance(sched, schedules.StepDecay) else (1.0,)))
    before, lr = sched.state_dict(), opt.lr
    with pytest.raises(ValueError):
        sched.load_state_dict({**before, **bad})
    assert sched.state_dict() == before and opt.lr == lr


@pytest.mark.parametrize("where, value, message", [
    (("memory", "s_hist"), np.nan, r"state\['memory'\]\['s_hist'\] must be finite, got nan at flat index 3"),
    (("memory", "y_hist"), np.inf, r"state\['memory'\]\['y_hist'\] must be finite, got inf at flat index 3"),
    (("memory", "rho"), np.nan, r"state\['memory'\]\['rho'\] must be finite, got nan at flat index 1"),
    (("memory", "rho"), -2.0, r"state\['memory'\]\['rho'\] must be >= 0 .*got -2.0 at index 1"),
    (("memory", "gamma"), np.nan, r"state\['memory'\]\['gamma'\] must be .*got nan"),
    (("memory", "gamma"), 0.0, r"state\['memory'\]\['gamma'\] must be .*got 0.0"),
    (("x",), np.nan, r"state\['x'\] must be finite, got nan at flat index 1"),
    (("grad",), -np.inf, r"state\['grad'\] must be finite, got -inf at flat index 1"),
])
def test_lbfgs_refuses_a_state_that_is_not_finite(where, value, message):
    # a NaN in the history or the cached point was taken in silence: the next steps left the
    # tampered pairs out or restarted the search, and went on other than the saved run would
    state = _stepped(fg.LBFGS).state_dict()
    target = state
    for key in where[:-1]:
        target = target[key]
    key = where[-1]
    if isinstance(target[key], np.ndarray):
        target[key] = target[key].copy()
        target[key].reshape(-1)[3 if target[key].ndim == 2 else 1] = value
    else:
        target[key] = value
    with pytest.raises(ValueError, match=message):
        fg.LBFGS().load_state_dict(state)


def test_lbfgs_refuses_a_y_history_of_another_dtype_than_the_s_history():
    # float64 y's were cast to the float32 memory: 1e300 overflowed (a RuntimeWarning), and the
    # infinite pair was then left out of every step in silence
    state = _stepped(fg.LBFGS).state_dict()
    memory = state["memory"]
    y_hist = memory["y_hist"].copy()
    y_hist[memory["newest"], 0] = 1e300
    state["memory"] = {**memory, "s_hist": memory["s_hist"].astype(np.float32), "y_hist": y_hist}
    state.update(x=state["x"].astype(np.float32), grad=state["grad"].astype(np.float32))
    opt = fg.LBFGS()
    with pytest.raises(ValueError, match=r"state\['memory'\]\['y_hist'\] must be \(11, 3\) float32 as s_hist is, "
                                         r"got \(11, 3\) float64"):
        opt.load_state_dict(state)
    assert opt.state_dict()["memory"] is None


@pytest.mark.parametrize("change, error, message", [
    ({"x": np.array([1.0, np.nan, 1.0])}, ValueError, r"state\['x'\] must be finite, got nan at flat index 1"),
    ({"grad": np.array([1.0, np.inf, 1.0])}, ValueError, r"state\['grad'\] must be finite, got inf at flat index 1"),
    ({"x": np.ones(3, np.float16)}, ValueError, r"state\['x'\] must be 'float32' or 'float64', got dtype\('float16'\)"),
    ({"n_iter": 2**63}, ValueError, r"state\['n_iter'\] must be an integer in \[0, 4611686018427387904\]"),
    ({"n_hvp": 2**63}, ValueError, r"state\['n_hvp'\] must be an integer in \[0, 4611686018427387904\]"),
])
def test_newton_cg_refuses_a_state_that_is_not_finite_or_not_its_dtype(change, error, message):
    state = {**_stepped(fg.NewtonCG).state_dict(), **change}
    with pytest.raises(error, match=message):
        fg.NewtonCG().load_state_dict(state)


def test_newton_cg_restores_a_big_endian_point_in_the_native_byte_order():
    state = _stepped(fg.NewtonCG).state_dict()
    opt = fg.NewtonCG()
    opt.load_state_dict({**state, "x": state["x"].astype(">f8")})
    assert opt.state_dict()["x"].dtype == np.float64
    np.testing.assert_array_equal(opt.state_dict()["x"], state["x"])


def test_from_config_names_a_description_that_is_no_dict():
    # dict(config) raised "'int' object is not iterable", and a list of pairs was taken as one
    for build in (optim.from_config, lambda cfg: schedules.from_config(optim.SGD(), cfg)):
        for cfg, got in ((5, r"5 \(int\)"), ([("name", "sgd")], r"\[\('name', 'sgd'\)\] \(list\)")):
            with pytest.raises(TypeError, match=r"config must be a dict \(what get_config\(\) returns\), got " + got):
                build(cfg)
