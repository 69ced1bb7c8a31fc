"""asv benchmarks: fit of fastgd.sklearn's MLPs (and scikit-learn's, same parameters) on the
four data sets of compare_sklearn.py, 1 thread; test scores tracked."""

import warnings

import numpy as np

DATASETS = ["digits", "breast_cancer", "diabetes", "make_regression"]


def _data(name):
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_regression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loaders = {"digits": lambda: load_digits(return_X_y=True), "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
               "diabetes": lambda: load_diabetes(return_X_y=True),
               "make_regression": lambda: make_regression(n_samples=5000, n_features=50, n_informative=30, noise=10.0,
                                                          random_state=0)}
    X, y = loaders[name]()
    clf = name in ("digits", "breast_cancer")
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y if clf else None)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    if not clf:
        mu, sd = ytr.mean(), ytr.std()
        ytr, yte = (ytr - mu) / sd, (yte - mu) / sd
    return clf, Xtr, Xte, ytr, yte


class MLPFit:
    params = (DATASETS, ["fastgd", "fastgd_f32", "sklearn"])
    param_names = ["dataset", "library"]
    timeout = 600
    number = 1
    repeat = 2

    def setup(self, dataset, library):
        import fastgd
        from sklearn import neural_network as sknn

        from fastgd import sklearn as fgsk

        clf, self.Xtr, self.Xte, self.ytr, self.yte = _data(dataset)
        kw = dict(hidden_layer_sizes=(100,), random_state=0, max_iter=200)
        if library == "sklearn":
            cls = sknn.MLPClassifier if clf else sknn.MLPRegressor
        else:
            cls = fgsk.MLPClassifier if clf else fgsk.MLPRegressor
            kw["dtype"] = "float32" if library == "fastgd_f32" else "float64"
        self.make = lambda: cls(**kw)
        self.prev = fastgd.get_num_threads()
        fastgd.set_num_threads(1)
        try:
            from threadpoolctl import threadpool_limits

            self.limits = threadpool_limits(1)
        except ImportError:
            self.limits = None
        warnings.simplefilter("ignore")

    def teardown(self, dataset, library):
        import fastgd

        fastgd.set_num_threads(self.prev)
        if self.limits is not None:
            self.limits.restore_original_limits()

    def time_fit(self, dataset, library):
        self.make().fit(self.Xtr, self.ytr)

    def track_test_score(self, dataset, library):
        return float(self.make().fit(self.Xtr, self.ytr).score(self.Xte, self.yte))

    track_test_score.unit = "accuracy or R2"
