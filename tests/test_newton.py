"""newton-cg: truncated Newton on ctx.hvp against scipy's Newton-CG, the CG inner loop's
stopping rules, per-run charging of Hessian-vector products, and batch independence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

import optbench as ob
from optbench.newton import truncated_cg
from optbench.objectives.convex import Quadratic
from optbench.problem import Problem


def starts(dim, n_runs, seed=0, scale=1.5):
    return 1.0 + scale * np.random.default_rng(seed).uniform(-1.0, 1.0, (n_runs, dim))


def test_final_points_agree_with_scipys_newton_cg_on_rosenbrock():
    X0 = starts(5, 4)
    result = ob.run({"name": "rosenbrock", "dim": 5}, "newton-cg", x0=X0, seeds=4, max_iter=200, tol=1e-10)
    assert set(result.runs["status"]) == {"converged"}
    for i, x0 in enumerate(X0):
        reference = scipy.optimize.minimize(rosen, x0, jac=rosen_der, hessp=rosen_hess_prod, method="Newton-CG",
                                            options={"xtol": 1e-12})
        assert reference.success
        np.testing.assert_allclose(result.x[i], reference.x, atol=1e-7)


def test_final_points_agree_with_scipys_newton_cg_on_a_quadratic():
    problem = Quadratic(dim=8, condition=1e3, seed=2)
    X0 = np.random.default_rng(1).standard_normal((3, 8))
    result = ob.run(problem, "newton-cg", x0=X0, seeds=3, max_iter=100, tol=1e-10)
    for i, x0 in enumerate(X0):
        reference = scipy.optimize.minimize(lambda x: problem.value(x[None])[0], x0, jac=lambda x: problem.grad(x[None])[0],
                                            hessp=lambda x, p: problem.A @ p, method="Newton-CG", options={"xtol": 1e-12})
        np.testing.assert_allclose(result.x[i], reference.x, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(result.x[i], np.linalg.solve(problem.A, problem.b), rtol=1e-7, atol=1e-9)


def test_inner_cg_meets_the_forcing_residual_and_stops_at_negative_curvature():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    H_pos = M @ M.T + 0.1 * np.eye(6)
    H_neg = np.diag([1.0, 2.0, 3.0, -1.0, 4.0, 5.0])
    G = rng.standard_normal((3, 6))
    G[2] = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # negative curvature along -g itself
    Hs = [H_pos, H_pos, H_neg]
    P, products = truncated_cg(G, lambda D, mask: np.array([H @ d for H, d in zip(Hs, D)]), np.ones(3, bool), 100)
    for i in range(2):  # ||H p + g|| <= min(0.5, sqrt||g||) ||g||
        g_norm = np.linalg.norm(G[i])
        assert np.linalg.norm(H_pos @ P[i] + G[i]) <= min(0.5, np.sqrt(g_norm)) * g_norm
        assert G[i] @ P[i] < 0 and 1 <= products[i] <= 6
    np.testing.assert_array_equal(P[2], -G[2])  # N&W Alg. 7.1: steepest descent at j = 0
    assert products[2] == 1


class Counting(Problem):
    """Rosenbrock that counts calls (every call evaluates every row); ``exact`` selects the analytic product."""

    def __init__(self, exact):
        self.dim, self.exact = 4, exact
        self.inner = ob.problems.create("rosenbrock", dim=4)
        self.calls = {"value": 0, "value_and_grad": 0, "hvp": 0}

    @property
    def hvp_exact(self):
        return self.exact

    def value(self, X, batch=None):
        self.calls["value"] += 1
        return self.inner.value(X)

    def value_and_grad(self, X, batch=None):
        self.calls["value_and_grad"] += 1
        return self.inner.value_and_grad(X)

    def grad(self, X, batch=None):
        return self.inner.grad(X)

    def hvp(self, X, V, batch=None):
        self.calls["hvp"] += 1
        return self.inner.hvp(X, V) if self.exact else super().hvp(X, V)


@pytest.mark.parametrize("exact,cost", [(True, 1), (False, 2)])
def test_each_product_is_charged_one_or_two_gradient_evaluations(exact, cost):
    problem = Counting(exact)
    result = ob.run(problem, "newton-cg", x0=starts(4, 1)[0], max_iter=15)
    calls = problem.calls
    assert calls["hvp"] > 0
    assert result.runs["g_evals"].iloc[0] == calls["value_and_grad"] + cost * calls["hvp"]
    assert result.runs["f_evals"].iloc[0] == calls["value"]


def test_a_run_in_a_batch_equals_the_run_alone_with_its_own_charges():
    X0 = starts(6, 5, seed=3, scale=2.0)
    problem = {"name": "rosenbrock", "dim": 6}
    batch = ob.run(problem, "newton-cg", x0=X0, seeds=5, max_iter=60, tol=1e-9)
    assert batch.runs["g_evals"].nunique() > 1  # the runs stopped at different times: masks at work
    for i in (0, 3):
        alone = ob.run(problem, "newton-cg", x0=X0[i], max_iter=60, tol=1e-9)
        # a few ulp allowed: a row of a batch may take another SIMD path than the row alone
        np.testing.assert_allclose(batch.x[i], alone.x[0], rtol=0, atol=1e-13)
        for column in ("iterations", "f_evals", "g_evals"):
            assert batch.runs[column].iloc[i] == alone.runs[column].iloc[0]


def test_newton_cg_takes_no_step_rule_and_validates_its_options():
    from optbench.errors import ParameterError
    with pytest.raises(ParameterError, match="no step rule"):
        ob.run("rosenbrock", "newton-cg", "armijo", max_iter=3)
    with pytest.raises(ParameterError, match="shrink"):
        ob.run("rosenbrock", {"name": "newton-cg", "shrink": 1.5}, max_iter=3)


def test_minibatch_products_use_the_runs_own_samples():
    result = ob.run({"name": "logistic-regression", "n_samples": 60, "l2": 0.1}, "newton-cg", seeds=3, max_iter=20,
                    batch_size=15)
    assert set(result.runs["status"]) == {"budget"} and np.all(np.isfinite(result.runs["f"]))
