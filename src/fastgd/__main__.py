"""``python -m fastgd``: the demo training run (``--help`` for options, ``--config`` for the build)."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import fastgd


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m fastgd",
        description="Train a multi-layer perceptron with fastgd on a data set that needs no download "
                    "(3-class spirals generated on the spot, or scikit-learn's bundled digits) and print "
                    "test accuracy and training throughput.")
    p.add_argument("--dataset", choices=("spirals", "digits"), default="spirals",
                   help="spirals: 30,000 points in 20 features (2 informative), generated; "
                        "digits: scikit-learn's 8x8 digits (needs scikit-learn)")
    p.add_argument("--hidden", default="64,64", help="hidden layer widths, comma separated (default 64,64)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training data (default 20)")
    p.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: fastgd's default)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--seed", type=int, default=0, help="seed for data, initialization and shuffling")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.add_argument("--config", action="store_true", help="print fastgd's build configuration and exit")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.config:
        fastgd.show_config()
        return 0
    if args.threads is not None:
        try:
            fastgd.set_num_threads(args.threads)
        except ValueError as exc:
            print(f"python -m fastgd: --threads: {exc}", file=sys.stderr)
            return 2
    try:
        hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    except ValueError:
        hidden = [0]
    if min(hidden, default=1) < 1:
        print(f"python -m fastgd: --hidden must be comma-separated integers >= 1, got {args.hidden!r}",
              file=sys.stderr)
        return 2
    if args.dataset == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            print("--dataset digits needs scikit-learn: pip install scikit-learn "
                  "(or, in a fastgd checkout, pip install \".[sklearn]\")", file=sys.stderr)
            return 2
    try:
        return _train(args, hidden)
    except (ValueError, TypeError) as exc:
        # a value the options let through but the library refuses (--hidden 0, --seed -1,
        # --batch-size 0, ...): its message names what was wrong, without a traceback
        print(f"python -m fastgd: {exc}", file=sys.stderr)
        return 2


def _train(args, hidden):
    if args.dataset == "digits":
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(args.dtype)
        y = y.astype(np.int64)
    else:
        X, y = fastgd.datasets.make_spirals(30_000, 3, n_features=20, dtype=args.dtype, seed=args.seed)
    X_train, X_test, y_train, y_test = fastgd.datasets.train_test_split(X, y, test_size=0.2, seed=args.seed)
    n_classes = int(y.max()) + 1
    widths = [X.shape[1]] + hidden
    layers = [fastgd.Dense(a, b) for a, b in zip(widths[:-1], widths[1:])]
    layers.append(fastgd.Dense(widths[-1], n_classes, activation="identity", weight_init="glorot_uniform"))
    model = fastgd.Sequential(layers, dtype=args.dtype, seed=args.seed)
    print(f"fastgd {fastgd.__version__} on {fastgd.config()['isa']} with {fastgd.get_num_threads()} thread(s)")
    print(f"data: {args.dataset}, {len(X_train)} training / {len(X_test)} test samples, {X.shape[1]} features, "
          f"{n_classes} classes")
    print(f"model: {'-'.join(str(w) for w in widths + [n_classes])} MLP, {model.n_params:,} parameters, "
          f"Adam(lr={args.lr}), batch {args.batch_size}")
    t0 = time.perf_counter()
    opt = fastgd.optim.Adam(lr=args.lr)
    history = model.fit(X_train, y_train, loss="softmax_cross_entropy", optimizer=opt, epochs=args.epochs,
                        batch_size=args.batch_size, validation_split=0.1, metrics=("accuracy",),
                        progress=not args.no_progress, seed=args.seed)
    seconds = time.perf_counter() - t0
    result = model.evaluate(X_test, y_test, metrics=("accuracy",))
    n_seen = len(history.epochs) * int(len(X_train) * 0.9)
    print(f"trained {len(history.epochs)} epochs in {seconds:.2f} s "
          f"({n_seen / seconds:,.0f} samples/s including validation)")
    print(f"test loss {result['loss']:.4f}, test accuracy {100 * result['accuracy']:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
