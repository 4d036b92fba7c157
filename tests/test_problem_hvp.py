"""Problem.hvp: the base class's central differences of the gradient against scipy's Rosenbrock Hessian."""

from __future__ import annotations

import numpy as np
from scipy.optimize import rosen_hess_prod

import optbench as ob


def test_the_base_hvp_matches_scipys_rosenbrock_hessian_product():
    problem = ob.problems.create("rosenbrock", dim=5)
    rng = np.random.default_rng(0)
    X, V = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    V[2] = 0.0
    expected = np.array([rosen_hess_prod(x, v) for x, v in zip(X, V)])
    np.testing.assert_allclose(problem.hvp(X, V), expected, rtol=1e-6, atol=1e-6)
    assert np.all(problem.hvp(X, V)[2] == 0.0)


def test_step_context_hvp_is_charged_as_two_gradients_for_central_differences():
    from optbench.engine.context import Evaluator, StepContext

    problem = ob.problems.create("rosenbrock", dim=3)
    evaluator = Evaluator(problem, 2, None, None)
    ctx = StepContext(None, evaluator)
    ctx.X, ctx.active = np.ones((2, 3)), np.array([True, False])
    H = ctx.hvp(np.ones((2, 3)))
    np.testing.assert_allclose(H[0], rosen_hess_prod(np.ones(3), np.ones(3)), rtol=1e-6)
    assert evaluator.g_evals.tolist() == [2, 0]
