"""Optimizers: one fused, in-place C update of a flat parameter buffer per step.

Every optimizer updates a 1-D float32/float64 parameter array in place from a gradient array of the
same shape, in one C call (vectorized, threaded for large buffers), with its state (momentum
buffers, running averages) kept flat beside it and allocated at the first step::

    opt = fastgd.optim.Adam(lr=1e-3)
    for _ in range(steps):
        grads = ...                     # dL/dparams, same shape and dtype
        opt.step(params, grads)         # params updated in place

The update rules are those of ``torch.optim`` (2.x), operation for operation, so code and
hyperparameters carry over; each class writes its exact update in its docstring. Notation: θ the
parameters, g the gradient, η the learning rate ``lr``, t the 1-based step count, λ the weight
decay; with ``maximize=True`` every rule uses −g in place of g (ascent).

Parameter groups (``set_param_groups``) override hyperparameters over contiguous ranges of the
flat buffer, e.g. ``weight_decay=0`` over the biases.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os

import numpy as np
from numpy.lib.array_utils import byte_bounds

from fastgd import _core, _validation
from fastgd._validation import choice as _choice
from fastgd._validation import flag as _flag
from fastgd._validation import integer as _integer
from fastgd._validation import real as _real
from fastgd._validation import state as _state

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSProp", "Adam", "AdamW", "Adamax", "from_config", "get",
           "grad_norm", "clip_grad_norm", "clip_grad_value"]

# enum fg_optimizer values, by name from the C registry (src/kernels/registry/optimizers.h).
_SGD, _ADAGRAD, _RMSPROP, _ADAM, _ADAMW, _ADAMAX = map(_core.OPTIMIZERS.index,
                                                        ("sgd", "adagrad", "rmsprop", "adam", "adamw", "adamax"))

# The fields of the C fg_optim_config, from the registry (src/kernels/registry/optimizers.h).
_CONFIG_FIELDS = _core.OPTIM_CONFIG_FIELDS

_MASK64 = (1 << 64) - 1
# A group starting at element `start` draws its noise with seed + start * _GOLDEN, so that groups
# get independent noise (the kernel keys noise by the index within its call).
_GOLDEN = 0x9E3779B97F4A7C15


# The state slots that accumulate squared gradients: never negative, and the update takes their
# square root (a negative one made every parameter it touches NaN at the next step).
_SQUARES = ("sum", "square_avg", "exp_avg_sq", "max_exp_avg_sq")


def _slot_roles(cfg):
    """What each state slot of one group holds, in slot order: the layout the kernels derive
    from an ``fg_optim_config`` (``fg_optim_state_slots`` counts the same slots)."""
    kind = cfg["kind"]
    if kind == _SGD:
        return ("momentum_buffer",) if cfg["momentum"] != 0 else ()
    if kind == _ADAGRAD:
        return ("sum",)
    if kind == _RMSPROP:
        return (("square_avg",) + (("grad_avg",) if cfg["centered"] else ())
                + (("momentum_buffer",) if cfg["momentum"] > 0 else ()))
    if kind == _ADAMAX:
        return ("exp_avg", "exp_inf")
    return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if cfg["amsgrad"] else ())



def _in_dtype(name, value, dtype):
    """A hyperparameter that the kernels take in the parameters' ``dtype`` must be finite there,
    and eps positive (ValueError naming it otherwise)."""
    info = np.finfo(dtype)
    with np.errstate(over="ignore", under="ignore"):
        rounded = dtype.type(value)
    low = info.smallest_subnormal if name == "eps" else 0.0
    if not low <= rounded < np.inf:
        raise ValueError(f"{name}={value:g} is {rounded} in {dtype}, the parameters' dtype: it must lie "
                         f"in [{low:.4g}, {info.max:.4g}] there")

class Optimizer:
    """Base class: hyperparameters, lazily allocated flat state, step counting, parameter groups.

    Subclasses define ``name``, ``_kind``, ``_validate(hyper) -> hyper`` and ``_fields(hyper)``
    (the ``fg_optim_config`` fields of one group).
    """

    name = "optimizer"
    _kind = -1

    def __init__(self, lr, **hyper):
        self._hyper = self._validate({"lr": lr, **hyper})
        self._groups = None  # [(start, stop, overrides)] or None: one group over everything
        self._cfg_cache = None  # (n, plan groups, slot layout) built by _plan; only step and lr change per call
        self.reset()

    # -- hyperparameters -------------------------------------------------------------------

    @property
    def lr(self) -> float:
        """The learning rate η; may be changed between steps (schedules do)."""
        return self._hyper["lr"]

    @lr.setter
    def lr(self, value):
        value = _real("lr", value, low=0.0)
        if getattr(self, "_dtype", None) is not None:  # bound to parameters: checked as the first step does
            _in_dtype("lr", value, self._dtype)
        self._hyper["lr"] = value

    def __setattr__(self, name, value):
        # Only lr is read at every step; any other hyperparameter set as an attribute would be
        # ignored silently (it is not an attribute the updates read).
        if name != "lr" and name in self.__dict__.get("_hyper", ()):
            raise AttributeError(f"{name} is fixed when the {type(self).__name__} is built (only lr may change "
                                 "between steps); set_param_groups overrides it over ranges of the parameters")
        object.__setattr__(self, name, value)

    @property
    def step_count(self) -> int:
        """Updates applied since construction or the last ``reset()``."""
        return self._step

    def get_config(self) -> dict:
        """Name and hyperparameters, enough for ``fastgd.optim.from_config`` to rebuild it."""
        cfg = {"name": self.name}
        cfg.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in self._hyper.items()})
        if self._groups is not None:
            cfg["param_groups"] = [[a, b, dict(o)] for a, b, o in self._groups]
        return cfg

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper.items())
        return f"{type(self).__name__}({args})"

    # -- parameter groups ------------------------------------------------------------------

    def bind(self, model, *, exclude_bias=False):
        """Prepare this optimizer for ``model`` (a :class:`fastgd.Sequential`): with
        ``exclude_bias=True`` weight decay applies to the weights only, not to the biases (the
        model keeps every W in ``[0, model.n_weights)`` and every b after). Returns self."""
        if not hasattr(model, "n_weights") or not hasattr(model, "n_params"):
            raise TypeError(f"model must be a fastgd.Sequential, got {type(model).__name__}")
        n_weights, n = int(model.n_weights), int(model.n_params)
        if _flag("exclude_bias", exclude_bias) and n_weights < n:
            self.set_param_groups([(0, n_weights, {}), (n_weights, n, {"weight_decay": 0.0})])
        else:
            self.set_param_groups(None)
        return self

    def set_param_groups(self, groups):
        """Override hyperparameters over contiguous ranges of the flat buffer.

        Parameters
        ----------
        groups : list of (start, stop, dict) or None
            Ranges in order tiling [0, n) (n checked at the next step), each with the
            hyperparameters that differ there, e.g. ``[(0, 200, {}), (200, 210,
            {"weight_decay": 0.0})]`` to exempt a bias. ``lr`` cannot be overridden (schedules
            drive one learning rate). ``None`` or ``[]`` removes the groups.
        """
        if groups is not None and not isinstance(groups, (list, tuple)):
            raise _validation.ArgumentTypeError(f"param_groups must be a list of (start, stop, dict) or None, got "
                                                f"{_validation.shown(groups)}")
        self._cfg_cache = None
        if not groups:
            self._groups = None
            return
        parsed, expect = [], 0
        for item in groups:
            try:
                start, stop, overrides = item
            except (TypeError, ValueError):
                raise ValueError(f"each group must be (start, stop, dict), got {_validation.shown(item)}") from None
            start = _integer("a group's start", start, 0)
            stop = _integer("a group's stop", stop, 0)
            if start != expect or stop < start:
                raise ValueError(f"groups must tile [0, n) in order: got [{start}, {stop}) after {expect}")
            overrides = dict(overrides or {})
            bad = set(overrides) - (set(self._hyper) - {"lr", "seed"})
            if bad:
                raise ValueError(f"group overrides must be among {sorted(set(self._hyper) - {'lr', 'seed'})}, "
                                 f"got {sorted(bad)}")
            self._validate({**self._hyper, **overrides})
            parsed.append((start, stop, overrides))
            expect = stop
        if self._state is not None and expect != self._n:
            raise ValueError(f"groups must tile [0, {self._n}) of the bound buffer, they end at {expect}")
        self._groups = parsed

    # -- the fused C interface -------------------------------------------------------------

    def _group_cfg(self, start, overrides):
        hyper = {**self._hyper, **overrides}
        if overrides:
            hyper = self._validate(hyper)
        cfg = dict.fromkeys(_CONFIG_FIELDS, 0)
        cfg.update(kind=self._kind, step=self._step + 1, lr=self._hyper["lr"], noise_std=0.0,
                   eps=0.0, weight_decay=0.0)
        cfg.update(self._fields(hyper))
        if cfg["noise_std"]:
            cfg["noise_seed"] = (cfg["noise_seed"] + start * _GOLDEN) & _MASK64
        for k in ("nesterov", "centered", "amsgrad", "maximize"):
            cfg[k] = int(cfg[k])
        for k in ("lr", "weight_decay", "momentum", "dampening", "noise_std", "eps", "lr_decay",
                  "initial_accumulator_value", "alpha", "beta1", "beta2"):
            cfg[k] = float(cfg[k])
        return cfg

    def _plan(self, n, dtype):
        """The plan ``(state, groups)`` of the next update, what the C step reads.

        ``state`` is the flat state array, 1-D of ``slots * stride`` elements of ``dtype`` (slot
        ``s`` of element ``i`` at ``s * stride + i``, ``stride = _core.optim_state_stride(n)``),
        64-byte aligned, allocated at the first call; ``groups`` a structured array of
        ``_core.OPTIM_GROUP_DTYPE`` (the C ``fg_optim_group`` layout), one record per range
        tiling [0, n), holding this update's ``fg_optim_config`` (step = ``step_count + 1``).
        It is rebuilt only when the configuration changes, otherwise reused and refreshed by
        the next call. The C step given ``optimizer=self`` counts the update.
        """
        cache = self._cfg_cache
        if (self._state is not None and cache is not None and cache[2] is self._layout and n == self._n
                and dtype == self._dtype):
            # the steady state of a training loop: same parameters, configuration unchanged
            _core.optim_groups_refresh(cache[1], self._step + 1, self._hyper["lr"])
            return self._state, cache[1]
        n = int(n)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        if self._state is not None and (n != self._n or dtype != self._dtype):
            raise ValueError(
                f"{type(self).__name__} holds state for {self._n} parameters of dtype {self._dtype}; "
                f"got {n} of dtype {dtype} (call reset() to start over with other parameters)")
        self._check_in_dtype(dtype)
        if self._cfg_cache is None or self._cfg_cache[0] != n:
            spans = self._groups if self._groups is not None else [(0, n, {})]
            if spans[-1][1] != n:
                raise ValueError(f"param groups tile [0, {spans[-1][1]}) but the parameters have {n} elements")
            cfgs = [(a, b, self._group_cfg(a, o)) for a, b, o in spans]
            self._cfg_cache = (n, _core.optim_groups(cfgs), [(a, b, _slot_roles(c)) for a, b, c in cfgs])
        # Everything else in a group's config is fixed between set_param_groups/load_state_dict
        # calls; the step count and lr (which the kernels turn into every derived coefficient)
        # are refreshed here, so a step costs no Python-level config building.
        _, groups, layout = self._cfg_cache
        _core.optim_groups_refresh(groups, self._step + 1, self._hyper["lr"])
        if self._state is None:
            slots = max(len(roles) for _, _, roles in layout)
            self._n, self._dtype = n, dtype
            # Zeros only to keep the memory defined; the kernel initializes the state at step 1.
            self._state = _core.aligned_zeros(slots * _core.optim_state_stride(n), dtype)
        elif layout != self._layout:
            self._conform_state(layout)
        # the state is laid out as `layout` now; keeping this very object lets the steady-state
        # test at the top recognise it by identity, also after a rebuild to an equal layout
        self._layout = layout
        return self._state, groups

    # The hyperparameters the kernels take in the parameters' dtype (the others enter through
    # coefficients computed in double).
    _IN_DTYPE = ("lr", "momentum", "weight_decay", "noise", "initial_accumulator_value", "eps")

    def _check_in_dtype(self, dtype):
        """Every group's hyperparameters must be finite in the parameters' dtype, which the
        kernels compute in, and eps positive there: 1e39 is infinite in float32 (a momentum,
        weight decay, noise or lr of 1e39 made every parameter NaN, an eps every update 0), and
        eps=1e-50 is 0, so the update of a parameter whose gradient is still 0 divided 0 by 0."""
        for hyper in [self._hyper] + [{**self._hyper, **o} for _, _, o in self._groups or ()]:
            for name in self._IN_DTYPE:
                if hyper.get(name) is not None:
                    _in_dtype(name, hyper[name], dtype)

    def _conform_state(self, layout):
        """Re-lay the state out for a changed configuration (``set_param_groups`` turning on
        momentum, AMSGrad, centering, ...): every buffer an element had is kept under its role;
        buffers that are new start at zero, as torch.optim creates missing state lazily (for SGD
        momentum torch starts the buffer at the current gradient instead, the same update when
        dampening is 0)."""
        stride = _core.optim_state_stride(self._n)
        slots = max(len(roles) for _, _, roles in layout)
        new = _core.aligned_zeros(slots * stride, self._dtype)
        for a, b, roles in layout:
            for oa, ob, old_roles in self._layout:
                lo, hi = max(a, oa), min(b, ob)
                if lo >= hi:
                    continue
                for s, role in enumerate(roles):
                    if role in old_roles:
                        o = old_roles.index(role)
                        new[s * stride + lo:s * stride + hi] = self._state[o * stride + lo:o * stride + hi]
        self._state, self._layout = new, layout

    def step(self, params, grads=None):
        """One update of ``params`` in place from ``grads``.

        Parameters
        ----------
        params : ndarray (n,), float32 or float64, C-contiguous, writeable; or a model
            A model (any object with flat ``params`` and ``grads`` arenas, e.g. a fastgd
            ``Model`` after its backward pass) is updated from its own gradients.
        grads : ndarray (n,), same dtype, not overlapping ``params`` (omitted for a model)

        The first call fixes n and the dtype (state is allocated then); later calls must match
        until ``reset()``.
        """
        if grads is None and hasattr(params, "params") and hasattr(params, "grads"):
            params, grads = params.params, params.grads
        # Only what _plan needs is checked here; the binding checks the rest (dtype and
        # shape of grads, contiguity, aliasing) before any element is touched.
        if not isinstance(params, np.ndarray) or params.ndim != 1:
            raise ValueError(f"params must be a 1-D numpy.ndarray, got "
                             f"{getattr(params, 'shape', type(params).__name__)}")
        with self._exclusive():
            state, groups = self._plan(params.shape[0], params.dtype)
            _core.inplace_optim_step(params, grads, state if state.size else None, groups, optimizer=self)

    @contextlib.contextmanager
    def _exclusive(self):
        """Hold the optimizer as a step does: RuntimeError if a step (or another such call) runs
        in another thread, and a step started meanwhile is refused. Reading or replacing the
        state while a step updates it would tear it."""
        _core.claim_optimizer(self)
        try:
            yield
        finally:
            _core.release_optimizer(self)

    def _step_range(self, params, grads, start, stop):
        """The update of elements [start, stop) of ``params`` (and of their state) that
        ``step(params, grads)`` would make, counted as one step: a data-parallel rank's share of
        an update whose other elements other ranks make. Noisy SGD cannot be split so (its noise
        is drawn per parameter group)."""
        with self._exclusive():
            state, groups = self._plan(params.shape[0], params.dtype)
            _core.inplace_optim_step(params, grads, state if state.size else None, groups, start=start, stop=stop,
                                     optimizer=self)

    def _noisy(self):
        """Whether an update adds noise (noisy SGD) somewhere."""
        return bool(self._hyper.get("noise") or any(o.get("noise") for _, _, o in self._groups or ()))

    # -- state -----------------------------------------------------------------------------

    def reset(self):
        """Forget the state and the step count (the next step is a first step again)."""
        with self._exclusive():
            self._step = 0
            self._unbind()

    def _unbind(self):
        """Drop the state and the parameters it was bound to (count and dtype), keeping the
        step count."""
        self._state = None
        self._layout = None  # [(start, stop, slot roles)] the state is laid out for
        self._n = None
        self._dtype = None

    def state_dict(self) -> dict:
        """The optimizer's state as a plain dict of numbers, strings and arrays (copies)."""
        with self._exclusive():
            return {
                "name": self.name,
                "config": self.get_config(),
                "step": self._step,
                "lr": self.lr,
                "n": self._n,
                "dtype": None if self._dtype is None else self._dtype.name,
                "state": None if self._state is None else self._compact_state(),
            }

    def __setstate__(self, attributes):
        # Unpickling (and copy.deepcopy): the attributes pickled go through load_state_dict's
        # checks, so that a tampered pickle is refused as the same state_dict would be
        self.__dict__.update(attributes)
        try:
            state = self.state_dict()
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"the pickled {type(self).__name__} is malformed: {type(exc).__name__}: {exc}") from None
        self.load_state_dict(state)

    def load_state_dict(self, state_dict: dict):
        """Restore what ``state_dict()`` returned; the next step continues identically. A
        state_dict that is refused leaves the optimizer as it was."""
        with self._exclusive(), _validation.unchanged_if_refused(self):  # a step rebinds the attributes it changes
            self._load_state_dict(state_dict)

    def _load_state_dict(self, state_dict):
        _state("state_dict", state_dict, ("name", "config", "lr", "step"))
        if state_dict.get("name") != self.name:
            raise ValueError(f"state_dict is for optimizer {state_dict.get('name')!r}, not {self.name!r}")
        if not isinstance(state_dict["config"], dict):
            raise _validation.ArgumentTypeError(f"state_dict['config'] must be a dict (what get_config() returns), "
                                                f"got {_validation.describe(state_dict['config'])}")
        cfg = dict(state_dict["config"])
        cfg.pop("name", None)
        groups = cfg.pop("param_groups", None)
        try:
            self._hyper = self._validate(cfg)
        except KeyError as exc:
            raise ValueError(f"state_dict['config'] lacks the hyperparameter {exc.args[0]!r}") from None
        self._groups = None
        self._cfg_cache = None
        self.set_param_groups(groups)
        # checked in the state's dtype by the first step, not in the dtype of what was bound before
        self._hyper["lr"] = _real("lr", state_dict["lr"], low=0.0)
        self._step = _integer("state_dict['step']", state_dict["step"], 0, maximum=_validation.MAX_RESTORED_COUNT)
        self._state = self._layout = self._n = self._dtype = None
        if state_dict.get("state") is not None:
            self._load_state(state_dict)

    def _load_state(self, state_dict):
        """Check the arrays of a state_dict against the configuration it declares (element count,
        dtype, exactly the slots every group needs), then install them padded."""
        dtype, n, flat = state_dict.get("dtype"), state_dict.get("n"), state_dict["state"]
        if dtype not in ("float32", "float64"):
            raise ValueError(f"state_dict['dtype'] must be 'float32' or 'float64', got {dtype!r}")
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"state_dict['n'] must be an integer >= 0, got {n!r}")
        n, dtype = int(n), np.dtype(dtype)
        if not isinstance(flat, np.ndarray) or flat.dtype.kind not in "fiu":
            raise TypeError(f"state_dict['state'] must be a numpy array of numbers, got "
                            f"{getattr(flat, 'dtype', type(flat).__name__)}")
        spans = self._groups if self._groups is not None else [(0, n, {})]
        if spans[-1][1] != n:
            raise ValueError(f"state_dict's param groups tile [0, {spans[-1][1]}) but its state is for n={n}")
        layout = [(a, b, _slot_roles(self._group_cfg(a, o))) for a, b, o in spans]
        slots = max(len(roles) for _, _, roles in layout)
        if flat.size != slots * n:
            raise ValueError(f"state_dict['state'] must hold {slots} slots x n={n} elements = {slots * n} "
                             f"for this configuration, got {flat.size}")
        with np.errstate(over="ignore"):  # a value past the dtype's range is refused next, by name
            values = np.asarray(flat, dtype=dtype).reshape(-1)
        _validation.finite("state_dict['state']", values, flat)  # NaN moments make every step NaN
        for a, b, roles in layout:
            for s, role in enumerate(roles):
                if role in _SQUARES:
                    negative = np.flatnonzero(values[s * n + a:s * n + b] < 0)
                    if negative.size:
                        i = s * n + a + int(negative[0])
                        raise ValueError(f"state_dict['state'] slot {s} ({role}) must be >= 0 (it sums squared "
                                         f"gradients), got {values[i]} at flat index {i}")
        self._n, self._dtype, self._layout = n, dtype, layout
        self._state = self._padded_state(values)

    # The state is kept with slot stride optim_state_stride(n) (cache-line aligned slots) and
    # exchanged in state_dict compactly, slot s of element i at s * n + i.
    def _compact_state(self):
        n = self._n
        stride = _core.optim_state_stride(n)
        slots = self._state.size // stride if stride else 0
        return self._state.reshape(slots, stride)[:, :n].copy().reshape(-1)

    def _padded_state(self, flat):
        n = self._n
        stride = _core.optim_state_stride(n)
        if n == 0:
            return _core.aligned_zeros(0, self._dtype)
        if flat.size % n:
            raise ValueError(f"state_dict['state'] must hold whole slots of n={n} elements, got {flat.size}")
        slots = flat.size // n
        out = _core.aligned_zeros(slots * stride, self._dtype)
        out.reshape(slots, stride)[:, :n] = flat.reshape(slots, n)
        return out

    # -- subclass hooks --------------------------------------------------------------------

    def _validate(self, hyper):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fields(self, hyper):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, Nesterov momentum, weight decay and noise.

    Update (``torch.optim.SGD``), with d the gradient after weight decay::

        d ← g + λθ
        if momentum μ ≠ 0:
            b ← d                          at the first step
            b ← μ·b + (1 − dampening)·d    afterwards
            d ← d + μ·b   (nesterov)   or   d ← b
        θ ← θ − η·d
        θ ← θ + noise·√η·ξ,   ξ ~ N(0, 1) per element and step   (when noise > 0)

    Textbook forms: with dampening 0 and V = −η·b (constant η), heavy-ball momentum
    is V ← μV − η∇L, θ ← θ + V. Nesterov's "gradient at the look-ahead point" form
    V ← μV − η∇L(θ + μV) becomes, in the variable θ' = θ + μV that one stores instead, exactly the
    update above: θ' ← θ' − η(g + μb).

    Noise (noisy SGD / Langevin dynamics): ``noise`` = σ adds σ√η·ξ, so the update is the
    Euler–Maruyama step of the Langevin diffusion dθ = −∇L dt + σ dW with time step η:
    θ ← θ − η∇L + √(2η/β)·ξ with inverse temperature β = 2/σ². ξ comes from a counter-based
    generator keyed by (seed, step, element index): the same ``seed`` gives the same run whatever
    the thread count or CPU target.

    Parameters
    ----------
    lr : float, >= 0
    momentum : float, >= 0
    dampening : float, in [0, 1]
    nesterov : bool (needs momentum > 0 and dampening = 0)
    weight_decay : float, >= 0
    noise : float, >= 0
    seed : int or None
        Seed of the noise; None draws one (kept in ``state_dict()``).
    maximize : bool
    """

    name = "sgd"
    _kind = _SGD

    def __init__(self, lr: float = 1e-3, *, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, noise: float = 0.0, seed: int | None = None,
                 maximize: bool = False) -> None:
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        super().__init__(lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay, noise=noise, seed=seed, maximize=maximize)

    def _validate(self, h):
        h = dict(h)
        h["lr"] = _real("lr", h["lr"], low=0.0)
        h["momentum"] = _real("momentum", h["momentum"], low=0.0)
        h["dampening"] = _real("dampening", h["dampening"], low=0.0, high=1.0)
        h["nesterov"] = _flag("nesterov", h["nesterov"])
        h["weight_decay"] = _real("weight_decay", h["weight_decay"], low=0.0)
        h["noise"] = _real("noise", h["noise"], low=0.0)
        h["maximize"] = _flag("maximize", h["maximize"])
        h["seed"] = _integer("seed", h["seed"], 0) & _MASK64
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError(f"nesterov requires momentum > 0 and dampening == 0, got momentum="
                             f"{h['momentum']} and dampening={h['dampening']}")
        return h

    def _fields(self, h):
        return dict(weight_decay=h["weight_decay"], momentum=h["momentum"], dampening=h["dampening"],
                    nesterov=h["nesterov"], noise_std=h["noise"], noise_seed=h["seed"],
                    maximize=h["maximize"])


class AdaGrad(Optimizer):
    r"""AdaGrad: per-element step sizes shrinking with the accumulated squared gradients.

    Update (``torch.optim.Adagrad``), t the 1-based step::

        d ← g + λθ
        η_t ← η / (1 + (t − 1)·lr_decay)
        r ← r + d⊙d                         (r starts at initial_accumulator_value)
        θ ← θ − η_t·d / (√r + eps)

    Textbook form: r_{n+1} = r_n + ∇J⊙∇J, w_{n+1} = w_n − λ/(δ + √r_{n+1})·∇J with
    δ = eps, λ = η (lr_decay = 0, initial_accumulator_value = 0).

    Parameters
    ----------
    lr : float, >= 0
    lr_decay : float, >= 0
    weight_decay : float, >= 0
    initial_accumulator_value : float, >= 0
    eps : float, > 0
    maximize : bool
    """

    name = "adagrad"
    _kind = _ADAGRAD

    def __init__(self, lr: float = 1e-2, *, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False) -> None:
        super().__init__(lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)

    def _validate(self, h):
        h = dict(h)
        h["lr"] = _real("lr", h["lr"], low=0.0)
        h["lr_decay"] = _real("lr_decay", h["lr_decay"], low=0.0)
        h["weight_decay"] = _real("weight_decay", h["weight_decay"], low=0.0)
        h["initial_accumulator_value"] = _real("initial_accumulator_value", h["initial_accumulator_value"],
                                               low=0.0)
        h["eps"] = _real("eps", h["eps"], low=0.0, low_open=True)
        h["maximize"] = _flag("maximize", h["maximize"])
        return h

    def _fields(self, h):
        return dict(weight_decay=h["weight_decay"], lr_decay=h["lr_decay"],
                    initial_accumulator_value=h["initial_accumulator_value"], eps=h["eps"],
                    maximize=h["maximize"])


class RMSProp(Optimizer):
    r"""RMSProp, optionally centered and with momentum.

    Update (``torch.optim.RMSprop``)::

        d ← g + λθ
        s ← α·s + (1 − α)·d⊙d                       (s starts at 0)
        centered: a ← a + (1 − α)·(d − a),  den ← √max(s − a⊙a, 0) + eps
        else:     den ← √s + eps
        momentum μ > 0: b ← μ·b + d/den,  θ ← θ − η·b
        else:           θ ← θ − η·d/den

    Note eps is added after the square root (torch's placement). The centered variance s − a⊙a
    is never negative in exact arithmetic; a rounding below 0 (a constant gradient) counts as 0,
    where torch takes the square root of a negative number and makes the parameter NaN, and it
    is infinite once s is. Textbook form: AdaGrad's
    accumulate-and-scale with the sum r replaced by the exponential moving average s.

    Parameters
    ----------
    lr : float, >= 0
    alpha : float, in [0, 1)
    eps : float, > 0
    weight_decay : float, >= 0
    momentum : float, >= 0
    centered : bool
    maximize : bool
    """

    name = "rmsprop"
    _kind = _RMSPROP

    def __init__(self, lr: float = 1e-2, *, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, maximize: bool = False) -> None:
        super().__init__(lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, maximize=maximize)

    def _validate(self, h):
        h = dict(h)
        h["lr"] = _real("lr", h["lr"], low=0.0)
        h["alpha"] = _real("alpha", h["alpha"], low=0.0, high=1.0, high_open=True)
        h["eps"] = _real("eps", h["eps"], low=0.0, low_open=True)
        h["weight_decay"] = _real("weight_decay", h["weight_decay"], low=0.0)
        h["momentum"] = _real("momentum", h["momentum"], low=0.0)
        h["centered"] = _flag("centered", h["centered"])
        h["maximize"] = _flag("maximize", h["maximize"])
        return h

    def _fields(self, h):
        return dict(alpha=h["alpha"], eps=h["eps"], weight_decay=h["weight_decay"],
                    momentum=h["momentum"], centered=h["centered"], maximize=h["maximize"])


class Adam(Optimizer):
    r"""Adam, with optional (coupled, L2) weight decay and AMSGrad.

    Update (``torch.optim.Adam``), t the 1-based step::

        d ← g + λθ
        m ← m + (1 − β1)·(d − m)              (= β1·m + (1 − β1)·d; m, v start at 0)
        v ← β2·v + (1 − β2)·d⊙d
        amsgrad: v_max ← max(v_max, v),  v̂ ← v_max;   else v̂ ← v
        θ ← θ − (η / (1 − β1^t)) · m / (√v̂ / √(1 − β2^t) + eps)

    eps is added to the bias-corrected √v̂ (torch's placement); the kernel multiplies √v̂ by
    1/√(1 − β2^t) where torch divides (≤ 1 ulp apart, one division fewer per element). Textbook form: momentum
    on the gradient, m̂ = m/(1 − β1^t), scaled per element as in AdaGrad/RMSProp by
    1/(√v̂_t + eps) with v̂_t = v/(1 − β2^t): θ ← θ − η·m̂/(√v̂_t + eps).

    Parameters
    ----------
    lr : float, >= 0
    betas : (float, float), each in [0, 1)
    eps : float, > 0
    weight_decay : float, >= 0
    amsgrad : bool
    maximize : bool
    """

    name = "adam"
    _kind = _ADAM

    def __init__(self, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)

    def _validate(self, h):
        h = dict(h)
        h["lr"] = _real("lr", h["lr"], low=0.0)
        try:
            b1, b2 = h["betas"]
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {_validation.shown(h['betas'])}") from None
        h["betas"] = (_real("betas[0]", b1, low=0.0, high=1.0, high_open=True),
                      _real("betas[1]", b2, low=0.0, high=1.0, high_open=True))
        h["eps"] = _real("eps", h["eps"], low=0.0, low_open=True)
        h["weight_decay"] = _real("weight_decay", h["weight_decay"], low=0.0)
        h["amsgrad"] = _flag("amsgrad", h["amsgrad"])
        h["maximize"] = _flag("maximize", h["maximize"])
        return h

    def _fields(self, h):
        return dict(beta1=h["betas"][0], beta2=h["betas"][1], eps=h["eps"], weight_decay=h["weight_decay"],
                    amsgrad=h["amsgrad"], maximize=h["maximize"])


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay.

    Update (``torch.optim.AdamW``): first θ ← (1 − η·λ)·θ, then Adam's update above with d ← g
    (the decay does not enter m and v). Default weight_decay = 0.01.
    """

    name = "adamw"
    _kind = _ADAMW

    def __init__(self, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


class Adamax(Optimizer):
    r"""Adamax: Adam with the infinity norm in place of the root mean square.

    Update (``torch.optim.Adamax``), t the 1-based step::

        d ← g + λθ
        m ← m + (1 − β1)·(d − m)              (m, u start at 0)
        u ← max(β2·u, |d| + eps)
        θ ← θ − (η / (1 − β1^t)) · m / u

    Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015), section 7.1. The
    parameters are :class:`Adam`'s without amsgrad; lr defaults to 2e-3, as in torch.
    """

    name = "adamax"
    _kind = _ADAMAX

    def __init__(self, lr: float = 2e-3, *, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, maximize: bool = False) -> None:
        super().__init__(lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)

    def _validate(self, h):
        h = Adam._validate(self, {**h, "amsgrad": False})  # Adam's checks, without its amsgrad
        del h["amsgrad"]
        return h

    def _fields(self, h):
        return dict(beta1=h["betas"][0], beta2=h["betas"][1], eps=h["eps"], weight_decay=h["weight_decay"],
                    maximize=h["maximize"])


_BY_NAME = {cls.name: cls for cls in (SGD, AdaGrad, RMSProp, Adam, AdamW, Adamax)}


def from_config(config: dict) -> Optimizer:
    """Rebuild an optimizer from ``get_config()``."""
    # its other keys are the constructor's arguments, which name any they do not take
    cfg = dict(_validation.config("config", config, "(what get_config() returns)", ()))
    name = cfg.pop("name", None)
    _choice("config name", name, sorted(_BY_NAME))
    groups = cfg.pop("param_groups", None)
    opt = _BY_NAME[name](**cfg)
    opt.set_param_groups(groups)
    return opt


def get(optimizer, **kwargs) -> Optimizer:
    """An optimizer from an instance (returned as is) or a name ("sgd", "adagrad", "rmsprop",
    "adam", "adamw", "adamax") with keyword hyperparameters."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()](**kwargs)
    raise ValueError(f"optimizer must be an Optimizer or one of {sorted(_BY_NAME)}, got {optimizer!r}")


# ---- gradient norms and clipping ---------------------------------------------------------------

def _grad_list(grads):
    """``grads`` as a list of (name, array) pairs, the name what an error calls the array ("grads"
    or "grads[i]"), no array overlapping another: clip_grad_norm would scale an element held
    twice twice, and the norm would count it twice."""
    if isinstance(grads, np.ndarray):
        return [("grads", grads)]
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a numpy.ndarray or a list of them, got {type(grads).__name__}")
    arrays = list(grads)
    spans = sorted((byte_bounds(g), i) for i, g in enumerate(arrays) if isinstance(g, np.ndarray) and g.size)
    for ((_, end), i), ((start, _), j) in zip(spans, spans[1:]):
        if start < end:
            raise ValueError(f"grads[{min(i, j)}] and grads[{max(i, j)}] overlap in memory; each gradient "
                             "must be its own array")
    return [(f"grads[{i}]", g) for i, g in enumerate(arrays)]


def grad_norm(grads) -> float:
    """Global L2 norm √(Σ g²) of a flat gradient array (or a list of 1-D arrays).

    Accumulated in double in a fixed order: the same value for every thread count and CPU target.
    """
    return math.sqrt(sum(_core.sum_squares(g, name=name) for name, g in _grad_list(grads)))


def clip_grad_norm(grads, max_norm, *, error_if_nonfinite=False) -> float:
    """Scale ``grads`` in place so that their global L2 norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: with N = ``grad_norm(grads)``, every gradient is
    multiplied by min(1, max_norm / (N + 1e-6)), which is NaN when N is (every gradient becomes
    NaN, as in torch). Returns N (before clipping).

    Parameters
    ----------
    grads : ndarray (n,) float32/float64, C-contiguous, writeable, or a list of them
    max_norm : float, >= 0, or inf
        ``inf`` clips nothing (and ``grads`` stay as they are unless N is not finite): it
        returns the norm, as torch's ``clip_grad_norm_(params, float("inf"))`` does.
    error_if_nonfinite : bool
        Raise ``ValueError`` (and leave ``grads`` untouched) when N is NaN or infinite.
    """
    max_norm = _real("max_norm", max_norm, low=0.0, allow_inf=True)
    error_if_nonfinite = _flag("error_if_nonfinite", error_if_nonfinite)
    arrays = _grad_list(grads)
    total = math.sqrt(sum(_core.sum_squares(g, name=name) for name, g in arrays))
    if not math.isfinite(total):
        if error_if_nonfinite:
            bad = sum(_core.count_nonfinite(g) for _, g in arrays)
            raise ValueError(f"the total norm of the gradients is {total} ({bad} non-finite entries); "
                             "not clipping")
    coef = max_norm / (total + 1e-6)
    if math.isnan(coef):
        # torch's clamp(coef, max=1) passes NaN on, and every gradient times NaN is NaN (an
        # infinite norm scales by 0 below: NaN where a gradient is infinite, 0 elsewhere)
        for name, g in arrays:
            if not g.flags.writeable:
                raise ValueError(f"{name} is read-only; the update writes to it in place")
        for _, g in arrays:
            g.fill(np.nan)
    elif coef < 1.0:
        for name, g in arrays:
            _core.inplace_scale(g, coef, name=name)
    return total


def clip_grad_value(grads, clip):
    """Clamp every gradient to [−clip, clip] in place (``torch.nn.utils.clip_grad_value_``)."""
    clip = _real("clip", clip, low=0.0)
    for name, g in _grad_list(grads):
        _core.inplace_clip_value(g, clip, name=name)

