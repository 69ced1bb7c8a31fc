"""fastgd.minimize vs scipy.optimize.minimize(L-BFGS-B) and torch.optim.LBFGS / Adam.

Rows:
* whole solves of the chained Rosenbrock function (d = 2 and d = 1000) to a
  gradient norm of 1e-6 (L-BFGS) — the same NumPy objective for fastgd and scipy;
  torch evaluates it with autograd on a float64 tensor, as a torch user would;
* a fixed number of Adam iterations (per-iteration overhead of the driver);
* the two-loop recursion alone, C (fastgd) vs NumPy, on big flat buffers.

Run:  python benchmarks/compare_minimize.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastgd  # noqa: E402
from _timing import machine_info, markdown_table, optional_import, pinned_threads, ratio, measure_interleaved  # noqa: E402
from baselines_minimize import rosenbrock, rosenbrock_start, two_loop_numpy  # noqa: E402
from fastgd import _core  # noqa: E402

torch = optional_import("torch")
scipy_optimize = None
if optional_import("scipy") is not None:
    import scipy.optimize as scipy_optimize  # noqa: E402

GTOL = 1e-6


def _fastgd_lbfgs(d):
    def solve():
        return fastgd.minimize(rosenbrock, rosenbrock_start(d), jac=True, tol=GTOL, max_iter=20000)
    return solve


def _scipy_lbfgs(d):
    def solve():
        return scipy_optimize.minimize(rosenbrock, rosenbrock_start(d), jac=True, method="L-BFGS-B",
                                       options={"maxiter": 20000, "gtol": GTOL, "ftol": 0.0, "maxcor": 10})
    return solve


def _torch_rosenbrock(x):
    head, tail = x[:-1], x[1:]
    return torch.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2)


def _torch_lbfgs(d):
    def solve():
        x = torch.tensor(rosenbrock_start(d), requires_grad=True)
        opt = torch.optim.LBFGS([x], lr=1.0, history_size=10, max_iter=20000, tolerance_grad=GTOL,
                                tolerance_change=0.0, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _torch_rosenbrock(x)
            loss.backward()
            return loss
        opt.step(closure)
        return x
    return solve


def _fastgd_adam(d, iters):
    def solve():
        return fastgd.minimize(rosenbrock, rosenbrock_start(d), jac=True, optimizer=fastgd.optim.Adam(lr=1e-2),
                               max_iter=iters, tol=0.0)
    return solve


def _torch_adam(d, iters):
    def solve():
        x = torch.tensor(rosenbrock_start(d), requires_grad=True)
        opt = torch.optim.Adam([x], lr=1e-2)
        for _ in range(iters):
            opt.zero_grad()
            loss = _torch_rosenbrock(x)
            loss.backward()
            opt.step()
        return x
    return solve


def _two_loop(n, m, dtype):
    rng = np.random.default_rng(0)
    s = rng.standard_normal((m, n)).astype(dtype)
    y = (s * rng.uniform(0.5, 2.0, (m, n))).astype(dtype)
    rho = 1.0 / np.einsum("ij,ij->i", s.astype(np.float64), y.astype(np.float64))
    g = rng.standard_normal(n).astype(dtype)
    d = np.empty(n, dtype)
    alpha = np.zeros(m)
    return ((lambda: _core.lbfgs_direction(d, g, s, y, rho, alpha, m, m - 1, 0.5)),
            (lambda: two_loop_numpy(g, s, y, rho, m, m - 1, 0.5)))


def _fmt(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} µs"


def rows(quick=False):
    """One dict per measured case: case, threads, fastgd/baseline times and ratios."""
    repeats = 3 if quick else 7
    out = []
    sizes = [2, 100] if quick else [2, 1000]
    with pinned_threads(1):
        for d in sizes:
            contenders = {"fastgd LBFGS": _fastgd_lbfgs(d)}
            if scipy_optimize is not None:
                contenders["scipy L-BFGS-B"] = _scipy_lbfgs(d)
            if torch is not None:
                contenders["torch LBFGS"] = _torch_lbfgs(d)
            times = measure_interleaved(contenders, repeats=repeats, sample_seconds=0.05 if quick else 0.2)
            ours = contenders["fastgd LBFGS"]()
            row = {"case": f"Rosenbrock d={d}, L-BFGS to ‖g‖≤{GTOL:g}", "threads": 1,
                   "fastgd": _fmt(times["fastgd LBFGS"]), "fastgd nit/nfev": f"{ours.nit}/{ours.nfev}"}
            if scipy_optimize is not None:
                theirs = contenders["scipy L-BFGS-B"]()
                row["scipy"] = _fmt(times["scipy L-BFGS-B"])
                row["scipy nit/nfev"] = f"{theirs.nit}/{theirs.nfev}"
                row["vs scipy"] = ratio(times["scipy L-BFGS-B"], times["fastgd LBFGS"])
            if torch is not None:
                row["torch"] = _fmt(times["torch LBFGS"])
                row["vs torch"] = ratio(times["torch LBFGS"], times["fastgd LBFGS"])
            out.append(row)

        iters = 200 if quick else 2000
        for d in sizes:
            if torch is None:
                continue
            times = measure_interleaved({"fastgd": _fastgd_adam(d, iters), "torch": _torch_adam(d, iters)},
                                     repeats=repeats)
            out.append({"case": f"Rosenbrock d={d}, {iters} Adam steps", "threads": 1,
                        "fastgd": _fmt(times["fastgd"]), "torch": _fmt(times["torch"]),
                        "vs torch": ratio(times["torch"], times["fastgd"])})

        for n, dtype in ([(100_000, np.float64)] if quick else
                         [(100_000, np.float64), (1_000_000, np.float32), (1_000_000, np.float64)]):
            fast, numpy_version = _two_loop(n, 10, dtype)
            times = measure_interleaved({"fastgd": fast, "numpy": numpy_version}, repeats=repeats)
            out.append({"case": f"two-loop recursion n={n:,} m=10 {np.dtype(dtype).name}", "threads": 1,
                        "fastgd": _fmt(times["fastgd"]), "numpy": _fmt(times["numpy"]),
                        "vs numpy": ratio(times["numpy"], times["fastgd"])})
    return out


def markdown(quick=False):
    results = rows(quick=quick)
    header = ["case", "threads", "fastgd", "fastgd nit/nfev", "scipy", "scipy nit/nfev", "vs scipy",
              "torch", "vs torch", "numpy", "vs numpy"]
    header = [h for h in header if any(h in r for r in results)]
    return markdown_table(header, [[r.get(h, "") for h in header] for r in results])


def main():
    for key, value in machine_info().items():
        print(f"- {key}: {value}")
    print()
    print(markdown("--quick" in sys.argv))


if __name__ == "__main__":
    main()
