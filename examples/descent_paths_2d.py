"""Descent paths on f(x, y) = cos(3x + 2y) + cos(2x + 4y) − 2 sin(x + y).

A function of two variables with many local minima: the gradient is the direction of
steepest ascent, so descent follows −∇f. The figure shows the contour map with the (negative)
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

    # the plotted square holds every path (an L-BFGS line search may step past the starts' box)
    points = np.concatenate([r.trajectory for r in gd.results + lb.results])
    lim = max(3.0, np.ceil(np.abs(points).max() * 4 + 1) / 4)
    xs = np.linspace(-lim, lim, 300)
    X, Y = np.meshgrid(xs, xs)
    fig, ax = plt.subplots(figsize=(7.6, 7.4))
    filled = ax.contourf(X, Y, f(X, Y), levels=30, cmap="viridis")
    fig.colorbar(filled, ax=ax, label="f(x, y)", shrink=0.85)
    q = np.linspace(-lim, lim, 21)
    QX, QY = np.meshgrid(q, q)
    G = grad(QX, QY)
    ax.quiver(QX, QY, -G[0], -G[1], color="0.85", alpha=0.4, width=0.0022)
    for i in range(len(STARTS)):
        p = gd.results[i].trajectory
        ax.plot(p[:, 0], p[:, 1], "-", color="tab:orange", lw=2.4, solid_capstyle="round",
                label="gradient descent, λ = 0.05 (every step)" if i == 0 else None)
        p = lb.results[i].trajectory
        ax.plot(p[:, 0], p[:, 1], "--", color="white", lw=1.4, marker="o", ms=5, mfc="tab:red", mec="white",
                label="L-BFGS (every iterate)" if i == 0 else None)
        ax.plot(*STARTS[i], "s", color="white", ms=8, mec="black", label="start" if i == 0 else None)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("f = cos(3x+2y) + cos(2x+4y) − 2 sin(x+y):\n−∇f (arrows) and descent paths from six starts")
    # a dark box, as the map: the white L-BFGS line shows in the legend too
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3, fontsize=10, facecolor="0.3",
              framealpha=1.0, labelcolor="white")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
