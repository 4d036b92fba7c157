"""scipy baselines: same optimum and the same evaluation counts as scipy.optimize.minimize called directly."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import optbench as ob
from optbench.errors import ParameterError
from test_methods import TestQuadratic, TestRosenbrock

SCIPY_NAMES = {"l-bfgs-b": "L-BFGS-B", "bfgs": "BFGS", "cg": "CG", "scipy-newton-cg": "Newton-CG",
               "nelder-mead": "Nelder-Mead", "powell": "Powell"}
GRADIENT_FREE = {"nelder-mead", "powell"}


def scipy_direct(problem, name, x0, maxiter):
    """scipy.optimize.minimize on the problem, counting every call of the objective."""
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        X = np.asarray(x, dtype=float)[None]
        if name in GRADIENT_FREE:
            return float(problem.value(X)[0])
        F, G = problem.value_and_grad(X)
        return float(F[0]), G[0]

    jac = None if name in GRADIENT_FREE else True
    result = scipy.optimize.minimize(fun, x0, jac=jac, method=SCIPY_NAMES[name], options={"maxiter": maxiter})
    return result, calls["n"]


@pytest.mark.parametrize("problem_name", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("name", sorted(SCIPY_NAMES))
def test_same_optimum_and_evaluation_counts_as_scipy(name, problem_name):
    problem = TestQuadratic() if problem_name == "quadratic" else TestRosenbrock()
    x0 = np.linspace(-1.0, 1.0, problem.dim) * 0.8
    maxiter = 3000
    res = ob.run(problem, name, x0=x0, max_iter=maxiter, record="all")
    direct, calls = scipy_direct(problem, name, x0, maxiter)
    np.testing.assert_allclose(res.x[0], direct.x, rtol=1e-12, atol=1e-14)
    run = res.runs.iloc[0]
    assert run["f_evals"] + run["g_evals"] == calls
    if name in GRADIENT_FREE:
        assert run["g_evals"] == 0
    else:
        assert run["f_evals"] == 0
    # Nelder-Mead's nit counts building the first simplex as an iteration; its callback does not
    iterations = direct.nit - 1 if name == "nelder-mead" else direct.nit
    assert run["iterations"] == iterations
    # scipy ending on its own tolerances is "stopped" (optbench's tolerance was not asked), with scipy's message
    assert run["status"] == ("stopped" if direct.success else "budget")
    assert run["message"] == str(direct.message)
    # the trace has one row per iteration plus the start, with counts that never decrease
    trace = res.trace
    assert len(trace) == iterations + 1
    assert np.all(np.diff(trace["f_evals"] + trace["g_evals"]) >= 0)
    expected_optimum = np.linalg.solve(problem.A, problem.b) if problem_name == "quadratic" else np.ones(problem.dim)
    if direct.success and name not in GRADIENT_FREE:
        np.testing.assert_allclose(res.x[0], expected_optimum, atol=1e-4)


@pytest.mark.parametrize("name", sorted(SCIPY_NAMES))
def test_max_evals_is_respected_and_gives_budget(name):
    problem = TestRosenbrock()
    res = ob.run(problem, name, seeds=3, x0=np.zeros(problem.dim), max_iter=10_000, max_evals=25)
    assert (res.runs["f_evals"] + res.runs["g_evals"] <= 25).all()
    assert (res.runs["status"] == "budget").all()
    # the returned point is the best seen, never worse than the start
    assert np.all(res.f <= problem.value(np.zeros((1, problem.dim)))[0])


@pytest.mark.parametrize("name", ["bfgs", "nelder-mead"])
def test_max_iter_gives_budget(name):
    problem = TestRosenbrock()
    res = ob.run(problem, name, x0=np.zeros(problem.dim), max_iter=3, record="all")
    assert res.runs["status"].iloc[0] == "budget"
    direct, _ = scipy_direct(problem, name, np.zeros(problem.dim), 3)
    assert not direct.success
    assert res.runs["iterations"].iloc[0] == (2 if name == "nelder-mead" else 3)


def test_f_gap_tolerance_stops_converged():
    problem = TestQuadratic()
    res = ob.run(problem, "bfgs", x0=np.zeros(problem.dim), max_iter=100, tol={"f_gap": 1e-3})
    assert res.runs["status"].iloc[0] == "converged"
    assert res.runs["f_gap"].iloc[0] <= 1e-3


def test_gradient_tolerance_met_is_converged_and_scipy_success_alone_is_stopped():
    problem = TestQuadratic()
    x0 = np.zeros(problem.dim)
    direct, _ = scipy_direct(problem, "bfgs", x0, 100)
    assert direct.success
    alone = ob.run(problem, "bfgs", x0=x0, max_iter=100).runs.iloc[0]
    assert alone["status"] == "stopped" and alone["message"] == str(direct.message)
    # a tolerance far above the final gradient norm scipy reaches: optbench's criterion is met
    loose = ob.run(problem, "bfgs", x0=x0, max_iter=100, tol={"grad": 1e-2}).runs.iloc[0]
    assert loose["status"] == "converged"
    assert np.linalg.norm(problem.value_and_grad(ob.run(problem, "bfgs", x0=x0, max_iter=100, tol={"grad": 1e-2}).x)[1]) <= 1e-2


def test_each_seed_runs_from_its_own_start():
    problem = TestQuadratic()
    X0 = np.random.default_rng(0).standard_normal((3, problem.dim))
    res = ob.run(problem, "l-bfgs-b", seeds=3, x0=X0, max_iter=200)
    for i in range(3):
        direct, _ = scipy_direct(problem, "l-bfgs-b", X0[i], 200)
        np.testing.assert_allclose(res.x[i], direct.x, rtol=1e-12)


def test_baselines_take_no_step_rule():
    with pytest.raises(ParameterError, match="no step rule"):
        ob.run(TestQuadratic(), "bfgs", "armijo", max_iter=5)
    assert ob.methods.describe("bfgs")["owns_loop"] is True


def test_newton_cg_uses_the_problem_hessian_product_when_it_has_one():
    class WithHessian(TestQuadratic):
        def hessp(self, X, P):
            self.products += 1
            return P @ self.A

    problem = WithHessian()
    problem.products = 0
    res = ob.run(problem, "scipy-newton-cg", x0=np.zeros(problem.dim), max_iter=50)
    assert problem.products > 0
    np.testing.assert_allclose(res.x[0], np.linalg.solve(problem.A, problem.b), rtol=1e-6)
    without = ob.run(TestQuadratic(), "scipy-newton-cg", x0=np.zeros(problem.dim), max_iter=50)
    assert res.runs["g_evals"].iloc[0] < without.runs["g_evals"].iloc[0]  # finite differences cost gradients
