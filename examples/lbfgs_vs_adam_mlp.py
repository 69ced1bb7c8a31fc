"""Full-batch L-BFGS vs Adam on a small MLP, at the same number of gradient evaluations.

A smooth regression problem (y = sin 3x + 0.3 x² on [−2, 2], 256 points), a 1-32-32-1
tanh network with MSE loss, written in NumPy as a closure ``closure(params) ->
(loss, grads)`` over one flat parameter buffer — exactly the interface
:meth:`fastgd.LBFGS.step` takes (and that ``Model.fit(batch_size=None,
optimizer=fastgd.LBFGS())`` drives). Adam steps once per gradient; L-BFGS may spend
several gradients per step in its line search, so the x-axis counts gradient
evaluations for both.

Run:  python examples/lbfgs_vs_adam_mlp.py   → examples/figures/lbfgs_vs_adam_mlp.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastgd  # noqa: E402
from fastgd.optim import Adam  # noqa: E402

SIZES = [1, 32, 32, 1]


def make_problem(n=256, seed=0):
    x = np.linspace(-2, 2, n)[:, None]
    y = np.sin(3 * x) + 0.3 * x ** 2
    rng = np.random.default_rng(seed)
    shapes = [(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])]
    params = np.concatenate([np.concatenate([rng.normal(0, 1 / np.sqrt(a), a * b), np.zeros(b)])
                             for a, b in shapes])
    return x, y, params, shapes


def unpack(flat, shapes):
    layers, offset = [], 0
    for a, b in shapes:
        W = flat[offset:offset + a * b].reshape(a, b)
        offset += a * b
        layers.append((W, flat[offset:offset + b]))
        offset += b
    return layers


def mlp_closure(x, y, shapes):
    """closure(params) -> (MSE loss, flat gradient) for the tanh MLP."""
    def closure(params):
        grads = np.empty_like(params)
        layers, grad_layers = unpack(params, shapes), unpack(grads, shapes)
        activations = [x]
        for i, (W, b) in enumerate(layers):
            z = activations[-1] @ W + b
            activations.append(z if i == len(layers) - 1 else np.tanh(z))
        residual = activations[-1] - y
        loss = float(np.mean(residual ** 2))
        grad_out = 2 * residual / residual.size
        for i in range(len(layers) - 1, -1, -1):
            W, _ = layers[i]
            dW, db = grad_layers[i]
            dW[...] = activations[i].T @ grad_out
            db[...] = grad_out.sum(axis=0)
            if i > 0:
                grad_out = (grad_out @ W.T) * (1 - activations[i] ** 2)
        return loss, grads
    return closure


def train_lbfgs(closure, params, budget):
    opt = fastgd.LBFGS(history_size=20)
    evaluations, losses = [0], [closure(params)[0]]
    while evaluations[-1] < budget:
        loss = opt.step(closure, params)
        evaluations.append(evaluations[-1] + opt.last_nfev)
        losses.append(loss)
        if opt.last_status != "ok":
            break
    return np.array(evaluations), np.array(losses)


def train_adam(closure, params, budget, lr):
    opt = Adam(lr=lr)
    losses = []
    for _ in range(budget):
        loss, grads = closure(params)
        losses.append(loss)
        opt.step(params, grads)
    losses.append(closure(params)[0])
    return np.arange(budget + 1), np.array(losses)


def main(out=Path(__file__).parent / "figures" / "lbfgs_vs_adam_mlp.png", budget=1000):
    x, y, params0, shapes = make_problem()
    closure = mlp_closure(x, y, shapes)
    fig, ax = plt.subplots(figsize=(7, 5))
    ev, losses = train_lbfgs(closure, params0.copy(), budget)
    ax.semilogy(ev, losses, color="tab:red", label="L-BFGS (strong Wolfe), history 20")
    print(f"L-BFGS: loss {losses[ev <= budget][-1]:.3e} after {ev[ev <= budget][-1]} gradient evaluations")
    for lr, color in ((1e-3, "tab:cyan"), (1e-2, "tab:blue"), (3e-2, "tab:purple")):
        ev_a, losses_a = train_adam(closure, params0.copy(), budget, lr)
        ax.semilogy(ev_a, losses_a, color=color, label=f"Adam, lr={lr:g}")
        print(f"Adam lr={lr:g}: loss {losses_a[-1]:.3e} after {budget} gradient evaluations")
    ax.set_xlabel("gradient evaluations (full batch)")
    ax.set_ylabel("training MSE")
    ax.set_xlim(0, budget)
    ax.set_title("1-32-32-1 tanh MLP on sin 3x + 0.3x²: full-batch L-BFGS vs Adam")
    ax.grid(alpha=0.3, which="both")
    # below the axes, where it cannot hide a curve
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
