"""Minimize or maximize any differentiable function of a vector by gradient descent.

:func:`minimize` follows ``scipy.optimize.minimize`` conventions (``jac=True``
means ``fun`` returns ``(value, grad)``, ``jac`` may be a callable, ``jac=None``
uses central differences) and accepts any fastgd optimizer: :class:`fastgd.LBFGS`
(the default) or a first-order one of :mod:`fastgd.optim` (``SGD``, ``Adam``, ...).
Several starting points at once (``x0`` of shape ``(n_starts, d)``) run
independent descents and return the best one plus every start's outcome: the
random-restart remedy for local optima.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fastgd import _validation
from fastgd import curvature as _curvature
from fastgd.optim.lbfgs import LBFGS
from fastgd.optim.newton_cg import NewtonCG, NonFiniteProduct

__all__ = ["minimize", "maximize", "OptimizeResult", "check_grad", "approx_grad"]

_NONFINITE_MODES = ("raise", "stop")


class OptimizeResult(dict):
    """The outcome of :func:`minimize` / :func:`maximize`; a dict with attribute access.

    Fields
    ------
    x : ndarray (d,)
        The final point (for several starts: the best start's).
    fun : float
        The objective at ``x`` (the objective itself, also for :func:`maximize`).
    jac : ndarray (d,)
        The gradient of the objective at ``x``.
    nit : int
        Optimizer iterations (steps) taken.
    nfev : int
        Evaluations of ``fun`` (a gradient by central differences costs ``2·d``
        more; a batched call of a vectorized ``fun`` counts once per row it holds).
    success : bool
        True when the gradient norm fell to ``tol``.
    message : str
        Why the run stopped.
    history : ndarray (nit + 1,)
        The objective at the start and after every iteration.
    trajectory : ndarray (nit + 1, d) or None
        Every iterate, when ``keep_trajectory=True``.

    With several starts, also ``results`` (one OptimizeResult per start, in the
    order of ``x0``'s rows), ``best_index`` (the row of the best start: the lowest
    finite ``fun`` for :func:`minimize`, the highest for :func:`maximize`) and
    ``total_nfev``.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __repr__(self):
        if not self:
            return "OptimizeResult()"
        width = max(len(k) for k in self) + 1
        lines = []
        for key, value in self.items():
            if key == "results":
                value = f"[{len(value)} OptimizeResult]"
            elif isinstance(value, np.ndarray) and value.size > 8:
                value = f"array of shape {value.shape}"
            lines.append(f"{key.rjust(width)}: {value}")
        return "\n".join(lines)

    def __dir__(self):
        return list(self.keys())


# ---- finite differences --------------------------------------------------------


def _default_eps(x):
    # Central differences balance truncation (eps²) against round-off (u/eps):
    # the best step is u^(1/3) relative to |x|.
    return np.finfo(x.dtype).eps ** (1.0 / 3.0) * np.maximum(1.0, np.abs(x))


def _steps(eps, x):
    """The central-difference steps for x (its shape): ``eps`` (a number or one step per
    coordinate) or the default, each positive and large enough that ``x ± h`` differ in x's
    dtype (a step that rounds away divided by zero)."""
    if eps is None:
        h = _default_eps(x)
    else:
        given = _validation.real_array("eps", eps, np.float64)
        if given.ndim > 1 or given.size not in (1, x.shape[-1]):
            raise ValueError(f"eps must be a number or an array of shape ({x.shape[-1]},) (one step per "
                             f"coordinate of x), got shape {given.shape}")
        h = np.broadcast_to(given.reshape(-1), x.shape)
        if np.any(~np.isfinite(h)) or np.any(h <= 0):
            raise ValueError(f"eps must be positive and finite, got {eps!r}")
    with np.errstate(over="ignore"):  # refused just below
        forward, backward = (x + h).astype(x.dtype), (x - h).astype(x.dtype)
    def first(mask):  # (h, x, index) at the first True of mask
        i = np.argwhere(mask)[0]
        return h[tuple(i)], x[tuple(i)], tuple(int(j) for j in i) if x.ndim > 1 else int(i[0])

    past = ~(np.isfinite(forward) & np.isfinite(backward))
    if np.any(past):
        step, at, index = first(past)
        raise ValueError(f"eps is too large for x: x ± {step:g} is not finite in {x.dtype} at x = {at:g} "
                         f"(index {index}); pass a smaller eps")
    lost = forward == backward
    if np.any(lost):
        step, at, index = first(lost)
        raise ValueError(f"eps is too small for x: x ± {step:g} rounds to x = {at!r} in {x.dtype} at "
                         f"index {index}; pass a larger eps")
    return h


def _float_vector(name, x, ndim_choices=(1,)):
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    native = arr.dtype.newbyteorder("=")  # a big-endian float32 is float32 too
    arr = arr.astype(native if native in (np.float32, np.float64) else np.float64, copy=False)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim not in ndim_choices:
        shapes = " or ".join({1: "(d,)", 2: "(n_starts, d)"}[k] for k in ndim_choices)
        raise ValueError(f"{name} must have shape {shapes}, got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one coordinate, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one start (row), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {np.count_nonzero(~np.isfinite(arr))} "
                         "non-finite values")
    return np.array(arr, order="C")


def _finite_norm(a):
    """‖a‖₂, or None when a holds a NaN or an infinity (the norm of finite entries past the
    float64 range is inf)."""
    norm = _curvature.l2_norm(a)
    if math.isfinite(norm):
        return norm
    return math.inf if bool(np.isfinite(a).all()) else None


def approx_grad(fun, x, *, eps=None, args=()):
    """Gradient of ``fun`` at ``x`` by central differences.

    ``g_i = (fun(x + h_i e_i) - fun(x - h_i e_i)) / (2 h_i)``, ``2·d`` calls of
    ``fun``, error ``O(h²)``.

    Parameters
    ----------
    fun : callable ``fun(x, *args) -> float``
    x : array_like (d,) (a scalar is taken as shape (1,))
    eps : float or array_like (d,), optional
        Step ``h``; default ``u^(1/3)·max(1, |x_i|)`` with ``u`` the machine
        epsilon of ``x``'s dtype (float64 unless ``x`` is float32), the step that
        balances truncation and round-off error.
    args : tuple
        Extra arguments of ``fun``.

    Returns
    -------
    ndarray (d,) of ``x``'s dtype
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    x = _float_vector("x", x)
    h = _steps(eps, x)
    grad = np.empty(x.shape, dtype=x.dtype)
    point = x.copy()
    for i in range(x.shape[0]):
        point[i] = x[i] + h[i]
        forward_step = float(point[i]) - float(x[i])  # the step actually taken after rounding
        f_plus = _validation.returned_real("fun", fun(point.copy(), *args))
        point[i] = x[i] - h[i]
        backward_step = float(x[i]) - float(point[i])
        f_minus = _validation.returned_real("fun", fun(point.copy(), *args))
        point[i] = x[i]
        grad[i] = (f_plus - f_minus) / (forward_step + backward_step)
    return grad


def check_grad(fun, jac, x, *, eps=None, args=(), relative=False):
    """How far ``jac`` is from the central-difference gradient of ``fun`` at ``x``.

    Returns ``‖jac(x) − approx_grad(fun, x)‖₂`` (as ``scipy.optimize.check_grad``),
    or, with ``relative=True``, that divided by ``max(‖approx_grad‖₂, 1e-300)``.
    A correct float64 gradient gives about 1e-7 relative error or less; a wrong one
    gives O(1).

    Parameters
    ----------
    fun : callable ``fun(x, *args) -> float``
    jac : callable ``jac(x, *args) -> ndarray (d,)``
    x : array_like (d,)
    eps, args : see :func:`approx_grad`
    relative : bool, default False
    """
    if not callable(jac):
        raise TypeError(f"jac must be callable, got {type(jac).__name__}")
    relative = _validation.flag("relative", relative)
    x = _float_vector("x", x)
    numeric = approx_grad(fun, x, eps=eps, args=args)
    analytic = _validation.real_array("jac", jac(x.copy(), *args), np.float64)
    if analytic.shape != x.shape:
        raise ValueError(f"jac must return an array of shape {x.shape}, got shape {analytic.shape}")
    error = float(np.linalg.norm(analytic - numeric.astype(np.float64)))
    if relative:
        error /= max(float(np.linalg.norm(numeric.astype(np.float64))), 1e-300)
    return error


# ---- the objective wrapper -------------------------------------------------------


class _Objective:
    """Evaluates value and gradient of the user's function on one point (d,) or a batch
    (k, d), with the sign flipped for maximization, validates what comes back and
    counts evaluations."""

    def __init__(self, fun, jac, args, sign, dtype, vectorized, eps):
        self.fun, self.jac, self.args, self.sign = fun, jac, args, sign
        self.dtype, self.vectorized, self.eps = dtype, vectorized, eps
        self.nfev = 0

    def _call(self, x):
        out = self.fun(x, *self.args)
        if self.jac is True:
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise TypeError("with jac=True, fun must return a (value, grad) pair, "
                                f"got {type(out).__name__}")
            return out[0], out[1]
        return out, None

    def _check_grad_shape(self, grad, shape):
        who = "fun's gradient (jac=True)" if self.jac is True else "jac"
        grad = _validation.real_array(who, grad)
        if grad.shape != shape:
            raise ValueError(f"{who} must have shape {shape} (the shape of x), got shape {grad.shape}")
        return _validation.c_array(grad, self.dtype)

    def one(self, x):
        """(value, grad) at x (d,), in the minimized sign."""
        if self.vectorized:
            values, grads = self.batch(x[None, :])
            return float(values[0]), grads[0]
        value, grad = self._call(x.copy())
        self.nfev += 1
        value = _validation.returned_real("fun", value)
        if self.jac is None:
            grad = self._finite_differences(x)
        elif callable(self.jac):
            grad = self.jac(x.copy(), *self.args)
        grad = self._check_grad_shape(grad, x.shape)
        return self.sign * value, (grad if self.sign > 0 else -grad)

    def _finite_differences(self, x):
        def value(point):
            self.nfev += 1
            return self._call(point)[0]
        return approx_grad(value, x, eps=self.eps)

    @staticmethod
    def _batch_values(values):
        # real_array refuses complex values, which a float64 cast would silently drop to their real
        # part; a copy, as fun may return one buffer it overwrites at its next call (the central
        # differences subtracted it from itself: a zero gradient, "converged" at x0)
        return np.array(_validation.real_array("a vectorized fun's values", values), dtype=np.float64)

    def batch(self, xs):
        """(values (k,), grads (k, d)) at the rows of xs, for a vectorized fun."""
        k, d = xs.shape
        values, grads = self._call(xs.copy())
        self.nfev += k
        values = self._batch_values(values)
        if values.shape not in ((k,), (k, 1)):
            raise ValueError(f"a vectorized fun must return values of shape ({k},) for x of shape "
                             f"{xs.shape}, got shape {values.shape}")
        values = values.reshape(k)
        if self.jac is None:
            grads = np.empty(xs.shape, dtype=self.dtype)
            h = _steps(self.eps, xs)
            for i in range(d):
                plus, minus = xs.copy(), xs.copy()
                plus[:, i] += h[:, i]
                minus[:, i] -= h[:, i]
                taken = plus[:, i].astype(np.float64) - minus[:, i]  # before fun, which may write into its x
                f_plus = self._batch_values(self._call(plus)[0]).reshape(k)
                f_minus = self._batch_values(self._call(minus)[0]).reshape(k)
                self.nfev += 2 * k
                grads[:, i] = (f_plus - f_minus) / taken
        elif callable(self.jac):
            grads = self.jac(xs.copy(), *self.args)
        grads = self._check_grad_shape(grads, xs.shape)
        if self.sign < 0:
            return -values, -grads
        return values, grads


# ---- the drivers ------------------------------------------------------------------


class _NonFinite(Exception):
    pass


class _Run:
    """The bookkeeping of one start: history, trajectory, outcome."""

    def __init__(self, x, f, sign, keep_trajectory):
        self.sign = sign
        self.history = [f]
        self.trajectory = [x.copy()] if keep_trajectory else None
        self.nit = 0
        self.done = False
        self.result = None

    def record(self, x, f):
        self.nit += 1
        self.history.append(f)
        if self.trajectory is not None:
            self.trajectory.append(x.copy())

    def finish(self, x, f, g, nfev, success, message):
        self.done = True
        s = self.sign
        self.result = OptimizeResult(
            x=x.copy(), fun=s * f, jac=s * np.asarray(g).copy(), nit=self.nit, nfev=nfev,
            success=bool(success), message=message,
            history=s * np.asarray(self.history, dtype=np.float64),
            trajectory=None if self.trajectory is None else np.array(self.trajectory))
        return self.result


def _stop_requested(callback, x):
    """Whether ``callback`` (or None) asks to stop after the iterate x (given a copy)."""
    if callback is None:
        return False
    out = callback(x.copy())
    try:
        return bool(out)
    except (TypeError, ValueError):  # an array of several truth values, and the like
        raise TypeError(f"callback must return True (stop), False or None, got {_validation.describe(out)}") from None


def _nonfinite_message(f, g, nit):
    what = f"value {f}" if not math.isfinite(f) else "gradient"
    return f"fun returned a non-finite {what} at iteration {nit}; x is the last finite point"


def _run_one(objective, x0, optimizer, max_iter, tol, callback, keep_trajectory, nonfinite):
    """One descent from x0 (d,) with a fresh optimizer."""
    sign = objective.sign
    x = x0.copy()
    nfev0 = objective.nfev
    f, g = objective.one(x)
    gnorm = _finite_norm(g)
    if not math.isfinite(f) or gnorm is None:
        raise ValueError(f"fun returned a non-finite {'value ' + str(sign * f) if not math.isfinite(f) else 'gradient'}"
                         f" at x0 = {x0!r}; check the function's domain")
    run = _Run(x, f, sign, keep_trajectory)
    is_lbfgs = isinstance(optimizer, (LBFGS, NewtonCG))  # the closure-driven ones
    closure = (lambda params: objective.one(params)) if is_lbfgs else None
    if isinstance(optimizer, NewtonCG):
        optimizer._hessp = objective.hessp
    if is_lbfgs:
        optimizer.reset()
        optimizer._set_point(x, f, g)
    # copies: fun or jac may return one buffer it overwrites at the next call
    last_good = (x.copy(), f, g.copy())
    while True:
        if gnorm <= tol:
            return run.finish(x, f, g, objective.nfev - nfev0, True,
                              f"gradient norm {gnorm:.3g} <= tol {tol:.3g}")
        if run.nit >= max_iter:
            return run.finish(x, f, g, objective.nfev - nfev0, False,
                              f"max_iter ({max_iter}) reached; gradient norm {gnorm:.3g} > tol {tol:.3g}")
        message = None
        if is_lbfgs:
            try:
                f = optimizer._step(closure, x, False)  # x only changes through the optimizer
            except NonFiniteProduct as error:  # Newton-CG's, at x, which it left unchanged
                message = f"{error} at iteration {run.nit + 1}; x is the last finite point"
            g = optimizer.grad.copy()  # the optimizer's buffer: the next step overwrites it
            if optimizer.last_status == "line search failed":
                return run.finish(x, f, g, objective.nfev - nfev0, False,
                                  "line search failed: no step length satisfied the strong Wolfe "
                                  "conditions (the gradient may be inaccurate, or tol is below the "
                                  "precision of the objective)")
            if optimizer.last_status == "trust region collapsed":
                return run.finish(x, f, g, objective.nfev - nfev0, False,
                                  "trust region collapsed: no step improved the objective (the gradient or "
                                  "Hessian products may be inaccurate, or tol is below the objective's precision)")
        else:
            optimizer.step(x, g)
            f, g = objective.one(x)
        gnorm = _finite_norm(g)
        if message is None and (not math.isfinite(f) or gnorm is None or _finite_norm(x) is None):
            message = _nonfinite_message(sign * f, g, run.nit + 1)
        if message is not None:
            if nonfinite == "raise":
                raise ValueError(message.replace("; x is the last finite point",
                                                 f" (x = {x!r}); pass nonfinite='stop' to keep the "
                                                 "last finite point instead, or lower the step size"))
            bx, bf, bg = last_good
            return run.finish(bx, bf, bg, objective.nfev - nfev0, False, message)
        last_good = (x.copy(), f, g.copy())
        run.record(x, f)
        if _stop_requested(callback, x):
            return run.finish(x, f, g, objective.nfev - nfev0, False, "stopped by callback")


def _run_batch(objective, x0s, optimizer, max_iter, tol, callback, keep_trajectory, nonfinite):
    """Every start at once with one elementwise optimizer over the flat (k·d) buffer
    and one batched call of fun per iteration. A start's result is frozen at the
    iteration it stops (converged, non-finite, callback); the others continue."""
    k, d = x0s.shape
    sign = objective.sign
    xs = x0s.copy()
    flat = xs.reshape(-1)
    nfev0 = objective.nfev

    def nfev():  # one start's evaluations so far: every call of fun holds one row of each start
        return (objective.nfev - nfev0) // k

    fs, gs = objective.batch(xs)
    bad = ~(np.isfinite(fs) & np.all(np.isfinite(gs), axis=1))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"fun returned a non-finite value or gradient at x0[{i}] = {x0s[i]!r}; "
                         "check the function's domain")
    runs = [_Run(xs[i], fs[i], sign, keep_trajectory) for i in range(k)]
    last_good = [(xs[i].copy(), fs[i], gs[i].copy()) for i in range(k)]
    while True:
        for i, run in enumerate(runs):
            if run.done:
                continue
            gnorm = _curvature.l2_norm(gs[i])
            if gnorm <= tol:
                run.finish(xs[i], fs[i], gs[i], nfev(), True, f"gradient norm {gnorm:.3g} <= tol {tol:.3g}")
            elif run.nit >= max_iter:
                run.finish(xs[i], fs[i], gs[i], nfev(), False,
                           f"max_iter ({max_iter}) reached; gradient norm {gnorm:.3g} > tol {tol:.3g}")
        if all(run.done for run in runs):
            return [run.result for run in runs]
        optimizer.step(flat, gs.reshape(-1))
        fs, gs = objective.batch(xs)
        for i, run in enumerate(runs):
            if run.done:
                continue
            if not (math.isfinite(fs[i]) and np.all(np.isfinite(xs[i])) and np.all(np.isfinite(gs[i]))):
                message = _nonfinite_message(sign * fs[i], gs[i], run.nit + 1)
                if nonfinite == "raise":
                    raise ValueError(f"start {i}: " + message.replace(
                        "; x is the last finite point", "; pass nonfinite='stop' to keep the last finite "
                        "point of that start instead, or lower the step size"))
                bx, bf, bg = last_good[i]
                run.finish(bx, bf, bg, nfev(), False, message)
                xs[i] = bx
                continue
            last_good[i] = (xs[i].copy(), fs[i], gs[i].copy())
            run.record(xs[i], fs[i])
            if _stop_requested(callback, xs[i]):
                run.finish(xs[i], fs[i], gs[i], nfev(), False, "stopped by callback")
        # A finished start stays in the shared buffer (its result is already frozen);
        # a zero gradient keeps it from drifting far or feeding NaN to the optimizer. Written
        # to a copy: gs may be the array fun or jac returned, its own buffer.
        done = [i for i, run in enumerate(runs) if run.done]
        if done:
            gs = gs.copy()
            gs[done] = 0.0


def _check_optimizer(optimizer):
    if optimizer is None:
        return LBFGS()
    if isinstance(optimizer, (LBFGS, NewtonCG)):
        return optimizer
    if isinstance(optimizer, type):  # its step and get_config are functions still missing self
        raise TypeError(f"optimizer must be a fastgd optimizer instance, got the class {optimizer.__name__}: "
                        f"pass {optimizer.__name__}() (with its hyperparameters)")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError("optimizer must be a fastgd optimizer (an object with step(params, grads)), "
                        f"got {type(optimizer).__name__}")
    get_config = getattr(optimizer, "get_config", None)
    if callable(get_config) and get_config().get("maximize", False):
        # minimize/maximize already choose the direction; a second flip would silently
        # turn a minimization into an ascent.
        raise ValueError(f"optimizer has maximize=True ({optimizer!r}); minimize and maximize choose "
                         "the direction themselves: pass the optimizer with maximize=False and call "
                         "fastgd.maximize to ascend")
    return optimizer


def _fresh(optimizer):
    """An optimizer with the same hyperparameters and no state, leaving the user's untouched."""
    opt = copy.deepcopy(optimizer)
    if callable(getattr(opt, "reset", None)):
        opt.reset()
    return opt


def _optimize(sign, fun, x0, jac, optimizer, max_iter, tol, callback, args, vectorized,
              keep_trajectory, eps, nonfinite, hessp=None, stationary=True):
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    if not (jac is None or jac is True or callable(jac)):
        raise TypeError(f"jac must be None, True or a callable, got {jac!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    _validation.integer("max_iter", max_iter, 0)
    _validation.real("tol", tol, low=0.0)
    _validation.choice("nonfinite", nonfinite, _NONFINITE_MODES)
    vectorized = _validation.flag("vectorized", vectorized)
    keep_trajectory = _validation.flag("keep_trajectory", keep_trajectory)
    stationary = _validation.flag("stationary", stationary)
    if not isinstance(args, tuple):
        args = (args,)
    optimizer = _check_optimizer(optimizer)
    x0 = _float_vector("x0", x0, (1, 2))
    objective = _Objective(fun, jac, args, sign, x0.dtype, vectorized, eps)
    objective.hessp = _curvature.signed_hessp(hessp, args, sign)
    max_iter, tol = int(max_iter), float(tol)
    if x0.ndim == 1:
        res = _run_one(objective, x0, _fresh(optimizer), max_iter, tol, callback, keep_trajectory, nonfinite)
        return _curvature.add_stationary(res, objective, tol) if stationary else res

    if vectorized and not isinstance(optimizer, (LBFGS, NewtonCG)):
        results = _run_batch(objective, x0, _fresh(optimizer), max_iter, tol, callback,
                             keep_trajectory, nonfinite)
    else:
        results = [_run_one(objective, x0[i], _fresh(optimizer), max_iter, tol, callback,
                            keep_trajectory, nonfinite) for i in range(x0.shape[0])]
    if stationary:
        results = [_curvature.add_stationary(r, objective, tol) for r in results]
    scores = np.array([sign * r.fun for r in results])  # lower is better in the minimized sign
    scores[~np.isfinite(scores)] = np.inf
    best_index = int(np.argmin(scores))
    best = OptimizeResult(results[best_index])
    best.best_index = best_index
    best.results = results
    best.total_nfev = objective.nfev
    return best


_SHARED_DOC = """
    Parameters
    ----------
    fun : callable ``fun(x, *args)``
        The objective. Returns a float, or ``(value, grad)`` when ``jac=True``.
        ``x`` is a fresh 1-D array of ``x0``'s dtype (float64 unless ``x0`` is float32);
        with ``vectorized=True`` it is a 2-D batch ``(k, d)`` and ``fun`` returns
        ``values`` of shape ``(k,)`` (and ``grads`` ``(k, d)``).
    x0 : array_like, shape (d,) or (n_starts, d)
        Starting point; a scalar means ``d = 1``. A 2-D ``x0`` runs one independent
        descent per row (each with a fresh copy of ``optimizer``) and returns the
        best, with every start's result in ``results``.
    jac : None, True or callable, default None
        ``True``: ``fun`` returns ``(value, grad)``. A callable: ``jac(x, *args)``
        returns the gradient (``(k, d)`` when vectorized). ``None``: central
        differences, ``2·d`` extra calls of ``fun`` per gradient — slow and less
        accurate; give the gradient when you can.
    optimizer : fastgd optimizer, default ``LBFGS()``
        :class:`fastgd.LBFGS` (the default: it needs no learning rate, converges
        superlinearly on smooth deterministic objectives, and is what
        ``scipy.optimize.minimize`` users expect), :class:`fastgd.NewtonCG`
        (trust-region Newton-CG on Hessian-vector products: give ``hessp``), or any first-order optimizer of
        :mod:`fastgd.optim` (``SGD(lr=0.1)``, ``Adam(lr=1e-2)``, ...): each
        iteration is then ``optimizer.step(x, grad)`` followed by one evaluation —
        plain gradient descent with a fixed learning rate, the textbook
        method. The instance you pass is copied, never modified; its
        ``maximize`` flag must be False (the function you call sets the direction).
    max_iter : int, default 1000
        Most optimizer iterations per start.
    tol : float, default 1e-6
        Stop (``success=True``) when ``‖grad‖₂ <= tol``.
    callback : callable ``callback(xk)``, optional
        Called after every iteration with a copy of the iterate; returning True
        stops that start (``success=False``, message "stopped by callback").
    args : tuple
        Extra arguments of ``fun`` and ``jac``.
    vectorized : bool, default False
        ``fun`` (and ``jac``) accept a batch ``(k, d)``. With a 2-D ``x0`` and a
        first-order optimizer, all starts then advance together: one call of ``fun``
        per iteration for the whole batch and one optimizer step over the flat
        ``(n_starts·d)`` buffer (exact, since fastgd's first-order optimizers are
        elementwise). With L-BFGS the starts still run one after another (each has
        its own line search), calling ``fun`` with batches of one row.
    keep_trajectory : bool, default False
        Store every iterate in ``result.trajectory``.
    eps : float, optional
        Central-difference step when ``jac=None`` (see :func:`approx_grad`).
    nonfinite : {"raise", "stop"}, default "raise"
        What a non-finite value or gradient at an iterate (or, with NewtonCG, a
        non-finite Hessian-vector product) does: raise ValueError (naming the iteration
        and x), or stop that start with ``success=False`` and its last finite point. A non-finite value at ``x0`` always raises.
        L-BFGS's line search treats a non-finite trial point as too long a step and
        backtracks, so it only stops when no finite point is found along the line.

    hessp : callable ``hessp(x, v, *args)``, optional
        The exact Hessian-vector product of ``fun`` (scipy's convention): used by
        :class:`fastgd.NewtonCG` and for the eigenvalues below. Without it both use
        differences of the gradient.
    stationary : bool, default True
        Add the Hessian's eigenvalues at the solution (``hess_eigenvalues``: all of
        them for d <= 50, from d products; the 3 largest and 3 smallest by 30-step
        Lanczos otherwise) and the kind of stationary point (``stationary``:
        "minimum", "maximum", "saddle" or "degenerate"; None when the run did not
        converge or the function is not finite around the solution). These products are not
        counted in ``nfev``.

    Returns
    -------
    OptimizeResult
        ``x, fun, jac, nit, nfev, success, message, history, trajectory,
        hess_eigenvalues, stationary`` (and ``results, best_index, total_nfev`` for
        several starts).

    Raises
    ------
    TypeError
        ``fun``, ``jac``, ``callback`` or ``optimizer`` of the wrong kind, or ``fun``
        not returning a real number / a ``(value, grad)`` pair.
    ValueError
        ``x0`` not 1-D or 2-D or not finite, a gradient of the wrong shape, a
        non-finite value (see ``nonfinite``), a bad ``max_iter``/``tol``.
"""


def minimize(fun: Callable[..., Any], x0: ArrayLike, *, jac: bool | Callable[..., Any] | None = None,
             optimizer: Any = None, max_iter: int = 1000, tol: float = 1e-6,
             callback: Callable[..., Any] | None = None, args: tuple[Any, ...] = (), vectorized: bool = False,
             keep_trajectory: bool = False, eps: float | None = None, nonfinite: str = "raise",
             hessp: Callable[..., Any] | None = None, stationary: bool = True) -> OptimizeResult:
    return _optimize(1.0, fun, x0, jac, optimizer, max_iter, tol, callback, args, vectorized,
                     keep_trajectory, eps, nonfinite, hessp, stationary)


def maximize(fun: Callable[..., Any], x0: ArrayLike, *, jac: bool | Callable[..., Any] | None = None,
             optimizer: Any = None, max_iter: int = 1000, tol: float = 1e-6,
             callback: Callable[..., Any] | None = None, args: tuple[Any, ...] = (), vectorized: bool = False,
             keep_trajectory: bool = False, eps: float | None = None, nonfinite: str = "raise",
             hessp: Callable[..., Any] | None = None, stationary: bool = True) -> OptimizeResult:
    return _optimize(-1.0, fun, x0, jac, optimizer, max_iter, tol, callback, args, vectorized,
                     keep_trajectory, eps, nonfinite, hessp, stationary)


minimize.__doc__ = """Minimize ``fun`` from ``x0`` by gradient descent (L-BFGS by default).

    Example
    -------
    >>> import numpy as np, fastgd
    >>> res = fastgd.minimize(lambda x: ((x - 3.0) ** 2).sum(), np.zeros(2))
    >>> np.round(res.x, 6)
    array([3., 3.])
""" + _SHARED_DOC

maximize.__doc__ = """Maximize ``fun`` from ``x0`` by gradient ascent.

    Equivalent to minimizing ``-fun`` (the optimizer sees the negated value and
    gradient), but every reported number — ``fun``, ``jac``, ``history`` — is of
    ``fun`` itself, and with several starts the best is the highest.

    Example
    -------
    >>> import numpy as np, fastgd
    >>> res = fastgd.maximize(lambda x: 25 * np.sin(x[0]) - x[0] ** 2, -2.0)
    >>> round(float(res.x[0]), 3), round(res.fun, 3)
    (-4.356, 4.454)
""" + _SHARED_DOC
