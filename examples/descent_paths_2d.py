"""Descent paths on f(x, y) = cos(3x + 2y) + cos(2x + 4y) − 2 sin(x + y).

The seed's two-variable example: the gradient is the direction of steepest ascent,
so descent follows −∇f. The figure shows the contour map with the (negative)
gradient field and the paths of plain gradient descent (fixed step) and of L-BFGS
(strong Wolfe line search) from the same starting points: different starts end in
different local minima.

Run:  python examples/descent_paths_2d.py   → examples/figures/descent_paths_2d.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from fastgd.optim import SGD  # noqa: E402


def f(x, y):
    return np.cos(3 * x + 2 * y) + np.cos(2 * x + 4 * y) - 2 * np.sin(x + y)


def grad(x, y):
    a, b, c = np.sin(3 * x + 2 * y), np.sin(2 * x + 4 * y), np.cos(x + y)
    return np.array([-3 * a - 2 * b - 2 * c, -2 * a - 4 * b - 2 * c])


def f_and_grad(p):
    return f(p[0], p[1]), grad(p[0], p[1])


STARTS = np.array([[-2.5, 2.5], [0.2, 2.6], [2.4, 1.0], [-1.0, -2.0], [1.8, -2.4], [-2.6, -0.3]])


def main(out=Path(__file__).parent / "figures" / "descent_paths_2d.png"):
    gd = fastgd.minimize(f_and_grad, STARTS, jac=True, optimizer=SGD(lr=0.05), max_iter=300,
                         keep_trajectory=True)
    lb = fastgd.minimize(f_and_grad, STARTS, jac=True, keep_trajectory=True)
    for i, (a, b) in enumerate(zip(gd.results, lb.results)):
        print(f"start {STARTS[i]}: GD λ=0.05 → {np.round(a.x, 3)} f={a.fun:.4f} ({a.nit} steps); "
              f"L-BFGS → {np.round(b.x, 3)} f={b.fun:.4f} ({b.nit} steps, {b.nfev} evaluations)")

    xs = np.linspace(-3, 3, 300)
    X, Y = np.meshgrid(xs, xs)
    fig, ax = plt.subplots(figsize=(7.2, 6.2))
    filled = ax.contourf(X, Y, f(X, Y), levels=30, cmap="viridis")
    fig.colorbar(filled, ax=ax, label="f(x, y)")
    q = np.linspace(-3, 3, 21)
    QX, QY = np.meshgrid(q, q)
    G = grad(QX, QY)
    ax.quiver(QX, QY, -G[0], -G[1], color="white", alpha=0.55, width=0.0025)
    for i in range(len(STARTS)):
        p = gd.results[i].trajectory
        ax.plot(p[:, 0], p[:, 1], ".-", color="tab:orange", ms=2.5, lw=1, label="gradient descent, λ=0.05" if i == 0 else None)
        p = lb.results[i].trajectory
        ax.plot(p[:, 0], p[:, 1], "o--", color="tab:red", ms=3.5, lw=1, label="L-BFGS" if i == 0 else None)
        ax.plot(*STARTS[i], "ws", ms=6, mec="k")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("cos(3x+2y) + cos(2x+4y) − 2 sin(x+y): −∇f and descent paths")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
