"""Stacks: the cells of a problem run as one array give each cell's numbers as if it ran alone with ``ob.run``.

Rosenbrock's arithmetic is elementwise per row: bit for bit. Logistic regression
multiplies the stacked rows by its data matrix (BLAS), which may block the rows
differently: within 4 ulp. Statuses, iterations, evaluations and first hits are
identical in both.
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.engine.run import run_group
from optbench.engine.stack import StackedStepRule

SOLVERS = [("gd", {"name": "constant", "lr": 2e-4}), ("gd", "armijo"), ("adam", {"name": "constant", "lr": 1e-2}),
           ("amsgrad", {"name": "constant", "lr": 1e-2}), ("nesterov", {"name": "constant", "lr": 1e-4}),
           ("sign-gd", {"name": "constant", "lr": 1e-3})]
PROBLEMS = {"rosenbrock": ({"name": "rosenbrock", "dim": 10}, 0),
            "logistic-regression": ({"name": "logistic-regression", "n_samples": 300, "n_features": 20}, 4)}
BUDGET = {"seeds": 5, "max_iter": 300, "record": "log", "suite": "stack"}


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place (float64; both finite)."""
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))


def _hits(result) -> list:
    return result.hits[["seed", "target", "iteration", "f_evals", "g_evals"]].values.tolist()


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_a_stack_gives_each_cell_the_numbers_it_gives_alone(name):
    problem, tolerance = PROBLEMS[name]
    specs = [{"problem": problem, "method": method, "step_rule": rule, **BUDGET} for method, rule in SOLVERS]
    stacked = run_group(specs)
    hit_count = 0
    for spec, in_stack in zip(specs, stacked):
        alone = ob.run(**spec)
        a, b = alone.runs, in_stack.runs
        for column in ("status", "iterations", "f_evals", "g_evals", "seed"):
            assert a[column].tolist() == b[column].tolist(), (spec["method"], column)
        assert np.all(_ulps(a["f"].to_numpy(), b["f"].to_numpy()) <= tolerance), spec
        if tolerance == 0:
            np.testing.assert_array_equal(alone.x, in_stack.x)
            np.testing.assert_array_equal(alone.trace["f"].to_numpy(), in_stack.trace["f"].to_numpy())
        assert _hits(alone) == _hits(in_stack)
        hit_count += len(_hits(alone))
        assert a.filter(like="step_").columns.tolist() == b.filter(like="step_").columns.tolist()
        if "step_backtracks" in a:
            assert a["step_backtracks"].tolist() == b["step_backtracks"].tolist()
    assert hit_count > 0


def test_each_cell_gets_its_share_of_the_stack_time():
    problem = PROBLEMS["rosenbrock"][0]
    specs = [{"problem": problem, "method": method, "step_rule": rule, **BUDGET} for method, rule in SOLVERS]
    stacked = run_group(specs)
    times = np.array([result.runs["time"].max() for result in stacked])
    assert np.all(times > 0)
    traces = [result.trace for result in stacked]
    # a run's clock never goes back
    for trace in traces:
        for _, rows in trace.groupby("seed"):
            assert np.all(np.diff(rows.sort_values("iteration")["time"].to_numpy()) >= 0)


def test_a_hit_in_a_stack_is_timed_by_its_cells_share_of_the_clock():
    # a hit's time is the run's own clock (its cell's share of the stack), as its trace and runs rows are:
    # never after the run's final time, never after the trace row of the same iteration
    problem = PROBLEMS["rosenbrock"][0]
    specs = [{"problem": problem, "method": method, "step_rule": rule, **BUDGET, "record": "all"}
             for method, rule in SOLVERS]
    hit_count = 0
    for result in run_group(specs):
        hits = result.hits.merge(result.trace[["seed", "iteration", "time"]], on=["seed", "iteration"],
                                 suffixes=("", "_trace"))
        assert len(hits) == len(result.hits)
        assert (hits.time <= hits.time_trace).all()
        final = dict(zip(result.runs.seed, result.runs.time))
        assert (hits.time <= hits.seed.map(final)).all()
        hit_count += len(hits)
    assert hit_count > 0


def test_a_step_rule_that_writes_into_its_context_is_named_in_a_stack(scratch_registry_names):
    @ob.register_step_rule("stack-writer-test")
    class Writer(ob.StepRule):
        def step(self, ctx, state):
            ctx.G[:] = 0.0
            return np.full(ctx.n_runs, 0.1), state

    specs = [{"problem": {"name": "sphere", "dim": 3}, "method": "gd", "step_rule": rule, **BUDGET}
             for rule in ("stack-writer-test", {"name": "constant", "lr": 0.1})]
    with pytest.raises(ob.errors.PluginError, match="stack-writer-test"):
        run_group(specs)
    assert StackedStepRule.counters == ()
