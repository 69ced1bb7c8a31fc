"""Data-parallel training over MPI (``mpi4py``), the optional ``mpi`` extra.

``model.fit(X, y, ..., comm=comm)`` with ``comm`` an ``mpi4py`` communicator and ``X, y`` this
rank's shard of the data (:func:`shard` cuts one; every rank needs at least one row) trains one
model replica per rank:

- ``batch_size`` is per rank: a step's global batch is the union of every rank's batch.
- A step's gradient is the exact weighted mean over the global batch: the ranks first sum their
  batches' weights (sample weights times class weights, or row counts) in a small non-blocking
  reduction that runs while they compute; each rank scales its batch's mean gradient by its
  share of the total weight, and an in-place ``Allreduce`` of the flat gradient arena sums the
  shares into the global mean. Unequal shards and short last batches weigh exactly as they
  would in one process.
- The parameters, the optimizer's state, the schedule's state and the shuffling seed are
  broadcast from rank 0 when training starts; every rank then applies the same update (one fused
  optimizer call) to the same reduced gradient, so the replicas stay identical.
- Shuffling is per rank: the order of epoch ``e`` on rank ``r`` is drawn from ``(seed, e)``
  extended by ``r`` for ``r > 0`` (rank 0 draws what a single process draws).
- An epoch has as many steps as the rank with the most batches; a rank whose shard is used up
  takes part in the remaining reductions with an empty batch (zero gradient, zero weight).
- The training loss, validation loss, metrics and ``tol``'s full-data gradient norm are reduced
  over all ranks; clipping and the finiteness check act on the global gradient. So History,
  EarlyStopping, ReduceLROnPlateau and DivergenceError are the same on every rank. The progress
  bar and callbacks whose ``rank_zero_only`` is True (CSVLogger, ModelCheckpoint) run on rank 0
  only.
- An exception that no rank catches ends the whole job: fit installs a ``sys.excepthook`` that
  prints the error and calls ``comm.Abort(1)``, so the other ranks never wait in a reduction for
  a rank that is gone.

Overlap, as PyTorch's DistributedDataParallel does it: when the gradient arena is larger than the
bucket cap (``DataParallel(comm, bucket_cap_mb=25.0)``, which ``fit`` also accepts as ``comm``),
the backward pass runs one layer at a time from the last, the layers are grouped into buckets of
about ``bucket_cap_mb`` megabytes, and as soon as a bucket's layers are done a non-blocking
``Iallreduce`` of its part of the arena starts while the earlier layers' backward runs; the
optimizer step waits for all of them. MPICH advances a non-blocking collective only inside MPI
calls, so the reductions in flight are tested after every layer. Smaller models take one
reduction of the whole arena after the backward pass (sparse input: after the fused C step).
Both give the same sums, up to the order MPI adds the ranks' values in.

``mpi4py`` is imported only when a communicator is passed.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

from fastgd import _core
from fastgd import _loop, _validation

__all__ = ["DataParallel", "shard"]


def _check_comm(comm):
    for attr in ("Get_rank", "Get_size", "Allreduce", "Bcast", "bcast", "Abort"):
        if not hasattr(comm, attr):
            raise TypeError(f"comm must be an mpi4py communicator (e.g. mpi4py.MPI.COMM_WORLD), "
                            f"got {type(comm).__name__}")
    return comm


def shard(n: int, comm: Any) -> slice:
    """The slice of rank ``comm.rank`` out of ``n`` samples: contiguous blocks whose sizes differ
    by at most one (the first ``n % size`` ranks get one more). ``X[shard(len(X), comm)]`` of a
    memory-mapped array is a view: a rank reads only its rows."""
    n = _validation.integer("n", n, 0)
    comm = _check_comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    base, extra = divmod(int(n), size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def _abort_on_uncaught(comm):
    """Make an uncaught exception on this rank print its traceback and abort the whole job."""
    previous = sys.excepthook
    if getattr(previous, "_fastgd_comm", None) is comm:
        return

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.flush()
        sys.stdout.flush()
        time.sleep(0.5)  # let mpiexec forward the traceback before the abort tears the job down
        comm.Abort(1)

    hook._fastgd_comm = comm
    sys.excepthook = hook


class DataParallel:
    """The collective side of a fit over ``comm``: what every rank calls in the same order.

    ``fit(..., comm=DataParallel(comm, bucket_cap_mb=...))`` sets the bucket size of the
    overlapped gradient reduction (see the module docstring): a gradient arena of at most
    ``bucket_cap_mb`` megabytes is reduced in one piece after the backward pass; 0 makes every
    layer its own bucket."""

    def __init__(self, comm: Any, bucket_cap_mb: float | None = None) -> None:
        from mpi4py import MPI

        if isinstance(comm, DataParallel):
            bucket_cap_mb = comm.bucket_cap_mb if bucket_cap_mb is None else bucket_cap_mb
            comm = comm.comm
        if bucket_cap_mb is None:
            bucket_cap_mb = 25.0
        self.bucket_cap_mb = _validation.real("bucket_cap_mb", bucket_cap_mb, low=0.0)
        self._buckets = None  # (model, its bucket_plan), made on the first step
        self.comm = _check_comm(comm)
        self.MPI = MPI
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.is_root = self.rank == 0
        # weight, weighted loss, non-finite loss count, non-finite gradient count
        self._scalars = np.zeros(4, dtype=np.float64)
        _abort_on_uncaught(comm)

    # ---- small collectives ---------------------------------------------------------------

    def sum(self, values):
        """Element-wise sum over ranks of a float64 vector (a new array)."""
        out = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, out, op=self.MPI.SUM)
        return out

    def max(self, value):
        return self.comm.allreduce(value, op=self.MPI.MAX)

    def any(self, flag):
        return bool(self.comm.allreduce(bool(flag), op=self.MPI.LOR))

    # ---- start of training ---------------------------------------------------------------

    def start(self, model, optimizer, schedule, seed):
        """Make every rank start from rank 0's parameters, optimizer and schedule state and seed;
        returns the seed."""
        self.comm.Bcast(model.params, root=0)
        for obj in (optimizer, schedule):
            if obj is not None and hasattr(obj, "state_dict"):
                state = self._bcast_state(obj.state_dict() if self.is_root else None)
                if not self.is_root:
                    obj.load_state_dict(state)
        return self.comm.bcast(seed, root=0)

    def _bcast_state(self, state):
        """Rank 0's state dict on every rank. Its numeric arrays (an optimizer's moments: as large
        as the model) go as raw buffers, the rest pickled: a fit or partial_fit that resumes an
        optimizer with state starts without pickling it."""
        comm = self.comm
        arrays = {}
        if self.is_root:
            arrays = {k: np.ascontiguousarray(v) for k, v in state.items()
                      if isinstance(v, np.ndarray) and v.dtype.kind in "fiub"}
            rest = {k: v for k, v in state.items() if k not in arrays}
            layout = {k: (a.shape, a.dtype.str) for k, a in arrays.items()}
            comm.bcast((rest, layout), root=0)
        else:
            rest, layout = comm.bcast(None, root=0)
            arrays = {k: np.empty(shape, dtype=dtype) for k, (shape, dtype) in layout.items()}
        for key in sorted(layout):
            comm.Bcast(arrays[key], root=0)
        return {**rest, **arrays}

    def epoch_key(self, key):
        """The shuffling seed key of this rank (see the module docstring)."""
        return key if self.rank == 0 else [*key, self.rank]

    # ---- one step ------------------------------------------------------------------------

    def reduce_gradient(self, model, value, weight, status):
        """Turn this rank's mean gradient (in ``model.grads``) over rows of total weight
        ``weight`` into the global mean; returns (global mean loss, global weight, status)."""
        grads = model.grads
        scalars = self._scalars
        scalars[:] = 0.0
        if status:
            scalars[1 + status] = 1.0
            grads[...] = 0
        elif weight > 0:
            _core.inplace_scale(grads, weight)
            scalars[0] = weight
            scalars[1] = value * weight
        else:
            grads[...] = 0
        MPI = self.MPI
        requests = [self.comm.Iallreduce(MPI.IN_PLACE, grads, op=MPI.SUM),
                    self.comm.Iallreduce(MPI.IN_PLACE, scalars, op=MPI.SUM)]
        MPI.Request.Waitall(requests)
        total = scalars[0]
        if scalars[2] or not total > 0:
            return math.nan, total, 1
        if scalars[3]:
            return math.nan, total, 2
        _core.inplace_scale(grads, 1.0 / total)
        return scalars[1] / total, total, 0

    def bucket_plan(self, model, x):
        """{layer l: the views of ``model.grads`` whose reduction starts once the backward pass
        has finished layer l}: buckets of about ``bucket_cap_mb`` on more than one rank when
        the arena is larger, else the whole arena after the first layer (one reduction). None
        for sparse input on any rank: the fused step then computes the gradient. Every rank
        must take the same path, so the choice is made on the first step by a collective."""
        if self._buckets is None or self._buckets[0] is not model:
            plan = None
            if not self.any(isinstance(x, _core.CSRMatrix)):
                cap = self.bucket_cap_mb * 1e6
                plan = _buckets(model, cap) if self.size > 1 and model.grads.nbytes > cap else {0: [model.grads]}
            self._buckets = (model, plan)
        return self._buckets[1]

    def gradient(self, model, plan, batch, loss, weight):
        """This rank's batch gradient computed layer by layer and reduced over the ranks in the
        buckets of ``plan`` (from bucket_plan), each bucket's reduction starting as soon as its
        layers are done. The batch weights are summed first, so that every rank scales its
        gradient by its share of the global weight once, before the reduction: the reduced
        gradient is the global mean. Returns (global mean loss, global weight, status)."""
        MPI = self.MPI
        comm = self.comm
        if batch is None or not weight > 0:
            weight = 0.0
        scalars = self._scalars  # total weight, weighted loss, non-finite loss count
        scalars[:] = 0.0
        scalars[0] = weight
        requests = [comm.Iallreduce(MPI.IN_PLACE, scalars[:1], op=MPI.SUM)]
        share = []

        def on_layer(layer):
            views = plan.get(layer)
            if views is not None:
                if not share:
                    requests[0].Wait()
                    share.append(weight / scalars[0] if scalars[0] > 0 else 0.0)
                for view in views:
                    if share[0] != 1.0:
                        _core.inplace_scale(view, share[0])
                    requests.append(comm.Iallreduce(MPI.IN_PLACE, view, op=MPI.SUM))
            if layer:
                MPI.Request.Testall(requests)  # MPICH progresses the reductions only inside MPI calls

        status = 0
        if weight > 0:
            x, idx, start, n, target, sw = batch
            value, status = model._gradient_by_layer(x, idx, start, n, model._loss_spec(loss), target, sw, on_layer)
            scalars[1] = value * weight
        if status or not weight > 0:  # take part in every bucket's reduction with zeros
            scalars[2] = float(status != 0)
            model.grads[...] = 0
            for layer in range(len(model.layers) - 1, -1, -1):
                on_layer(layer)
        requests.append(comm.Iallreduce(MPI.IN_PLACE, scalars[1:3], op=MPI.SUM))
        MPI.Request.Waitall(requests)
        total = scalars[0]
        if scalars[2] or not total > 0:
            return math.nan, total, 1
        return scalars[1] / total, total, 0


def _buckets(model, cap):
    """Group the layers, last first, into buckets of at least ``cap`` bytes of gradient (the
    first layers' bucket may be smaller); {first layer of a bucket: views of the maximal
    contiguous runs of the arena its layers' dW and db occupy}."""
    grads = model.grads
    base, item = grads.__array_interface__["data"][0], grads.itemsize
    plan, runs, size = {}, [], 0
    for layer in range(len(model.layers) - 1, -1, -1):
        for part in (model.layers[layer].dW, model.layers[layer].db):
            start = (part.__array_interface__["data"][0] - base) // item
            runs.append((start, start + part.size))
            size += part.nbytes
        if size >= cap or layer == 0:
            merged = []
            for start, stop in sorted(runs):
                if merged and merged[-1][1] == start:
                    merged[-1][1] = stop
                else:
                    merged.append([start, stop])
            plan[layer] = [grads[a:b] for a, b in merged]
            runs, size = [], 0
    return plan


def _local_gradient(model, batch, loss, weight):
    """Forward and backward of this rank's batch into ``model.grads`` (no update); returns
    (mean loss, status)."""
    if batch is None or not weight > 0:
        return 0.0, 0
    x, idx, start, n, target, sw = batch
    value, _norm, status = model._train_step(x, loss_spec=model._loss_spec(loss), target=target, sample_weight=sw,
                                             indices=idx, start=start, n=n)
    return value, status


def _clip_and_update(model, optimizer, clip_norm, clip_value):
    """The global gradient's norm, clipping as the fused C step does it, and the optimizer's
    update (one fused C call). Returns (norm, status)."""
    grads = model.grads
    ss = _core.sum_squares(grads)
    norm = math.sqrt(ss)
    if not math.isfinite(ss):
        return norm, 2
    if clip_value:
        _core.inplace_clip_value(grads, clip_value)
        if clip_norm:
            ss = _core.sum_squares(grads)
    if clip_norm:
        # torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1
        coef = clip_norm / (math.sqrt(ss) + 1e-6)
        if coef < 1.0:
            _core.inplace_scale(grads, coef)
    optimizer.step(model.params, grads)
    return norm, 0


def train_step(dp, model, x, idx, start, stop, loss, target, sw, optimizer, clip_norm, clip_value, weight_of):
    """One training step of a fit that is data-parallel (``dp``) and/or reads a memory-mapped x.

    Rows [start, stop) of this rank's epoch order (``idx``, or the data order when None) form
    this rank's batch; ``stop <= start`` means this rank has no batch left. ``weight_of(target,
    sw)`` is the batch's loss normalizer. Returns (loss, grad norm, status, weight) where loss is
    the mean over the (global) batch and weight its (global) normalizer.
    """
    batch = None
    weight = 0.0
    if stop > start:
        rows = slice(start, stop) if idx is None else idx
        batch = _loop.batch(x, idx, start, stop, target, sw, model.dtype)
        weight = weight_of((target[0], target[1][rows]), None if sw is None else sw[rows])
    if dp is None:
        x_, idx_, s_, n_, t_, sw_ = batch
        value, norm, status = model._train_step(x_, loss_spec=model._loss_spec(loss), target=t_, sample_weight=sw_,
                                                indices=idx_, start=s_, n=n_, optimizer=optimizer,
                                                clip_norm=clip_norm or 0.0, clip_value=clip_value or 0.0)
        return value, norm, status, weight
    plan = dp.bucket_plan(model, x)
    if plan is None:  # sparse input: the fused step's gradient, reduced in one piece
        value, status = _local_gradient(model, batch, loss, weight)
        value, weight, status = dp.reduce_gradient(model, value, weight, status)
    else:
        value, weight, status = dp.gradient(model, plan, batch, loss, weight)
    if status:
        return value, math.nan, status, weight
    norm, status = _clip_and_update(model, optimizer, clip_norm, clip_value)
    return value, norm, status, weight


def lbfgs_iteration(dp, model, optimizer, x, target, sw, loss, weight):
    """One L-BFGS iteration on the global full-batch loss: every closure call reduces this
    rank's gradient and loss over the ranks, so every rank takes the same line search."""
    n = x.shape[0]

    def closure(params):
        value, _norm, status = model._train_step(x, loss_spec=model._loss_spec(loss), target=target, sample_weight=sw)
        value, _total, status = dp.reduce_gradient(model, value, weight, status)
        return value, model.grads

    value = optimizer.step(closure, model.params)
    g = optimizer.grad
    return value, float(np.sqrt(np.dot(g, g))) if g is not None else math.nan


def gather_metric(dp, fn, y_true, y_pred):
    """A metric over all ranks' rows (the same value on every rank). fastgd's own metrics are
    reduced from per-rank sums, so the rows stay on their ranks: accuracy and zero-one loss from
    the counts of right predictions, mse and mae from the sums of per-sample errors, r2 in two
    passes (the global mean of y_true, then the squared residuals and deviations from it). Any
    other callable sees every row: rank 0 computes it on the gathered rows and broadcasts it."""
    from fastgd import metrics

    if fn is metrics.accuracy or fn is metrics.zero_one_loss:
        correct = metrics._correct(y_true, y_pred, 0.5)
        right, n = dp.sum([np.count_nonzero(correct), correct.shape[0]])
        return right / n if fn is metrics.accuracy else 1.0 - right / n
    if fn is metrics.mean_squared_error or fn is metrics.mean_absolute_error:
        t, p = metrics._regression_pair(y_true, y_pred)
        errors = (t - p) ** 2 if fn is metrics.mean_squared_error else np.abs(t - p)
        total, n = dp.sum([errors.mean(axis=1).sum(), t.shape[0]])
        return total / n
    if fn is metrics.r2_score:
        t, p = metrics._regression_pair(y_true, y_pred)
        k = t.shape[1]
        sums = dp.sum([t.shape[0], *t.sum(axis=0)])
        if sums[0] < 2:
            raise ValueError("r2_score needs at least two samples")
        mean = sums[1:] / sums[0]
        ss = dp.sum([*((t - p) ** 2).sum(axis=0), *((t - mean) ** 2).sum(axis=0)])
        return float(metrics._r2_scores(ss[:k], ss[k:]).mean())
    parts = dp.comm.gather((y_true, y_pred), root=0)
    value = None
    if dp.is_root:
        value = float(fn(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    return dp.comm.bcast(value, root=0)
