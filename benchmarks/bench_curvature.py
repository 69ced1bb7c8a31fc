"""asv benchmarks: Hessian-vector and Gauss-Newton products of a model (against one gradient on the
same batch), and NewtonCG on the chained Rosenbrock function."""

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
