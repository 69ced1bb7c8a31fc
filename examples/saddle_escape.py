"""Gradient descent stalls near a saddle point; noisy gradient descent (Langevin dynamics) escapes.

f(x, y) = x² − y² + y⁴/4 has a saddle at the origin (Hessian eigenvalues +2 and −2) and two minima
at (0, ±√2). Started on the saddle's stable manifold y = 0, gradient descent walks straight into
the saddle and stops there: the gradient vanishes and fastgd.minimize reports
``stationary="saddle"``. Started a hair off it (y = 1e-10), it lingers about 200 steps while the
unstable direction grows by a factor 1 + 2ε per step. Adding Gaussian noise to each step,
θ ← θ − ε∇f + √(2ε/β)·ξ (stochastic gradient Langevin dynamics), pushes the iterate off the stable
manifold at once and the negative curvature does the rest.

Run:  python examples/saddle_escape.py   → examples/figures/saddle_escape.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from _figures import save  # noqa: E402
from fastgd.optim import SGD  # noqa: E402

LR = 0.05


def f(p):
    x, y = p[..., 0], p[..., 1]
    return x ** 2 - y ** 2 + 0.25 * y ** 4


def f_and_grad(p):
    return f(p), np.array([2 * p[0], -2 * p[1] + p[1] ** 3])


def langevin(beta, seed):
    """The gradient plus the noise that makes an SGD step of size LR a Langevin step."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(2.0 / (LR * beta))  # LR·scale·ξ = √(2·LR/β)·ξ

    def fun(p):
        value, g = f_and_grad(p)
        return value, g + scale * rng.standard_normal(2)
    return fun


def main(out=Path(__file__).parent / "figures" / "saddle_escape.png"):
    runs = {
        "GD from (1.5, 0)": fastgd.minimize(f_and_grad, [1.5, 0.0], jac=True, optimizer=SGD(lr=LR), max_iter=400,
                                            keep_trajectory=True),
        "GD from (1.5, 1e-10)": fastgd.minimize(f_and_grad, [1.5, 1e-10], jac=True, optimizer=SGD(lr=LR),
                                                max_iter=400, keep_trajectory=True),
        "Langevin from (1.5, 0), β = 1e4": fastgd.minimize(langevin(1e4, 0), [1.5, 0.0], jac=True,
                                                           optimizer=SGD(lr=LR), max_iter=400, tol=0.0,
                                                           keep_trajectory=True, stationary=False),
    }
    for name, r in runs.items():
        kind = r.get("stationary")
        near = int(np.argmax(np.abs(r.trajectory[:, 1]) > 1.0)) if np.any(np.abs(r.trajectory[:, 1]) > 1.0) else None
        print(f"{name:34s} ends at ({r.x[0]:+.4f}, {r.x[1]:+.4f}), f = {r.fun:+.4f}"
              + (f", classified {kind}" if kind else "")
              + (f"; |y| > 1 after {near} steps" if near is not None else "; never leaves the saddle"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    g = np.linspace(-2, 2, 300)
    X, Y = np.meshgrid(g, g)
    left.contour(X, Y, f(np.stack([X, Y], -1)), levels=30, cmap="viridis", linewidths=0.8)
    colors = ["tab:red", "tab:orange", "tab:blue"]
    for (name, r), c in zip(runs.items(), colors):
        left.plot(r.trajectory[:, 0], r.trajectory[:, 1], ".-", ms=2, lw=0.8, color=c, label=name)
        right.plot(f(r.trajectory), color=c, label=name, lw=3 if c == "tab:red" else 1.5,
                   zorder=3 if c == "tab:red" else 2)
    left.plot([0], [0], "kX", ms=10, label="saddle (eigenvalues +2, −2)")
    left.plot([0, 0], [-np.sqrt(2), np.sqrt(2)], "k*", ms=12, ls="none", label="minima (0, ±√2)")
    left.set_title("f = x² − y² + y⁴/4: paths of 400 steps, ε = 0.05")
    left.set_xlabel("x")
    left.set_ylabel("y")
    left.legend(fontsize=8, loc="lower left")
    right.set_xlabel("step")
    right.set_ylabel("f")
    right.set_title("f along the paths: GD converges to the saddle (f = 0)")
    right.legend(fontsize=8)
    save(fig, out)


if __name__ == "__main__":
    main()
