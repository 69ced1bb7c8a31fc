"""Data-parallel scaling over MPI: samples/s of one process against two, same run.

    python benchmarks/compare_distributed.py [--repeats 5] [--steps 60] [--quiet 0.9]

Trains 784-256-128-10 (float32, Adam, softmax cross-entropy) with a per-rank batch of 256 on
random data, in these configurations, launched one after another round after round so that the
machine's load falls on each alike:

- 1 rank x 1 thread  (plain ``fit``, no communicator),
- 2 ranks x 1 thread (``fit(comm=...)`` under ``mpiexec -n 2``: global batch 512),
- 2 ranks x 1 thread bound to cores (``mpiexec -bind-to core``: each rank pinned to its own core),
  and bound the other way round (``-bind-to user:1,0``: rank 0 on core 1, rank 1 on core 0), so
  that the per-rank table tells whether a rank that computes slower is slow because of its core
  or because of what that rank does,
- 2 ranks x 1 thread reducing with ``Allreduce`` (``DataParallel(comm, shared_memory=False)``:
  every rank reduces the whole gradient and applies the whole update, the path taken when the
  ranks of a host cannot share memory),
- 1 rank x 2 threads (plain ``fit``, the kernels' OpenMP threads),
- 1 rank x 1 thread with a communicator of size 1 (the data-parallel step's own overhead:
  separate gradient and update calls, the bookkeeping of the reduction),
- 2 ranks x 1 thread with one bucket per layer (``bucket_cap_mb=0``: the reduction overlapped
  with the backward pass; the model is below the default 25 MB cap),
- 2 processes x 1 thread apart, bound to cores: each process runs a plain ``fit`` of its own at
  the same time as the other, with no communication at all. This is the ceiling the machine
  gives two ranks' compute: what two cores busy at once deliver against one core with the other
  idle. It is also given as if every step waited for the slower process's step, which a
  synchronous data-parallel step must do.

Each run times one epoch of ``--steps`` optimizer steps after a warm-up epoch, by the epoch time
``fit`` records (the slowest rank's; the start of ``fit`` is left out); samples/s counts every
rank's rows. The best round of each configuration is kept. For the data-parallel runs the step is
cut into phases, per rank, in wall and in thread CPU time: the forward and backward kernels, the
reduction (scaling by each rank's share, the reductions themselves, and waiting for the other
rank) and the update (clipping and the optimizer). The ranks' clock readings at the end of each
backward pass split the reduction into waiting for the slower rank and the reduction proper.
"Allreduce alone" times one reduction of the gradient arena (235,146 float32) with the ranks
already in step. The samples per CPU-second of all ranks against one rank's is the parallel
efficiency, which a loaded machine's descheduling does not hide (a rank spinning in a wait counts
against it). The last lines print the ratios the scaling target is stated in, and the most two
ranks could give if every phase of every step ran as fast as its fastest step (one rank's fastest
fused step against the sum of the bound ranks' fastest forward and backward, reduction proper and
update): a bound that the machine's load and the drift of its cores' speed do not move much, as
long as some steps run undisturbed. A line before it compares, per core, the median over rounds
of each rank's forward and backward in thread CPU time with the ranks bound both ways round, and
of each apart process's whole step: whether a rank that computes slower than its partner does so
because of its core (the slowness moves with the core when the ranks swap cores) or because of
something that rank does (it stays with the rank). Needs mpi4py and mpiexec (``pip install 'fastgd[mpi]'``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script

WIDTHS = (784, 256, 128, 10)
BATCH = 256


PHASES = ("compute", "reduction", "update")


def instrument(fastgd, distributed, phases, stamps):
    """Time the phases of every data-parallel step into ``phases[name]``: (wall, thread CPU)
    pairs. The compute is the forward and backward kernels; the reduction is the reduction call
    (the shared-memory reduction, or the Allreduce path's gradient call minus the kernels it
    runs; the per-layer callbacks, which start the reductions, count as reduction); the update is
    clipping and the optimizer (this rank's slice of it on the shared-memory path, with the
    closing barrier). ``stamps`` gets each step's (end of the backward pass, start of the update)
    clock readings: the clock is the machine's monotonic clock, the same for every rank, so that
    the reduction splits into waiting for the slower rank's backward and the reduction proper."""
    clock = time.perf_counter
    cpu = time.thread_time
    by_layer = fastgd.Sequential._gradient_by_layer
    step = {name: [0.0, 0.0] for name in PHASES}
    backward_end = [0.0]

    def add(name, wall, cpu_time):
        step[name][0] += wall
        step[name][1] += cpu_time

    def timed_by_layer(self, *args):
        *args, on_layer = args

        def timed_on_layer(layer):
            t, c = clock(), cpu()
            if layer == 0:
                backward_end[0] = t
            on_layer(layer)
            add("reduction", clock() - t, cpu() - c)

        before = list(step["reduction"])
        t, c = clock(), cpu()
        try:
            return by_layer(self, *args, timed_on_layer)
        finally:
            inside = [step["reduction"][0] - before[0], step["reduction"][1] - before[1]]
            add("compute", clock() - t - inside[0], cpu() - c - inside[1])
            backward_end[0] = backward_end[0] or clock()

    def reduction(function):
        def timed(*args):
            before = list(step["compute"]) + list(step["reduction"])
            t, c = clock(), cpu()
            try:
                return function(*args)
            finally:  # what the kernels and callbacks inside took is counted already
                now = list(step["compute"]) + list(step["reduction"])
                inside = [now[0] - before[0] + now[2] - before[2], now[1] - before[1] + now[3] - before[3]]
                add("reduction", clock() - t - inside[0], cpu() - c - inside[1])
        return timed

    def update(function):
        def timed(*args):
            t, c = clock(), cpu()
            stamps.append((backward_end[0], t))
            try:
                return function(*args)
            finally:
                add("update", clock() - t, cpu() - c)
                for name in PHASES:
                    phases[name].append(tuple(step[name]))
                    step[name][:] = [0.0, 0.0]
                backward_end[0] = 0.0
        return timed

    fastgd.Sequential._gradient_by_layer = timed_by_layer
    distributed.DataParallel.gradient = reduction(distributed.DataParallel.gradient)
    distributed._SharedArenas.reduce = reduction(distributed._SharedArenas.reduce)
    distributed._clip_and_update = update(distributed._clip_and_update)
    distributed._SharedArenas.update = update(distributed._SharedArenas.update)


def time_steps(model, durations, cpu_durations):
    """Record the wall and thread CPU time of every fused train step of ``model`` into
    ``durations`` and ``cpu_durations``."""
    step = model._train_step

    def timed(*args, **kwargs):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return step(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - t)
            cpu_durations.append(time.thread_time() - c)

    model._train_step = timed


def waiting(stamps):
    """Per rank, the mean ms per step spent waiting for the slower rank's backward pass and in
    the reduction proper (from the slower rank's end of backward to this rank's update), and the
    reduction proper's fastest step, from every rank's ``stamps`` (see instrument)."""
    steps = min(len(s) for s in stamps)
    ends = np.array([[s[0] for s in rank[:steps]] for rank in stamps])
    starts = np.array([[s[1] for s in rank[:steps]] for rank in stamps])
    last = ends.max(axis=0)
    return [(1e3 * float(np.mean(last - e)), 1e3 * float(np.mean(u - last)), 1e3 * float(np.min(u - last)))
            for e, u in zip(ends, starts)]


def idle_fraction(seconds):
    """The fraction of the machine's CPU time spent idle over the next ``seconds`` (/proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(comm, quiet, patience=60.0):
    """With ``quiet`` (a fraction), wait until the machine is that idle over 0.2 s (the other
    processes on a shared machine at rest), at most ``patience`` seconds; rank 0 decides for
    every rank. Returns whether a quiet moment was found."""
    found = np.ones(1, dtype=np.int8)
    if quiet and (comm is None or comm.rank == 0):
        end = time.monotonic() + patience
        while idle_fraction(0.2) < quiet:
            if time.monotonic() > end:
                found[0] = 0
                break
    if comm is not None:  # the other ranks sleep meanwhile: MPICH's wait would keep a core busy
        request = comm.Ibcast(found, root=0)
        while not request.Test():
            time.sleep(0.005)
    return bool(found[0])


def worker(steps, threads, mode, bucket_cap_mb, quiet):
    """One configuration; rank 0 prints a JSON line of its figures. ``mode`` is "plain" (no
    MPI), "comm" (``fit(comm=...)``), "allreduce" (``fit(comm=DataParallel(comm,
    shared_memory=False))``) or "apart" (every process under mpiexec runs a plain fit of
    its own, with MPI only to start them together and collect their times: the compute without
    any communication)."""
    import fastgd
    from fastgd import distributed

    fastgd.set_num_threads(threads)
    comm = fit_comm = None
    rank = 0
    phases = {name: [] for name in PHASES}
    stamps, durations, cpu_durations = [], [], []
    if mode != "plain":
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank = comm.rank
    if mode in ("comm", "allreduce"):
        fit_comm = comm
        if bucket_cap_mb is not None or mode == "allreduce":
            fit_comm = distributed.DataParallel(comm, bucket_cap_mb=bucket_cap_mb, shared_memory=mode == "comm")
        instrument(fastgd, distributed, phases, stamps)
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((steps * BATCH, WIDTHS[0]), dtype=np.float32)
    y = rng.integers(0, WIDTHS[-1], steps * BATCH)
    layers = [fastgd.Dense(a, b) for a, b in zip(WIDTHS[:-2], WIDTHS[1:-1])]
    layers.append(fastgd.Dense(WIDTHS[-2], WIDTHS[-1], activation="identity"))
    model = fastgd.Sequential(layers, dtype="float32", seed=0)
    opt = fastgd.optim.Adam(lr=1e-3)
    kw = dict(loss="softmax_cross_entropy", optimizer=opt, batch_size=BATCH, shuffle=False, progress=False,
              comm=fit_comm)
    model.fit(x[:4 * BATCH], y[:4 * BATCH], epochs=1, **kw)
    for timings in phases.values():
        timings.clear()
    stamps.clear()
    quiet_found = wait_for_quiet(comm, quiet)
    if mode not in ("comm", "allreduce"):
        time_steps(model, durations, cpu_durations)
    if mode == "apart":
        comm.Barrier()
    c0 = time.process_time()
    history = model.fit(x, y, epochs=1, **kw)
    cpu_seconds = time.process_time() - c0
    seconds = history["seconds"][-1]  # the epoch's time (the slowest rank's): fit's start left out
    result = {"samples_per_s": steps * BATCH / seconds, "step_seconds": seconds / steps,
              "samples_per_cpu_s": steps * BATCH / cpu_seconds, "quiet": quiet_found,
              "fastest_step": 1e3 * min(durations, default=math.nan)}
    if mode == "apart":
        # the processes' epochs, and what they would take if every step waited for the slower
        # process's step (the loop's own time outside the steps kept as measured)
        times = comm.gather((seconds, durations), root=0)
        per_process = comm.gather([1e3 * float(np.median(durations)), 1e3 * float(np.median(cpu_durations))], root=0)
        cpu_seconds = comm.allreduce(cpu_seconds, op=MPI.SUM)
        if rank == 0:
            slowest = max(t for t, _ in times)
            outside = float(np.mean([t - sum(d) for t, d in times]))
            in_step = np.max([d[:steps] for _, d in times], axis=0).sum() + outside
            result = {"samples_per_s": len(times) * steps * BATCH / slowest, "step_seconds": slowest / steps,
                      "in_step_samples_per_s": len(times) * steps * BATCH / in_step,
                      "samples_per_cpu_s": len(times) * steps * BATCH / cpu_seconds, "quiet": quiet_found,
                      "per_process": per_process}
    elif mode in ("comm", "allreduce"):
        cpu_seconds = comm.allreduce(cpu_seconds, op=MPI.SUM)
        # per rank, each phase's mean wall and CPU milliseconds per step
        mine = {name: [1e3 * float(v) for v in np.mean(timings, axis=0)] for name, timings in phases.items()}
        mine["fastest"] = {name: 1e3 * float(np.min(np.array(phases[name])[:, 0])) for name in ("compute", "update")}
        per_rank = comm.gather(mine, root=0)
        all_stamps = comm.gather(stamps, root=0)
        # the transfer alone: ranks already in step, no compute to wait for
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(20):
            comm.Allreduce(MPI.IN_PLACE, model.grads, op=MPI.SUM)
        allreduce_seconds = comm.allreduce((time.perf_counter() - t0) / 20, op=MPI.MAX)
        if rank == 0:
            for phases_of_rank, (wait, proper, fastest) in zip(per_rank, waiting(all_stamps)):
                phases_of_rank["waiting"] = wait
                phases_of_rank["reduction proper"] = proper
                phases_of_rank["fastest"]["reduction proper"] = fastest
            result = {"samples_per_s": comm.size * steps * BATCH / seconds, "step_seconds": seconds / steps,
                      "allreduce_seconds": allreduce_seconds, "per_rank": per_rank,
                      "samples_per_cpu_s": comm.size * steps * BATCH / cpu_seconds, "quiet": quiet_found}
    if rank == 0:
        print(json.dumps(result), flush=True)


def run(config, steps, mpiexec, quiet):
    ranks, threads, mode, cap, launch = config
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(steps), "--threads", str(threads),
           "--mode", mode, "--quiet", str(quiet)]
    if mode != "plain":
        cmd = [mpiexec, *launch, "-n", str(ranks)] + cmd
    if cap is not None:
        cmd += ["--bucket-cap-mb", str(cap)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--quiet", type=float, default=0.0,
                        help="before each timed epoch, wait (up to a minute) until the machine's CPUs are this "
                             "fraction idle over 0.2 s, e.g. 0.9 on a machine shared with other jobs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="plain", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bucket-cap-mb", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.threads, args.mode, args.bucket_cap_mb, args.quiet)
        return
    from benchmarks._timing import machine_info, markdown_table

    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install 'fastgd[mpi]'")
    bound = ("-bind-to", "core")
    # name: (ranks, threads per rank, mode (see worker), bucket_cap_mb, mpiexec options)
    configs = {"1 rank x 1 thread": (1, 1, "plain", None, ()),
               "2 ranks x 1 thread": (2, 1, "comm", None, ()),
               "2 ranks x 1 thread, -bind-to core": (2, 1, "comm", None, bound),
               "2 ranks x 1 thread, -bind-to user:1,0": (2, 1, "comm", None, ("-bind-to", "user:1,0")),
               "2 ranks x 1 thread, Allreduce": (2, 1, "allreduce", None, ()),
               "1 rank x 2 threads": (1, 2, "plain", None, ()),
               "1 rank x 1 thread, comm of size 1": (1, 1, "comm", None, ()),
               "2 ranks x 1 thread, one bucket per layer": (2, 1, "comm", 0, ()),
               "2 processes x 1 thread apart, -bind-to core": (2, 1, "apart", None, bound)}
    best = {name: None for name in configs}
    rates = {name: [] for name in configs}
    in_step = []
    quiet_runs = 0
    fastest = {"one rank": math.inf, "compute": math.inf, "reduction proper": math.inf, "update": math.inf}
    # per round, each process's thread CPU ms per step of forward and backward (fused step apart)
    by_core = {"2 ranks x 1 thread, -bind-to core": [], "2 ranks x 1 thread, -bind-to user:1,0": [],
               "2 processes x 1 thread apart, -bind-to core": []}
    load_before = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    for _ in range(args.repeats):
        for name, config in configs.items():
            result = run(config, args.steps, mpiexec, args.quiet)
            quiet_runs += result["quiet"]
            rates[name].append(result["samples_per_s"])
            if config[2] == "apart":
                in_step.append(result["in_step_samples_per_s"])
            if name == "1 rank x 1 thread":
                fastest["one rank"] = min(fastest["one rank"], result["fastest_step"])
            if name == "2 ranks x 1 thread, -bind-to core":
                for phase in ("compute", "reduction proper", "update"):
                    slowest_rank = max(phases["fastest"][phase] for phases in result["per_rank"])
                    fastest[phase] = min(fastest[phase], slowest_rank)
            if name in by_core:
                by_core[name].append([p[1] for p in result["per_process"]] if config[2] == "apart"
                                     else [phases["compute"][1] for phases in result["per_rank"]])
            if best[name] is None or result["samples_per_s"] > best[name]["samples_per_s"]:
                best[name] = result
    base = best["1 rank x 1 thread"]["samples_per_s"]
    base_cpu = best["1 rank x 1 thread"]["samples_per_cpu_s"]
    rows, phase_rows = [], []
    for name, result in best.items():
        alone = f"{1e3 * result['allreduce_seconds']:.2f}" if "allreduce_seconds" in result else "-"
        rows.append([name, f"{result['samples_per_s']:,.0f}", f"{result['samples_per_s'] / base:.2f}x",
                     f"{1e3 * result['step_seconds']:.2f}", alone, f"{result['samples_per_cpu_s'] / base_cpu:.2f}"])
        for rank, phases in enumerate(result.get("per_rank") or ()):
            step = sum(phases[p][0] for p in PHASES)
            phase_rows.append([name, str(rank)] + [f"{phases[p][0]:.2f} / {phases[p][1]:.2f}" for p in PHASES]
                              + [f"{phases['waiting']:.2f}", f"{phases['reduction proper']:.2f}",
                                 f"{100 * phases['reduction'][0] / step:.0f} %"])
    print(f"784-256-128-10 float32, Adam, per-rank batch {BATCH}, {args.steps} steps per run, "
          f"best of {args.repeats} interleaved rounds; load average before {load_before}, after "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}"
          + (f"; {quiet_runs} of {args.repeats * len(configs)} runs started in a moment with the CPUs "
             f"{100 * args.quiet:.0f} % idle" if args.quiet else ""))
    for key, value in machine_info().items():
        print(f"  {key}: {value}")
    print(markdown_table(["configuration", "samples/s", "vs 1 rank x 1 thread", "ms per step",
                          "Allreduce alone (ms)", "samples per CPU-second vs 1x1"], rows))
    print()
    print("Per rank, mean ms per step, wall / thread CPU (best round of each data-parallel configuration); the "
          "reduction split by the clock into waiting for the slower rank's backward and the rest:")
    print(markdown_table(["configuration", "rank", "forward + backward", "reduction (incl. waiting)", "update",
                          "waiting", "reduction proper", "reduction share of the step"], phase_rows))
    print()
    # the best rounds, and the median rounds: a one-core run's best round can catch a stretch where
    # its core runs fast, while a two-core step waits for the slower core at every moment
    for kind, pick in (("best", max), ("median", lambda r: float(np.median(r)))):
        one, two, bound, threads, apart = (pick(rates[name]) for name in (
            "1 rank x 1 thread", "2 ranks x 1 thread", "2 ranks x 1 thread, -bind-to core", "1 rank x 2 threads",
            "2 processes x 1 thread apart, -bind-to core"))
        allreduce = pick(rates["2 ranks x 1 thread, Allreduce"])
        print(f"{kind} rounds: 2 ranks x 1 thread vs 1 rank x 1 thread: {two / one:.2f}x ({bound / one:.2f}x bound "
              f"to cores, {allreduce / one:.2f}x reducing with Allreduce; target >= 1.8x); vs 1 rank x 2 threads: {two / threads:.2f}x ({bound / threads:.2f}x); "
              f"compute-only ceiling, 2 processes apart vs 1: {apart / one:.2f}x ({pick(in_step) / one:.2f}x "
              f"if every step waited for the slower process's)")
    # a rank that computes slower in CPU time either runs on a slower core or does more: bound
    # both ways round, the first follows the core and the second the rank
    medians = {name: np.median(np.array(v), axis=0) for name, v in by_core.items()}
    bound_, swapped, apart_ = medians.values()
    print(f"slower core or slower rank? median over rounds of the thread CPU ms per step of forward + backward: "
          f"-bind-to core rank 0 (core 0) {bound_[0]:.2f}, rank 1 (core 1) {bound_[1]:.2f}; -bind-to user:1,0 "
          f"rank 0 (core 1) {swapped[0]:.2f}, rank 1 (core 0) {swapped[1]:.2f}; the whole fused step of two "
          f"processes apart, core 0 {apart_[0]:.2f}, core 1 {apart_[1]:.2f}")
    parts = fastest["compute"] + fastest["reduction proper"] + fastest["update"]
    print(f"fastest steps of all rounds: 1 rank x 1 thread {fastest['one rank']:.2f} ms; 2 ranks bound to cores, "
          f"the slower rank's: forward + backward {fastest['compute']:.2f} + reduction proper "
          f"{fastest['reduction proper']:.2f} + update {fastest['update']:.2f} ms: every step of both ranks at its "
          f"fastest and no waiting would give {2 * fastest['one rank'] / parts:.2f}x")


if __name__ == "__main__":
    main()
