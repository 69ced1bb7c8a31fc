"""Data-parallel scaling over MPI: samples/s of one process against two, same run.

    python benchmarks/compare_distributed.py [--repeats 5] [--steps 60]

Trains 784-256-128-10 (float32, Adam, softmax cross-entropy) with a per-rank batch of 256 on
random data, in these configurations, launched one after another round after round so that the
machine's load falls on each alike:

- 1 rank x 1 thread  (plain ``fit``, no communicator),
- 2 ranks x 1 thread (``fit(comm=...)`` under ``mpiexec -n 2``: global batch 512),
- 2 ranks x 1 thread bound to cores (``mpiexec -bind-to core``: each rank pinned to its own core),
- 1 rank x 2 threads (plain ``fit``, the kernels' OpenMP threads),
- 1 rank x 1 thread with a communicator of size 1 (the data-parallel step's own overhead:
  separate gradient and update calls, the bookkeeping of the reduction),
- 2 ranks x 1 thread with one bucket per layer (``bucket_cap_mb=0``: the reduction overlapped
  with the backward pass; the model is below the default 25 MB cap).

Each run times one epoch of ``--steps`` optimizer steps after a warm-up epoch, by the epoch time
``fit`` records (the slowest rank's; the start of ``fit`` is left out); samples/s counts every
rank's rows. The best round of each configuration is kept. For the data-parallel runs the step is
cut into phases, per rank, in wall and in thread CPU time: the forward and backward kernels, the
reduction (scaling by each rank's share, the reductions themselves, and waiting for the other
rank) and the update (clipping and the optimizer). "Allreduce alone" times one reduction of the
gradient arena (235,146 float32) with the ranks already in step. The samples per CPU-second of
all ranks against one rank's is the parallel efficiency, which a loaded machine's descheduling
does not hide (a rank spinning in a wait counts against it). The last lines print the ratios
the scaling target is stated in. Needs mpi4py and mpiexec (``pip install 'fastgd[mpi]'``).
"""

from __future__ import annotations

import argparse
import json
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


def instrument(fastgd, distributed, phases):
    """Time the phases of every data-parallel step into ``phases[name]``: (wall, thread CPU)
    pairs. The reduction is the data-parallel gradient call minus the forward and backward
    kernels it runs (the per-layer callbacks, which start the reductions, count as reduction)."""
    clock = time.perf_counter
    cpu = time.thread_time
    gradient = distributed.DataParallel.gradient
    by_layer = fastgd.Sequential._gradient_by_layer
    update = distributed._clip_and_update
    kernels = [0.0, 0.0]

    def timed_gradient(self, *args):
        kernels[:] = [0.0, 0.0]
        t, c = clock(), cpu()
        try:
            return gradient(self, *args)
        finally:
            phases["reduction"].append((clock() - t - kernels[0], cpu() - c - kernels[1]))
            phases["compute"].append(tuple(kernels))

    def timed_by_layer(self, *args):
        *args, on_layer = args
        inside = [0.0, 0.0]

        def timed_on_layer(layer):
            t, c = clock(), cpu()
            on_layer(layer)
            inside[0] += clock() - t
            inside[1] += cpu() - c

        t, c = clock(), cpu()
        try:
            return by_layer(self, *args, timed_on_layer)
        finally:
            kernels[0] += clock() - t - inside[0]
            kernels[1] += cpu() - c - inside[1]

    def timed_update(*args):
        t, c = clock(), cpu()
        try:
            return update(*args)
        finally:
            phases["update"].append((clock() - t, cpu() - c))

    distributed.DataParallel.gradient = timed_gradient
    fastgd.Sequential._gradient_by_layer = timed_by_layer
    distributed._clip_and_update = timed_update


def worker(steps, threads, use_comm, bucket_cap_mb):
    """One configuration; rank 0 prints a JSON line of its figures."""
    import fastgd
    from fastgd import distributed

    fastgd.set_num_threads(threads)
    comm = fit_comm = None
    rank = 0
    phases = {name: [] for name in PHASES}
    if use_comm:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank = comm.rank
        fit_comm = comm if bucket_cap_mb is None else distributed.DataParallel(comm, bucket_cap_mb=bucket_cap_mb)
        instrument(fastgd, distributed, phases)
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
    c0 = time.process_time()
    history = model.fit(x, y, epochs=1, **kw)
    cpu_seconds = time.process_time() - c0
    seconds = history["seconds"][-1]  # the epoch's time (the slowest rank's): fit's start left out
    ranks = 1
    allreduce_seconds = 0.0
    per_rank = None
    if comm is not None:
        cpu_seconds = comm.allreduce(cpu_seconds, op=MPI.SUM)
        ranks = comm.size
        # per rank, each phase's mean wall and CPU milliseconds per step
        mine = {name: [1e3 * float(v) for v in np.mean(timings, axis=0)] for name, timings in phases.items()}
        per_rank = comm.gather(mine, root=0)
        # the transfer alone: ranks already in step, no compute to wait for
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(20):
            comm.Allreduce(MPI.IN_PLACE, model.grads, op=MPI.SUM)
        allreduce_seconds = comm.allreduce((time.perf_counter() - t0) / 20, op=MPI.MAX)
    if rank == 0:
        print(json.dumps({"samples_per_s": ranks * steps * BATCH / seconds, "step_seconds": seconds / steps,
                          "allreduce_seconds": allreduce_seconds, "per_rank": per_rank,
                          "samples_per_cpu_s": ranks * steps * BATCH / cpu_seconds}),
              flush=True)


def run(config, steps, mpiexec):
    ranks, threads, use_comm, cap, launch = config
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(steps), "--threads", str(threads)]
    if use_comm:
        cmd = [mpiexec, *launch, "-n", str(ranks)] + cmd + ["--comm"]
    if cap is not None:
        cmd += ["--bucket-cap-mb", str(cap)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--comm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bucket-cap-mb", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.threads, args.comm, args.bucket_cap_mb)
        return
    from benchmarks._timing import machine_info, markdown_table

    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install 'fastgd[mpi]'")
    # name: (ranks, threads per rank, communicator, bucket_cap_mb, mpiexec options)
    configs = {"1 rank x 1 thread": (1, 1, False, None, ()),
               "2 ranks x 1 thread": (2, 1, True, None, ()),
               "2 ranks x 1 thread, -bind-to core": (2, 1, True, None, ("-bind-to", "core")),
               "1 rank x 2 threads": (1, 2, False, None, ()),
               "1 rank x 1 thread, comm of size 1": (1, 1, True, None, ()),
               "2 ranks x 1 thread, one bucket per layer": (2, 1, True, 0, ())}
    best = {name: None for name in configs}
    rates = {name: [] for name in configs}
    load_before = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    for _ in range(args.repeats):
        for name, config in configs.items():
            result = run(config, args.steps, mpiexec)
            rates[name].append(result["samples_per_s"])
            if best[name] is None or result["samples_per_s"] > best[name]["samples_per_s"]:
                best[name] = result
    base = best["1 rank x 1 thread"]["samples_per_s"]
    base_cpu = best["1 rank x 1 thread"]["samples_per_cpu_s"]
    rows, phase_rows = [], []
    for name, result in best.items():
        alone = f"{1e3 * result['allreduce_seconds']:.2f}" if configs[name][2] else "-"
        rows.append([name, f"{result['samples_per_s']:,.0f}", f"{result['samples_per_s'] / base:.2f}x",
                     f"{1e3 * result['step_seconds']:.2f}", alone, f"{result['samples_per_cpu_s'] / base_cpu:.2f}"])
        for rank, phases in enumerate(result["per_rank"] or ()):
            phase_rows.append([name, str(rank)] + [f"{phases[p][0]:.2f} / {phases[p][1]:.2f}" for p in PHASES])
    print(f"784-256-128-10 float32, Adam, per-rank batch {BATCH}, {args.steps} steps per run, "
          f"best of {args.repeats} interleaved rounds; load average before {load_before}, after "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    for key, value in machine_info().items():
        print(f"  {key}: {value}")
    print(markdown_table(["configuration", "samples/s", "vs 1 rank x 1 thread", "ms per step",
                          "Allreduce alone (ms)", "samples per CPU-second vs 1x1"], rows))
    print()
    print("Per rank, mean ms per step, wall / thread CPU (best round of each data-parallel configuration):")
    print(markdown_table(["configuration", "rank", "forward + backward", "reduction (incl. waiting)", "update"],
                         phase_rows))
    print()
    # the best rounds, and the median rounds: a one-core run's best round can catch a stretch where
    # its core runs fast, while a two-core step waits for the slower core at every moment
    for kind, pick in (("best", max), ("median", lambda r: float(np.median(r)))):
        one, two, bound, threads = (pick(rates[name]) for name in (
            "1 rank x 1 thread", "2 ranks x 1 thread", "2 ranks x 1 thread, -bind-to core", "1 rank x 2 threads"))
        print(f"{kind} rounds: 2 ranks x 1 thread vs 1 rank x 1 thread: {two / one:.2f}x ({bound / one:.2f}x bound "
              f"to cores; target >= 1.8x); vs 1 rank x 2 threads: {two / threads:.2f}x ({bound / threads:.2f}x)")


if __name__ == "__main__":
    main()
