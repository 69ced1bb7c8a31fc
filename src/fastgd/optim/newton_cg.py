"""Newton-CG: truncated Newton steps from Hessian-vector products, in a Steihaug-Toint trust region.

Each step approximately minimizes the quadratic model m(p) = gᵀp + ½pᵀHp inside the ball
‖p‖ <= Δ by conjugate gradients on H·v products only (Steihaug, "The conjugate gradient method
and trust regions in large scale optimization", SIAM J. Numer. Anal. 20, 1983; Nocedal & Wright,
*Numerical Optimization*, 2nd ed., Algorithm 7.2). CG stops at the forcing tolerance
‖r‖ <= η·‖g‖, at the boundary, or on a direction of negative curvature, which it follows to
the boundary: the method escapes saddle points and maxima instead of converging to them. The radius then grows or shrinks with the ratio
ρ of actual to predicted reduction (Algorithm 4.1 of the same book). When a step ends on the
boundary and f agrees with the model there (|ρ - 1| <= 0.1), the radius doubles within the same
iteration and CG resumes on the same model where the boundary cut it off ("internal doubling",
Dennis & Schnabel, *Numerical Methods for Unconstrained Optimization and Nonlinear Equations*,
1983, section 6.4.3): a too small first radius costs one evaluation per doubling, not a restart
of CG.

The forcing term η follows how well the last quadratic model predicted the new gradient
(Eisenstat & Walker, "Choosing the forcing terms in an inexact Newton method", SIAM J. Sci.
Comput. 17, 1996, choice 1 with its safeguard): η_k = |‖g_k‖ - ‖g_{k-1} + H_{k-1}p_{k-1}‖| /
‖g_{k-1}‖, kept above η_{k-1}^((1+√5)/2) while that exceeds 0.1 and below min(0.5, √‖g_k‖).
Where the model is poor CG stops early; where it is good CG solves the Newton system tightly,
and convergence near a minimum is superlinear. The first step, with nothing yet to judge the
model by, solves tightly (at most d products) until its first trial point judges the model: the
trust region, not the forcing term, keeps it from overreaching far from a minimum; each trial
point of internal doubling sets the forcing term from its gradient, so CG goes on tightly on a
quadratic, which is solved in that one step however ill-conditioned, and loosely elsewhere. All this needs reorthogonalized CG (d <= 1000 by default): plain CG in floating
point cannot reach tight tolerances on an ill-conditioned H, so without it η = min(0.5, √‖g‖)
(superlinear near a minimum, cheap far from it).

Like :class:`fastgd.LBFGS`, the step takes a closure: ``opt.step(closure, params, hessp=...)``.
:func:`fastgd.minimize` drives it (``optimizer=fastgd.NewtonCG()``, exact products with
``hessp=``), and so does full-batch ``model.fit(optimizer=fastgd.NewtonCG())`` with the exact
products of ``model.hvp``.
"""

from __future__ import annotations

import math

import numpy as np

from fastgd import _core, _validation
from fastgd.curvature import l2_norm
from fastgd.optim.lbfgs import LBFGS, _check_point, _check_start

__all__ = ["NewtonCG", "NonFiniteProduct"]


class NonFiniteProduct(ValueError):
    """A Hessian-vector product with a NaN or an infinity (or one whose curvature dᵀHd passes
    the float64 range): no step can be taken from it. ``source`` says what computed it: "hessp"
    or "finite differences" of the gradient."""

    def __init__(self, source):
        self.source = source
        what = "from hessp" if source == "hessp" else "by finite differences of the gradient"
        super().__init__(f"the Hessian-vector product {what} is not finite")


def _positive(name, value, upper=None):
    return _validation.real(name, value, low=0.0, low_open=True, high=upper, high_open=True)


class NewtonCG:
    r"""Trust-region Newton-CG (Steihaug-Toint) on Hessian-vector products.

    Parameters
    ----------
    trust_radius : float, default 1.0
        The initial radius Δ₀. A poor guess costs little: while f agrees with the model at the
        boundary the radius doubles within the step, CG resuming where it stopped.
    max_trust_radius : float, default 1000.0
    eta : float in (0, 0.25), default 0.15
        A step is accepted when ρ = (f(x) - f(x+p)) / (m(0) - m(p)) > eta.
    max_cg : int or None
        Most CG iterations (Hessian-vector products) per step; default 4·d. CG is exact in d
        iterations in exact arithmetic only: in floating point an ill-conditioned H (κ = 1e6)
        loses orthogonality and needs several times more.
    fd_eps : float or None
        Without an exact ``hessp``, products are forward differences of the gradient,
        ``(∇f(x + h·v/‖v‖) - ∇f(x)) / h · ‖v‖`` with ``h = fd_eps·max(1, ‖x‖)`` (default: the
        square root of the dtype's machine epsilon): one gradient evaluation per product, about
        half the digits of the gradient.
    reorthogonalize : "auto", True or False
        Keep CG's residuals orthogonal by storing them (memory: CG iterations × d floats). In
        floating point, plain CG loses orthogonality on an ill-conditioned H and needs several
        times d products (302 instead of 50 on a 50-d quadratic with κ = 1e6); reorthogonalized,
        it needs about d, like exact arithmetic. "auto": for d <= 1000.
    cg_rtol : float in (0, 1) or None
        CG stops when ‖r‖ <= cg_rtol·‖g‖. None (default): with reorthogonalized CG the
        Eisenstat-Walker forcing sequence above, never below √(machine epsilon) of the dtype:
        loose where the quadratic model is poor, tight where it is good (a 50-d quadratic with
        κ = 1e6: one step of 50 products); without, min(0.5, √‖g‖). A fixed value applies to
        every step.

    Attributes
    ----------
    loss, grad : the value and gradient at the last accepted point.
    trust_radius : the current Δ.
    n_iter, n_hvp : accepted steps; Hessian-vector products since :meth:`reset`.
    last_nfev, last_nhvp : evaluations and products of the last step.
    last_status : ``"ok"``, ``"rejected"`` (ρ <= eta, radius shrunk, params unchanged),
        ``"converged"`` (zero gradient) or ``"trust region collapsed"`` (Δ fell below the
        resolution of x: no further progress is possible in this precision).
    """

    def __init__(self, *, trust_radius: float = 1.0, max_trust_radius: float = 1000.0, eta: float = 0.15,
                 max_cg: int | None = None, fd_eps: float | None = None, reorthogonalize: bool | str = "auto",
                 cg_rtol: float | None = None) -> None:
        self.initial_trust_radius = trust_radius
        self.max_trust_radius = max_trust_radius
        self._check_radii()
        self.eta = eta
        self.max_cg = max_cg
        self.fd_eps = fd_eps
        self.reorthogonalize = reorthogonalize
        self.cg_rtol = cg_rtol
        self._hessp = None
        self.reset()

    # The check of each hyperparameter, applied by __setattr__: in the constructor and when
    # user code sets one between steps (a NaN eta or a negative radius ran on silently).
    _CHECKS = {
        "initial_trust_radius": lambda v: _positive("trust_radius", v),
        "max_trust_radius": lambda v: _positive("max_trust_radius", v),
        "eta": lambda v: _positive("eta", v, 0.25),
        "max_cg": lambda v: _validation.integer("max_cg", v, 1, allow_none=True),
        "fd_eps": lambda v: None if v is None else _positive("fd_eps", v),
        "reorthogonalize": lambda v: _validation.choice("reorthogonalize", v, ("auto", True, False)),
        "cg_rtol": lambda v: None if v is None else _positive("cg_rtol", v, 1.0),
    }

    def _check_radii(self):
        """Refuse an initial radius above the largest, in the constructor and at each step (either
        may have been set since)."""
        if self.initial_trust_radius > self.max_trust_radius:
            raise ValueError(f"trust_radius ({self.initial_trust_radius}) must be <= max_trust_radius "
                             f"({self.max_trust_radius})")

    def __setattr__(self, name, value):
        check = self._CHECKS.get(name)
        object.__setattr__(self, name, value if check is None else check(value))

    def __repr__(self):
        return (f"NewtonCG(trust_radius={self.initial_trust_radius}, max_trust_radius={self.max_trust_radius}, "
                f"eta={self.eta}, max_cg={self.max_cg}, fd_eps={self.fd_eps}, "
                f"reorthogonalize={self.reorthogonalize!r}, cg_rtol={self.cg_rtol})")

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"name": "newton_cg", "trust_radius": self.initial_trust_radius,
                "max_trust_radius": self.max_trust_radius, "eta": self.eta, "max_cg": self.max_cg,
                "fd_eps": self.fd_eps, "reorthogonalize": self.reorthogonalize, "cg_rtol": self.cg_rtol}

    def reset(self):
        """Forget the cached point and restore the initial radius."""
        self.trust_radius = self.initial_trust_radius
        self._x = self._f = self._g = None
        self.n_iter = self.n_hvp = 0
        self.last_nfev = self.last_nhvp = 0
        self.last_status = "ok"
        # the Eisenstat-Walker term of the next step; None before the first accepted step
        self._forcing = None

    def state_dict(self):
        """The trust radius, the last accepted point with its value and gradient, the next
        forcing term and the counters."""
        return {"trust_radius": self.trust_radius, "n_iter": self.n_iter, "n_hvp": self.n_hvp,
                "x": None if self._x is None else self._x.copy(), "f": self._f,
                "grad": None if self._g is None else self._g.copy(), "forcing": self._forcing}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned; a refused state leaves the optimizer as it was."""
        with _validation.unchanged_if_refused(self):  # reset and each step below rebind what they change
            self._load_state_dict(state)

    def _load_state_dict(self, state):
        _validation.state("state", state, ("trust_radius", "n_iter", "n_hvp", "x", "f", "grad"))
        self.reset()
        self.trust_radius = _positive("trust_radius", state["trust_radius"])
        self.n_iter = _validation.integer("state['n_iter']", state["n_iter"], 0, maximum=_validation.MAX_RESTORED_COUNT)
        self.n_hvp = _validation.integer("state['n_hvp']", state["n_hvp"], 0, maximum=_validation.MAX_RESTORED_COUNT)
        if state.get("forcing") is not None:
            self._forcing = _validation.real("forcing", state["forcing"], low=0.0)
        if state["x"] is not None:
            x = _validation.real_array("state['x']", state["x"])
            if x.ndim != 1:
                raise ValueError(f"state['x'] must be a 1-D float array, got {_validation.describe(x)}")
            # the point of the parameters: float32 or float64, as they are
            self._x = _validation.vector("state['x']", x, x.shape[0], _validation.float_dtype(x.dtype, "state['x']"))
            self._g = _validation.vector("state['grad']", state["grad"], x.shape[0], np.float64)
            self._f = _validation.real("state['f']", state["f"])

    # the cached point, the closure's call with its checks, and pickling (through the
    # configuration and the state, both checked), as L-BFGS has them
    __reduce__ = LBFGS.__reduce__
    grad = LBFGS.grad
    loss = LBFGS.loss
    _evaluate = LBFGS._evaluate

    # ---- evaluation -------------------------------------------------------------

    def _product(self, closure, params, x, v, hessp):
        """H(x)·v in float64: exact with hessp, else a forward difference of the gradient."""
        self.last_nhvp += 1
        self.n_hvp += 1
        if hessp is not None:
            # a copy of v, CG's direction, which a hessp writing its product into v would overwrite
            out = _validation.real_array("hessp", hessp(params, v.astype(params.dtype)), np.float64)
            if out.shape != params.shape:
                raise ValueError(f"hessp returned shape {out.shape}, expected {params.shape}")
            return out
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            return np.zeros_like(v)
        eps = self.fd_eps if self.fd_eps is not None else math.sqrt(np.finfo(params.dtype).eps)
        h = eps * max(1.0, float(np.linalg.norm(x)))
        params[...] = x + (h / norm) * v
        try:
            _, g_plus = self._evaluate(closure, params)
        finally:
            params[...] = x
        return (g_plus.astype(np.float64) - self._g) * (norm / h)

    def _set_point(self, params, f, g):
        """Tell the optimizer the value and gradient at params (a caller that has them already)."""
        self._x, self._f, self._g = params.copy(), float(f), np.array(g, dtype=np.float64)

    # ---- the step ---------------------------------------------------------------------

    def step(self, closure, params, hessp=None):
        """One trust-region Newton-CG iteration, in place on ``params``.

        Parameters
        ----------
        closure : callable ``closure(params) -> (loss, grads)``
            Evaluates at the current content of ``params`` (the optimizer writes each trial
            point into ``params`` first), as for :class:`fastgd.LBFGS`.
        params : ndarray (d,), float32 or float64, C-contiguous, writeable
        hessp : callable ``hessp(params, v) -> H·v``, optional
            Exact products at the current content of ``params``; forward differences of the
            gradient otherwise (see ``fd_eps``).

        Returns
        -------
        float : the objective at the (possibly unchanged) point.
        """
        if not callable(closure):
            raise TypeError(f"closure must be callable, got {type(closure).__name__}")
        if hessp is not None and not callable(hessp):
            raise TypeError(f"hessp must be callable hessp(params, v) or None, got {type(hessp).__name__}")
        _check_point("params", params)
        stale = self._x is None or self._x.shape != params.shape or not np.array_equal(params, self._x)
        return self._step(closure, params, stale, hessp)

    def _step(self, closure, params, evaluate_first, hessp=None):
        """step() without the argument checks (minimize's driver); hessp defaults to the one
        the driver attached."""
        # a second thread stepping this optimizer would overwrite this run's point, gradient and radius
        _core.claim_optimizer(self)
        try:
            return self._iterate(closure, params, evaluate_first, hessp)
        finally:
            _core.release_optimizer(self)

    def _iterate(self, closure, params, evaluate_first, hessp=None):
        """The body of :meth:`_step`, the optimizer claimed."""
        hessp = hessp if hessp is not None else self._hessp
        self.last_nfev = self.last_nhvp = 0
        self.last_status = "ok"
        if evaluate_first:
            self._f, self._g = self._evaluate(closure, params)
            self._x = params.copy()
        self._g = np.asarray(self._g, dtype=np.float64)
        _check_start(self._f, self._g)
        x = params.astype(np.float64)
        g = self._g
        gnorm = l2_norm(g)
        if gnorm == 0.0:
            self.last_status = "converged"
            return self._f
        forcing = self._forcing_term(gnorm, params.dtype, params.size, self._forcing)
        cg = _SteihaugCG(lambda v: self._product(closure, params, x, v, hessp), g, forcing * gnorm,
                         self.max_cg if self.max_cg is not None else 4 * x.size, self._reorthogonalizes(x.size))
        self._check_radii()
        radius = min(self.trust_radius, self.max_trust_radius)  # max_trust_radius may have been lowered since
        kept = None  # a boundary step the model predicted well, while a longer one is tried
        while True:
            try:
                p, predicted, on_boundary, model_gnorm = cg.solve(radius)
            except _NonFiniteCurvature:
                raise NonFiniteProduct("hessp" if hessp is not None else "finite differences") from None
            params[...] = x + p
            f_new, g_new, rho, resolved = self._judge(closure, params, p, predicted)
            if kept is not None and not (rho > self.eta and f_new < kept[1]):
                # the longer step did worse: take the last one the model predicted well
                p, f_new, g_new, model_gnorm, radius = kept
                params[...] = x + p
                rho, on_boundary = 1.0, False
                break
            if not (on_boundary and resolved and abs(rho - 1.0) <= 0.1 and radius < self.max_trust_radius):
                break
            # Internal doubling (Dennis & Schnabel, *Numerical Methods for Unconstrained
            # Optimization and Nonlinear Equations*, 1983, section 6.4.3): f agrees with the
            # model out to the boundary, so try twice the radius on the same model before
            # moving. CG resumes where it crossed the boundary: the products taken so far are
            # not lost, and a quadratic is solved in one step of about d products whatever the
            # first radius. The trial point's gradient judges the model as the next step's
            # forcing term would, and sets how far CG goes on.
            kept = (p, f_new, g_new, model_gnorm, radius)
            radius = min(2.0 * radius, self.max_trust_radius)
            walker = self._next_forcing(forcing, gnorm, model_gnorm, l2_norm(g_new))
            forcing = self._forcing_term(gnorm, params.dtype, params.size, walker)
            cg.tolerance = forcing * gnorm
            params[...] = x  # products are taken at x
        pnorm = float(np.linalg.norm(p))
        if rho < 0.25:
            self.trust_radius = 0.25 * min(radius, pnorm)
        elif rho > 0.75 and on_boundary:
            self.trust_radius = min(2.0 * radius, self.max_trust_radius)
        else:
            self.trust_radius = radius
        if rho > self.eta:
            self._f, self._g = f_new, g_new.astype(np.float64)
            self._x = params.copy()
            self.n_iter += 1
            self._forcing = self._next_forcing(forcing, gnorm, model_gnorm, l2_norm(self._g))
        else:
            params[...] = self._x
            self.last_status = "rejected"
            resolution = np.finfo(params.dtype).eps * max(1.0, float(np.linalg.norm(x)))
            if self.trust_radius <= resolution:
                self.last_status = "trust region collapsed"
        return self._f

    def _judge(self, closure, params, p, predicted):
        """(f, gradient, ρ, whether ρ resolves the step) at the trial point x + p in params,
        given the step p and the reduction m(0) - m(p) the model predicts for it."""
        f_new, g_new = math.nan, None
        if _finite(params):
            f_new, g_new = self._evaluate(closure, params)
        actual = self._f - f_new if math.isfinite(f_new) and np.all(np.isfinite(g_new)) else -math.inf
        rho = actual / predicted if predicted > 0 else -math.inf
        # A difference of f values below √ε·|f| may be all rounding: an objective that cancels
        # large terms (0.5·xᵀAx - bᵀx with ‖A‖ = 1e6) is off by far more than ε·|f|, and ρ from
        # it rejects every step long before ‖g‖ reaches tol. Over so short a step the reduction
        # is measured by the gradients instead, f(x) - f(x + p) ≈ -(g + g_new)·p / 2 (the
        # trapezoid rule: exact on a quadratic, its error third order in ‖p‖), unless f rose by
        # more than its rounding could explain.
        band = math.sqrt(np.finfo(params.dtype).eps) * max(1.0, abs(self._f))
        if 0 < predicted <= band and math.isfinite(actual) and actual > -band:
            measured = -0.5 * float(np.dot(self._g + np.asarray(g_new, dtype=np.float64), p))
            return f_new, g_new, measured / predicted, False
        return f_new, g_new, rho, True

    def _reorthogonalizes(self, d):
        return self.reorthogonalize is True or (self.reorthogonalize == "auto" and d <= 1000)

    def _forcing_term(self, gnorm, dtype, d, walker=None):
        """η of this step: cg_rtol when given; with reorthogonalized CG the Eisenstat-Walker
        term ``walker`` (0 before any trial point: a tight solve costs at most d products) capped
        at min(0.5, √‖g‖) and floored at √(machine epsilon), below which products in this dtype
        cannot resolve the residual; without it min(0.5, √‖g‖), as plain CG in floating point
        cannot reach tight tolerances on an ill-conditioned H."""
        if self.cg_rtol is not None:
            return self.cg_rtol
        cap = min(0.5, math.sqrt(gnorm))
        if not self._reorthogonalizes(d):
            return cap
        eta = 0.0 if walker is None else min(cap, walker)
        return max(eta, math.sqrt(np.finfo(dtype).eps))

    @staticmethod
    def _next_forcing(forcing, gnorm, model_gnorm, gnorm_new):
        """Eisenstat-Walker choice 1 after an accepted step: how far the new gradient's norm is
        from the one the quadratic model predicted, relative to the old gradient, safeguarded
        against falling faster than η^((1+√5)/2) while η is still large."""
        eta = abs(gnorm_new - model_gnorm) / gnorm
        floor = forcing ** ((1.0 + math.sqrt(5.0)) / 2.0)
        return max(eta, floor) if floor > 0.1 else eta


class _NonFiniteCurvature(Exception):
    """dᵀHd of a conjugate-gradient direction is not finite (NewtonCG names the product's source)."""


class _SteihaugCG:
    """Truncated conjugate gradients on the model m(p) = gᵀp + ½pᵀHp (Steihaug-Toint).

    ``solve(radius)`` runs until the residual ‖g + H·p‖ falls to ``tolerance``, until a direction
    of negative curvature, which it follows to the boundary ‖p‖ = radius, or until the boundary
    itself. A later ``solve`` with a larger radius resumes where the previous one stopped: the
    CG iterates do not depend on the radius, only where they are cut off does.

    CG runs on the model divided by ``scale``, the power of two just above ‖g‖: its gradient
    g/scale has a norm in [0.5, 1), so rᵀr and dᵀHd neither underflow (a gradient of 1e-170 made
    them 0, which read as convergence or as zero curvature) nor overflow. The scaling is exact:
    the iterates are bit for bit those of the model itself, and ``solve`` scales back the
    model's reduction and gradient norm it returns.
    """

    def __init__(self, product, g, tolerance, max_iter, reorthogonalize):
        # 2^e with ‖g‖ in [2^(e-1), 2^e), held below 2^1023 (a norm past it would overflow 2^1024)
        self.scale = math.ldexp(1.0, min(math.frexp(l2_norm(g))[1], 1023))
        self.product = lambda v: product(v) / self.scale  # (H / scale)·v
        self.tolerance, self.max_iter = tolerance, max_iter
        self.z = np.zeros_like(g)
        self.r = g / self.scale
        self.d = -self.r
        self.rr = float(self.r @ self.r)
        self.model = 0.0  # m(z) - m(0)
        # the normalized residuals, rows of one block filled in place (at most d of them)
        self.basis = _validation.allocate("reorthogonalize=True", (min(g.size, max_iter + 1), g.size)) \
            if reorthogonalize else None
        self.n_basis = 0
        if reorthogonalize:
            self._add_to_basis(self.r, self.rr)
        self.iterations = 0
        self.pending = None  # (H·d, dᵀHd) of the iteration a boundary cut off
        self.converged = False

    def _add_to_basis(self, r, rr):
        if self.n_basis < self.basis.shape[0]:
            np.divide(r, math.sqrt(rr), out=self.basis[self.n_basis])
            self.n_basis += 1

    def solve(self, radius):
        """(p, m(0) - m(p), whether p ends on the boundary, ‖g + H·p‖: the model's gradient at p)."""
        while True:
            if self.pending is None:
                if self.converged or self.iterations >= self.max_iter:
                    return self.z, -self.model * self.scale, False, math.sqrt(self.rr) * self.scale
                Bd = self.product(self.d)
                self.iterations += 1
                dBd = float(self.d @ Bd)
                if not math.isfinite(dBd):
                    raise _NonFiniteCurvature
                self.pending = (Bd, dBd)
            Bd, dBd = self.pending
            z, d = self.z, self.d
            alpha = self.rr / dBd if dBd > 0.0 else 0.0
            z_next = z + alpha * d
            if dBd <= 0.0 or float(np.linalg.norm(z_next)) >= radius:
                # negative (or zero) curvature, or the boundary reached: follow d to the boundary
                tau = _to_boundary(z, d, radius)
                return (z + tau * d, -(self.model + tau * float(self.r @ d) + 0.5 * tau * tau * dBd) * self.scale,
                        True, float(np.linalg.norm(self.r + tau * Bd)) * self.scale)
            self.pending = None
            self.model -= 0.5 * alpha * self.rr
            r = self.r + alpha * Bd
            if self.basis is not None and self.n_basis < z.size:
                B = self.basis[:self.n_basis]
                r -= (B @ r) @ B  # twice is enough (Parlett)
                r -= (B @ r) @ B
            rr_next = float(r @ r)
            if self.basis is not None and rr_next > 0.0:
                self._add_to_basis(r, rr_next)
            self.z, self.r = z_next, r
            if math.sqrt(rr_next) * self.scale <= self.tolerance:
                self.converged = True
            else:
                self.d = -r + (rr_next / self.rr) * d
            self.rr = rr_next


def _to_boundary(z, d, radius):
    """The τ >= 0 with ‖z + τd‖ = radius."""
    a, b, c = float(d @ d), 2.0 * float(z @ d), float(z @ z) - radius * radius
    return (-b + math.sqrt(max(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)


def _finite(a):
    return bool(np.all(np.isfinite(a)))
