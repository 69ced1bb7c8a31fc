"""fastgd's fused optimizer steps vs array-wise NumPy and torch.optim (fused / foreach), and the
memory bandwidth a triad reaches in the same run.

    python benchmarks/compare_optim.py [--quick]

Sizes: 235,146 parameters (the 784-256-128-10 MLP: six arrays for NumPy and torch, one flat buffer
for fastgd) and 2^24 = 16,777,216 (one array). float32, 1 thread and 2 threads. The triad is
``a = b + s·c`` on 2^24-element float32 arrays (torch.add(b, c, alpha=s, out=a): one vectorized,
threaded pass). STREAM counts it as 3 arrays per call; the memory system also reads `a` before
overwriting it (write-allocate), so it really moves 4, and "% of triad" compares with that
figure (the conservative choice: an in-place optimizer step writes only arrays it has just read,
so it has no write-allocate traffic). An optimizer step is counted as the arrays it must read and
write: Adam reads p, g, m, v and writes p, m, v (7), SGD 3, momentum 5, AdaGrad 5.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fastgd  # noqa: E402
from benchmarks._timing import (  # noqa: E402
    machine_info, markdown_table, pinned_threads, ratio, measure_interleaved, torch)
from benchmarks.baselines_optim import NumpyAdaGrad, NumpyAdam, NumpySGD  # noqa: E402

MLP_SHAPES = [(784, 256), (256,), (256, 128), (128,), (128, 10), (10,)]
BIG = 1 << 24
DTYPE = np.float32

# name: (fastgd factory, NumPy factory, torch class name, torch kwargs, arrays streamed per step)
OPTIMIZERS = {
    "Adam": (lambda: fastgd.optim.Adam(1e-3), lambda ps: NumpyAdam(ps, 1e-3), "Adam", {"lr": 1e-3}, 7),
    "SGD": (lambda: fastgd.optim.SGD(1e-3), lambda ps: NumpySGD(ps, 1e-3), "SGD", {"lr": 1e-3}, 3),
    "momentum": (lambda: fastgd.optim.SGD(1e-3, momentum=0.9), lambda ps: NumpySGD(ps, 1e-3, 0.9),
                 "SGD", {"lr": 1e-3, "momentum": 0.9}, 5),
    "AdaGrad": (lambda: fastgd.optim.AdaGrad(1e-2), lambda ps: NumpyAdaGrad(ps, 1e-2), "Adagrad",
                {"lr": 1e-2}, 5),
}


def _split(flat, shapes):
    out, at = [], 0
    for s in shapes:
        size = int(np.prod(s))
        out.append(flat[at:at + size].reshape(s))
        at += size
    return out


def triad_contender(n):
    """a = b + s·c over n float32 elements (torch: one vectorized, threaded pass), or None."""
    if torch is None:
        return None
    a, b, c = (torch.ones(n) for _ in range(3))
    return lambda: torch.add(b, c, alpha=0.5, out=a)


def _torch_contenders(name, kwargs, arrays_p, arrays_g):
    if torch is None:
        return {}
    out = {}
    for mode in ("fused", "foreach"):
        tp = [torch.from_numpy(p.copy()).requires_grad_(True) for p in arrays_p]
        for t, g in zip(tp, arrays_g):
            t.grad = torch.from_numpy(g.copy())
        try:
            opt = getattr(torch.optim, name)(tp, **kwargs, **{mode: True})
        except (TypeError, RuntimeError, ValueError):
            continue
        out[f"torch {mode}"] = opt.step
    return out


def rows(quick=False):
    """One dict per (optimizer, size, threads) with seconds per step and ratios."""
    rng = np.random.default_rng(0)
    repeats = 3 if quick else 7
    sizes = {"235,146 (MLP)": (sum(int(np.prod(s)) for s in MLP_SHAPES), MLP_SHAPES),
             "16,777,216": (BIG, [(BIG,)])}
    names = ["Adam", "SGD"] if quick else list(OPTIMIZERS)
    result = []
    for threads in (1, 2):
        with pinned_threads(threads):
            for size_name, (n, shapes) in sizes.items():
                flat_p = rng.standard_normal(n).astype(DTYPE)
                flat_g = (rng.standard_normal(n) * 1e-2).astype(DTYPE)
                for name in names:
                    make_fast, make_np, torch_name, torch_kwargs, streams = OPTIMIZERS[name]
                    p_fast, opt = flat_p.copy(), make_fast()
                    np_p, np_g = _split(flat_p.copy(), shapes), _split(flat_g.copy(), shapes)
                    np_opt = make_np(np_p)
                    contenders = {
                        "fastgd": lambda: opt.step(p_fast, flat_g),
                        "NumPy": lambda: np_opt.step(np_p, np_g),
                    }
                    contenders.update(_torch_contenders(torch_name, torch_kwargs, _split(flat_p, shapes),
                                                        _split(flat_g, shapes)))
                    # The triad runs interleaved with the 16M contenders: the shared machine's
                    # bandwidth drifts, so the ceiling is measured in the same moments.
                    triad = triad_contender(BIG) if n == BIG else None
                    if triad:
                        contenders["triad"] = triad
                    t = measure_interleaved(contenders, repeats=repeats)
                    row = {"optimizer": name, "params": size_name, "threads": threads,
                           **{f"{k}_s": v for k, v in t.items()}}
                    bw = streams * 4 * n / t["fastgd"]
                    row["fastgd_GBps"] = bw / 1e9
                    if "triad" in t:
                        triad_bw = 4 * 4 * BIG / t["triad"]
                        row["triad_GBps"] = triad_bw / 1e9
                        row["pct_triad"] = 100 * bw / triad_bw
                    result.append(row)
                    del contenders, opt, np_opt
    return result


def _fmt_time(s):
    return "" if s is None else (f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs")


def markdown(quick=False):
    """The optimizer-step table (float32, seconds per step; ratios > 1: fastgd faster) as Markdown."""
    header = ["optimizer", "params", "threads", "fastgd", "NumPy", "torch fused", "torch foreach",
              "vs NumPy", "vs torch fused", "vs torch foreach", "fastgd GB/s", "triad GB/s", "% of triad"]
    table = []
    for r in rows(quick):
        f = r["fastgd_s"]
        table.append([
            r["optimizer"], r["params"], r["threads"], _fmt_time(f), _fmt_time(r.get("NumPy_s")),
            _fmt_time(r.get("torch fused_s")), _fmt_time(r.get("torch foreach_s")),
            ratio(r["NumPy_s"], f),
            ratio(r["torch fused_s"], f) if "torch fused_s" in r else "n/a",
            ratio(r["torch foreach_s"], f) if "torch foreach_s" in r else "n/a",
            f"{r['fastgd_GBps']:.1f}", f"{r['triad_GBps']:.1f}" if "triad_GBps" in r else "",
            f"{r['pct_triad']:.0f}%" if "pct_triad" in r else ""])
    return markdown_table(header, table)


def main():
    print("Optimizer step, float32, seconds per step (best of interleaved rounds); "
          "ratios > 1 mean fastgd is faster.\n")
    print(markdown("--quick" in sys.argv))
    print()
    for k, v in machine_info().items():
        print(f"- {k}: {v}")


if __name__ == "__main__":
    main()
