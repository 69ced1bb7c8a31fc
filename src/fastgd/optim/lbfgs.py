"""L-BFGS: limited-memory quasi-Newton steps with a strong Wolfe line search.

The search direction comes from the two-loop recursion (Nocedal & Wright,
*Numerical Optimization*, 2nd ed., Algorithm 7.4), run in C over flat buffers; the curvature pairs live in a ring buffer
(:class:`fastgd._core.LBFGSMemory`). The step length comes from a line search satisfying
the strong Wolfe conditions (Algorithms 3.5 and 3.6 of the same book) with
safeguarded cubic interpolation.

Unlike the first-order optimizers of :mod:`fastgd.optim` (``step(params,
grads)``), L-BFGS needs to evaluate the objective several times per step, so
its step takes a *closure*, as ``torch.optim.LBFGS`` does::

    opt = fastgd.LBFGS()
    def closure(params):           # evaluates at the current content of params
        loss, grads = ...
        return loss, grads
    for _ in range(100):
        loss = opt.step(closure, params)   # params updated in place
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastgd import _core

__all__ = ["LBFGS"]

_LINE_SEARCHES = ("strong_wolfe", None)


class _Point:
    """One evaluation along the search line: step t, value, directional derivative, gradient."""

    __slots__ = ("t", "f", "dphi", "grad")

    def __init__(self, t, f, dphi, grad):
        self.t, self.f, self.dphi, self.grad = t, f, dphi, grad


def _cubic_minimizer(a: _Point, b: _Point, low: float, high: float) -> float:
    """Minimizer of the cubic through (a.t, a.f, a.dphi), (b.t, b.f, b.dphi), clamped
    to [low, high]; the midpoint when the cubic has no usable minimizer
    (Nocedal & Wright eq. 3.59)."""
    if not (math.isfinite(a.f) and math.isfinite(b.f) and math.isfinite(a.dphi) and math.isfinite(b.dphi)):
        return 0.5 * (low + high)
    if a.t == b.t:
        return 0.5 * (low + high)
    d1 = a.dphi + b.dphi - 3.0 * (a.f - b.f) / (a.t - b.t)
    radicand = d1 * d1 - a.dphi * b.dphi
    if radicand < 0.0:
        return 0.5 * (low + high)
    d2 = math.copysign(math.sqrt(radicand), b.t - a.t)
    denominator = b.dphi - a.dphi + 2.0 * d2
    if denominator == 0.0:
        return 0.5 * (low + high)
    t = b.t - (b.t - a.t) * (b.dphi + d2 - d1) / denominator
    if not math.isfinite(t):
        return 0.5 * (low + high)
    return min(max(t, low), high)


def _check_positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _check_real(name, value, low=None, high=None, low_open=True):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value >= high:
        raise ValueError(f"{name} must be < {high}, got {value}")
    return value


class LBFGS:
    r"""Limited-memory BFGS with a strong Wolfe line search.

    Each :meth:`step` computes the quasi-Newton direction
    :math:`d = -H_k g_k` by the two-loop recursion over the last
    ``history_size`` curvature pairs :math:`s_i = x_{i+1} - x_i`,
    :math:`y_i = g_{i+1} - g_i` with :math:`H_0 = \gamma I`,
    :math:`\gamma = s^\top y / y^\top y` of the newest pair, then moves
    :math:`x \leftarrow x + t\,d`. With ``line_search="strong_wolfe"`` the step
    length ``t`` (first trial ``lr``; ``lr·min(1, 1/‖g‖₁)`` on the first step,
    when there is no curvature information yet) satisfies

    .. math::
        f(x + t d) \le f(x) + c_1 t\, g^\top d, \qquad
        |\nabla f(x + t d)^\top d| \le c_2 |g^\top d|.

    A pair is stored only when :math:`s^\top y > \epsilon\, y^\top y`
    (:math:`\epsilon` the dtype's machine epsilon), which keeps :math:`H`
    positive definite. With ``line_search=None`` the step is the fixed ``t = lr``
    (as ``torch.optim.LBFGS`` without line search).

    Parameters
    ----------
    lr : float, default 1.0
        First trial step length (1 is the natural quasi-Newton step).
    history_size : int, default 10
        Number of curvature pairs kept (memory: ``2 * (history_size + 1) * n`` values).
    line_search : {"strong_wolfe", None}, default "strong_wolfe"
    c1, c2 : float, defaults 1e-4 and 0.9
        Sufficient-decrease and curvature constants, ``0 < c1 < c2 < 1``.
    max_ls : int, default 25
        Most objective evaluations one line search may use.

    Notes
    -----
    ``step(closure, params)`` performs ONE L-BFGS iteration (``torch.optim.LBFGS``
    performs up to ``max_iter`` per call); :func:`fastgd.minimize` loops over it.
    Trial points where the objective is not finite are treated as too long a step
    and the line search backtracks. The state (history, last point, value and
    gradient) is kept between calls; when ``params`` no longer hold the last
    accepted point the objective is re-evaluated first. The two-loop recursion's
    dot products run in double in a fixed order: results are bit-identical for
    any thread count.

    Attributes
    ----------
    loss, grad : float, ndarray
        Value and gradient at the last accepted point (None before the first step).
    n_iter : int
        Accepted steps since construction or :meth:`reset`.
    last_nfev : int
        Objective evaluations made by the last :meth:`step`.
    last_status : str
        ``"ok"``, ``"converged"`` (zero gradient, no move) or ``"line search failed"``
        (no step satisfied the conditions within ``max_ls`` evaluations; ``params``
        are left at the last accepted point).
    """

    def __init__(self, *, lr: float = 1.0, history_size: int = 10, line_search: str | None = "strong_wolfe",
                 c1: float = 1e-4, c2: float = 0.9, max_ls: int = 25) -> None:
        self.lr = lr
        self.history_size = _check_positive_int("history_size", history_size)
        if line_search not in _LINE_SEARCHES:
            raise ValueError(f"line_search must be 'strong_wolfe' or None, got {line_search!r}")
        self.line_search = line_search
        self.c1 = _check_real("c1", c1, 0.0, 1.0)
        self.c2 = _check_real("c2", c2, 0.0, 1.0)
        if not self.c1 < self.c2:
            raise ValueError(f"c1 must be < c2, got c1={self.c1}, c2={self.c2}")
        self.max_ls = _check_positive_int("max_ls", max_ls)
        self.reset()

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _check_real("lr", value, 0.0)

    def __repr__(self):
        return (f"LBFGS(lr={self.lr}, history_size={self.history_size}, line_search={self.line_search!r}, "
                f"c1={self.c1}, c2={self.c2}, max_ls={self.max_ls})")

    def get_config(self):
        """The constructor arguments, as a dict (``LBFGS(**config)`` rebuilds it)."""
        return {"name": "lbfgs", "lr": self.lr, "history_size": self.history_size,
                "line_search": self.line_search, "c1": self.c1, "c2": self.c2, "max_ls": self.max_ls}

    # ---- state -------------------------------------------------------------

    def reset(self):
        """Forget the history and the cached point; the next step starts afresh."""
        self._memory = None
        self._x = self._f = self._g = None
        self._last_t = None
        self.n_iter = 0
        self.last_nfev = 0
        self.last_status = "ok"

    def state_dict(self):
        """The history buffers, the last accepted point with its value and gradient, and the counters (copies)."""
        return {"config": self.get_config(), "n_iter": self.n_iter,
                "memory": None if self._memory is None else self._memory.get_state(),
                "x": None if self._x is None else self._x.copy(), "f": self._f,
                "grad": None if self._g is None else self._g.copy()}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.reset()
        if state["memory"] is None:
            return
        s_hist = np.asarray(state["memory"]["s_hist"])
        if s_hist.shape[0] != self.history_size + 1:
            raise ValueError(f"state has history_size {s_hist.shape[0] - 1}, this optimizer {self.history_size}")
        self._memory = _core.LBFGSMemory(s_hist.shape[1], self.history_size, s_hist.dtype)
        self._memory.set_state(state["memory"])
        self.n_iter = int(state["n_iter"])
        if state["x"] is not None:
            self._x = np.array(state["x"], dtype=s_hist.dtype)
            self._g = np.array(state["grad"], dtype=s_hist.dtype)
            self._f = float(state["f"])

    # ---- the step ----------------------------------------------------------

    @property
    def grad(self):
        """The gradient at the last accepted point (a copy owned by the optimizer), or None."""
        return self._g

    @property
    def loss(self):
        """The objective at the last accepted point, or None."""
        return self._f

    def _evaluate(self, closure, params):
        result = closure(params)
        self.last_nfev += 1
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError("closure must return a (loss, grads) tuple, "
                            f"got {type(result).__name__}")
        loss, grads = result
        try:
            f = float(loss)
        except (TypeError, ValueError):
            raise TypeError(f"closure must return a real loss, got {type(loss).__name__}") from None
        grads = np.asarray(grads)
        if grads.shape != params.shape:
            raise ValueError(f"closure returned grads of shape {grads.shape}, expected {params.shape} "
                             "(the shape of params)")
        return f, np.array(grads, dtype=params.dtype)

    def step(self, closure, params):
        """One L-BFGS iteration, in place on ``params``.

        Parameters
        ----------
        closure : callable ``closure(params) -> (loss, grads)``
            Evaluates the objective and its gradient at the current content of
            ``params`` (the optimizer writes each trial point into ``params``
            before calling it). ``grads`` must have the shape of ``params``; it is
            copied, so the closure may reuse one buffer.
        params : ndarray, 1-D, float32 or float64, C-contiguous, writeable
            The point, updated in place to the accepted one.

        Returns
        -------
        float
            The objective at the new point.
        """
        if not callable(closure):
            raise TypeError(f"closure must be callable, got {type(closure).__name__}")
        if not isinstance(params, np.ndarray) or params.dtype not in (np.float32, np.float64):
            raise TypeError("params must be a numpy.ndarray of float32 or float64, "
                            f"got {getattr(params, 'dtype', type(params).__name__)}")
        if params.ndim != 1 or not params.flags.c_contiguous or not params.flags.writeable:
            raise ValueError(f"params must be 1-D, C-contiguous and writeable, got shape {params.shape}")
        if params.shape[0] == 0:
            raise ValueError("params must have at least one element")
        memory = self._memory
        if memory is not None and (params.shape[0] != memory.n or params.dtype != memory.dtype):
            raise ValueError(f"params have {params.shape[0]} elements of {params.dtype}, the state was "
                             f"built for {memory.n} of {memory.dtype}; call reset() to start over")
        # The cached value and gradient belong to the last accepted point; anything
        # else (first call, params changed by the caller) is evaluated afresh.
        stale = self._x is None or not np.array_equal(params, self._x)
        return self._step(closure, params, stale)

    def _set_point(self, params, f, g):
        """Tell the optimizer the value and gradient at params (a caller that has them already)."""
        self._x, self._f, self._g = params.copy(), float(f), np.array(g, dtype=params.dtype)

    def _step(self, closure, params, evaluate_first):
        """step() without the argument checks, for callers that own params (minimize)."""
        if self._memory is None:
            self._memory = _core.LBFGSMemory(params.shape[0], self.history_size, params.dtype)
        memory = self._memory
        self.last_nfev = 0
        self.last_status = "ok"
        if evaluate_first:
            self._f, self._g = self._evaluate(closure, params)
            self._x = params.copy()
        if not math.isfinite(self._f):
            raise ValueError(f"closure returned a non-finite loss ({self._f}) at the starting point")

        g = self._g
        d = memory.compute_direction(g)
        gtd = float(np.dot(g, d))
        first = memory.count == 0
        if not gtd < 0.0 and not first:
            # The direction lost descent (round-off in a stale history): restart
            # from steepest descent.
            memory.reset()
            d = memory.compute_direction(g)
            gtd = float(np.dot(g, d))
            first = True
        if gtd == 0.0:
            self.last_status = "converged"
            return self._f
        t0 = self.lr * min(1.0, 1.0 / float(np.abs(g).sum())) if first else self.lr

        if self.line_search is None:
            point = self._point(closure, params, t0)
            ok = math.isfinite(point.f)
        else:
            point = self._strong_wolfe(closure, params, t0, gtd)
            ok = point is not None
            if ok and point.t != self._last_t:  # the search ended on an earlier trial point
                np.multiply(d, point.t, out=params)
                params += self._x
        if not ok:
            params[...] = self._x
            self.last_status = "line search failed"
            return self._f
        memory.push(params, self._x, point.grad, self._g)
        self._x[...] = params
        self._f, self._g = point.f, point.grad
        self.n_iter += 1
        return self._f

    def _point(self, closure, params, t):
        """Evaluate at x + t·d (written into params)."""
        d = self._memory.direction
        np.multiply(d, t, out=params)
        params += self._x
        self._last_t = t
        f, g = self._evaluate(closure, params)
        dphi = float(np.dot(g, d)) if math.isfinite(f) else math.nan
        return _Point(t, f, dphi, g)

    def _strong_wolfe(self, closure, params, t, gtd0):
        """A step satisfying the strong Wolfe conditions (N&W Algorithm 3.5), or the
        best sufficient-decrease point found, or None."""
        f0, c1, c2 = self._f, self.c1, self.c2
        start = _Point(0.0, f0, gtd0, self._g)
        previous = start
        evaluations = 0
        while evaluations < self.max_ls:
            current = self._point(closure, params, t)
            evaluations += 1
            if (not math.isfinite(current.f) or current.f > f0 + c1 * t * gtd0
                    or (previous is not start and current.f >= previous.f)):
                return self._zoom(closure, params, previous, current, gtd0, evaluations)
            if abs(current.dphi) <= -c2 * gtd0:
                return current
            if current.dphi >= 0.0:
                return self._zoom(closure, params, current, previous, gtd0, evaluations)
            # Still descending at t: extrapolate, at least 1% further and at most 10×.
            t_next = _cubic_minimizer(previous, current, t + 0.01 * (t - previous.t), 10.0 * t)
            previous, t = current, t_next
        return previous if previous is not start else None

    def _zoom(self, closure, params, low, high, gtd0, evaluations):
        """Shrink the bracket [low, high] until a strong Wolfe point is found (N&W
        Algorithm 3.6). Invariant: `low` satisfies sufficient decrease and has the
        lowest value seen; the minimizer lies between low.t and high.t."""
        f0, c1, c2 = self._f, self.c1, self.c2
        while evaluations < self.max_ls:
            a, b = sorted((low.t, high.t))
            width = b - a
            if width * float(np.abs(self._memory.direction).max()) <= np.finfo(params.dtype).eps * (
                    1.0 + float(np.abs(self._x).max())):
                break  # the bracket no longer changes x
            t = _cubic_minimizer(low, high, a, b)
            if t < a + 0.1 * width or t > b - 0.1 * width:
                t = 0.5 * (a + b)  # safeguard: interpolation too close to an end
            current = self._point(closure, params, t)
            evaluations += 1
            if not math.isfinite(current.f) or current.f > f0 + c1 * t * gtd0 or current.f >= low.f:
                high = current
            else:
                if abs(current.dphi) <= -c2 * gtd0:
                    return current
                if current.dphi * (high.t - low.t) >= 0.0:
                    high = low
                low = current
        return low if low.t > 0.0 else None
