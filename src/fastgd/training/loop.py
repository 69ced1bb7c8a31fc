"""The training loop: ``model.fit``, ``evaluate``, ``partial_fit``, random restarts.

Batch schedules: ``batch_size=None`` is full-batch gradient descent, ``1`` pure
stochastic gradient descent, ``b`` mini-batch descent. ``shuffle="epoch"`` draws a new order every
epoch (random reshuffling), ``"once"`` one order for the whole run, ``False`` keeps the data order.
The order of epoch ``e`` depends only on ``(seed, e)``, which is what lets a run resumed from a
checkpoint continue bit for bit.

Stopping rules: ``epochs`` / ``max_steps`` (fixed iterations), ``tol`` (the full gradient norm
falls below tol: the textbook ε convergence criterion), :class:`fastgd.EarlyStopping` (validation criterion),
or a callback setting ``model.stop_training = True``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import numbers
import shutil
import sys
import time
import warnings
from typing import Any

import numpy as np

from fastgd import _core, _runtime
from fastgd import curvature as _curvature_hooks
from fastgd import _loop, _outofcore, _validation
from fastgd import distributed as _distributed
from fastgd.nn import losses as _losses
from fastgd import metrics as _metrics
from fastgd.training.callbacks import Callback, EarlyStopping, ModelCheckpoint, _state_keys

__all__ = ["fit", "evaluate", "partial_fit", "fit_restarts", "History", "DivergenceError"]


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or gradient. The model keeps the best finite
    parameters seen; ``epoch`` and ``step`` say where it happened, ``history`` holds the
    epochs completed before."""

    def __init__(self, message, epoch=None, step=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.history = history


def _curvature_columns(records):
    """A copy of ``history.curvature`` in plain numbers: ``step`` and ``epoch`` ints, the rest floats."""
    return {str(k): [int(v) if k in ("step", "epoch") else float(v) for v in vs] for k, vs in records.items()}


def _columns(name, table, rows, per):
    """``table`` (a dict of name -> list of ``rows`` numbers, as History.to_dict writes) with
    float columns, else TypeError or ValueError naming the column."""
    if not isinstance(table, dict):
        raise TypeError(f"{name} must be a dict of columns, got {type(table).__name__}")
    columns = {}
    for k, v in table.items():
        if not isinstance(k, str) or not isinstance(v, (list, tuple)) or len(v) != rows:
            raise ValueError(f"{name} must map names to lists of {rows} values (one per {per}), got {k!r}: "
                             f"{type(v).__name__} of length {len(v) if hasattr(v, '__len__') else 'n/a'}")
        if not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v):
            raise TypeError(f"{name}[{k!r}] must hold numbers")
        columns[k] = [_validation.as_float(x) for x in v]
    return columns


class History:
    """Per-epoch records of a fit: ``history.history`` maps "loss", "val_loss", metric names,
    "grad_norm", "lr", "seconds" to lists (one entry per epoch), also readable as
    ``history["loss"]`` and ``history.loss``. ``history.epochs`` lists the epoch indices
    (0-based, as ``initial_epoch``; printed and plotted from 1)."""

    curvature = None  # the probes of fit(curvature=...): a dict of lists, saved by to_dict

    def __init__(self, params=None):
        self.history: dict[str, list] = {}
        self.epochs: list[int] = []
        self.params = dict(params or {})
        self.stopped_reason = None

    def _append(self, epoch, logs):
        self.epochs.append(epoch)
        for key in set(self.history) | set(logs):
            column = self.history.setdefault(key, [math.nan] * (len(self.epochs) - 1))
            column.append(logs.get(key, math.nan))

    def __getitem__(self, key: str) -> list[Any]:
        return self.history[key]

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: logged columns read as attributes
        history = self.__dict__.get("history")
        if history is not None and name in history:
            return history[name]
        raise AttributeError(f"History has no attribute or logged value {name!r}; logged: "
                             f"{sorted(history or ())}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | {k for k in self.__dict__.get("history", {}) if k.isidentifier()})

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def monitor(self):
        return "val_loss" if "val_loss" in self.history else "loss"

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the lowest val_loss (loss without validation data), or None."""
        values = self.history.get(self.monitor)
        if not values:
            return None
        arr = np.asarray(values, dtype=float)
        if not np.isfinite(arr).any():
            return None
        return self.epochs[int(np.nanargmin(np.where(np.isfinite(arr), arr, np.nan)))]

    def to_dict(self):
        return {"epochs": list(self.epochs), "history": {k: [float(v) for v in vs] for k, vs in self.history.items()},
                "params": dict(self.params), "stopped_reason": self.stopped_reason,
                "curvature": None if self.curvature is None else _curvature_columns(self.curvature)}

    @classmethod
    def from_dict(cls, d):
        _validation.state("d", d, ("epochs", "history"))
        epochs, history = d["epochs"], d["history"]
        if not isinstance(epochs, (list, tuple)):
            raise TypeError(f"d['epochs'] must be a list of epoch indices, got {type(epochs).__name__}")
        epochs = [_validation.integer("d['epochs'] entries", e, 0, maximum=_validation.MAX_RESTORED_COUNT)
                  for e in epochs]
        # fit numbers its epochs one after another: the last is where a checkpoint resumes
        for previous, e in zip(epochs, epochs[1:]):
            if e != previous + 1:
                raise ValueError(f"d['epochs'] must count up one by one (as fit numbers epochs), got {e} after "
                                 f"{previous}")
        columns = _columns("d['history']", history, len(epochs), "epoch")
        params, reason, curvature = d.get("params"), d.get("stopped_reason"), d.get("curvature")
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"d['params'] must be a dict of fit's arguments, got {type(params).__name__}")
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"d['stopped_reason'] must be a str or None, got {type(reason).__name__}")
        if curvature is not None:
            if not isinstance(curvature, dict):
                raise TypeError(f"d['curvature'] must be a dict of columns, got {type(curvature).__name__}")
            steps = curvature.get("step", [])
            curvature = _columns("d['curvature']", curvature, len(steps) if isinstance(steps, (list, tuple)) else 0,
                                 "probe")
            for k in ("step", "epoch"):
                for v in curvature.get(k, ()):
                    if not (v >= 0 and v.is_integer()):
                        raise ValueError(f"d['curvature'][{k!r}] must hold integers >= 0, got {v!r}")
        h = cls(params)
        h.epochs = epochs
        h.history = columns
        h.stopped_reason = reason
        if curvature is not None:
            h.curvature = _curvature_columns(curvature)
        return h

    def plot(self, keys=("loss", "val_loss"), ax=None, logy=False, title=None):
        """Draw the logged values `keys` per epoch with matplotlib; returns the Axes.

        Epochs are numbered from 1, as the progress lines print them. The y-axis is labelled
        with what the keys measure ("accuracy" for ``("accuracy", "val_accuracy")``); the title
        defaults to "<label> per epoch". Keys that were not logged are skipped; if none was,
        ValueError lists the logged ones. Keys of ``fit(curvature=k)``'s probes that are no
        epoch columns ("lambda_max", "grad_curvature", ... when probing every k steps) are drawn
        per probe, against the training step.
        """
        if isinstance(keys, str):
            keys = (keys,)
        present = [k for k in keys if k in self.history]
        records = self.curvature or {}
        if not present and records.get("step"):
            probed = [k for k in keys if k in records and k not in ("step", "epoch")]
            if probed:
                return self._plot_series([s + 1 for s in records["step"]], {k: records[k] for k in probed},
                                         "training step", ax, logy, title)
        if not present:
            logged = sorted(self.history) + sorted(k for k in records if k not in ("step", "epoch"))
            raise ValueError(f"none of keys={tuple(keys)!r} was logged; logged: {logged}")
        return self._plot_series([e + 1 for e in self.epochs], {k: self.history[k] for k in present}, "epoch",
                                 ax, logy, title)

    def _plot_series(self, x, series, unit, ax, logy, title):
        try:
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib "
                              "(or, in a fastgd checkout, pip install \".[plot]\")") from None
        if ax is None:
            _fig, ax = plt.subplots()
        for key, values in series.items():
            ax.plot(x, values, label=key, marker="." if len(x) < 30 else None)
        measures = list(dict.fromkeys(k.removeprefix("val_") for k in series))
        ylabel = ", ".join(measures)
        ax.set_xlabel(unit)
        ax.set_ylabel(ylabel)
        ax.set_title(title if title is not None else f"{ylabel} per {unit}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if logy:
            ax.set_yscale("log")
        ax.legend()
        return ax

    def __repr__(self):
        last = {k: v[-1] for k, v in self.history.items()} if self.epochs else {}
        return f"History(epochs={len(self.epochs)}, last={last})"


# ---- helpers -----------------------------------------------------------------------------


def _get_optimizer(optimizer):
    from fastgd import optim as _optim
    from fastgd.optim.lbfgs import LBFGS

    if isinstance(optimizer, str):
        if optimizer.lower() == "lbfgs":
            return LBFGS()
        return _optim.get(optimizer)
    if isinstance(optimizer, type) and issubclass(optimizer, (_optim.Optimizer, LBFGS)):
        if optimizer is _optim.Optimizer:  # the base class has no update rule (nor a default lr)
            raise TypeError("optimizer must be an optimizer's class such as fastgd.optim.Adam, not the base class "
                            "fastgd.optim.Optimizer")
        # a class, as Keras takes a name: an instance with the default hyperparameters
        return optimizer()
    if isinstance(optimizer, LBFGS) or _curvature_hooks.is_newton_cg(optimizer):
        return optimizer
    if not hasattr(optimizer, "_plan"):
        raise TypeError(f"optimizer must be a fastgd optimizer (e.g. fastgd.optim.Adam(lr=1e-3)), its class "
                        f"or its name, got {type(optimizer).__name__}")
    return optimizer


def _check_schedule(schedule, optimizer):
    """``schedule``: None, or a fastgd schedule that sets the lr of ``optimizer``, the one fit
    steps (a schedule on another optimizer would change a learning rate the fit never reads)."""
    from fastgd.optim.schedules import Schedule

    if schedule is None:
        return None
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a fastgd.schedules schedule (e.g. fastgd.schedules.CosineDecay(opt, "
                        f"total_steps=50)) or None, got {type(schedule).__name__}")
    if schedule.optimizer is not optimizer:
        # the objects may look alike (a copy): their reprs would not tell them apart
        raise ValueError(f"schedule sets the lr of another {type(schedule.optimizer).__name__} object than the "
                         f"{type(optimizer).__name__} fit trains with: pass the optimizer the schedule was made on "
                         f"(optimizer=schedule.optimizer)")
    return schedule


# Metric functions take (y_true, y_pred) where y_pred is the loss's link of the network output
# (class probabilities for classification losses, the output itself for regression).
METRICS = {"accuracy": _metrics.accuracy, "zero_one_loss": _metrics.zero_one_loss, "r2": _metrics.r2_score,
           "mse": _metrics.mean_squared_error, "mae": _metrics.mean_absolute_error}


def _metric_fns(metrics, logged=("loss",)):
    """``[(name, function)]`` for ``metrics``: None (none, as in Keras), a name, a callable, or
    a list of names and callables. Each is logged under its name and "val_" + its name, which
    must be none of ``logged`` (the values logged beside the metrics) nor another metric's."""
    out = []
    if metrics is None:
        return out
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    try:
        metrics = list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of names or callables, got {type(metrics).__name__}") from None
    for m in metrics:
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(f"metrics: unknown metric {m!r}; known: {sorted(METRICS)}")
            out.append((m, METRICS[m]))
        elif callable(m):
            out.append((getattr(m, "__name__", "metric"), m))
        else:
            raise TypeError(f"metrics must hold names or callables, got {type(m).__name__}")
    taken = {key: f"the {key} logged beside the metrics" for key in logged}  # logged name -> what logs it
    for i, (name, _fn) in enumerate(out):
        for key in (name, "val_" + name):
            if key in taken:
                # one would overwrite the other in the logs: the History, the monitors, the progress
                raise ValueError(f"metrics[{i}] would be logged as {key!r}, as is {taken[key]}; give each metric "
                                 f"its own name (a function's __name__)")
            taken[key] = f"metrics[{i}]"
    return out


def _normalization(loss, target, dtype):
    """How the loss's mean over these rows is normalized, for ``DataParallel.agree``: a
    class-weighted loss divides by the class weights of class-index targets and by the sample
    weights of target rows (see the loss's docstring), so ranks with one form each would mix the
    two into a mean no one process computes. None where both forms give the same."""
    return None if loss._class_weight_array(dtype) is None else f"{target[0]} targets"


def _scores_classes(fn):
    """Whether ``fn`` is one of fastgd's metrics whose rule depends on the form of y_true."""
    return fn is _metrics.accuracy or fn is _metrics.zero_one_loss


def _accuracy_rule(metric_fns, loss, n_outputs, target, dp, val=None):
    """The rule by which accuracy and zero_one_loss score every set of rows of one fit or
    evaluation (see _metrics._multilabel_rule), decided once from the loss, the whole prepared
    ``target`` and the validation data's ``val`` (every rank's rows with ``dp``); None when no
    metric needs one."""
    if not any(_scores_classes(fn) for _name, fn in metric_fns):
        return None
    targets = [target[1]] if val is None else [target[1], val[1][1]]
    return _metrics._multilabel_rule(loss, n_outputs, targets,
                                     None if dp is None else lambda v: dp.sum(v, "the form of every rank's targets"))


def _metric(dp, fn, y_true, y_pred, multilabel):
    """The metric ``fn`` of these rows (over every rank's with ``dp``). fastgd's accuracy and
    zero_one_loss score them by the rule fixed for the whole fit or evaluation (``multilabel``,
    see _metrics._multilabel_rule), not by the one the form of these rows alone would give."""
    if _scores_classes(fn):
        correct = _metrics._correct(y_true, y_pred, 0.5, multilabel)
        right, n = np.count_nonzero(correct), correct.shape[0]
        if dp is not None:  # from the counts of right predictions: the rows stay on their ranks
            right, n = dp.sum([right, n], f"the counts of right predictions of {_distributed.metric_name(fn)}")
        return float(right / n if fn is _metrics.accuracy else 1.0 - right / n)
    if dp is None or dp.size == 1:  # every row is here: the metric as one process computes it
        return _validation.returned_real(_distributed.metric_name(fn), fn(y_true, y_pred))
    return _distributed.gather_metric(dp, fn, y_true, y_pred)


def _full_grad_norm(model, x, target, sw, loss, dp=None):
    """The norm of the gradient of the mean loss over the whole data set (chunked); over every
    rank's rows with ``dp``: each rank's scaled by its share of the global weight, summed (one
    rank's, of share 1, as without ``dp``)."""
    share = 1.0
    if dp is not None:
        weight = _loop.batch_weight(loss, target, sw, model.dtype)
        share = weight / dp.sum([weight], "the weights of the full-data gradient (tol)")[0]
    _value, grad = _loop.data_gradient(model, x, target, sw, loss, scale=share)
    if dp is not None:
        grad = dp.sum(grad, "the full-data gradient (tol)")
    return _curvature_hooks.l2_norm(grad)


def _lbfgs_iteration(model, optimizer, x, target, sw, loss, packed=None):
    """One L-BFGS iteration (line search included) on the full-batch loss; returns the loss at
    the new point and its gradient norm. ``packed``: x's ``model._pack_input``, or None."""
    loss_spec = model._loss_spec(loss)

    def closure(params):
        value, _norm, _status = model._train_step(x, loss_spec=loss_spec, target=target, sample_weight=sw,
                                                  packed=packed)
        return value, model.grads

    value = optimizer.step(closure, model.params, **_curvature_hooks.step_extras(model, optimizer, x, target, sw, loss))
    g = optimizer.grad
    return value, _curvature_hooks.l2_norm(g) if g is not None else math.nan


def _format_number(value):
    """A logged value with 4 significant digits in one style: fixed point from 1e-3 to 1e4
    (trailing zeros kept, so 1 prints as 1.000 beside 0.9670), scientific outside."""
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v == 0.0:
        return "0.000"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.{max(0, 3 - math.floor(math.log10(abs(v))))}f}"
    return f"{v:.3e}"


def _wrap_items(head, items, width):
    """`head` then the items, separated by two spaces, wrapped to lines of at most `width`
    columns (an item is never cut; continuation lines are indented)."""
    lines, line = [], head
    for item in items:
        if len(line) + 2 + len(item) > width and line.strip():
            lines.append(line)
            line = "    " + item
        else:
            line = f"{line}  {item}" if line else item
    lines.append(line)
    return "\n".join(lines)


class _Progress:
    """What fit reports on stderr: off (``progress=False``, ``verbose=0``); a tqdm bar during each
    epoch in a terminal (``verbose=1``), then one summary line per epoch; or the summary line
    only (``verbose=2``, and whenever stderr is not a terminal). Summary lines hold every logged
    value to 4 significant digits and wrap at the terminal's width (80 columns when unknown)."""

    def __init__(self, enabled, epochs, steps_per_epoch, stream=None, bar=True):
        self.stream = stream or sys.stderr
        self.enabled = bool(enabled)
        self.epochs = epochs
        self.steps = steps_per_epoch
        self.bar = None
        self.tty = self.enabled and bar and hasattr(self.stream, "isatty") and self.stream.isatty()
        if self.tty:
            try:
                import tqdm  # noqa: F401
            except ImportError:
                self.tty = False

    def start_epoch(self, epoch):
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=self.steps, desc=f"epoch {epoch + 1}/{self.epochs}", unit="step",
                            file=self.stream, leave=False, dynamic_ncols=True)

    def update(self, loss_value):
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n % 16 == 0 or self.bar.n == self.steps:
                self.bar.set_postfix_str(f"loss={_format_number(loss_value)}", refresh=False)

    def end_epoch(self, epoch, logs, samples_per_s):
        if not self.enabled:
            return
        self.close()
        items = [f"{k}={_format_number(v)}" for k, v in logs.items() if k not in ("seconds", "lr", "grad_norm")]
        items.append(f"{logs.get('seconds', 0.0):.2f} s")
        items.append(f"{samples_per_s:,.0f} samples/s")
        width = shutil.get_terminal_size((80, 24)).columns
        print(_wrap_items(f"epoch {epoch + 1}/{self.epochs}:", items, max(width, 40)), file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _checked_as(name, check, *args):
    """``check(*args)``, a TypeError or ValueError it raises said to be about ``name`` (the checks
    name x, the target and sample_weight, which the validation data holds too)."""
    try:
        return check(*args)
    except (TypeError, ValueError) as exc:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (f"{name}: {exc.args[0]}",) + exc.args[1:]
        raise


def _split_validation(x, target, sw, validation_split):
    n = x.shape[0]
    n_val = int(math.floor(n * validation_split))
    if n_val < 1 or n_val >= n:
        raise ValueError(f"validation_split={validation_split} leaves {n_val} validation samples of {n}; "
                         "need at least one on each side")
    cut = n - n_val
    val = (x[cut:], _loop.target_rows(target, slice(cut, None)), None if sw is None else sw[cut:])
    return x[:cut], _loop.target_rows(target, slice(0, cut)), None if sw is None else sw[:cut], val


def _progress_mode(progress, verbose):
    """(report at all, a tqdm bar allowed) from ``progress`` and Keras' ``verbose`` (0, 1, 2)."""
    if verbose is None:
        return _validation.flag("progress", progress), True
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), got {verbose!r}")
    return verbose > 0, verbose == 1


def _sample_classes(loss, target, n_outputs):
    """The class index of every sample of a prepared classification target."""
    kind, t = target
    if kind == "labels":
        return t
    if isinstance(loss, _losses.SoftmaxCrossEntropy):
        return t.argmax(axis=1)
    if isinstance(loss, _losses.BinaryCrossEntropy) and n_outputs == 1:
        return (t[:, 0] > 0.5).astype(np.int64)
    raise ValueError(f"class_weight needs a classification loss (softmax cross-entropy, or binary "
                     f"cross-entropy with one output); got loss {loss.name!r} with {n_outputs} outputs")


def _class_weights(class_weight, loss, n_outputs):
    """Keras' class_weight ``{class index: weight}`` as the weight of every class (float64)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
    n_classes = 2 if isinstance(loss, _losses.BinaryCrossEntropy) else n_outputs
    per_class = np.ones(n_classes, dtype=np.float64)
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or not 0 <= key < n_classes:
            raise ValueError(f"class_weight keys must be class indices in [0, {n_classes}), got {key!r}")
        per_class[int(key)] = _validation.real(f"class_weight[{key}]", weight, low=0.0)
    return per_class


def _apply_class_weight(per_class, loss, target, sw, n_outputs, dtype, positive_sum=True):
    """The sample weights times the weight of each sample's class (``_class_weights``);
    ``positive_sum`` as for ``model._prepare``."""
    weights = per_class[_sample_classes(loss, target, n_outputs)]
    with np.errstate(over="ignore"):  # weights past the dtype's range are refused by the conversion, by name
        if sw is not None:
            weights = weights * sw
        total = weights.sum()
    if positive_sum and not total > 0:
        raise ValueError("class_weight (times sample_weight) gives every training sample weight 0")
    converted = _validation.c_array(weights, dtype)
    _validation.finite("class_weight (times sample_weight)", converted, weights)
    return converted


# The output range of each activation that bounds it, for the warning below.
_BOUNDED_RANGE = {"relu": (0.0, math.inf), "softplus": (0.0, math.inf), "sigmoid": (0.0, 1.0),
                  "tanh": (-1.0, 1.0), "elu": (-1.0, math.inf), "gelu": (-0.16997, math.inf),
                  "gelu_tanh": (-0.17004, math.inf), "silu": (-0.27846, math.inf),
                  "selu": (-1.7580993408473766, math.inf), "mish": (-0.30884, math.inf)}


def _data_changed(model, x, target, sw):
    """What no longer passes fit's checks of its in-memory data (x, labels, sample weights), or
    None: a non-finite loss may come from data changed during the fit rather than divergence."""
    if isinstance(x, np.ndarray) and not _outofcore.is_lazy(x) and _core.count_nonfinite(x):
        return "X now holds NaN or infinity"
    kind, t = target
    if kind == "labels" and t.size and (t.min() < 0 or t.max() >= model.n_outputs):
        return f"y now holds class labels outside [0, {model.n_outputs}), from {t.min()} to {t.max()}"
    if sw is not None and not (np.all(np.isfinite(sw)) and np.all(sw >= 0)):
        return "sample_weight now holds values that are negative, NaN or infinite"
    return None


def _warn_clipping_output(model, loss, target):
    """Warn (once per model) when the last layer's activation cannot reach what the loss needs:
    logits must range over all reals, regression outputs over the targets."""
    activation = model.layers[-1].activation
    bounds = _BOUNDED_RANGE.get(activation)
    if bounds is None or getattr(model, "_warned_output_activation", False):
        return
    if isinstance(loss, (_losses.SoftmaxCrossEntropy, _losses.BinaryCrossEntropy)):
        needs = "logits, which range over all real numbers"
    elif isinstance(loss, (_losses.MSE, _losses.MAE, _losses.Huber)) and target[0] == "rows" \
            and (target[1].min() < bounds[0] or target[1].max() > bounds[1]):
        needs = f"targets in [{_format_number(target[1].min())}, {_format_number(target[1].max())}]"
    else:
        return
    model._warned_output_activation = True
    warnings.warn(
        f"the last layer's activation is {activation!r}, whose outputs lie in ({bounds[0]:g}, {bounds[1]:g}), "
        f"but the loss {loss.name!r} needs {needs}: predictions outside that range are clipped. "
        f"Give the output layer activation='identity' (or None / 'linear'), e.g. "
        f"Dense({model.layers[-1].in_features}, {model.n_outputs}, activation='identity').",
        UserWarning, stacklevel=_runtime.user_stacklevel())


def _report_interrupt(exc, history, epoch, steps_done, steps_per_epoch):
    """Ctrl-C in fit: say where, and hand the History so far to the caller on the exception."""
    exc.history = history
    print(f"\ninterrupted at epoch {epoch + 1}, step {steps_done} (of {steps_per_epoch}); the model keeps the "
          f"parameters of its last step, the History of the {len(history)} completed epoch(s) is on "
          "model.history", file=sys.stderr, flush=True)


# ---- fit --------------------------------------------------------------------------------


def _config(obj, names=()):
    """What defines obj's behaviour, for ``DataParallel.agree``: None, or its type with its
    ``get_config()`` (a fastgd schedule) or the given attributes."""
    if obj is None:
        return None
    get_config = getattr(obj, "get_config", None)
    return (type(obj).__name__, get_config() if callable(get_config) else {n: getattr(obj, n, None) for n in names})


def fit(model, X, y, *, loss, optimizer, epochs=10, batch_size=32, shuffle="epoch", validation_data=None,
        validation_split=0.0, schedule=None, clip_norm=None, clip_value=None, early_stopping=None, tol=None,
        max_steps=None, callbacks=(), metrics=(), progress=True, seed=None, sample_weight=None,
        initial_epoch=0, n_restarts=1, curvature=None, comm=None, verbose=None, class_weight=None):
    """Train the model by gradient descent and return a :class:`History`.

    Parameters
    ----------
    X, y : training inputs (n, in_features) and targets (class labels / one-hot rows /
        regression targets, as the loss expects). X may be a ``np.memmap`` (or
        ``np.load(path, mmap_mode="r")``): it is then read batch by batch, never whole (see
        ``fastgd._outofcore``); with ``comm``, this rank's shard.
    loss : a :class:`fastgd.losses.Loss` or its name.
    optimizer : a fastgd optimizer (``fastgd.optim.Adam(lr=1e-3)``), its class (``fastgd.optim.Adam``:
        an instance with the default hyperparameters) or its name, or
        ``fastgd.LBFGS()`` with ``batch_size=None`` (one L-BFGS iteration, line search included,
        per epoch). Its state is kept: a second ``fit`` continues (warm start).
    epochs : passes over the data. ``initial_epoch`` numbers the first one (resume).
    batch_size : None (full batch), 1 (stochastic) or b (mini-batch); the last batch may be smaller.
    shuffle : "epoch", "once" or False (see the module docstring).
    validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val).
    validation_split : fraction in [0, 1) of the data, taken from the end before shuffling.
    schedule : a :mod:`fastgd.schedules` schedule, stepped per epoch or per step (its ``interval``).
    clip_norm, clip_value : gradient clipping (global L2 norm; elementwise value) before each update.
    early_stopping : :class:`fastgd.EarlyStopping`, or an int patience (monitors val_loss). It
        starts afresh, unless it holds a run's state (``load_checkpoint``'s ``ck.early_stopping``)
        and ``initial_epoch`` continues that run (see :class:`fastgd.EarlyStopping`). A
        ``ModelCheckpoint`` among ``callbacks`` saves its state with every checkpoint.
    tol : stop once the norm of the full-data gradient (checked after every epoch) is below tol.
    max_steps : stop after this many optimizer steps in total.
    callbacks : :class:`fastgd.callbacks.Callback` objects (each once, and not early_stopping
        again), run in their order, except that the
        ModelCheckpoints run after the others: every checkpoint saves each callback's state
        (``state_dict()``) after the epoch; ``load_checkpoint(...).resume_callbacks(callbacks)``
        gives them back to a fit that resumes.
    metrics : names ("accuracy", "zero_one_loss", "r2", "mse", "mae") or callables
        ``f(y_true, y_pred)``, y_pred being the loss's link of the output (probabilities for the
        cross-entropies, as ``predict_proba``); computed on the training data and on the
        validation data each epoch (not weighted by sample_weight). "accuracy" and
        "zero_one_loss" score both by one rule, fixed by the loss and the whole training and
        validation targets (see ``metrics._multilabel_rule``).
    progress : bar / line per epoch on stderr (see :class:`_Progress`); False for silence.
    verbose : Keras' spelling of ``progress`` (overrides it when given): 0 silent, 1 a bar in a
        terminal and a line per epoch, 2 a line per epoch only.
    seed : seeds shuffling (None: fresh entropy, recorded in ``history.params["seed"]``).
    sample_weight : per-sample weights (n,), >= 0; the loss is the weighted mean.
    class_weight : ``{class index: weight}`` for classification losses (as Keras): each training
        sample's weight is multiplied by the weight of its class (classes not listed: 1). The
        class is the label, the argmax of a one-hot row, or the 0/1 target of a one-output
        binary cross-entropy. Validation losses are not class-weighted.
    n_restarts : k > 1 trains from k random initializations and keeps the best (see
        :func:`fit_restarts`).
    curvature : None, "epoch" or int k
        Second-order diagnostics on a fixed probe batch (128 training rows) at the first step of
        every epoch, or every k steps (first-order optimizers): gᵀg, gᵀHg/gᵀg, the predicted and
        observed change of the loss for the step taken, λmax and lr·λmax, in
        ``history.curvature`` (and, with "epoch", in the epoch rows of ``history``). Warns once
        when lr > 2/λmax. Not with ``comm``. See :class:`fastgd.curvature.CurvatureMonitor`.
    comm : an ``mpi4py`` communicator: data-parallel training over its ranks, X and y being this
        rank's shard and ``batch_size`` per rank (semantics in :mod:`fastgd.distributed`).

    The History is also ``model.history``, from the start of the fit.

    Raises
    ------
    DivergenceError
        A non-finite loss or gradient; the model keeps the best finite parameters seen.
    KeyboardInterrupt
        Ctrl-C: fit prints where it stopped and re-raises with the History so far on the
        exception (``exc.history``) and on ``model.history``; the model keeps the parameters of
        its last completed step and stays usable (``fit`` again continues from there).
    """
    if n_restarts != 1:
        kwargs = dict(loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                      validation_data=validation_data, validation_split=validation_split, schedule=schedule,
                      clip_norm=clip_norm, clip_value=clip_value, early_stopping=early_stopping, tol=tol,
                      max_steps=max_steps, callbacks=callbacks, metrics=metrics, progress=progress,
                      sample_weight=sample_weight, initial_epoch=initial_epoch, curvature=curvature, comm=comm,
                      verbose=verbose, class_weight=class_weight)
        return fit_restarts(model, X, y, n_restarts=n_restarts, seed=seed, **kwargs)

    loss = _losses.get(loss)
    optimizer = _get_optimizer(optimizer)
    schedule = _check_schedule(schedule, optimizer)
    progress, progress_bar_ok = _progress_mode(progress, verbose)
    epochs = _validation.integer("epochs", epochs, 0)
    initial_epoch = _validation.integer("initial_epoch", initial_epoch, 0)
    batch_size = _validation.integer("batch_size", batch_size, 1, allow_none=True)
    shuffle = _validation.choice("shuffle", shuffle, ("epoch", "once", False, True, None))
    if shuffle is True:
        shuffle = "epoch"
    clip_norm = _validation.real("clip_norm", clip_norm, low=0.0, low_open=True, allow_none=True)
    clip_value = _validation.real("clip_value", clip_value, low=0.0, low_open=True, allow_none=True)
    tol = _validation.real("tol", tol, low=0.0, allow_none=True)
    max_steps = _validation.integer("max_steps", max_steps, 1, allow_none=True)
    validation_split = _validation.probability("validation_split", validation_split)
    if validation_data is not None and validation_split:
        raise ValueError("pass validation_data or validation_split, not both")
    early_stopping = _early_stopping(early_stopping)
    callbacks = _distinct_callbacks(_validation.callbacks(callbacks), early_stopping)
    fit_callbacks = list(callbacks)  # the checkpoints' states are keyed by this order (see _state_keys)
    keyed = list(zip(fit_callbacks, _state_keys(fit_callbacks)))
    dp = None
    if comm is not None:
        dp = _distributed.DataParallel(comm)
        if curvature is not None:
            # each rank would probe its own rows: the records would differ from rank to rank
            raise ValueError(f"curvature={curvature!r} cannot be combined with comm= (data-parallel fit): "
                             "pass curvature=None, or run the diagnostics in a one-process fit")
        progress = progress and dp.is_root
        callbacks = [cb for cb in callbacks if dp.is_root or not getattr(cb, "rank_zero_only", False)]
    if early_stopping is not None:
        # first: it has seen the epoch when a ModelCheckpoint saves its state, and its best
        # parameters are restored when the other callbacks' on_train_end run
        callbacks.insert(0, early_stopping)
    # the ModelCheckpoints last: a checkpoint holds the states of callbacks that have seen the epoch
    callbacks = ([cb for cb in callbacks if not isinstance(cb, ModelCheckpoint)]
                 + [cb for cb in callbacks if isinstance(cb, ModelCheckpoint)])
    metric_fns = _metric_fns(metrics, ("loss", "val_loss", "grad_norm", "lr", "seconds")
                             + (() if curvature is None else _curvature_hooks.CurvatureMonitor.EPOCH_KEYS))
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    seed = _validation.integer("seed", seed, 0)

    # a rank's rows may all weigh nothing: the weights are checked over every rank's (after agree)
    whole = dp is None
    x, target, sw = _outofcore.prepare(model, X, y, loss, sample_weight, whole)
    val = None
    if validation_split:
        x, target, sw, val = _split_validation(x, target, sw, validation_split)
        # what the validation checks are said to be about (a memory-mapped X's rows are checked as
        # they are read, numbered from the validation part's first)
        val_name = f"validation_split (the last {val[0].shape[0]} rows of X)"
    elif validation_data is not None:
        val_name = "validation_data"
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        val = _checked_as(val_name, _outofcore.prepare, model, validation_data[0], validation_data[1], loss,
                          validation_data[2] if len(validation_data) == 3 else None, whole)
    per_class = None
    if class_weight is not None:
        per_class = _class_weights(class_weight, loss, model.n_outputs)
        sw = _apply_class_weight(per_class, loss, target, sw, model.n_outputs, model.dtype, whole)
    if dp is None:
        _loop.positive_weight(_loop.batch_weight(loss, target, sw, model.dtype))
        if val is not None:  # the validation loss is a weighted mean too: refused now, not after an epoch
            _checked_as(val_name, _loop.positive_weight, _loop.batch_weight(loss, val[1], val[2], model.dtype))
    _warn_clipping_output(model, loss, target)
    n = x.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    steps_per_epoch = -(-n // bs)
    lbfgs = not hasattr(optimizer, "_plan")  # fastgd.LBFGS: a closure-driven full-batch method
    if lbfgs and batch_size is not None:
        raise ValueError(f"{type(optimizer).__name__} is a full-batch method: pass batch_size=None, "
                         f"got batch_size={batch_size!r}")
    lazy = _outofcore.is_lazy(x)
    if lbfgs and lazy:
        raise ValueError("LBFGS needs X in memory; a memory-mapped X trains with a first-order optimizer")
    # every L-BFGS evaluation reads all of x, which does not change during the fit: pack it once
    # for the first layer's products
    packed = (model._pack_input(x) if lbfgs and isinstance(x, np.ndarray)
              and x.dtype == model.dtype and x.flags.c_contiguous else None)
    n_global = n
    if dp is not None:
        # early_stopping ends the fit and restores the best weights, and a schedule sets the lr
        # by its parameters (only its state comes from rank 0): either, differing, would leave
        # the replicas apart. batch_size is per rank (a step's gradient is the global batch's
        # mean, and a rank with fewer batches still joins every step), so it may differ. A
        # first-order optimizer's hyperparameters come with its state from rank 0 (dp.start); a
        # closure-driven one's do not, and on another lr or line search a rank would step elsewhere.
        dp.agree(dp.entry, model, loss, optimizer=_config(optimizer) if lbfgs else type(optimizer).__name__,
                 epochs=epochs, initial_epoch=initial_epoch,
                 shuffle=shuffle or False, validation=val is not None,
                 metrics=[name for name, _ in metric_fns], tol=tol, max_steps=max_steps, clip_norm=clip_norm,
                 clip_value=clip_value, schedule=_config(schedule),
                 class_weight=None if per_class is None or (per_class == 1.0).all() else per_class.tolist(),
                 normalization=_normalization(loss, target, model.dtype),
                 early_stopping=_config(early_stopping),
                 **{"early_stopping's run": None if early_stopping is None else
                    early_stopping._continued_run(initial_epoch),
                    # those run on every rank: a rank continuing another run would decide otherwise
                    "callbacks' runs": {f"{key} #{index}": cb._continued_run(initial_epoch)
                                        for cb, (key, index) in keyed if cb is not early_stopping
                                        and not getattr(cb, "rank_zero_only", False)}})
        seed = dp.start(model, optimizer, schedule, seed)
        steps_per_epoch = dp.max(steps_per_epoch, "every rank's number of steps per epoch")
        n_global, weight_global = dp.sum([n, _loop.batch_weight(loss, target, sw, model.dtype)],
                                         "every rank's number of rows and their weight")
        n_global = int(n_global)
        _loop.positive_weight(weight_global)

    multilabel = _accuracy_rule(metric_fns, loss, model.n_outputs, target, dp, val)

    model.loss = loss
    model.stop_training = False
    history = History({"seed": seed, "epochs": epochs, "batch_size": batch_size, "shuffle": shuffle,
                       "n_samples": n_global, "initial_epoch": initial_epoch})
    model.history = history
    # The parameters kept when training diverges: the finite ones with the lowest monitored
    # loss, each scored with the loss of exactly those parameters where one is known. With one
    # full-batch step per epoch and no validation data, a step reports the loss of the
    # parameters it starts from, so those are snapshotted before the step; otherwise the
    # epoch-end parameters are scored at the end of the epoch (validation loss, L-BFGS's loss
    # at its new point, or the epoch's mean batch loss).
    best_params = model.params.copy()
    best_value = math.inf
    score_before_step = val is None and not lbfgs and steps_per_epoch == 1
    before_step = np.empty_like(model.params) if score_before_step else None
    progress_bar = _Progress(progress, initial_epoch + epochs, steps_per_epoch, bar=progress_bar_ok)
    monitor = _curvature_hooks.CurvatureMonitor.create(curvature, model, x, target, sw, loss, optimizer, seed)
    history.curvature = None if monitor is None else monitor.records
    total_steps = 0
    # Over comm, a callback's sys.exit(0) (or sys.exit()) on one rank would leave the others
    # waiting in the next collective for ever (a rank_zero_only callback runs on rank 0 alone):
    # the rank stops calling hooks, its stop_training takes every rank out of the fit at the next
    # agreement, and it leaves with the exit there. A failure status aborts the job (dp.exiting).
    leaving = []

    def call_hooks(hook, *args):
        for cb in callbacks:
            if leaving:
                return
            try:
                getattr(cb, hook)(*args)
            except SystemExit as exc:
                if dp is None or not (exc.code is None or exc.code == 0):
                    raise
                leaving.append(exc)
                model.stop_training = True

    def agree_stop(after):
        """Over comm: every rank stops when one does, naming a rank that leaves; ``after``: the
        hook whose end every rank waits for."""
        # 1 stop, 2 a rank leaves
        code = dp.max(2 if leaving else int(bool(model.stop_training)), f"every rank's callbacks' {after}")
        if code == 2:
            history.stopped_reason = _RANK_LEFT
        model.stop_training = code > 0

    for cb in callbacks:
        cb.set_context(model, optimizer, schedule, history)
        if isinstance(cb, ModelCheckpoint):
            cb._set_fit(early_stopping, fit_callbacks)
    call_hooks("on_train_begin", {})
    if dp is not None:  # every rank learns whether one stopped or left in on_train_begin
        agree_stop("on_train_begin")

    def diverged(epoch, step, what, value):
        model._assign_params(best_params)
        progress_bar.close()
        changed = _data_changed(model, x, target, sw)
        if changed:  # not a divergence: lowering the learning rate would not help
            raise ValueError(f"training stopped at epoch {epoch + 1}, step {step + 1}: {changed}; the data must "
                             "not change during fit (a callback or another thread wrote into it)")
        kept = _loop.data_loss(model, x, target, sw, loss, dp=dp)
        raise DivergenceError(
            f"training diverged at epoch {epoch + 1}, step {step + 1}: the {what} is not finite ({value}). "
            f"The model keeps the best finite parameters seen (training loss {kept:.6g}). Lower the learning rate "
            f"(now {getattr(optimizer, 'lr', '?')}) or clip gradients (clip_norm=...).",
            epoch=epoch, step=step, history=history)

    batch_hooks = any(type(cb).on_batch_end is not Callback.on_batch_end for cb in callbacks)
    if dp is not None:  # a rank_zero_only callback's hook on rank 0 only: every rank reduces stop_training
        batch_hooks = dp.any(batch_hooks, "whether a rank has on_batch_end callbacks")
    # the mean batch loss is weighted by the batch's normalizer (see _loop.batch_weight)
    plain_weights = sw is None and (loss._class_weight_array(model.dtype) is None or target[0] != "labels")
    loss_spec = model._loss_spec(loss)
    epoch = initial_epoch
    steps_done = 0
    norm_sum = 0.0
    schedule_per_step = schedule is not None and getattr(schedule, "interval", "epoch") == "step"
    # the optimizer's and the per-step schedule's counts when the fit starts: Ctrl-C may strike
    # after a step's update is made and counted, before (or inside) its schedule step
    steps_before = getattr(optimizer, "step_count", 0)
    scheduled_before = schedule.last_step if schedule_per_step else 0

    def weight_of(batch_target, batch_sw):
        return _loop.batch_weight(loss, batch_target, batch_sw, model.dtype)

    def train_batch(step, s, e, idx):
        """One optimizer step on the batch; returns (its mean loss, its normalizer)."""
        nonlocal best_value, norm_sum, steps_done, total_steps
        probe = monitor is not None and monitor.due(step, total_steps)
        if probe:
            monitor.before()
        if score_before_step:
            before_step[...] = model.params
        w = None
        if dp is not None:
            dp.at = (epoch, step)
        if dp is None and not lazy:
            value, gnorm, status = model._train_step(
                x, loss_spec=loss_spec, target=target, sample_weight=sw, indices=idx, start=s, n=e - s,
                optimizer=optimizer, clip_norm=clip_norm or 0.0, clip_value=clip_value or 0.0)
        else:
            value, gnorm, status, w = _distributed.train_step(
                dp, model, x, idx, s, e, loss, target, sw, optimizer, clip_norm, clip_value, weight_of)
        if probe and not status:
            monitor.after(epoch, total_steps)
        if score_before_step and value < best_value:
            best_value = value
            best_params[...] = before_step
        if status:
            diverged(epoch, step, "loss" if status == 1 else "gradient", value if status == 1 else gnorm)
        if w is None and plain_weights:
            w = float(e - s)
        elif w is None:
            rows = slice(s, e) if idx is None else idx
            w = weight_of(_loop.target_rows(target, rows), None if sw is None else sw[rows])
        norm_sum += gnorm
        steps_done += 1
        total_steps += 1
        return value, w

    def after_batch(step, value):
        """Progress, per-step schedule and callbacks; True ends the epoch."""
        progress_bar.update(value)
        if schedule_per_step:
            schedule.step()
        call_hooks("on_batch_end", step, {"loss": value})
        if dp is not None and batch_hooks:
            agree_stop("on_batch_end of {step}")
        return model.stop_training or (max_steps is not None and total_steps >= max_steps)

    try:  # a SystemExit from training or on_train_end: see dp.exiting
        try:
            for epoch in range(initial_epoch, initial_epoch + epochs):
                if model.stop_training:  # set in on_train_begin (a resumed early stopping whose run had
                    # stopped, or a rank that left)
                    history.stopped_reason = history.stopped_reason or "stopped by a callback"
                    break
                t0 = time.perf_counter()
                progress_bar.start_epoch(epoch)
                norm_sum, steps_done = 0.0, 0
                if lbfgs:
                    if dp is None:
                        value, gnorm = _lbfgs_iteration(model, optimizer, x, target, sw, loss, packed)
                    else:
                        dp.at = (epoch, None)
                        value, gnorm = _distributed.lbfgs_iteration(dp, model, optimizer, x, target, sw, loss,
                                                                    _loop.batch_weight(loss, target, sw, model.dtype),
                                                                    weight_global, packed)
                    if not math.isfinite(value):
                        diverged(epoch, 0, "loss", value)
                    loss_sum, weight_sum, norm_sum, steps_done = value, 1.0, gnorm, 1
                    total_steps += 1
                    progress_bar.update(value)
                else:
                    loss_sum, weight_sum = _loop.run_epoch(
                        train_batch, n, bs, order=_loop.epoch_order(n, shuffle, seed, epoch, dp), steps=steps_per_epoch,
                        after_batch=after_batch)
                logs = {"loss": loss_sum / weight_sum}
                if monitor is not None and monitor.every == "epoch":
                    logs.update(monitor.epoch_logs())
                if val is not None:
                    logs["val_loss"] = _checked_as(val_name, _loop.data_loss, model, val[0], val[1], val[2], loss,
                                                   _loop.CHUNK_ROWS, dp)
                for name, fn in metric_fns:
                    logs[name] = _metric(dp, fn, target[1], loss.link(_loop.predict(model, x)), multilabel)
                    if val is not None:
                        val_output = _checked_as(val_name, _loop.predict, model, val[0])
                        logs["val_" + name] = _checked_as(val_name, _metric, dp, fn, val[1][1], loss.link(val_output),
                                                          multilabel)
                if tol is not None:
                    gnorm_full = _full_grad_norm(model, x, target, sw, loss, dp=dp)
                    logs["grad_norm"] = gnorm_full
                else:
                    logs["grad_norm"] = norm_sum / steps_done
                logs["lr"] = float(getattr(optimizer, "lr", math.nan))
                seconds = time.perf_counter() - t0
                if dp is not None:  # the slowest rank's time, the same on every rank
                    seconds = dp.max(seconds, f"the time of epoch {epoch + 1}")
                logs["seconds"] = seconds
                monitored = logs.get("val_loss", logs["loss"])
                if not math.isfinite(monitored):
                    diverged(epoch, steps_done - 1, "validation loss" if "val_loss" in logs else "loss", monitored)
                if not score_before_step and monitored < best_value and not _core.count_nonfinite(model.params):
                    best_value = monitored
                    best_params[...] = model.params
                history._append(epoch, logs)
                samples = n_global if steps_done == steps_per_epoch else min(n, steps_done * bs)
                progress_bar.end_epoch(epoch, {k: v for k, v in logs.items()}, steps_done and
                                       (samples / max(seconds, 1e-12)))
                if schedule is not None and getattr(schedule, "interval", "epoch") == "epoch":
                    if getattr(schedule, "needs_metric", False):
                        schedule.step(monitored)
                    else:
                        schedule.step()
                call_hooks("on_epoch_end", epoch, logs)
                if dp is not None:
                    agree_stop(f"on_epoch_end of epoch {epoch + 1}")
                    if history.stopped_reason == _RANK_LEFT:
                        break
                if tol is not None and logs["grad_norm"] < tol:
                    history.stopped_reason = f"gradient norm {logs['grad_norm']:.3g} < tol {tol:g}"
                    break
                if max_steps is not None and total_steps >= max_steps:
                    history.stopped_reason = f"max_steps={max_steps} reached"
                    break
                if model.stop_training:
                    history.stopped_reason = history.stopped_reason or "stopped by a callback"
                    break
        except KeyboardInterrupt as exc:
            if schedule_per_step:  # the schedule catches up with the steps made, as an uninterrupted fit has it
                made = getattr(optimizer, "step_count", 0) - steps_before
                for _ in range(made - (schedule.last_step - scheduled_before)):
                    schedule.step()
                schedule._apply()  # the lr of its count, in case the interrupt struck between the two
            progress_bar.close()
            _report_interrupt(exc, history, epoch, steps_done, steps_per_epoch)
            raise
        finally:
            progress_bar.close()
            if dp is not None:
                dp.finish()
        call_hooks("on_train_end", {})  # none on a rank that left
        # over comm, a rank that leaves in on_train_end: the others learn it, as from the other
        # hooks (fit_restarts starts no further run), unless a rank has already left (every rank
        # then stopped with _RANK_LEFT)
        if (dp is not None and history.stopped_reason != _RANK_LEFT
                and dp.max(2 if leaving else 0, "every rank's callbacks' on_train_end") == 2):
            history.stopped_reason = _RANK_LEFT
        if leaving:
            raise leaving[0]
    except SystemExit as exc:
        if dp is not None:
            dp.exiting(exc)
        raise
    return history


def evaluate(model, X, y, loss=None, metrics=(), *, sample_weight=None, batch_size=4096, comm=None):
    """The mean loss and the metrics of the model on (X, y) as a dict. X may be memory-mapped
    (read in chunks); with ``comm`` (an mpi4py communicator) X, y are this rank's shard and the
    results are over every rank's rows, the same on every rank. The metrics are those of
    :func:`fit`: unweighted, "accuracy" and "zero_one_loss" by the rule of the loss (of the
    model's last fit when None) and the form of the whole y."""
    batch_size = _validation.integer("batch_size", batch_size, 1)
    loss = model._resolve_loss(loss)
    dp = None if comm is None else _distributed.DataParallel(comm)
    # a rank's rows may all weigh nothing: data_loss checks the weights over every rank's
    x, target, sw = _outofcore.prepare(model, X, y, loss, sample_weight, dp is None)
    metric_fns = _metric_fns(metrics)
    if dp is not None:
        # fit starts every rank from rank 0's parameters; evaluate changes none, so a rank that
        # loaded or trained other ones would report a mean over several models
        dp.agree("evaluate", model, loss, metrics=[name for name, _ in metric_fns],
                 normalization=_normalization(loss, target, model.dtype),
                 **{"model parameters (digest)": hashlib.blake2b(model.params, digest_size=8).hexdigest()})
    out = {"loss": _loop.data_loss(model, x, target, sw, loss, batch_size, dp=dp)}
    if metric_fns:
        multilabel = _accuracy_rule(metric_fns, loss, model.n_outputs, target, dp)
        pred = loss.link(_loop.predict(model, x, batch_size))
        for name, fn in metric_fns:
            out[name] = _metric(dp, fn, target[1], pred, multilabel)
    return out


def partial_fit(model, X, y, *, loss, optimizer, batch_size=32, shuffle=False, seed=None, sample_weight=None,
                clip_norm=None, clip_value=None, comm=None):
    """One pass over (X, y), keeping the optimizer's state (online / incremental learning).
    Returns the mean training loss of the pass (over every rank's rows with ``comm``)."""
    if comm is not None:  # its errors and timeouts name partial_fit
        comm = _distributed.DataParallel(comm)
        comm.entry = "partial_fit"
    h = fit(model, X, y, loss=loss, optimizer=optimizer, epochs=1, batch_size=batch_size,
            shuffle=shuffle, seed=seed if seed is not None else 0,
            sample_weight=sample_weight, clip_norm=clip_norm, clip_value=clip_value, progress=False, comm=comm)
    return h.history["loss"][-1]


# the stop reason of every rank of a fit over comm that one rank left by sys.exit(0) in a callback
_RANK_LEFT = "a rank left the fit (sys.exit in a callback)"

# each restart is a whole fit: a count past this is a mistake, not a plan
_MAX_RESTARTS = 1_000_000


def _early_stopping(value):
    """fit's ``early_stopping``: an EarlyStopping, an int patience (monitoring val_loss) or None."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return EarlyStopping(patience=int(value))
    if value is not None and not isinstance(value, EarlyStopping):
        raise TypeError(f"early_stopping must be a fastgd.EarlyStopping or an int patience, "
                        f"got {type(value).__name__}")
    return value


def _distinct_callbacks(callbacks, early_stopping):
    """fit's ``callbacks``, refused (ValueError) when one object is passed twice, in callbacks or
    as early_stopping too: fit would run its hooks twice an epoch (an EarlyStopping would count
    each epoch twice, and its state, saved so, would not load), where it was meant once."""
    where = {} if early_stopping is None else {id(early_stopping): "early_stopping"}
    for i, cb in enumerate(callbacks):
        if id(cb) in where:
            raise ValueError(f"callbacks[{i}] ({type(cb).__qualname__}) is {where[id(cb)]} again: fit would run its "
                             f"hooks twice an epoch; pass each callback once")
        where[id(cb)] = f"callbacks[{i}]"
    return callbacks


def _run_score(history, callbacks):
    """A run's score for fit_restarts: the monitored value (val_loss, else loss) of the epoch
    whose parameters the run ends with: the last, or the one an EarlyStopping(restore_best=True)
    restored (the last such callback's in ``callbacks``, fit's order, as it restores last); inf
    when that value is NaN or the run logged no epoch. The best value of any epoch would rank a
    run by parameters it no longer holds."""
    if not history.epochs:
        return math.inf
    kept = history.epochs[-1]
    for cb in callbacks:
        if isinstance(cb, EarlyStopping) and cb.restore_best and cb.best_params is not None:
            kept = cb.best_epoch
    value = float(history.history[history.monitor][history.epochs.index(kept)])
    return math.inf if math.isnan(value) else value


def fit_restarts(model, X, y, *, n_restarts, seed=None, **fit_kwargs):
    """Train from `n_restarts` random initializations (seeds derived from `seed`) and keep the
    best run: the lowest val_loss (else loss) of the epoch whose parameters it ends with (the
    last, or the one an ``EarlyStopping(restore_best=True)`` restored; see ``_run_score``):
    the classic remedy for non-convex losses. The
    optimizer's state, and the schedule's, are reset before each run, and end as the best run
    left them. Returns the best run's History (also ``model.history``), with
    ``history.params["restart_scores"]`` listing every run's score."""
    n_restarts = _validation.integer("n_restarts", n_restarts, 1, maximum=_MAX_RESTARTS)
    optimizer = _get_optimizer(fit_kwargs.pop("optimizer"))
    schedule = _check_schedule(fit_kwargs.get("schedule"), optimizer)
    # every run starts the schedule where the first does: one stepped on from the run before
    # would, say, hold a cosine decay's last run at its minimum lr
    schedule_state = None if schedule is None else schedule.state_dict()
    if fit_kwargs.get("comm") is not None:
        # a rank that ran fewer fits would leave the others waiting in the next one's collectives:
        # the first fit's agreement compares the counts
        fit_kwargs["comm"] = _distributed.DataParallel(fit_kwargs["comm"])
        fit_kwargs["comm"].n_restarts = n_restarts
    # read once, for every run and for the scores: a generator of callbacks would serve only the
    # first run, and an int patience would make each fit an EarlyStopping of its own, out of sight
    fit_kwargs["callbacks"] = _validation.callbacks(fit_kwargs.get("callbacks"))
    fit_kwargs["early_stopping"] = _early_stopping(fit_kwargs.get("early_stopping"))
    seeds = np.random.SeedSequence(seed).generate_state(n_restarts * 2, dtype=np.uint32)
    best = (math.inf, None, None, None, None)
    scores = []
    start_lr = getattr(optimizer, "lr", None)
    for r in range(n_restarts):
        model.reset_parameters(int(seeds[2 * r]))
        optimizer.reset()
        if start_lr is not None:
            optimizer.lr = start_lr
        if schedule_state is not None:
            schedule.load_state_dict(schedule_state)
        for cb in [fit_kwargs["early_stopping"], *fit_kwargs["callbacks"]]:
            if isinstance(cb, EarlyStopping):  # each run from a new initialization: no run to continue
                cb._reset()
        try:
            h = fit(model, X, y, optimizer=optimizer, seed=int(seeds[2 * r + 1]), **fit_kwargs)
            score = _run_score(h, [fit_kwargs["early_stopping"], *fit_kwargs["callbacks"]])
        except DivergenceError as exc:
            h, score = exc.history, math.inf
        scores.append(score)
        if score < best[0] or best[1] is None:
            # the kept run's optimizer and schedule go with its parameters: a fit after this one
            # continues that run (moments, step counts, lr), not the last one's
            best = (score, model.params.copy(), h, copy.deepcopy(optimizer.state_dict()),
                    None if schedule is None else copy.deepcopy(schedule.state_dict()))
        if h.stopped_reason == _RANK_LEFT:  # the next run would wait for that rank
            break
    model._assign_params(best[1])
    optimizer.load_state_dict(best[3])
    if schedule is not None:
        schedule.load_state_dict(best[4])
    history = best[2] if best[2] is not None else History()
    history.params["restart_scores"] = scores
    model.history = history
    return history
