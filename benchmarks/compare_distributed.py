"""Data-parallel scaling over MPI: samples/s of one process against two, same run.

    python benchmarks/compare_distributed.py [--repeats 5] [--steps 40]

Trains 784-256-128-10 (float32, Adam, softmax cross-entropy) with a per-rank batch of 256 on
random data, in three configurations launched one after another, round after round so that
the machine's load falls on each alike:

- 1 rank x 1 thread  (plain ``fit``, no communicator),
- 2 ranks x 1 thread (``fit(comm=...)`` under ``mpiexec -n 2``: global batch 512),
- 1 rank x 2 threads (plain ``fit``, the kernels' OpenMP threads),
- 1 rank x 1 thread with a communicator of size 1 (the data-parallel step's own overhead:
  separate gradient and update calls, the bookkeeping of the reduction),
- 2 ranks x 1 thread with one bucket per layer (``bucket_cap_mb=0``: the reduction overlapped
  with the backward pass; the model is below the default 25 MB cap).

Each run times ``--steps`` optimizer steps after one warm-up epoch; samples/s counts every
rank's rows. For 2 ranks it also reports the share of the time spent in the gradient reduction
(the reductions, the scaling by each rank's share, and the wait for the slower rank) and the
time of one Allreduce of the gradient arena (235,146 float32) on its own. The last column is
the samples per CPU-second of all ranks against one rank's: the parallel efficiency, which a
loaded machine's descheduling does not hide (a rank spinning in a wait counts against it); on
a quiet machine with a free core per rank the speedup approaches ranks x that figure. The best
round of each configuration is kept. Needs mpi4py and mpiexec (``pip install 'fastgd[mpi]'``).
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


def worker(steps, threads, use_comm, bucket_cap_mb):
    """One configuration; rank 0 prints a JSON line of its figures."""
    import fastgd
    from fastgd import distributed

    fastgd.set_num_threads(threads)
    comm = fit_comm = None
    rank = 0
    if use_comm:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank = comm.rank
        fit_comm = comm if bucket_cap_mb is None else distributed.DataParallel(comm, bucket_cap_mb=bucket_cap_mb)
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((steps * BATCH, WIDTHS[0]), dtype=np.float32)
    y = rng.integers(0, WIDTHS[-1], steps * BATCH)
    layers = [fastgd.Dense(a, b) for a, b in zip(WIDTHS[:-2], WIDTHS[1:-1])]
    layers.append(fastgd.Dense(WIDTHS[-2], WIDTHS[-1], activation="identity"))
    model = fastgd.Sequential(layers, dtype="float32", seed=0)
    opt = fastgd.optim.Adam(lr=1e-3)
    comm_seconds = [0.0]
    if comm is not None:
        # time in the reduction: the data-parallel gradient call minus the forward and backward
        # kernels it runs (the per-layer callbacks, which start the reductions, count as reduction)
        gradient = distributed.DataParallel.gradient
        by_layer = fastgd.Sequential._gradient_by_layer

        def timed_gradient(self, *args):
            t = time.perf_counter()
            try:
                return gradient(self, *args)
            finally:
                comm_seconds[0] += time.perf_counter() - t

        def timed_by_layer(self, *args):
            *args, on_layer = args
            inside = [0.0]

            def timed_on_layer(layer):
                t = time.perf_counter()
                on_layer(layer)
                inside[0] += time.perf_counter() - t

            t = time.perf_counter()
            try:
                return by_layer(self, *args, timed_on_layer)
            finally:
                comm_seconds[0] -= time.perf_counter() - t - inside[0]

        distributed.DataParallel.gradient = timed_gradient
        fastgd.Sequential._gradient_by_layer = timed_by_layer
    kw = dict(loss="softmax_cross_entropy", optimizer=opt, batch_size=BATCH, shuffle=False, progress=False,
              comm=fit_comm)
    model.fit(x[:4 * BATCH], y[:4 * BATCH], epochs=1, **kw)
    if comm is not None:
        comm.Barrier()
    comm_seconds[0] = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=1, **kw)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    ranks = 1
    allreduce_seconds = 0.0
    if comm is not None:
        seconds = comm.allreduce(seconds, op=MPI.MAX)
        comm_seconds[0] = comm.allreduce(comm_seconds[0], op=MPI.MAX)
        cpu_seconds = comm.allreduce(cpu_seconds, op=MPI.SUM)
        ranks = comm.size
        # the transfer alone: ranks already in step, no compute to wait for
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(20):
            comm.Allreduce(MPI.IN_PLACE, model.grads, op=MPI.SUM)
        allreduce_seconds = comm.allreduce((time.perf_counter() - t0) / 20, op=MPI.MAX)
    if rank == 0:
        print(json.dumps({"samples_per_s": ranks * steps * BATCH / seconds, "step_seconds": seconds / steps,
                          "comm_share": comm_seconds[0] / seconds, "allreduce_seconds": allreduce_seconds,
                          "samples_per_cpu_s": ranks * steps * BATCH / cpu_seconds}),
              flush=True)


def run(config, steps, mpiexec):
    ranks, threads, use_comm, cap = config
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(steps), "--threads", str(threads)]
    if use_comm:
        cmd = [mpiexec, "-n", str(ranks)] + cmd + ["--comm"]
    if cap is not None:
        cmd += ["--bucket-cap-mb", str(cap)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
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
    configs = {"1 rank x 1 thread": (1, 1, False, None), "2 ranks x 1 thread": (2, 1, True, None),
               "1 rank x 2 threads": (1, 2, False, None), "1 rank x 1 thread, comm of size 1": (1, 1, True, None),
               "2 ranks x 1 thread, one bucket per layer": (2, 1, True, 0)}
    best = {name: None for name in configs}
    load_before = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    for _ in range(args.repeats):
        for name, config in configs.items():
            result = run(config, args.steps, mpiexec)
            if best[name] is None or result["samples_per_s"] > best[name]["samples_per_s"]:
                best[name] = result
    base = best["1 rank x 1 thread"]["samples_per_s"]
    base_cpu = best["1 rank x 1 thread"]["samples_per_cpu_s"]
    rows = []
    for name, result in best.items():
        dp = configs[name][2]
        share = f"{100 * result['comm_share']:.1f}%" if dp else "-"
        alone = f"{1e3 * result['allreduce_seconds']:.2f}" if dp else "-"
        rows.append([name, f"{result['samples_per_s']:,.0f}", f"{result['samples_per_s'] / base:.2f}x",
                     f"{1e3 * result['step_seconds']:.2f}", share, alone,
                     f"{result['samples_per_cpu_s'] / base_cpu:.2f}"])
    print(f"784-256-128-10 float32, Adam, per-rank batch {BATCH}, {args.steps} steps per run, "
          f"best of {args.repeats} interleaved rounds; load average before {load_before}, after "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    for key, value in machine_info().items():
        print(f"  {key}: {value}")
    print(markdown_table(["configuration", "samples/s", "vs 1 rank x 1 thread", "ms per step", "time in reduction",
                          "Allreduce alone (ms)", "samples per CPU-second vs 1x1"], rows))


if __name__ == "__main__":
    main()
