"""Gradient ascent on f(x) = 25 sin x − x² gets stuck on a local peak; random restarts find the global one.

A mountain climber starts at x0 = −2 and follows the slope uphill with
x ← x + λ f'(x). That climbs to the local maximum at x ≈ −4.356 (f ≈ 4.454), not
to the global maximum at x ≈ 1.454 (f ≈ 22.716). Running many climbers from
random points in [−10, 10] (one batched call of f per step) finds the global one.

Run:  python examples/ascent_local_vs_global.py   → examples/figures/ascent_local_vs_global.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from fastgd.optim import SGD  # noqa: E402


def f(x):
    return 25 * np.sin(x) - x ** 2


def f_and_grad(x):  # x: (d,) = (1,) for one climber, or (k, 1) for a batch
    return f(x[..., 0]), 25 * np.cos(x) - 2 * x


def main(out=Path(__file__).parent / "figures" / "ascent_local_vs_global.png"):
    one = fastgd.maximize(f_and_grad, -2.0, jac=True, optimizer=SGD(lr=0.01), keep_trajectory=True)
    print(f"from x0 = -2:  x = {one.x[0]:.4f}, f = {one.fun:.4f}  ({one.nit} steps, {one.message})")

    starts = np.random.default_rng(0).uniform(-10, 10, (12, 1))
    many = fastgd.maximize(f_and_grad, starts, jac=True, vectorized=True, optimizer=SGD(lr=0.01),
                           keep_trajectory=True)
    print(f"best of {len(starts)} random starts: x = {many.x[0]:.4f}, f = {many.fun:.4f}")

    grid = np.linspace(-10, 10, 1000)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax in (left, right):
        ax.plot(grid, f(grid), color="0.3", lw=1.5)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    path = one.trajectory[:, 0]
    left.plot(path, f(path), "o-", color="tab:red", ms=3, lw=1, label="ascent from $x_0=-2$")
    left.annotate(f"local max\nx={one.x[0]:.3f}, f={one.fun:.3f}", (one.x[0], one.fun),
                  xytext=(-9.5, 12), arrowprops={"arrowstyle": "->"})
    left.set_title("gradient ascent, λ = 0.01: stuck on a local peak")
    left.set_ylabel("f(x) = 25 sin x − x²")
    left.legend(loc="lower center")
    for i, r in enumerate(many.results):
        p = r.trajectory[:, 0]
        best = i == many.best_index
        right.plot(p, f(p), ".-", ms=2, lw=0.8, color="tab:green" if best else "tab:blue", alpha=0.9 if best else 0.5)
        right.plot(p[0], f(p[0]), "k|", ms=8)
    right.plot(many.x, [many.fun], "*", color="tab:green", ms=14,
               label=f"best of 12: x={many.x[0]:.3f}, f={many.fun:.3f}")
    right.set_title("12 random restarts (one batched call of f per step)")
    right.legend(loc="lower center")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
