"""One run through a problem's 1-D call (``Problem.flat_exact``) gives the numbers of the 2-D call.

The loop calls ``value_and_grad(x)`` with ``x`` of shape ``(dim,)`` when a single run
descends a problem that declares ``flat_exact``; the truth it must match is the
problem's own ``(1, dim)`` call, and the same seed run among other seeds (where the
loop uses the 2-D call; quadratic's ``X @ A`` blocks several rows differently, so
there the truth is the same single run with the 1-D call switched off).
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob

FLAT = [name for name in ("quadratic", "sphere") if ob.problems.get(name).flat_exact]


def test_the_built_in_problems_that_say_so_are_flat():
    assert FLAT == ["quadratic", "sphere"]


@pytest.mark.parametrize("name", FLAT)
@pytest.mark.parametrize("dim", [1, 2, 7, 10, 33, 100])
def test_the_1d_call_has_the_bits_of_the_2d_call(name, dim):
    problem = ob.problems.create(name, dim=dim)
    rng = np.random.default_rng(dim)
    for scale in (1e-6, 1.0, 1e6):
        X = scale * rng.standard_normal((1, dim))
        F, G = problem.value_and_grad(X)
        f, g = problem.value_and_grad(X[0])
        assert np.shape(f) == () and g.shape == (dim,)
        assert np.float64(f).tobytes() == F[0].tobytes() and g.tobytes() == G[0].tobytes()


@pytest.mark.parametrize("name", FLAT)
@pytest.mark.parametrize("method, rule", [("gd", {"name": "constant", "lr": 0.05}), ("adam", "armijo"),
                                          ("nesterov", {"name": "constant", "lr": 0.01})])
def test_one_seed_through_the_1d_call_equals_the_2d_call(name, method, rule):
    problem = ob.problems.create(name, dim=10)
    flat = ob.run(problem, method, rule, seeds=[2], max_iter=200, record="all")
    problem.flat_exact = False  # the same run through the (1, dim) call
    plain = ob.run(problem, method, rule, seeds=[2], max_iter=200, record="all")
    _assert_same_run(flat, plain, 0)
    if name == "sphere":  # elementwise: also the same seed among others
        _assert_same_run(flat, ob.run(problem, method, rule, seeds=[0, 1, 2], max_iter=200, record="all"), 2)


def _assert_same_run(alone, other, row):
    seed = alone.runs.seed[0]
    runs = other.runs[other.runs.seed == seed].reset_index(drop=True)
    trace = other.trace[other.trace.seed == seed].reset_index(drop=True)
    assert alone.x[0].tobytes() == other.x[row].tobytes()
    for column in ("status", "iterations", "f", "f_evals", "g_evals"):
        assert alone.runs[column].tolist() == runs[column].tolist()
    for column in ("iteration", "f", "grad_norm", "step_size", "f_evals"):
        assert alone.trace[column].to_numpy().tobytes() == trace[column].to_numpy().tobytes()
    hits = ["target", "iteration", "f_evals", "g_evals"]
    assert alone.hits[hits].values.tolist() == other.hits[other.hits.seed == seed][hits].values.tolist()
