"""The loop core: how fastgd walks over data, shared by ``model.fit``, ``model.evaluate`` and the
scikit-learn estimators.

- :func:`chunks` cuts ``n`` rows into consecutive blocks; every chunked pass (prediction, the
  full-data loss and gradient, one epoch's batches) walks the rows through it.
- :func:`epoch_order` is the row order of one epoch of ``fit``; :func:`run_epoch` runs one
  epoch: one training step per batch, the epoch's weighted mean loss, and a hook after each
  step that may end the epoch (callbacks, progress, ``max_steps``).
- :func:`batch` hands a batch to the engine as the arguments of ``model._train_step``: rows of an
  in-memory (dense or CSR) ``x`` by index or range, rows of a memory-mapped ``x`` gathered into
  a small checked copy (see :mod:`fastgd._outofcore`).
- :func:`data_loss`, :func:`data_gradient` and :func:`predict` evaluate the model on whole data
  sets in chunks, so memory stays bounded whatever the number of rows.

A *prepared target* is the pair ``Loss.prepare_target`` returns: ("labels", class indices) or
("rows", float rows).
"""

from __future__ import annotations

import math

import numpy as np

from fastgd import _core
from fastgd import _outofcore

__all__ = ["chunks", "epoch_order", "run_epoch", "batch", "target_rows", "batch_weight", "positive_weight",
           "data_loss", "data_gradient", "predict"]

CHUNK_ROWS = 4096  # rows per evaluation chunk: the output and scratch of a chunk stay in cache-sized pieces


def chunks(n, size):
    """``(start, stop)`` of the consecutive blocks of at most ``size`` rows that cover ``[0, n)``."""
    for start in range(0, n, size):
        yield start, min(n, start + size)


def epoch_order(n, shuffle, seed, epoch, dp=None):
    """The order of the n rows in epoch ``epoch``: None (the data order) unless ``shuffle`` is
    "epoch" (a new permutation each epoch) or "once" (one permutation for the whole run). It
    depends only on ``(seed, epoch)``, and on the rank in a data-parallel fit (``dp``)."""
    if shuffle is False or shuffle is None:
        return None
    key = [seed, 0] if shuffle == "once" else [seed, 1, epoch]
    if dp is not None:
        key = dp.epoch_key(key)
    return np.random.default_rng(key).permutation(n).astype(np.int64)


def run_epoch(train_batch, n, batch_size, *, order=None, steps=None, after_batch=None):
    """One pass over n rows in batches of ``batch_size`` rows, in ``order`` (an int64
    permutation of the rows; None: the data order).

    ``train_batch(step, start, stop, indices)`` trains on positions [start, stop) of the order
    (``indices = order[start:stop]``, or None in data order: rows [start, stop)) and returns
    ``(loss, weight)`` to count the batch in the epoch's weighted mean loss, or None to leave it
    out. ``steps`` (default: enough batches to cover n) may be larger, as in a data-parallel
    epoch where this rank has fewer batches than another: the extra steps get ``start >= stop``.
    ``after_batch(step, loss)``, called after each counted batch, returns True to end the epoch.

    Returns ``(Σ loss·weight, Σ weight)`` over the counted batches.
    """
    if steps is None:
        steps = -(-n // batch_size)
    loss_sum = weight_sum = 0.0
    for step in range(steps):
        start = step * batch_size
        stop = min(n, start + batch_size)
        counted = train_batch(step, start, stop, None if order is None else order[start:stop])
        if counted is None:
            continue
        value, weight = counted
        loss_sum += value * weight
        weight_sum += weight
        if after_batch is not None and after_batch(step, value):
            break
    return loss_sum, weight_sum


def target_rows(target, rows):
    """The prepared target restricted to ``rows`` (a slice or an index array)."""
    return target[0], target[1][rows]


def batch(x, indices, start, stop, target, sw, dtype):
    """The rows [start, stop) of the epoch order (``indices``, or the data order when None) as
    ``(x, indices, start, n, target, sample_weight)`` for the engine's step: x itself for x in
    memory (dense or CSR, read by index by the kernels), a gathered and checked copy of the rows
    of a memory-mapped x, with their targets and weights."""
    if not _outofcore.is_lazy(x):
        return x, indices, start, stop - start, target, sw
    rows = slice(start, stop) if indices is None else indices
    xb = _outofcore.take(x, rows, dtype)
    return xb, None, 0, xb.shape[0], target_rows(target, rows), None if sw is None else sw[rows]


def batch_weight(loss, target, sw, dtype):
    """The normalizer of the mean loss over these rows (see fastgd.nn.losses): the sum of
    sample weights (times class weights for class-index targets), or the row count."""
    kind, t = target
    cw = loss._class_weight_array(dtype)
    if cw is not None and kind == "labels":
        w = cw[t].astype(np.float64)
        with np.errstate(over="ignore"):  # an infinite sum is refused by positive_weight, by name
            return float((w if sw is None else w * sw).sum())
    if sw is None:
        return float(t.shape[0])
    with np.errstate(over="ignore"):  # as above
        return float(sw.sum(dtype=np.float64))


def positive_weight(weight):
    """``weight`` (a :func:`batch_weight` over a whole data set), or ValueError when it is 0
    (the mean loss over samples that all weigh nothing is undefined) or past float64's range."""
    what = "the samples' weights (the class_weight of their labels times their sample_weight)"
    if not weight > 0:
        raise ValueError(f"{what} sum to 0: their mean loss is undefined")
    if not math.isfinite(weight):
        raise ValueError(f"{what} sum past the largest float64: scale the weights down (only their ratios matter)")
    return weight


def data_loss(model, x, target, sw, loss, chunk=CHUNK_ROWS, dp=None):
    """Mean loss over (x, target) evaluated in chunks (no parameter change); over every
    rank's rows with ``dp``."""
    total = 0.0
    spec, cw = model._loss_spec(loss)
    for s, e in chunks(x.shape[0], chunk):
        out = model._forward_rows(_outofcore.rows_of(x, s, e, model.dtype))
        total += _core.loss_sum(spec, out, target_rows(target, slice(s, e)), None if sw is None else sw[s:e], cw)
    weight = batch_weight(loss, target, sw, model.dtype)
    if dp is not None:
        total, weight = dp.sum([total, weight], "the loss over every rank's rows")
    return total / positive_weight(weight)


def data_gradient(model, x, target, sw, loss, chunk=CHUNK_ROWS, scale=1.0):
    """``(mean loss, scale · gradient of the mean loss)`` over all of (x, target), in chunks:
    the chunks' means weighted by their normalizers (:func:`batch_weight`), the gradient summed
    in float64. Chunks of weight 0 have no gradient and are left out. Leaves the gradient arena
    holding the last chunk's."""
    weight = batch_weight(loss, target, sw, model.dtype)
    loss_spec = model._loss_spec(loss)
    value = 0.0
    grad = np.zeros(model.n_params, dtype=np.float64)
    for s, e in chunks(x.shape[0], chunk):
        w = batch_weight(loss, target_rows(target, slice(s, e)), None if sw is None else sw[s:e], model.dtype)
        if not w > 0:
            continue
        xb, indices, start, rows, t, swb = batch(x, None, s, e, target, sw, model.dtype)
        v, _norm, _status = model._train_step(xb, loss_spec=loss_spec, target=t, sample_weight=swb, indices=indices,
                                              start=start, n=rows)
        value += v * w / weight
        grad += model.grads * (scale * w / weight)
    return value, grad


def predict(model, x, chunk=CHUNK_ROWS):
    """The network's output for an in-memory or memory-mapped x, in chunks (a memory-mapped
    one read chunk by chunk from its file: Sequential.predict)."""
    return model.predict(x, batch_size=chunk)
