"""Run under ``mpiexec -n R python mpi_worker.py SCENARIO OUT_DIR [ARGS]`` by test_distributed.py.

Each rank trains on its shard of data that every rank generates from the same seed, then writes
what it ended with to ``OUT_DIR/<scenario>-<rank>.npz`` for the test to compare with a
single-process computation. ``all OUT_DIR CAP [PATH]`` runs every fit through
``distributed.DataParallel(comm, bucket_cap_mb=CAP)`` (CAP "-": the default): CAP 0 forces the
overlapped reduction with one bucket per layer; PATH "allreduce" turns the shared-memory step off,
PATH "hosts" makes the ranks of even and of odd rank stand for two hosts (``node=``).
"""

import json
import math
import os
import sys
import time

import numpy as np
from mpi4py import MPI

import fastgd as fg
from fastgd import callbacks, distributed, optim, schedules

N_FEATURES, N_CLASSES = 5, 3
CLIP_VALUE = 0.02  # clips some gradient elements of the shuffled runs (with clip_norm: both, in that order)
BUCKET_CAP_MB = None  # None: the default cap (one reduction for these small models)
OPTIONS = {}  # further DataParallel arguments: shared_memory, node
SHARED_STEPS = [0]  # steps taken by the shared-memory path


def dp(comm):
    """What the scenarios pass to fit/partial_fit/evaluate as ``comm``."""
    if BUCKET_CAP_MB is None and not OPTIONS:
        return comm
    return distributed.DataParallel(comm, bucket_cap_mb=BUCKET_CAP_MB, **OPTIONS)


def count_shared_steps():
    update = distributed._SharedArenas.update

    def counted(self, *args):
        SHARED_STEPS[0] += 1
        return update(self, *args)

    distributed._SharedArenas.update = counted


def data(n, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.3).astype(np.int64) + (x[:, 2] > 1.0)
    w = rng.uniform(0.2, 2.0, size=n)
    return x, y, w


def model(dtype):
    return fg.Sequential([fg.Dense(N_FEATURES, 7, activation="tanh"),
                          fg.Dense(7, N_CLASSES, activation="identity")], dtype=dtype, seed=3)


def make_optimizer(name):
    if name == "adam":
        return optim.Adam(lr=0.05)
    return optim.SGD(lr=0.1, momentum=0.9, nesterov=True)


def skewed(n, size):
    """Shards of sizes proportional to 1, 2, ..., size: the ranks run out of batches at
    different steps of an epoch."""
    cuts = [round(n * k * (k + 1) / (size * (size + 1))) for k in range(size + 1)]
    return [slice(a, b) for a, b in zip(cuts, cuts[1:])]


def save(out, name, comm, **arrays):
    np.savez(os.path.join(out, f"{name}-{comm.rank}.npz"), **arrays)


def steps(comm, out, dtype, opt_name, shuffle, epochs):
    """Training whose parameters the test replays in one process."""
    n = 103
    x, y, w = data(n)
    sl = skewed(n, comm.size)[comm.rank]
    m = model(dtype)
    if comm.rank:
        m.reset_parameters(99)  # replaced by rank 0's parameters when fit starts
    params, opt = m.params, make_optimizer(opt_name)
    h = m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=opt, epochs=epochs,
              batch_size=8, shuffle=shuffle, seed=11, sample_weight=w[sl], clip_norm=0.5,
              clip_value=CLIP_VALUE if shuffle else None, progress=False, comm=dp(comm))
    # fit leaves the model its own arrays, whichever memory the ranks trained in
    assert m.params is params and np.shares_memory(m.layers[0].W, params) and np.shares_memory(m.grads, m.layers[0].dW)
    save(out, f"steps-{dtype}-{opt_name}-{shuffle}", comm, params=m.params, loss=np.array(h.history["loss"]),
         grads=m.grads, state=opt.state_dict()["state"], shared_steps=SHARED_STEPS[0])


def full_batch_and_partial(comm, out):
    """L-BFGS on the global full batch; partial_fit passes; a divergence seen by every rank."""
    n = 103
    x, y, w = data(n)
    sl = distributed.shard(n, comm)
    m = model("float64")
    m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=fg.lbfgs.LBFGS(), epochs=3, batch_size=None,
          sample_weight=w[sl], progress=False, comm=dp(comm))
    newton = model("float64")
    newton.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=fg.NewtonCG(), epochs=3, batch_size=None,
               sample_weight=w[sl], progress=False, comm=dp(comm))
    p = model("float64")
    opt = make_optimizer("sgd")
    losses = [p.partial_fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=opt, batch_size=8,
                            sample_weight=w[sl], comm=dp(comm)) for _ in range(2)]
    d = model("float64")
    targets = 10.0 * np.eye(N_CLASSES)[y]  # MSE with a learning rate far too large overflows
    try:
        d.fit(10.0 * x[sl], targets[sl], loss="mse", optimizer=optim.SGD(lr=1e100), epochs=5, batch_size=8,
              progress=False, comm=dp(comm))
        where = "no divergence"
    except fg.DivergenceError as exc:
        where = f"epoch {exc.epoch} step {exc.step}: {exc}"
    save(out, "fullbatch", comm, lbfgs=m.params, newton=newton.params, partial=p.params, partial_losses=np.array(losses),
         diverged=where, diverged_params=d.params)


def history(comm, out):
    """Validation data, metrics, tol, a plateau schedule and CSV logging, all over ranks."""
    x, y, w = data(90)
    xv, yv, _ = data(40, seed=8)
    sl, slv = distributed.shard(90, comm), distributed.shard(40, comm)
    m = model("float64")
    opt = optim.SGD(lr=0.5)
    plateau = schedules.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=0.5)
    csv_path = os.path.join(out, "log.csv")
    h = m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=opt, epochs=4, batch_size=16,
              validation_data=(xv[slv], yv[slv]), metrics=["accuracy", "zero_one_loss"], tol=1e-12, schedule=plateau,
              callbacks=[callbacks.CSVLogger(csv_path)], seed=5, progress=True, comm=dp(comm))
    ev = m.evaluate(xv[slv], yv[slv], metrics=["accuracy"], comm=dp(comm))
    save(out, "history", comm, params=m.params, history=json.dumps(h.to_dict()), evaluate=json.dumps(ev))


def seeds(comm, out):
    """Rank 0's seed, beyond int64 as a fit without comm takes it, given to every rank (each
    rank passes its own), with and without a timeout."""
    x, y, _ = data(40)
    sl = distributed.shard(40, comm)
    arrays = {}
    for seed in (0, 2**63 - 1, 2**70 + 3):
        for timeout in (5.0, math.inf):
            m = model("float64")
            h = m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer="adam", epochs=1, batch_size=8,
                      seed=seed + comm.rank, progress=False, comm=distributed.DataParallel(comm, timeout=timeout))
            arrays[f"{seed}-{timeout}"] = m.params
            arrays[f"{seed}-{timeout}-seed"] = np.array(str(h.params["seed"]))
    save(out, "seeds", comm, **arrays)


class StopOnRankOne(callbacks.Callback):
    """Asks to stop after the 5th step, on rank 1 only."""

    def __init__(self, rank):
        self.rank = rank

    def on_train_begin(self, logs):
        self.steps = 0

    def on_batch_end(self, step, logs):
        self.steps += 1
        if self.rank == 1 and self.steps == 5:
            self.model.stop_training = True


def early(comm, out):
    """EarlyStopping on the reduced validation loss, and a stop asked by one rank's callback."""
    x, y, _ = data(120)
    xv, yv, _ = data(30, seed=9)
    sl, slv = distributed.shard(120, comm), distributed.shard(30, comm)
    m = model("float64")
    es = fg.EarlyStopping(patience=2, min_delta=0.05)
    h = m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=optim.SGD(lr=0.05), epochs=30,
              batch_size=4, validation_data=(xv[slv], yv[slv]), early_stopping=es, seed=1, progress=False,
              comm=dp(comm))
    m2 = model("float64")
    h2 = m2.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer="sgd", epochs=10, batch_size=4,
                callbacks=[StopOnRankOne(comm.rank)], progress=False, seed=1, comm=dp(comm))
    save(out, "early", comm, epochs=np.array(h.epochs), stopped=str(es.stopped_epoch), params=m.params,
         epochs2=np.array(h2.epochs), params2=m2.params)


def checkpoint(comm, out, phase):
    """Full-batch training (the global batch is all data whatever the rank count): 3 epochs
    checkpointed on 2 ranks, then resumed for 3 more on any number of ranks, with an early
    stopping passed in callbacks= (which a checkpoint saves as it saves any callback's state)."""
    x, y, w = data(60)
    sl = distributed.shard(60, comm)
    kw = dict(loss="softmax_cross_entropy", batch_size=None, shuffle=False, progress=False, comm=dp(comm))
    path = os.path.join(out, "ckpt.npz")
    es = callbacks.EarlyStopping(monitor="loss", patience=100, min_delta=0.02, restore_best=False)
    if phase == "save":
        m = model("float64")
        opt = optim.Adam(lr=0.05)
        sched = schedules.StepDecay(opt, step_size=2, gamma=0.5)
        m.fit(x[sl], y[sl], optimizer=opt, epochs=3, schedule=sched,
              callbacks=[callbacks.ModelCheckpoint(path), es], sample_weight=w[sl], **kw)
        es.load_state_dict(es.state_dict())  # the straight run's early stopping goes on
        m.fit(x[sl], y[sl], optimizer=opt, epochs=3, initial_epoch=3, schedule=sched, sample_weight=w[sl],
              callbacks=[es], **kw)
        name, params = "ckpt-straight", m.params
    else:
        ck = fg.load_checkpoint(path)
        ck.model.fit(x[sl], y[sl], optimizer=ck.optimizer, epochs=3, initial_epoch=ck.epoch,
                     schedule=ck.schedule, sample_weight=w[sl], callbacks=ck.resume_callbacks([es]), **kw)
        name, params = f"ckpt-resumed-{comm.size}", ck.model.params
    save(out, name, comm, params=params, es=np.array([es.next_epoch, es.best_epoch, es.wait]), es_best=es.best)


def memmap(comm, out):
    """Each rank reads its shard of one shared .npy file; equals the same fit on in-memory shards."""
    n = 103
    x, y, w = data(n)
    path = os.path.join(out, "x.npy")
    if comm.rank == 0:
        np.save(path, x.astype(np.float32))
    comm.Barrier()
    xm = np.load(path, mmap_mode="r")
    sl = distributed.shard(n, comm)
    params = []
    reads = []  # (offset, bytes) of every read of the file while the memory-mapped shard trains
    preadv = os.preadv

    def recording(fd, buffers, offset, *args):
        got = preadv(fd, buffers, offset, *args)
        reads.append((offset, got))
        return got

    for xs in (xm[sl], np.array(xm[sl])):
        m = model("float32")
        os.preadv = recording
        try:
            m.fit(xs, y[sl], loss="softmax_cross_entropy", optimizer="adam", epochs=2, batch_size=8, seed=4,
                  sample_weight=w[sl], metrics=["accuracy"], progress=False, comm=dp(comm))
        finally:
            os.preadv = preadv
        params.append(m.params.copy())
    row = N_FEATURES * 4
    header = xm.offset
    save(out, "memmap", comm, lazy=params[0], memory=params[1], reads=np.array(reads, dtype=np.int64).reshape(-1, 2),
         shard_bytes=np.array([header + sl.start * row, header + sl.stop * row]))


def sparse(comm, out):
    """The steps scenario on CSR input, which reduces the fused sparse step's gradient."""
    import scipy.sparse

    x, y, w = data(103)
    sl = skewed(103, comm.size)[comm.rank]
    m = model("float64")
    h = m.fit(scipy.sparse.csr_matrix(x[sl]), y[sl], loss="softmax_cross_entropy", optimizer=make_optimizer("adam"),
              epochs=3, batch_size=8, shuffle=False, sample_weight=w[sl], clip_norm=0.5, progress=False, comm=comm)
    save(out, "sparse", comm, params=m.params, loss=np.array(h.history["loss"]))


def weightless(comm, out, which):
    """Rank 1's training and validation rows all weigh 0 (the sum over the ranks does not):
    full-batch gradient descent and L-BFGS, whose global batch is every rank's rows, and
    evaluate. Each rank refused its all-zero weights on its own. ``which`` "all": every rank's
    rows weigh 0."""
    x, y, w = data(60)
    xv, yv, wv = data(20, seed=8)
    sl, slv = distributed.shard(60, comm), distributed.shard(20, comm)
    if comm.rank == 1 or which == "all":
        w, wv = np.zeros_like(w), np.zeros_like(wv)
    kw = dict(loss="softmax_cross_entropy", batch_size=None, shuffle=False, progress=False, sample_weight=w[sl],
              validation_data=(xv[slv], yv[slv], wv[slv]), comm=comm)
    m, lbfgs = model("float64"), model("float64")
    h = m.fit(x[sl], y[sl], optimizer=optim.SGD(lr=0.5), epochs=3, **kw)
    lbfgs.fit(x[sl], y[sl], optimizer=fg.lbfgs.LBFGS(), epochs=2, **kw)
    ev = m.evaluate(xv[slv], yv[slv], sample_weight=wv[slv], comm=comm)
    save(out, "weightless", comm, params=m.params, lbfgs=lbfgs.params, val_loss=np.array(h.history["val_loss"]),
         evaluate=ev["loss"])


def label_sets(n, seed, several):
    """(x, y, w) of data() with y as 0/1 rows over the N_CLASSES labels: one-hot, but for the
    first ``several`` rows, which carry two labels."""
    x, y, w = data(n, seed)
    y = np.eye(N_CLASSES)[y]
    y[:several, [0, 1]] = 1
    return x, y, w


LABEL_SET_LOSSES = ("binary_cross_entropy", "mse")


def labelsets(comm, out):
    """Multi-label training rows on rank 0 only, one-hot validation rows on every rank: fit's
    and evaluate's accuracy and zero_one_loss, per loss, with the parameters they were of."""
    x, y, w = label_sets(60, 7, 10)
    xv, yv, _ = label_sets(30, 8, 0)
    sl, slv = distributed.shard(60, comm), distributed.shard(30, comm)
    arrays = {}
    for loss in LABEL_SET_LOSSES:
        m = model("float64")
        h = m.fit(x[sl], y[sl], loss=loss, optimizer=optim.Adam(lr=0.05), epochs=1, batch_size=8, sample_weight=w[sl],
                  validation_data=(xv[slv], yv[slv]), metrics=["accuracy", "zero_one_loss"], progress=False, seed=0,
                  comm=dp(comm))
        arrays[f"{loss}-params"] = m.params
        arrays[f"{loss}-history"] = json.dumps({k: h.history[k] for k in h.history if "accuracy" in k or "one" in k})
        arrays[f"{loss}-evaluate"] = json.dumps(m.evaluate(xv[slv], yv[slv], metrics=["accuracy"], comm=dp(comm)))
    save(out, "labelsets", comm, **arrays)


def max_error(y_true, y_pred):
    """A metric fastgd does not know: it needs every row."""
    return float(np.abs(np.asarray(y_true) - np.asarray(y_pred)).max())


def max_error_1d(y_true, y_pred):
    """max_error as a 1-element array, which a metric may return."""
    return np.atleast_1d(max_error(y_true, y_pred))


def regression_metrics(comm, out):
    """evaluate's regression metrics over uneven shards: fastgd's own (reduced from sums) and a
    callable (computed on the gathered rows)."""
    x, _, _ = data(83)
    y = np.stack([x[:, 0] - 2 * x[:, 1], np.sin(x[:, 2])], axis=1)
    sl = skewed(83, comm.size)[comm.rank]
    m = fg.Sequential([fg.Dense(N_FEATURES, 6, activation="tanh"), fg.Dense(6, 2, activation="identity")],
                      dtype="float64", seed=5)
    m.fit(x[sl], y[sl], loss="mse", optimizer="adam", epochs=2, batch_size=8, progress=False, comm=dp(comm))
    ev = m.evaluate(x[sl], y[sl], metrics=["r2", "mse", "mae", max_error, max_error_1d], comm=dp(comm))
    # fastgd's own metrics never gather rows: the same evaluation over a communicator without gather
    no_gather = distributed.DataParallel(comm)
    no_gather.comm = NoGather(comm)
    own = m.evaluate(x[sl], y[sl], metrics=["r2", "mse", "mae"], comm=no_gather)
    save(out, "regression", comm, params=m.params, evaluate=json.dumps(ev), own=json.dumps(own))


class NoGather:
    """A communicator whose gather fails."""

    def __init__(self, comm):
        self._comm = comm

    def __getattr__(self, name):
        if name == "gather":
            raise AssertionError("rows were gathered")
        return getattr(self._comm, name)


def resume_state(comm, out):
    """Optimizers that stepped differently on each rank before fit: rank 0's state (moments and
    step count) and schedule state are what every rank continues from."""
    x, y, w = data(61)
    sl = distributed.shard(61, comm)
    m = model("float64")
    opt = optim.Adam(lr=0.02)
    sched = schedules.StepDecay(opt, step_size=2, gamma=0.5)
    rng = np.random.default_rng(100 + comm.rank)
    for _ in range(1 + comm.rank):
        opt.step(m.params.copy(), rng.normal(size=m.n_params))
        sched.step()
    m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=opt, schedule=sched, epochs=1, batch_size=8,
          sample_weight=w[sl], progress=False, comm=dp(comm))
    state = opt.state_dict()
    save(out, "resume", comm, params=m.params, moments=state["state"], step=state["step"], lr=state["lr"],
         last_step=sched.state_dict()["last_step"])


def buckets(comm, out):
    """A 4-layer model whose layers' gradients (768, 1632, 936, 240 bytes) fall into three
    buckets under a 1000-byte cap ({3, 2}, {1}, {0}): shuffled, weighted batches trained with the
    overlapped reduction and with one reduction of the whole arena."""
    x, y, w = data(97)
    sl = skewed(97, comm.size)[comm.rank]
    params, plans = [], set()
    gradient = distributed.DataParallel.gradient

    def recording(self, model, plan, *args):
        plans.add(tuple(sorted(plan)))
        return gradient(self, model, plan, *args)

    for cap in (0.001, None):
        m = fg.Sequential([fg.Dense(N_FEATURES, 16, activation="tanh"), fg.Dense(16, 12, activation="relu"),
                           fg.Dense(12, 9, activation="tanh"), fg.Dense(9, N_CLASSES, activation="identity")],
                          dtype="float64", seed=3)
        distributed.DataParallel.gradient = recording if cap is not None else gradient
        m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=optim.Adam(lr=0.01), epochs=3, batch_size=6,
              shuffle="epoch", seed=2, sample_weight=w[sl], clip_norm=1.0, progress=False,
              comm=comm if cap is None else distributed.DataParallel(comm, bucket_cap_mb=cap))
        params.append(m.params.copy())
    distributed.DataParallel.gradient = gradient
    save(out, "buckets", comm, overlapped=params[0], one_piece=params[1], plans=np.array(sorted(plans)))


class MomentumFromLastEpoch(callbacks.Callback):
    """Turns momentum on (new state slots) before the last epoch, whose steps then lay the state
    out anew."""

    def __init__(self, opt, n, epochs):
        self.opt, self.n, self.epochs = opt, n, epochs

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epochs - 2:
            self.opt.set_param_groups([(0, self.n, {"momentum": 0.9})])


def lifecycle(comm, out):
    """Fits on a new duplicate of comm each time share one set of shared-memory arenas (the
    processes are the same), and a state whose layout changes in the last epoch ends whole on
    every rank."""
    x, y, w = data(50)
    sl = distributed.shard(50, comm)
    for _ in range(4):
        sub = comm.Dup()
        model("float64").fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer="adam", epochs=1,
                             batch_size=8, progress=False, comm=distributed.DataParallel(sub, **OPTIONS))
        sub.Free()
    m, opt = model("float64"), optim.SGD(lr=0.1)
    m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=opt, epochs=3, batch_size=8, sample_weight=w[sl],
          callbacks=[MomentumFromLastEpoch(opt, m.n_params, 3)], progress=False, comm=dp(comm))
    save(out, "lifecycle", comm, cached=len(distributed._SharedArenas._cache), params=m.params,
         state=opt.state_dict()["state"])


class FailOnRankOne(callbacks.Callback):
    """Raises (or, with ``exit``, calls sys.exit) on rank 1 at the end of the third epoch."""

    def __init__(self, rank, exit=False):
        self.rank, self.exit = rank, exit

    def on_epoch_end(self, epoch, logs):
        if self.rank == 1 and epoch == 2:
            if self.exit:
                sys.exit("rank 1 exited in epoch 3")
            raise RuntimeError("rank 1 failed in epoch 3")


def fail(comm, out, where):
    """Rank 1 fails (a NaN in its shard, an exception or sys.exit in the middle of training, an
    exception before fit, or it never makes the call): the job must end instead of leaving the other ranks waiting in a
    collective."""
    x, y, _ = data(40)
    sl = distributed.shard(40, comm)
    xs = x[sl].copy()
    if comm.rank == 1 and where == "before-fit":
        raise FileNotFoundError("rank 1 failed before fit")
    if comm.rank == 1 and where == "input":
        xs[0, 0] = np.nan
    if where.startswith("absent-"):  # rank 1 never makes the call rank 0 makes over comm
        m = model("float64")
        if comm.rank == 1:
            m.fit(xs, y[sl], loss="softmax_cross_entropy", optimizer="sgd", epochs=1, progress=False)
            return
        late = distributed.DataParallel(comm, timeout=2)
        if where == "absent-fit":
            m.fit(xs, y[sl], loss="softmax_cross_entropy", optimizer="sgd", epochs=1, progress=False, comm=late)
        elif where == "absent-partial_fit":
            m.partial_fit(xs, y[sl], loss="softmax_cross_entropy", optimizer="sgd", comm=late)
        else:
            m.evaluate(xs, y[sl], loss="softmax_cross_entropy", comm=late)
        return
    if where == "freed":  # a fit over a communicator freed since
        sub = comm.Dup()
        model("float64").fit(xs, y[sl], loss="softmax_cross_entropy", optimizer="sgd", epochs=1, progress=False,
                             comm=sub)
        sub.Free()
    model("float64").fit(xs, y[sl], loss="softmax_cross_entropy", optimizer="sgd", epochs=1000, batch_size=2,
                         callbacks=[FailOnRankOne(comm.rank, where == "exit")], progress=False, comm=dp(comm))


STALL_SECONDS = 120  # far past the timeout: the job ends by the other rank's TimeoutError, not by the sleep


class StallOnOneRank(callbacks.Callback):
    """Rank 1 stops (sleeps, as in a debugger or blocked I/O) in on_batch_end of step 3 of the
    first epoch or in on_epoch_end of the second epoch."""

    def __init__(self, rank, hook):
        self.rank, self.hook = rank, hook

    def on_batch_end(self, step, logs):
        if self.hook == "batch" and self.rank == 1 and step == 2:
            time.sleep(STALL_SECONDS)

    def on_epoch_end(self, epoch, logs):
        if self.hook == "epoch" and self.rank == 1 and epoch == 1:
            time.sleep(STALL_SECONDS)


def stall_model(path):
    """The worker's model, or with path "buckets" one whose gradient (1,123 float64) takes the
    overlapped reduction in two buckets (see stall_comm)."""
    if path != "buckets":
        return model("float64")
    return fg.Sequential([fg.Dense(N_FEATURES, 40, activation="tanh"), fg.Dense(40, 20, activation="tanh"),
                          fg.Dense(20, N_CLASSES, activation="identity")], dtype="float64", seed=3)


def stall_comm(comm, path, timeout):
    """comm under a timeout, down the reduction path ``path`` (shared, allreduce, buckets)."""
    return distributed.DataParallel(comm, timeout=timeout, shared_memory=path != "allreduce",
                                    bucket_cap_mb=0.002 if path == "buckets" else None)


def slow_metric(y_true, y_pred):
    """A metric fastgd does not know (rank 0 computes it on every row) that never returns."""
    time.sleep(STALL_SECONDS)
    return 0.0


def error_rate(y_true, y_pred):
    """A classification metric fastgd does not know: it needs every row."""
    return float(np.mean(np.argmax(y_pred, axis=1) != np.asarray(y_true)))


def stall(comm, out, where, path):
    """Rank 1 stops mid-fit (in a callback, or in its backward pass of step 3: where
    "compute"), or rank 0 in evaluate's metric: the other rank must raise TimeoutError after
    the 2 s timeout, naming what it waited for, and the job end."""
    x, y, _ = data(80)
    sl = distributed.shard(80, comm)
    m = stall_model(path)
    if where == "evaluate":
        m.evaluate(x[sl], y[sl], loss="softmax_cross_entropy", metrics=[slow_metric], comm=stall_comm(comm, path, 2))
        return
    if where == "compute" and comm.rank == 1:
        by_layer = fg.Sequential._gradient_by_layer
        calls = [0]

        def stalling(self, *args):
            calls[0] += 1
            if calls[0] == 3:
                time.sleep(STALL_SECONDS)
            return by_layer(self, *args)

        fg.Sequential._gradient_by_layer = stalling
    m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer="adam", epochs=1000, batch_size=4,
          callbacks=[StallOnOneRank(comm.rank, where)], progress=False, comm=stall_comm(comm, path, 2))


class SleepOnRankOne(callbacks.Callback):
    """Rank 1 sleeps 4 s, past a 1 s timeout, at the end of the first epoch."""

    def __init__(self, rank):
        self.rank = rank

    def on_epoch_end(self, epoch, logs):
        if self.rank == 1 and epoch == 0:
            time.sleep(4)


def retry(comm, out):
    """Every rank catches the TimeoutError of a fit (rank 0's, waiting for the sleeping rank 1;
    rank 1's, waiting for rank 0 gone) and calls fit again: each must refuse comm at once,
    naming the wait that timed out, where it matched a collective left in flight and waited
    for ever; and so must a new communicator of the same processes (comm.Dup()), where the
    shared-memory communicators kept for them matched the ones left in flight."""
    x, y, _ = data(80)
    sl = distributed.shard(80, comm)
    for hooks, c in (([SleepOnRankOne(comm.rank)], comm), ([], comm), ([], comm.Dup())):
        try:
            model("float64").fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer="adam", epochs=3, batch_size=4,
                                 callbacks=hooks, progress=False, comm=distributed.DataParallel(c, timeout=1.0))
        except (TimeoutError, RuntimeError) as exc:
            print(f"rank {comm.rank}: {type(exc).__name__}: {exc}", flush=True)


def timeouts(comm, out):
    """The same fits (validation, metrics, tol, each reduction path, and L-BFGS) under a short
    timeout and under none."""
    x, y, w = data(90)
    sl = distributed.shard(90, comm)
    arrays = {}
    for timeout in (5.0, math.inf):
        for path in ("shared", "allreduce", "buckets"):
            m = stall_model(path)
            h = m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer="adam", epochs=3, batch_size=7,
                      shuffle="epoch", seed=4, sample_weight=w[sl], validation_split=0.2,
                      metrics=["accuracy", error_rate], tol=1e-9, progress=False,
                      comm=stall_comm(comm, path, timeout))
            arrays[f"{path}-{timeout}"] = m.params
            arrays[f"{path}-{timeout}-loss"] = np.array(h.history["val_error_rate"] + h.history["loss"])
        for name, opt in (("lbfgs", fg.lbfgs.LBFGS()), ("newton", fg.NewtonCG())):
            m = model("float64")
            m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer=opt, epochs=3, batch_size=None,
                  progress=False, comm=stall_comm(comm, "shared", timeout))
            arrays[f"{name}-{timeout}"] = m.params
    save(out, "timeouts", comm, **arrays)


class ExitOnOneRank(callbacks.Callback):
    """sys.exit(0) or sys.exit() on one rank: in on_train_begin, after step 3 of the first epoch
    (a rank_zero_only hook, on rank 0), at the end of the third epoch, or in on_train_end (on
    rank 1)."""

    def __init__(self, rank, hook):
        self.rank, self.hook = rank, hook
        self.rank_zero_only = hook == "batch"

    def on_train_begin(self, logs):
        if self.hook == "begin" and self.rank == 1:
            sys.exit(0)

    def on_batch_end(self, step, logs):
        if self.hook == "batch" and step == 3:
            sys.exit()

    def on_epoch_end(self, epoch, logs):
        if self.hook == "epoch" and self.rank == 1 and epoch == 2:
            sys.exit(0)

    def on_train_end(self, logs):
        if self.hook == "end" and self.rank == 1:
            sys.exit(0)


def leave(comm, out, hook):
    """One rank leaves the fit with a success status from a callback: every rank must stop there,
    the others returning from fit, where they waited for it for ever in the next collective."""
    x, y, _ = data(40)
    sl = distributed.shard(40, comm)
    m = model("float64")
    # in the first of three runs of fit_restarts: the others are not started
    restarts = hook in ("restarts", "restarts-end")
    callback = ExitOnOneRank(comm.rank, {"restarts": "epoch", "restarts-end": "end"}.get(hook, hook))
    try:
        h = m.fit(x[sl], y[sl], loss="softmax_cross_entropy", optimizer="sgd",
                  epochs=3 if callback.hook == "end" else 1000, batch_size=2, callbacks=[callback], progress=False,
                  comm=dp(comm), n_restarts=3 if restarts else 1)
        if restarts:
            assert len(h.params["restart_scores"]) == 1, h.params["restart_scores"]
    except SystemExit as exc:
        save(out, "leave", comm, exited=np.array(True), code=np.array(-1 if exc.code is None else exc.code),
             epochs=np.array(len(m.history.epochs)), params=m.params)
        raise
    save(out, "leave", comm, exited=np.array(False), epochs=np.array(len(h.epochs)), params=m.params,
         reason=np.array(str(h.stopped_reason)))


class StopOnRankZero(callbacks.Callback):
    """A per-batch hook on rank 0 only (rank_zero_only, as a callback that writes files), which
    stops the fit after the step 3 of the first epoch."""

    rank_zero_only = True

    def on_batch_end(self, step, logs):
        if step == 3:
            self.model.stop_training = True


def mismatch(comm, out, what):
    """Rank 1 passes an argument of its own to fit or evaluate (or a communicator that cannot
    work on every rank): every rank must raise the same error naming it, where the ranks would
    otherwise wait for ever in a collective the others never enter, or compute other gradients."""
    x, y, _ = data(40)
    sl = distributed.shard(40, comm)
    one = comm.rank == 1
    m = model("float64")
    kw = dict(loss="softmax_cross_entropy", optimizer="adam", epochs=3, batch_size=4, progress=False, seed=1)
    if what == "epochs":
        kw["epochs"] += one
    elif what == "activation":
        m = fg.Sequential([fg.Dense(N_FEATURES, 7, activation="relu" if one else "tanh"),
                           fg.Dense(7, N_CLASSES, activation="identity")], seed=3)
    elif what == "metrics":
        print(m.evaluate(x[sl], y[sl], loss=kw["loss"], metrics=["accuracy"] if one else [], comm=comm))
        return
    elif what == "parameters":  # evaluate broadcasts nothing: the loss of two models, averaged
        if one:
            m.reset_parameters(99)
        print(m.evaluate(x[sl], y[sl], loss=kw["loss"], comm=comm))
        return
    elif what == "intercommunicator":
        local = comm.Split(comm.rank % 2, key=comm.rank)
        comm = local.Create_intercomm(0, comm, 1 - comm.rank % 2, tag=7)
    elif what == "node":  # a node reaching into another job (here each rank is one): jobs of several
        # ranks each went on, the parameters of both jobs updated in one shared window
        comm = distributed.DataParallel(MPI.COMM_SELF, node=comm)
    elif what == "n_restarts":
        kw["n_restarts"] = 1 + one
    elif what == "early_stopping":  # rank 0 alone would restore its best weights
        kw["early_stopping"] = callbacks.EarlyStopping(patience=1) if one else None
    elif what == "early_stopping-run":  # rank 1 alone continues a run (from another checkpoint, say)
        kw["early_stopping"] = callbacks.EarlyStopping(patience=1)
        kw["initial_epoch"] = 3
        if one:
            kw["early_stopping"].load_state_dict({"monitor": "val_loss", "mode": "min", "next_epoch": 3, "best": 0.5,
                                                  "best_epoch": 2, "wait": 0, "stopped_epoch": None,
                                                  "best_params": m.params.copy()})
    elif what == "callback-run":  # rank 1 alone continues an early stopping's run in callbacks=
        kw["initial_epoch"] = 3
        es = callbacks.EarlyStopping(monitor="loss", patience=1)
        if one:
            es.load_state_dict({"monitor": "loss", "mode": "min", "next_epoch": 3, "best": 0.5, "best_epoch": 2,
                                "wait": 0, "stopped_epoch": None, "best_params": m.params.copy()})
        kw["callbacks"] = [callbacks.CSVLogger(os.path.join(out, "log.csv")), es]  # the logger runs on rank 0 only
    elif what == "schedule":  # the lr would be cut by another factor on rank 1
        kw["optimizer"] = optim.Adam(lr=0.05)
        kw["schedule"] = schedules.ReduceLROnPlateau(kw["optimizer"], factor=0.5 if one else 0.1, patience=0)
    elif what == "lbfgs":  # rank 1's steps would be half as long: the replicas would part
        kw.update(optimizer=fg.lbfgs.LBFGS(lr=0.5 if one else 1.0), batch_size=None)
    elif what == "targets":  # a class-weighted loss: rank 0's labels and rank 1's one-hot rows are
        # normalized differently (by the class weights, by the row count)
        kw["loss"] = fg.SoftmaxCrossEntropy(class_weight=[1.0, 3.0, 0.5])
        y = np.eye(N_CLASSES)[y] if one else y
    elif what == "class_weight":  # rank 1's samples of class 0 would weigh 3 times what rank 0's do
        kw["class_weight"] = {0: 3.0} if one else {np.int64(2): 1.0}
    elif what == "partial_fit":  # one pass each, but rank 1 keeps its own optimizer state going
        if one:
            m.partial_fit(x[sl], y[sl], loss=kw["loss"], optimizer=kw["optimizer"], batch_size=4, seed=1, comm=comm)
            return
        kw.update(epochs=1, shuffle=False, seed=1)
    elif what == "rank-zero-batch-hook":  # not a mismatch: the fit stops on every rank
        kw["callbacks"] = [StopOnRankZero()]
    elif what == "per-rank-batch-size":  # not a mismatch: 80 rows in batches of 8 and 40 in batches of 4
        x, y, _ = data(120)
        sl = slice(0, 80) if comm.rank == 0 else slice(80, 120)
        kw.update(batch_size=4 if one else 8, shuffle=None if one else False)
    h = m.fit(x[sl], y[sl], comm=comm, **kw)
    save(out, "mismatch", comm, steps=np.array(len(h.epochs)), params=m.params)


def main():
    comm = MPI.COMM_WORLD
    scenario, out = sys.argv[1], sys.argv[2]
    if scenario == "all":
        global BUCKET_CAP_MB
        BUCKET_CAP_MB = float(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] != "-" else None
        path = sys.argv[4] if len(sys.argv) > 4 else None
        if path == "allreduce":
            OPTIONS["shared_memory"] = False
        elif path == "hosts":
            OPTIONS["node"] = comm.Split(comm.rank % 2, key=comm.rank)
        count_shared_steps()
        for dtype in ("float64", "float32"):
            for opt_name in ("sgd", "adam"):
                steps(comm, out, dtype, opt_name, False, 3)
        steps(comm, out, "float64", "adam", "epoch", 3)
        full_batch_and_partial(comm, out)
        history(comm, out)
        early(comm, out)
        memmap(comm, out)
        resume_state(comm, out)
        regression_metrics(comm, out)
        buckets(comm, out)
        lifecycle(comm, out)
    elif scenario == "checkpoint":
        checkpoint(comm, out, sys.argv[3])
    elif scenario == "fail":
        fail(comm, out, sys.argv[3])
    elif scenario == "leave":
        leave(comm, out, sys.argv[3])
    elif scenario == "sparse":
        sparse(comm, out)
    elif scenario == "labelsets":
        labelsets(comm, out)
    elif scenario == "weightless":
        weightless(comm, out, sys.argv[3])
    elif scenario == "mismatch":
        mismatch(comm, out, sys.argv[3])
    elif scenario == "seeds":
        seeds(comm, out)
    elif scenario == "retry":
        retry(comm, out)
    elif scenario == "stall":
        stall(comm, out, sys.argv[3], sys.argv[4])
    elif scenario == "timeouts":
        timeouts(comm, out)


if __name__ == "__main__":
    main()
