"""Issue 23: plugin checks that hold on every step, not only on sampled ones.

Each case is a bypass the adversarial catalogue found on main: a step rule that
returns the same array and mutates it later, writes into G at iteration 9,
complex outputs, an ``initial_point`` of the wrong width, a problem writing into
X. Each must now stop the run with a ``PluginError`` naming the plugin (a suite
records it as the cell's ``error``).
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.errors import PluginError


class MutatedLater(ob.StepRule):
    """Returns the same array every step and, from step 9 on, writes ``bad`` into it."""

    bad = -0.05

    def init(self, n_runs):
        self.alpha = np.full(n_runs, 0.1)
        return {"k": 0}

    def step(self, ctx, state):
        state["k"] += 1
        if state["k"] == 10:
            self.alpha[:] = self.bad
        return self.alpha, state


@pytest.mark.parametrize("bad, seeds", [(-0.05, 1), (np.nan, 1), (np.inf, 1), (-0.05, 3), (np.nan, 3)])
def test_a_step_array_mutated_after_the_first_steps_is_caught(scratch_registry_names, bad, seeds):
    ob.register_step_rule("test-mutated-later")(type("Rule", (MutatedLater,), {"bad": bad}))
    with pytest.raises(PluginError, match=rf"step rule 'test-mutated-later' returned the step size {bad!r}"):
        ob.run({"name": "sphere", "dim": 2}, "gd", "test-mutated-later", seeds=seeds, max_iter=30)


@pytest.mark.parametrize("k_write", [9, 17, 100])
def test_a_write_into_g_or_x_at_any_iteration_is_caught(scratch_registry_names, k_write):
    @ob.register_method("test-late-writer")
    class LateWriter(ob.Method):
        def direction(self, X, G, state, k):
            if k == k_write:
                G *= 2.0
            return -G, state

    with pytest.raises(PluginError, match=r"method 'test-late-writer' wrote into its input X or G in place"):
        ob.run({"name": "sphere", "dim": 2}, "test-late-writer", seeds=2, max_iter=200)


def test_a_problem_writing_into_x_gets_the_plugin_error(scratch_registry_names):
    @ob.register_problem("test-x-writer")
    class XWriter(ob.Problem):
        dim = 2

        def value(self, X, batch=None):
            X += 0.0
            return (X**2).sum(axis=1)

        def grad(self, X, batch=None):
            return 2 * X

    with pytest.raises(PluginError, match=r"problem 'test-x-writer' wrote into its input X"):
        ob.run("test-x-writer", "gd", seeds=1, max_iter=5)


def _complex_direction(X, G, state, k):
    return -G + 0j, state


@pytest.mark.parametrize("kind", ["method", "rule", "problem", "update", "integer-rule"])
def test_complex_or_non_float_outputs_are_refused_at_the_boundary(scratch_registry_names, kind):
    problem, method, rule = {"name": "sphere", "dim": 2}, "gd", "constant"
    if kind == "method":
        ob.register_method("test-complex")(type("M", (ob.Method,), {"direction": lambda self, X, G, s, k: _complex_direction(X, G, s, k)}))
        method, who = "test-complex", r"method 'test-complex'.*dtype complex128"
    elif kind in ("rule", "integer-rule"):
        value = np.full(2, 0.1 + 0j) if kind == "rule" else np.ones(2, dtype=np.int64)
        ob.register_step_rule("test-complex")(type("R", (ob.StepRule,), {"step": lambda self, ctx, s: (value, s)}))
        rule, who = "test-complex", rf"step rule 'test-complex'.*dtype {value.dtype}"
    elif kind == "problem":
        class ComplexProblem(ob.Problem):
            dim = 2

            def value(self, X, batch=None):
                return (X**2).sum(axis=1) + 0j

            def grad(self, X, batch=None):
                return 2 * X

        ob.register_problem("test-complex")(ComplexProblem)
        problem, who = "test-complex", r"problem 'test-complex' returned f of dtype complex128"
    else:
        class ComplexUpdate(ob.Method):
            updates_iterate = True

            def init(self, X):
                return None

            def update(self, X, G, state, k, ctx):
                return X - 0.1 * G + 0j, state

        ob.register_method("test-complex")(ComplexUpdate)
        method, rule, who = "test-complex", None, r"method 'test-complex'.*dtype complex128"
    with pytest.raises(PluginError, match=who):
        ob.run(problem, method, rule, seeds=2, max_iter=5)


def test_a_complex_method_in_a_suite_is_the_cells_error_and_later_cells_run(tmp_path, scratch_registry_names):
    (tmp_path / "complex.py").write_text(
        "import optbench as ob\n"
        "@ob.register_method('test-complex-suite')\n"
        "class M(ob.Method):\n"
        "    def direction(self, X, G, state, k):\n"
        "        return -G + 0j, state\n")
    (tmp_path / "s.toml").write_text('name = "c"\nseeds = 2\nplugins = ["complex.py"]\n[budget]\nmax_iter = 5\n'
                                     '[[problems]]\nname = "sphere"\n[[methods]]\nname = "test-complex-suite"\n'
                                     '[[methods]]\nname = "gd"\n')
    result = ob.run_suite(tmp_path / "s.toml", out=tmp_path / "out")
    statuses = dict(zip(result.runs["method"], result.runs["status"]))
    assert statuses == {"test-complex-suite": "error", "gd": "budget"}
    assert "dtype complex128" in result.runs.loc[result.runs["method"] == "test-complex-suite", "message"].iloc[0]
    again = ob.run_suite(tmp_path / "s.toml", out=tmp_path / "out")  # the resume does not crash either
    assert set(again.runs["status"]) == {"error", "budget"}


def test_an_initial_point_of_the_wrong_shape_is_refused(scratch_registry_names):
    @ob.register_problem("test-wide-start")
    class WideStart(ob.Problem):
        dim = 2

        def value(self, X, batch=None):
            return (X**2).sum(axis=1)

        def grad(self, X, batch=None):
            return 2 * X

        def initial_point(self, rng, n_runs):
            return np.zeros((n_runs, self.dim + 1))

    with pytest.raises(PluginError, match=r"problem 'test-wide-start': initial_point must return X of shape "
                                          r"\(n_runs, dim\) = \(1, 2\), got \(1, 3\)"):
        ob.run("test-wide-start", "gd", seeds=3, max_iter=5)


@pytest.mark.parametrize("name", ["sphere", "rosenbrock", "rastrigin", "ackley"])
def test_built_in_problems_validate_the_width_of_x(name):
    problem = ob.problems.create(name, dim=2)
    for call in (problem.value, problem.grad):
        with pytest.raises(ValueError, match=rf"problem '{name}' takes X of shape \(n_runs, 2\), got \(3, 5\)"):
            call(np.zeros((3, 5)))
    assert problem.value(np.zeros((3, 2))).shape == (3,)  # the right width still works
