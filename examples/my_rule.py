"""An example step-rule plugin: adaptive gradient descent without descent (Malitsky & Mishchenko, 2020).

    lambda_k = min( sqrt(1 + theta_{k-1}) * lambda_{k-1},  ||x_k - x_{k-1}|| / (2 ||g_k - g_{k-1}||) )
    theta_k  = lambda_k / lambda_{k-1}

with lambda_0 = lr and theta_0 = +inf. The second term estimates 1 / (2 L) from the last two gradients,
so the step adapts to the local smoothness with no line search and no extra evaluation.
Use it with ``--plugin examples/my_rule.py`` or ``plugins = ["my_rule.py"]`` in a suite file.
"""

import numpy as np

import optbench as ob


@ob.register_step_rule("adgd")
class AdaptiveGD(ob.StepRule):
    """Malitsky-Mishchenko adaptive step: ``min(sqrt(1 + theta) lambda_prev, ||dx|| / (2 ||dg||))``."""

    def __init__(self, lr: float = 1e-6):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.lr = lr

    def init(self, n_runs):
        return {"X": None, "G": None, "step": np.full(n_runs, float(self.lr)), "theta": np.full(n_runs, np.inf)}

    def step(self, ctx, state):
        if state["X"] is None:  # k = 0: no previous point yet
            step = state["step"]
        else:
            dx = np.linalg.norm(ctx.X - state["X"], axis=1)
            dg = np.linalg.norm(ctx.G - state["G"], axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                local = np.where(dg > 0, dx / (2.0 * dg), np.inf)
            step = np.minimum(np.sqrt(1.0 + state["theta"]) * state["step"], local)
            step = np.where(np.isfinite(step), step, state["step"])  # dx = dg = 0: keep the last step
            state["theta"] = step / state["step"]
        state["X"], state["G"], state["step"] = ctx.X, ctx.G, step
        return step, state
