"""asv benchmarks: Hessian-vector and Gauss-Newton products of a model (against one gradient on the
same batch), the probe of fit(curvature=...), and NewtonCG on the chained Rosenbrock function."""

import numpy as np

import fastgd


class ModelProducts:
    """784-256-128-10, softmax cross-entropy, float32."""

    params = ([128, 512], [1, 2])
    param_names = ["batch", "threads"]

    def setup(self, batch, threads):
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(batch, 784)).astype(np.float32)
        self.y = rng.integers(0, 10, size=batch)
        self.model = fastgd.Sequential([fastgd.Dense(784, 256), fastgd.Dense(256, 128),
                                        fastgd.Dense(128, 10, activation="identity")], seed=0)
        self.v = rng.normal(size=self.model.n_params).astype(np.float32)
        self.loss = fastgd.losses.SoftmaxCrossEntropy()
        self.prev = fastgd.get_num_threads()
        fastgd.set_num_threads(threads)
        self.model.hvp(self.x, self.y, self.v, loss=self.loss)

    def teardown(self, batch, threads):
        fastgd.set_num_threads(self.prev)

    def time_gradient(self, batch, threads):
        self.model.loss_and_grad(self.x, self.y, self.loss)

    def time_hvp(self, batch, threads):
        self.model.hvp(self.x, self.y, self.v, loss=self.loss)

    def time_gnvp(self, batch, threads):
        self.model.gnvp(self.x, self.y, self.v, loss=self.loss)


class CurvatureProbe:
    """One probe of fit(curvature=...) with the SGD step it follows: 784-256-128-10, float32, a
    probe batch of 128 rows (an epoch of 60,000 samples at batch 128 is 469 steps)."""

    def setup(self):
        from fastgd import curvature

        rng = np.random.default_rng(0)
        X = rng.normal(size=(1024, 784)).astype(np.float32)
        y = rng.integers(0, 10, size=1024)
        self.model = fastgd.Sequential([fastgd.Dense(784, 256), fastgd.Dense(256, 128),
                                        fastgd.Dense(128, 10, activation="identity")], seed=0)
        loss = fastgd.losses.SoftmaxCrossEntropy()
        self.x, self.target, self.sw = self.model._prepare(X, y, loss, None)
        self.spec = self.model._loss_spec(loss)
        self.optimizer = fastgd.optim.SGD(lr=0.01)
        self.monitor = curvature.CurvatureMonitor(self.model, self.x, self.target, self.sw, loss, self.optimizer,
                                                  "epoch")
        self.prev = fastgd.get_num_threads()
        fastgd.set_num_threads(1)
        self.time_probe()

    def teardown(self):
        fastgd.set_num_threads(self.prev)

    def _step(self):
        self.model._train_step(self.x, loss_spec=self.spec, target=self.target, sample_weight=self.sw, n=128,
                               optimizer=self.optimizer)

    def time_step(self):
        self._step()

    def time_probe(self):
        self.monitor.before()
        self._step()
        self.monitor.after(0, 0)


class NewtonCGRosenbrock:
    params = [2, 100]
    param_names = ["d"]

    def setup(self, d):
        from scipy.optimize import rosen, rosen_der, rosen_hess_prod

        self.fun = lambda x: (rosen(x), rosen_der(x))
        self.hessp = rosen_hess_prod
        self.x0 = np.array([-1.2, 1.0]) if d == 2 else np.full(d, -1.2)

    def time_solve(self, d):
        fastgd.minimize(self.fun, self.x0, jac=True, optimizer=fastgd.NewtonCG(), hessp=self.hessp, tol=1e-8,
                        max_iter=10_000, stationary=False)
