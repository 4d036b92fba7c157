"""The example step-rule plugin and the tour's suite file in examples/."""

from pathlib import Path

import numpy as np

import optbench as ob
from optbench.suite import load_suite

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_adgd_follows_its_formula_on_a_quadratic(scratch_registry_names):
    ob.load_plugin(EXAMPLES / "my_rule.py")
    problem = ob.problems.create("quadratic", dim=5, condition=50.0)
    x0 = np.linspace(-1.0, 1.0, 5)
    result = ob.run(problem, "gd", {"name": "adgd", "lr": 1e-3}, x0=x0, max_iter=4, record="all")
    # the same recursion by hand: x_{k+1} = x_k - lambda_k g_k
    grad = lambda x: problem.A @ x - problem.b
    x_prev, x, lam_prev, theta = None, x0, 1e-3, np.inf
    steps = []
    for k in range(4):
        if k == 0:
            lam = 1e-3
        else:
            local = np.linalg.norm(x - x_prev) / (2 * np.linalg.norm(grad(x) - grad(x_prev)))
            lam = min(np.sqrt(1 + theta) * lam_prev, local)
            theta = lam / lam_prev
        steps.append(lam)
        x_prev, x, lam_prev = x, x - lam * grad(x), lam
    np.testing.assert_allclose(result.trace["step_size"].to_numpy()[:4], steps, rtol=1e-12)
    np.testing.assert_allclose(result.x[0], x, rtol=1e-12)


def test_adgd_converges_on_an_ill_conditioned_quadratic(scratch_registry_names):
    ob.load_plugin(EXAMPLES / "my_rule.py")
    result = ob.run({"name": "quadratic", "dim": 20, "condition": 1e3}, "gd", "adgd", seeds=4, max_iter=3000)
    assert (result.runs["f_gap"] < 1e-8).all()


def test_the_tours_study_suite_validates(scratch_registry_names):
    suite = load_suite(EXAMPLES / "my-study.toml")
    assert len(suite.cells) == 5 * 5 and suite.seeds == tuple(range(30))
    assert {cell.step_rule["name"] for cell in suite.cells} == {"adgd", "armijo", "polyak", "constant"}
