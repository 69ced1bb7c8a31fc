"""fastgd on each CPU target of this machine beside NumPy and PyTorch, in one run.

    python benchmarks/compare_targets.py [--repeats 7]

Two figures, float32, 1 thread: the GEMM 512×784 · 784×256 (GFLOP/s) and one training step
of 784-256-128-10 at batch 128 (samples/s; forward, softmax cross-entropy, backward, Adam).
Each fastgd target (generic, the portable path in the compiler's vector extensions, and every
SIMD target the CPU runs) is a contender of its own, measured in the same interleaved rounds
as NumPy and PyTorch, and timed by the calling thread's CPU time (every contender runs on
that one thread), so that time the scheduler gives to other processes on a shared machine
does not count against the slower contenders. The generic target here is built with the architecture's baseline flags (SSE2 on
x86-64: 4-wide vectors, no fused multiply-add), as it ships.

Beside each GEMM figure stands the ceiling of the code that produced it: the multiply-add
rate of that target's widest vectors on this core (``fma_peak``: independent chains in
registers), and for NumPy and PyTorch the widest target's. A target's GEMM cannot beat its
own ceiling, so the ratio to NumPy is bounded by the ratio of the ceilings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script
from benchmarks._timing import machine_info, markdown_table, measure_interleaved, pinned_threads, torch
from benchmarks.baselines_train import TorchLoop
from benchmarks.compare_train import fastgd_model

import fastgd
from fastgd import _core, ops

GEMM_SHAPE = (512, 784, 256)
WIDTHS, BATCH = (784, 256, 128, 10), 128


def targets() -> list[str]:
    return [isa for isa in _core.isa_compiled() if isa in _core.isa_cpu_supported()]


def on_target(isa, fn):
    """fn run with the kernels routed to `isa` (selecting is one pointer swap)."""
    def call():
        _core.isa_select(isa)
        return fn()
    return call


def gemm_contenders(rng):
    m, k, n = GEMM_SHAPE
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = np.empty((m, n), np.float32)
    c = {f"fastgd {isa}": on_target(isa, lambda: ops.matmul(a, b, out=out)) for isa in targets()}
    c["numpy"] = lambda: np.matmul(a, b, out=out)
    if torch is not None:
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        c["torch"] = lambda: torch.mm(ta, tb, out=tout)
    return c


def step_contenders(rng):
    x = rng.normal(size=(BATCH, WIDTHS[0])).astype(np.float32)
    y = rng.integers(0, WIDTHS[-1], size=BATCH)
    c = {}
    for isa in targets():
        _core.isa_select(isa)  # the model sizes its scratch for the target it runs on
        model, opt = fastgd_model(WIDTHS), fastgd.optim.Adam(lr=1e-4)
        loss = fastgd.losses.SoftmaxCrossEntropy()
        c[f"fastgd {isa}"] = on_target(isa, lambda model=model, opt=opt, loss=loss: model.train_step(x, y, loss, opt))
    if torch is not None:
        tl = TorchLoop(WIDTHS, lr=1e-4)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        c["torch"] = lambda: tl.step(tx, ty)
    return c


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds (best of)")
    args = p.parse_args(argv)
    previous = _core.isa_current()
    rng = np.random.default_rng(0)
    m, k, n = GEMM_SHAPE
    try:
        with pinned_threads(1):
            gemm = measure_interleaved(gemm_contenders(rng), repeats=args.repeats, sample_seconds=0.1,
                                        clock=time.thread_time)
            step = measure_interleaved(step_contenders(rng), repeats=args.repeats, sample_seconds=0.2,
                                        clock=time.thread_time)
        peaks = {}
        for isa in targets():
            _core.isa_select(isa)
            peaks[f"fastgd {isa}"] = _core.peak_gflops(np.dtype(np.float32), 1, 0.2)
        peaks["numpy"] = peaks["torch"] = max(peaks.values())
    finally:
        _core.isa_select(previous)
    for key, value in machine_info().items():
        print(f"- {key}: {value}")
    print()
    rows = []
    for name in gemm:
        gflops = 2 * m * k * n / gemm[name] * 1e-9
        sps = BATCH / step[name] if name in step else None
        rows.append([name, f"{gflops:.1f}", f"{peaks[name]:.1f}", f"{gflops / peaks[name]:.0%}",
                     f"{gemm['numpy'] / gemm[name]:.2f}x",
                     f"{sps:,.0f}" if sps else "",
                     f"{step['torch'] / step[name]:.2f}x" if sps and "torch" in step else ""])
    print(markdown_table([f"1 thread, float32", f"GEMM {m}×{k}·{k}×{n} GFLOP/s",
                          "ceiling GFLOP/s", "of ceiling", "vs NumPy",
                          f"train step {'-'.join(map(str, WIDTHS))} batch {BATCH}, samples/s", "vs PyTorch"],
                         rows))


if __name__ == "__main__":
    main()
