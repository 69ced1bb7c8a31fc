"""Data-parallel training over MPI: each scenario runs under ``mpiexec`` (tests/mpi_worker.py)
and is checked here against the same computation done in one process."""

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastgd as fg
from fastgd import optim

sys.path.insert(0, os.path.dirname(__file__))
import mpi_worker as worker  # noqa: E402

# the mpiexec of the mpich wheel sits beside the interpreter of an environment that is not activated
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
MISSING = [what for what, ok in (("mpi4py", importlib.util.find_spec("mpi4py") is not None),
                                 ("mpiexec", MPIEXEC is not None)) if not ok]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {' and '.join(MISSING)}: pip install \".[mpi]\" from the checkout")

WORKER = os.path.join(os.path.dirname(__file__), "mpi_worker.py")
LOSS = "softmax_cross_entropy"


def mpirun(ranks, *args, timeout=300, check=True, runner=()):
    """``mpiexec -n ranks python [runner] mpi_worker.py args``; runner ("-m", "mpi4py") runs the
    worker as the README tells users to run their scripts."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, *runner, WORKER, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mpiexec -n {ranks} {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def shards(n, ranks):
    """The documented rule of fastgd.distributed.shard."""
    base, extra = divmod(n, ranks)
    starts = [r * base + min(r, extra) for r in range(ranks)]
    return [slice(s, s + base + (r < extra)) for r, s in enumerate(starts)]


def load(out, name, ranks):
    return [dict(np.load(os.path.join(out, f"{name}-{r}.npz"))) for r in range(ranks)]


# (ranks, bucket_cap_mb, path): which reduction the steps take
RUNS = {"2ranks": (2, None, None), "3ranks": (3, None, None), "2ranks-buckets": (2, 0, None),
        "3ranks-buckets": (3, 0, None), "2ranks-allreduce": (2, None, "allreduce"),
        "2hosts-of-1": (2, None, "hosts"), "2hosts-of-2": (4, None, "hosts"), "2hosts-of-2-and-1": (3, None, "hosts")}
SHARED = {"2ranks", "3ranks", "2hosts-of-1", "2hosts-of-2"}


@pytest.fixture(scope="module", params=list(RUNS))
def run_all(request, tmp_path_factory):
    """Every scenario of the worker, down each reduction path, whose results must all equal the
    one-process computation: the default shared-memory step (one host; "hosts": the ranks of
    even and odd rank stand for two hosts, whose shared-memory steps then also reduce between
    the hosts), the single Allreduce ("-allreduce", and hosts of unequal size), and the
    overlapped reduction with one bucket per layer ("-buckets", bucket_cap_mb=0)."""
    ranks, cap, path = RUNS[request.param]
    out = tmp_path_factory.mktemp(f"mpi{ranks}")
    mpirun(ranks, "all", out, "-" if cap is None else cap, *([] if path is None else [path]))
    return ranks, str(out), request.param


def replay(ranks, dtype, opt_name, shuffle, epochs, batch_size=8, n=103, seed=11, clip_norm=0.5, clip_value=None,
           parts=None):
    """One process stepping over the same global batches: step j of an epoch takes rows
    [j*b, (j+1)*b) of every rank's epoch order of its shard (none once a rank's rows are used up)."""
    x, y, w = worker.data(n)
    m = worker.model(dtype)
    opt = worker.make_optimizer(opt_name)
    parts = shards(n, ranks) if parts is None else parts
    losses = []
    for epoch in range(epochs):
        orders = []
        for r, sl in enumerate(parts):
            size = sl.stop - sl.start
            if shuffle == "epoch":
                key = [seed, 1, epoch] + ([r] if r else [])
                orders.append(sl.start + np.random.default_rng(key).permutation(size))
            else:
                orders.append(np.arange(sl.start, sl.stop))
        loss_sum = weight_sum = 0.0
        for j in range(max(-(-len(o) // batch_size) for o in orders)):
            rows = np.concatenate([o[j * batch_size:(j + 1) * batch_size] for o in orders])
            value, g = m.loss_and_grad(x[rows], y[rows], LOSS, sample_weight=w[rows])
            if clip_value is not None:
                optim.clip_grad_value(g, clip_value)
            if clip_norm is not None:
                optim.clip_grad_norm(g, clip_norm)
            opt.step(m.params, g)
            loss_sum += value * w[rows].astype(dtype).sum(dtype=np.float64)
            weight_sum += w[rows].astype(dtype).sum(dtype=np.float64)
        losses.append(loss_sum / weight_sum)
    return m.params, np.array(losses)


@pytest.mark.parametrize("dtype,opt_name,shuffle", [
    ("float64", "sgd", False), ("float64", "adam", False), ("float64", "adam", "epoch"),
    ("float32", "sgd", False), ("float32", "adam", False)])
def test_steps_equal_one_process_over_the_global_batches(run_all, dtype, opt_name, shuffle):
    ranks, out, run = run_all
    results = load(out, f"steps-{dtype}-{opt_name}-{shuffle}", ranks)
    parts = worker.skewed(103, ranks)
    assert len({-(-(p.stop - p.start) // 8) for p in parts}) == ranks  # each rank its own batch count
    params, losses = replay(ranks, dtype, opt_name, shuffle, 3, parts=parts,
                            clip_value=worker.CLIP_VALUE if shuffle else None)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for r, res in enumerate(results):
        assert (res["shared_steps"] > 0) == (run in SHARED), f"rank {r}: {res['shared_steps']} shared-memory steps"
        # replicas are identical, not merely close, and so are their optimizer states
        np.testing.assert_array_equal(res["params"], results[0]["params"], err_msg=f"rank {r} drifted from rank 0")
        np.testing.assert_array_equal(res["state"], results[0]["state"], err_msg=f"rank {r}'s optimizer state")
        np.testing.assert_array_equal(res["grads"], results[0]["grads"], err_msg=f"rank {r}'s last gradient")
        np.testing.assert_allclose(res["params"], params, rtol=tol, atol=tol, err_msg=f"rank {r}")
        np.testing.assert_allclose(res["loss"], losses, rtol=tol * 10, err_msg=f"rank {r} history loss")


def test_lbfgs_partial_fit_and_divergence_over_ranks(run_all):
    ranks, out, _run = run_all
    results = load(out, "fullbatch", ranks)
    x, y, w = worker.data(103)
    m = worker.model("float64")
    m.fit(x, y, loss=LOSS, optimizer=fg.lbfgs.LBFGS(), epochs=3, batch_size=None, sample_weight=w, progress=False)
    # Newton-CG's products of the Hessian are those of the loss over every rank's rows, exact
    # (they were forward differences of reduced gradients, 2e-8 off after three steps)
    newton = worker.model("float64")
    newton.fit(x, y, loss=LOSS, optimizer=fg.NewtonCG(), epochs=3, batch_size=None, sample_weight=w,
               progress=False)
    params, losses = replay(ranks, "float64", "sgd", False, 2, clip_norm=None)
    for r, res in enumerate(results):
        np.testing.assert_array_equal(res["lbfgs"], results[0]["lbfgs"])
        np.testing.assert_allclose(res["lbfgs"], m.params, rtol=1e-9, atol=1e-9, err_msg=f"L-BFGS, rank {r}")
        np.testing.assert_array_equal(res["newton"], results[0]["newton"])
        np.testing.assert_allclose(res["newton"], newton.params, rtol=1e-11, atol=1e-11, err_msg=f"Newton-CG, rank {r}")
        np.testing.assert_allclose(res["partial"], params, rtol=1e-12, atol=1e-12, err_msg=f"partial_fit, rank {r}")
        np.testing.assert_allclose(res["partial_losses"], losses, rtol=1e-12)
        # every rank raised DivergenceError at the same step and kept the same parameters
        assert str(res["diverged"]).startswith("epoch 0 step "), str(res["diverged"])
        assert str(res["diverged"]) == str(results[0]["diverged"])
        np.testing.assert_array_equal(res["diverged_params"], results[0]["diverged_params"])
        assert np.all(np.isfinite(res["diverged_params"]))


def test_history_identical_and_validation_reduced_over_ranks(run_all):
    ranks, out, _run = run_all
    results = load(out, "history", ranks)
    histories = [json.loads(str(res["history"])) for res in results]
    for r in range(1, ranks):
        assert histories[r] == histories[0], f"rank {r}'s History differs from rank 0's"
    h = histories[0]["history"]
    assert histories[0]["epochs"] == [0, 1, 2, 3]
    assert histories[0]["params"]["n_samples"] == 90
    # the plateau schedule saw the same reduced val_loss on every rank
    assert h["lr"][0] == 0.5 and min(h["lr"]) < 0.5
    # the last epoch's validation loss and accuracy are those of all validation rows
    m = worker.model("float64")
    m.params[...] = results[0]["params"]
    xv, yv, _ = worker.data(40, seed=8)
    full = m.evaluate(xv, yv, LOSS, metrics=["accuracy"])
    assert math.isclose(h["val_loss"][-1], full["loss"], rel_tol=1e-12)
    assert h["val_accuracy"][-1] == full["accuracy"]
    # tol's gradient norm is that of the mean loss over all training rows
    x, y, _ = worker.data(90)
    _value, g = m.loss_and_grad(x, y, LOSS)
    assert math.isclose(h["grad_norm"][-1], float(np.linalg.norm(g)), rel_tol=1e-10)
    for res in results:
        ev = json.loads(str(res["evaluate"]))
        assert math.isclose(ev["loss"], full["loss"], rel_tol=1e-12) and ev["accuracy"] == full["accuracy"]
    # CSVLogger wrote once (rank 0 only): a header and one row per epoch
    with open(os.path.join(out, "log.csv")) as f:
        assert len(f.read().splitlines()) == 1 + 4


def test_early_stopping_and_callback_stops_agree_over_ranks(run_all):
    ranks, out, _run = run_all
    results = load(out, "early", ranks)
    for r, res in enumerate(results):
        np.testing.assert_array_equal(res["epochs"], results[0]["epochs"], err_msg=f"rank {r}")
        assert str(res["stopped"]) == str(results[0]["stopped"])
        np.testing.assert_array_equal(res["params"], results[0]["params"])
        # rank 1's callback asked to stop in the first epoch: every rank stopped there
        np.testing.assert_array_equal(res["epochs2"], [0], err_msg=f"rank {r}")
        np.testing.assert_array_equal(res["params2"], results[0]["params2"])
    assert str(results[0]["stopped"]) != "None" and len(results[0]["epochs"]) < 30


def test_overlapped_reduction_in_multi_layer_buckets_equals_one_reduction(run_all):
    ranks, out, _run = run_all
    results = load(out, "buckets", ranks)
    for r, res in enumerate(results):
        # the buckets {3, 2}, {1}, {0} were used (keyed by their first layer)
        np.testing.assert_array_equal(res["plans"], [[0, 1, 2]], err_msg=f"rank {r}")
        np.testing.assert_array_equal(res["overlapped"], results[0]["overlapped"], err_msg=f"rank {r} drifted")
        np.testing.assert_allclose(res["overlapped"], res["one_piece"], rtol=1e-12, atol=1e-12, err_msg=f"rank {r}")


def test_memmap_shards_equal_in_memory_shards(run_all):
    ranks, out, _run = run_all
    for r, res in enumerate(load(out, "memmap", ranks)):
        np.testing.assert_array_equal(res["lazy"], res["memory"], err_msg=f"rank {r}")
        # each rank read only its shard's rows of the shared file, and read them
        start, stop = res["shard_bytes"]
        reads = res["reads"]
        assert len(reads), f"rank {r} read nothing from the file"
        assert np.all(reads[:, 0] >= start) and np.all(reads[:, 0] + reads[:, 1] <= stop), f"rank {r}"


def test_every_rank_continues_from_rank_zeros_optimizer_and_schedule_state(run_all):
    ranks, out, _run = run_all
    results = load(out, "resume", ranks)
    for r, res in enumerate(results):
        for key in ("params", "moments", "lr", "last_step", "step"):
            np.testing.assert_array_equal(res[key], results[0][key], err_msg=f"rank {r}, {key}")
    # rank 0 had stepped once before fit (rank r, r + 1 times); the epoch's steps come on top
    steps_in_epoch = max(-(-(sl.stop - sl.start) // 8) for sl in shards(61, ranks))
    assert int(results[0]["step"]) == 1 + steps_in_epoch
    assert int(results[0]["last_step"]) == 1 + 1  # StepDecay counts epochs: 1 before, 1 in fit


def test_arenas_shared_once_per_group_and_a_new_state_layout_ends_whole(run_all):
    ranks, out, run = run_all
    results = load(out, "lifecycle", ranks)
    for r, res in enumerate(results):
        # the fits on duplicates of the communicator reused one entry (with COMM_WORLD's: at most 2)
        assert int(res["cached"]) <= 2, f"rank {r}"
        for key in ("params", "state"):
            np.testing.assert_array_equal(res[key], results[0][key], err_msg=f"rank {r}, {key}")
    # the momentum buffer the last epoch made, current in every rank's slice (not only its own)
    state = results[0]["state"]
    assert state.size and np.count_nonzero(state) == state.size, run


def test_regression_metrics_over_ranks_equal_those_of_all_rows(run_all):
    ranks, out, _run = run_all
    results = load(out, "regression", ranks)
    x, _, _ = worker.data(83)
    y = np.stack([x[:, 0] - 2 * x[:, 1], np.sin(x[:, 2])], axis=1)
    m = fg.Sequential([fg.Dense(worker.N_FEATURES, 6, activation="tanh"), fg.Dense(6, 2, activation="identity")],
                      dtype="float64", seed=5)
    m.params[...] = results[0]["params"]
    full = m.evaluate(x, y, "mse", metrics=["r2", "mse", "mae", worker.max_error])
    for r, res in enumerate(results):
        ev = json.loads(str(res["evaluate"]))
        assert ev == json.loads(str(results[0]["evaluate"])), f"rank {r}"
        for name in ("loss", "r2", "mse", "mae"):
            assert math.isclose(ev[name], full[name], rel_tol=1e-12), (name, ev[name], full[name])
        assert ev["max_error"] == full["max_error"]
        assert ev["max_error_1d"] == full["max_error"]  # a float() of the 1-element array failed
        own = json.loads(str(res["own"]))
        assert own == {name: ev[name] for name in ("loss", "r2", "mse", "mae")}, f"rank {r}"


def test_checkpoint_from_two_ranks_resumes_on_one_and_three(tmp_path):
    mpirun(2, "checkpoint", tmp_path, "save")
    straight = load(str(tmp_path), "ckpt-straight", 2)
    np.testing.assert_array_equal(straight[0]["params"], straight[1]["params"])
    assert straight[0]["es"].tolist() == straight[1]["es"].tolist() and straight[0]["es"][0] == 6
    for ranks in (1, 3):
        mpirun(ranks, "checkpoint", tmp_path, "resume")
        resumed = load(str(tmp_path), f"ckpt-resumed-{ranks}", ranks)
        for r, res in enumerate(resumed):
            np.testing.assert_allclose(res["params"], straight[0]["params"], rtol=1e-12, atol=1e-12,
                                       err_msg=f"resumed on {ranks} ranks, rank {r}")
            # the early stopping in callbacks= went on from the checkpoint's state on every rank
            assert res["es"].tolist() == straight[0]["es"].tolist(), (ranks, r)
            assert math.isclose(res["es_best"], straight[0]["es_best"], rel_tol=1e-12), (ranks, r)


@pytest.mark.parametrize("where,message", [("input", "x contains NaN or infinity"),
                                           ("callback", "rank 1 failed in epoch 3"),
                                           ("exit", "rank 1 exited in epoch 3"),
                                           # the hook aborted through the freed communicator: an
                                           # MPI error inside the hook, and no abort
                                           ("freed", "rank 1 failed in epoch 3"),
                                           ("before-fit", "rank 1 failed before fit")])
def test_a_failing_rank_ends_the_job_with_its_error(tmp_path, where, message):
    # rank 0 alone would train for 1000 epochs (or wait in fit's first broadcast for rank 1):
    # the timeout guards against a hang. An exception before fit is the script's own, which
    # `python -m mpi4py` (as the README runs scripts) turns into an abort of the job.
    runner = ("-m", "mpi4py") if where == "before-fit" else ()
    proc = mpirun(2, "fail", tmp_path, where, timeout=120, check=False, runner=runner)
    assert proc.returncode != 0, f"the job succeeded although rank 1 failed:\n{proc.stderr}"
    # the failing rank's error reached the user (MPICH's own "MPI_Abort" notice may be lost when
    # the job is torn down before mpiexec forwards it, so it is not asked for)
    assert message in proc.stderr, proc.stderr


@pytest.mark.parametrize("hook,leaver,epochs", [("begin", 1, 0), ("batch", 0, 1), ("epoch", 1, 3),
                                                ("restarts", 1, 3), ("end", 1, 3), ("restarts-end", 1, 3)])
def test_a_rank_leaving_with_success_from_a_callback_stops_every_rank_there(tmp_path, hook, leaver, epochs):
    # sys.exit(0) in a callback on one rank (a rank_zero_only one runs on rank 0 alone) left the
    # other ranks waiting in the next collective for ever (with restarts, in the next run's; from
    # on_train_end, the others did not learn it, and fit_restarts started its next run)
    proc = mpirun(2, "leave", tmp_path, hook, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    ranks = load(tmp_path, "leave", 2)
    assert ranks[leaver]["exited"] and ranks[leaver]["code"] == (-1 if hook == "batch" else 0)
    stayer = ranks[1 - leaver]
    assert not stayer["exited"] and str(stayer["reason"]) == "a rank left the fit (sys.exit in a callback)"
    for r in ranks:
        assert r["epochs"] == epochs
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])


@pytest.mark.parametrize("what,message", [
    ("epochs", "fit(comm=...): every rank must make the same call with the same arguments (only the data "
               "differs), but epochs differs: rank 0: 3; rank 1: 4"),
    ("activation", "but model layers differs: rank 0: [(5, 7, 'tanh', 0.01), (7, 3, 'identity', 0.01)]; "
                   "rank 1: [(5, 7, 'relu', 0.01), (7, 3, 'identity', 0.01)]"),
    ("metrics", "evaluate(comm=...): every rank must make the same call with the same arguments (only the data "
                "differs), but metrics differs: rank 0: []; rank 1: ['accuracy']"),
    ("n_restarts", "but n_restarts differs: rank 0: 1; rank 1: 2"),
    ("partial_fit", "but call differs: rank 0: 'fit'; rank 1: 'partial_fit'"),
    ("parameters", "evaluate(comm=...): every rank must make the same call with the same arguments (only the "
                   "data differs), but model parameters (digest) differs: rank 0: "),
    ("early_stopping", "but early_stopping differs: rank 0: None; rank 1: ('EarlyStopping', {'monitor': 'val_loss', "
                       "'patience': 1, 'min_delta': 0.0, 'mode': 'min', 'restore_best': True})"),
    ("early_stopping-run", "but early_stopping's run differs: rank 0: None; rank 1: {'monitor': 'val_loss', "
                           "'mode': 'min', 'next_epoch': 3, 'best': 0.5, 'best_epoch': 2, 'wait': 0, "
                           "'stopped_epoch': None, 'best_params (digest)': '"),
    ("callback-run", "but callbacks' runs differs: rank 0: {\"EarlyStopping{'monitor': 'loss', 'mode': 'min'} #0\": "
                     "None}; rank 1: {\"EarlyStopping{'monitor': 'loss', 'mode': 'min'} #0\": {'monitor': 'loss', "
                     "'mode': 'min', 'next_epoch': 3, 'best': 0.5, 'best_epoch': 2, 'wait': 0, 'stopped_epoch': None, "
                     "'best_params (digest)': '"),
    ("schedule", "but schedule differs: rank 0: ('ReduceLROnPlateau', {'name': 'reduce_lr_on_plateau', "
                 "'interval': 'epoch', 'mode': 'min', 'factor': 0.1, "),
    ("lbfgs", "but optimizer differs: rank 0: ('LBFGS', {'name': 'lbfgs', 'lr': 1.0, "),
    ("targets", "but normalization differs: rank 0: 'labels targets'; rank 1: 'rows targets'"),
    ("class_weight", "but class_weight differs: rank 0: None; rank 1: [3.0, 1.0, 1.0]"),
    ("intercommunicator", "comm must be an intracommunicator, got an intercommunicator"),
    ("node", "node must be a communicator of ranks of comm (those that share memory), got one with 1 process "
             "outside comm (COMM_WORLD rank ")])
def test_ranks_that_disagree_fail_by_name_instead_of_waiting(tmp_path, what, message):
    # rank 0 would wait for ever for rank 1's fourth epoch, its metric's reduction or its second
    # restart; different activations trained without error, each rank with its own gradients
    proc = mpirun(2, "mismatch", tmp_path, what, timeout=60, check=False)
    assert proc.returncode != 0, f"the job succeeded:\n{proc.stdout}\n{proc.stderr}"
    # the error reaches the user by name. Every rank raises it (the agreement's allgather gives
    # each the same values), but how many copies show is up to the job's teardown: the first
    # rank's abort may end the other before it prints, and two ranks' tracebacks interleave
    # line by line in the shared stderr
    assert message in proc.stderr and "ValueError" in proc.stderr, proc.stderr


def test_a_batch_hook_on_rank_zero_only_stops_every_rank(tmp_path):
    # rank 0 reduced stop_training after every step, for its rank_zero_only hook, while rank 1,
    # without it, went on to its next step's reduction
    mpirun(2, "mismatch", tmp_path, "rank-zero-batch-hook", timeout=60)
    ranks = load(str(tmp_path), "mismatch", 2)
    assert [int(r["steps"]) for r in ranks] == [1, 1]
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])


def test_ranks_with_their_own_batch_size_train_the_global_batches(tmp_path):
    # batch_size is per rank: 80 rows in batches of 8 and 40 in batches of 4 make 10 steps of 12
    # rows (and shuffle None on one rank is False on the other); the fit refused them
    mpirun(2, "mismatch", tmp_path, "per-rank-batch-size", timeout=60)
    ranks = load(str(tmp_path), "mismatch", 2)
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])
    x, y, _ = worker.data(120)
    order = np.concatenate([np.r_[8 * j:8 * j + 8, 80 + 4 * j:80 + 4 * j + 4] for j in range(10)])
    m = worker.model("float64")
    m.fit(x[order], y[order], loss=LOSS, optimizer="adam", epochs=3, batch_size=12, shuffle=False, seed=1,
          progress=False)
    np.testing.assert_allclose(ranks[0]["params"], m.params, rtol=1e-12, atol=1e-12)


def test_sparse_steps_equal_one_process_over_the_global_batches(tmp_path):
    # the sparse step reduces the fused step's gradient scaled by each rank's share of the
    # step's weight (summed while the ranks compute); the ranks run out of batches at different steps
    mpirun(3, "sparse", tmp_path, timeout=120)
    params, losses = replay(3, "float64", "adam", False, 3, parts=worker.skewed(103, 3))
    for r, res in enumerate(load(str(tmp_path), "sparse", 3)):
        np.testing.assert_allclose(res["params"], params, rtol=1e-12, atol=1e-12, err_msg=f"rank {r}")
        np.testing.assert_allclose(res["loss"], losses, rtol=1e-11, err_msg=f"rank {r}")


@pytest.mark.parametrize("ranks", [2, 3])
def test_a_rank_whose_rows_all_weigh_nothing_trains_with_the_others(tmp_path, ranks):
    # the rank refused its all-zero sample weights by itself ("must not be all zero") and the
    # job aborted, although the weights of all rows, which the loss divides by, sum to more
    mpirun(ranks, "weightless", tmp_path, "rank1", timeout=120)
    x, y, w = worker.data(60)
    xv, yv, wv = worker.data(20, seed=8)
    w[shards(60, ranks)[1]] = 0
    wv[shards(20, ranks)[1]] = 0
    kw = dict(loss=LOSS, batch_size=None, shuffle=False, progress=False, sample_weight=w, validation_data=(xv, yv, wv))
    m, lbfgs = worker.model("float64"), worker.model("float64")
    h = m.fit(x, y, optimizer=optim.SGD(lr=0.5), epochs=3, **kw)
    lbfgs.fit(x, y, optimizer=fg.lbfgs.LBFGS(), epochs=2, **kw)
    loss = m.evaluate(xv, yv, sample_weight=wv)["loss"]
    for r, res in enumerate(load(str(tmp_path), "weightless", ranks)):
        np.testing.assert_allclose(res["params"], m.params, rtol=1e-12, atol=1e-12, err_msg=f"rank {r}")
        np.testing.assert_allclose(res["lbfgs"], lbfgs.params, rtol=1e-9, atol=1e-9, err_msg=f"L-BFGS, rank {r}")
        np.testing.assert_allclose(res["val_loss"], h.history["val_loss"], rtol=1e-12)
        assert math.isclose(float(res["evaluate"]), loss, rel_tol=1e-12)
    # when every rank's do, every rank says so, as one process does
    proc = mpirun(2, "weightless", tmp_path, "all", timeout=60, check=False)
    assert proc.returncode != 0 and "ValueError: the samples' weights" in proc.stderr, proc.stderr
    assert "sum to 0: their mean loss is undefined" in proc.stderr, proc.stderr


def test_accuracy_scores_every_ranks_rows_by_the_rule_of_the_whole_fit(tmp_path):
    # only rank 0's training rows carry several labels, and the validation rows none: the
    # validation rows were scored by argmax, so val_accuracy was not the accuracy of the
    # model's predictions (binary cross-entropy: its label sets; MSE: as the training target's)
    sk = pytest.importorskip("sklearn.metrics")
    mpirun(3, "labelsets", tmp_path, timeout=120)
    x, y, _ = worker.label_sets(60, 7, 10)
    xv, yv, _ = worker.label_sets(30, 8, 0)
    for r, res in enumerate(load(str(tmp_path), "labelsets", 3)):
        for loss in worker.LABEL_SET_LOSSES:
            m = worker.model("float64")
            m.params[...] = res[f"{loss}-params"]
            history = json.loads(str(res[f"{loss}-history"]))
            predicted, predicted_val = ((m.predict_proba(a, loss) > 0.5).astype(int) for a in (x, xv))
            assert history["accuracy"] == [sk.accuracy_score(y, predicted)], (r, loss)
            assert history["val_accuracy"] == [sk.accuracy_score(yv, predicted_val)], (r, loss)
            assert history["val_zero_one_loss"] == pytest.approx([sk.zero_one_loss(yv, predicted_val)], abs=1e-15)
            evaluated = json.loads(str(res[f"{loss}-evaluate"]))
            if loss == "binary_cross_entropy":  # evaluate follows the loss; MSE leaves it to yv's one-hot rows
                assert evaluated["accuracy"] == history["val_accuracy"][0], r
            else:
                assert evaluated["accuracy"] == sk.accuracy_score(yv.argmax(axis=1), m.predict(xv).argmax(axis=1)), r


def test_the_readme_training_script_runs_under_mpiexec(tmp_path):
    """The complete script of the README's "Scaling out" section, run as the README runs it
    (``python -m mpi4py``), on fewer rows and epochs."""
    readme = open(os.path.join(os.path.dirname(__file__), os.pardir, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("### Data-parallel training over MPI"):]
    script = section[section.index("```python\n") + len("```python\n"):]
    script = script[:script.index("```")]
    assert "comm=comm" in script and "epochs=20" in script and "40_000" in script
    (tmp_path / "train.py").write_text(script.replace("epochs=20", "epochs=2").replace("40_000", "4_000"))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "train.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("2 epochs, val_accuracy "), proc.stdout
    model = fg.load(str(tmp_path / "spirals.npz"))
    assert model.n_inputs == 8 and model.n_outputs == 3
    assert fg.load_checkpoint(str(tmp_path / "spirals.ckpt.npz")).epoch == 2


class _FakeComm:
    """Just what shard() reads of a communicator."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    Allreduce = Bcast = bcast = Abort = None


@pytest.mark.parametrize("n,size", [(0, 3), (2, 3), (10, 1), (103, 3), (104, 4), (7, 7)])
def test_shard_tiles_the_samples_in_near_equal_blocks(n, size):
    from fastgd.distributed import shard

    parts = [shard(n, _FakeComm(r, size)) for r in range(size)]
    assert parts == shards(n, size)
    assert parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= 1


def test_shard_and_fit_reject_what_is_not_a_communicator():
    from mpi4py import MPI

    from fastgd.distributed import DataParallel, shard

    assert shard(5, MPI.COMM_SELF) == slice(0, 5)
    # what fit takes as comm, shard takes too (it refused a DataParallel as no communicator)
    assert shard(5, DataParallel(MPI.COMM_SELF, bucket_cap_mb=0)) == slice(0, 5)
    with pytest.raises(ValueError, match="n must be an integer >= 0, got -1"):
        shard(-1, MPI.COMM_SELF)
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator.*got int"):
        shard(5, 3)
    # a class has the methods, unbound (its Is_inter() raised 'needs an argument')
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator.*got the class Intracomm"):
        shard(5, MPI.Intracomm)
    x, y, _ = worker.data(20)
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator.*got str"):
        worker.model("float64").fit(x, y, loss=LOSS, optimizer="sgd", progress=False, comm="world")
    # a null or freed communicator (mpi4py raised its own 'Invalid communicator' from MPI_Comm_rank)
    freed = MPI.COMM_SELF.Dup()
    freed.Free()
    for comm in (MPI.COMM_NULL, freed):
        with pytest.raises(ValueError, match="comm must be a communicator, got a null one"):
            shard(5, comm)
        with pytest.raises(ValueError, match="comm must be a communicator, got a null one"):
            worker.model("float64").fit(x, y, loss=LOSS, optimizer="sgd", progress=False, comm=comm)


def test_bucket_cap_is_checked_and_kept_when_fit_wraps_it_again():
    from mpi4py import MPI

    from fastgd.distributed import DataParallel

    for bad in (-1, math.inf, math.nan, "25", True):
        with pytest.raises(ValueError, match="bucket_cap_mb must be a finite number >= 0"):
            DataParallel(MPI.COMM_SELF, bucket_cap_mb=bad)
    assert DataParallel(MPI.COMM_SELF).bucket_cap_mb == 25.0
    again = DataParallel(DataParallel(MPI.COMM_SELF, bucket_cap_mb=0))  # what fit does with it
    assert again.bucket_cap_mb == 0.0 and again.comm is MPI.COMM_SELF
    # one rank: the whole arena in one piece after the backward pass, whatever the cap
    m = worker.model("float64")
    plan = again.bucket_plan(m, np.zeros((2, worker.N_FEATURES)))
    assert list(plan) == [0] and len(plan[0]) == 1 and plan[0][0] is m.grads
    # the shared-memory options are checked and kept too; one rank takes the Allreduce path
    for bad in ("yes", 1, 0.5):
        with pytest.raises(TypeError, match="shared_memory must be True or False"):
            DataParallel(MPI.COMM_SELF, shared_memory=bad)
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator"):
        DataParallel(MPI.COMM_SELF, node="host")
    kept = DataParallel(DataParallel(MPI.COMM_SELF, shared_memory=False, node=MPI.COMM_SELF))
    assert kept.shared_memory is False and kept.node is MPI.COMM_SELF
    assert DataParallel(MPI.COMM_SELF).shared_memory is True
    assert not again.use_shared(m, optim.Adam(), plan) and again._shared is None


def test_the_entry_timeout_is_checked_and_kept_when_fit_wraps_it_again():
    from mpi4py import MPI

    from fastgd.distributed import DataParallel

    for bad in (0, -1.0, math.nan, -math.inf, 10**400):
        with pytest.raises(ValueError, match=r"^timeout must be a finite number > 0 or inf, got "):
            DataParallel(MPI.COMM_SELF, timeout=bad)
    with pytest.raises(TypeError, match=r"^timeout must be a finite number > 0 or inf, got '30' \(str\)"):
        DataParallel(MPI.COMM_SELF, timeout="30")
    assert DataParallel(MPI.COMM_SELF).timeout == 1800.0
    assert DataParallel(DataParallel(MPI.COMM_SELF, timeout=math.inf)).timeout == math.inf
    # one rank arrives at once, with or without a limit
    x, y, _ = worker.data(20)
    for timeout in (0.5, math.inf):
        m = worker.model("float64")
        m.fit(x, y, loss=LOSS, optimizer="sgd", epochs=1, progress=False,
              comm=DataParallel(MPI.COMM_SELF, timeout=timeout))
        assert m.evaluate(x, y, loss=LOSS, comm=DataParallel(MPI.COMM_SELF, timeout=timeout))["loss"] > 0


@pytest.mark.parametrize("call", ["fit", "partial_fit", "evaluate"])
def test_ranks_waiting_for_a_rank_that_never_makes_the_call_end_the_job_after_the_timeout(tmp_path, call):
    # rank 1 trains without comm= and ends; rank 0 waited for it for ever in fit's (or
    # evaluate's) first collective
    proc = mpirun(2, "fail", tmp_path, f"absent-{call}", timeout=120, check=False)
    assert proc.returncode != 0, f"the job succeeded although rank 1 never called {call}:\n{proc.stderr}"
    assert (f"TimeoutError: {call}(comm=...): not every one of the 2 ranks of comm entered {call} within 2 s"
            in proc.stderr), proc.stderr


@pytest.mark.parametrize("where,path,waited", [
    ("batch", "shared", "every rank's callbacks' on_batch_end of step 3 of epoch 1"),
    ("batch", "allreduce", "every rank's callbacks' on_batch_end of step 3 of epoch 1"),
    ("epoch", "shared", "every rank's callbacks' on_epoch_end of epoch 2"),
    ("epoch", "buckets", "every rank's callbacks' on_epoch_end of epoch 2"),
    ("compute", "shared", "the batch weights of step 3 of epoch 1"),
    ("compute", "allreduce", "the (batch weights|gradient reduction) of step 3 of epoch 1"),
    ("compute", "buckets", "the (batch weights|gradient reduction) of step 3 of epoch 1"),
    ("evaluate", "shared", "rank 0's metrics: 'slow_metric'")])
def test_ranks_waiting_for_a_rank_stopped_mid_fit_end_the_job_after_the_timeout(tmp_path, where, path, waited):
    # rank 1 sleeps (as in a debugger or blocked I/O) in a callback or in its backward pass (rank
    # 0 in evaluate's metric): the other rank waited for ever in a blocking collective; now it
    # raises TimeoutError after timeout=2 s, its requests in flight, and the excepthook ends the job
    proc = mpirun(2, "stall", tmp_path, where, path, timeout=120, check=False)
    assert proc.returncode != 0, f"the job succeeded although a rank stopped:\n{proc.stderr}"
    call = "evaluate" if where == "evaluate" else "fit"
    waiter = 1 if where == "evaluate" else 0
    pattern = (rf"TimeoutError: {call}\(comm=\.\.\.\): rank {waiter} waited 2 s \(DataParallel\(comm, "
               rf"timeout=\.\.\.\)\) for {waited}: a rank of comm is blocked \(in a callback, a debugger, I/O\) "
               rf"or gone")
    assert re.search(pattern, proc.stderr), proc.stderr


def test_every_rank_takes_rank_0s_seed_beyond_int64(tmp_path):
    # broadcast as an int64, a seed a one-process fit takes (>= 2**63) raised OverflowError
    mpirun(2, "seeds", tmp_path)
    results = load(str(tmp_path), "seeds", 2)
    for seed in (0, 2**63 - 1, 2**70 + 3):
        for timeout in (5.0, math.inf):
            key = f"{seed}-{timeout}"
            assert [str(r[f"{key}-seed"]) for r in results] == [str(seed)] * 2, key
            assert np.array_equal(results[0][key], results[1][key]), key
            assert np.array_equal(results[0][key], results[0][f"{seed}-5.0"]), key


def test_a_call_after_a_timeout_every_rank_caught_refuses_the_communicator_at_once(tmp_path):
    # the timed-out collectives stay in flight (MPI cannot cancel them): the next fit's entry
    # barrier matched one of them, and its settings' allgather then waited for ever
    proc = mpirun(2, "retry", tmp_path, timeout=120)
    waited = {0: "every rank's callbacks' on_epoch_end of epoch 1", 1: "the batch weights of step 1 of epoch 2"}
    for rank, what in waited.items():
        assert (f"rank {rank}: TimeoutError: fit(comm=...): rank {rank} waited 1 s (DataParallel(comm, timeout=...)) "
                f"for {what}") in proc.stdout, proc.stdout
        assert (f"rank {rank}: RuntimeError: fit(comm=...): comm cannot be used again on rank {rank}: a wait of an "
                f"earlier call timed out (fit, waiting for {what}). MPI cannot cancel its collectives") in proc.stdout
        # comm.Dup(): the shared-memory communicators kept for these processes are out of step too
        assert (f"rank {rank}: RuntimeError: fit(comm=...): comm (a communicator of the processes of one that timed "
                f"out, whose shared-memory communicators fastgd keeps) cannot be used again on rank {rank}: a wait of "
                f"an earlier call timed out (fit, waiting for {what})") in proc.stdout, proc.stdout


def test_a_short_timeout_trains_exactly_as_none(tmp_path):
    # the waits that poll against the timeout give the same reductions as MPI's blocking waits
    mpirun(2, "timeouts", tmp_path, timeout=300)
    for result in load(str(tmp_path), "timeouts", 2):
        for name in ("shared", "allreduce", "buckets", "shared-loss", "allreduce-loss", "buckets-loss", "lbfgs",
                     "newton"):
            key = name.replace("-loss", "-5.0-loss") if name.endswith("-loss") else f"{name}-5.0"
            assert np.array_equal(result[key], result[key.replace("5.0", "inf")]), name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_communicator_of_one_rank_trains_exactly_as_no_communicator(dtype):
    # the full-batch (L-BFGS) and sparse steps scaled the gradient and loss by the batch weight
    # and then divided by the sum: w·g/w, off by an ulp from g, and History's loss with it; the
    # full-batch closure also left x unpacked
    from mpi4py import MPI
    import scipy.sparse

    from fastgd.distributed import DataParallel

    x, y, w = worker.data(103)
    x[np.abs(x) < 0.5] = 0.0
    runs = [dict(optimizer=fg.lbfgs.LBFGS, batch_size=None),
            dict(optimizer=lambda: optim.Adam(lr=0.05), x=scipy.sparse.csr_matrix(x), clip_norm=0.3),
            dict(optimizer=lambda: optim.Adam(lr=0.05), clip_norm=0.3),
            # tol's full-data gradient norm, reduced the same way (it was w·g/w too)
            dict(optimizer=lambda: optim.Adam(lr=0.05), tol=1e-9),
            dict(optimizer=lambda: optim.Adam(lr=0.05), tol=1e-9, class_weight={1: 2.5})]
    for run in runs:
        results = []
        for comm in (None, MPI.COMM_SELF, DataParallel(MPI.COMM_SELF, bucket_cap_mb=0, shared_memory=False)):
            kw = dict(run)
            m = worker.model(dtype)
            h = m.fit(kw.pop("x", x), y, loss=LOSS, optimizer=kw.pop("optimizer")(), epochs=3, sample_weight=w,
                      seed=1, progress=False, comm=comm, **{"batch_size": 7, **kw})
            results.append((m.params.copy(), h.history["loss"], h.history["grad_norm"]))
        for params, loss, grad_norm in results[1:]:
            np.testing.assert_array_equal(params, results[0][0], err_msg=str(run))
            assert loss == results[0][1] and grad_norm == results[0][2], run


def test_metrics_over_one_rank_are_those_of_one_process():
    # r2 came from the two-pass reduction's sums, a few ulps from r2_score's; a metric returning
    # a str was read by float() where one process refuses it
    from mpi4py import MPI

    x, _, _ = worker.data(83)
    y = np.stack([x[:, 0] - 2 * x[:, 1], np.sin(x[:, 2])], axis=1)
    m = fg.Sequential([fg.Dense(worker.N_FEATURES, 2, activation="identity")], dtype="float64", seed=5)
    metrics = ["r2", "mse", "mae", worker.max_error]
    assert m.evaluate(x, y, "mse", metrics=metrics, comm=MPI.COMM_SELF) == m.evaluate(x, y, "mse", metrics=metrics)
    def text(y_true, y_pred):
        return "0.5"

    for comm in (None, MPI.COMM_SELF):
        with pytest.raises(TypeError, match="metrics: 'text' must return a real number, got str"):
            m.evaluate(x, y, "mse", metrics=[text], comm=comm)


def test_without_comm_mpi4py_is_never_imported():
    code = ("import sys, numpy as np, fastgd as fg\n"
            "m = fg.Sequential([fg.Dense(3, 2, activation='identity')], seed=0)\n"
            "x = np.random.default_rng(0).normal(size=(20, 3)); y = np.arange(20) % 2\n"
            "m.fit(x, y, loss='softmax_cross_entropy', optimizer='sgd', epochs=2, progress=False)\n"
            "m.evaluate(x, y); m.partial_fit(x, y, loss='softmax_cross_entropy', optimizer='sgd')\n"
            "assert 'mpi4py' not in sys.modules, 'mpi4py was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
