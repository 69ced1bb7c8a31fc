"""Callbacks: code that runs inside :func:`fastgd.Sequential.fit` at fixed points.

Subclass :class:`Callback` and override any of ``on_train_begin(logs)``,
``on_epoch_end(epoch, logs)``, ``on_batch_end(step, logs)``, ``on_train_end(logs)``. ``self.model``,
``self.optimizer``, ``self.schedule`` and ``self.history`` are set before training starts. Setting
``self.model.stop_training = True`` stops training after the current step (in ``on_train_begin``:
before the first).

A callback whose decisions depend on the epochs it has seen (:class:`EarlyStopping`, the best
value of a ``save_best_only`` :class:`ModelCheckpoint`, or a callback of your own) returns that
in ``state_dict()`` and takes it back in ``load_state_dict()``: every checkpoint a
:class:`ModelCheckpoint` writes during a fit saves the non-empty states of the fit's callbacks,
and ``Checkpoint.resume_callbacks`` gives them back, so that a fit resumed from the checkpoint
continues where the interrupted one was (see :func:`fastgd.load_checkpoint`). A state is a dict
with str keys whose values are None, bools, numbers, strs, NumPy arrays of numbers or bools, and
lists, tuples (loaded as lists) and dicts of those. It is matched to its callback by
``state_key`` (the class's qualified name; a ModelCheckpoint's and an EarlyStopping's add their
monitor and mode) and the callback's index among the fit's callbacks of that key.

In a fit the ModelCheckpoints run after the other callbacks (and the fit's ``early_stopping=``
before them), so that a checkpoint holds every callback's state after the epoch.

In a data-parallel fit (``comm=``) every rank runs the callbacks on the same logs, except those
whose ``rank_zero_only`` is True (the ones that write files), which run on rank 0 only.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import math
import numbers
import os
import re
import string
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fastgd.nn.model import Sequential
    from fastgd.optim import Optimizer
    from fastgd.training import History

from fastgd import _validation

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "CSVLogger"]


class Callback:
    """Base class: every hook does nothing. ``logs`` maps names ("loss", "val_loss", metrics, ...)
    to the values of the epoch (or step) just done; epochs and steps count from 0."""

    model: Sequential | None = None
    optimizer: Optimizer | None = None
    schedule: Any = None
    history: History | None = None
    rank_zero_only = False

    def set_context(self, model: Sequential, optimizer: Optimizer, schedule: Any, history: History) -> None:
        self.model, self.optimizer, self.schedule, self.history = model, optimizer, schedule, history

    def on_train_begin(self, logs: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self, logs: dict[str, float]) -> None:
        pass

    @property
    def state_key(self) -> str:
        """What a checkpoint saves the callback's state under, with the callback's index among the
        fit's callbacks of the same key: the class's qualified name. A subclass whose instances
        differ in what their states are for may add that (as ModelCheckpoint adds its monitor)."""
        return type(self).__qualname__

    def state_dict(self) -> dict[str, Any]:
        """What the callback carries from epoch to epoch that a resumed fit needs: nothing here.
        A subclass returns a dict of what it needs (see the module docstring for what a
        checkpoint can hold); an empty one is not saved."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned (here: an empty dict)."""
        _validation.config("state", state, "(what state_dict() returns)", (), ())

    def _continued_run(self, initial_epoch):
        """What the ranks of a data-parallel fit starting at ``initial_epoch`` must share of the
        callback's state (None at epoch 0, where nothing is continued, and without state): the
        state, its arrays by digest."""
        if initial_epoch == 0:
            return None
        from fastgd.training.io import _state_digest

        return _state_digest(self.state_dict())


def _state_key(qualname, **attributes):
    """A ``state_key`` naming the class ``qualname`` and ``attributes``."""
    return f"{qualname}{attributes!r}"


def _state_keys(callbacks):
    """The ``(state_key, index)`` of each callback of ``callbacks``: what a checkpoint saves its
    state under, its index counting the callbacks of the same key before it."""
    seen, keys = {}, []
    for i, cb in enumerate(callbacks):
        key = cb.state_key
        if not isinstance(key, str):
            raise TypeError(f"callbacks[{i}] ({type(cb).__qualname__}): state_key must be a str, got "
                            f"{_validation.shown(key)}")
        keys.append((key, seen.get(key, 0)))
        seen[key] = keys[-1][1] + 1
    return keys


def _monitor(value):
    """The name of a logged value (``"loss"``, ``"val_loss"``, a metric's name)."""
    if not isinstance(value, str):
        raise _validation.ArgumentTypeError(f"monitor must be the name of a logged value (a str such as "
                                            f"'val_loss'), got {value!r} ({type(value).__name__})")
    return value


def _logged(who, monitor, logs):
    """The logged value ``monitor`` names (a "val_" name falls back to the training value when
    there is no validation data), else ValueError listing what was logged."""
    key = monitor
    if key not in logs and key.startswith("val_") and key[4:] in logs:
        key = key[4:]
    if key not in logs:
        raise ValueError(f"{who}: monitor {monitor!r} is not among the logged values {sorted(logs)}")
    return logs[key]


def _output_path(who, path):
    """Check, when training begins, that a file can be created at ``path``: its directory exists
    and it is not itself a directory (else the first epoch's work would be lost to an OSError)."""
    directory = os.path.dirname(path) or os.curdir
    if not os.path.isdir(directory):
        raise ValueError(f"{who}: path {path!r} is in a directory that does not exist ({directory!r}); create it first")
    if os.path.isdir(path):
        raise ValueError(f"{who}: path {path!r} is a directory, it must name a file")


class EarlyStopping(Callback):
    """Stop when the monitored value has not improved by more than ``min_delta`` for
    ``patience`` epochs (the validation-set stopping criterion); with ``restore_best=True`` the
    model ends with the parameters of its best epoch.

    ``monitor="val_loss"`` falls back to ``"loss"`` when there is no validation data.

    Every fit starts it afresh, except a fit that resumes the run whose state it was given by
    :meth:`load_state_dict` (as :func:`fastgd.load_checkpoint` does for ``ck.early_stopping``):
    one whose ``initial_epoch`` is the state's ``next_epoch`` continues that run's best value,
    best epoch, wait count and best parameters (and, if that run had stopped, runs no epoch and
    ends as it did); one with ``initial_epoch=0`` starts afresh; any other ``initial_epoch`` is
    refused (ValueError).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "min",
                 restore_best: bool = True) -> None:
        self.monitor = _monitor(monitor)
        self.patience = _validation.integer("patience", patience, 0)
        self.min_delta = _validation.real("min_delta", min_delta, low=0.0)
        self.mode = _validation.choice("mode", mode, ("min", "max"))
        self.restore_best = _validation.flag("restore_best", restore_best)
        self._reset()

    @property
    def state_key(self) -> str:
        """The class, monitor and mode: what a checkpoint saves the state under (see
        :attr:`Callback.state_key`)."""
        return _state_key(type(self).__qualname__, monitor=self.monitor, mode=self.mode)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments: ``EarlyStopping(**config)`` makes a fresh copy."""
        return {"monitor": self.monitor, "patience": self.patience, "min_delta": self.min_delta, "mode": self.mode,
                "restore_best": self.restore_best}

    def __repr__(self):
        return f"EarlyStopping({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.best_params = None
        self.wait = 0
        self.stopped_epoch = None
        self.next_epoch = 0  # the epoch after the last one seen
        self._resume = False  # load_state_dict: the next fit that starts at next_epoch continues the run

    def state_dict(self) -> dict[str, Any]:
        """The run so far: ``next_epoch`` (the epoch after the last one seen), ``best`` and
        ``best_epoch`` (None before any improvement), ``wait`` (epochs since), ``stopped_epoch``
        (None unless it stopped the run), ``best_params`` (a copy of the best epoch's parameters
        with ``restore_best=True``, else None), and the ``monitor`` and ``mode`` it is for."""
        return {"monitor": self.monitor, "mode": self.mode, "next_epoch": self.next_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "wait": self.wait, "stopped_epoch": self.stopped_epoch,
                "best_params": None if self.best_params is None else self.best_params.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take the run :meth:`state_dict` described, to be continued by the next fit that starts
        at its ``next_epoch`` (see the class docstring). A state for another monitor or mode, or
        one that does not hold together, is refused (ValueError or TypeError) and changes nothing."""
        keys = ("monitor", "mode", "next_epoch", "best", "best_epoch", "wait", "stopped_epoch", "best_params")
        _validation.config("state", state, "(what EarlyStopping.state_dict() returns)", keys, ())
        if state["monitor"] != self.monitor or state["mode"] != self.mode:
            raise ValueError(f"state is for monitor={state['monitor']!r}, mode={state['mode']!r}; this EarlyStopping "
                             f"has monitor={self.monitor!r}, mode={self.mode!r}")
        next_epoch = _validation.integer("state['next_epoch']", state["next_epoch"], 0,
                                         maximum=_validation.MAX_RESTORED_COUNT)
        best_epoch = _validation.integer("state['best_epoch']", state["best_epoch"], 0,
                                         maximum=max(next_epoch - 1, 0), allow_none=True)
        if best_epoch is not None and next_epoch == 0:
            raise ValueError(f"state['best_epoch'] is {best_epoch}, but state['next_epoch'] is 0: no epoch was seen")
        wait = _validation.integer("state['wait']", state["wait"], 0, maximum=next_epoch)
        if best_epoch is not None and wait != next_epoch - 1 - best_epoch:
            raise ValueError(f"state['wait'] must count the epochs after the best one ({next_epoch - 1 - best_epoch}), "
                             f"got {wait}")
        unset = math.inf if self.mode == "min" else -math.inf
        if best_epoch is None:
            best = state["best"]
            if not (isinstance(best, numbers.Real) and not isinstance(best, (bool, np.bool_)) and best == unset):
                raise ValueError(f"state['best'] must be {unset} while state['best_epoch'] is None, got "
                                 f"{_validation.shown(best)}")
        else:
            best = _validation.real("state['best']", state["best"])
        stopped = _validation.integer("state['stopped_epoch']", state["stopped_epoch"], 0, allow_none=True)
        if stopped is not None and (stopped != next_epoch - 1 or wait < self.patience):
            raise ValueError(f"state['stopped_epoch'] is {stopped}: a run stops at its last epoch "
                             f"({next_epoch - 1}), after at least patience={self.patience} epochs without "
                             f"improvement (state['wait'] is {wait})")
        best_params = state["best_params"]
        if best_params is not None:
            best_params = _validation.real_array("state['best_params']", best_params)
            if best_params.ndim != 1 or best_params.dtype.name not in ("float32", "float64"):
                raise ValueError(f"state['best_params'] must be a 1-D float32 or float64 array, got "
                                 f"{_validation.describe(best_params)}")
            _validation.finite("state['best_params']", best_params)
            best_params = best_params.copy()
        if self.restore_best and best_epoch is not None and best_params is None:
            raise ValueError("state['best_params'] is None: the state was saved with restore_best=False, and this "
                             "EarlyStopping (restore_best=True) would have no best parameters to restore")
        if not self.restore_best or best_epoch is None:
            best_params = None
        self.next_epoch, self.best, self.best_epoch, self.wait = next_epoch, float(best), best_epoch, wait
        self.stopped_epoch, self.best_params, self._resume = stopped, best_params, True

    def _continued_run(self, initial_epoch):
        """The loaded run a fit starting at ``initial_epoch`` continues (its state, a digest of
        its best parameters), None when it starts afresh: what the ranks of a data-parallel fit
        must share, as they share its configuration."""
        if not self._resume or initial_epoch == 0:
            return None
        state = self.state_dict()
        best = state.pop("best_params")
        state["best_params (digest)"] = None if best is None else hashlib.blake2b(best, digest_size=8).hexdigest()
        return state

    def on_train_begin(self, logs: dict[str, float]) -> None:
        start = 0 if self.history is None else self.history.params.get("initial_epoch", 0)
        if not self._resume or start == 0:
            self._reset()
            return
        if start != self.next_epoch:
            raise ValueError(f"early_stopping holds the state of a run whose next epoch is {self.next_epoch} "
                             f"(load_state_dict, load_checkpoint): pass initial_epoch={self.next_epoch} to continue "
                             f"that run, or initial_epoch=0 to start early stopping afresh; got initial_epoch={start}")
        params = self.model.params
        if self.best_params is not None and (self.best_params.shape != params.shape
                                             or self.best_params.dtype != params.dtype):
            raise ValueError(f"early_stopping holds the best parameters of a model of {self.best_params.shape[0]} "
                             f"{self.best_params.dtype} parameters; this model has {params.shape[0]} {params.dtype}")
        self._resume = False
        if self.stopped_epoch is not None:  # the run had stopped: this fit ends as it did
            self._stop()

    def _stop(self):
        self.model.stop_training = True
        if self.history is not None:
            # no best epoch when no value was better than the start (NaN values, say)
            best = (f"best epoch {self.best_epoch + 1}" if self.best_epoch is not None else
                    f"none of its values was below {self.best}" if self.mode == "min" else
                    f"none of its values was above {self.best}")
            self.history.stopped_reason = (f"early stopping: {self.monitor} did not improve for "
                                           f"{self.patience} epochs ({best})")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = _logged("EarlyStopping", self.monitor, logs)
        self.next_epoch = epoch + 1
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_params = self.model.params.copy()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self._stop()

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self.restore_best and self.best_params is not None:
            self.model._assign_params(self.best_params)


# the widest an {epoch} field may be formatted: the longest file name most file systems take
_MAX_FIELD_WIDTH = 255


def _epoch_template(path):
    """``path`` if its only replacement fields are ``{epoch}``, each with at most a format spec of
    its own for an int (no nested fields, widths up to _MAX_FIELD_WIDTH), else ValueError: checked
    at construction, by formatting it once, rather than when the first epoch ends, where
    ``{epoch[0]}`` would raise TypeError, ``{epoch.x}`` AttributeError and a width of 10**10
    MemoryError."""
    try:
        for _, field, spec, _ in string.Formatter().parse(path):
            if field is not None and field != "epoch":
                raise ValueError(f"a field {{{field}}}")
            if spec and ("{" in spec or any(int(w) > _MAX_FIELD_WIDTH for w in re.findall(r"\d+", spec))):
                raise ValueError(f"the format spec {spec!r} (nested fields and widths past {_MAX_FIELD_WIDTH} "
                                 f"are refused)")
        path.format(epoch=1)
    except ValueError as exc:
        raise ValueError(f"path may hold the field {{epoch}} and no other (double a literal brace), got "
                         f"{path!r}: {exc}") from None
    return path


def _best_state(state):
    """``state`` (what :meth:`ModelCheckpoint.state_dict` returns) checked: a monitor's name, a
    mode and a best value that is a number (infinite before the first epoch), not NaN."""
    _validation.config("state", state, "(what ModelCheckpoint.state_dict() returns)", ("monitor", "mode", "best"), ())
    _monitor(state["monitor"])
    _validation.choice("state['mode']", state["mode"], ("min", "max"))
    best = state["best"]
    if isinstance(best, (bool, np.bool_)) or not isinstance(best, numbers.Real) or math.isnan(best):
        raise ValueError(f"state['best'] must be a number (infinite before any epoch), got {_validation.shown(best)}")
    return {"monitor": state["monitor"], "mode": state["mode"], "best": float(best)}


class ModelCheckpoint(Callback):
    """Save a training checkpoint (model, optimizer, schedule, history, the state of the fit's
    ``early_stopping`` and the states of its callbacks; see :func:`fastgd.save_checkpoint`) at
    the end of every epoch, or only when the monitored value improves on the best so far
    (``save_best_only=True``). ``path`` may contain ``{epoch}``. In a fit, ModelCheckpoints run
    after the other callbacks, so the states saved are those after the epoch. A callback's state
    that a file cannot hold (where :func:`fastgd.save_checkpoint` raises) is left out with a
    warning naming it, once per fit, and the training goes on.

    The best value so far is its state (:meth:`state_dict`): kept from fit to fit, and taken
    back from a checkpoint by ``Checkpoint.resume_callbacks`` when a fit resumes."""

    rank_zero_only = True
    # set by fit: its early_stopping and its callbacks, whose states each checkpoint saves
    _early_stopping: EarlyStopping | None = None
    _callbacks: list[Callback] = []
    # the callbacks (ids) whose states this fit's checkpoints left out, warned of once each
    _warned: frozenset[int] = frozenset()

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "min") -> None:
        self.path = _epoch_template(_validation.path("path", os.fsdecode(path) if isinstance(path, bytes) else path))
        self.monitor = _monitor(monitor)
        self.save_best_only = _validation.flag("save_best_only", save_best_only)
        self.mode = _validation.choice("mode", mode, ("min", "max"))
        self.best = math.inf if mode == "min" else -math.inf

    @property
    def state_key(self) -> str:
        """The class, monitor, mode and ``save_best_only``: what a checkpoint saves the state
        under (see :attr:`Callback.state_key`)."""
        return _state_key(type(self).__qualname__, monitor=self.monitor, mode=self.mode,
                          save_best_only=self.save_best_only)

    def state_dict(self) -> dict[str, Any]:
        """The best monitored value so far, which an epoch must beat to be saved with
        ``save_best_only=True`` (inf, or -inf with ``mode="max"``, before the first), and the
        ``monitor`` and ``mode`` it is for."""
        return {"monitor": self.monitor, "mode": self.mode, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take the best value :meth:`state_dict` returned; one for another monitor or mode is
        refused (ValueError)."""
        state = _best_state(state)
        if state["monitor"] != self.monitor or state["mode"] != self.mode:
            raise ValueError(f"state is for monitor={state['monitor']!r}, mode={state['mode']!r}; this ModelCheckpoint "
                             f"has monitor={self.monitor!r}, mode={self.mode!r}")
        self.best = state["best"]

    def _set_fit(self, early_stopping, callbacks):
        """The fit's ``early_stopping`` and its ``callbacks`` (as passed: ``_state_keys`` numbers them
        in that order), whose states each checkpoint saves."""
        self._early_stopping = early_stopping
        self._callbacks = [cb for cb in callbacks if cb is not early_stopping]

    def _improves(self, logs):
        """Whether the epoch's monitored value beats the best so far (and the value)."""
        value = _logged("ModelCheckpoint", self.monitor, logs)
        return (value < self.best if self.mode == "min" else value > self.best), value

    def _after(self, logs):
        """A copy holding the best value after the epoch of ``logs``, whether or not its own
        on_epoch_end has run yet (the ModelCheckpoints after the one writing have not): the
        state a checkpoint of that epoch saves."""
        after = copy.copy(self)
        if self.save_best_only:  # the others keep no best value
            improves, value = self._improves(logs)
            if improves:
                after.best = value
        return after

    def on_train_begin(self, logs: dict[str, float]) -> None:
        from fastgd.training.io import _save_path

        _output_path("ModelCheckpoint", _save_path(self.path.format(epoch=1)))
        self._warned = frozenset()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        from fastgd.training.io import _write_checkpoint

        if self.save_best_only:
            improves, value = self._improves(logs)
            if not improves:
                return
            self.best = value
        # a callback state the file cannot hold is left out with a warning: the training goes on
        skipped: list[tuple[Callback, str]] = []
        path = _write_checkpoint(self.path.format(epoch=epoch + 1), self.model, self.optimizer, self.schedule, self.history, self._early_stopping,
                          [cb._after(logs) if isinstance(cb, ModelCheckpoint) else cb for cb in self._callbacks],
                          skipped)
        for cb, reason in skipped:
            if id(cb) not in self._warned and not isinstance(cb, ModelCheckpoint):
                self._warned |= {id(cb)}
                warnings.warn(f"ModelCheckpoint: {path} leaves out a callback's state, as this fit's later "
                              f"checkpoints do while it cannot be saved ({reason}); a fit resumed from such a "
                              f"checkpoint starts that callback afresh", UserWarning, stacklevel=2)


class CSVLogger(Callback):
    """Append one CSV row per epoch (epoch and every logged value) to ``path``. With
    ``append=True`` the rows go under the file's own header, each value in its column (a column
    the file lacks is added, the file's earlier rows leaving it empty); a file that is no such
    log (its first row not a header starting with ``epoch``) is refused when training begins."""

    rank_zero_only = True

    def __init__(self, path: str | os.PathLike[str], append: bool = False) -> None:
        self.path = _validation.path("path", os.fsdecode(path) if isinstance(path, bytes) else path)
        self.append = _validation.flag("append", append)

    def on_train_begin(self, logs: dict[str, float]) -> None:
        _output_path("CSVLogger", self.path)
        self._keys = None
        if not self.append and os.path.exists(self.path):
            os.remove(self.path)
        if self.append:
            self._header()  # a file it cannot append to is refused before the first epoch's work

    def _read(self, whole):
        """The rows of the log (only its header unless ``whole``), checked to be a CSVLogger log:
        its first row is a header naming the epoch column first. Anything else (a blank first
        row, another program's CSV, bytes that are no text, a row the csv module refuses) is a
        ValueError naming the file: appended rows would stand under columns of other names."""
        try:
            with open(self.path, newline="") as f:
                reader = csv.reader(f)
                rows = list(reader) if whole else [next(reader, [])]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValueError(f"CSVLogger: cannot append to {self.path!r}: it is not a CSV log "
                             f"({type(exc).__name__}: {exc})") from None
        first = rows[0] if rows else []
        if first[:1] != ["epoch"]:
            raise ValueError(f"CSVLogger: cannot append to {self.path!r}: its first row {first[:8]!r} is not a "
                             f"CSVLogger header ('epoch', then the logged names)")
        return rows

    def _header(self):
        """The log's header, or None when the file is missing or empty."""
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return None
        return self._read(whole=False)[0]

    def _columns(self, logged):
        """The logged names in the order of the file's columns: those of its header, when it
        has one, then any it lacks, which are added to the header (its rows get them empty)."""
        header = self._header()
        keys = header[1:] if header is not None else []
        added = [k for k in sorted(logged) if k not in keys]
        if header is not None and added:  # the rows are read (and rewritten) only when the header grows
            rows = self._read(whole=True)
            with open(self.path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(rows[0] + added)
                w.writerows(row + [""] * (len(rows[0]) + len(added) - len(row)) for row in rows[1:])
        return keys + added

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self._keys is None:
            self._keys = self._columns(logs)
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch"] + self._keys)
            w.writerow([epoch + 1] + [logs.get(k, "") for k in self._keys])
