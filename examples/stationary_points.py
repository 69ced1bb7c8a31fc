"""Every stationary point of f(x, y) = cos(3x + 2y) + cos(2x + 4y) − 2 sin(x + y) in a box,
found by multi-start and classified by the signs of the Hessian's eigenvalues.

Minimizing f finds minima only, maximizing finds maxima; a saddle attracts neither. The
stationary points are the zeros of the gradient, so each start minimizes ½‖∇f‖² (whose
gradient is H·∇f, one Hessian-vector product); the distinct zeros are then classified with
fastgd.hessian: all eigenvalues positive is a minimum, all negative a maximum, mixed signs a
saddle. fastgd.minimize / maximize report the same classification in ``res.stationary``.

Run:  python examples/stationary_points.py   → examples/figures/stationary_points.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from _figures import save  # noqa: E402
from fastgd import curvature  # noqa: E402

BOX = (-2.0, 2.0)


def f(p):
    x, y = p[..., 0], p[..., 1]
    return np.cos(3 * x + 2 * y) + np.cos(2 * x + 4 * y) - 2 * np.sin(x + y)


def grad(p):
    x, y = p[0], p[1]
    a, b, c = -np.sin(3 * x + 2 * y), -np.sin(2 * x + 4 * y), -2 * np.cos(x + y)
    return np.array([3 * a + 2 * b + c, 2 * a + 4 * b + c])


def hess(p):
    x, y = p[0], p[1]
    a, b, c = -np.cos(3 * x + 2 * y), -np.cos(2 * x + 4 * y), 2 * np.sin(x + y)
    return np.array([[9 * a + 4 * b + c, 6 * a + 8 * b + c], [6 * a + 8 * b + c, 4 * a + 16 * b + c]])


def half_grad_norm_sq(p):
    g = grad(p)
    return 0.5 * g @ g, hess(p) @ g


def main(out=Path(__file__).parent / "figures" / "stationary_points.png"):
    ticks = np.linspace(BOX[0], BOX[1], 13)
    starts = np.array([[a, b] for a in ticks for b in ticks])
    points = []
    for s in starts:
        r = fastgd.minimize(half_grad_norm_sq, s, jac=True, tol=1e-12, stationary=False)
        p = r.x
        if np.linalg.norm(grad(p)) > 1e-8 or not (BOX[0] <= p.min() and p.max() <= BOX[1]):
            continue  # a local minimum of ‖∇f‖² that is not a zero of ∇f, or outside the box
        if all(np.linalg.norm(p - q) > 1e-6 for q in points):
            points.append(p)
    kinds = [curvature.classify_stationary(np.linalg.eigvalsh(fastgd.hessian(None, p, jac=grad))) for p in points]
    order = np.lexsort(np.array(points).T[::-1])
    print(f"{len(points)} stationary points in {BOX[0]} <= x, y <= {BOX[1]} from {len(starts)} starts:")
    for i in order:
        lam = np.linalg.eigvalsh(hess(points[i]))
        print(f"  ({points[i][0]:+.4f}, {points[i][1]:+.4f})  f = {f(points[i]):+.4f}  "
              f"eigenvalues {lam[0]:+8.3f} {lam[1]:+8.3f}  {kinds[i]}")
    # the same classification from minimize/maximize themselves
    lo = fastgd.minimize(lambda p: (f(p), grad(p)), [0.5, 0.5], jac=True)
    hi = fastgd.maximize(lambda p: (f(p), grad(p)), [-0.5, -0.5], jac=True)
    print(f"minimize from (0.5, 0.5): {lo.x.round(4)} is a {lo.stationary}, eigenvalues {lo.hess_eigenvalues.round(3)}")
    print(f"maximize from (-0.5, -0.5): {hi.x.round(4)} is a {hi.stationary}, eigenvalues {hi.hess_eigenvalues.round(3)}")

    g = np.linspace(BOX[0], BOX[1], 400)
    X, Y = np.meshgrid(g, g)
    Z = f(np.stack([X, Y], axis=-1))
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    cs = ax.contourf(X, Y, Z, levels=30, cmap="viridis")
    ax.contour(X, Y, Z, levels=30, colors="k", linewidths=0.3, alpha=0.5)
    fig.colorbar(cs, ax=ax, label="f(x, y)")
    style = {"minimum": ("o", "tab:blue"), "maximum": ("^", "tab:red"), "saddle": ("X", "white"),
             "degenerate": ("s", "tab:gray")}
    for kind, (marker, color) in style.items():
        pts = np.array([p for p, k in zip(points, kinds) if k == kind]).reshape(-1, 2)
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], marker=marker, s=90, c=color, edgecolors="k",
                       label=f"{kind} ({len(pts)})", zorder=3)
    ax.set_title("f = cos(3x+2y) + cos(2x+4y) − 2 sin(x+y): every stationary point,\n"
                 "classified by the signs of the Hessian's eigenvalues")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="lower left", framealpha=0.9)
    save(fig, out)


if __name__ == "__main__":
    main()
