"""Data-parallel training over MPI (``mpi4py``), the optional ``mpi`` extra.

``model.fit(X, y, ..., comm=comm)`` with ``comm`` an ``mpi4py`` communicator and ``X, y`` this
rank's shard of the data (:func:`shard` cuts one; every rank needs at least one row) trains one
model replica per rank:

- ``batch_size`` is per rank: a step's global batch is the union of every rank's batch.
- A step's gradient is the exact weighted mean over the global batch: each rank's batch mean
  gradient counts with its share of the total weight of the step's batches (sample weights
  times class weights, or row counts). Unequal shards and short last batches weigh exactly as
  they would in one process.
- The parameters, the optimizer's state, the schedule's state and the shuffling seed are
  broadcast from rank 0 when training starts; after that every step applies the same update to
  the same reduced gradient, so the replicas stay identical.
- How a step reduces and updates. By default the ranks of a host share memory (MPI-3 shared
  windows): the parameters and the optimizer's state are held once per host, every rank sums
  its slice of all the ranks' gradients and applies the optimizer's update to that slice only
  (see ``_SharedArenas``); with several hosts the slices are summed between hosts with
  ``Allreduce``. This needs the same number of ranks on every host, dense input, a gradient
  arena of at most ``bucket_cap_mb`` and an optimizer other than noisy SGD. Otherwise, or with
  ``DataParallel(comm, shared_memory=False)``, each rank scales its gradient by its share, an
  in-place ``Allreduce`` of the flat gradient arena sums the shares, and every rank applies the
  whole update (one fused optimizer call); the weights are summed in a small non-blocking
  reduction that runs while the ranks compute. Both give the same update, up to the order the
  ranks' values are added in. At the end of fit the model and the optimizer hold their own
  arrays again, as after a one-process fit.
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
  prints the error and calls ``MPI.COMM_WORLD.Abort(1)``, so the other ranks never wait in a
  reduction for a rank that is gone; a ``sys.exit`` of failure status inside fit aborts too
  (``exiting``), and a callback's ``sys.exit(0)`` on one rank stops every rank's fit there. Ranks that call fit or evaluate with different arguments (other than the
  data) raise a ValueError naming the argument (``DataParallel.agree``) before anything else.
- Every collective of fit, evaluate and partial_fit (and so of fit_restarts and the L-BFGS
  path) waits at most ``DataParallel(comm, timeout=...)`` seconds, as PyTorch's process groups
  do: the entry of the call, each step's reductions and shared-memory barriers, the callbacks'
  stop agreement, the validation loss and the metrics. A rank that waits longer (another rank
  never made the call, or stopped inside it: blocked in a callback or in I/O, stopped in a
  debugger) raises TimeoutError naming what it waited for, and the job ends as on any uncaught
  exception. The collectives are non-blocking ones, tested in ``DataParallel._wait`` against
  the deadline; with ``timeout=float("inf")`` it is MPI's blocking wait. (The pickled
  collectives of the settings in ``agree``, of the optimizer's state in ``start`` and of the
  rows a user's metric needs, and the making of the shared-memory communicators and window,
  have no non-blocking form: each follows a bounded collective with no user code between.)

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
import os
import sys
import time
from typing import Any

import numpy as np

from fastgd import _core
from fastgd import _loop, _validation

__all__ = ["DataParallel", "shard"]


# how long DataParallel._wait tests its requests without pause before it sleeps between tests,
# and how many tests it makes between yields of the processor meanwhile
_SPIN = 0.05
_POLLS_BEFORE_YIELD = 50

# The communicators (by handle) on which a wait of this rank timed out: what it waited for and
# its requests. MPI cannot cancel a collective: the requests stay in flight (their buffers kept
# alive here, as MPI may still write them) and the ranks are out of step on the communicator for
# good, so that a later call's collectives would match the wrong ones, or wait without bound.
# Also under ("processes", their COMM_WORLD ranks): the shared-memory communicators of those
# processes (_SharedArenas) are kept for any later communicator of them (a Dup, say), and may be
# out of step as well.
_TIMED_OUT: dict[Any, tuple[str, list]] = {}


def _handle(comm):
    """What identifies the MPI communicator ``comm`` across its Python objects."""
    return comm.py2f() if hasattr(comm, "py2f") else id(comm)


def _check_comm(comm):
    for attr in ("Get_rank", "Get_size", "Allreduce", "Bcast", "bcast", "Abort"):
        # a class (MPI.Intracomm) has the methods too, unbound: Is_inter() then 'needs an argument'
        if not hasattr(comm, attr) or isinstance(comm, type):
            got = f"the class {comm.__name__}" if isinstance(comm, type) else type(comm).__name__
            raise TypeError(f"comm must be an mpi4py communicator (e.g. mpi4py.MPI.COMM_WORLD), got {got}")
    if not comm:  # mpi4py's null handle is false
        raise ValueError("comm must be a communicator, got a null one (MPI.COMM_NULL, or a communicator that "
                         "was freed)")
    if getattr(comm, "Is_inter", None) is not None and comm.Is_inter():
        # its collectives combine one group's values with the other group's: no rank would hold the sum
        raise ValueError("comm must be an intracommunicator, got an intercommunicator (ic.Merge() makes one "
                         "of its two groups)")
    return comm


def shard(n: int, comm: Any) -> slice:
    """The slice of rank ``comm.rank`` out of ``n`` samples: contiguous blocks whose sizes differ
    by at most one (the first ``n % size`` ranks get one more). ``X[shard(len(X), comm)]`` of a
    memory-mapped array is a view: a rank reads only its rows. ``comm`` may be what fit takes
    as ``comm``: a :class:`DataParallel` too."""
    n = _validation.integer("n", n, 0)
    comm = _check_comm(comm.comm if isinstance(comm, DataParallel) else comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    base, extra = divmod(int(n), size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def _abort(comm, code=1):
    """End the whole job with exit status ``code``, once what this rank printed is out."""
    sys.stderr.flush()
    sys.stdout.flush()
    time.sleep(0.5)  # let mpiexec forward the output before the abort tears the job down
    comm.Abort(code)


def _abort_on_uncaught(MPI):
    """Make an uncaught exception on this rank print its traceback and abort the whole job
    (once per process, whatever the communicators). The abort goes through COMM_WORLD, which
    lives as long as MPI: the communicator of the fit that installed the hook may be freed by
    the time an exception comes (MPI_Abort on it then failed, and the job hung)."""
    if getattr(sys.excepthook, "_fastgd_abort", False):
        return
    previous = sys.excepthook

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        _abort(MPI.COMM_WORLD)

    hook._fastgd_abort = True
    sys.excepthook = hook


class DataParallel:
    """The collective side of a fit over ``comm``: what every rank calls in the same order.

    ``fit(..., comm=DataParallel(comm, bucket_cap_mb=..., shared_memory=..., node=...))`` sets
    how the steps reduce (see the module docstring):

    - ``bucket_cap_mb``: the bucket size of the overlapped gradient reduction; a gradient arena
      of at most ``bucket_cap_mb`` megabytes is reduced in one piece after the backward pass
      (by default through shared memory); 0 makes every layer its own bucket.
    - ``shared_memory`` (default True): False reduces with ``Allreduce`` and updates the whole
      model on every rank even where the ranks of a host could share memory.
    - ``node``: the communicator of the ranks that share memory with this one (default
      ``comm.Split_type(MPI.COMM_TYPE_SHARED)``, the ranks on this host), e.g. ``comm.Split(...)``
      to group the ranks differently.
    - ``timeout`` (seconds, default 1800, ``float("inf")``: no limit): how long any one
      collective of a call (fit, evaluate, partial_fit) waits for the other ranks of ``comm``:
      to enter the call, and inside it (each step's reductions, the callbacks' stop agreement,
      validation, metrics). A rank that never makes the call (it passed no ``comm``, or took
      another branch of the script), or stops inside it (blocked in a callback or in I/O,
      stopped in a debugger), would leave the others waiting for ever; after ``timeout`` they
      raise TimeoutError naming what they waited for, and the job ends as on any uncaught
      exception (see the module docstring); a rank that catches it cannot use ``comm``, or
      another communicator of the same processes, again (a later call raises RuntimeError at
      once: the collectives that timed out are in flight). Set it above the longest time the ranks may be
      apart between two collectives (loading their data before the call, a callback that
      writes a checkpoint on rank 0, say)."""

    def __init__(self, comm: Any, bucket_cap_mb: float | None = None, shared_memory: bool | None = None,
                 node: Any = None, timeout: float | None = None) -> None:
        # the fits a fit_restarts runs over comm (each rank must run as many: see agree)
        self.n_restarts = comm.n_restarts if isinstance(comm, DataParallel) else 1
        # the call the user made that runs fit over comm (fit, partial_fit): what fit's errors
        # and timeouts name
        self.entry = comm.entry if isinstance(comm, DataParallel) else "fit"
        if isinstance(comm, DataParallel):
            bucket_cap_mb = comm.bucket_cap_mb if bucket_cap_mb is None else bucket_cap_mb
            shared_memory = comm.shared_memory if shared_memory is None else shared_memory
            node = comm.node if node is None else node
            timeout = comm.timeout if timeout is None else timeout
            comm = comm.comm
        # the argument first: without mpi4py, comm=5 is still a wrong argument, not a missing module
        _check_comm(comm)
        from mpi4py import MPI

        if bucket_cap_mb is None:
            bucket_cap_mb = 25.0
        self.bucket_cap_mb = _validation.real("bucket_cap_mb", bucket_cap_mb, low=0.0)
        self.timeout = _validation.real("timeout", 1800.0 if timeout is None else timeout, low=0.0, low_open=True,
                                        allow_inf=True)
        if shared_memory is None:
            shared_memory = True
        if not isinstance(shared_memory, (bool, np.bool_)):
            raise TypeError(f"shared_memory must be True or False, got {type(shared_memory).__name__}")
        self.shared_memory = bool(shared_memory)
        if node is not None:
            _check_comm(node)
        self.node = node
        self._buckets = None  # (model, its bucket_plan), made on the first step
        self._shared = None  # the _SharedArenas the model and optimizer are in, while they are
        self.comm = _check_comm(comm)
        self.MPI = MPI
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.is_root = self.rank == 0
        # weight, weighted loss, non-finite loss count, non-finite gradient count
        self._scalars = np.zeros(4, dtype=np.float64)
        self.call = self.entry  # the call (fit, partial_fit, evaluate) and (epoch, step) that timeouts name
        self.at = None
        _abort_on_uncaught(MPI)
        if node is not None:
            # the window of a node with processes of another job (another part of a split)
            # would mix the two jobs' parameters
            outside = set(_world_ranks(MPI, node)) - set(_world_ranks(MPI, comm))
            if outside:
                raise ValueError(f"node must be a communicator of ranks of comm (those that share memory), got "
                                 f"one with {len(outside)} process{'es' if len(outside) > 1 else ''} outside comm "
                                 f"(COMM_WORLD rank{'s' if len(outside) > 1 else ''} "
                                 f"{', '.join(map(str, sorted(outside)[:8]))})")

    # ---- small collectives ---------------------------------------------------------------

    def exiting(self, exc):
        """A SystemExit leaving fit on this rank (sys.exit in a callback): a failure (a status
        other than 0 or None) ends the whole job with it, as ``python -m mpi4py`` does, where
        the interpreter would exit this rank alone, quietly (no excepthook), and leave the
        other ranks waiting in the step's reduction for ever."""
        code = exc.code
        if code is None or code == 0:
            return
        if not isinstance(code, int):  # sys.exit("message"): printed, exit status 1
            print(code, file=sys.stderr)
            code = 1
        _abort(self.comm, code)

    def agree(self, call, model, loss, **settings):
        """Check, in one ``allgather`` before any other collective of the call, that every rank
        makes the same ``call`` with the same model layout, loss and ``settings``: a rank that
        trained more epochs, validated, computed a metric or took another path through a step
        than the others would wait for ever in a collective they never enter, and a rank with
        another activation or loss would compute other gradients silently. Raises ValueError on
        every rank, naming the first setting that differs and each rank's value."""
        layout = [tuple(getattr(L, name) for name in type(L)._LAYOUT) for L in model.layers]
        mine = {"call": call, "model dtype": model.dtype.name, "model layers": layout,
                "loss": loss.get_config(), **settings, "n_restarts": self.n_restarts,
                "bucket_cap_mb": self.bucket_cap_mb, "shared_memory": self.shared_memory}
        mine = {key: repr(value) for key, value in mine.items()}
        self._arrive(call)
        every = self.comm.allgather(mine)
        for key in mine:
            ranks = {}
            for rank, theirs in enumerate(every):
                ranks.setdefault(theirs.get(key), []).append(rank)
            if len(ranks) > 1:
                where = "; ".join(f"rank{'s' if len(r) > 1 else ''} {', '.join(map(str, r[:8]))}"
                                  f"{', ...' if len(r) > 8 else ''}: {value}" for value, r in ranks.items())
                raise ValueError(f"{call}(comm=...): every rank must make the same call with the same arguments "
                                 f"(only the data differs), but {key} differs: {where}")

    def _arrive(self, call):
        """Wait, at most ``timeout`` seconds, until every rank of comm has entered ``call``; a
        RuntimeError, before any collective, when a wait on comm timed out before on this rank."""
        self.call = call
        timed_out = _TIMED_OUT.get(_handle(self.comm))
        which = "comm"
        if timed_out is None:
            timed_out = _TIMED_OUT.get(("processes", _world_ranks(self.MPI, self.comm)))
            which = ("comm (a communicator of the processes of one that timed out, whose shared-memory communicators "
                     "fastgd keeps)")
        if timed_out is not None:
            raise RuntimeError(
                f"{call}(comm=...): {which} cannot be used again on rank {self.rank}: a wait of an earlier call timed "
                f"out ({timed_out[0]}). MPI cannot cancel its collectives, so they are still in flight and the ranks "
                f"are out of step: a new call's collectives would match the wrong ones or wait for ever. "
                f"End the job (a TimeoutError left uncaught ends it) and start it again")
        if self.timeout == math.inf:
            return
        try:
            self._wait(self.comm.Ibarrier(), f"every rank to enter {call}")
        except TimeoutError:
            raise TimeoutError(
                f"{call}(comm=...): not every one of the {self.size} ranks of comm entered {call} within "
                f"{self.timeout:g} s (DataParallel(comm, timeout=...)); a rank that calls {call} without "
                f"comm=, or does not call it, leaves the others waiting") from None

    def _wait(self, requests, what):
        """Wait until the non-blocking collective ``requests`` (one request or a list) complete,
        at most ``timeout`` seconds, then raise TimeoutError naming ``what`` was awaited (its
        ``{step}``: the step being taken, see step_name, put in only then). The
        requests are tested without pause for the first _SPIN seconds (a step's reductions,
        whose ranks arrive within a few milliseconds, then finish as early as in a blocking
        wait), yielding the processor now and then, then with pauses that grow to 10 ms. With
        no timeout: MPI's blocking wait."""
        MPI = self.MPI
        if not isinstance(requests, list):
            requests = [requests]
        if self.timeout == math.inf:
            MPI.Request.Waitall(requests)
            return
        if MPI.Request.Testall(requests):
            return
        start = time.monotonic()
        spin, deadline = start + _SPIN, start + self.timeout
        pause = 0.0
        polls = 0
        while not MPI.Request.Testall(requests):
            polls += 1
            now = time.monotonic()
            if now > deadline:
                what = what.replace("{step}", self.step_name())
                _TIMED_OUT[_handle(self.comm)] = _TIMED_OUT[("processes", _world_ranks(MPI, self.comm))] = (
                    f"{self.call}, waiting for {what}", requests)
                raise TimeoutError(
                    f"{self.call}(comm=...): rank {self.rank} waited {self.timeout:g} s "
                    f"(DataParallel(comm, timeout=...)) for {what}: a rank of comm is blocked (in a callback, "
                    f"a debugger, I/O) or gone")
            if now > spin:
                time.sleep(pause)
                pause = min(2 * pause + 1e-5, 0.01)
            elif not polls % _POLLS_BEFORE_YIELD:
                # as MPICH's blocking wait yields every MPIR_CVAR_POLLS_BEFORE_YIELD (1000) tests
                # of its faster loop: a rank waited for may run on a loaded machine
                os.sched_yield()

    def step_name(self):
        """The step being taken, for what a wait names: ``at``, (epoch, step) as the training
        loop sets it (step None: the epoch's L-BFGS iteration)."""
        if self.at is None:
            return "the first step"
        epoch, step = self.at
        if step is None:
            return f"the L-BFGS iteration of epoch {epoch + 1}"
        return f"step {step + 1} of epoch {epoch + 1}"

    def sum(self, values, what):
        """Element-wise sum over ranks of a float64 vector (a new array); ``what``: how a
        timeout names the sum."""
        out = np.array(values, dtype=np.float64)
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, out, op=self.MPI.SUM), what)
        return out

    def max(self, value, what):
        """The largest over ranks of a number (an int stays an int: exact below 2**53)."""
        out = np.array([value], dtype=np.float64)
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, out, op=self.MPI.MAX), what)
        return int(out[0]) if isinstance(value, (int, np.integer)) else float(out[0])

    def any(self, flag, what):
        return self.max(int(bool(flag)), what) > 0

    # ---- start of training ---------------------------------------------------------------

    def start(self, model, optimizer, schedule, seed):
        """Make every rank start from rank 0's parameters, optimizer and schedule state and seed;
        returns the seed."""
        self._wait(self.comm.Ibcast(model.params, root=0), "rank 0's parameters")
        for obj in (optimizer, schedule):
            if obj is not None and hasattr(obj, "state_dict"):
                state = self._bcast_state(obj.state_dict() if self.is_root else None)
                if not self.is_root:
                    obj.load_state_dict(state)
        # the seed is any int >= 0 (fit takes those beyond int64): its length in bytes, then its bytes
        size = np.array([max(1, (seed.bit_length() + 7) // 8) if self.is_root else 0], dtype=np.int64)
        self._wait(self.comm.Ibcast(size, root=0), "rank 0's seed")
        raw = np.frombuffer(seed.to_bytes(int(size[0]), "little"), np.uint8).copy() if self.is_root else \
            np.empty(int(size[0]), np.uint8)
        self._wait(self.comm.Ibcast(raw, root=0), "rank 0's seed")
        return int.from_bytes(raw.tobytes(), "little")

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
        self._wait([comm.Ibcast(arrays[key], root=0) for key in sorted(layout)], "rank 0's optimizer state")
        return {**rest, **arrays}

    def epoch_key(self, key):
        """The shuffling seed key of this rank (see the module docstring)."""
        return key if self.rank == 0 else [*key, self.rank]

    # ---- one step ------------------------------------------------------------------------

    def weight_sum(self, weight):
        """Start summing the ranks' batch weights (non-blocking); returns a function that
        waits for the sum and gives (global weight, this rank's ``weight`` share of it)."""
        total = np.array([weight], dtype=np.float64)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, total, op=self.MPI.SUM)

        def wait():
            self._wait(request, "the batch weights of {step}")
            return float(total[0]), (weight / total[0] if total[0] > 0 else 0.0)
        return wait

    def reduce_gradient(self, model, value, share, status, total):
        """Turn this rank's mean gradient (in ``model.grads``) and loss ``value`` over rows that
        weigh ``share`` of the global weight ``total`` into the global mean: each rank's scaled
        by its share, summed (so one rank's, of share 1, stay as computed). Returns (global mean
        loss, total, status)."""
        grads = model.grads
        scalars = self._scalars[1:]  # weighted loss, non-finite loss count, non-finite gradient count
        scalars[:] = 0.0
        if status:
            scalars[status] = 1.0
            grads[...] = 0
        elif share > 0:
            if share != 1.0:
                _core.inplace_scale(grads, share)
            scalars[0] = value * share
        else:
            grads[...] = 0
        MPI = self.MPI
        requests = [self.comm.Iallreduce(MPI.IN_PLACE, grads, op=MPI.SUM),
                    self.comm.Iallreduce(MPI.IN_PLACE, scalars, op=MPI.SUM)]
        self._wait(requests, "the gradient reduction of {step}")
        if scalars[1] or not total > 0:
            return math.nan, total, 1
        if scalars[2]:
            return math.nan, total, 2
        return float(scalars[0]), total, 0

    # ---- the shared-memory step -----------------------------------------------------------

    def use_shared(self, model, optimizer, plan):
        """Whether this step takes the shared-memory path (see _SharedArenas); moves the model
        and optimizer into the node's shared memory on the first such step, and out of it when
        the path is left. The answer is the same on every rank."""
        use = (self.shared_memory and self.size > 1 and list(plan) == [0] and hasattr(optimizer, "_step_range")
               and not optimizer._noisy())
        if use:
            nodes = _SharedArenas.nodes(self)
            use = nodes is not None
        if not use:
            self.finish()
            return False
        # lay the state out for this step first (set_param_groups may have added slots): a new
        # layout is a new array, made from the whole current state, which then moves in
        optimizer._plan(model.n_params, model.dtype)
        if self._shared is None or not self._shared.holds(model, optimizer):
            self.finish()
            self._shared = nodes.attach(self, model, optimizer)
        return True

    def finish(self):
        """Move the model and optimizer back to their own memory (at the end of fit)."""
        if self._shared is not None:
            self._shared.detach()
            self._shared = None

    def bucket_plan(self, model, x):
        """{layer l: the views of ``model.grads`` whose reduction starts once the backward pass
        has finished layer l}: buckets of about ``bucket_cap_mb`` on more than one rank when
        the arena is larger, else the whole arena after the first layer (one reduction). None
        for sparse input on any rank: the fused step then computes the gradient. Every rank
        must take the same path, so the choice is made on the first step by a collective."""
        if self._buckets is None or self._buckets[0] is not model:
            plan = None
            if not self.any(isinstance(x, _core.CSRMatrix), "whether a rank's input is sparse"):
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
                    self._wait(requests[0], "the batch weights of {step}")
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
        if status or not weight > 0:  # take part in every bucket's reduction with zeros
            scalars[2] = float(status != 0)
            model.grads[...] = 0
            for layer in range(len(model.layers) - 1, -1, -1):
                on_layer(layer)
        else:  # the loss counts with the share its gradient did (one rank's: as computed)
            scalars[1] = value * share[0]
        requests.append(comm.Iallreduce(MPI.IN_PLACE, scalars[1:3], op=MPI.SUM))
        self._wait(requests, "the gradient reduction of {step}")
        total = scalars[0]
        if scalars[2] or not total > 0:
            return math.nan, total, 1
        return float(scalars[1]), total, 0


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


class _SharedArenas:
    """The gradient reduction and optimizer update of a fit whose ranks share memory, as in
    ZeRO stage 1 (Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion
    Parameter Models", SC 2020) but with one copy of the parameters and optimizer state per host.

    The ranks of a host (``comm.Split_type(MPI.COMM_TYPE_SHARED)``) allocate one MPI-3 shared
    window (``MPI.Win.Allocate_shared``) that holds the model's parameters and the optimizer's
    state once, and every rank's gradient arena. For the fit, the model's arenas and the
    optimizer's state are those views. Each rank owns the contiguous slice
    ``[local_rank * n // local_size, (local_rank + 1) * n // local_size)`` of the parameters. A
    step, after every rank's backward pass into its own gradient arena:

    1. a barrier; every rank reads every rank's batch weight, loss and status;
    2. each rank sums its slice of all the gradient arenas, each scaled by its rank's share of the
       total weight, into its own arena (with several hosts: then an ``Allreduce`` of the slice
       among the ranks that own it on each host), and the squares of the slice;
    3. a barrier; every rank adds the slices' squares: the global norm, for the finiteness
       check, ``clip_norm`` and History (``clip_value`` clips the slice, and takes one more
       barrier to measure the clipped norm when ``clip_norm`` is set too);
    4. each rank applies the optimizer's update to its slice of the parameters and state;
    5. a barrier: the next forward pass reads the whole updated parameters.

    So the gradient is read across the host once and each rank updates ``1 / local_size`` of
    the parameters, where an ``Allreduce`` and a full update on every rank would move the
    arena several times. The replicas stay identical: on a host there is one copy, and every
    host applies the same update to the same reduced slice. The parameters, the state and the
    last reduced gradient go back to the model's and optimizer's own arrays at the end of fit,
    so state_dict, checkpoints and a later fit on any number of ranks see ordinary arrays. Used when every host runs the same number of ranks, for
    dense input, a gradient arena of at most ``bucket_cap_mb`` and optimizers other than noisy
    SGD; otherwise the step reduces with ``Allreduce``.
    """

    # (the world ranks of comm, of node) -> the _SharedArenas of those processes, kept for later
    # fits: one entry per group of processes, however many communicators a program makes of it
    # (a Dup or Split per fit), with communicators of its own, which outlive the user's
    _cache = {}

    def __init__(self, dp):
        MPI = dp.MPI
        comm = dp.comm
        node = (dp.node.Dup() if dp.node is not None
                else comm.Split_type(MPI.COMM_TYPE_SHARED, key=dp.rank))
        self.MPI, self.node = MPI, node
        self.local, self.local_size = node.Get_rank(), node.Get_size()
        sizes = comm.allgather(self.local_size)
        self.usable = len(set(sizes)) == 1
        self.cross = comm.Split(self.local, key=dp.rank) if self.usable else None
        self.hosts = len(sizes) // self.local_size
        self.window = None
        self.retired = []
        self.capacity = 0
        self.attached = None

    @classmethod
    def nodes(cls, dp):
        """The arenas of dp's communicators, or None when the hosts run unequal numbers of ranks."""
        key = (_world_ranks(dp.MPI, dp.comm), None if dp.node is None else _world_ranks(dp.MPI, dp.node))
        if key not in cls._cache:
            cls._cache[key] = cls(dp)
        entry = cls._cache[key]
        return entry if entry.usable else None

    def _barrier(self, what):
        self.window.Sync()
        self.dp._wait(self.node.Ibarrier(), what)
        self.window.Sync()

    def _cross_sum(self, values, what):
        """Sum ``values`` in place over the hosts (the ranks of the same local rank)."""
        self.dp._wait(self.cross.Iallreduce(self.MPI.IN_PLACE, values, op=self.MPI.SUM), what)

    def _allocate(self, dtype, n, state_size):
        """The window, grown when this model and optimizer need more than it has (collective)."""
        align = 64

        def span(count, itemsize):
            return -(-count * itemsize // align) * align

        item = dtype.itemsize
        pad = span(n, item)
        layout = {"params": (0, n), "state": (pad, state_size)}
        offset = pad + span(state_size, item)
        grads = offset
        offset += self.local_size * pad
        scalars = offset
        offset += span(self.local_size * 3 * 4, 8)
        if offset > self.capacity:
            # the old window stays allocated: arrays a user kept from an earlier fit stay valid;
            # doubling bounds what the old windows hold to the size of the new one
            if self.window is not None:
                self.retired.append(self.window)
            self.capacity = max(offset, 2 * self.capacity)
            self.window = self.MPI.Win.Allocate_shared(self.capacity if self.local == 0 else 0, 1, comm=self.node)
            self.window.Lock_all()
        buf, _ = self.window.Shared_query(0)
        memory = np.frombuffer(buf, dtype=np.uint8, count=self.capacity)
        views = {name: memory[a:a + k * item].view(dtype) for name, (a, k) in layout.items()}
        views["grads"] = [memory[grads + r * pad:grads + r * pad + n * item].view(dtype)
                          for r in range(self.local_size)]
        views["scalars"] = memory[scalars:scalars + self.local_size * 96].view(np.float64).reshape(
            self.local_size, 3, 4)
        return views

    def attach(self, dp, model, optimizer):
        """Move the model's arenas and the optimizer's state into the window (collective); the
        waits of dp's fit are bounded by its timeout."""
        self.dp = dp
        n = model.n_params
        state, _groups = optimizer._plan(n, model.dtype)
        # no rank still reads the window of an earlier fit
        dp._wait(self.node.Ibarrier(), "the shared memory of {step}")
        views = self._allocate(np.dtype(model.dtype), n, state.size)
        self.lo, self.hi = self.local * n // self.local_size, (self.local + 1) * n // self.local_size
        own = slice(self.lo, self.hi)
        views["params"][own] = model.params[own]
        stride = _core.optim_state_stride(n)
        for slot in range(state.size // stride if stride else 0):
            views["state"][slot * stride + self.lo:slot * stride + self.hi] = state[slot * stride + self.lo:
                                                                                     slot * stride + self.hi]
        views["grads"][self.local][...] = model.grads
        self.attached = (model, optimizer, model.params, model.grads, state)
        self.shared = views
        self.slot = views["grads"][self.local]
        self.scratch = np.empty(self.hi - self.lo, dtype=model.dtype)
        model._bind_arenas(views["params"], self.slot)
        optimizer._state = views["state"]
        self._barrier("the shared memory of {step}")
        return self

    def holds(self, model, optimizer):
        """Whether the model and this optimizer state are the ones in the window (a callback may
        have replaced the state: load_state_dict, reset)."""
        return (self.attached is not None and self.attached[0] is model and self.attached[1] is optimizer
                and model.params is self.shared["params"] and optimizer._state is self.shared["state"])

    def detach(self):
        """Copy the parameters, the last reduced gradient (each slice from the rank that summed
        it) and the state back into the model's and the optimizer's own arrays (no
        communication: every rank has passed the last step's barrier)."""
        model, optimizer, params, grads, state = self.attached
        self.attached = None
        params[...] = model.params
        n = model.n_params
        for r, part in enumerate(self.shared["grads"]):
            a, b = r * n // self.local_size, (r + 1) * n // self.local_size
            grads[a:b] = part[a:b]
        model._bind_arenas(params, grads)
        if optimizer._state is self.shared["state"]:
            state[...] = optimizer._state
            optimizer._state = state

    def _exchange(self, k, values, across=True):
        """Exchange k of a step (0, 1, 2: each row written once per step): this rank's values,
        summed over the host's ranks (and over the hosts when ``across``)."""
        rows = self.shared["scalars"]
        rows[self.local, k, :len(values)] = values
        what = ("the batch weights of {step}", "the gradient reduction of {step}", "the clipped norm of {step}")[k]
        self._barrier(what)
        total = rows[:, k, :len(values)].sum(axis=0)
        if across and self.hosts > 1:
            self._cross_sum(total, what)
        return total, rows[:, k, 0]

    def reduce(self, value, weight, status):
        """Steps 1–3 (see the class docstring); returns (global mean loss, global weight,
        status, the reduced gradient's added _square_sums)."""
        (total, weighted, bad), weights = self._exchange(0, (weight, value * weight, float(status != 0)))
        if bad or not total > 0:
            return math.nan, total, 1, math.nan
        mine = self.slot[self.lo:self.hi]
        grads = self.shared["grads"]
        share = (weights / total).tolist()  # Python floats: NumPy then scales in the arena's dtype
        others = [r for r in range(self.local_size) if r != self.local and share[r] != 0.0]
        if share[self.local] != 0.0 and all(share[r] == share[self.local] for r in others):
            for r in others:  # equal batch weights: add, then scale once
                mine += grads[r][self.lo:self.hi]
            if share[self.local] != 1.0:
                _core.inplace_scale(mine, share[self.local])
        else:
            if share[self.local] == 0.0:  # no batch here: the arena holds an earlier step's gradient
                mine[...] = 0
            else:
                _core.inplace_scale(mine, share[self.local])
            for r in others:
                np.multiply(grads[r][self.lo:self.hi], share[r], out=self.scratch)
                mine += self.scratch
        if self.hosts > 1:
            self._cross_sum(mine, "the gradient reduction of {step}")
        sums = self._exchange(1, _square_sums(mine), across=False)[0]
        return weighted / total, total, 0, sums

    def update(self, optimizer, sums, clip_norm, clip_value):
        """Steps 3–5: clipping, this rank's slice of the update, the closing barrier. ``sums``:
        the reduced gradient's added _square_sums. Returns (norm, status)."""
        norm, finite = _norm_of(sums)
        if not finite:
            return norm, 2
        mine = self.slot[self.lo:self.hi]
        clipped = norm
        if clip_value:
            _core.inplace_clip_value(mine, clip_value)
            if clip_norm:
                clipped = _norm_of(self._exchange(2, _square_sums(mine), across=False)[0])[0]
        if clip_norm:
            coef = clip_norm / (clipped + 1e-6)
            if coef < 1.0:
                _core.inplace_scale(mine, coef)
        model = self.attached[0]
        optimizer._step_range(model.params, self.slot, self.lo, self.hi)
        self._barrier("the update of {step}")
        return norm, 0


# scales float64 entries below 2^1024 so that the squares of up to 2^60 of them add up finitely
_SQUARES_SCALE = 2.0 ** -600


def _square_sums(g):
    """(Σg², Σ(g·2^-600)²) of g, the second summed again only when the first overflows: a finite
    float64 gradient past 2^511 then still has its norm, as the fused C step measures it (both
    sums of several ranks' slices add up). The second is inf when an entry is not finite."""
    ss = _core.sum_squares(g)
    if math.isfinite(ss):
        return ss, ss * _SQUARES_SCALE * _SQUARES_SCALE
    if _core.count_nonfinite(g):
        return ss, math.inf
    return ss, _core.sum_squares(np.multiply(g, _SQUARES_SCALE))


def _norm_of(sums):
    """(‖g‖₂, whether every entry is finite) from the (added) _square_sums of g's parts."""
    ss, scaled = sums
    if math.isfinite(ss):
        return math.sqrt(ss), True
    if math.isfinite(scaled):
        return math.sqrt(scaled) / _SQUARES_SCALE, True
    return math.sqrt(ss), False


def _world_ranks(MPI, comm):
    """The ranks in COMM_WORLD of comm's processes, in comm's order (local: no communication)."""
    group, world = comm.Get_group(), MPI.COMM_WORLD.Get_group()
    try:
        return tuple(MPI.Group.Translate_ranks(group, list(range(group.Get_size())), world))
    finally:
        group.Free()
        world.Free()


def _no_hook(layer):
    """The per-layer callback of a backward pass that starts no reduction."""


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
    norm, finite = _norm_of(_square_sums(grads))
    if not finite:
        return norm, 2
    clipped = norm
    if clip_value:
        _core.inplace_clip_value(grads, clip_value)
        if clip_norm:
            clipped = _norm_of(_square_sums(grads))[0]
    if clip_norm:
        # torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1
        coef = clip_norm / (clipped + 1e-6)
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
    if plan is not None and dp.use_shared(model, optimizer, plan):
        value, status = 0.0, 0
        if batch is not None and weight > 0:
            x_, idx_, s_, n_, t_, sw_ = batch
            value, status = model._gradient_by_layer(x_, idx_, s_, n_, model._loss_spec(loss), t_, sw_, _no_hook)
        else:
            weight = 0.0
        shared = dp._shared
        value, weight, status, sums = shared.reduce(value, weight, status)
        if status:
            return value, math.nan, status, weight
        norm, status = shared.update(optimizer, sums, clip_norm, clip_value)
        return value, norm, status, weight
    if plan is None:  # sparse input: the fused step's gradient, reduced in one piece
        weights = dp.weight_sum(weight)
        value, status = _local_gradient(model, batch, loss, weight)
        total, share = weights()
        value, weight, status = dp.reduce_gradient(model, value, share, status, total)
    else:
        value, weight, status = dp.gradient(model, plan, batch, loss, weight)
    if status:
        return value, math.nan, status, weight
    norm, status = _clip_and_update(model, optimizer, clip_norm, clip_value)
    return value, norm, status, weight


def lbfgs_iteration(dp, model, optimizer, x, target, sw, loss, weight, total, packed=None):
    """One iteration of L-BFGS (or Newton-CG) on the global full-batch loss: every closure call
    (and Hessian-vector product) reduces this rank's gradient and loss (product) over the
    ranks, so every rank takes the same line search (trust-region step). ``weight``: this
    rank's rows' (constant) weight; ``total``: all ranks'; ``packed``: x's
    ``model._pack_input``, or None."""
    from fastgd.curvature import is_newton_cg, l2_norm, step_extras

    share = weight / total

    def closure(params):
        value, status = 0.0, 0
        if share > 0:
            value, _norm, status = model._train_step(x, loss_spec=model._loss_spec(loss), target=target,
                                                     sample_weight=sw, packed=packed)
        value, _total, status = dp.reduce_gradient(model, value, share, status, total)
        return value, model.grads

    extras = {}
    if is_newton_cg(optimizer):  # the exact products, as in one process, not differences of gradients
        local = step_extras(model, optimizer, x, target, sw, loss)["hessp"] if share > 0 else None

        def hessp(params, v):
            product = np.zeros(model.n_params) if local is None else local(params, v)
            return dp.sum(product if share == 1.0 else product * share,
                          "a Hessian-vector product of {step}")
        extras["hessp"] = hessp
    value = optimizer.step(closure, model.params, **extras)
    g = optimizer.grad
    return value, l2_norm(g) if g is not None else math.nan


def metric_name(fn):
    """How errors name the metric ``fn`` (for _validation.returned_real)."""
    return f"metrics: {getattr(fn, '__name__', fn)!r}"


def gather_metric(dp, fn, y_true, y_pred):
    """A metric over all ranks' rows (the same value on every rank). fastgd's own metrics are
    reduced from per-rank sums, so the rows stay on their ranks: mse and mae from the sums of
    per-sample errors, r2 in two passes (the global mean of y_true, then the squared residuals
    and deviations from it). Any other callable sees every row: rank 0 computes it on the
    gathered rows and broadcasts it. (Accuracy and zero-one loss do not come here: the training
    loop adds up the ranks' counts of right predictions, each scored by the rule of the whole fit.)"""
    from fastgd import metrics

    if fn is metrics.mean_squared_error or fn is metrics.mean_absolute_error:
        t, p = metrics._regression_pair(y_true, y_pred)
        errors = (t - p) ** 2 if fn is metrics.mean_squared_error else np.abs(t - p)
        total, n = dp.sum([errors.mean(axis=1).sum(), t.shape[0]], f"the sums of {metric_name(fn)}")
        return total / n
    if fn is metrics.r2_score:
        t, p = metrics._regression_pair(y_true, y_pred)
        k = t.shape[1]
        sums = dp.sum([t.shape[0], *t.sum(axis=0)], f"the sums of {metric_name(fn)}")
        if sums[0] < 2:
            raise ValueError("r2_score needs at least two samples")
        mean = sums[1:] / sums[0]
        ss = dp.sum([*((t - p) ** 2).sum(axis=0), *((t - mean) ** 2).sum(axis=0)], f"the sums of {metric_name(fn)}")
        return float(metrics._r2_scores(ss[:k], ss[k:]).mean())
    # the gather (pickled: it has no non-blocking form) starts once every rank has come
    dp._wait(dp.comm.Ibarrier(), f"every rank's rows for {metric_name(fn)}")
    parts = dp.comm.gather((y_true, y_pred), root=0)
    value = np.zeros(1)
    if dp.is_root:
        # checked as in one process: float() would parse a str and refuse a 1-element array
        value[0] = _validation.returned_real(metric_name(fn), fn(np.concatenate([p[0] for p in parts]),
                                                                  np.concatenate([p[1] for p in parts])))
    dp._wait(dp.comm.Ibcast(value, root=0), f"rank 0's {metric_name(fn)}")
    return float(value[0])
