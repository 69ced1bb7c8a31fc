"""The learning-rate experiment: too large oscillates, too small crawls.

The demonstration is often written for f(x) = x + sin x, but the behaviour it
describes belongs to f(x) = x·sin x from x0 = 2.5 (x + sin x is monotone,
f' = 1 + cos x >= 0, and has no minimum to converge to). For x·sin x, plain gradient descent x ← x − λ f'(x):

* λ = 1    oscillates between two points around the minimum at 0 (f''(0) = 2, so
           the error is multiplied by 1 − 2 = −1 each step; it decays very slowly,
           x ≈ −0.087 after 100 steps);
* λ = 0.1  converges to the local minimum at x ≈ 4.913;
* λ = 0.01 is still crawling towards it after 100 steps (x ≈ 4.81).

The right panel runs the same three learning rates on x + sin x, which just drifts
left towards its flat points at x = −π, −3π, ...

Run:  python examples/learning_rate.py   → examples/figures/learning_rate.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from fastgd.optim import SGD  # noqa: E402


def x_sin_x(x):
    return x[0] * np.sin(x[0]), np.array([np.sin(x[0]) + x[0] * np.cos(x[0])])


def x_plus_sin_x(x):
    return x[0] + np.sin(x[0]), np.array([1 + np.cos(x[0])])


RATES = {1.0: "tab:red", 0.1: "tab:green", 0.01: "tab:blue"}


def run(fun, lr):
    return fastgd.minimize(fun, 2.5, jac=True, optimizer=SGD(lr=lr), max_iter=100, tol=0.0,
                           keep_trajectory=True)


def main(out=Path(__file__).parent / "figures" / "learning_rate.png"):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    grid = np.linspace(-4, 8, 600)
    axes[0].plot(grid, grid * np.sin(grid), color="0.3", label="x·sin x")
    axes[0].plot(grid, grid + np.sin(grid), color="0.6", ls="--", label="x + sin x (as often written)")
    axes[0].axvline(2.5, color="k", lw=0.8, ls=":")
    axes[0].set_title("the two functions, start x₀ = 2.5")
    axes[0].legend()
    for lr, color in RATES.items():
        r = run(x_sin_x, lr)
        axes[1].plot(np.arange(r.nit + 1), r.trajectory[:, 0], ".-", color=color, ms=2.5, lw=0.8, label=f"λ = {lr}")
        print(f"x·sin x, λ={lr}: x = {r.x[0]:+.4f} after {r.nit} steps ({r.message})")
        s = run(x_plus_sin_x, lr)
        axes[2].plot(np.arange(s.nit + 1), s.trajectory[:, 0], ".-", color=color, ms=2.5, lw=0.8, label=f"λ = {lr}")
        print(f"x + sin x, λ={lr}: x_100={s.x[0]:+.4f}")
    axes[1].axhline(4.913, color="0.5", lw=0.8, ls="--")
    axes[1].annotate("local min x ≈ 4.913", (60, 4.913), xytext=(45, 3.3), arrowprops={"arrowstyle": "->"})
    axes[1].set_title("x·sin x: iterates x_n")
    axes[2].set_title("x + sin x: no minimum, descent drifts left")
    for ax in axes[1:]:
        ax.set_xlabel("step n")
        ax.set_ylabel("x_n")
        ax.legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
