"""asv: value and gradient of test functions and finite sums on a batch."""

import numpy as np

import optbench as ob


class TimeTestFunctions:
    params = (["sphere", "rosenbrock", "rastrigin", "ackley", "griewank", "styblinski-tang", "levy"], ["1x10", "64x100"])
    param_names = ["problem", "shape"]

    def setup(self, problem, shape):
        n_runs, dim = map(int, shape.split("x"))
        self.problem = ob.problems.create(problem, dim=dim)
        self.X = self.problem.initial_point(np.random.default_rng(0), n_runs)

    def time_value(self, problem, shape):
        self.problem.value(self.X)

    def time_value_and_grad(self, problem, shape):
        self.problem.value_and_grad(self.X)


class TimeFiniteSums:
    params = (["linear-regression", "logistic-regression", "lasso", "hinge-svm"], [None, 32])
    param_names = ["problem", "batch_size"]

    def setup(self, problem, batch_size):
        self.problem = ob.problems.create(problem)
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((64, self.problem.dim))
        self.batch = None if batch_size is None else rng.integers(0, self.problem.n_samples, (64, batch_size))

    def time_value_and_grad(self, problem, batch_size):
        self.problem.value_and_grad(self.X, self.batch)
