"""Second-order information: Hessian-vector products, Hessians, extreme eigenvalues, spectra.

The Taylor expansion of a cost J around θ along the gradient g, for a step of size ε,

    J(θ - εg) ≈ J(θ) - ε·gᵀg + ½ε²·gᵀHg,

says a gradient step lowers the cost only while ½ε²·gᵀHg < ε·gᵀg, and that plain gradient
descent is stable only for ε < 2/λmax(H). The signs of H's eigenvalues tell a minimum (all
positive) from a maximum (all negative) and a saddle (both). This module computes these
quantities for fastgd models and for any differentiable function:

- :func:`model_hvp` / :func:`model_gnvp` (``model.hvp``, ``model.gnvp``): exact H·v and the
  Gauss-Newton product G·v of a model's mean loss, by the R-operator in C (Pearlmutter 1994).
- :func:`hvp` and :func:`hessian` for a function ``fun(x) -> (value, grad)``.
- :func:`lanczos_extremes`, :func:`top_eigenvalues`, :func:`condition_number`, :func:`spectrum`:
  eigenvalues from products only (Lanczos; stochastic Lanczos quadrature for the density).
- :func:`gradient_curvature`: gᵀg, gᵀHg/gᵀg and the step ε* = gᵀg/gᵀHg that minimizes the
  Taylor model along the gradient.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from fastgd import _core, _loop, _outofcore, _runtime, _validation

if TYPE_CHECKING:
    from fastgd.nn.model import Sequential

__all__ = ["model_hvp", "model_gnvp", "hvp", "hessian", "lanczos_extremes", "top_eigenvalues", "condition_number",
           "gradient_curvature", "spectrum", "classify_stationary"]


# ---- models ---------------------------------------------------------------------------------

def _model_product(model, X, y, v, loss, sample_weight, gauss_newton, reference=False):
    x, target, sw, loss = _prepared(model, X, y, loss, sample_weight)
    given = _validation.real_array("v", v)
    if given.shape != (model.n_params,):
        raise ValueError(f"v must have shape ({model.n_params},) (the parameter arena's layout), got {given.shape}")
    va = _validation.c_array(given, model.dtype)
    _validation.finite("v", va, given)
    _value, out = model._hvp(x, va, loss_spec=model._loss_spec(loss), target=target, sample_weight=sw,
                             gauss_newton=gauss_newton,
                             denominator=_loop.positive_weight(_loop.batch_weight(loss, target, sw, model.dtype)),
                             reference=reference)
    return _finite_product(out)


def _finite_product(product):
    """``product`` (of the model's Hessian or Gauss-Newton matrix), else ValueError: past the
    dtype's range it is NaN or infinite, which no caller can use."""
    bad = _core.count_nonfinite(product)
    if bad:
        raise ValueError(f"the Hessian-vector product is not finite at the model's parameters ({bad} of {product.size} "
                         f"entries): it passes the range of {product.dtype} there (parameters, data or v too large)")
    return product


def model_hvp(model: Sequential, X: Any, y: Any, v: Any, loss: Any = None, sample_weight: Any = None) -> np.ndarray:
    """H·v: the Hessian of the mean loss over (X, y) with respect to the flat parameters, times v.

    Exact (no finite differences): one forward pass, one forward R-pass and one backward pass
    with its R-pass, in C (Pearlmutter, "Fast exact multiplication by the Hessian", 1994). It
    costs about as much as two gradient evaluations.

    Parameters
    ----------
    X : array (n, n_inputs); y : the targets, as for ``fit``
    v : array (n_params,)
        A direction in the layout of ``model.params`` (every W, then every b).
    loss : Loss or str, optional
        Defaults to the loss of the last ``fit``.
    sample_weight : array (n,), optional

    Returns
    -------
    ndarray (n_params,) of the model's dtype. relu and leaky relu are taken with second
    derivative 0 (true everywhere but at the kink), MAE's Hessian is 0, Huber's is 1/c inside
    ``delta``: the same conventions as automatic differentiation in PyTorch. A product past the
    dtype's range (parameters, data or v too large) raises ValueError.
    """
    return _model_product(model, X, y, v, loss, sample_weight, False)


def model_gnvp(model: Sequential, X: Any, y: Any, v: Any, loss: Any = None, sample_weight: Any = None) -> np.ndarray:
    """G·v with G = Jᵀ·∇²ℓ·J, the Gauss-Newton matrix of the mean loss (J the Jacobian of the
    network's outputs with respect to the parameters, ∇²ℓ the loss's Hessian on the outputs).

    Positive semi-definite for every fastgd loss (each is convex in the outputs), so conjugate
    gradients on it always make progress: the product Hessian-free optimization uses (Martens,
    "Deep learning via Hessian-free optimization", ICML 2010). Same arguments as
    :func:`model_hvp`; equal to H·v when the network is linear in its parameters near the
    point, e.g. a single layer.
    """
    return _model_product(model, X, y, v, loss, sample_weight, True)


# ---- any function ---------------------------------------------------------------------------

def l2_norm(a):
    """‖a‖₂ in float64, exact to rounding wherever the norm itself is in range: the entries are
    divided by the largest magnitude before they are squared (in float64 the square of an entry
    below 1e-154 is 0 and of one above 1e154 infinite: a plain √(aᵀa) takes a gradient of norm
    1e-170 for zero). NaN when ``a`` holds a NaN, inf when it holds an infinity."""
    a = np.asarray(a)
    if a.ndim == 1 and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous:
        # one pass, summed in float64: exact to rounding unless the sum overflows or is so small
        # that squares of entries underflowed beside it
        ss = _core.sum_squares(a)
        if 2.0 ** -968 < ss < math.inf:
            return math.sqrt(ss)
    scale = float(np.max(np.abs(a), initial=0.0))
    if not 0.0 < scale < math.inf:
        return scale  # 0, inf or NaN
    u = np.divide(a, scale, dtype=np.float64)
    return scale * math.sqrt(float(np.vdot(u, u)))


def _vector(name, x):
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array, got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must hold finite numbers")
    return a


def _gradient_function(fun, jac):
    """x -> gradient (float64, x's shape) from scipy's conventions: jac=True means fun returns (f, g)."""
    def checked(who, g, x):
        # a copy: the function may return one buffer it overwrites at its next call, and a
        # central difference subtracts two calls (it was 0 then)
        g = np.array(_validation.real_array(who, g), dtype=np.float64)
        if g.shape != x.shape:
            raise ValueError(f"{who} must have the shape of x {x.shape}, got shape {g.shape}")
        return g

    if jac is True:
        if not callable(fun):
            raise TypeError(f"fun must be callable fun(x) -> (value, gradient) with jac=True, got {type(fun).__name__}")

        def grad(x):
            out = fun(x)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("with jac=True, fun must return (value, gradient)")
            return checked("fun's gradient", out[1], x)
        return grad
    if callable(jac):
        return lambda x: checked("jac", jac(x), x)
    raise TypeError(f"jac must be True (fun returns (value, gradient)) or a callable gradient, got {jac!r}")


def hvp(fun: Callable[..., Any], x: Any, v: Any, *, jac: Literal[True] | Callable[..., Any] = True,
        hessp: Callable[..., Any] | None = None, eps: float | None = None) -> np.ndarray:
    """H(x)·v for a function of a vector.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (value, gradient)`` when ``jac=True`` (scipy's convention), else ``fun(x) -> value``
        with ``jac`` a callable gradient.
    x, v : array (d,)
    hessp : callable, optional
        ``hessp(x, v) -> H(x)·v``, exact: used as is when given.
    eps : float, optional
        The finite-difference step along v. Default ``cbrt(machine eps)·max(1, |x|)/|v|``.

    Returns
    -------
    ndarray (d,), float64.

    Without ``hessp`` the product is the central difference of the gradient,
    ``(∇f(x + h·u) - ∇f(x - h·u)) / (2h) · |v|`` with u = v/|v|: two gradient evaluations. Its
    truncation error is ``h²/6 · ∇³f[u, u]·|v|`` (zero for a quadratic) and its rounding error
    about ``ε_mach·|∇f|/h·|v|``; the default h balances the two, so expect about 10 correct
    digits (``ε_mach^(2/3)``) for a smooth function with gradients exact to rounding.
    """
    x = _vector("x", x)
    v = _vector("v", v)
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
    if hessp is not None:
        if not callable(hessp):
            raise TypeError(f"hessp must be callable hessp(x, v), got {type(hessp).__name__}")
        out = _validation.real_array("hessp", hessp(x, v), np.float64)
        if out.shape != x.shape:
            raise ValueError(f"hessp must return an array of shape {x.shape}, got {out.shape}")
        return out
    grad = _gradient_function(fun, jac)
    scale = float(np.max(np.abs(v)))
    if scale == 0.0:
        return np.zeros_like(x)
    u = v / scale  # scaled first: the norm of a v near the float64 range overflows to inf (and u to 0)
    norm = float(np.linalg.norm(u))
    u /= norm
    norm *= scale
    if eps is None:
        h = np.cbrt(np.finfo(np.float64).eps) * max(1.0, l2_norm(x))
    else:
        h = _validation.real("eps", eps, low=0.0, low_open=True)
    with np.errstate(over="ignore"):  # refused just below
        forward, backward = x + h * u, x - h * u
    if not (np.isfinite(forward).all() and np.isfinite(backward).all()):
        raise ValueError(f"eps={h:g} is too large for x: x ± eps·v/|v| is not finite in float64; pass a smaller eps")
    if np.array_equal(forward, backward):
        raise ValueError(f"eps={h:g} is too small for x: x ± eps·v/|v| rounds to x, the difference of gradients "
                         "would be 0; pass a larger eps")
    g_forward, g_backward = grad(forward), grad(backward)
    if not (np.isfinite(g_forward).all() and np.isfinite(g_backward).all()):
        raise ValueError(f"fun's gradient is not finite at x ± h·v/|v| (h={h:.3g}): is x at the edge of fun's domain?")
    # halves first: neither 2h nor the difference of two large gradients may overflow
    with np.errstate(over="ignore"):  # refused just below
        product = (0.5 * g_forward - 0.5 * g_backward) / h * norm
    if not np.isfinite(product).all():
        raise ValueError("the Hessian-vector product is not finite: it passes float64's range (v or the curvature "
                         "too large)")
    return product


def hessian(fun: Callable[..., Any], x: Any, *, jac: Literal[True] | Callable[..., Any] = True,
            hessp: Callable[..., Any] | None = None, eps: float | None = None, max_dim: int = 2000) -> np.ndarray:
    """The dense Hessian (d, d) of ``fun`` at x: one :func:`hvp` per unit vector, symmetrized.

    Meant for small d (``max_dim`` guards memory and time: d products cost d gradient pairs);
    for large problems use :func:`lanczos_extremes` on products. Exact with ``hessp``.
    """
    x = _vector("x", x)
    d = x.size
    if d > _validation.integer("max_dim", max_dim, 1):
        raise ValueError(f"x has {d} entries, more than max_dim={max_dim}: a dense Hessian would cost "
                         f"{d} products and {8 * d * d:,} bytes; use lanczos_extremes instead")
    H = _validation.allocate("x", (d, d))
    e = np.zeros(d)
    for i in range(d):
        e[i] = 1.0
        H[:, i] = hvp(fun, x, e, jac=jac, hessp=hessp, eps=eps)
        e[i] = 0.0
    return 0.5 * (H + H.T)


# ---- eigenvalues from products -----------------------------------------------------------------

def _lanczos(matvec, d, steps, rng):
    """The Lanczos tridiagonal (alpha, beta) of `steps` (<= d) steps from a random start, with
    full reorthogonalization, and the basis Q (rows; memory steps·d floats). On an invariant
    subspace it goes on from a random vector orthogonal to the basis, with beta 0 there."""
    Q = _validation.allocate("d", (steps, d))
    q = rng.standard_normal(d)
    q /= np.linalg.norm(q)
    # in place on one buffer: for large d (a model's parameters) fresh temporaries, not the
    # arithmetic, would dominate the cost of each step
    projection = np.empty(d)
    alpha, beta = [], []
    scale = 0.0  # the largest |alpha|, beta seen: the operator's norm, as far as the steps tell
    for j in range(steps):
        Q[j] = q
        w = _validation.real_array("matvec(v)", matvec(q), np.float64).copy()  # updated in place below
        if w.shape != (d,):
            raise ValueError(f"matvec(v) must return an array of shape ({d},), got shape {w.shape}")
        _validation.finite("matvec(v)", w)
        a = float(Q[j] @ w)
        alpha.append(a)
        # w ⟂ every earlier q (this holds the three-term recurrence's w - a·q_j - b·q_{j-1}):
        # classical Gram-Schmidt, twice is enough (Parlett)
        for _ in range(2):
            np.matmul(Q[:j + 1] @ w, Q[:j + 1], out=projection)
            w -= projection
        b = float(np.linalg.norm(w))
        # an invariant subspace: what is left of w is rounding of the products, relative to
        # their size (an absolute test ends at once on an operator whose eigenvalues are all
        # small, a loss scaled down, with one Ritz value)
        scale = max(scale, abs(a), b)
        if j == steps - 1:
            break
        if b <= 64.0 * np.finfo(np.float64).eps * scale:
            # the Krylov space holds each distinct eigenvalue of the start's components once: an
            # eigenvalue of multiplicity m (a layer's outputs repeat its spectrum) needs m - 1
            # more starts, each orthogonal to the basis (beta 0 splits T into their blocks)
            w = rng.standard_normal(d)
            for _ in range(2):
                np.matmul(Q[:j + 1] @ w, Q[:j + 1], out=projection)
                w -= projection
            b = 0.0
            q = np.divide(w, np.linalg.norm(w), out=w)
        else:
            q = np.divide(w, b, out=w)
        beta.append(b)
    return np.array(alpha), np.array(beta[:len(alpha) - 1]), Q[:len(alpha)]


def _ritz(alpha, beta):
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    return np.linalg.eigh(T)


def _krylov_rows(matvec, q, steps, extra):
    """Rows S = [q_0 … q_{steps-1}, extra] and HS = H·S (``matvec(v, out)`` writes H·v into out)
    for the training monitor: q_0 = q/‖q‖ and the Lanczos three-term recurrence after it, without
    reorthogonalization (a few steps from a warm start: :func:`_top_ritz` needs a
    well-conditioned basis, not an orthonormal one). In the dtype of q, in place on the two
    blocks: for a model's parameters the passes over memory, not the arithmetic, are the cost."""
    S = np.empty((steps + 1, q.size), dtype=q.dtype)
    HS = np.empty_like(S)
    np.divide(q, np.linalg.norm(q), out=S[0])
    beta = 0.0
    for j in range(steps):
        matvec(S[j], HS[j])
        if j == steps - 1:
            break
        w = S[j + 1]
        np.multiply(S[j], S[j] @ HS[j], out=w)
        np.subtract(HS[j], w, out=w)
        if j > 0:
            np.subtract(w, np.multiply(S[j - 1], beta, out=HS[j + 1]), out=w)  # HS[j + 1] is free until then
        beta = float(np.linalg.norm(w))
        if not beta > 1e-6 * float(np.linalg.norm(HS[j])):  # an invariant subspace: H is known there
            steps = j + 1
            break
        w /= beta
    S[steps] = extra
    matvec(S[steps], HS[steps])
    return S[:steps + 1], HS[:steps + 1]


def _top_ritz(S, HS):
    """The top Ritz pair (value, vector) of H on the span of S's rows, given HS = H·S: the
    Rayleigh-Ritz step on a basis that need not be orthonormal. The Gram matrix G = S·Sᵀ is
    diagonalized first and directions it cannot resolve in S's dtype dropped (a row (nearly) in
    the span of the others); the value is at least the Rayleigh quotient of every row kept."""
    G = (S @ S.T).astype(np.float64)
    M = (S @ HS.T).astype(np.float64)
    norms = np.sqrt(np.diag(G))
    rows = norms > 0.0
    scale = 1.0 / norms[rows]  # unit rows first, so a row's length does not decide whether it is kept
    G = G[np.ix_(rows, rows)] * np.outer(scale, scale)
    M = M[np.ix_(rows, rows)] * np.outer(scale, scale)
    s, U = np.linalg.eigh(G)
    keep = s > 64.0 * np.finfo(S.dtype).eps * s[-1]
    B = U[:, keep] / np.sqrt(s[keep])  # orthonormal coordinates of the span: Bᵀ·G·B = I
    theta, Y = np.linalg.eigh(B.T @ (0.5 * (M + M.T)) @ B)
    coefficients = np.zeros(S.shape[0])
    coefficients[rows] = scale * (B @ Y[:, -1])
    return float(theta[-1]), coefficients.astype(S.dtype) @ S


def lanczos_extremes(matvec: Callable[[np.ndarray], Any], d: int, *, k: int = 1, steps: int | None = None,
                     which: str = "both", seed: int = 0) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The k largest and/or smallest eigenvalues of a symmetric operator known by its products.

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A·v`` for v of shape (d,).
    d : int
    k : int
        How many from each end.
    steps : int, optional
        Lanczos steps (products), at least k. Default ``min(d, max(2k + 20, 30))``; with
        ``steps = d`` the result is exact up to rounding.
    which : "largest", "smallest" or "both"
    seed : int

    Returns
    -------
    ``(largest, smallest)`` arrays (descending / ascending), one of them None unless "both".
    Ritz values converge first at the ends of the spectrum, fastest where it is well separated.
    """
    if not callable(matvec):
        raise TypeError(f"matvec must be callable matvec(v) -> A·v, got {type(matvec).__name__}")
    d = _validation.integer("d", d, 1)
    k = _validation.integer("k", k, 1)
    _validation.choice("which", which, ("largest", "smallest", "both"))
    steps = min(d, max(2 * k + 20, 30)) if steps is None else min(d, _validation.integer("steps", steps, 1))
    if steps < min(k, d):
        raise ValueError(f"steps must be >= k ({k}) (one Ritz value per Lanczos step), got {steps}")
    seed = _validation.integer("seed", seed, 0)
    alpha, beta, _ = _lanczos(matvec, d, steps, np.random.default_rng(seed))
    theta = _ritz(alpha, beta)[0]
    k = min(k, theta.size)
    largest = theta[::-1][:k].copy() if which in ("largest", "both") else None
    smallest = theta[:k].copy() if which in ("smallest", "both") else None
    return largest, smallest


def top_eigenvalues(model: Sequential, X: Any, y: Any, k: int = 1, loss: Any = None, *, sample_weight: Any = None,
                    steps: int | None = None, seed: int = 0) -> np.ndarray:
    """The k largest eigenvalues (descending) of the Hessian of a model's mean loss over (X, y),
    by Lanczos on exact products (:func:`model_hvp`): ``steps`` products (default
    ``max(2k + 20, 30)``, capped at n_params), never the dense Hessian."""
    x, target, sw, loss_obj = _prepared(model, X, y, loss, sample_weight)
    largest, _ = lanczos_extremes(_model_operator(model, x, target, sw, loss_obj), model.n_params, k=k,
                                  steps=steps, which="largest", seed=seed)
    return largest


def condition_number(model: Sequential, X: Any, y: Any, loss: Any = None, *, sample_weight: Any = None,
                     steps: int | None = None, seed: int = 0) -> float:
    """κ = λmax/λmin of the Hessian of a model's mean loss over (X, y), by Lanczos on exact
    products (:func:`model_hvp`) at both ends of the spectrum.

    κ measures how much the curvature differs between directions: gradient descent needs a
    learning rate below 2/λmax, and on a quadratic even the best fixed one, 2/(λmax + λmin),
    shrinks the error only by (κ − 1)/(κ + 1) per step.

    ``inf`` when the Hessian is not positive definite (the loss is not strictly convex there: a
    saddle's negative curvature, or a flat direction, as softmax cross-entropy has along a shift
    of all logits). λmin ≤ 64·ε·λmax counts as flat, ε the machine epsilon of the model's dtype:
    the products carry rounding of that order, so a larger κ (about 1.3e5 in float32, 7e13 in
    float64) cannot be told from a singular Hessian.

    ``steps`` products (default ``min(n_params, 30)``): Ritz values lie inside the spectrum, so
    with fewer steps than n_params the estimate is a lower bound (λmax from below, λmin from
    above; a small negative λmin may still be missed); ``steps = n_params`` is exact up to
    rounding."""
    x, target, sw, loss_obj = _prepared(model, X, y, loss, sample_weight)
    largest, smallest = lanczos_extremes(_model_operator(model, x, target, sw, loss_obj), model.n_params,
                                         steps=steps, which="both", seed=seed)
    lam_max, lam_min = float(largest[0]), float(smallest[0])
    if lam_max <= 0 or lam_min <= 64.0 * float(np.finfo(model.dtype).eps) * lam_max:
        return math.inf
    return lam_max / lam_min


def gradient_curvature(model: Sequential, X: Any, y: Any, loss: Any = None, *,
                       sample_weight: Any = None) -> dict[str, float]:
    """The second-order model of a gradient step on a model's mean loss over (X, y).

    With g the gradient and H the Hessian at the current parameters, a step of size ε along −g
    changes the loss by about q(ε) = −ε·gᵀg + ½ε²·gᵀHg. When the curvature along the gradient is
    positive (gᵀHg > 0), q is least at ε* = gᵀg/gᵀHg, where q(ε*) = −½(gᵀg)²/gᵀHg, and a step
    raises the loss to second order once ε > 2ε*. When gᵀHg ≤ 0 the model falls without bound
    along −g: ε* = inf (only the loss itself, or a line search, can limit the step). One
    gradient and one exact product H·g (:func:`model_hvp`); as ``model.loss_and_grad``, it leaves
    that gradient in ``model.grads``.

    Returns
    -------
    dict with ``loss``; ``grad_sq`` gᵀg; ``grad_curvature`` gᵀHg/gᵀg; ``optimal_lr`` ε*;
    ``predicted_change`` q(ε*) (``-inf`` when ε* is). At g = 0 there is no direction:
    ``grad_curvature`` and ``optimal_lr`` are NaN and ``predicted_change`` is 0. A loss,
    gradient or product that is not finite (parameters or data too large) raises ValueError.
    """
    value, g = model.loss_and_grad(X, y, loss, sample_weight)
    # on overflow the step hands back the loss and a zero gradient, which would read as a
    # stationary point
    if not math.isfinite(value) or not np.isfinite(g).all():
        raise ValueError(f"the loss or its gradient is not finite at the model's parameters (loss={value}, "
                         f"{np.count_nonzero(~np.isfinite(g))} non-finite gradient entries): there is no "
                         "step to model")
    Hg = model_hvp(model, X, y, g, loss, sample_weight).astype(np.float64)
    g = g.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # refused just below
        gg, gHg = float(g @ g), float(g @ Hg)
    if not (math.isfinite(gg) and math.isfinite(gHg)):
        raise ValueError(f"the gradient's curvature is not finite (gᵀg={gg}, gᵀHg={gHg}): past float64's range "
                         "(parameters or data too large)")
    if gg == 0.0:
        curv, lr, change = math.nan, math.nan, 0.0
    elif gHg > 0.0:
        curv, lr = gHg / gg, gg / gHg
        change = -0.5 * gg * lr
    else:
        curv, lr, change = gHg / gg, math.inf, -math.inf
    return {"loss": value, "grad_sq": gg, "grad_curvature": curv, "optimal_lr": lr, "predicted_change": change}


def _prepared(model, X, y, loss, sample_weight):
    loss = model._resolve_loss(loss)
    x, target, sw = model._prepare(X, y, loss, sample_weight)
    return x, target, sw, loss


def _model_operator(model, x, target, sw, loss, gauss_newton=False, dtype=np.float64, finite=True):
    """v -> H·v (of dtype) on prepared data: the checks done once, not per product.
    ``matvec(v, forward_done=True)`` skips the forward pass that the model's last training step
    or product on the same rows x, at the same parameters, left in its buffers; ``out`` (of the
    model's dtype) receives the product. ``finite``: a product that is not finite raises."""
    denominator = _loop.positive_weight(_loop.batch_weight(loss, target, sw, model.dtype))
    loss_spec = model._loss_spec(loss)

    def matvec(v, forward_done=False, out=None):
        va = _validation.c_array(v, model.dtype)
        _value, product = model._hvp(x, va, loss_spec=loss_spec, target=target, sample_weight=sw,
                                     gauss_newton=gauss_newton, denominator=denominator, forward_done=forward_done,
                                     out=out)
        if finite:
            _finite_product(product)
        return product.astype(dtype, copy=False)
    return matvec


def spectrum(model: Sequential, X: Any, y: Any, loss: Any = None, *, sample_weight: Any = None, steps: int = 60,
             n_vectors: int = 4, grid: Any = None, sigma: float | None = None,
             seed: int = 0) -> dict[str, np.ndarray]:
    """The density of the Hessian's eigenvalues by stochastic Lanczos quadrature.

    Each of ``n_vectors`` random unit vectors gives a ``steps``-step Lanczos tridiagonal whose
    Ritz values θ_i and weights τ_i = (first component of the i-th eigenvector)² form a
    quadrature of ``vᵀ f(H) v``; averaged over the vectors and smoothed by a Gaussian of width
    ``sigma`` they estimate the spectral density (Ghorbani, Krishnan & Xiao, "An investigation
    into neural net optimization via Hessian eigenvalue density", ICML 2019; Lin, Saad & Yang,
    "Approximating spectral densities of large matrices", SIAM Review 2016).

    Returns
    -------
    dict with ``grid`` (the eigenvalue axis), ``density`` (integrates to about 1 over grid),
    ``nodes`` and ``weights`` (the raw quadrature, (n_vectors, steps) each).
    """
    steps = _validation.integer("steps", steps, 2)
    n_vectors = _validation.integer("n_vectors", n_vectors, 1)
    seed = _validation.integer("seed", seed, 0)
    sigma = _validation.real("sigma", sigma, low=0.0, low_open=True, allow_none=True)
    if grid is not None:
        grid = _validation.real_array("grid", grid)
        if grid.ndim != 1 or grid.size == 0:
            raise ValueError(f"grid must be a non-empty 1-D array of eigenvalues, got shape {grid.shape}")
        _validation.finite("grid", grid)
    x, target, sw, loss_obj = _prepared(model, X, y, loss, sample_weight)
    matvec = _model_operator(model, x, target, sw, loss_obj)
    d = model.n_params
    steps = min(steps, d)
    rng = np.random.default_rng(seed)
    nodes = _validation.allocate("n_vectors", (n_vectors, steps))
    nodes.fill(np.nan)
    weights = _validation.allocate("n_vectors", (n_vectors, steps))
    weights.fill(0.0)
    for r in range(n_vectors):
        alpha, beta, _ = _lanczos(matvec, d, steps, rng)
        theta, S = _ritz(alpha, beta)
        nodes[r, :theta.size] = theta
        weights[r, :theta.size] = S[0] ** 2
    finite = nodes[np.isfinite(nodes)]
    lo, hi = float(finite.min()), float(finite.max())
    span = max(hi - lo, 1e-12 * max(1.0, abs(hi)))
    if sigma is None:
        sigma = span / 100.0
    if grid is None:
        low, high = lo - 0.05 * span - 3 * sigma, hi + 0.05 * span + 3 * sigma
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"sigma={sigma:g} is too large for the default grid: the nodes ± 3·sigma pass float64's "
                             "range; pass a smaller sigma or a grid")
        grid = np.linspace(low, high, 1000)
    grid = np.asarray(grid, dtype=np.float64)
    density = np.zeros_like(grid)
    for r in range(n_vectors):
        ok = np.isfinite(nodes[r])
        # far from every node (diff/sigma)² overflows to inf, and its Gaussian is then exactly 0
        with np.errstate(over="ignore"):
            diff = grid[:, None] - nodes[r, ok][None, :]
            density += (np.exp(-0.5 * (diff / sigma) ** 2) @ weights[r, ok]) / sigma / np.sqrt(2 * np.pi)
    density /= n_vectors
    return {"grid": grid, "density": density, "nodes": nodes, "weights": weights}


def classify_stationary(eigenvalues: Any, *, rtol: float = 1e-9, atol: float = 1e-10) -> str:
    """``"minimum"``, ``"maximum"``, ``"saddle"`` or ``"degenerate"`` from a Hessian's eigenvalues.

    Eigenvalues within ``max(atol, rtol·max|λ|)`` of zero count as zero (rtol covers the rounding
    of the products: central differences of an exact gradient carry about ε_mach^(2/3)·‖H‖) (minimize uses
    ``atol = √tol``: at a point whose gradient is only known to be below tol, a curvature below
    √tol cannot be told from zero). Both signs: saddle
    (a zero among them does not change that). All positive: minimum; all negative: maximum.
    Otherwise (a zero eigenvalue and no sign change) the second-order test is inconclusive:
    degenerate (x⁴ at 0, say, a minimum only higher derivatives reveal).
    """
    rtol = _validation.real("rtol", rtol, low=0.0)
    atol = _validation.real("atol", atol, low=0.0)
    lam = _validation.real_array("eigenvalues", eigenvalues, np.float64).ravel()  # not "1" parsed, nor None
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        return "degenerate"
    tol = max(atol, rtol * float(np.max(np.abs(lam))))
    pos, neg = bool(np.any(lam > tol)), bool(np.any(lam < -tol))
    if pos and neg:
        return "saddle"
    if np.any(np.abs(lam) <= tol):
        return "degenerate"
    return "minimum" if pos else "maximum"


# ---- stationary points of minimize / maximize -----------------------------------------------

_DENSE_HESSIAN_MAX_DIM = 50


def signed_hessp(hessp, args, sign):
    """The user's ``hessp(x, v, *args)`` in minimize's sign (None passes through)."""
    if hessp is None:
        return None
    if not callable(hessp):
        raise TypeError(f"hessp must be callable hessp(x, v, *args) or None, got {type(hessp).__name__}")
    return lambda x, v: sign * _validation.real_array("hessp", hessp(x, v, *args), np.float64)


def add_stationary(res, objective, tol):
    """Put ``hess_eigenvalues`` (of the function itself, ascending) and ``stationary`` into a
    minimize/maximize result. Products are exact with the objective's hessp, else central
    differences of its gradient; the evaluations are not counted in ``res.nfev``."""
    x = np.asarray(res.x)
    nfev = objective.nfev
    sign = objective.sign

    def grad(p):
        return np.asarray(objective.one(p.astype(x.dtype))[1], dtype=np.float64)

    hessp = objective.hessp
    d = x.size
    if hessp is not None:
        # One product outside the handler below, which reads a ValueError as a point outside the
        # function's domain: a hessp of the wrong shape or kind is the caller's error to see.
        hvp(None, x, np.eye(1, d)[0], hessp=hessp)
    try:
        if d <= _DENSE_HESSIAN_MAX_DIM:
            eig = np.linalg.eigvalsh(hessian(None, x, jac=grad, hessp=hessp))
        else:
            largest, smallest = lanczos_extremes(lambda v: hvp(None, x, v, jac=grad, hessp=hessp), d, k=3,
                                                 steps=min(d, 30))
            eig = np.concatenate([smallest, largest[::-1]])
        eig = np.sort(sign * eig)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        eig = np.full(min(d, 6), np.nan)  # the function is not finite around x: no curvature to report
    finally:
        objective.nfev = nfev
    res.hess_eigenvalues = eig
    known = res.success and bool(np.all(np.isfinite(eig)))
    res.stationary = classify_stationary(eig, atol=math.sqrt(tol) if tol > 0 else 1e-8) if known else None
    return res


# ---- hooks of the training loop -----------------------------------------------------------

def is_newton_cg(optimizer):
    from fastgd.optim.newton_cg import NewtonCG
    return isinstance(optimizer, NewtonCG)


def step_extras(model, optimizer, x, target, sw, loss):
    """Keyword arguments of a closure-driven optimizer's step in full-batch fit: NewtonCG gets
    the exact products of the model's loss over the whole training set."""
    if not is_newton_cg(optimizer):
        return {}
    matvec = _model_operator(model, x, target, sw, loss)
    return {"hessp": lambda params, v: matvec(v)}


def _stability_limit(optimizer):
    """(c, formula, method, weight decay): the optimizer's steps on a quadratic of curvature λ
    are stable while lr·(λ + weight decay) < c; None where no limit of λ alone exists. From the
    eigenvalues of the step's linear recurrence on that quadratic (state θ and the momentum
    buffer b): heavy ball z² - (1 + μ - a)z + μ with a = lr·(1 - dampening)·λ, stable for
    a < 2 + 2μ; Nesterov z² - (1 + μ - a(1 + μ))z + μ(1 - a) with a = lr·λ, stable for
    a < (2 + 2μ)/(1 + 2μ)."""
    from fastgd.optim import SGD

    if not isinstance(optimizer, SGD):
        return None
    cfg = optimizer.get_config()
    mu, dampening, weight_decay = cfg["momentum"], cfg["dampening"], cfg["weight_decay"]
    if cfg["maximize"] or dampening >= 1.0:
        return None
    if mu == 0.0:
        return 2.0, "2/λmax", "gradient descent", weight_decay
    if cfg["nesterov"]:
        return (2.0 + 2.0 * mu) / (1.0 + 2.0 * mu), "(2 + 2μ)/((1 + 2μ)·λmax)", \
            f"gradient descent with Nesterov momentum μ = {mu:g}", weight_decay
    return (2.0 + 2.0 * mu) / (1.0 - dampening), "(2 + 2μ)/((1 - dampening)·λmax)" if dampening else \
        "(2 + 2μ)/λmax", f"gradient descent with momentum μ = {mu:g}", weight_decay


class CurvatureMonitor:
    """Second-order diagnostics of a training run on a fixed probe batch (``fit(curvature=...)``).

    At each probed step, with θ the parameters before the step, Δ the step the optimizer took,
    g and H the gradient and Hessian of the mean loss on the probe batch at θ, it records:

    ``grad_sq`` gᵀg; ``grad_curvature`` gᵀHg/gᵀg (the curvature along the gradient);
    ``predicted_change`` gᵀΔ + ½ΔᵀHΔ (the second-order Taylor prediction of the probe loss's change
    for the step actually taken); ``predicted_change_gd`` -ε·gᵀg + ½ε²·gᵀHg (the same for a plain
    gradient step of the current learning rate ε); ``observed_change`` (the probe loss after minus
    before); ``lambda_max`` (the top Hessian eigenvalue, by a few Lanczos steps warm-started from
    the previous probe's top eigenvector) and ``lr_lambda_max`` (ε·λmax: gradient descent is
    stable only below 2). A step with ½ε²·gᵀHg > ε·gᵀg raises the loss although the gradient is
    exact: ill-conditioning. The first time the learning rate passes the stability limit of the
    optimizer on a quadratic of curvature λmax (plus its weight decay) it warns: 2/λmax for
    gradient descent, (2 + 2μ)/((1 - dampening)·λmax) with heavy-ball momentum μ and
    (2 + 2μ)/((1 + 2μ)·λmax) with Nesterov's (Cohen et al., "Gradient descent on neural networks
    typically occurs at the edge of stability", ICLR 2021, appendix). Adaptive optimizers (Adam,
    RMSProp, AdaGrad) precondition the step, so λmax alone sets no limit: no warning.

    The probe is ``probe_size`` training rows drawn once; a probe costs ``lanczos_steps + 2``
    Hessian-vector products, a gradient and a forward pass on it, in the model's dtype. λmax is
    the top Ritz value on the 3 warm-started Lanczos vectors and the gradient: a lower bound that
    tightens from probe to probe, never below gᵀHg/gᵀg; use :func:`top_eigenvalues` for an exact
    value.
    """

    def __init__(self, model, x, target, sw, loss, optimizer, every, probe_size=128, lanczos_steps=3, seed=0):
        n = x.shape[0]
        rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, probe_size), replace=False))
        self.model, self.loss, self.optimizer, self.every = model, loss, optimizer, every
        # a memory-mapped X's rows are gathered as its batches are: converted to the model's dtype
        # and checked (indexing the map gave the file's dtype, which the engine refused)
        probe = _outofcore.take(x, rows, model.dtype) if _outofcore.is_lazy(x) else x[rows]
        # a sparse X's probe rows go dense (the Hessian-vector products read dense rows): a few rows
        self.x = probe.toarray() if isinstance(probe, _core.CSRMatrix) else np.ascontiguousarray(probe)
        self.target = (target[0], np.ascontiguousarray(target[1][rows]))
        self.sw = None if sw is None else np.ascontiguousarray(sw[rows])
        self.lanczos_steps = lanczos_steps
        self.records = {key: [] for key in ("step", "epoch", "loss", "grad_sq", "grad_curvature",
                                            "predicted_change", "predicted_change_gd", "observed_change",
                                            "lambda_max", "lr_lambda_max")}
        self._top = None
        self._warned = False
        self._before = None
        # a probe records what it measures: training decides what a non-finite loss means
        self._matvec = _model_operator(model, self.x, self.target, self.sw, loss, dtype=model.dtype, finite=False)

    @classmethod
    def create(cls, curvature, model, x, target, sw, loss, optimizer, seed):
        """None for curvature=None; "epoch" probes each epoch's first step; an int k every k steps."""
        if curvature is None:
            return None
        if curvature == "epoch":
            every = "epoch"
        elif isinstance(curvature, numbers.Integral) and not isinstance(curvature, bool) and curvature >= 1:
            every = int(curvature)
        else:
            raise ValueError(f"curvature must be None, 'epoch' or a number of steps >= 1, got {curvature!r}")
        if not hasattr(optimizer, "_plan"):
            raise ValueError("curvature diagnostics follow the steps of a first-order optimizer (SGD, Adam, ...); "
                             f"got {type(optimizer).__name__}")
        return cls(model, x, target, sw, loss, optimizer, every, seed=0 if seed is None else seed)

    def __repr__(self):
        return (f"CurvatureMonitor(every={self.every!r}, probe_size={self.x.shape[0]}, "
                f"lanczos_steps={self.lanczos_steps}, probes={len(self.records['step'])})")

    def due(self, step_in_epoch, total_steps):
        return step_in_epoch == 0 if self.every == "epoch" else total_steps % self.every == 0

    def _probe_loss(self):
        m = self.model
        value, _norm, _status = m._train_step(self.x, loss_spec=m._loss_spec(self.loss), target=self.target,
                                              sample_weight=self.sw)
        return float(value)

    def before(self):
        """Measure at θ, before the optimizer's step."""
        m = self.model
        value = self._probe_loss()
        # vectors and sums stay in the model's dtype: a float32 model's float64 copies would
        # double the memory traffic, which is most of a probe's cost
        start = self._top
        if start is None:
            start = np.random.default_rng(0).standard_normal(m.n_params, dtype=m.dtype)
        # every product below is at θ on the probe rows, whose forward pass the gradient left
        # in the model's buffers (and no product changes them, nor the gradient): they skip it
        S, HS = _krylov_rows(lambda v, out: self._matvec(v, forward_done=True, out=out), start,
                             min(m.n_params, self.lanczos_steps), m.grads)
        # the gradient is the last row (its product is needed anyway): λmax >= gᵀHg/gᵀg
        g = S[-1]
        lam, self._top = _top_ritz(S, HS)  # the next probe starts from this vector
        self._before = (m.params.copy(), value, g, float(g @ g), float(g @ HS[-1]), lam)

    def after(self, epoch, total_steps):
        """Measure after the step at θ + Δ and record."""
        m = self.model
        theta0, value0, g, gg, gHg, lam = self._before
        # the loss alone (a forward pass): the same value as the gradient pass gives
        value1 = _loop.data_loss(m, self.x, self.target, self.sw, self.loss, chunk=self.x.shape[0])
        theta1 = m.params.copy()
        delta = np.subtract(theta1, theta0)
        m.params[...] = theta0  # H at θ, where the prediction is made
        try:
            Hdelta = self._matvec(delta)
        finally:
            m.params[...] = theta1
        lr = float(getattr(self.optimizer, "lr", math.nan))
        r = self.records
        r["step"].append(total_steps)
        r["epoch"].append(epoch)
        r["loss"].append(value0)
        r["grad_sq"].append(gg)
        r["grad_curvature"].append(gHg / gg if gg > 0 else math.nan)
        r["predicted_change"].append(float(g @ delta + 0.5 * delta @ Hdelta))
        r["predicted_change_gd"].append(-lr * gg + 0.5 * lr * lr * gHg)
        r["observed_change"].append(value1 - value0)
        r["lambda_max"].append(lam)
        r["lr_lambda_max"].append(lr * lam)
        limit = _stability_limit(self.optimizer)
        if not self._warned and limit is not None:
            factor, formula, method, weight_decay = limit
            stiffest = lam + weight_decay  # the weight decay adds to every eigenvalue of the step's Hessian
            if stiffest > 0 and lr * stiffest > factor:
                self._warned = True
                import warnings
                decay = f" plus the weight decay {weight_decay:.3g}" if weight_decay else ""
                warnings.warn(f"the learning rate {lr:.3g} exceeds the stability limit {formula} = "
                              f"{factor / stiffest:.3g} of {method} (λmax = {lam:.3g}, the top Hessian eigenvalue "
                              f"on the probe batch{decay}): along that direction steps overshoot and the loss can "
                              "grow. Lower the learning rate or add a schedule.", RuntimeWarning,
                              stacklevel=_runtime.user_stacklevel())
        self._before = None

    # what a probe adds to its epoch's History row
    EPOCH_KEYS = ("grad_sq", "grad_curvature", "predicted_change", "predicted_change_gd", "observed_change",
                  "lambda_max", "lr_lambda_max")

    def epoch_logs(self):
        """The last record's values, for the epoch's History row."""
        if not self.records["step"]:
            return {}
        return {k: self.records[k][-1] for k in self.EPOCH_KEYS}
