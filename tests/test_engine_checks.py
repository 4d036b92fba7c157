"""The engine checks what plugins return (issue: bad plugin outputs passed silently).

Each case first states the failure it reproduces: before the checks, these ran
silently with wrong numbers (run 0's direction broadcast to every run, a zero
gradient norm in the trace, a step size of the wrong sign).
"""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.errors import PluginError


class _Register:
    def __init__(self):
        self.names = []

    def method(self, name, cls):
        ob.register_method(name)(cls)
        self.names.append((ob.methods, name))

    def rule(self, name, cls):
        ob.register_step_rule(name)(cls)
        self.names.append((ob.step_rules, name))

    def problem(self, name, cls):
        ob.register_problem(name)(cls)
        self.names.append((ob.problems, name))

    def close(self):
        for registry, name in self.names:
            registry.unregister(name)


@pytest.fixture
def register():
    r = _Register()
    yield r
    r.close()


def _method(direction):
    class M(ob.Method):
        def direction(self, X, G, state, k):
            return direction(X, G, state)
    return M


def _rule(alpha):
    class R(ob.StepRule):
        def step(self, ctx, state):
            return alpha(ctx), state
    return R


@pytest.mark.parametrize("direction, message", [
    (lambda X, G, s: (-G[0], s), r"direction\(\) must return D of shape \(n_runs, dim\) = \(4, 3\), got \(3,\)"),
    (lambda X, G, s: (-G[:, :1], s), r"direction\(\) must return D of shape \(n_runs, dim\) = \(4, 3\), got \(4, 1\)"),
    (lambda X, G, s: -G, r"direction\(\) must return \(D, state\), got ndarray"),
    (lambda X, G, s: (G.__imul__(-1.0), s), r"wrote into its input X or G in place"),
    (lambda X, G, s: (X.__iadd__(1.0), s), r"wrote into its input X or G in place"),
])
def test_a_bad_direction_stops_the_run_naming_the_method(register, direction, message):
    register.method("bad-direction", _method(direction))
    with pytest.raises(PluginError, match=r"method 'bad-direction'.*" + message):
        ob.run({"name": "sphere", "dim": 3}, "bad-direction", "constant", seeds=4, max_iter=5)


def test_a_two_run_batch_does_not_unpack_a_bare_direction(register):
    # with two runs, `D, state = -G` silently unpacks rows 0 and 1: the check must catch it
    register.method("bare", _method(lambda X, G, s: -G))
    with pytest.raises(PluginError, match=r"must return \(D, state\)"):
        ob.run({"name": "sphere", "dim": 2}, "bare", "constant", seeds=2, max_iter=5)


@pytest.mark.parametrize("alpha, message", [
    (lambda ctx: 0.1, r"step\(\) must return alpha of shape \(n_runs,\) = \(3,\), got float"),
    (lambda ctx: np.full((ctx.n_runs, 1), 0.1), r"got \(3, 1\)"),
    (lambda ctx: np.full(ctx.n_runs, -0.1), r"returned the step size -0.1; a step size must be finite and >= 0"),
    (lambda ctx: np.full(ctx.n_runs, np.nan), r"returned the step size nan"),
    (lambda ctx: np.full(ctx.n_runs, np.inf), r"returned the step size inf"),
])
def test_a_bad_step_size_stops_the_run_naming_the_rule(register, alpha, message):
    register.rule("bad-alpha", _rule(alpha))
    with pytest.raises(PluginError, match=r"step rule 'bad-alpha'.*" + message):
        ob.run({"name": "sphere", "dim": 2}, "gd", "bad-alpha", seeds=3, max_iter=5)


def test_a_gradient_of_the_wrong_shape_stops_the_run_naming_the_problem(register):
    class Flat(ob.Problem):
        dim = 3

        def value(self, X, batch=None):
            return (X**2).sum(axis=1)

        def grad(self, X, batch=None):
            return 2 * X[:, :1]

    register.problem("flat-grad", Flat)
    with pytest.raises(PluginError, match=r"problem 'flat-grad' returned f of shape \(4,\) and a gradient of shape \(4, 1\)"):
        ob.run("flat-grad", "gd", seeds=4, max_iter=3)


def test_a_suite_records_a_plugin_violation_as_the_cells_error(register, tmp_path):
    from optbench.worker import run_cell
    from optbench.suite import parse_suite

    register.method("bad-direction", _method(lambda X, G, s: (-G[0], s)))
    suite = parse_suite('name = "t"\nseeds = 2\n[[problems]]\nname = "sphere"\n[[methods]]\nname = "bad-direction"\n')
    runs = run_cell(suite.cells[0])[0]
    assert (runs["status"] == "error").all()
    assert "PluginError: method 'bad-direction': direction() must return D of shape (n_runs, dim) = (2, 2), got (2,)" in runs["message"].iloc[0]


def test_built_in_methods_never_write_into_their_inputs():
    # X and G are read-only: any in-place write would raise, so running every method is the check
    for name in ob.methods.names():
        info = ob.methods.describe(name)
        if info.get("owns_loop") or info.get("updates_iterate") or any(p["required"] for p in info["params"].values()):
            continue  # scipy's own loops and adapters that need an argument (torch) are checked elsewhere
        res = ob.run({"name": "rosenbrock", "dim": 3}, name, seeds=3, max_iter=20)
        assert set(res.runs["status"]) <= {"budget", "converged", "diverged"}, name


def test_a_method_that_updates_the_iterate_itself_runs_without_a_step_rule(register):
    class HalfwayToZero(ob.Method):
        """X_next = X - 0.25 * grad (sphere: x_{k+1} = 0.5 x_k), with a charged second evaluation per step."""

        updates_iterate = True

        def init(self, X):
            return None

        def update(self, X, G, state, k, ctx):
            F_again, _ = ctx.evaluate(X)  # a closure-style second evaluation, charged
            np.testing.assert_array_equal(F_again, ctx.F)
            return X - 0.25 * G, state

    register.method("halfway", HalfwayToZero)
    x0 = np.array([1.0, -2.0, 4.0])
    res = ob.run({"name": "sphere", "dim": 3}, "halfway", x0=x0, seeds=2, max_iter=10)
    np.testing.assert_allclose(res.x, np.tile(0.5**10 * x0, (2, 1)), rtol=1e-15)
    assert res.runs["step_rule"].tolist() == ["none", "none"]
    assert res.runs["g_evals"].tolist() == [21, 21]  # 11 iterates + 10 closure calls
    with pytest.raises(ob.ParameterError, match="takes no step rule"):
        ob.run("sphere", "halfway", "constant")
    budgeted = ob.run({"name": "sphere", "dim": 3}, "halfway", x0=x0, max_iter=None, max_evals=15)
    assert budgeted.runs["g_evals"].iloc[0] <= 15
