"""fastgd.curvature (function hvp/hessian, Lanczos, spectra, stationary points), NewtonCG, and the
curvature diagnostics of fit."""

import math
import warnings

import numpy as np
import pytest
import scipy.optimize as so

import fastgd as fg
from fastgd import curvature


def _rosen(x):
    return so.rosen(x), so.rosen_der(x)


# ---- function products ------------------------------------------------------------------------

def test_hvp_central_differences_and_exact_hessp(rng):
    x, v = rng.standard_normal((2, 6))
    fd = fg.hvp(_rosen, x, v)
    exact = so.rosen_hess_prod(x, v)
    assert np.max(np.abs(fd - exact)) < 1e-6 * np.max(np.abs(exact))  # ~ ε^(2/3) as documented
    np.testing.assert_array_equal(fg.hvp(_rosen, x, v, hessp=so.rosen_hess_prod), exact)
    np.testing.assert_allclose(fg.hvp(None, x, v, jac=so.rosen_der), fd)
    assert np.array_equal(fg.hvp(_rosen, x, np.zeros(6)), np.zeros(6))


def test_hessian_matches_scipy_rosen_hess(rng):
    x = rng.standard_normal(5)
    np.testing.assert_allclose(fg.hessian(_rosen, x), so.rosen_hess(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fg.hessian(_rosen, x, hessp=so.rosen_hess_prod), so.rosen_hess(x), rtol=1e-14)


def test_function_products_bad_input():
    with pytest.raises(ValueError, match="v must have the shape of x"):
        fg.hvp(_rosen, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        fg.hvp(_rosen, np.array([np.nan, 0.0]), np.zeros(2))
    with pytest.raises(TypeError, match="jac must be True"):
        fg.hvp(_rosen, np.zeros(2), np.ones(2), jac=None)
    with pytest.raises(TypeError, match="return \\(value, gradient\\)"):
        fg.hvp(lambda x: 1.0, np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="max_dim"):
        fg.hessian(_rosen, np.zeros(30), max_dim=20)
    with pytest.raises(ValueError, match="hessp must return"):
        fg.hvp(_rosen, np.zeros(2), np.ones(2), hessp=lambda x, v: np.zeros(3))
    # what is not callable was called anyway: "'NoneType' object is not callable", naming nothing
    for call in (lambda: fg.hvp(None, np.zeros(2), np.ones(2)), lambda: fg.hessian(3, np.zeros(2))):
        with pytest.raises(TypeError, match=r"fun must be callable fun\(x\) -> \(value, gradient\) with jac=True, "
                                            r"got (NoneType|int)"):
            call()
    with pytest.raises(TypeError, match=r"matvec must be callable matvec\(v\) -> A·v, got int"):
        curvature.lanczos_extremes(3, 2)
    np.testing.assert_allclose(fg.hvp(None, np.zeros(2), np.ones(2), jac=lambda x: 2 * x), [2.0, 2.0], rtol=1e-6)


# ---- eigenvalues from products ------------------------------------------------------------------

def _small_net(rng):
    m = fg.Sequential([fg.Dense(4, 6, activation="tanh"), fg.Dense(6, 3, activation="identity")],
                      dtype="float64", seed=2)
    X = rng.standard_normal((25, 4))
    y = rng.integers(0, 3, 25)
    return m, X, y


def _dense_model_hessian(m, X, y):
    eye = np.eye(m.n_params)
    H = np.column_stack([m.hvp(X, y, eye[i], loss="softmax_cross_entropy") for i in range(m.n_params)])
    return 0.5 * (H + H.T)


def test_lanczos_top_eigenvalue_matches_eigvalsh_of_the_dense_hessian(rng):
    m, X, y = _small_net(rng)
    exact = np.linalg.eigvalsh(_dense_model_hessian(m, X, y))
    top = curvature.top_eigenvalues(m, X, y, k=3, loss="softmax_cross_entropy", steps=m.n_params)
    np.testing.assert_allclose(top, exact[::-1][:3], rtol=1e-8, atol=1e-12)
    # a few dozen products already pin the top one
    top30 = curvature.top_eigenvalues(m, X, y, k=1, loss="softmax_cross_entropy", steps=30)
    assert abs(top30[0] - exact[-1]) <= 1e-8 * abs(exact[-1])


def test_lanczos_extremes_on_a_known_spectrum(rng):
    lam = np.linspace(-3.0, 7.0, 40)
    Q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    A = Q @ np.diag(lam) @ Q.T
    largest, smallest = curvature.lanczos_extremes(lambda v: A @ v, 40, k=2, steps=40)
    np.testing.assert_allclose(largest, lam[::-1][:2], atol=1e-10)
    np.testing.assert_allclose(smallest, lam[:2], atol=1e-10)
    with pytest.raises(ValueError, match="which"):
        curvature.lanczos_extremes(lambda v: v, 3, which="middle")


def test_spectrum_density_integrates_to_one_and_covers_the_eigenvalues(rng):
    m, X, y = _small_net(rng)
    exact = np.linalg.eigvalsh(_dense_model_hessian(m, X, y))
    s = curvature.spectrum(m, X, y, loss="softmax_cross_entropy", steps=m.n_params, n_vectors=3)
    grid, density = s["grid"], s["density"]
    assert abs(np.trapezoid(density, grid) - 1.0) < 1e-2
    assert grid[0] < exact[0] and grid[-1] > exact[-1]
    nodes = s["nodes"][np.isfinite(s["nodes"])]
    assert np.max(nodes) == pytest.approx(exact[-1], rel=1e-8)
    np.testing.assert_allclose(s["weights"].sum(axis=1), 1.0, rtol=1e-10)


def _fd_gradient_and_hessian(m, X, y, loss, h=1e-5):
    """float64 central differences: the gradient of the loss value, the Hessian of the gradient
    (independent of the R-operator the products use)."""
    theta = m.params.copy()

    def value(p):
        m.params[...] = p
        return m.loss_and_grad(X, y, loss)[0]

    def gradient(p):
        m.params[...] = p
        return m.loss_and_grad(X, y, loss)[1]

    try:
        g = fg.approx_grad(value, theta)
        eye = np.eye(theta.size)
        H = np.column_stack([(gradient(theta + h * e) - gradient(theta - h * e)) / (2 * h) for e in eye])
    finally:
        m.params[...] = theta
    return g, 0.5 * (H + H.T)


def _linear_regression(rng, n=30):
    m = fg.Sequential([fg.Dense(4, 2, activation="identity")], dtype="float64", seed=0)
    X = rng.standard_normal((n, 4)) * np.array([0.1, 1.0, 3.0, 10.0])  # unequal scales: ill-conditioned
    return m, X, rng.standard_normal((n, 2))


def test_condition_number_matches_numpy_cond_of_the_finite_difference_hessian(rng):
    m, X, y = _linear_regression(rng)
    _g, H = _fd_gradient_and_hessian(m, X, y, "mse")
    lam = np.linalg.eigvalsh(H)
    assert lam[0] > 0 and lam[-1] / lam[0] > 100  # positive definite, and far from round
    exact = np.linalg.cond(H)
    kappa = curvature.condition_number(m, X, y, loss="mse", steps=m.n_params)
    assert kappa == pytest.approx(exact, rel=1e-6)
    # fewer Lanczos steps than parameters: a lower bound (Ritz values lie inside the spectrum)
    few = curvature.condition_number(m, X, y, loss="mse", steps=3)
    assert 1.0 <= few <= kappa * (1 + 1e-12)


def test_condition_number_is_infinite_where_the_hessian_is_not_positive_definite(rng):
    m, X, y = _small_net(rng)
    assert np.linalg.eigvalsh(_dense_model_hessian(m, X, y))[0] < -1e-6  # a saddle's negative curvature
    assert curvature.condition_number(m, X, y, loss="softmax_cross_entropy", steps=m.n_params) == math.inf
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        curvature.condition_number(m, X, y, loss="softmax_cross_entropy", steps=0)
    with pytest.raises(ValueError, match="loss is required"):
        curvature.condition_number(m, X, y)


def test_condition_number_of_a_convex_but_singular_loss_is_infinite(rng):
    """Softmax regression: convex, but the loss is flat along a shift of every logit alike, so
    λmin = 0; rounding must not make it a finite κ, in either dtype."""
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 4, 40)
    for dtype in ("float64", "float32"):
        m = fg.Sequential([fg.Dense(3, 4, activation="identity")], dtype=dtype, seed=0)
        if dtype == "float64":
            lam = np.linalg.eigvalsh(_fd_gradient_and_hessian(m, X, y, "softmax_cross_entropy")[1])
            assert abs(lam[0]) < 1e-8 * lam[-1] and lam[1] > -1e-8 * lam[-1]  # positive semi-definite, singular
        assert curvature.condition_number(m, X, y, loss="softmax_cross_entropy", steps=m.n_params) == math.inf


def test_gradient_curvature_matches_finite_differences(rng):
    m, X, y = _small_net(rng)
    g, H = _fd_gradient_and_hessian(m, X, y, "softmax_cross_entropy")
    gg, gHg = g @ g, g @ H @ g
    assert gHg > 0
    r = curvature.gradient_curvature(m, X, y, loss="softmax_cross_entropy")
    assert r["loss"] == m.evaluate(X, y, loss="softmax_cross_entropy")["loss"]
    assert r["grad_sq"] == pytest.approx(gg, rel=1e-7)
    assert r["grad_curvature"] == pytest.approx(gHg / gg, rel=1e-6)
    assert r["optimal_lr"] == pytest.approx(gg / gHg, rel=1e-6)
    eps = r["optimal_lr"]
    assert r["predicted_change"] == pytest.approx(-eps * gg + 0.5 * eps * eps * gHg, rel=1e-6)
    assert r["predicted_change"] == pytest.approx(-0.5 * gg * gg / gHg, rel=1e-6)


def test_the_optimal_step_of_a_quadratic_loss_is_its_exact_line_minimum(rng):
    m, X, y = _linear_regression(rng)
    r = curvature.gradient_curvature(m, X, y, loss="mse")
    theta, (value, g) = m.params.copy(), m.loss_and_grad(X, y, "mse")

    def along(eps):
        m.params[...] = theta - eps * g
        return m.evaluate(X, y, loss="mse")["loss"]

    eps = r["optimal_lr"]
    # the mean squared error of a linear model is its own second-order Taylor model
    assert along(eps) - value == pytest.approx(r["predicted_change"], rel=1e-10)
    assert along(eps) < min(along(0.9 * eps), along(1.1 * eps))
    assert along(2 * eps) == pytest.approx(value, rel=1e-9)  # twice as far: back to the start's loss
    m.params[...] = theta


def test_gradient_curvature_without_curvature_or_without_a_gradient(rng):
    m, X, y = _linear_regression(rng)
    flat = curvature.gradient_curvature(m, X, y, loss="mae")  # the absolute error's Hessian is 0
    assert flat["grad_sq"] > 0 and flat["grad_curvature"] == 0.0
    assert flat["optimal_lr"] == math.inf and flat["predicted_change"] == -math.inf
    still = curvature.gradient_curvature(m, X, m.predict(X), loss="mse")  # a perfect fit: g = 0
    assert still["grad_sq"] == 0.0 and still["predicted_change"] == 0.0
    assert math.isnan(still["grad_curvature"]) and math.isnan(still["optimal_lr"])


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_condition_number_of_a_scaled_loss_is_exact_with_n_params_steps(rng, scale):
    """The Lanczos breakdown test is relative to the products' size: with X scaled by 1e-6 every
    eigenvalue of the mean squared error's Hessian but the bias's is near 1e-12, which an
    absolute threshold took for an invariant subspace after one step (κ = 1)."""
    # one output: Lanczos from one start vector sees each distinct eigenvalue once, and each
    # output would repeat the spectrum
    m = fg.Sequential([fg.Dense(4, 1, activation="identity")], dtype="float64", seed=0)
    X, y = rng.standard_normal((30, 4)) * scale, rng.standard_normal((30, 1))
    # a linear model's squared error: H is a multiple of AᵀA, A = [X 1], so κ = cond(A)² exactly
    # (the SVD resolves A's small singular values to full relative accuracy)
    exact = np.linalg.cond(np.column_stack([X, np.ones(len(X))])) ** 2
    kappa = curvature.condition_number(m, X, y, loss="mse", steps=m.n_params)
    # Ritz values carry rounding of about ε·λmax, relative to λmin: ε·κ
    assert kappa == pytest.approx(exact, rel=max(1e-9, 1e4 * np.finfo(np.float64).eps * exact))
    if scale == 1.0:  # the float64 finite-difference Hessian agrees where its steps can resolve it
        assert kappa == pytest.approx(np.linalg.cond(_fd_gradient_and_hessian(m, X, y, "mse")[1]), rel=1e-6)
    # the spectrum's other users share the Lanczos steps: the top eigenvalues are exact too
    eye = np.eye(m.n_params)
    H = np.column_stack([curvature.model_hvp(m, X, y, e, "mse") for e in eye])
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    top = curvature.top_eigenvalues(m, X, y, k=2, loss="mse", steps=m.n_params)
    # (both to rounding of the products, about ε·λmax)
    np.testing.assert_allclose(top, lam[::-1][:2], rtol=1e-8, atol=64 * np.finfo(np.float64).eps * lam[-1])


def test_repeated_eigenvalues_are_counted_as_often_as_they_occur(rng):
    """A linear layer's squared error has each eigenvalue once per output: Lanczos from one start
    vector reached an invariant subspace holding each distinct one once, and top_eigenvalues(k=2)
    returned λ1 and λ2 for λ1, λ1 (identity blocks: k = 3 gave a single 1.0)."""
    m = fg.Sequential([fg.Dense(3, 2, activation="identity")], dtype="float64", seed=0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    H = np.column_stack([curvature.model_hvp(m, X, y, e, "mse") for e in np.eye(m.n_params)])
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert lam[-1] == pytest.approx(lam[-2], rel=1e-12)  # the repeated top eigenvalue
    top = curvature.top_eigenvalues(m, X, y, k=3, loss="mse", steps=m.n_params)
    np.testing.assert_allclose(top, lam[::-1][:3], rtol=1e-10)
    largest, smallest = curvature.lanczos_extremes(lambda v: v.copy(), 10, k=3)
    np.testing.assert_allclose(largest, np.ones(3), rtol=1e-12)
    np.testing.assert_allclose(smallest, np.ones(3), rtol=1e-12)
    diagonal = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    largest, smallest = curvature.lanczos_extremes(lambda v: diagonal * v, 6, k=2)
    np.testing.assert_allclose(largest, [3.0, 3.0], rtol=1e-12)
    np.testing.assert_allclose(smallest, [1.0, 1.0], rtol=1e-12)
    # minimize's eigenvalues past the dense limit: 3 from each end of 2·I in 100-d
    res = fg.minimize(lambda x: (float(x @ x), 2.0 * x), np.ones(100), jac=True)
    np.testing.assert_allclose(res.hess_eigenvalues, np.full(6, 2.0), rtol=1e-6)


def test_lanczos_runs_every_step_on_an_operator_of_tiny_eigenvalues(rng):
    lam = np.geomspace(3e-20, 3.7e-12, 12)
    Q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    A = Q @ np.diag(lam) @ Q.T
    largest, smallest = curvature.lanczos_extremes(lambda v: A @ v, 12, k=1, steps=12)
    assert largest[0] == pytest.approx(lam[-1], rel=1e-8)
    assert smallest[0] == pytest.approx(lam[0], rel=1e-2, abs=1e-27)  # rounding of A·v is ~1e-28
    # a zero operator ends at the first step (nothing is left of w): no division by zero
    assert curvature.lanczos_extremes(lambda v: np.zeros(5), 5, k=1, steps=5)[0][0] == 0.0


def test_condition_number_of_a_deep_network_matches_the_finite_difference_hessian(rng):
    """Several layers, at a point where the Hessian is positive definite: the squared error of
    a tanh network at a perfect fit, where H is the Gauss-Newton JᵀJ (times 2/n) of a full-rank
    Jacobian."""
    m = fg.Sequential([fg.Dense(3, 4, activation="tanh"), fg.Dense(4, 3, activation="tanh"),
                       fg.Dense(3, 2, activation="identity")], dtype="float64", seed=1)
    X = rng.standard_normal((60, 3))
    y = m.predict(X)
    lam = np.linalg.eigvalsh(_fd_gradient_and_hessian(m, X, y, "mse")[1])
    assert lam[0] > 1e-9 * lam[-1]
    kappa = curvature.condition_number(m, X, y, loss="mse", steps=m.n_params)
    assert math.isfinite(kappa) and kappa > 10
    assert kappa == pytest.approx(lam[-1] / lam[0], rel=1e-4)


def test_condition_number_and_gradient_curvature_leave_the_model_alone(rng):
    m, X, y = _small_net(rng)
    m.loss_and_grad(X[:5], y[:5], "softmax_cross_entropy")  # grads of some other batch
    params, grads = m.params.copy(), m.grads.copy()
    curvature.condition_number(m, X, y, loss="softmax_cross_entropy", steps=8)
    assert np.array_equal(m.params, params) and np.array_equal(m.grads, grads)
    curvature.gradient_curvature(m, X, y, loss="softmax_cross_entropy")
    assert np.array_equal(m.params, params)
    # as documented, gradient_curvature leaves its gradient in model.grads
    assert np.array_equal(m.grads, m.loss_and_grad(X, y, "softmax_cross_entropy")[1])


def test_integer_sample_weights_are_repeated_rows(rng):
    m, X, y = _small_net(rng)
    sw = rng.integers(1, 4, len(y)).astype(float)
    rep = np.repeat(np.arange(len(y)), sw.astype(int))
    a = curvature.gradient_curvature(m, X, y, loss="softmax_cross_entropy", sample_weight=sw)
    b = curvature.gradient_curvature(m, X[rep], y[rep], loss="softmax_cross_entropy")
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-10), key
    lin, X2, t2 = _linear_regression(rng)
    sw = rng.integers(1, 4, len(t2)).astype(float)
    rep = np.repeat(np.arange(len(t2)), sw.astype(int))
    weighted = curvature.condition_number(lin, X2, t2, loss="mse", sample_weight=sw, steps=lin.n_params)
    repeated = curvature.condition_number(lin, X2[rep], t2[rep], loss="mse", steps=lin.n_params)
    assert weighted == pytest.approx(repeated, rel=1e-8)


def test_gradient_curvature_in_float32_is_close_to_float64(rng):
    X, y = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    m32, m64 = (fg.Sequential([fg.Dense(5, 6, activation="tanh"), fg.Dense(6, 3, activation="identity")],
                              dtype=dtype, seed=0) for dtype in ("float32", "float64"))
    m64.params[...] = m32.params.astype(np.float64)
    a = curvature.gradient_curvature(m32, X, y, loss="softmax_cross_entropy")
    b = curvature.gradient_curvature(m64, X, y, loss="softmax_cross_entropy")
    assert b["grad_curvature"] > 0
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-4), key


def test_gradient_curvature_takes_the_loss_the_model_was_fitted_with(rng):
    m, X, y = _small_net(rng)
    with pytest.raises(ValueError, match="loss is required"):
        curvature.gradient_curvature(m, X, y)
    m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=1e-3), epochs=1, batch_size=25, verbose=0)
    assert curvature.gradient_curvature(m, X, y) == curvature.gradient_curvature(m, X, y, loss="softmax_cross_entropy")


def test_model_products_that_are_not_finite_are_refused_by_name(rng):
    """model.hvp returned NaN for a v finite in float32 whose product is not (3e38), and
    top_eigenvalues at parameters where the products overflow named "matvec(v)", an argument
    the caller never gave."""
    m = fg.Sequential([fg.Dense(3, 4, activation="tanh"), fg.Dense(4, 2, activation="identity")], dtype="float32",
                      seed=0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    message = r"the Hessian-vector product is not finite at the model's parameters \(\d+ of 26 entries"
    for product in (m.hvp, m.gnvp):
        with pytest.raises(ValueError, match=message):
            product(X, y, np.full(m.n_params, 3e38, np.float32), loss="mse")
    m.params[...] = 1e30
    for call in (curvature.top_eigenvalues, curvature.condition_number, curvature.spectrum):
        with pytest.raises(ValueError, match=message):
            call(m, X, y, loss="mse")


@pytest.mark.parametrize("dtype, size", [("float64", 1e200), ("float32", 1e30)])
def test_gradient_curvature_refuses_a_loss_that_is_not_finite(rng, dtype, size):
    """On overflow the step reports an infinite loss with a zero gradient: not a stationary point."""
    m = fg.Sequential([fg.Dense(5, 1, activation="identity")], dtype=dtype, seed=0)
    X, t = rng.standard_normal((50, 5)), rng.standard_normal(50)
    m.params[...] = size
    with pytest.raises(ValueError, match=r"the loss or its gradient is not finite at the model's parameters "
                                         r"\(loss=inf"):
        curvature.gradient_curvature(m, X, t, loss="mse")
    # a finite loss whose gradient's square norm is past float64's range
    m.params[...] = 0.5
    if dtype == "float64":
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the overflow is named by the error, not warned about too
            # H·g overflows first, and is named so
            with pytest.raises(ValueError, match=r"the Hessian-vector product is not finite at the model's parameters"):
                curvature.gradient_curvature(m, X * 1e120, t, loss="mse")


# ---- stationary points --------------------------------------------------------------------------

def test_lanczos_and_spectrum_bad_input(rng):
    with pytest.raises(ValueError, match=r"matvec\(v\) must return an array of shape \(5,\), got shape \(2,\)"):
        curvature.lanczos_extremes(lambda v: v[:2], 5)
    with pytest.raises(ValueError, match=r"matvec\(v\) must be finite, got nan"):
        curvature.lanczos_extremes(lambda v: v * np.nan, 5)
    with pytest.raises(TypeError, match=r"matvec\(v\) must hold real numbers"):
        curvature.lanczos_extremes(lambda v: v.astype(complex), 5)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        curvature.lanczos_extremes(lambda v: v, 5, seed=-1)
    # one Ritz value per step: k = 4 with 2 steps returned 2 values
    with pytest.raises(ValueError, match=r"steps must be >= k \(4\) \(one Ritz value per Lanczos step\), got 2"):
        curvature.lanczos_extremes(lambda v: v, 5, k=4, steps=2)
    assert curvature.lanczos_extremes(lambda v: v, 5, k=4, steps=4)[0].shape == (4,)
    assert curvature.lanczos_extremes(lambda v: v, 3, k=4, steps=10)[0].shape == (3,)  # k > d: all d of them
    m = fg.Sequential([fg.Dense(3, 4, activation="tanh"), fg.Dense(4, 2, activation="identity")], dtype="float64")
    X, y = rng.standard_normal((10, 3)), np.arange(10) % 2
    for grid, match in ((np.array([np.nan, 1.0]), "grid must be finite"), (np.ones((2, 2)), "grid must be a non-empty"),
                        (3.0, "grid must be a non-empty 1-D"), ([], "grid must be a non-empty 1-D")):
        with pytest.raises(ValueError, match=match):
            curvature.spectrum(m, X, y, loss="cross_entropy", grid=grid)
    for sigma in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
            curvature.spectrum(m, X, y, loss="cross_entropy", sigma=sigma)
    # a sigma whose default grid (nodes ± 3·sigma) passes the float64 range: grid and density were NaN
    with pytest.raises(ValueError, match=r"sigma=1e\+308 is too large for the default grid"):
        curvature.spectrum(m, X, y, loss="cross_entropy", sigma=1e308)


def test_spectrum_far_from_the_nodes_is_zero_without_warnings(rng):
    # a grid point ~1e308 from the nodes, or a sigma of 1e-300, overflowed (diff/sigma)² to inf on the
    # way to a density of exactly 0: right, with a RuntimeWarning (an error under -W error)
    m = fg.Sequential([fg.Dense(3, 4, activation="tanh"), fg.Dense(4, 2, activation="identity")], dtype="float64")
    X, y = rng.standard_normal((10, 3)), np.arange(10) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        far = curvature.spectrum(m, X, y, loss="cross_entropy", grid=[-1e308, 1e308])
        narrow = curvature.spectrum(m, X, y, loss="cross_entropy", sigma=1e-300)
    np.testing.assert_array_equal(far["density"], [0.0, 0.0])
    assert np.all(np.isfinite(narrow["density"])) and np.all(narrow["density"] >= 0)


@pytest.mark.parametrize("fun, x0, kind, method", [
    (lambda x: (x[0] ** 2 - x[1] ** 2, np.array([2 * x[0], -2 * x[1]])), [0.0, 0.0], "saddle", fg.minimize),
    (lambda x: (-(x ** 2).sum() + x[0] * x[1], -2 * x + x[::-1]), [1.0, 2.0], "maximum", fg.maximize),
    (lambda x: ((x - 1) @ (x - 1) + 0.5 * x[0] * x[1], 2 * (x - 1) + 0.5 * x[::-1]), [3.0, -2.0], "minimum",
     fg.minimize),
    (lambda x: ((x ** 4).sum(), 4 * x ** 3), [1.0], "degenerate", fg.minimize),
    (lambda x: (0.5 * (x[0] ** 2 + 1e6 * x[1] ** 2), np.array([x[0], 1e6 * x[1]])), [1.0, 1.0], "minimum",
     fg.minimize),
    (lambda x: ((x ** 4).sum() + x[1] ** 2, 4 * x ** 3 + np.r_[0.0, 2 * x[1]]), [0.7, 1.0], "degenerate",
     fg.minimize),
])
def test_stationary_points_are_classified(fun, x0, kind, method):
    res = method(fun, x0, jac=True)
    assert res.success and res.stationary == kind, (res.message, res.hess_eigenvalues)


def test_maximize_reports_the_eigenvalues_of_the_function_itself():
    res = fg.maximize(lambda x: (-3 * x[0] ** 2 - x[1] ** 2, np.array([-6 * x[0], -2 * x[1]])), [1.0, 1.0],
                      jac=True, hessp=lambda x, v: np.array([-6 * v[0], -2 * v[1]]))
    np.testing.assert_allclose(res.hess_eigenvalues, [-6.0, -2.0])
    assert res.stationary == "maximum"


def test_large_problems_report_extreme_eigenvalues_by_lanczos():
    x0 = np.full(80, -1.2)
    res = fg.minimize(_rosen, x0, jac=True, hessp=so.rosen_hess_prod, tol=1e-8)
    exact = np.linalg.eigvalsh(so.rosen_hess(res.x))
    assert res.hess_eigenvalues.size == 6 and res.stationary == "minimum"
    # 30 Lanczos steps: the top of a clustered spectrum to about 3 digits, from below
    assert exact[-1] * (1 - 1e-2) <= res.hess_eigenvalues[-1] <= exact[-1] * (1 + 1e-12)


def test_unconverged_runs_are_not_classified_and_stationary_can_be_off():
    res = fg.minimize(_rosen, [-1.2, 1.0], jac=True, max_iter=2)
    assert not res.success and res.stationary is None
    assert "stationary" not in fg.minimize(_rosen, [-1.2, 1.0], jac=True, stationary=False)


def test_classify_stationary_tolerances():
    assert curvature.classify_stationary([1.0, 2.0]) == "minimum"
    assert curvature.classify_stationary([-1.0, 1e-12]) == "degenerate"
    assert curvature.classify_stationary([1.0, 1e6]) == "minimum"
    assert curvature.classify_stationary([1e-4, 1e6]) == "degenerate"
    assert curvature.classify_stationary([-1.0, 0.0, 1.0]) == "saddle"
    assert curvature.classify_stationary([np.nan]) == "degenerate"
    for name in ("rtol", "atol"):
        for bad in (-1e-9, math.nan):
            with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0"):
                curvature.classify_stationary([1.0], **{name: bad})


# ---- NewtonCG -----------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [2, 10, 100])
def test_newton_cg_reaches_rosenbrocks_minimum(d):
    x0 = np.array([-1.2, 1.0]) if d == 2 else np.full(d, -1.2)
    res = fg.minimize(_rosen, x0, jac=True, optimizer=fg.NewtonCG(), hessp=so.rosen_hess_prod, tol=1e-10,
                      max_iter=5000)
    assert res.success and np.max(np.abs(res.x - 1.0)) < 1e-10


def test_newton_cg_with_finite_difference_products():
    res = fg.minimize(_rosen, np.full(10, -1.2), jac=True, optimizer=fg.NewtonCG(), tol=1e-8)
    assert res.success and np.max(np.abs(res.x - 1.0)) < 1e-8


def _logistic_problem(rng, n=400, d=8, lam=1e-2):
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n) > 0).astype(float)

    def fun(w):
        z = X @ w
        f = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * w @ w
        p = 1.0 / (1.0 + np.exp(-z))
        return f, X.T @ (p - y) / n + lam * w

    def hessp(w, v):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        return X.T @ (p * (1 - p) * (X @ v)) / n + lam * v
    return fun, hessp, d


def test_newton_cg_converges_superlinearly_on_strongly_convex_logistic_regression(rng):
    fun, hessp, d = _logistic_problem(rng)
    res = fg.minimize(fun, np.zeros(d), jac=True, optimizer=fg.NewtonCG(), hessp=hessp, tol=1e-12,
                      keep_trajectory=True)
    assert res.success and res.nit <= 12
    errors = np.linalg.norm(res.trajectory - res.x, axis=1)
    errors = errors[errors > 1e-13]
    ratios = errors[1:] / errors[:-1]
    # superlinear: the error ratio itself goes to zero
    assert ratios[-1] < 0.05 and ratios[-1] < ratios[len(ratios) // 2]


def _ill_conditioned_quadratic(rng, d=50, scale=1.0):
    """0.5·xᵀAx - bᵀx with A's eigenvalues spread over 1…1e6, its minimum value, and a counter of
    Hessian-vector products."""
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = Q @ np.diag(np.logspace(0, 6, d)) @ Q.T
    A = 0.5 * (A + A.T)
    b = scale * rng.standard_normal(d)
    x_star = np.linalg.solve(A, b)
    counter = {"n": 0}

    def hessp(x, v):
        counter["n"] += 1
        return A @ v
    return (lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b)), hessp, -0.5 * b @ x_star, x_star, counter


def test_newton_cg_solves_an_ill_conditioned_quadratic_in_few_products(rng):
    d = 50
    fun, hessp, f_star, x_star, counter = _ill_conditioned_quadratic(rng, d)

    def solve(**options):
        counter["n"] = 0
        res = fg.minimize(fun, np.zeros(d), jac=True, optimizer=fg.NewtonCG(**options), hessp=hessp, tol=1e-6,
                          stationary=False)
        assert res.success and res.fun - f_star < 1e-10, options
        return res, counter["n"]

    # all defaults: the minimizer lies outside the first trust region (|x*| = 1.27); f agrees
    # with the model at its boundary, so the radius doubles and CG resumes: one Newton step of
    # about d products, as CG in exact arithmetic
    assert np.linalg.norm(x_star) > fg.NewtonCG().trust_radius
    res, products = solve()
    assert res.nit == 1 and products <= 1.1 * d
    # a fixed loose forcing term restarts CG at each of several Newton steps
    loose, loose_products = solve(cg_rtol=0.5)
    assert loose.nit > 1 and loose_products > products
    # plain CG in floating point loses orthogonality at κ = 1e6 and needs more
    _, plain_products = solve(reorthogonalize=False)
    assert plain_products > products
    # L-BFGS with its defaults stops far from the minimum within max_iter on the same problem
    lbfgs = fg.minimize(fun, np.zeros(d), jac=True, stationary=False)
    assert lbfgs.fun - f_star > res.fun - f_star


@pytest.mark.parametrize("cg_rtol", [None, 0.5])
def test_newton_cg_reaches_tol_on_an_objective_whose_value_is_rounded_coarsely(rng, cg_rtol):
    """f = (q(x) + 1e7) - 1e7 carries rounding of about 1e-9, far more than ε·|f|, while its
    gradient is exact: near the minimum every step's reduction is below that rounding, and the
    gradients measure it instead, so ‖g‖ still reaches a tol of 1e-8."""
    d = 20
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = Q @ np.diag(np.linspace(1.0, 10.0, d)) @ Q.T
    b = rng.standard_normal(d)

    def fun(x):
        return (0.5 * x @ A @ x - b @ x + 1e7) - 1e7, A @ x - b

    res = fg.minimize(fun, np.zeros(d), jac=True, optimizer=fg.NewtonCG(cg_rtol=cg_rtol),
                      hessp=lambda x, v: A @ v, tol=1e-8, stationary=False)
    assert res.success, res.message
    assert np.linalg.norm(A @ res.x - b) <= 1e-8
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), atol=1e-8)


@pytest.mark.parametrize("scale", [10.0, 300.0])
def test_newton_cg_first_radius_does_not_restart_cg(rng, scale):
    """However far the minimizer lies beyond the first radius (here |x*| ≈ 13 and ≈ 400 against
    Δ₀ = 1), internal doubling finds it on the first model: one step of about d products, one
    evaluation per doubling."""
    d = 50
    fun, hessp, f_star, x_star, counter = _ill_conditioned_quadratic(rng, d, scale)
    opt = fg.NewtonCG()
    x = np.zeros(d)
    opt.step(fun, x, hessp=hessp)
    assert opt.n_iter == 1 and opt.last_nhvp == counter["n"] <= 1.1 * d
    doublings = math.ceil(math.log2(np.linalg.norm(x_star)))
    assert opt.last_nfev <= doublings + 3  # with the starting point and a last interior trial
    assert np.linalg.norm(x - x_star) < 1e-6 * np.linalg.norm(x_star)
    assert opt.trust_radius >= np.linalg.norm(x_star)


def test_newton_cg_doubling_falls_back_to_the_step_the_model_predicted():
    """f is the quadratic ½‖x - c‖² inside ‖x‖ <= 1.5 and rises steeply outside: the step to the
    first boundary (‖p‖ = 1) is exact, the doubled one (‖p‖ = 2) is worse, so the step taken
    is the first one and the radius stays 1."""
    c = np.array([5.0, 0.0])

    def fun(x):
        r = np.linalg.norm(x)
        excess = max(r - 1.5, 0.0)
        grad_wall = 4e3 * excess ** 3 * x / r if excess > 0 else np.zeros(2)
        return 0.5 * (x - c) @ (x - c) + 1e3 * excess ** 4, x - c + grad_wall

    def hessp(x, v):
        assert np.linalg.norm(x) <= 1.5  # products only at the current point, inside the wall
        return v

    opt = fg.NewtonCG()
    x = np.zeros(2)
    opt.step(fun, x, hessp=hessp)
    np.testing.assert_allclose(x, [1.0, 0.0], atol=1e-15)
    # evaluations: the starting point, then the trials at radius 1 and 2
    assert opt.trust_radius == 1.0 and opt.last_nfev == 3 and opt.last_status == "ok"
    assert opt.loss == fun(x)[0]


def test_newton_cg_escapes_a_saddle_along_negative_curvature():
    fun = lambda x: (x[0] ** 2 - x[1] ** 2 + 0.25 * x[1] ** 4, np.array([2 * x[0], -2 * x[1] + x[1] ** 3]))
    hessp = lambda x, v: np.array([2 * v[0], (-2 + 3 * x[1] ** 2) * v[1]])
    res = fg.minimize(fun, [1.0, 1e-9], jac=True, optimizer=fg.NewtonCG(), hessp=hessp, tol=1e-10)
    assert res.success and res.stationary == "minimum" and abs(abs(res.x[1]) - np.sqrt(2)) < 1e-8


CLASSIC = {
    "rosenbrock2": (_rosen, np.array([-1.2, 1.0])),
    "rosenbrock10": (_rosen, np.full(10, -1.2)),
    "rosenbrock100": (_rosen, np.full(100, -1.2)),
    "beale": (lambda x: ((1.5 - x[0] + x[0] * x[1]) ** 2 + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
                         + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2,
                         np.array([2 * (1.5 - x[0] + x[0] * x[1]) * (x[1] - 1)
                                   + 2 * (2.25 - x[0] + x[0] * x[1] ** 2) * (x[1] ** 2 - 1)
                                   + 2 * (2.625 - x[0] + x[0] * x[1] ** 3) * (x[1] ** 3 - 1),
                                   2 * (1.5 - x[0] + x[0] * x[1]) * x[0]
                                   + 4 * (2.25 - x[0] + x[0] * x[1] ** 2) * x[0] * x[1]
                                   + 6 * (2.625 - x[0] + x[0] * x[1] ** 3) * x[0] * x[1] ** 2])),
              np.array([1.0, 1.0])),
    "powell_singular": (lambda x: ((x[0] + 10 * x[1]) ** 2 + 5 * (x[2] - x[3]) ** 2 + (x[1] - 2 * x[2]) ** 4
                                   + 10 * (x[0] - x[3]) ** 4,
                                   np.array([2 * (x[0] + 10 * x[1]) + 40 * (x[0] - x[3]) ** 3,
                                             20 * (x[0] + 10 * x[1]) + 4 * (x[1] - 2 * x[2]) ** 3,
                                             10 * (x[2] - x[3]) - 8 * (x[1] - 2 * x[2]) ** 3,
                                             -10 * (x[2] - x[3]) - 40 * (x[0] - x[3]) ** 3])),
                        np.array([3.0, -1.0, 0.0, 1.0])),
    "wood": (lambda x: (100 * (x[0] ** 2 - x[1]) ** 2 + (x[0] - 1) ** 2 + (x[2] - 1) ** 2
                        + 90 * (x[2] ** 2 - x[3]) ** 2 + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2)
                        + 19.8 * (x[1] - 1) * (x[3] - 1),
                        np.array([400 * x[0] * (x[0] ** 2 - x[1]) + 2 * (x[0] - 1),
                                  -200 * (x[0] ** 2 - x[1]) + 20.2 * (x[1] - 1) + 19.8 * (x[3] - 1),
                                  2 * (x[2] - 1) + 360 * x[2] * (x[2] ** 2 - x[3]),
                                  -180 * (x[2] ** 2 - x[3]) + 20.2 * (x[3] - 1) + 19.8 * (x[1] - 1)])),
             np.array([-3.0, -1.0, -3.0, -1.0])),
    "zakharov": (lambda x: (x @ x + (0.5 * np.arange(1, x.size + 1) @ x) ** 2
                            + (0.5 * np.arange(1, x.size + 1) @ x) ** 4,
                            2 * x + (2 * (0.5 * np.arange(1, x.size + 1) @ x)
                                     + 4 * (0.5 * np.arange(1, x.size + 1) @ x) ** 3)
                            * 0.5 * np.arange(1, x.size + 1)),
                 np.full(5, 0.5)),
    "trid": (lambda x: (((x - 1) ** 2).sum() - (x[1:] * x[:-1]).sum(),
                        2 * (x - 1) - np.r_[x[1:], 0.0] - np.r_[0.0, x[:-1]]),
             np.zeros(6)),
}


def test_minimize_defaults_solve_what_scipy_defaults_solve():
    """On the classic suite, fastgd.minimize's defaults (L-BFGS, tol 1e-6) reach a point whose
    gradient norm is no worse than a 10x margin over what scipy.optimize.minimize's defaults
    (BFGS) reach, and a minimum wherever scipy's does."""
    for name, (fun, x0) in CLASSIC.items():
        ours = fg.minimize(fun, x0, jac=True)
        theirs = so.minimize(fun, x0, jac=True)
        g_theirs = np.linalg.norm(theirs.jac)
        if theirs.success:
            assert ours.success or np.linalg.norm(ours.jac) <= 10 * g_theirs, (name, ours.message)
        assert ours.fun <= theirs.fun + 1e-8 * max(1.0, abs(theirs.fun)), name


def test_newton_cg_bad_arguments():
    with pytest.raises(ValueError, match="eta"):
        fg.NewtonCG(eta=0.5)
    with pytest.raises(ValueError, match="trust_radius"):
        fg.NewtonCG(trust_radius=10.0, max_trust_radius=1.0)
    with pytest.raises(ValueError, match="max_cg"):
        fg.NewtonCG(max_cg=0)
    with pytest.raises(ValueError, match="reorthogonalize"):
        fg.NewtonCG(reorthogonalize="yes")
    opt = fg.NewtonCG()
    with pytest.raises(TypeError, match="hessp"):
        opt.step(lambda p: (0.0, p), np.zeros(2), hessp=3)
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step(lambda p: (0.0, p), np.zeros((2, 2)))
    assert "NewtonCG(" in repr(opt) and opt.get_config()["name"] == "newton_cg"


# ---- training ------------------------------------------------------------------------------------

def _classification(rng, n=600):
    X = rng.standard_normal((n, 6))
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, y


def test_fit_with_newton_cg_full_batch(rng):
    X, y = _classification(rng)
    m = fg.Sequential([fg.Dense(6, 8, activation="tanh"), fg.Dense(8, 2, activation="identity")],
                      dtype="float64", seed=0)
    h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.NewtonCG(), epochs=10, batch_size=None,
              progress=False)
    losses = np.array(h["loss"])
    assert np.all(np.diff(losses) <= 1e-12) and losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="NewtonCG is a full-batch method: pass batch_size=None, got batch_size=32"):
        m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.NewtonCG(), epochs=1, batch_size=32, progress=False)


def test_fit_curvature_diagnostics_and_the_stability_warning(rng):
    X, y = _classification(rng)
    m = fg.Sequential([fg.Dense(6, 8, activation="tanh"), fg.Dense(8, 2, activation="identity")],
                      dtype="float64", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=20.0), epochs=3, batch_size=50,
                  progress=False, curvature="epoch", seed=0)
    stability = [w for w in caught if "stability limit" in str(w.message)]
    assert len(stability) == 1
    c = h.curvature
    assert c["step"] == [0, 12, 24] and c["epoch"] == [0, 1, 2]
    assert np.all(np.array(c["grad_sq"]) > 0) and np.all(np.array(c["lambda_max"]) > 0)
    np.testing.assert_allclose(c["lr_lambda_max"], 20.0 * np.array(c["lambda_max"]))
    assert h["lambda_max"] == c["lambda_max"]
    # λmax bounds the curvature along the gradient
    assert np.all(np.array(c["grad_curvature"]) <= np.array(c["lambda_max"]) * (1 + 1e-6))


def test_fit_curvature_prediction_matches_observation_for_small_steps(rng):
    X, y = _classification(rng)
    m = fg.Sequential([fg.Dense(6, 8, activation="tanh"), fg.Dense(8, 2, activation="identity")],
                      dtype="float64", seed=0)
    h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=1e-3), epochs=1, batch_size=None,
              progress=False, curvature=1, seed=0)
    c = h.curvature
    # full batch of <= 256... the probe is 256 of the 600 rows; the step follows all 600: second order
    # Taylor of the step taken is accurate to O(|Δ|³)
    np.testing.assert_allclose(c["predicted_change"], c["observed_change"], rtol=1e-4)


def test_monitor_lambda_max_lies_between_the_gradient_curvature_and_the_top_eigenvalue(rng):
    X, y = _classification(rng, 60)
    m = fg.Sequential([fg.Dense(6, 5, activation="tanh"), fg.Dense(5, 2, activation="identity")],
                      dtype="float64", seed=0)
    loss = fg.losses.get("softmax_cross_entropy")
    x, target, sw = m._prepare(X, y, loss, None)
    monitor = curvature.CurvatureMonitor(m, x, target, sw, loss, fg.optim.SGD(lr=0.1), "epoch", probe_size=60)
    exact = curvature.top_eigenvalues(m, X, y, loss=loss, steps=m.n_params)[0]
    estimates = []
    for _ in range(12):  # the same point probed again: each probe restarts from the last Ritz vector
        monitor.before()
        _theta, _value, _g, gg, gHg, lam = monitor._before
        assert gHg / gg <= lam * (1 + 1e-12) and lam <= exact * (1 + 1e-10)
        estimates.append(lam)
    assert estimates[-1] >= estimates[0] and estimates[-1] > (1 - 1e-6) * exact


def test_fit_curvature_argument_checks(rng):
    X, y = _classification(rng, 50)
    m = fg.Sequential([fg.Dense(6, 2, activation="identity")], dtype="float64", seed=0)
    with pytest.raises(ValueError, match="curvature must be"):
        m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=0.1), epochs=1, progress=False,
              curvature="sometimes")
    with pytest.raises(ValueError, match="first-order optimizer"):
        m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.LBFGS(), epochs=1, batch_size=None,
              progress=False, curvature="epoch")


def test_fit_curvature_refused_with_a_communicator(rng):
    MPI = pytest.importorskip("mpi4py.MPI")
    X, y = _classification(rng, 50)
    m = fg.Sequential([fg.Dense(6, 2, activation="identity")], dtype="float64", seed=0)
    p0 = m.params.copy()
    with pytest.raises(ValueError, match="curvature='epoch' cannot be combined with comm="):
        m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=0.1), epochs=1, progress=False,
              curvature="epoch", comm=MPI.COMM_SELF)
    np.testing.assert_array_equal(m.params, p0)


def test_history_curvature_is_saved_in_to_dict_and_checkpoints(rng, tmp_path):
    X, y = _classification(rng, 120)
    m = fg.Sequential([fg.Dense(6, 4, activation="tanh"), fg.Dense(4, 2, activation="identity")],
                      dtype="float64", seed=0)
    opt = fg.optim.SGD(lr=0.1)
    h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=2, batch_size=40, progress=False,
              curvature=2, seed=0)
    assert len(h.curvature["step"]) == 3
    back = fg.training.History.from_dict(h.to_dict())
    assert back.curvature == h.curvature and back.curvature["step"] == [0, 2, 4]
    loaded = fg.load_checkpoint(fg.save_checkpoint(tmp_path / "c.npz", m, opt, history=h))
    assert loaded.history.curvature == h.curvature
    plain = m.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=1, progress=False)
    assert fg.training.History.from_dict(plain.to_dict()).curvature is None


def test_newton_cg_checkpoint_round_trip(rng, tmp_path):
    X, y = _classification(rng, 200)
    m = fg.Sequential([fg.Dense(6, 5, activation="tanh"), fg.Dense(5, 2, activation="identity")],
                      dtype="float64", seed=0)
    opt = fg.NewtonCG(trust_radius=0.5, cg_rtol=1e-3)
    m.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=2, batch_size=None, progress=False)
    path = fg.save_checkpoint(tmp_path / "ncg.npz", m, opt)
    loaded = fg.load_checkpoint(path)
    assert isinstance(loaded.optimizer, fg.NewtonCG)
    assert loaded.optimizer.get_config() == opt.get_config()
    assert loaded.optimizer.trust_radius == opt.trust_radius and loaded.optimizer.n_hvp == opt.n_hvp
    # both continue identically
    m.fit(X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=1, batch_size=None, progress=False)
    loaded.model.fit(X, y, loss="softmax_cross_entropy", optimizer=loaded.optimizer, epochs=1, batch_size=None,
                     progress=False)
    np.testing.assert_array_equal(loaded.model.params, m.params)


def test_history_plot_draws_the_probes_of_curvature_every_k_steps(rng):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = _classification(rng, 200)
    m = fg.Sequential([fg.Dense(6, 8, activation="tanh"), fg.Dense(8, 2, activation="identity")],
                      dtype="float64", seed=0)
    h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.SGD(lr=0.1), epochs=2, batch_size=20,
              progress=False, curvature=4, seed=0)
    assert "lambda_max" not in h.history  # probes every 4 steps are no epoch columns
    ax = h.plot(("lambda_max", "grad_curvature"))
    (lam, curv) = ax.get_lines()
    np.testing.assert_array_equal(lam.get_xdata(), np.array(h.curvature["step"]) + 1)
    np.testing.assert_array_equal(lam.get_ydata(), h.curvature["lambda_max"])
    np.testing.assert_array_equal(curv.get_ydata(), h.curvature["grad_curvature"])
    assert ax.get_xlabel() == "training step" and ax.get_title() == "lambda_max, grad_curvature per training step"
    assert h.plot().get_xlabel() == "epoch"  # epoch columns as before
    with pytest.raises(ValueError, match="lr_lambda_max"):
        h.plot(("nothing",))
    plt.close("all")


@pytest.mark.parametrize("optimizer, limit", [
    (dict(momentum=0.0), 2.0),
    (dict(momentum=0.9), 3.8),
    (dict(momentum=0.9, dampening=0.5), 7.6),
    (dict(momentum=0.9, nesterov=True), 3.8 / 2.8),
    (dict(momentum=0.5, weight_decay=0.25), 3.0),
])
def test_the_stability_warning_follows_the_optimizers_limit(optimizer, limit, rng):
    """A linear model with MSE has the constant Hessian (2/n)·AᵀA (A = [X 1]): its λmax is known,
    and the warning fires just above the optimizer's limit lr·(λmax + weight decay) and not below."""
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(40)
    A = np.hstack([X, np.ones((40, 1))])
    lam = np.linalg.eigvalsh(2.0 / 40 * A.T @ A)[-1]
    weight_decay = optimizer.get("weight_decay", 0.0)
    for factor, warns in ((0.98, False), (1.02, True)):
        m = fg.Sequential([fg.Dense(3, 1, activation="identity")], dtype="float64", seed=0)
        lr = factor * limit / (lam + weight_decay)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h = m.fit(X, y, loss="mse", optimizer=fg.optim.SGD(lr=lr, **optimizer), epochs=1, batch_size=None,
                      progress=False, curvature="epoch", seed=0)
        assert h.curvature["lambda_max"][0] == pytest.approx(lam, rel=1e-10)
        stability = [str(w.message) for w in caught if "stability limit" in str(w.message)]
        assert len(stability) == warns, (optimizer, factor)
        if warns and optimizer.get("momentum"):
            assert "momentum μ = " in stability[0] and "(2 + 2μ)" in stability[0]
        if warns and weight_decay:
            assert "weight decay" in stability[0]


def test_adaptive_optimizers_get_no_stability_warning(rng):
    X, y = _classification(rng, 100)
    m = fg.Sequential([fg.Dense(6, 8, activation="tanh"), fg.Dense(8, 2, activation="identity")],
                      dtype="float64", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=fg.optim.Adam(lr=50.0), epochs=2, batch_size=None,
                  progress=False, curvature="epoch", seed=0)
    assert min(h.curvature["lr_lambda_max"]) > 2.0  # recorded still
    assert not [w for w in caught if "stability limit" in str(w.message)]


def test_sparse_x_is_refused_by_the_hessian_products_and_probed_dense_by_fit(rng):
    # model_hvp read a CSRMatrix as if it were an ndarray: sizes from unrelated memory (an
    # out-of-bounds read under AddressSanitizer) and an unnamed Cython TypeError
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y = _classification(rng, 60)
    Xs = scipy_sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    m = fg.Sequential([fg.Dense(6, 5, activation="tanh"), fg.Dense(5, 2, activation="identity")],
                      dtype="float64", seed=0)
    v = np.ones(m.n_params)
    for call in (lambda X: m.hvp(X, y, v, loss="softmax_cross_entropy"),
                 lambda X: m.gnvp(X, y, v, loss="softmax_cross_entropy"),
                 lambda X: curvature.top_eigenvalues(m, X, y, loss="softmax_cross_entropy"),
                 lambda X: fg.Sequential([fg.Dense(6, 2, activation="identity")], dtype="float64").fit(
                     X, y, loss="softmax_cross_entropy", optimizer=fg.NewtonCG(), batch_size=None, epochs=1,
                     progress=False)):
        for sparse in (Xs, scipy_sparse.csr_matrix(X.shape)):  # the second one stores no value at all
            with pytest.raises(TypeError, match=r"X must be a dense array for Hessian-vector products .* "
                                                r"got a sparse matrix of shape \(60, 6\); pass X.toarray\(\)"):
                call(sparse)
    # the curvature probe of a fit takes its few rows dense: the same records as for the dense X
    dense, sparse = (m.__class__([fg.Dense(6, 5, activation="tanh"), fg.Dense(5, 2, activation="identity")],
                                 dtype="float64", seed=0).fit(data, y, loss="softmax_cross_entropy",
                                                              optimizer=fg.optim.SGD(lr=0.1), epochs=2,
                                                              batch_size=20, progress=False, curvature="epoch",
                                                              seed=0)
                     for data in (Xs.toarray(), Xs))
    np.testing.assert_allclose(sparse.curvature["lambda_max"], dense.curvature["lambda_max"], rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_l2_norm_neither_underflows_nor_overflows(dtype):
    from fastgd.curvature import l2_norm

    for scale in (1e-170, 1.0, 1e170, 1e-40, 1e30):
        a = np.array([3.0, 4.0]) * scale
        if dtype == np.float64 or 1e-38 < scale < 1e38:
            assert l2_norm(a.astype(dtype)) == pytest.approx(5.0 * scale, rel=1e-6)
    assert l2_norm(np.array([1.5e308, 1.5e308])) == math.inf  # past the float64 range
    assert l2_norm(np.zeros(3)) == 0.0
    assert l2_norm(np.array([1.0, np.inf])) == math.inf
    assert math.isnan(l2_norm(np.array([np.inf, np.nan, 1.0])))
