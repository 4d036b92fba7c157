"""asv: one direction + step of every method, and one line-search step."""

import numpy as np

import optbench as ob
from optbench.engine.context import Evaluator, StepContext

SHAPES = ["1x10", "64x100"]


def _batch(shape: str, seed: int = 0) -> np.ndarray:
    n_runs, dim = map(int, shape.split("x"))
    return np.random.default_rng(seed).standard_normal((n_runs, dim))


class TimeMethodStep:
    """``D = direction(X, G)`` then ``X + alpha * D``, from a warmed-up state."""

    params = (sorted(name for name in ob.methods.names() if not getattr(ob.methods.get(name), "owns_loop", False)
                     and not getattr(ob.methods.get(name), "updates_iterate", False)), SHAPES)
    param_names = ["method", "shape"]

    def setup(self, method, shape):
        self.method = ob.methods.create(method)
        self.X, self.G = _batch(shape, 0), _batch(shape, 1)
        self.alpha = np.full(self.X.shape[0], 1e-3)[:, None]
        self.state = self.method.init(self.X)
        for k in range(3):
            _, self.state = self.method.direction(self.X, self.G, self.state, k)

    def time_direction_and_update(self, method, shape):
        D, _ = self.method.direction(self.X, self.G, self.state, 3)
        self.X + self.alpha * D


class TimeLineSearchStep:
    """One step of a line search on a (64, 100) ill-conditioned quadratic, D = -g."""

    params = ["armijo", "wolfe", "exact", "barzilai-borwein", "polyak"]
    param_names = ["step_rule"]

    def setup(self, step_rule):
        problem = ob.problems.create("quadratic", dim=100, condition=100.0)
        X = _batch("64x100")
        F, G = problem.value_and_grad(X)
        self.rule = ob.step_rules.create(step_rule)
        self.ctx = StepContext(problem.f_opt, Evaluator(problem, 64, None, None))
        self.ctx.k, self.ctx.X, self.ctx.F, self.ctx.G, self.ctx.D = 1, X, F, G, -G
        self.ctx.active = np.ones(64, dtype=bool)
        self.state = self.rule.init(64)

    def time_step(self, step_rule):
        self.rule.step(self.ctx, self.state)
