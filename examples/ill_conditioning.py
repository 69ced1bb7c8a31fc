"""Ill-conditioning: the gradient norm rises while the loss falls.

The second-order Taylor expansion of a cost J along the gradient g, for a step of size ε,

    J(θ − εg) ≈ J(θ) − ε·gᵀg + ½ε²·gᵀHg,

lowers the cost only while ½ε²·gᵀHg < ε·gᵀg. On a quadratic J = ½θᵀAθ whose eigenvalues span
1…1e4, gradient descent with ε just above 2/λmax lowers J for hundreds of steps (the cost lives in
the many low-curvature directions, which keep improving) while ‖g‖ grows (the gradient lives in
the top direction, where each step multiplies the error by |1 − ελmax| > 1). fit(curvature=...)
reports the same quantities for a network: gᵀg, gᵀHg/gᵀg and λmax; the right panel trains an
MLP by full-batch gradient descent with a learning rate that ends up past 2/λmax (fastgd warns
once) and shows lr·λmax and the curvature along the gradient beside the loss.

Run:  python examples/ill_conditioning.py   → examples/figures/ill_conditioning.png
"""

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from _figures import save  # noqa: E402
from fastgd.optim import SGD  # noqa: E402


def quadratic(d=40, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.logspace(0, 4, d)
    A = (Q * lam) @ Q.T
    A = 0.5 * (A + A.T)
    # most of the initial error along the low-curvature directions, a little along the top one
    x0 = Q @ np.where(lam < lam[-1], 1.0 / lam, 1e-8)
    return A, lam, x0


def main(out=Path(__file__).parent / "figures" / "ill_conditioning.png"):
    A, lam, x0 = quadratic()
    fun = lambda x: (0.5 * x @ A @ x, A @ x)  # noqa: E731
    lr = 2.05 / lam[-1]
    res = fastgd.minimize(fun, x0, jac=True, optimizer=SGD(lr=lr), max_iter=300, tol=0.0, keep_trajectory=True,
                          stationary=False)
    path = res.trajectory
    loss = np.einsum("ij,jk,ik->i", path, A, path) * 0.5
    gnorm = np.linalg.norm(path @ A, axis=1)
    grads = path @ A
    curv = np.einsum("ij,jk,ik->i", grads, A, grads) / np.einsum("ij,ij->i", grads, grads)
    k = int(np.argmax(np.diff(loss) > 0)) if np.any(np.diff(loss) > 0) else len(loss) - 1
    j = int(np.argmin(gnorm[:k + 1]))
    print(f"quadratic, λ in [1, 1e4], lr = 2.05/λmax: from step {j} to step {k} the loss falls "
          f"{loss[j]:.4g} -> {loss[k]:.4g} while ‖g‖ rises {gnorm[j]:.3g} -> {gnorm[k]:.3g}")

    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 10))
    y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(int)
    m = fastgd.Sequential([fastgd.Dense(10, 64, activation="tanh"), fastgd.Dense(64, 2, activation="identity")],
                          dtype="float64", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit(X, y, loss="softmax_cross_entropy", optimizer=SGD(lr=1.5), epochs=80, batch_size=None,
                  progress=False, curvature=1, seed=0)
    for w in caught:
        print("warning:", w.message)
    c = h.curvature
    print(f"MLP, full-batch GD lr = 1.5, fit(curvature=1): lr·λmax {min(c['lr_lambda_max']):.1f}–"
          f"{max(c['lr_lambda_max']):.1f} over {len(c['step'])} steps while the loss falls "
          f"{h['loss'][0]:.3f} -> {h['loss'][-1]:.3f}")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ax.semilogy(loss, label="loss J(θ)")
    ax.semilogy(gnorm, label="gradient norm ‖g‖")
    ax.axvspan(j, k, color="tab:orange", alpha=0.15, label="loss ↓ while ‖g‖ ↑")
    ax.set_xlabel("gradient descent step")
    ax.set_title(f"quadratic, κ = 1e4, ε = 2.05/λmax:\nthe loss falls while ‖g‖ grows (steps {j}–{k})")
    ax.legend()
    ax = axes[1]
    ax.plot(curv * lr, label="ε·gᵀHg/gᵀg")
    ax.axhline(2.0, color="tab:red", ls="--", lw=1, label="2: ½ε²gᵀHg = εgᵀg")
    ax.set_xlabel("gradient descent step")
    ax.set_title("curvature along the gradient, in units of 1/ε")
    ax.legend()
    ax = axes[2]
    steps = np.array(c["step"])
    ax.plot(steps, np.array(c["lr_lambda_max"]), label="lr·λmax (Lanczos on HVPs)")
    ax.plot(steps, 1.5 * np.array(c["grad_curvature"]), label="lr·gᵀHg/gᵀg")
    ax.axhline(2.0, color="tab:red", ls="--", lw=1, label="stability limit 2")
    ax2 = ax.twinx()
    ax2.plot(steps, c["loss"], color="k", lw=1, label="loss")
    ax2.set_ylabel("loss")
    ax.legend(loc="center right", fontsize=8)
    ax.set_title('MLP, full-batch GD lr = 1.5, fit(curvature=1): the edge of stability')
    ax.set_xlabel("full-batch step")
    save(fig, out)


if __name__ == "__main__":
    main()
