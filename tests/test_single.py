"""One run alone (``engine/single.py``): the fused loop gives the staged loop's numbers and errors.

The truth is ``DescentLoop`` itself, the staged loop every batch runs (tested
against torch.optim and closed forms elsewhere): the same run with the fused path
switched off must give the same bits -- iterate, trace, hits, statuses and counters --
whatever the step rule (constants, schedules, Polyak, line searches that reuse the
accepted point), the recording and a run that diverges. A plugin that breaks its
contract during a quiet (fused) iteration is named as the staged loop names it.
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.engine import loop as staged
from optbench.engine.single import SingleRunLoop
from optbench.errors import PluginError

RULES = [{"name": "constant", "lr": 0.01}, {"name": "diminishing", "lr": 0.05}, "polyak", "armijo", "wolfe",
         "barzilai-borwein"]


def _alone(problem, method, rule, fused, monkeypatch, **budget):
    with monkeypatch.context() as patch:
        if not fused:
            patch.setattr(SingleRunLoop, "fusable", lambda self: False)
        return ob.run(problem, method, rule, seeds=[3], **{"max_iter": 300, **budget})


def _assert_same(a, b):
    assert a.x.tobytes() == b.x.tobytes()
    for column in ("status", "iterations", "f", "f_evals", "g_evals"):
        assert a.runs[column].tolist() == b.runs[column].tolist(), column
    assert [c for c in a.runs.columns if c.startswith("step_")] == [c for c in b.runs.columns if c.startswith("step_")]
    for column in [c for c in a.runs.columns if c.startswith("step_")]:
        assert a.runs[column].tolist() == b.runs[column].tolist(), column
    for column in ("iteration", "f", "grad_norm", "step_size", "f_evals", "g_evals"):
        assert a.trace[column].to_numpy().tobytes() == b.trace[column].to_numpy().tobytes(), column
    columns = ["target", "iteration", "f_evals", "g_evals"]
    assert a.hits[columns].values.tolist() == b.hits[columns].values.tolist()


@pytest.mark.parametrize("name", ["quadratic", "sphere"])
@pytest.mark.parametrize("method", ["gd", "adam", "nesterov", "sign-gd"])
@pytest.mark.parametrize("rule", RULES)
def test_the_fused_loop_gives_the_staged_loops_numbers(name, method, rule, monkeypatch):
    problem = ob.problems.create(name, dim=10)
    fused = _alone(problem, method, rule, True, monkeypatch)
    plain = _alone(problem, method, rule, False, monkeypatch)
    _assert_same(fused, plain)


@pytest.mark.parametrize("record", ["all", "last", 7])
def test_every_recording_gives_the_same_trace(record, monkeypatch):
    problem = ob.problems.create("quadratic", dim=10)
    spec = ("adam", {"name": "constant", "lr": 0.05})
    _assert_same(_alone(problem, *spec, True, monkeypatch, record=record),
                 _alone(problem, *spec, False, monkeypatch, record=record))


def test_a_diverging_run_stops_where_the_staged_loop_stops_it(monkeypatch):
    problem = ob.problems.create("quadratic", dim=10, condition=100.0)
    fused = _alone(problem, "gd", {"name": "constant", "lr": 0.05}, True, monkeypatch)
    plain = _alone(problem, "gd", {"name": "constant", "lr": 0.05}, False, monkeypatch)
    assert fused.runs.status.tolist() == ["diverged"]
    _assert_same(fused, plain)


def test_quiet_iterations_take_the_fused_path(monkeypatch):
    # the staged iteration runs only for the first and last iteration and the ones whose f meets a target
    calls = {"iterate": 0, "proceed": 0}
    for name in calls:
        original = getattr(staged.DescentLoop, name)

        def counted(self, *args, _original=original, _name=name):
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(staged.DescentLoop, name, counted)
    result = ob.run({"name": "quadratic", "dim": 10}, "gd", {"name": "constant", "lr": 1e-3}, seeds=1, max_iter=1000)
    assert calls["iterate"] == 2 and len(result.hits) > 0
    assert calls["proceed"] <= 2 + result.hits.iteration.nunique()


@pytest.mark.parametrize("k_bad", [9, 16, 37])
def test_a_method_writing_into_g_in_a_quiet_iteration_is_named(scratch_registry_names, k_bad):
    @ob.register_method("test-single-writer")
    class Writer(ob.Method):
        def direction(self, X, G, state, k):
            if k == k_bad:
                G *= 2.0
            return -G, state

    with pytest.raises(PluginError, match=r"method 'test-single-writer' wrote into its input X or G in place"):
        ob.run({"name": "sphere", "dim": 3}, "test-single-writer", seeds=1, max_iter=100)


def test_a_step_rule_writing_into_its_context_in_a_quiet_iteration_is_named(scratch_registry_names):
    @ob.register_step_rule("test-single-ctx-writer")
    class Writer(ob.StepRule):
        def step(self, ctx, state):
            if ctx.k == 9:
                ctx.G[:] = 0.0
            return np.full(ctx.n_runs, 0.01), state

    with pytest.raises(PluginError, match=r"step rule 'test-single-ctx-writer' wrote into its input"):
        ob.run({"name": "sphere", "dim": 3}, "gd", "test-single-ctx-writer", seeds=1, max_iter=100)


def test_a_flat_problem_writing_into_x_in_a_quiet_iteration_is_named(scratch_registry_names):
    @ob.register_problem("test-single-x-writer")
    class Writer(ob.Problem):
        dim = 3
        flat_exact = True

        def value(self, X, batch=None):
            return np.vecdot(X, X)

        def grad(self, X, batch=None):
            return 2.0 * X

        def value_and_grad(self, X, batch=None):
            if np.ndim(X) == 1 and abs(X[0]) < 0.5:  # a quiet iteration, well inside the run
                X += 0.0
            return np.vecdot(X, X), 2.0 * X

    with pytest.raises(PluginError, match=r"problem 'test-single-x-writer' wrote into its input X"):
        ob.run("test-single-x-writer", "gd", {"name": "constant", "lr": 0.01}, x0=[1.0, 1.0, 1.0], max_iter=200)


def test_sys_exit_from_a_method_in_a_quiet_iteration_is_the_methods_error(scratch_registry_names):
    @ob.register_method("test-single-exit")
    class Exit(ob.Method):
        def direction(self, X, G, state, k):
            if k == 9:
                raise SystemExit(3)
            return -G, state

    with pytest.raises(PluginError, match=r"method 'test-single-exit' raised SystemExit: 3"):
        ob.run({"name": "sphere", "dim": 3}, "test-single-exit", seeds=1, max_iter=100)


@pytest.mark.parametrize("bad", [-0.05, np.nan, np.inf])
def test_a_bad_step_size_in_a_quiet_iteration_is_named(scratch_registry_names, bad):
    @ob.register_step_rule("test-single-bad-alpha")
    class Bad(ob.StepRule):
        def step(self, ctx, state):
            return np.full(ctx.n_runs, bad if ctx.k == 9 else 0.01), state

    with pytest.raises(PluginError, match=rf"step rule 'test-single-bad-alpha' returned the step size {bad!r}"):
        ob.run({"name": "sphere", "dim": 3}, "gd", "test-single-bad-alpha", seeds=1, max_iter=100)
