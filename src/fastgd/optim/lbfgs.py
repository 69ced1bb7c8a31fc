"""L-BFGS: limited-memory quasi-Newton iterations with the Moré–Thuente line search.

One driver, in C (:class:`fastgd._core.LBFGSDriver`), runs every L-BFGS iteration in fastgd:
the quasi-Newton direction ``-H·g`` from the compact form of the inverse Hessian approximation
(Byrd, Nocedal & Schnabel, Math. Programming 63, 1994; the same matrix as the two-loop
recursion of Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.4, in two sweeps
over the history) over a ring of curvature pairs (:class:`fastgd._core.LBFGSMemory`), a step
length from the line search of Moré & Thuente (ACM TOMS 20(3), 1994), which satisfies the
strong Wolfe conditions, and the stopping rules of L-BFGS-B (Byrd, Lu, Nocedal & Zhu, SIAM J.
Sci. Comput. 16(5), 1995). The driver never calls the objective: it asks for evaluations
(reverse communication), and :func:`drive` below is the one loop that answers.

* :class:`LBFGS` is the optimizer object: ``step(closure, params)`` performs one iteration,
  as ``torch.optim.LBFGS`` takes a closure::

      opt = fastgd.LBFGS()
      def closure(params):           # evaluates at the current content of params
          loss, grads = ...
          return loss, grads
      for _ in range(100):
          loss = opt.step(closure, params)   # params updated in place

* :func:`lbfgsb` runs to convergence with the options, iteration and evaluation counts,
  stopping rules and messages of ``scipy.optimize.minimize(method="L-BFGS-B")`` without
  bounds (what scikit-learn's ``solver="lbfgs"`` calls).
"""

from __future__ import annotations

import math

import numpy as np

from fastgd import _core, _validation

__all__ = ["LBFGS", "lbfgsb"]

_LINE_SEARCHES = ("strong_wolfe", None)
_MAX_LS_MAX = 2**63 - 1  # the C driver counts a line search's trial points in an int64_t
_EVALUATE, _NEW_X = _core.LBFGS_EVALUATE, _core.LBFGS_NEW_X


def drive(driver, evaluate, task, max_iter, max_fun=math.inf):
    """The reverse-communication loop of an :class:`fastgd._core.LBFGSDriver`: answer its
    evaluation requests with ``evaluate()`` (value at ``driver.x``, gradient written into
    ``driver.g``) and count accepted iterations, until the driver stops or ``max_iter``
    iterations are done or, at the end of an iteration, more than ``max_fun`` evaluations were
    made (the order in which L-BFGS-B checks them). Returns ``(task, iterations, limit)`` with
    ``limit`` "max_iter", "max_fun" or None."""
    iterations = 0
    while True:
        if task == _EVALUATE:
            task = driver.advance(evaluate())
        elif task == _NEW_X:
            iterations += 1
            if iterations >= max_iter:
                return task, iterations, "max_iter"
            if driver.nfev > max_fun:
                return task, iterations, "max_fun"
            task = driver.advance(0.0)
        else:
            return task, iterations, None


class LBFGSBResult(dict):
    """What :func:`lbfgsb` returns, with the fields (and attribute access) of SciPy's
    OptimizeResult for ``method="L-BFGS-B"``: ``fun``, ``nit``, ``nfev``, ``status`` (0
    converged, 1 an iteration or evaluation limit, 2 the line search failed), ``success`` and
    ``message`` (SciPy's texts)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


_STOP_MESSAGES = {
    _core.LBFGS_CONVERGED_GRADIENT: "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
    _core.LBFGS_CONVERGED_REDUCTION: "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
    "max_iter": "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    "max_fun": "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
    _core.LBFGS_LINE_SEARCH_FAILED: "ABNORMAL: ",
}


def lbfgsb(objective, x, g, *, history_size=10, max_iter=15000, max_fun=15000, gtol=1e-5,
           ftol=2.220446049250313e-09, max_line_search=20):
    """Minimize from ``x`` (updated in place) as ``scipy.optimize.minimize(fun, x,
    method="L-BFGS-B", jac=True, options=...)`` does without bounds: the same iterations (to
    rounding: the direction comes from the compact form of H, L-BFGS-B's from that of B, equal
    in exact arithmetic), the same counting of ``nit`` and ``nfev``, the same stops.

    Parameters
    ----------
    objective : callable ``objective(x, g) -> float``
        The value at the current content of ``x``; writes the gradient into ``g``.
    x, g : ndarray (n,), float64 or float32, C-contiguous, writeable, not overlapping
    history_size : int, SciPy's ``maxcor``
    max_iter, max_fun : int, SciPy's ``maxiter`` and ``maxfun`` (evaluations are checked at the
        end of each iteration, so a run may exceed ``max_fun`` by the last line search)
    gtol : float, stop when ``max |g_i| <= gtol``
    ftol : float, stop when ``(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol``
    max_line_search : int, SciPy's ``maxls``

    Returns
    -------
    LBFGSBResult
    """
    if not callable(objective):
        raise TypeError(f"objective must be callable objective(x, g) -> float, got {type(objective).__name__}")
    _check_point("x", x)
    _check_point("g", g)
    history_size = _validation.integer("history_size", history_size, 1)
    max_iter = _validation.integer("max_iter", max_iter, 1)
    max_fun = _validation.integer("max_fun", max_fun, 1)
    gtol = _validation.real("gtol", gtol, low=0.0)
    ftol = _validation.real("ftol", ftol, low=0.0)
    max_line_search = _validation.integer("max_line_search", max_line_search, 1, maximum=_MAX_LS_MAX)

    def evaluate():
        return _validation.returned_real("objective", objective(x, g))

    memory = _core.LBFGSMemory(x.shape[0], history_size, x.dtype)
    eps = np.finfo(np.float64).eps
    driver = _core.LBFGSDriver(memory, x, g, pgtol=gtol, rel_reduction=eps * (ftol / eps),
                               max_line_search=max_line_search)
    task, nit, limit = drive(driver, evaluate, driver.advance(evaluate()), max_iter, max_fun)
    if task in (_core.LBFGS_CONVERGED_GRADIENT, _core.LBFGS_CONVERGED_REDUCTION):
        status = 0
    elif driver.nfev > max_fun or nit >= max_iter:
        status = 1
    else:
        status = 2
    return LBFGSBResult(fun=float(driver.f), nit=nit, nfev=driver.nfev, status=status, success=status == 0,
                        message=_STOP_MESSAGES[limit if limit is not None else task])


def _check_point(name, a):
    """Refuse ``a`` unless it is a point (or gradient) the driver can update in place: a
    non-empty, 1-D, C-contiguous, writeable float32 or float64 ndarray."""
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a numpy.ndarray of float32 or float64, "
                        f"got {getattr(a, 'dtype', type(a).__name__)}")
    faults = [fault for fault, present in (("empty", a.size == 0), (f"{a.ndim}-D", a.ndim != 1),
                                           ("not C-contiguous", not a.flags.c_contiguous),
                                           ("read-only", not a.flags.writeable)) if present]
    if faults:
        raise ValueError(f"{name} must be non-empty, 1-D, C-contiguous and writeable, got an array of shape "
                         f"{a.shape}: {', '.join(faults)}")


def _call_closure(optimizer, closure, params):
    """closure(params), checked and counted in optimizer.last_nfev: (value, gradient array of
    params' shape, not copied)."""
    result = closure(params)
    optimizer.last_nfev += 1
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError("closure must return a (loss, grads) tuple, "
                        f"got {type(result).__name__}")
    loss, grads = result
    f = _validation.returned_real("closure", loss)
    grads = _validation.real_array("closure's grads", grads)
    if grads.shape != params.shape:
        raise ValueError(f"closure returned grads of shape {grads.shape}, expected {params.shape} "
                         "(the shape of params)")
    return f, grads


def _check_start(f, grads):
    """Refuse a starting point where the closure's value or gradient is not finite: no step
    can be taken from it (a line search along a NaN direction only fails)."""
    if not math.isfinite(f):
        raise ValueError(f"closure returned a non-finite loss ({f}) at the starting point")
    bad = ~np.isfinite(grads)
    if bad.any():
        raise ValueError(f"closure returned a non-finite gradient ({np.count_nonzero(bad)} of {grads.size} entries, "
                         f"{grads[bad][0]}) at the starting point")


class LBFGS:
    r"""Limited-memory BFGS with the Moré–Thuente line search.

    Each :meth:`step` computes the quasi-Newton direction
    :math:`d = -H_k g_k` (in the compact form, equal to the two-loop recursion) over the last
    ``history_size`` curvature pairs :math:`s_i = x_{i+1} - x_i`,
    :math:`y_i = g_{i+1} - g_i` with :math:`H_0 = \gamma I`,
    :math:`\gamma = s^\top y / y^\top y` of the newest pair, then moves
    :math:`x \leftarrow x + t\,d`. With ``line_search="strong_wolfe"`` the step
    length ``t`` (first trial ``lr``; ``lr·min(1, 1/‖g‖₁)`` on the first step,
    when there is no curvature information yet) comes from the Moré–Thuente search and
    satisfies

    .. math::
        f(x + t d) \le f(x) + c_1 t\, g^\top d, \qquad
        |\nabla f(x + t d)^\top d| \le c_2 |g^\top d|

    unless the search interval shrinks below rounding first. A pair is stored only when
    :math:`s^\top y > \epsilon\, t\, |g^\top d|` (:math:`\epsilon` the dtype's machine
    epsilon, the rule of L-BFGS-B), which keeps :math:`H` positive definite. With
    ``line_search=None`` the step is the fixed ``t = lr`` (as ``torch.optim.LBFGS`` without
    line search).

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
    performs up to ``max_iter`` per call); :func:`fastgd.minimize` loops over it. The
    iteration runs in the C driver shared with :func:`lbfgsb` (scikit-learn's solver) and
    full-batch ``fit``. Trial points where the objective is not finite are treated as too
    long a step: the search halves the way back and never goes that far again. When a line
    search fails with curvature pairs, they are dropped and the search is repeated along
    ``-g``. The state (history, last point, value and gradient) is kept between calls; when
    ``params`` no longer hold the last accepted point the objective is re-evaluated first.
    Dot products run in double in a fixed order: results are bit-identical for any thread
    count.

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
        (no step satisfied the conditions within ``max_ls`` evaluations, even along
        ``-g``; ``params`` are left at the last accepted point).
    """

    def __init__(self, *, lr: float = 1.0, history_size: int = 10, line_search: str | None = "strong_wolfe",
                 c1: float = 1e-4, c2: float = 0.9, max_ls: int = 25) -> None:
        self.lr = lr
        self.history_size = _validation.integer("history_size", history_size, 1)
        self.line_search, self.c1, self.c2, self.max_ls = line_search, c1, c2, max_ls
        self._check_search()
        self.reset()

    def _check_search(self):
        """Check the line search's settings, in the constructor and again before a driver is
        built from them (one may have been set since)."""
        _validation.choice("line_search", self.line_search, _LINE_SEARCHES)
        self.c1 = _validation.real("c1", self.c1, low=0.0, low_open=True, high=1.0, high_open=True)
        self.c2 = _validation.real("c2", self.c2, low=0.0, low_open=True, high=1.0, high_open=True)
        if not self.c1 < self.c2:
            raise ValueError(f"c1 must be < c2, got c1={self.c1}, c2={self.c2}")
        self.max_ls = _validation.integer("max_ls", self.max_ls, 1, maximum=_MAX_LS_MAX)

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _validation.real("lr", value, low=0.0, low_open=True)

    def __repr__(self):
        return (f"LBFGS(lr={self.lr}, history_size={self.history_size}, line_search={self.line_search!r}, "
                f"c1={self.c1}, c2={self.c2}, max_ls={self.max_ls})")

    def get_config(self):
        """The constructor arguments, as a dict (``LBFGS(**config)`` rebuilds it)."""
        return {"name": "lbfgs", "lr": self.lr, "history_size": self.history_size,
                "line_search": self.line_search, "c1": self.c1, "c2": self.c2, "max_ls": self.max_ls}

    def __reduce__(self):
        # The C driver holds pointers into the history's buffers and cannot be pickled: a copy
        # (pickle, copy.deepcopy) is rebuilt from the configuration and the state, as
        # load_checkpoint does, and takes the same next steps bit for bit. Both go through the
        # constructor's and load_state_dict's checks (NewtonCG is pickled so too).
        return _restore, (self.get_config(), self.state_dict())

    # ---- state -------------------------------------------------------------

    def reset(self):
        """Forget the history and the cached point; the next step starts afresh."""
        self._memory = None
        self._driver = None
        self._gbuf = None
        self._x = self._f = self._g = None
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
        """Restore what :meth:`state_dict` returned; a refused state leaves the optimizer as it was."""
        with _validation.unchanged_if_refused(self):  # reset and each step below rebind what they change
            self._load_state_dict(state)

    def _load_state_dict(self, state):
        _validation.state("state", state, ("memory", "n_iter", "x", "f", "grad"))
        self.reset()
        if state["memory"] is None:
            return
        memory = _validation.state("state['memory']", state["memory"],
                                   ("s_hist", "y_hist", "rho", "count", "newest", "gamma"))
        s_hist = _validation.real_array("state['memory']['s_hist']", memory["s_hist"])
        if s_hist.ndim != 2 or s_hist.shape[0] != self.history_size + 1:
            raise ValueError(f"state has history_size {s_hist.shape[0] - 1 if s_hist.ndim else None}, "
                             f"this optimizer {self.history_size}")
        # the y's are stored as the s's are: a cast to s_hist's dtype could overflow them
        y_hist = _validation.real_array("state['memory']['y_hist']", memory["y_hist"])
        if y_hist.dtype != s_hist.dtype or y_hist.shape != s_hist.shape:
            raise ValueError(f"state['memory']['y_hist'] must be {s_hist.shape} {s_hist.dtype} as s_hist is, "
                             f"got {y_hist.shape} {y_hist.dtype}")
        # the pairs kept have sᵀy > 0 (rho = 1 / sᵀy, 0 in an empty slot) and gamma = sᵀy / yᵀy
        for key in ("s_hist", "y_hist", "rho"):
            _validation.finite(f"state['memory'][{key!r}]", _validation.real_array(f"state['memory'][{key!r}]",
                                                                                   memory[key]))
        rho = np.asarray(memory["rho"])
        negative = np.flatnonzero(rho.reshape(-1) < 0)
        if negative.size:
            i = int(negative[0])
            raise ValueError(f"state['memory']['rho'] must be >= 0 (1 / sᵀy of each pair kept), got "
                             f"{rho.reshape(-1)[i]} at index {i}")
        _validation.real("state['memory']['gamma']", memory["gamma"], low=0.0, low_open=True)
        self._memory = _core.LBFGSMemory(s_hist.shape[1], self.history_size, s_hist.dtype)
        self._memory.set_state(memory)
        self.n_iter = _validation.integer("state['n_iter']", state["n_iter"], 0,
                                          maximum=_validation.MAX_RESTORED_COUNT)
        if state["x"] is not None:
            n = s_hist.shape[1]
            self._x = _validation.vector("state['x']", state["x"], n, s_hist.dtype)
            self._g = _validation.vector("state['grad']", state["grad"], n, s_hist.dtype)
            self._f = _validation.real("state['f']", state["f"])

    # ---- the step ----------------------------------------------------------

    @property
    def grad(self):
        """The gradient at the last accepted point (a buffer owned by the optimizer, overwritten
        by the next step), or None."""
        return self._g

    @property
    def loss(self):
        """The objective at the last accepted point, or None."""
        return self._f

    def _evaluate(self, closure, params):
        """(value, a copy of the gradient in params' dtype) at params."""
        f, grads = _call_closure(self, closure, params)
        return f, np.array(grads, dtype=params.dtype)

    def _evaluate_into(self, closure, params):
        """The value at params; the gradient goes into the driver's gradient buffer."""
        f, grads = _call_closure(self, closure, params)
        if grads is not self._gbuf:
            np.copyto(self._gbuf, grads, casting="unsafe")
        return f

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
        _check_point("params", params)
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

    def _driver_for(self, params):
        """The driver over params (built again when params is another array or a setting it
        holds changed: lr, c1, c2, max_ls, line_search)."""
        if self._memory is None:
            self._memory = _core.LBFGSMemory(params.shape[0], self.history_size, params.dtype)
        if self._gbuf is None:
            self._gbuf = np.zeros(params.shape[0], params.dtype)
        driver = self._driver
        key = (self.lr, self.c1, self.c2, self.max_ls, self.line_search)
        if driver is None or driver.x is not params or self._driver_key != key:
            self._check_search()
            driver = self._driver = _core.LBFGSDriver(
                self._memory, params, self._gbuf, ftol=self.c1, gtol=self.c2, step_scale=self.lr,
                first_step="inv_norm1", max_line_search=self.max_ls, line_search=self.line_search is not None)
            self._driver_key = key
        return driver

    def _step(self, closure, params, evaluate_first):
        """step() without the argument checks, for callers that own params (minimize)."""
        # a second thread stepping this optimizer would mix its points into this run's history
        _core.claim_optimizer(self)
        try:
            return self._iterate(closure, params, evaluate_first)
        finally:
            _core.release_optimizer(self)

    def _iterate(self, closure, params, evaluate_first):
        """The body of :meth:`_step`, the optimizer claimed."""
        driver = self._driver_for(params)
        self.last_nfev = 0
        self.last_status = "ok"
        if evaluate_first:
            driver.resume(self.n_iter)
            f = self._evaluate_into(closure, params)
            _check_start(f, self._gbuf)
        else:
            if self._g is not self._gbuf:
                self._gbuf[...] = self._g
            driver.resume(self.n_iter, self._f)
            f = 0.0
        task, iterations, _limit = drive(driver, lambda: self._evaluate_into(closure, params), driver.advance(f), 1)
        self._g = self._gbuf
        self._f = float(driver.f)
        if task == _NEW_X:
            self.n_iter += 1
        elif task == _core.LBFGS_LINE_SEARCH_FAILED:
            self.last_status = "line search failed"
        else:
            self.last_status = "converged"
        if self._x is None or self._x.shape != params.shape:
            self._x = params.copy()
        else:
            self._x[...] = params
        return self._f


def _restore(config, state):
    """Rebuild an LBFGS (or a NewtonCG, by its config's name) pickled by LBFGS.__reduce__."""
    from fastgd.optim.newton_cg import NewtonCG

    cls = NewtonCG if config.get("name") == "newton_cg" else LBFGS
    optimizer = cls(**{k: v for k, v in config.items() if k != "name"})
    optimizer.load_state_dict(state)
    return optimizer
