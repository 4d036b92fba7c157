"""Optimizers with eval()/train() modes (ScheduleFree) are evaluated at their eval-mode point.

Independent truth: the loop a ScheduleFree user writes -- ``optimizer.train()``,
gradient at the parameter, ``step()``, ``optimizer.eval()``, then evaluate f at
the parameter -- run per seed on the numpy problem; the first hits of the
target ladder are read off its f values.
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.schema import target_ladder

torch = pytest.importorskip("torch")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

STEPS, SEEDS = 80, 4


def users_loop(cls, options, problem, x0, steps):
    """f at the eval-mode point after each step (f(x_0) first), the final eval-mode point and f at the train points."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    optimizer = cls([x], **options)
    values, train_values = [problem.value(x0[None])[0]], []
    for _ in range(steps):
        optimizer.train()
        point = x.detach().numpy()[None]
        train_values.append(problem.value(point)[0])
        x.grad = torch.from_numpy(problem.grad(point)[0].copy())
        optimizer.step()
        optimizer.eval()
        values.append(problem.value(x.detach().numpy()[None])[0])
    return np.array(values), x.detach().numpy().copy(), np.array(train_values)


@pytest.mark.parametrize("name, options", [("ScheduleFreeAdamW", {"lr": 0.05}), ("ScheduleFreeSGD", {"lr": 0.02}),
                                           ("ScheduleFreeRAdam", {"lr": 0.05})])
def test_schedule_free_is_recorded_at_its_eval_point(name, options):
    cls = getattr(pytorch_optimizer, name)
    problem = ob.problems.create("quadratic", dim=10, condition=100.0)
    res = ob.run(problem, ob.methods.from_torch(cls, **options), seeds=SEEDS, max_iter=STEPS, record="all")
    X0 = ob.run(problem, "gd", seeds=SEEDS, max_iter=0).x
    for i in range(SEEDS):
        values, x_final, train_values = users_loop(cls, options, problem, X0[i], STEPS)
        assert np.abs(train_values[1:] - values[1:-1]).max() > 1e-3  # eval and train points differ: the test can fail
        trace = res.trace[res.trace["seed"] == i].sort_values("iteration")
        np.testing.assert_allclose(trace["f"].to_numpy(), values, rtol=1e-11, atol=1e-11)  # f recorded at x_k
        np.testing.assert_allclose(res.x[i], x_final, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(res.runs["f"].iloc[i], values[-1], rtol=1e-11, atol=1e-11)  # final f
        gaps = values - problem.f_opt
        hits = res.hits[res.hits["seed"] == i]
        for target, iteration in zip(hits["target"], hits["iteration"]):
            assert iteration == np.flatnonzero(gaps <= target)[0]
        assert len(hits) == np.sum(target_ladder() >= gaps.min())
    # an iteration costs one gradient (at y_k) and one value (at x_k, charged from the engine's evaluation there)
    assert (res.runs["g_evals"] == STEPS + 1).all() and (res.runs["f_evals"] == STEPS - 1).all()
