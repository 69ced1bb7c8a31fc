"""fastgd.sklearn vs scikit-learn's MLPs: fit seconds and test scores, same hyperparameters.

    python benchmarks/compare_sklearn.py [--quick] [--only TEXT]

Dense data sets (digits, breast_cancer: accuracy; diabetes, make_regression: R²) and sparse
ones (make_classification with 99% of its entries zeroed, and the TF-IDF of generated
documents: accuracy; scipy.sparse CSR), a 75/25 split, inputs (and regression targets)
standardized on the training part (scaled without centring for sparse input). Both libraries
get the same estimator parameters (hidden (100,), relu, adam unless the row says lbfgs, batch
"auto", scikit-learn's defaults otherwise, ``random_state=0``) and run with 1 thread
(threadpoolctl + fastgd.threads); the fits are timed in interleaved rounds, best of 3 (1 with
--quick).
With float64 input fastgd trains in float64 and the two runs are the same run: identical
initialization, batches and updates (for lbfgs, L-BFGS-B's iterations: SciPy's in scikit-learn,
fastgd's own driver with the same semantics in fastgd), so the scores agree to rounding and
both stop after the same number of epochs; the time ratio is the
speed-up of the training itself. A float32 fastgd column (``dtype="float32"``) is given too.
"""

from __future__ import annotations

import argparse
import time
import os
import sys
import warnings

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script
from benchmarks._timing import machine_info, markdown_table, optional_import, pinned_threads


def _generated_text(n_docs, seed=0):
    """n_docs documents over a 20,000-word vocabulary, in 4 classes that each favour 300 words,
    and their labels."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(20000)])
    labels = rng.integers(0, 4, n_docs)
    docs = []
    for c in labels:
        topical = rng.integers(300 * c, 300 * (c + 1), rng.integers(5, 30))
        common = rng.zipf(1.3, rng.integers(40, 120)) % vocabulary.size
        docs.append(" ".join(vocabulary[np.concatenate([topical, common])]))
    return docs, labels


def _datasets(quick):
    import scipy.sparse
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_classification, make_regression
    from sklearn.feature_extraction.text import TfidfVectorizer

    out = []
    X, y = load_digits(return_X_y=True)
    out.append(("digits", "clf", X, y, {}))
    out.append(("digits, lbfgs", "clf", X, y, {"solver": "lbfgs"}))
    X, y = load_breast_cancer(return_X_y=True)
    out.append(("breast_cancer", "clf", X, y, {}))
    X, y = load_diabetes(return_X_y=True)
    out.append(("diabetes", "reg", X, y, {}))
    n = 2000 if quick else 5000
    X, y = make_regression(n_samples=n, n_features=50, n_informative=30, noise=10.0, random_state=0)
    out.append((f"make_regression {n}x50", "reg", X, y, {}))
    n = 2000 if quick else 8000
    X, y = make_classification(n_samples=n, n_features=2000, n_informative=200, n_classes=3, random_state=0)
    keep = np.random.default_rng(0).random(X.shape) < 0.01
    X = scipy.sparse.csr_matrix(np.where(keep, X, 0.0))
    out.append((f"make_classification 1% dense, sparse", "clf", X, y, {}))
    docs, y = _generated_text(n)
    X = TfidfVectorizer().fit_transform(docs)
    out.append(("TF-IDF of generated text, sparse", "clf", X, y, {}))
    out.append(("TF-IDF of generated text, sparse, lbfgs", "clf", X, y, {"solver": "lbfgs"}))
    return out


def _split(task, X, y):
    import scipy.sparse
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0,
                                          stratify=y if task == "clf" else None)
    sc = StandardScaler(with_mean=not scipy.sparse.issparse(Xtr)).fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    if task == "reg":
        mu, sd = ytr.mean(), ytr.std()
        ytr, yte = (ytr - mu) / sd, (yte - mu) / sd
    return Xtr, Xte, ytr, yte


def _timed_fits(makers, Xtr, ytr, rounds):
    """Best fit seconds of each maker over `rounds` interleaved rounds (the machine's load
    drifts; interleaving spreads it evenly), and the last fitted estimator of each."""
    best = {k: np.inf for k in makers}
    fitted = {}
    for _ in range(rounds):
        for k, make in makers.items():
            est = make()
            t0 = time.perf_counter()
            est.fit(Xtr, ytr)
            best[k] = min(best[k], time.perf_counter() - t0)
            fitted[k] = est
    return best, fitted


def rows(quick=False, only=None) -> list[dict]:
    """One dict per data set (those whose name contains `only`, when given): fit seconds and test
    score of scikit-learn, fastgd (float64) and fastgd (float32), the epochs run, and the
    speed-up."""
    if optional_import("sklearn") is None:
        return []
    from sklearn import neural_network as sknn

    from fastgd.sklearn import MLPClassifier, MLPRegressor

    base = dict(hidden_layer_sizes=(100,), random_state=0, max_iter=60 if quick else 200)
    out = []
    warnings.filterwarnings("ignore", category=Warning, module="sklearn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, task, X, y, extra in _datasets(quick):
            if only is not None and only not in name:
                continue
            params = dict(base, **extra)
            Xtr, Xte, ytr, yte = _split(task, X, y)
            sk_cls, fg_cls = (sknn.MLPClassifier, MLPClassifier) if task == "clf" else (sknn.MLPRegressor,
                                                                                        MLPRegressor)
            with pinned_threads(1):
                fg_cls(**params).fit(Xtr[:64], ytr[:64])  # warm-up (first-call costs)
                t, est = _timed_fits({"sklearn": lambda: sk_cls(**params), "fastgd": lambda: fg_cls(**params),
                                      "fastgd_f32": lambda: fg_cls(dtype="float32", **params)},
                                     Xtr, ytr, 1 if quick else 3)
            sk, fg, fg32 = est["sklearn"], est["fastgd"], est["fastgd_f32"]
            t_sk, t_fg, t_32 = t["sklearn"], t["fastgd"], t["fastgd_f32"]
            out.append({
                "dataset": name, "task": task, "n_train": Xtr.shape[0], "n_features": Xtr.shape[1],
                "metric": "accuracy" if task == "clf" else "R²",
                "seconds": {"sklearn": t_sk, "fastgd": t_fg, "fastgd_f32": t_32},
                "score": {"sklearn": sk.score(Xte, yte), "fastgd": fg.score(Xte, yte),
                          "fastgd_f32": fg32.score(Xte, yte)},
                "n_iter": {"sklearn": sk.n_iter_, "fastgd": fg.n_iter_, "fastgd_f32": fg32.n_iter_},
                "speedup": t_sk / t_fg, "speedup_f32": t_sk / t_32,
            })
    return out


def markdown(quick=False, only=None) -> str:
    table = []
    for r in rows(quick, only):
        s, sc, it = r["seconds"], r["score"], r["n_iter"]
        table.append([
            f"{r['dataset']} ({r['n_train']}x{r['n_features']})", r["metric"],
            f"{s['sklearn']:.2f}", f"{s['fastgd']:.2f}", f"**{r['speedup']:.1f}x**",
            f"{s['fastgd_f32']:.2f} ({r['speedup_f32']:.1f}x)",
            f"{sc['sklearn']:.4f}", f"{sc['fastgd']:.4f}", f"{sc['fastgd_f32']:.4f}",
            f"{it['sklearn']} / {it['fastgd']} / {it['fastgd_f32']}",
        ])
    return markdown_table(["data set (train)", "metric", "sklearn fit s", "fastgd fit s (f64)", "speed-up",
                           "fastgd f32 s (speed-up)", "sklearn score", "fastgd score", "fastgd f32 score",
                           "epochs sk / f64 / f32"], table)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", help="run the data sets whose name contains this text (e.g. lbfgs)")
    args = p.parse_args()
    for k, v in machine_info().items():
        print(f"- {k}: {v}")
    print("- MLP (100,) relu, adam (or lbfgs), batch auto, scikit-learn defaults, random_state=0, 1 thread\n")
    print(markdown(args.quick, args.only))


if __name__ == "__main__":
    main()
