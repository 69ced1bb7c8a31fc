"""Learning-rate schedules: objects that set ``optimizer.lr`` as training advances.

A schedule is driven by whoever runs the loop: the fit loop calls ``step()`` after every epoch
(``interval="epoch"``, the default) or after every optimizer update (``interval="step"``), and a
user can drive one by hand the same way. ``ReduceLROnPlateau.step(metric)`` takes the monitored
value (``needs_metric`` is True). t below counts the ``step()`` calls so far; the learning rate
for t = 0 is set when the schedule is created. η₀ is the optimizer's lr at that moment.

Each schedule matches a ``torch.optim.lr_scheduler`` equivalent (named in its docstring).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastgd import _validation
from fastgd._validation import choice as _choice
from fastgd._validation import integer as _count
from fastgd._validation import real as _real
from fastgd.optim.optimizers import Optimizer

__all__ = ["Schedule", "StepDecay", "ExponentialDecay", "InverseTimeDecay", "CosineDecay",
           "ReduceLROnPlateau", "from_config"]

_INTERVALS = ("epoch", "step")


def _steps(name, value, minimum):
    """A count of steps that the learning rate is computed from in floating point, where an
    integer past the float64 range raised a bare OverflowError: at most
    _validation.MAX_RESTORED_COUNT, named otherwise."""
    return _count(name, value, minimum, maximum=_validation.MAX_RESTORED_COUNT)


class Schedule:
    """Base class: ``lr_at(t)`` gives the learning rate after t calls of ``step()``."""

    name = "schedule"
    needs_metric = False

    def __init__(self, optimizer: Optimizer, *, interval: str = "epoch") -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastgd.optim.Optimizer, got {type(optimizer).__name__}")
        _choice("interval", interval, _INTERVALS)
        self.optimizer = optimizer
        self.interval = interval
        self.base_lr = optimizer.lr
        self.last_step = 0
        self._apply()

    def lr_at(self, t: int) -> float:
        """The learning rate after t (an integer >= 0) calls of ``step()``."""
        return self._lr(_count("t", t, 0))

    def _lr(self, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self):
        lr = self.lr_at(self.last_step)
        if not math.isfinite(lr):
            raise ValueError(f"{type(self).__name__}'s learning rate overflows at step {self.last_step} "
                             f"({self!r} grows it without bound)")
        self.optimizer.lr = lr

    def step(self):
        """Advance by one epoch (or update, with ``interval="step"``) and set the optimizer's lr."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> float:
        """The learning rate the schedule last set."""
        return self.optimizer.lr

    def _params(self) -> dict:
        return {}

    def get_config(self) -> dict:
        return {"name": self.name, "interval": self.interval, **self._params()}

    def state_dict(self) -> dict:
        return {"name": self.name, "base_lr": self.base_lr, "last_step": self.last_step}

    def __reduce__(self):
        # A copy (pickle, copy.deepcopy) is rebuilt on its optimizer from the configuration and
        # the state, as load_checkpoint does, through the checks of both
        return _restore, (self.optimizer, self.get_config(), self.state_dict())

    def load_state_dict(self, state: dict):
        """Restore what :meth:`state_dict` returned and set the optimizer's lr accordingly; a
        refused state leaves the schedule and the optimizer's lr as they were."""
        lr = self.optimizer.lr
        with _validation.unchanged_if_refused(self):
            try:
                self._load_state_dict(state)
            except BaseException:
                self.optimizer.lr = lr
                raise

    def _load_state_dict(self, state):
        self._load_common(state, ())
        self._apply()

    def _load_common(self, state, more_keys):
        _validation.state("state", state, ("name", "base_lr", "last_step") + more_keys)
        if state["name"] != self.name:
            raise ValueError(f"state is for schedule {state['name']!r}, not {self.name!r}")
        self.base_lr = _real("state['base_lr']", state["base_lr"], low=0.0)
        self.last_step = _count("state['last_step']", state["last_step"], 0)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args}, interval={self.interval!r})"


def _power(gamma, n):
    """gamma ** n for an integer n >= 0 of any size, as in floating point: inf past the float
    range (Python raises OverflowError there, and for an n past it whatever gamma)."""
    try:
        return gamma ** _validation.as_float(n)
    except OverflowError:
        return math.inf


class StepDecay(Schedule):
    """η_t = η₀ · gamma^⌊t / step_size⌋ (``torch.optim.lr_scheduler.StepLR``)."""

    name = "step_decay"

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, *, interval: str = "epoch") -> None:
        self.step_size = _count("step_size", step_size, 1)
        self.gamma = _real("gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, interval=interval)

    def _lr(self, t):
        return self.base_lr * _power(self.gamma, t // self.step_size)

    def _params(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """η_t = η₀ · gamma^t (``torch.optim.lr_scheduler.ExponentialLR``)."""

    name = "exponential_decay"

    def __init__(self, optimizer: Optimizer, gamma: float, *, interval: str = "epoch") -> None:
        self.gamma = _real("gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, interval=interval)

    def _lr(self, t):
        return self.base_lr * _power(self.gamma, t)

    def _params(self):
        return {"gamma": self.gamma}


class InverseTimeDecay(Schedule):
    """η_t = η₀ / (1 + decay_rate · t / decay_steps).

    The 1/t decay: Σ η_t diverges while Σ η_t² converges, the step-size conditions under which
    SGD converges on convex problems. torch has no class for it
    (``LambdaLR(opt, lambda t: 1 / (1 + decay_rate * t / decay_steps))``).
    """

    name = "inverse_time_decay"

    def __init__(self, optimizer: Optimizer, decay_rate: float, decay_steps: int = 1, *,
                 interval: str = "epoch") -> None:
        self.decay_rate = _real("decay_rate", decay_rate, low=0.0)
        self.decay_steps = _steps("decay_steps", decay_steps, 1)
        super().__init__(optimizer, interval=interval)

    def _lr(self, t):
        # t past the float64 range: an infinite t and a learning rate of 0, not an OverflowError
        return self.base_lr / (1.0 + self.decay_rate * _validation.as_float(t) / self.decay_steps)

    def _params(self):
        return {"decay_rate": self.decay_rate, "decay_steps": self.decay_steps}


class CosineDecay(Schedule):
    """Linear warm-up, then a half cosine from η₀ down to ``min_lr``.

    With w = warmup_steps and T = total_steps::

        t < w:       η_t = η₀ · (t + 1) / w
        w ≤ t < T:   η_t = min_lr + (η₀ − min_lr) · (1 + cos(π (t − w) / (T − w))) / 2
        t ≥ T:       η_t = min_lr

    torch: ``CosineAnnealingLR(T_max=T, eta_min=min_lr)`` when w = 0; with warm-up,
    ``SequentialLR([LinearLR(start_factor=1/w, total_iters=w-1), CosineAnnealingLR(T_max=T-w,
    eta_min=min_lr)], milestones=[w])``. Up to t = T: past it torch's cosine rises again (its
    period is 2(T − w)), where this one stays at ``min_lr``.
    """

    name = "cosine_decay"

    def __init__(self, optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0, *,
                 interval: str = "epoch") -> None:
        self.total_steps = _steps("total_steps", total_steps, 1)
        self.warmup_steps = _count("warmup_steps", warmup_steps, 0)
        if self.warmup_steps >= self.total_steps:
            raise ValueError(f"warmup_steps must be < total_steps ({total_steps}), got {warmup_steps}")
        self.min_lr = _real("min_lr", min_lr, low=0.0)
        super().__init__(optimizer, interval=interval)

    def _lr(self, t):
        w, total = self.warmup_steps, self.total_steps
        if t < w:
            return self.base_lr * (t + 1) / w
        if t >= total:
            return self.min_lr
        return self.min_lr + (self.base_lr - self.min_lr) * (1.0 + math.cos(math.pi * (t - w) / (total - w))) / 2.0

    def _params(self):
        return {"total_steps": self.total_steps, "warmup_steps": self.warmup_steps, "min_lr": self.min_lr}


class ReduceLROnPlateau(Schedule):
    """Multiply the lr by ``factor`` when the metric has not improved for ``patience`` calls.

    ``step(metric)``: an improvement is metric < best·(1 − threshold) (mode "min") or
    metric > best·(1 + threshold) (mode "max"); after more than ``patience`` calls without one,
    lr ← max(lr·factor, min_lr) and the count restarts. As
    ``torch.optim.lr_scheduler.ReduceLROnPlateau`` with threshold_mode="rel", cooldown=0.
    ``interval`` is "epoch" only: fit steps it with each epoch's monitored value (val_loss, else
    loss), and a training step has none.
    """

    name = "reduce_lr_on_plateau"
    needs_metric = True

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, min_lr: float = 0.0, *, interval: str = "epoch") -> None:
        _choice("mode", mode, ("min", "max"))
        if _choice("interval", interval, _INTERVALS) != "epoch":
            raise ValueError(f"interval must be 'epoch' for ReduceLROnPlateau (fit steps it with each epoch's "
                             f"monitored value, a training step has none), got {interval!r}")
        self.mode = mode
        self.factor = _real("factor", factor, low=0.0, high=1.0, high_open=True)
        self.patience = _count("patience", patience, 0)
        self.threshold = _real("threshold", threshold, low=0.0)
        self.min_lr = _real("min_lr", min_lr, low=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad = 0
        super().__init__(optimizer, interval=interval)

    def _apply(self):
        """The lr changes only in ``step(metric)``, never as a function of t."""

    def _improved(self, metric):
        if self.mode == "min":
            return metric < self.best * (1.0 - self.threshold)
        return metric > self.best * (1.0 + self.threshold)

    def step(self, metric):
        """Record this epoch's metric; reduce the lr after a plateau."""
        if isinstance(metric, (str, bytes, bool, np.bool_)) or np.ndim(metric) != 0:
            raise _validation.ArgumentTypeError(f"metric must be a number, got {_validation.describe(metric)}")
        try:
            metric = _validation.as_float(metric)
        except (TypeError, ValueError):
            raise _validation.ArgumentTypeError(f"metric must be a number, got {_validation.describe(metric)}") from None
        self.last_step += 1
        if self._improved(metric):
            self.best = metric
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.num_bad > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > 1e-8:
                self.optimizer.lr = new
            self.num_bad = 0

    def _params(self):
        return {"mode": self.mode, "factor": self.factor, "patience": self.patience,
                "threshold": self.threshold, "min_lr": self.min_lr}

    def state_dict(self):
        return {"name": self.name, "base_lr": self.base_lr, "last_step": self.last_step, "best": self.best,
                "num_bad": self.num_bad, "lr": self.optimizer.lr}

    def _load_state_dict(self, state):
        self._load_common(state, ("best", "num_bad", "lr"))
        best = state["best"]
        if isinstance(best, bool) or not isinstance(best, numbers.Real) or math.isnan(_validation.as_float(best)):
            raise ValueError(f"state['best'] must be a number (infinite before the first metric), got "
                             f"{_validation.shown(best)}")
        self.best = _validation.as_float(best)
        self.num_bad = _count("state['num_bad']", state["num_bad"], 0)
        self.optimizer.lr = state["lr"]


_BY_NAME = {cls.name: cls for cls in (StepDecay, ExponentialDecay, InverseTimeDecay, CosineDecay,
                                      ReduceLROnPlateau)}


def from_config(optimizer, config: dict) -> Schedule:
    """Rebuild a schedule on ``optimizer`` from ``get_config()``."""
    # its other keys are the constructor's arguments, which name any they do not take
    cfg = dict(_validation.config("config", config, "(what get_config() returns)", ()))
    name = cfg.pop("name", None)
    _choice("config name", name, sorted(_BY_NAME))
    return _BY_NAME[name](optimizer, **cfg)


def _restore(optimizer, config, state):
    """Rebuild a schedule pickled by Schedule.__reduce__."""
    schedule = from_config(optimizer, config)
    schedule.load_state_dict(state)
    return schedule
