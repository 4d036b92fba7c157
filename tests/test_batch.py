"""Many runs together (``engine/batch.py``): the fused loop gives the staged loop's numbers and errors.

The truth is ``DescentLoop``, the staged loop (tested against torch.optim, scipy and
closed forms elsewhere): the same batch or stack with the fused path switched off
must give the same bits -- iterates, traces, hits, statuses, counters -- for constant
steps, schedules, rules that read ``ctx.F`` or search along the line (uneven
counters), runs that diverge part-way, and stacks of several methods.
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.engine.batch import BatchLoop
from optbench.engine.run import run_group
from optbench.errors import PluginError

RULES = [{"name": "constant", "lr": 0.01}, {"name": "cosine", "lr": 0.05, "t_max": 200}, "polyak", "armijo", "wolfe"]
PROBLEMS = [{"name": "quadratic", "dim": 8, "condition": 30.0}, {"name": "rosenbrock", "dim": 5},
            {"name": "logistic-regression"}]


def _twice(function, monkeypatch):
    """``function()`` with the fused loop, then with the staged loop."""
    fused = function()
    with monkeypatch.context() as patch:
        patch.setattr(BatchLoop, "fusable", lambda self: False)
        staged = function()
    return fused, staged


def _assert_same(a, b):
    assert a.x.tobytes() == b.x.tobytes()
    for column in ("status", "iterations", "f", "f_evals", "g_evals", "epochs"):
        assert a.runs[column].astype(str).tolist() == b.runs[column].astype(str).tolist(), column
    for column in ("iteration", "f", "grad_norm", "step_size", "f_evals", "g_evals"):
        assert a.trace[column].to_numpy().tobytes() == b.trace[column].to_numpy().tobytes(), column
    columns = ["seed", "target", "iteration", "f_evals", "g_evals"]
    assert a.hits[columns].values.tolist() == b.hits[columns].values.tolist()


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p["name"])
@pytest.mark.parametrize("method", ["gd", "adam", "nesterov"])
@pytest.mark.parametrize("rule", RULES, ids=str)
def test_the_fused_loop_gives_the_staged_loops_numbers(problem, method, rule, monkeypatch):
    fused, staged = _twice(lambda: ob.run(problem, method, rule, seeds=4, max_iter=200), monkeypatch)
    _assert_same(fused, staged)


def test_a_sweep_where_some_runs_diverge_gives_the_same_numbers(monkeypatch):
    problem = {"name": "quadratic", "dim": 8, "condition": 30.0}
    run = lambda: ob.run(problem, "gd", "constant", seeds=3, max_iter=300, record="all",
                         sweep={"step_rule.lr": [0.01, 0.05, 0.5]})
    fused, staged = _twice(run, monkeypatch)
    assert set(fused.runs.status) == {"budget", "diverged"}
    _assert_same(fused, staged)


def test_a_stack_of_several_methods_gives_the_same_numbers(monkeypatch):
    specs = [{"problem": {"name": "rosenbrock", "dim": 6}, "method": method, "step_rule": rule, "seeds": 3,
              "max_iter": 300, "record": 7}
             for method, rule in [("gd", {"name": "constant", "lr": 2e-4}), ("adam", {"name": "constant", "lr": 1e-2}),
                                  ("nesterov", {"name": "constant", "lr": 1e-4}), ("gd", "armijo")]]
    fused, staged = _twice(lambda: run_group(specs), monkeypatch)
    for a, b in zip(fused, staged):
        _assert_same(a, b)
    assert sum(len(result.hits) for result in fused) > 0


def test_quiet_iterations_take_the_fused_path(monkeypatch):
    calls = {"count": 0}
    original = BatchLoop.iterate

    def counted(self, *args):
        calls["count"] += 1
        return original(self, *args)

    monkeypatch.setattr(BatchLoop, "iterate", counted)
    ob.run({"name": "rosenbrock", "dim": 10}, "adam", "constant", seeds=5, max_iter=500)
    assert calls["count"] == 2  # the first iteration and the last


@pytest.mark.parametrize("k_bad", [9, 16, 37])
def test_a_method_writing_into_g_in_a_quiet_iteration_is_named(scratch_registry_names, k_bad):
    @ob.register_method("test-batch-writer")
    class Writer(ob.Method):
        def direction(self, X, G, state, k):
            if k == k_bad:
                G *= 2.0
            return -G, state

    with pytest.raises(PluginError, match=r"method 'test-batch-writer' wrote into its input X or G in place"):
        ob.run({"name": "sphere", "dim": 3}, "test-batch-writer", seeds=3, max_iter=100)


def test_a_problem_writing_into_x_in_a_quiet_iteration_is_named(scratch_registry_names):
    @ob.register_problem("test-batch-x-writer")
    class Writer(ob.Problem):
        dim = 3

        def value(self, X, batch=None):
            return np.vecdot(X, X)

        def grad(self, X, batch=None):
            return 2.0 * X

        def value_and_grad(self, X, batch=None):
            if abs(X[0, 0]) < 0.5:  # well inside the run
                X += 0.0
            return np.vecdot(X, X), 2.0 * X

    with pytest.raises(PluginError, match=r"problem 'test-batch-x-writer' wrote into its input X"):
        ob.run("test-batch-x-writer", "gd", {"name": "constant", "lr": 0.01}, x0=[1.0, 1.0, 1.0], seeds=2,
               max_iter=200)


@pytest.mark.parametrize("bad", [-0.05, np.nan, np.inf])
def test_a_bad_step_size_in_a_quiet_iteration_is_named(scratch_registry_names, bad):
    @ob.register_step_rule("test-batch-bad-alpha")
    class Bad(ob.StepRule):
        def step(self, ctx, state):
            alpha = np.full(ctx.n_runs, 0.01)
            if ctx.k == 9:
                alpha[1] = bad
            return alpha, state

    with pytest.raises(PluginError, match=rf"step rule 'test-batch-bad-alpha' returned the step size {bad!r}"):
        ob.run({"name": "sphere", "dim": 3}, "gd", "test-batch-bad-alpha", seeds=3, max_iter=100)


def test_sys_exit_from_a_step_rule_in_a_quiet_iteration_is_the_rules_error(scratch_registry_names):
    @ob.register_step_rule("test-batch-exit")
    class Exit(ob.StepRule):
        def step(self, ctx, state):
            if ctx.k == 9:
                raise SystemExit(4)
            return np.full(ctx.n_runs, 0.01), state

    with pytest.raises(PluginError, match=r"step rule 'test-batch-exit' raised SystemExit: 4"):
        ob.run({"name": "sphere", "dim": 3}, "gd", "test-batch-exit", seeds=3, max_iter=100)
