"""asv benchmarks: the fused training step over the model sweep, one epoch of fit, and the
peak memory of fit on 60,000 x 784 float32 data."""

import numpy as np

import fastgd

SWEEP = ["784-256-128-10@32", "784-256-128-10@128", "784-256-128-10@512", "20-64-64-3@32", "784-1024-1024-10@256"]


def _model(widths, seed=0):
    layers = [fastgd.Dense(a, b) for a, b in zip(widths[:-2], widths[1:-1])]
    layers.append(fastgd.Dense(widths[-2], widths[-1], activation="identity"))
    return fastgd.Sequential(layers, dtype="float32", seed=seed)


def _parse(case):
    widths, batch = case.split("@")
    return [int(w) for w in widths.split("-")], int(batch)


class TrainStep:
    params = (SWEEP, [1, 2])
    param_names = ["model@batch", "threads"]

    def setup(self, case, threads):
        widths, batch = _parse(case)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(batch, widths[0])).astype(np.float32)
        self.y = rng.integers(0, widths[-1], size=batch)
        self.model = _model(widths)
        self.opt = fastgd.optim.Adam(lr=1e-4)
        self.loss = fastgd.losses.SoftmaxCrossEntropy()
        self.prev = fastgd.get_num_threads()
        fastgd.set_num_threads(threads)
        self.model.train_step(self.x, self.y, self.loss, self.opt)

    def teardown(self, case, threads):
        fastgd.set_num_threads(self.prev)

    def time_train_step(self, case, threads):
        self.model.train_step(self.x, self.y, self.loss, self.opt)

    def track_samples_per_second(self, case, threads):
        import time

        t0 = time.perf_counter()
        for _ in range(20):
            self.model.train_step(self.x, self.y, self.loss, self.opt)
        return 20 * self.x.shape[0] / (time.perf_counter() - t0)

    track_samples_per_second.unit = "samples/s"


class FitEpoch:
    """One epoch of fit on 60,000 x 784 float32 random data, 784-256-128-10, batch 128, Adam."""

    timeout = 300
    number = 1
    repeat = 2

    def setup(self):
        rng = np.random.default_rng(0)
        self.X = rng.normal(size=(60_000, 784)).astype(np.float32)
        self.y = rng.integers(0, 10, size=60_000)
        self.model = _model([784, 256, 128, 10])
        self.opt = fastgd.optim.Adam(lr=1e-4)

    def time_fit_epoch(self):
        self.model.fit(self.X, self.y, loss="softmax_cross_entropy", optimizer=self.opt, epochs=1, batch_size=128,
                       progress=False, seed=0)

    def peakmem_fit_epoch(self):
        self.model.fit(self.X, self.y, loss="softmax_cross_entropy", optimizer=self.opt, epochs=1, batch_size=128,
                       progress=False, seed=0)
