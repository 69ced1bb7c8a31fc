"""The Hessian's eigenvalue density of a small network, before and after training.

fastgd.curvature.spectrum estimates the density by stochastic Lanczos quadrature from exact
Hessian-vector products (model.hvp), never forming the Hessian; top_eigenvalues gives the largest
ones by Lanczos. At initialization the spectrum is spread over both signs (many directions of
negative curvature: the parameters sit near saddles); after training most of the mass sits near
zero with a few large outliers, the picture of Ghorbani, Krishnan & Xiao (ICML 2019).

Run:  python examples/hessian_spectrum.py   → examples/figures/hessian_spectrum.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from _figures import save  # noqa: E402
from fastgd import curvature  # noqa: E402


def main(out=Path(__file__).parent / "figures" / "hessian_spectrum.png"):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 8))
    y = (X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) > 0).astype(int)
    model = fastgd.Sequential([fastgd.Dense(8, 32, activation="tanh"), fastgd.Dense(32, 32, activation="tanh"),
                               fastgd.Dense(32, 2, activation="identity")], dtype="float64", seed=0)
    loss = "softmax_cross_entropy"
    print(f"{model.n_params} parameters")
    before = curvature.spectrum(model, X, y, loss=loss, steps=80, n_vectors=8)
    top_before = curvature.top_eigenvalues(model, X, y, k=3, loss=loss)
    history = model.fit(X, y, loss=loss, optimizer=fastgd.optim.Adam(lr=1e-2), epochs=200, batch_size=None,
                        progress=False, curvature=10, seed=0)
    after = curvature.spectrum(model, X, y, loss=loss, steps=80, n_vectors=8)
    top_after = curvature.top_eigenvalues(model, X, y, k=3, loss=loss)
    print(f"loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}")
    print(f"top eigenvalues at init {np.round(top_before, 4)}, after training {np.round(top_after, 4)}")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, s, top, title in ((axes[0], before, top_before, "at initialization"),
                              (axes[1], after, top_after, "after 200 Adam steps")):
        ax.semilogy(s["grid"], np.maximum(s["density"], 1e-6))
        for lam in top:
            ax.axvline(lam, color="tab:red", ls=":", lw=1)
        ax.set_ylim(1e-5, None)
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("density")
        ax.set_title(f"Hessian spectrum {title}\n(SLQ, 8 vectors × 80 steps; dotted: top 3 by Lanczos)")
    # the probes of curvature=10, per training step: λmax on the probe batch and gᵀHg/gᵀg
    history.plot(("lambda_max", "grad_curvature"), ax=axes[2], logy=True,
                 title="fit(curvature=10): curvature during training")
    save(fig, out)


if __name__ == "__main__":
    main()
