"""fastgd's GEMM and dense layer vs NumPy (OpenBLAS) and PyTorch, in one run.

    python benchmarks/compare_gemm.py [--quick] [--threads 1,2] [--dtype float32,float64]

For each MLP shape n×k→m (batch n, k inputs, m outputs) and each product a
training step makes:
  fwd   out = relu(x·W + b)   fastgd.ops.dense_forward (one fused GEMM) vs numpy.matmul + bias
                              and relu passes vs torch.addmm + relu_
  x·W   the plain product     fastgd.ops.matmul vs numpy.matmul vs torch.mm
  xᵀ·g  dW's product          (trans_a)
  g·Wᵀ  grad_x's product      (trans_b)
  bwd   the whole dense backward (relu' mask, dW, db, grad_x): fastgd.ops.dense_backward vs the
        same steps in NumPy / torch
Threads are pinned alike in every library (1 and all cores). GFLOP/s counts the
multiply-adds of the products (2·n·k·m each; bwd: 2 products); "% peak" is that
over the machine's register-only FMA rate at the same thread count
(fastgd._core.peak_gflops). Ratios > 1 mean fastgd is faster. On a shared
machine the absolute figures are noisy; the ratios are measured interleaved.
"""

from __future__ import annotations

import os
import sys

import numpy as np

try:
    from benchmarks import _timing, baselines_gemm
except ImportError:  # run as a script from the benchmarks directory
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _timing
    import baselines_gemm

import fastgd
from fastgd import _core, ops

torch = _timing.torch

SHAPES = [(32, 784, 256), (128, 784, 256), (128, 256, 128), (128, 128, 10), (512, 784, 256),
          (1024, 1024, 1024)]
OPS = ["fwd", "x·W", "xᵀ·g", "g·Wᵀ", "bwd"]


def _all_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _contenders(op, n, k, m, dtype, rng):
    """{name: zero-argument callable} for one product, on preallocated data."""
    x = rng.standard_normal((n, k)).astype(dtype)
    W = (rng.standard_normal((k, m)) / np.sqrt(k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    g = rng.standard_normal((n, m)).astype(dtype)
    out = ops.dense_forward(x, W, b)
    o, dW, db, gx = np.empty((n, m), dtype), np.empty((k, m), dtype), np.empty(m, dtype), np.empty((n, k), dtype)
    c = {}
    if op == "fwd":
        c["fastgd"] = lambda: ops.dense_forward(x, W, b, out=o)
        c["numpy"] = lambda: baselines_gemm.numpy_dense_forward(x, W, b, o)
    elif op == "x·W":
        c["fastgd"] = lambda: ops.matmul(x, W, out=o)
        c["numpy"] = lambda: np.matmul(x, W, out=o)
    elif op == "xᵀ·g":
        c["fastgd"] = lambda: ops.matmul(x, g, trans_a=True, out=dW)
        c["numpy"] = lambda: np.matmul(x.T, g, out=dW)
    elif op == "g·Wᵀ":
        c["fastgd"] = lambda: ops.matmul(g, W, trans_b=True, out=gx)
        c["numpy"] = lambda: np.matmul(g, W.T, out=gx)
    else:
        gz = g.copy()

        def fastgd_bwd():
            gz[...] = g  # the kernel overwrites grad_out with grad_z; the copy is part of the cost
            return ops.dense_backward(gz, x, W, out, grad_x=gx, dW=dW, db=db, overwrite_grad_out=True)

        c["fastgd"] = fastgd_bwd
        c["numpy"] = lambda: baselines_gemm.numpy_dense_backward(g, x, W, out, gx, dW, db)
    if torch is not None:
        t = {name: torch.from_numpy(a) for name, a in
             dict(x=x, W=W, b=b, g=g, out=out, o=o, dW=dW, db=db, gx=gx).items()}
        if op == "fwd":
            c["torch"] = lambda: baselines_gemm.torch_dense_forward(torch, t["x"], t["W"], t["b"], t["o"])
        elif op == "x·W":
            c["torch"] = lambda: torch.mm(t["x"], t["W"], out=t["o"])
        elif op == "xᵀ·g":
            c["torch"] = lambda: torch.mm(t["x"].t(), t["g"], out=t["dW"])
        elif op == "g·Wᵀ":
            c["torch"] = lambda: torch.mm(t["g"], t["W"].t(), out=t["gx"])
        else:
            c["torch"] = lambda: baselines_gemm.torch_dense_backward(torch, t["g"], t["x"], t["W"], t["out"],
                                                                      t["gx"], t["dW"], t["db"])
    return c


_PEAKS: dict = {}


def peak(dtype, threads: int) -> float:
    """The FMA ceiling in GFLOP/s, measured once per run: the best of 5 tries,
    since a busy machine only ever lowers it."""
    key = (np.dtype(dtype).name, threads)
    if key not in _PEAKS:
        _PEAKS[key] = max(_core.peak_gflops(dtype, threads, 0.05) for _ in range(5))
    return _PEAKS[key]


def rows(quick: bool = False, thread_counts=None, dtypes=None) -> list[dict]:
    """One row per (dtype, threads, shape, op) with times, GFLOP/s, % of peak and ratios."""
    rng = np.random.default_rng(0)
    if dtypes is None:
        dtypes = [np.float32] if quick else [np.float32, np.float64]
    if thread_counts is None:
        thread_counts = sorted({1, _all_threads()})
    shapes = SHAPES[:1] + SHAPES[2:4] + SHAPES[4:5] if quick else SHAPES
    repeats, sample = (3, 0.02) if quick else (7, 0.05)
    out = []
    for dtype in dtypes:
        for threads in thread_counts:
            ceiling = peak(dtype, threads)
            with _timing.pinned_threads(threads):
                for n, k, m in shapes:
                    for op in OPS:
                        c = _contenders(op, n, k, m, dtype, rng)
                        t = _timing.measure_interleaved(c, repeats=repeats, sample_seconds=sample)
                        flops = 2.0 * n * k * m * (2 if op == "bwd" else 1)
                        gflops = flops / t["fastgd"] / 1e9
                        row = {
                            "dtype": np.dtype(dtype).name, "threads": threads, "n×k→m": f"{n}×{k}→{m}", "op": op,
                            "fastgd µs": f"{t['fastgd'] * 1e6:.1f}", "GFLOP/s": f"{gflops:.1f}",
                            "% peak": f"{100 * gflops / ceiling:.0f}%",
                            "numpy µs": f"{t['numpy'] * 1e6:.1f}",
                            "vs numpy": _timing.ratio(t["numpy"], t["fastgd"]),
                        }
                        if torch is not None:
                            row["torch µs"] = f"{t['torch'] * 1e6:.1f}"
                            row["vs torch"] = _timing.ratio(t["torch"], t["fastgd"])
                        out.append(row)
    return out


def markdown(quick: bool = False, thread_counts=None, dtypes=None) -> str:
    table = rows(quick, thread_counts, dtypes)
    peaks = ", ".join(f"{d} {th} thread(s): {g:.0f} GFLOP/s" for (d, th), g in _PEAKS.items())
    header = list(table[0])
    body = _timing.markdown_table(header, [[r[h] for h in header] for r in table])
    return f"Peak FMA rate (register-only loop, ISA {fastgd.config()['isa']}): {peaks}\n\n{body}"


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer shapes and repetitions, float32 only")
    p.add_argument("--threads", default="", help="comma-separated thread counts (default: 1 and all cores)")
    p.add_argument("--dtype", default="", help="comma-separated dtypes (default: float32,float64)")
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",") if t] or None
    dtypes = [np.dtype(d).type for d in args.dtype.split(",") if d] or None
    print("Measured in one run on:\n")
    for key, value in _timing.machine_info().items():
        print(f"- {key}: {value}")
    print()
    print(markdown(args.quick, threads, dtypes))


if __name__ == "__main__":
    main()
