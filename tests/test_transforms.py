"""Transformations of any problem: f_opt and x_opt kept, gradients against finite differences,
closed forms (a rotated sphere is a sphere, a scaled sphere has the asked condition number),
noise with the declared distribution, reproducible and independent of batch position."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import optbench as ob
from optbench.problem import gradient_error
from optbench.suite import parse_suite
from optbench.errors import SuiteError
ROSEN = {"name": "rosenbrock", "dim": 5}
WRAPPERS = [
    ("shifted", {"problem": ROSEN, "seed": 3}),
    ("shifted", {"problem": {"name": "himmelblau"}, "shift": [0.5, -1.0]}),  # four global minimisers
    ("rotated", {"problem": ROSEN, "seed": 3}),
    ("rotated", {"problem": {"name": "himmelblau"}, "seed": 1}),
    ("scaled", {"problem": ROSEN, "condition": 1e3}),
    ("perturbed", {"problem": ROSEN, "radius": 0.5}),
    ("noisy", {"problem": ROSEN, "kind": "multiplicative", "on": "value"}),
    ("rotated", {"problem": {"name": "scaled", "problem": {"name": "shifted", "problem": ROSEN, "seed": 1}}}),
]


def make(name, params):
    return ob.problems.create(name, **params)


@pytest.mark.parametrize("name, params", WRAPPERS)
def test_x_opt_gives_f_opt_and_is_a_minimum(name, params):
    p = make(name, params)
    x_opt = np.atleast_2d(p.x_opt)
    assert p.f_opt == p.inner.f_opt
    np.testing.assert_allclose(p.value(x_opt), p.f_opt, atol=1e-12)
    rng = np.random.default_rng(0)
    near = np.repeat(x_opt, 200, axis=0) + 1e-3 * rng.standard_normal((200 * len(x_opt), p.dim))
    assert np.all(p.value(near) >= p.f_opt - 1e-12)


@pytest.mark.parametrize("name, params", [w for w in WRAPPERS if w[0] != "noisy"])
def test_gradient_matches_finite_differences(name, params):
    p = make(name, params)
    X = p.initial_point(np.random.default_rng(1), 20)
    assert gradient_error(p, X).max() < 1e-6
    F, G = p.value_and_grad(X)
    np.testing.assert_allclose(F, p.value(X), rtol=1e-14)  # the inner's one-pass form may round differently
    np.testing.assert_allclose(G, p.grad(X), rtol=1e-14)


def test_shift_moves_x_opt_and_domain_by_s():
    p = make("shifted", {"problem": ROSEN, "shift": 2.0})
    np.testing.assert_array_equal(p.x_opt, np.full(5, 3.0))  # rosenbrock's minimiser is all ones
    np.testing.assert_array_equal(p.domain, p.inner.domain + 2.0)
    X = np.random.default_rng(2).standard_normal((7, 5))
    np.testing.assert_allclose(p.value(X + 2.0), p.inner.value(X), rtol=1e-13)  # (x + 2) - 2 rounds


def test_rotated_sphere_is_a_sphere_and_rotation_is_orthogonal():
    p = make("rotated", {"problem": {"name": "sphere", "dim": 7}, "seed": 5})
    X = 3 * np.random.default_rng(3).standard_normal((50, 7))
    np.testing.assert_allclose(p.value(X), np.sum(X**2, axis=1), rtol=1e-12)
    Q = p._A
    np.testing.assert_allclose(Q.T @ Q, np.eye(7), atol=1e-13)
    assert not np.allclose(Q, np.eye(7))
    rosen = make("rotated", {"problem": ROSEN, "seed": 5})
    # closed form: the rotated rosenbrock's minimiser is Q^T 1
    np.testing.assert_allclose(rosen.x_opt, np.linalg.solve(rosen._A, np.ones(5)), atol=1e-12)


def test_rotations_differ_by_seed_and_repeat_per_seed():
    a, b, c = (make("rotated", {"problem": ROSEN, "seed": s})._A for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_scaled_sphere_hessian_has_the_condition_number():
    p = make("scaled", {"problem": {"name": "sphere", "dim": 6}, "condition": 1e4})
    x, h = np.zeros((1, 6)), 1e-4
    hessian = np.stack([(p.grad(x + h * e[None]) - p.grad(x - h * e[None]))[0] / (2 * h) for e in np.eye(6)])
    eig = np.linalg.eigvalsh(hessian)
    assert eig.max() / eig.min() == pytest.approx(1e4, rel=1e-8)


def noisy(**params):
    return make("noisy", {"problem": {"name": "sphere", "dim": 4}, **params})


def test_additive_noise_is_standard_normal_times_std_on_value_and_gradient():
    p = noisy(std=0.3)
    X = np.random.default_rng(4).standard_normal((4000, 4))
    xi = (p.value(X) - p.inner.value(X)) / 0.3
    zeta = (p.grad(X) - p.inner.grad(X)) / 0.3
    assert stats.kstest(xi, "norm").pvalue > 1e-3
    assert stats.kstest(zeta.ravel(), "norm").pvalue > 1e-3
    assert abs(stats.pearsonr(xi, zeta[:, 0]).statistic) < 0.06  # value and gradient noise independent
    assert abs(stats.pearsonr(zeta[:, 0], zeta[:, 1]).statistic) < 0.06


def test_multiplicative_noise_vanishes_at_the_optimum():
    p = noisy(std=0.5, kind="multiplicative")
    X = np.random.default_rng(5).standard_normal((4000, 4))
    ratio = (p.value(X) - p.f_opt) / (p.inner.value(X) - p.f_opt)
    assert stats.kstest((ratio - 1) / 0.5, "norm").pvalue > 1e-3
    assert p.value(np.zeros((1, 4)))[0] == p.f_opt
    np.testing.assert_array_equal(p.grad(np.zeros((1, 4))), 0.0)


def test_noise_options_select_what_is_noisy():
    X = np.random.default_rng(6).standard_normal((10, 4))
    clean = noisy(std=0.0)
    np.testing.assert_array_equal(clean.value(X), clean.inner.value(X))
    value_only, grad_only = noisy(on="value"), noisy(on="gradient")
    np.testing.assert_array_equal(value_only.grad(X), 2 * X)
    np.testing.assert_array_equal(grad_only.value(X), grad_only.inner.value(X))
    # the sum of squares in another summation order: equal to a few ulp on every CPU
    np.testing.assert_array_max_ulp(grad_only.value(X), np.sum(X**2, axis=1), maxulp=4)
    assert not np.array_equal(value_only.value(X), grad_only.value(X))
    assert "noisy" in noisy().tags


def _streams(n):
    return [np.random.default_rng([k, 99]) for k in range(n)]


@pytest.mark.parametrize("on", ["both", "value", "gradient"])
def test_noisy_value_grad_and_value_and_grad_agree(on):
    # from the same stream state, value_and_grad draws what value and grad draw
    p = noisy(std=0.2, on=on, kind="multiplicative")
    X = np.random.default_rng(9).standard_normal((5, 4))
    rows = np.ones(5, dtype=bool)
    p.bind_noise(_streams(5), rows)
    F, G = p.value_and_grad(X)
    p.bind_noise(_streams(5), rows)
    np.testing.assert_array_equal(F, p.value(X))
    p.bind_noise(_streams(5), rows)
    np.testing.assert_array_equal(G, p.grad(X))


def test_noise_of_a_row_comes_from_its_own_stream_whatever_the_other_rows():
    p = noisy(std=0.1)
    X = np.random.default_rng(7).standard_normal((6, 4))
    p.bind_noise(_streams(6), np.ones(6, dtype=bool))
    together = p.value_and_grad(X)
    for i in range(6):
        p.bind_noise([np.random.default_rng([i, 99])], np.ones(1, dtype=bool))
        alone = p.value_and_grad(X[i : i + 1])
        assert alone[0][0] == together[0][i]
        np.testing.assert_array_equal(alone[1][0], together[1][i])
    # rows not charged draw nothing and see the clean problem
    p.bind_noise(_streams(6), np.array([True, False] * 3))
    F = p.value(X)
    np.testing.assert_array_equal(F[1::2], p.inner.value(X)[1::2])
    assert np.all(F[0::2] != p.inner.value(X)[0::2])


def test_direct_calls_draw_fresh_noise_each_time():
    p = noisy(std=0.1)
    X = np.zeros((3, 4))
    assert not np.array_equal(p.value(X), p.value(X))
    assert not np.array_equal(noisy(seed=1).value(X), noisy(seed=0).value(X))


def test_noisy_runs_reproduce_per_seed_alone_or_batched():
    spec = {"name": "noisy", "problem": ROSEN, "std": 0.05}
    rule = {"name": "armijo"}
    batched = ob.run(spec, "gd", rule, seeds=[0, 1, 2, 3], max_iter=60, record="all")
    again = ob.run(spec, "gd", rule, seeds=[0, 1, 2, 3], max_iter=60, record="all")
    np.testing.assert_array_equal(batched.x, again.x)
    for i, seed in enumerate([3, 1]):
        alone = ob.run(spec, "gd", rule, seeds=[seed], max_iter=60, record="all")
        np.testing.assert_array_equal(alone.x[0], batched.x[seed])
    clean = ob.run(ROSEN, "gd", rule, seeds=[0, 1, 2, 3], max_iter=60)
    assert not np.allclose(clean.x, batched.x)


def test_perturbed_start_adds_radius_times_normal_from_the_run_stream():
    p = make("perturbed", {"problem": ROSEN, "radius": 0.25})
    X0 = p.initial_point(np.random.default_rng(8), 3000)
    base = p.inner.initial_point(np.random.default_rng(8), 3000)
    assert stats.kstest(((X0 - base) / 0.25).ravel(), "norm").pvalue > 1e-3
    a = ob.run({"name": "perturbed", "problem": ROSEN}, "gd", seeds=[0, 1], max_iter=0).trace
    b = ob.run(ROSEN, "gd", seeds=[0, 1], max_iter=0).trace
    assert not np.allclose(a["f"], b["f"])


@pytest.mark.parametrize("name, params, words", [
    ("rotated", {"problem": "rosenbrok"}, ["problem", "Did you mean 'rosenbrock'"]),
    ("rotated", {"problem": {"name": "rosenbrock", "dimm": 3}}, ["problem", "Did you mean 'dim'"]),
    ("rotated", {"problem": 3}, ["'problem'", "dict | str"]),
    ("shifted", {"problem": ROSEN, "shift": [1.0, 2.0]}, ["'shift'", "5"]),
    ("scaled", {"problem": ROSEN, "condition": -1.0}, ["'condition'", "> 0"]),
    ("noisy", {"problem": ROSEN, "kind": "gaussian"}, ["'kind'", "additive"]),
    ("noisy", {"problem": {"name": "mlp-xor"}, "kind": "multiplicative"}, ["f_opt", "additive"]),
    ("perturbed", {"problem": ROSEN, "radius": 0.0}, ["'radius'"]),
])
def test_bad_parameters_are_one_line_errors(name, params, words):
    with pytest.raises(ob.ParameterError) as info:
        make(name, params)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


SUITE = """
name = "t"
seeds = 2
[budget]
max_iter = 5
[[problems]]
name = "rotated"
problem = { name = "rosenbrock", dim = 3 }
seed = [1, 2]
[[problems]]
name = "noisy"
problem = [{ name = "sphere", dim = 2 }, "rosenbrock"]
[[methods]]
name = "gd"
"""


def test_suite_files_take_nested_problems_and_grids():
    suite = parse_suite(SUITE, "t.toml")
    problems = [cell.problem for cell in suite.cells]
    assert {"name": "rotated", "problem": {"name": "rosenbrock", "dim": 3}, "seed": 2} in problems
    assert {"name": "noisy", "problem": "rosenbrock"} in problems
    assert len({cell.key for cell in suite.cells}) == len(suite.cells) == 4


def test_suite_errors_name_the_key_path():
    with pytest.raises(SuiteError) as info:
        parse_suite(SUITE.replace('"rosenbrock", dim = 3', '"rosenbrok", dim = 3'), "t.toml")
    message = str(info.value)
    assert "problems[0]" in message and "Did you mean 'rosenbrock'" in message


def test_inner_noise_std_is_kept():
    p = make("rotated", {"problem": {"name": "sphere", "dim": 3, "noise_std": 0.5}})
    assert p.noise_std == 0.5
