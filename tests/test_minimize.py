"""minimize / maximize / check_grad / approx_grad and the LBFGS optimizer."""

import math
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import LBFGS, OptimizeResult, approx_grad, check_grad, maximize, minimize


def sgd(lr):
    return fastgd.optim.SGD(lr=lr)


def wavy_ascent(x):  # 25 sin x − x²
    return 25.0 * math.sin(x[0]) - x[0] ** 2


def wavy_ascent_grad(x):
    return np.array([25.0 * math.cos(x[0]) - 2.0 * x[0]])


def x_sin_x(x):
    return float(x[0] * np.sin(x[0])), np.array([np.sin(x[0]) + x[0] * np.cos(x[0])])


def rosenbrock(x):
    value = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    grad[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return value, grad


# ---- small one-dimensional landscapes ---------------------------------------------


def test_ascent_from_minus_two_reaches_the_local_maximum():
    result = maximize(wavy_ascent, -2.0, jac=wavy_ascent_grad)
    assert result.success
    assert abs(result.x[0] - (-4.356)) < 1e-3
    assert abs(result.fun - 4.454) < 1e-3
    assert result.history[-1] == pytest.approx(result.fun)
    assert np.all(np.diff(result.history) >= -1e-12)  # ascent never goes down


def test_plain_gradient_ascent_as_in_the_seed():
    result = maximize(wavy_ascent, -2.0, jac=wavy_ascent_grad, optimizer=sgd(0.01), max_iter=1000)
    assert result.success
    assert abs(result.x[0] - (-4.356)) < 1e-3
    assert abs(result.fun - 4.454) < 1e-3


def test_multistart_finds_the_global_maximum():
    starts = np.linspace(-10.0, 10.0, 11)[:, None]
    result = maximize(wavy_ascent, starts, jac=wavy_ascent_grad)
    assert abs(result.x[0] - 1.454) < 1e-3
    assert abs(result.fun - 22.716) < 1e-3
    assert len(result.results) == 11
    assert result.results[result.best_index].fun == result.fun
    assert all(r.fun <= result.fun + 1e-12 for r in result.results)
    assert result.total_nfev == sum(r.nfev for r in result.results)
    # at least one start ends in the local maximum a single climber from -2 gets stuck in
    assert any(abs(r.x[0] + 4.356) < 1e-3 for r in result.results)


def test_vectorized_multistart_with_plain_gradient_ascent():
    def batch(xs):
        x = xs[:, 0]
        return 25 * np.sin(x) - x ** 2, (25 * np.cos(x) - 2 * x)[:, None]

    starts = np.random.default_rng(0).uniform(-10, 10, (16, 1))
    result = maximize(batch, starts, jac=True, vectorized=True, optimizer=sgd(0.01), max_iter=2000)
    assert abs(result.x[0] - 1.454) < 1e-3
    assert abs(result.fun - 22.716) < 1e-3
    # the batched run agrees with the starts run one by one
    single = maximize(wavy_ascent, starts, jac=wavy_ascent_grad, optimizer=sgd(0.01), max_iter=2000)
    for a, b in zip(result.results, single.results):
        np.testing.assert_allclose(a.x, b.x, atol=1e-9)
        assert a.nit == b.nit


@pytest.mark.parametrize("jac", [None, True])
def test_vectorized_multistart_counts_each_starts_evaluations_as_single_runs_do(jac):
    # with central differences each gradient costs 2·d more calls of fun per start, which the
    # batched run counted as one evaluation per iteration
    def batch(xs):
        values = ((xs - 3.0) ** 2).sum(axis=1)
        return (values, 2.0 * (xs - 3.0)) if jac else values

    starts = np.array([[0.0, 0.0], [1.0, 5.0], [-2.0, 4.0]])
    result = minimize(batch, starts, jac=jac, vectorized=True, optimizer=sgd(0.1))
    single = [minimize(batch, start, jac=jac, vectorized=True, optimizer=sgd(0.1)) for start in starts]
    assert [r.nfev for r in result.results] == [r.nfev for r in single]
    assert [r.nfev for r in result.results] == [(r.nit + 1) * (1 + 4 * (jac is None)) for r in single]
    # a start that has stopped stays in the batch: its rows go on being evaluated, and counted in total
    assert result.total_nfev == max(r.nfev for r in single) * len(starts)


def test_learning_rate_experiment_x_sin_x():
    """The seed's learning-rate figure matches f(x) = x·sin x from x0 = 2.5 (not x + sin x)."""
    big = minimize(x_sin_x, 2.5, jac=True, optimizer=sgd(1.0), max_iter=100, tol=0.0, keep_trajectory=True)
    xs = big.trajectory[:, 0]
    # period-2 oscillation around the minimum at 0 (f'' = 2 there, so lr = 1 multiplies the
    # error by 1 - 2 = -1): the sign alternates and |x| decays only very slowly, ≈ 0.088
    # around step 95 and 0.0867 at step 100.
    assert np.all(np.sign(xs[60:-1]) == -np.sign(xs[61:]))
    assert abs(abs(xs[95]) - 0.088) < 1e-3
    assert abs(abs(xs[100]) - 0.0867) < 1e-3
    assert not big.success

    middle = minimize(x_sin_x, 2.5, jac=True, optimizer=sgd(0.1), max_iter=100, tol=1e-8)
    assert middle.success
    assert abs(middle.x[0] - 4.913) < 1e-3

    small = minimize(x_sin_x, 2.5, jac=True, optimizer=sgd(0.01), max_iter=100, keep_trajectory=True)
    assert not small.success and small.nit == 100
    assert 4.7 < small.x[0] < 4.85  # still crawling towards 4.913
    assert np.all(np.diff(small.trajectory[:, 0]) > 0)


def test_x_plus_sin_x_has_no_minimum_to_find():
    """f = x + sin x is monotone (f' = 1 + cos x >= 0):
    descent only drifts left, towards the flat points x = (2k+1)π."""
    result = minimize(lambda x: (x[0] + np.sin(x[0]), np.array([1 + np.cos(x[0])])), 2.5, jac=True,
                      optimizer=sgd(0.1), max_iter=100)
    assert result.x[0] < 2.5 and not result.success


# ---- Rosenbrock -------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 10])
def test_lbfgs_minimizes_rosenbrock(d):
    x0 = np.full(d, -1.2)
    x0[1::2] = 1.0
    result = minimize(rosenbrock, x0, jac=True, tol=1e-10, max_iter=5000)
    assert result.success, result.message
    assert np.abs(result.x - 1.0).max() < 1e-8
    assert result.fun < 1e-16
    assert result.nfev < 3 * result.nit + 10


def test_lbfgs_float32_rosenbrock():
    result = minimize(rosenbrock, np.array([-1.2, 1.0], np.float32), jac=True, tol=1e-3)
    assert result.x.dtype == np.float32
    assert np.abs(result.x - 1.0).max() < 1e-2


def test_adam_minimizes_rosenbrock():
    result = minimize(rosenbrock, np.array([-1.2, 1.0]), jac=True, optimizer=fastgd.optim.Adam(lr=1e-2),
                      max_iter=50000, tol=1e-6)
    assert np.abs(result.x - 1.0).max() < 1e-4


def test_finite_differences_when_no_jac():
    result = minimize(lambda x: rosenbrock(x)[0], [-1.2, 1.0], tol=1e-6)
    assert np.abs(result.x - 1.0).max() < 1e-5
    assert result.nfev > 4 * result.nit  # 2·d extra calls per gradient


def test_jac_callable():
    result = minimize(lambda x: rosenbrock(x)[0], [-1.2, 1.0], jac=lambda x: rosenbrock(x)[1], tol=1e-9)
    assert np.abs(result.x - 1.0).max() < 1e-7


def test_args_are_passed():
    result = minimize(lambda x, c: float(((x - c) ** 2).sum()), np.zeros(3), args=(2.0,))
    np.testing.assert_allclose(result.x, 2.0, atol=1e-6)


# ---- result fields, callback, trajectory ------------------------------------------


def test_result_fields():
    result = minimize(lambda x: float((x ** 2).sum()), [1.0, -2.0], keep_trajectory=True)
    assert isinstance(result, OptimizeResult)
    for field in ("x", "fun", "jac", "nit", "nfev", "success", "message", "history", "trajectory"):
        assert field in result
    assert result.history.shape == (result.nit + 1,)
    assert result.trajectory.shape == (result.nit + 1, 2)
    np.testing.assert_array_equal(result.trajectory[0], [1.0, -2.0])
    np.testing.assert_array_equal(result.trajectory[-1], result.x)
    assert "x" in repr(result)
    assert minimize(lambda x: float((x ** 2).sum()), [1.0]).trajectory is None


def test_callback_can_stop():
    seen = []

    def callback(xk):
        seen.append(xk)
        return len(seen) == 3

    result = minimize(rosenbrock, [-1.2, 1.0], jac=True, callback=callback)
    assert result.nit == 3 and not result.success and "callback" in result.message


def test_max_iter_reached():
    result = minimize(rosenbrock, [-1.2, 1.0], jac=True, max_iter=5)
    assert result.nit == 5 and not result.success and "max_iter" in result.message


def test_user_optimizer_and_x0_untouched():
    opt = LBFGS(history_size=3)
    x0 = np.array([-1.2, 1.0])
    minimize(rosenbrock, x0, jac=True, optimizer=opt)
    assert opt.n_iter == 0
    np.testing.assert_array_equal(x0, [-1.2, 1.0])


# ---- gradients --------------------------------------------------------------------


def test_approx_grad_matches_analytic(rng):
    x = rng.standard_normal(6)
    np.testing.assert_allclose(approx_grad(lambda z: rosenbrock(z)[0], x), rosenbrock(x)[1], rtol=1e-7, atol=1e-6)


def test_check_grad_flags_a_wrong_gradient(rng):
    x = rng.standard_normal(4)
    fun = lambda z: rosenbrock(z)[0]  # noqa: E731
    good = check_grad(fun, lambda z: rosenbrock(z)[1], x, relative=True)
    wrong = check_grad(fun, lambda z: rosenbrock(z)[1] * np.array([1, 1, -1, 1]), x, relative=True)
    assert good < 1e-7
    assert wrong > 1e-2
    assert check_grad(np.sin, np.cos, [0.3]) < 1e-9


# ---- bad input --------------------------------------------------------------------


def quadratic(x):
    return float((x ** 2).sum()), 2 * x


def test_bad_x0():
    with pytest.raises(ValueError, match="x0"):
        minimize(quadratic, np.zeros((2, 2, 2)), jac=True)
    with pytest.raises(ValueError, match="x0"):
        minimize(quadratic, [1.0, np.nan], jac=True)
    with pytest.raises(ValueError, match="x0"):
        minimize(quadratic, np.zeros(0), jac=True)
    with pytest.raises(TypeError, match="x0"):
        minimize(quadratic, ["a", "b"], jac=True)
    # no starts at all: NumPy's "attempt to get argmin of an empty sequence" after zero runs
    for optimizer in (None, fastgd.optim.SGD(lr=0.1)):
        with pytest.raises(ValueError, match=r"x0 must have at least one start \(row\), got shape \(0, 2\)"):
            minimize(quadratic, np.zeros((0, 2)), jac=True, optimizer=optimizer, vectorized=True)


def test_x0_of_either_byte_order_keeps_its_precision():
    # a big-endian float32 x0 was run (and returned) in float64, unlike the native one
    for dtype in ("<f4", ">f4", "<f8", ">f8"):
        seen = []

        def fun(x):
            seen.append(x.dtype)
            return quadratic(x)

        res = minimize(fun, np.array([1.0, -2.0], dtype=dtype), jac=True)
        native = np.dtype(dtype).newbyteorder("=")
        assert res.x.dtype == native and set(seen) == {native}, dtype
        assert fastgd.approx_grad(lambda x: float(x @ x), np.ones(2, dtype)).dtype == native


def test_a_gradient_whose_squared_norm_passes_the_float_range_raises_no_warning():
    # ‖g‖² of a finite gradient of 2e160 overflowed in np.dot with a RuntimeWarning from inside
    # minimize: an error under -W error, for a function that is finite everywhere it went
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = minimize(lambda x: (1e160 * float(x @ x), 2e160 * x), np.ones(3), jac=True, stationary=False,
                       optimizer=fastgd.optim.SGD(lr=2.5e-161))  # halves x at each step
    assert res.success and res.message.startswith("gradient norm")
    np.testing.assert_allclose(res.x, 0.0, atol=1e-160)


def test_not_callable():
    with pytest.raises(TypeError, match="fun"):
        minimize(3.0, [1.0])
    with pytest.raises(TypeError, match="jac"):
        minimize(quadratic, [1.0], jac="yes")
    with pytest.raises(TypeError, match="callback"):
        minimize(quadratic, [1.0], jac=True, callback=1)
    with pytest.raises(TypeError, match="optimizer"):
        minimize(quadratic, [1.0], jac=True, optimizer="adam")
    # a class for an instance: "get_config() missing 1 required positional argument: 'self'"
    for cls in (fastgd.LBFGS, fastgd.NewtonCG, fastgd.optim.Adam):
        with pytest.raises(TypeError, match=rf"optimizer must be a fastgd optimizer instance, got the class "
                                            rf"{cls.__name__}: pass {cls.__name__}\(\)"):
            minimize(quadratic, [1.0], jac=True, optimizer=cls)
    with pytest.raises(ValueError, match="maximize=True"):
        minimize(quadratic, [1.0], jac=True, optimizer=fastgd.optim.SGD(lr=0.1, maximize=True))
    with pytest.raises(TypeError, match="jac"):
        check_grad(np.sin, None, [1.0])


def test_fun_returning_nan():
    with pytest.raises(ValueError, match="non-finite"):
        minimize(lambda x: float("nan"), [1.0])
    # diverging plain gradient descent: raise by default, or stop keeping the last finite point
    def blowup(x):
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.exp(x[0] ** 2)), np.array([2 * x[0] * np.exp(x[0] ** 2)])

    with pytest.raises(ValueError, match="non-finite"):
        minimize(blowup, [1.0], jac=True, optimizer=sgd(10.0))
    result = minimize(blowup, [1.0], jac=True, optimizer=sgd(10.0), nonfinite="stop")
    assert not result.success and "non-finite" in result.message and np.isfinite(result.x).all()


def test_lbfgs_backtracks_from_nonfinite_trial_points():
    def guarded(x):  # log barrier: +inf-ish (nan) outside x > 0
        if x[0] <= 0:
            return float("nan"), np.array([np.nan])
        return float(x[0] - np.log(x[0])), np.array([1 - 1 / x[0]])
    result = minimize(guarded, [5.0], jac=True, optimizer=LBFGS(lr=50.0))
    assert result.success and abs(result.x[0] - 1.0) < 1e-6


def test_wrong_gradient_shape():
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        minimize(lambda x: (float((x ** 2).sum()), np.zeros(3)), [1.0, 2.0], jac=True)
    with pytest.raises(ValueError, match="jac"):
        minimize(lambda x: float((x ** 2).sum()), [1.0, 2.0], jac=lambda x: np.zeros((1, 2)))
    with pytest.raises(TypeError, match="value, grad"):
        minimize(lambda x: float((x ** 2).sum()), [1.0, 2.0], jac=True)
    with pytest.raises(ValueError, match="scalar"):
        minimize(lambda x: x ** 2, [1.0, 2.0])


def test_bad_options():
    with pytest.raises(ValueError, match="max_iter"):
        minimize(quadratic, [1.0], jac=True, max_iter=-1)
    with pytest.raises(ValueError, match="tol"):
        minimize(quadratic, [1.0], jac=True, tol=float("nan"))
    with pytest.raises(ValueError, match="nonfinite"):
        minimize(quadratic, [1.0], jac=True, nonfinite="ignore")
    with pytest.raises(ValueError, match="vectorized fun"):
        minimize(lambda xs: (np.zeros(5), xs), np.zeros((3, 2)), jac=True, vectorized=True, optimizer=sgd(0.1))


# ---- the LBFGS optimizer on its own -------------------------------------------------


def test_lbfgs_closure_api(dtype):
    params = np.array([-1.2, 1.0], dtype)
    opt = LBFGS()
    for _ in range(200):
        loss = opt.step(rosenbrock, params)
        if np.linalg.norm(opt.grad) < 1e-4:
            break
    assert loss < 1e-6
    assert params.dtype == dtype


def test_lbfgs_validates():
    with pytest.raises(ValueError, match="history_size"):
        LBFGS(history_size=0)
    with pytest.raises(ValueError, match="line_search"):
        LBFGS(line_search="armijo")
    with pytest.raises(ValueError, match="c1"):
        LBFGS(c1=0.95, c2=0.9)
    with pytest.raises(ValueError, match="lr"):
        LBFGS(lr=0.0)
    opt = LBFGS()
    with pytest.raises(TypeError, match="closure"):
        opt.step(None, np.zeros(2))
    with pytest.raises(TypeError, match="params"):
        opt.step(quadratic, [1.0, 2.0])
    opt.step(quadratic, np.ones(2))
    with pytest.raises(ValueError, match="reset"):
        opt.step(quadratic, np.ones(3))
    with pytest.raises(ValueError, match="grads of shape"):
        LBFGS().step(lambda p: (1.0, np.zeros(5)), np.ones(2))
    assert "history_size=10" in repr(LBFGS())


def test_lbfgs_state_dict_round_trip():
    params = np.array([-1.2, 1.0])
    opt = LBFGS(history_size=4)
    for _ in range(5):
        opt.step(rosenbrock, params)
    clone = LBFGS(history_size=4)
    clone.load_state_dict(opt.state_dict())
    p1, p2 = params.copy(), params.copy()
    opt.step(rosenbrock, p1)
    clone.step(rosenbrock, p2)
    np.testing.assert_array_equal(p1, p2)


def test_lbfgs_without_line_search_takes_fixed_steps():
    opt = LBFGS(line_search=None, lr=0.5)
    params = np.array([4.0])
    opt.step(quadratic, params)  # first step: lr·min(1, 1/|g|₁)·(-g) = 0.5/8·(-8)
    np.testing.assert_allclose(params, [3.5])
    opt.step(quadratic, params)  # lr·(Newton step), exact curvature from the first pair
    np.testing.assert_allclose(params, [1.75])
    opt.lr = 1.0
    opt.step(quadratic, params)
    assert abs(params[0]) < 1e-12


def test_exported():
    for name in ("minimize", "maximize", "OptimizeResult", "check_grad", "approx_grad", "LBFGS"):
        assert name in fastgd.__all__ and hasattr(fastgd, name)


def test_lbfgs_beats_adam_on_a_smooth_mlp_at_equal_gradient_evaluations():
    """Full-batch L-BFGS reaches a lower loss than Adam with the same number of
    gradient evaluations on a smooth problem (tanh MLP regression, NumPy closure)."""
    rng = np.random.default_rng(1)
    x = np.linspace(-2, 2, 64)[:, None]
    y = np.sin(3 * x)
    hidden = 12
    sizes = [(1, hidden), (hidden,), (hidden, 1), (1,)]
    counts = [int(np.prod(s)) for s in sizes]
    start = np.concatenate([rng.normal(0, 1, counts[0]), np.zeros(counts[1]),
                            rng.normal(0, 1 / np.sqrt(hidden), counts[2]), np.zeros(counts[3])])

    def closure(params):
        W1, b1, W2, b2 = (a.reshape(s) for a, s in zip(np.split(params, np.cumsum(counts)[:-1]), sizes))
        h = np.tanh(x @ W1 + b1)
        residual = h @ W2 + b2 - y
        grad_out = 2 * residual / residual.size
        grad_h = (grad_out @ W2.T) * (1 - h ** 2)
        grads = np.concatenate([(x.T @ grad_h).ravel(), grad_h.sum(0), (h.T @ grad_out).ravel(),
                                grad_out.sum(0)])
        return float(np.mean(residual ** 2)), grads

    budget = 500
    params = start.copy()
    lbfgs, used = LBFGS(history_size=20), 0
    while used < budget - lbfgs.max_ls:
        lbfgs_loss = lbfgs.step(closure, params)
        used += lbfgs.last_nfev
    for lr in (1e-2, 1e-1):  # a usual and the best-tuned Adam learning rate for this problem
        adam = minimize(closure, start, jac=True, optimizer=fastgd.optim.Adam(lr=lr), max_iter=budget, tol=0.0)
        assert adam.nfev >= used
        assert lbfgs_loss < adam.fun, (lr, lbfgs_loss, adam.fun)


def test_batched_starts_stop_individually():
    def batch(xs):  # (x - 3)² below 50; a slope running off to the right above; NaN past 80
        x = xs[:, 0]
        values = np.where(x < 50, (x - 3.0) ** 2, 2209.0 - 100.0 * (x - 50))
        values = np.where(x > 80, np.nan, values)
        grads = np.where(x < 50, 2 * (x - 3.0), -100.0)[:, None]
        return values, grads

    starts = np.array([[0.0], [10.0], [60.0]])
    result = minimize(batch, starts, jac=True, vectorized=True, optimizer=sgd(0.1), max_iter=500,
                      nonfinite="stop")
    assert "non-finite" in result.results[2].message and not result.results[2].success
    assert result.results[2].x[0] == pytest.approx(80.0)  # the last finite point
    assert result.results[0].success and result.results[1].success
    assert abs(result.results[0].x[0] - 3.0) < 1e-6
    assert result.best_index == 2  # the lowest finite value wins, converged or not
    with pytest.raises(ValueError, match="start 2"):
        minimize(batch, starts, jac=True, vectorized=True, optimizer=sgd(0.1), max_iter=500)

    stops = []
    result = minimize(batch, starts[:2], jac=True, vectorized=True, optimizer=sgd(0.1),
                      callback=lambda xk: stops.append(xk) or len(stops) >= 3)
    assert any("callback" in r.message for r in result.results)


def test_max_iter_zero_evaluates_once():
    result = minimize(quadratic, [1.0, 2.0], jac=True, max_iter=0)
    assert result.nit == 0 and result.nfev == 1 and not result.success
    np.testing.assert_array_equal(result.x, [1.0, 2.0])
    np.testing.assert_array_equal(result.jac, [2.0, 4.0])


def test_user_exceptions_propagate_unchanged():
    def fun(x):
        raise KeyError("from the user's function")

    with pytest.raises(KeyError, match="user's function"):
        minimize(fun, [1.0])


def test_vectorized_fun_with_lbfgs_and_with_finite_differences():
    def values(xs):
        x = xs[:, 0]
        return 25 * np.sin(x) - x ** 2

    starts = np.linspace(-10, 10, 7)[:, None]
    with_lbfgs = maximize(lambda xs: (values(xs), (25 * np.cos(xs) - 2 * xs)), starts, jac=True, vectorized=True)
    assert abs(with_lbfgs.x[0] - 1.454) < 1e-3
    numeric = maximize(values, starts, vectorized=True, optimizer=sgd(0.01), max_iter=3000, tol=1e-5)
    assert abs(numeric.x[0] - 1.454) < 1e-3 and abs(numeric.fun - 22.716) < 1e-3


def test_lbfgs_closure_may_reuse_one_gradient_buffer():
    """How a model's full-batch fit drives LBFGS: params is the flat parameter arena, the
    closure evaluates at its current content and returns the model's own gradient arena,
    overwritten at every call."""
    arena = np.array([-1.2, 1.0, -1.2, 1.0])
    grad_arena = np.zeros_like(arena)
    calls = []

    def closure(params):
        assert params is arena  # trial points are written into the arena itself
        value, grad = rosenbrock(params)
        grad_arena[...] = grad
        calls.append(value)
        return value, grad_arena

    opt = LBFGS()
    for _ in range(200):
        loss = opt.step(closure, arena)
        if np.linalg.norm(opt.grad) < 1e-8:
            break
    assert loss < 1e-12 and np.abs(arena - 1).max() < 1e-6
    assert opt.n_iter < len(calls) < 3 * opt.n_iter + 5


def test_lbfgs_trains_a_fastgd_model_full_batch_better_than_adam():
    """The same with the real model: LBFGS through its closure API on Sequential's flat arena
    (closure = model.loss_and_grad on the full batch) vs Adam train steps, 500 gradient
    evaluations each, on a smooth regression problem."""

    def make():
        return fastgd.Sequential([fastgd.Dense(1, 32, activation="tanh"), fastgd.Dense(32, 32, activation="tanh"),
                                  fastgd.Dense(32, 1, activation="identity")], dtype="float64", seed=0)

    X = np.linspace(-2, 2, 256)[:, None]
    y = np.sin(3 * X) + 0.3 * X ** 2
    budget = 500
    model = make()
    opt, used = LBFGS(history_size=20), 0
    while used < budget - opt.max_ls:
        lbfgs_loss = opt.step(lambda params: model.loss_and_grad(X, y, "mse"), model.params)
        used += opt.last_nfev
    for lr in (1e-2, 3e-2):
        other = make()
        adam = fastgd.optim.Adam(lr=lr)
        for _ in range(budget):
            other.train_step(X, y, "mse", adam)
        adam_loss = other.loss_and_grad(X, y, "mse")[0]
        assert lbfgs_loss < adam_loss / 10, (lr, lbfgs_loss, adam_loss)


@pytest.mark.parametrize("setting, value", [("c1", 0.6), ("c2", 0.1), ("max_ls", 1), ("line_search", None),
                                            ("lr", 0.5)])
def test_lbfgs_settings_changed_between_steps_take_effect(setting, value):
    """Changing a setting the line search reads, after steps were taken, acts as an optimizer
    built with it and given the same state; not as the settings it started with."""
    start = np.array([-1.2, 1.0])
    opt = LBFGS()
    params = start.copy()
    for _ in range(3):
        opt.step(rosenbrock, params)
    state = opt.state_dict()
    unchanged = LBFGS()
    unchanged.load_state_dict(state)
    rebuilt = LBFGS(**{k: v for k, v in {**opt.get_config(), setting: value}.items() if k != "name"})
    rebuilt.load_state_dict(state)
    setattr(opt, setting, value)
    paths = {}
    # opt keeps stepping on the same array, so only the changed setting can call for a new driver
    for name, o, p in (("rebuilt", rebuilt, params.copy()), ("unchanged", unchanged, params.copy()),
                       ("changed", opt, params)):
        for _ in range(10):
            o.step(rosenbrock, p)
        paths[name] = p
    np.testing.assert_array_equal(paths["changed"], paths["rebuilt"])
    assert not np.array_equal(paths["changed"], paths["unchanged"])


@pytest.mark.parametrize("scale, tol", [(1e-170, 1e-200), (1e170, 1e150)])
def test_gradient_norm_far_from_one_is_measured_not_rounded_to_zero_or_infinity(scale, tol):
    # the squares of gradient entries of 2e-170 are 0 in float64 (those of 2e170 infinite):
    # minimize reported success at x0 with "gradient norm 0", and Newton-CG's conjugate
    # gradients saw a zero (or non-finite) curvature
    def f(x):
        return scale * float(((x - 3.0) ** 2).sum()), 2.0 * scale * (x - 3.0)

    def batch(xs):
        return scale * ((xs - 3.0) ** 2).sum(axis=1), 2.0 * scale * (xs - 3.0)

    x0 = np.array([1.0, 2.0])
    expected = f"max_iter (0) reached; gradient norm {math.sqrt(20.0) * scale:.3g} > tol {tol:.3g}"
    at_x0 = minimize(f, x0, jac=True, tol=tol, max_iter=0)
    assert (at_x0.success, at_x0.message) == (False, expected)
    batched = minimize(batch, np.array([x0, x0]), jac=True, vectorized=True, tol=tol, max_iter=0, optimizer=sgd(0.1))
    assert [(r.success, r.message) for r in batched.results] == [(False, expected)] * 2
    newton = minimize(f, x0, jac=True, tol=tol, optimizer=fastgd.NewtonCG())
    assert newton.success and newton.nit > 0
    np.testing.assert_allclose(newton.x, [3.0, 3.0], rtol=1e-12)


def _gradient_nan_left_of_half(x):
    return float(x @ x), (np.array([np.nan, 1.0]) if x[0] < 0.5 else 2.0 * x)


@pytest.mark.parametrize("fun, hessp, source", [
    (_gradient_nan_left_of_half, None, "by finite differences of the gradient"),
    (lambda x: (float((x ** 4).sum()), 4.0 * x ** 3),
     lambda x, v: 12.0 * x ** 2 * v if x[0] > 0.9 else np.array([np.nan, 1.0]), "from hessp"),
])
def test_newton_cg_honours_nonfinite_for_a_nonfinite_hessian_vector_product(fun, hessp, source):
    # Newton-CG raised a bare "a Hessian-vector product is not finite" whatever nonfinite said,
    # losing the run's progress and naming neither the iteration nor the product's source
    x0 = np.array([1.0, 2.0])
    stopped = minimize(fun, x0, jac=True, hessp=hessp, optimizer=fastgd.NewtonCG(), nonfinite="stop",
                       keep_trajectory=True)
    assert not stopped.success and stopped.nit >= 1
    assert stopped.message == (f"the Hessian-vector product {source} is not finite at iteration {stopped.nit + 1}; "
                               "x is the last finite point")
    np.testing.assert_array_equal(stopped.x, stopped.trajectory[-1])
    assert stopped.fun == fun(stopped.x)[0]
    message = rf"^the Hessian-vector product {source} is not finite at iteration {stopped.nit + 1} \(x = array"
    with pytest.raises(ValueError, match=message):
        minimize(fun, x0, jac=True, hessp=hessp, optimizer=fastgd.NewtonCG())


def test_newton_cg_keeps_its_radius_within_radii_set_after_construction():
    def closure(p):
        return float(((p - 100.0) ** 2).sum()), 2.0 * (p - 100.0)

    opt, params = fastgd.NewtonCG(), np.zeros(2)
    opt.max_trust_radius = 0.5  # below the initial radius 1
    with pytest.raises(ValueError, match=r"^trust_radius \(1.0\) must be <= max_trust_radius \(0.5\)"):
        opt.step(closure, params)
    opt = fastgd.NewtonCG(trust_radius=0.1, max_trust_radius=10.0)
    opt.step(closure, params)
    assert opt.trust_radius > 0.5
    opt.max_trust_radius = 0.5
    before = params.copy()
    opt.step(closure, params)  # a step of the radius it had, 20, went past the new maximum
    assert 0.0 < np.linalg.norm(params - before) <= 0.5 * (1 + 1e-12)
    assert opt.trust_radius <= 0.5


def test_newton_cg_takes_a_gradient_norm_past_2_1023():
    """Its conjugate gradients run on the model divided by a power of two just above ‖g‖, which
    for ‖g‖ >= 2^1023 is 2^1024: that raised a bare OverflowError."""
    def fun(x):
        return float(np.float64(9e307) * 1e-300 * (x[0] + x[1])) * 1e300, np.array([9e307, 9e307])

    with np.errstate(over="ignore"):
        result = fastgd.minimize(fun, np.zeros(2), jac=True, optimizer=fastgd.NewtonCG(), max_iter=3)
    assert not result.success and "max_iter (3) reached" in result.message
