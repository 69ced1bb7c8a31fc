"""fastgd's fused loss + gradient vs NumPy and PyTorch, 1 thread, same run, interleaved.

    python benchmarks/compare_losses.py [--quick]

Contenders, each computing the mean loss and d loss / d pred:
  fastgd kernel  the fused C call as the model's training step makes it (targets prepared once)
  fastgd API     Loss.forward + Loss.backward (validates and converts the inputs every call)
  NumPy          benchmarks/baselines_losses.py
  torch          functional loss forward + autograd backward (pred.requires_grad)
Ratios > 1 mean fastgd is faster. Figures on a shared machine are noisy: compare ratios.
"""

from __future__ import annotations

import sys

import numpy as np

try:
    from benchmarks import _timing, baselines_losses
except ImportError:  # run as a script from the benchmarks directory
    import _timing
    import baselines_losses

import fastgd
from fastgd import _core, losses

torch = _timing.torch

CE_SHAPES = [(32, 10), (128, 10), (512, 10), (4096, 1000)]
OTHER_SHAPES = [(128, 10), (4096, 1000)]


def _case(name, n, c, dtype, rng):
    """(fastgd loss, pred, target for fastgd, numpy fn, torch fn or None)."""
    pred = rng.standard_normal((n, c)).astype(dtype)
    if name == "cross_entropy":
        target = rng.integers(0, c, n)
        loss = losses.SoftmaxCrossEntropy()
        np_fn = lambda: baselines_losses.softmax_cross_entropy(pred, target)  # noqa: E731
        torch_call = "cross_entropy"
    else:
        target = rng.uniform(0, 1, (n, c)).astype(dtype)
        loss = losses.get(name)
        np_fn = {"bce": lambda: baselines_losses.binary_cross_entropy_with_logits(pred, target),
                 "mse": lambda: baselines_losses.mse(pred, target),
                 "huber": lambda: baselines_losses.huber(pred, target)}[name]
        torch_call = {"bce": "binary_cross_entropy_with_logits", "mse": "mse_loss", "huber": "huber_loss"}[name]
    torch_fn = None
    if torch is not None:
        zt = torch.from_numpy(pred.copy()).requires_grad_(True)
        tt = torch.from_numpy(np.asarray(target))
        fn = getattr(torch.nn.functional, torch_call)

        def torch_fn():
            zt.grad = None
            out = fn(zt, tt)
            out.backward()
            return out.item()
    return loss, pred, target, np_fn, torch_fn


def rows(quick=False):
    rng = np.random.default_rng(0)
    cases = [("cross_entropy", s) for s in CE_SHAPES] + [(k, s) for k in ("bce", "mse", "huber")
                                                         for s in OTHER_SHAPES]
    if quick:
        cases = [("cross_entropy", (128, 10)), ("cross_entropy", (4096, 1000)), ("mse", (128, 10))]
    out = []
    with _timing.pinned_threads(1):
        for name, (n, c) in cases:
            for dtype in (np.float32, np.float64):
                loss, pred, target, np_fn, torch_fn = _case(name, n, c, dtype, rng)
                prepared = loss.prepare_target(target, c, pred.dtype, n_samples=n)
                grad = np.empty_like(pred)

                spec = loss._c_spec()

                def kernel():
                    return _core.loss_value_and_grad(pred, spec, prepared, None, None,
                                                     _core.REDUCE_MEAN, grad)

                def api():
                    loss.forward(pred, target)
                    return loss.backward()

                contenders = {"fastgd kernel": kernel, "fastgd API": api, "numpy": np_fn}
                if torch_fn is not None:
                    contenders["torch"] = torch_fn
                t = _timing.measure_interleaved(contenders, repeats=3 if quick else 7,
                                             sample_seconds=0.02 if quick else 0.05)
                row = {"loss": name, "shape": f"{n}x{c}", "dtype": np.dtype(dtype).name,
                       "fastgd kernel us": t["fastgd kernel"] * 1e6, "fastgd API us": t["fastgd API"] * 1e6,
                       "numpy us": t["numpy"] * 1e6,
                       "numpy / fastgd": t["numpy"] / t["fastgd kernel"]}
                if "torch" in t:
                    row["torch us"] = t["torch"] * 1e6
                    row["torch / fastgd"] = t["torch"] / t["fastgd kernel"]
                out.append(row)
    return out


def markdown(quick=False):
    """The loss table (1 thread, time per call of value + gradient) as Markdown."""
    header = ["loss", "shape", "dtype", "fastgd kernel µs", "fastgd API µs", "NumPy µs", "torch µs",
              "NumPy / fastgd", "torch / fastgd"]
    table = []
    for r in rows(quick=quick):
        table.append([r["loss"], r["shape"], r["dtype"], f"{r['fastgd kernel us']:.1f}",
                      f"{r['fastgd API us']:.1f}", f"{r['numpy us']:.1f}",
                      f"{r['torch us']:.1f}" if "torch us" in r else "-",
                      f"{r['numpy / fastgd']:.2f}x",
                      f"{r['torch / fastgd']:.2f}x" if "torch / fastgd" in r else "-"])
    return _timing.markdown_table(header, table)


def main(argv):
    print("Loss + gradient, 1 thread, time per call\n")
    for k, v in _timing.machine_info().items():
        print(f"- {k}: {v}")
    print()
    print(markdown(quick="--quick" in argv))


if __name__ == "__main__":
    main(sys.argv[1:])
