"""asv: value and value_and_grad of bbob functions on a batch, and the cost of making an instance."""

import numpy as np

from optbench.objectives.bbob import BBOB


class TimeBBOB:
    params = ([1, 3, 7, 10, 16, 17, 20, 21, 23, 24], ["1x10", "64x40"])
    param_names = ["function", "shape"]

    def setup(self, function, shape):
        n_runs, dim = map(int, shape.split("x"))
        self.problem = BBOB(function=function, instance=1, dim=dim)
        self.X = self.problem.initial_point(np.random.default_rng(0), n_runs)

    def time_value(self, function, shape):
        self.problem.value(self.X)

    def time_value_and_grad(self, function, shape):
        self.problem.value_and_grad(self.X)


class TimeBBOBInstance:
    """Making an instance: COCO's generator, rotations and constants (cached across instances of a process)."""

    params = [2, 3, 15, 21]
    param_names = ["function"]

    def setup(self, function):
        from optbench.objectives import bbob

        self.clear = lambda: (bbob.bbob_unif.cache_clear(), bbob._rotation_cached.cache_clear())

    def time_create_dim40(self, function):
        self.clear()
        BBOB(function=function, instance=7, dim=40)
