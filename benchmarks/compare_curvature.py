"""Curvature: the cost of model.hvp against one gradient, of fit(curvature="epoch") against a plain
epoch, and NewtonCG against scipy's Newton-CG, trust-ncg and trust-krylov.

Rows:
* model.hvp / model.gnvp vs one gradient (forward + loss + backward) of 784-256-128-10 on a batch of
  512, float32, 1 thread; PyTorch's double-backward Hessian-vector product vs its own gradient beside;
* one epoch of 60,000 random samples (batch 128, SGD) with and without curvature="epoch";
* NewtonCG vs scipy.optimize.minimize(method="Newton-CG" / "trust-ncg" / "trust-krylov") on the same
  Hessian-vector products (time, iterations, products, evaluations): the classic suite below, a 50-d
  quadratic with eigenvalues over 1…1e6, and L2-regularized logistic regression on 10,000 samples;
* the classic suite of tests/test_curvature.py (Rosenbrock 2/10/100-d, Beale, Powell singular, Wood,
  Zakharov, Trid): fastgd.minimize's defaults vs scipy.optimize.minimize's defaults, total time.

Run:  python benchmarks/compare_curvature.py [--quick] [--only=hvp|epoch|newton|classic]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastgd  # noqa: E402
from _timing import machine_info, markdown_table, measure_interleaved, optional_import, pinned_threads  # noqa: E402
from fastgd import curvature  # noqa: E402

torch = optional_import("torch")
scipy_optimize = None
if optional_import("scipy") is not None:
    import scipy.optimize as scipy_optimize  # noqa: E402


def _fmt(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} µs"


def _mlp(dtype="float32"):
    return fastgd.Sequential([fastgd.Dense(784, 256), fastgd.Dense(256, 128),
                              fastgd.Dense(128, 10, activation="identity")], dtype=dtype, seed=0)


def hvp_rows(repeats):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 784)).astype(np.float32)
    y = rng.integers(0, 10, 512)
    m = _mlp()
    loss = fastgd.losses.get("softmax_cross_entropy")
    x, target, sw = m._prepare(X, y, loss, None)
    v = rng.standard_normal(m.n_params).astype(np.float32)
    spec = m._loss_spec(loss)
    contenders = {
        "gradient": lambda: m._train_step(x, loss_spec=spec, target=target, sample_weight=sw),
        "hvp": lambda: m._hvp(x, v, loss_spec=spec, target=target, sample_weight=sw, gauss_newton=False,
                              denominator=512.0),
        "gnvp": lambda: m._hvp(x, v, loss_spec=spec, target=target, sample_weight=sw, gauss_newton=True,
                               denominator=512.0),
    }
    if torch is not None:
        params = [torch.tensor(L.W.copy(), requires_grad=True) for L in m.layers] + \
                 [torch.tensor(L.b.copy(), requires_grad=True) for L in m.layers]
        tx, ty = torch.tensor(X), torch.tensor(y)
        tv = [torch.randn_like(p) for p in params]

        def tloss():
            h = tx
            for i in range(3):
                h = h @ params[i] + params[3 + i]
                if i < 2:
                    h = torch.relu(h)
            return torch.nn.functional.cross_entropy(h, ty)

        def tgrad():
            return torch.autograd.grad(tloss(), params)

        def thvp():
            g = torch.autograd.grad(tloss(), params, create_graph=True)
            return torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, tv)), params)
        contenders["torch gradient"] = tgrad
        contenders["torch hvp"] = thvp
    with pinned_threads(1):
        t = measure_interleaved(contenders, repeats=repeats, sample_seconds=0.2)
    rows = [["fastgd model.hvp", _fmt(t["hvp"]), _fmt(t["gradient"]), f"{t['hvp'] / t['gradient']:.2f}"],
            ["fastgd model.gnvp", _fmt(t["gnvp"]), _fmt(t["gradient"]), f"{t['gnvp'] / t['gradient']:.2f}"]]
    if torch is not None:
        rows.append(["torch double-backward hvp", _fmt(t["torch hvp"]), _fmt(t["torch gradient"]),
                     f"{t['torch hvp'] / t['torch gradient']:.2f}"])
    return markdown_table(["784-256-128-10, batch 512, f32, 1 thread", "product", "gradient", "ratio"], rows)


def epoch_rows(repeats, n):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)

    def epoch(curvature):
        def run():
            m = _mlp()
            m.fit(X, y, loss="softmax_cross_entropy", optimizer=fastgd.optim.SGD(lr=0.01), epochs=1,
                  batch_size=128, progress=False, seed=0, curvature=curvature)
        return run

    # one probe alone (what curvature="epoch" adds to each epoch), on a model mid-training
    m = _mlp()
    loss = fastgd.losses.get("softmax_cross_entropy")
    x, target, sw = m._prepare(X, y, loss, None)
    optimizer = fastgd.optim.SGD(lr=0.01)
    spec = m._loss_spec(loss)
    monitor = curvature.CurvatureMonitor(m, x, target, sw, loss, optimizer, "epoch")

    def step():
        m._train_step(x, loss_spec=spec, target=target, sample_weight=sw, n=128, optimizer=optimizer)

    def probe():
        monitor.before()
        step()
        monitor.after(0, 0)
    # thread CPU time (the scheduler's gaps on a shared machine left out), in pairs run back to
    # back in alternating order: the median of the pairs' ratios, with its quartiles, follows
    # the machine's drift where separate minima would not
    load = os.getloadavg()[0]
    plain, with_probe, ratios = [], [], []
    with pinned_threads(1):
        for r in range(repeats):
            pair = {}
            for name in (("plain", "curvature") if r % 2 == 0 else ("curvature", "plain")):
                start = time.thread_time()
                epoch(None if name == "plain" else "epoch")()
                pair[name] = time.thread_time() - start
            plain.append(pair["plain"])
            with_probe.append(pair["curvature"])
            ratios.append(pair["curvature"] / pair["plain"] - 1.0)
        t = measure_interleaved({"step": step, "probe": probe}, repeats=max(repeats, 7), sample_seconds=0.2,
                                clock=time.thread_time)
    load = f"load average {load:.1f} → {os.getloadavg()[0]:.1f}"
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    epoch_time = float(np.median(plain))
    return markdown_table([f"one epoch, {n:,} samples, batch 128, f32, 1 thread ({load})", "thread CPU time",
                           "overhead"],
                          [["plain (median)", _fmt(epoch_time), ""],
                           [f'curvature="epoch" (median; {repeats} alternating pairs)', _fmt(float(np.median(with_probe))),
                            f"{median:+.1%} (quartiles {q1:+.1%}, {q3:+.1%})"],
                           ["one probe alone (its step left out)", _fmt(t["probe"] - t["step"]),
                            f"{(t['probe'] - t['step']) / epoch_time:.1%}"]])


def _logistic(n=10_000, d=50, lam=1e-3):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) + rng.standard_normal(n) > 0).astype(float)

    def fun(w):
        z = X @ w
        p = 1.0 / (1.0 + np.exp(-z))
        return np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * w @ w, X.T @ (p - y) / n + lam * w

    def hessp(w, v):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        return X.T @ (p * (1 - p) * (X @ v)) / n + lam * v
    return fun, hessp, np.zeros(d)


def _ill_conditioned_quadratic(d=50, seed=20261122):
    """½xᵀAx − bᵀx with A's eigenvalues spread over 1…1e6 (the seed of tests/test_curvature.py:
    ‖x*‖ = 1.27, beyond the first trust radius of 1)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = Q @ np.diag(np.logspace(0, 6, d)) @ Q.T
    A = 0.5 * (A + A.T)
    b = rng.standard_normal(d)
    return (lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b)), (lambda x, v: A @ v), np.zeros(d)


def _newton_problems():
    """name -> (fun, hessp, x0): exact products where the problem has them, central differences
    of the gradient (fastgd.hvp) for the rest of the classic suite, the same for every solver."""
    from scipy.optimize import rosen, rosen_der, rosen_hess_prod

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_curvature import CLASSIC

    def rosenbrock(x):
        return rosen(x), rosen_der(x)
    problems = {}
    for name, (fun, x0) in CLASSIC.items():
        exact = name.startswith("rosenbrock")
        hessp = rosen_hess_prod if exact else (lambda f: lambda x, v: fastgd.hvp(f, x, v))(fun)
        problems[name + ("" if exact else " (fd products)")] = (rosenbrock if exact else fun, hessp, x0)
    problems["quadratic d=50, κ=1e6"] = _ill_conditioned_quadratic()
    problems["logistic regression 10,000 x 50"] = _logistic()
    return problems


def _counted(fun, hessp):
    counts = {"nfev": 0, "nhvp": 0}

    def f(x):
        counts["nfev"] += 1
        return fun(x)

    def h(x, v):
        counts["nhvp"] += 1
        return hessp(x, v)
    return f, h, counts


def newton_rows(repeats):
    """fastgd.NewtonCG (defaults) vs scipy's Newton-CG, trust-ncg and trust-krylov (defaults
    but the tolerance) to ‖g‖ ≈ 1e-8, on the same objective and products: thread CPU time,
    iterations, products and evaluations."""
    import warnings

    rows = []
    for name, (fun, hessp, x0) in _newton_problems().items():
        def solvers(f, h):
            return {
                "fastgd NewtonCG": lambda: fastgd.minimize(f, x0, jac=True, optimizer=fastgd.NewtonCG(), hessp=h,
                                                           tol=1e-8, max_iter=10_000, stationary=False),
                "scipy Newton-CG": lambda: scipy_optimize.minimize(f, x0, jac=True, hessp=h, method="Newton-CG",
                                                                   options={"xtol": 1e-12}),
                "scipy trust-ncg": lambda: scipy_optimize.minimize(f, x0, jac=True, hessp=h, method="trust-ncg",
                                                                   options={"gtol": 1e-8}),
                "scipy trust-krylov": lambda: scipy_optimize.minimize(f, x0, jac=True, hessp=h,
                                                                      method="trust-krylov", options={"gtol": 1e-8}),
            }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's "desired error not necessarily achieved"
            with pinned_threads(1):
                t = measure_interleaved(solvers(fun, hessp), repeats=repeats, sample_seconds=0.05,
                                        clock=time.thread_time)
            for solver in t:
                f, h, counts = _counted(fun, hessp)
                res = solvers(f, h)[solver]()
                g = np.linalg.norm(fun(res.x)[1])
                rows.append([name, solver, _fmt(t[solver]), res.nit, counts["nhvp"], counts["nfev"],
                             f"{res.fun:.6e}", f"{g:.1e}"])
    return markdown_table(["problem", "solver", "time", "iterations", "products", "evaluations", "f", "‖g‖"],
                          rows)


def classic_rows(repeats):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_curvature import CLASSIC

    def suite(solve):
        return lambda: [solve(fun, x0) for fun, x0 in CLASSIC.values()]
    solvers = {"fastgd.minimize": suite(lambda fun, x0: fastgd.minimize(fun, x0, jac=True)),
               "scipy.optimize.minimize": suite(lambda fun, x0: scipy_optimize.minimize(fun, x0, jac=True))}
    with pinned_threads(1):
        t = measure_interleaved(solvers, repeats=repeats, sample_seconds=0.1)
    rows = []
    for name, run in solvers.items():
        results = run()
        rows.append([name, _fmt(t[name]), sum(bool(r.success) for r in results), sum(int(r.nfev) for r in results)])
    return markdown_table([f"classic suite ({len(CLASSIC)} problems), defaults", "total time", "solved", "nfev"],
                          rows)


def main(quick=False, only=None):
    repeats = 3 if quick else 7
    print("\n".join(f"- {k}: {v}" for k, v in machine_info().items()))
    sections = {"hvp": lambda: hvp_rows(repeats),
                "epoch": lambda: epoch_rows(2 if quick else 9, 10_000 if quick else 60_000)}
    if scipy_optimize is not None:
        sections.update(newton=lambda: newton_rows(repeats), classic=lambda: classic_rows(repeats))
    for name, rows in sections.items():
        if only is None or name == only:
            print()
            print(rows())


if __name__ == "__main__":
    choice = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]
    main(quick="--quick" in sys.argv, only=choice[0] if choice else None)
