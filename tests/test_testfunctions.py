"""Analytic test functions: minima, domains and gradients against independent truth."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optbench as ob
from optbench.objectives import testfunctions as tf
from optbench.errors import ParameterError
ANALYTIC = sorted(name for name in ob.problems.names() if issubclass(ob.problems.get(name), tf.AnalyticFunction))


def allowed_dims(name):
    cls = ob.problems.get(name)
    if cls.dims is not None:
        return list(cls.dims)
    if cls.dim_multiple > 1:
        return [cls.dim_multiple * k for k in (1, 2, 3)]
    return [d for d in (2, 5, 10) if d >= cls.min_dim]


CASES = [(name, dim) for name in ANALYTIC for dim in allowed_dims(name)]


def uniform_in_domain(problem, n, seed=0):
    low, high = problem.domain[:, 0], problem.domain[:, 1]
    return low + (high - low) * np.random.default_rng(seed).random((n, problem.dim))


def test_the_issue_s_functions_are_all_registered():
    wanted = {
        "sphere", "rosenbrock", "rastrigin", "ackley", "griewank", "styblinski-tang", "levy", "zakharov",
        "dixon-price", "schwefel", "michalewicz", "trid", "powell", "himmelblau", "six-hump-camel",
        "three-hump-camel", "beale", "booth", "matyas", "goldstein-price", "easom", "mccormick", "branin",
        "bohachevsky", "double-well", "saddle",
    }
    assert wanted <= set(ANALYTIC)


@pytest.mark.parametrize("name, dim", CASES)
def test_value_at_every_minimiser_is_f_opt(name, dim):
    problem = ob.problems.create(name, dim=dim)
    minimisers = np.atleast_2d(problem.x_opt)
    assert minimisers.shape[1] == dim
    np.testing.assert_allclose(problem.value(minimisers), problem.f_opt, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name, dim", CASES)
def test_no_sampled_domain_point_is_below_f_opt(name, dim):
    problem = ob.problems.create(name, dim=dim)
    X = uniform_in_domain(problem, 10_000)
    assert problem.value(X).min() >= problem.f_opt - 1e-9
    assert np.all(problem.domain[:, 0] <= problem.x_opt_all) and np.all(problem.x_opt_all <= problem.domain[:, 1])


@pytest.mark.parametrize("name, dim", CASES)
def test_gradient_equals_central_differences(name, dim):
    problem = ob.problems.create(name, dim=dim)
    X = uniform_in_domain(problem, 20, seed=1)
    step = 1e-7 if name == "michalewicz" else 1e-6  # the sin^20 terms have large third derivatives
    assert ob.gradient_error(problem, X, step=step).max() < 1e-6


@pytest.mark.parametrize("name, dim", CASES)
def test_gradient_vanishes_at_the_minimisers(name, dim):
    problem = ob.problems.create(name, dim=dim)
    if name == "ackley":  # a cone point: the subgradient returned there is 0
        assert np.all(problem.grad(problem.x_opt_all) == 0)
        return
    G = problem.grad(problem.x_opt_all)
    scale = np.abs(problem.domain).max()
    assert np.abs(G).max() < 1e-7 * max(1.0, scale)


@pytest.mark.parametrize(
    "name, dim, expected, tol",
    [  # published values (Surjanovic & Bingham), to their rounding
        ("michalewicz", 2, -1.8013, 1e-4),
        ("michalewicz", 5, -4.687658, 1e-6),
        ("michalewicz", 10, -9.66015, 1e-5),
        ("styblinski-tang", 3, -39.16599 * 3, 1e-3),
        ("six-hump-camel", 2, -1.0316, 1e-4),
        ("mccormick", 2, -1.9133, 1e-4),
        ("branin", 2, 0.397887, 1e-6),
        ("goldstein-price", 2, 3.0, 0.0),
        ("easom", 2, -1.0, 0.0),
        ("trid", 6, -50.0, 0.0),
        ("trid", 10, -210.0, 0.0),
    ],
)
def test_f_opt_matches_the_library(name, dim, expected, tol):
    assert abs(ob.problems.create(name, dim=dim).f_opt - expected) <= tol + 1e-12


def test_minimisers_match_the_library():
    himmelblau = ob.problems.create("himmelblau").x_opt
    published = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    np.testing.assert_allclose(himmelblau, published, atol=1e-6)
    assert ob.problems.create("branin").x_opt.shape == (3, 2)
    np.testing.assert_allclose(ob.problems.create("branin").x_opt[:, 1], [12.275, 2.275, 2.475], atol=1e-12)
    schwefel = ob.problems.create("schwefel", dim=3)
    np.testing.assert_allclose(schwefel.x_opt, 420.968746, atol=1e-6)
    assert 0 < schwefel.f_opt < 1e-4  # the rounded constant 418.9829 makes it not exactly 0
    trid = ob.problems.create("trid", dim=5)
    i = np.arange(1, 6)
    np.testing.assert_array_equal(trid.x_opt, i * (6 - i))
    assert trid.f_opt == -5 * 9 * 4 / 6
    dixon = ob.problems.create("dixon-price", dim=4)
    np.testing.assert_allclose(dixon.x_opt, [2.0 ** (-(2.0**k - 2) / 2.0**k) for k in range(1, 5)], rtol=1e-15)


def test_trid_minimiser_solves_its_linear_system():
    # f = x.H.x / 2 - 2 sum x + d with H = tridiag(-1, 2, -1): x_opt = H^-1 * 2
    d = 7
    H = 2 * np.eye(d) - np.eye(d, k=1) - np.eye(d, k=-1)
    np.testing.assert_allclose(ob.problems.create("trid", dim=d).x_opt, np.linalg.solve(H, 2 * np.ones(d)), rtol=1e-12)


def test_shape_contract_and_defaults_for_every_problem():
    for name in ob.problems.names():
        problem = ob.problems.create(name)
        X = problem.initial_point(np.random.default_rng(0), 3)
        assert X.shape == (3, problem.dim)
        F, G = problem.value_and_grad(X)
        assert F.shape == (3,) and G.shape == (3, problem.dim)
        if "noisy" in problem.tags:  # fresh noise at every evaluation: the two calls differ (tests/test_noise.py)
            continue
        np.testing.assert_allclose(F, problem.value(X), rtol=1e-13)
        np.testing.assert_allclose(G, problem.grad(X), rtol=1e-13)


@pytest.mark.parametrize("name", ["rosenbrock", "sphere", "michalewicz", "himmelblau", "double-well"])
def test_invalid_dims_are_clear_errors(name):
    cls = ob.problems.get(name)
    bad = 3 if cls.dims is not None else 0
    with pytest.raises(ParameterError, match=f"problem '{name}': .*dim"):
        ob.problems.create(name, dim=bad)
    with pytest.raises(ParameterError, match="multiple of 4"):
        ob.problems.create("powell", dim=6)
    with pytest.raises(ParameterError, match="noise_std must be >= 0"):
        ob.problems.create(name, noise_std=-1.0)


def test_fixed_dimension_functions_declare_their_dims():
    assert ob.problems.describe("branin")["dims"] == (2,)
    assert ob.problems.describe("double-well")["dims"] == (1,)
    assert ob.problems.describe("rastrigin")["dims"] is None


def test_noise_std_perturbs_gradients_in_the_run_loop_only():
    quiet = ob.run("sphere", "gd", {"name": "constant", "lr": 0.1}, x0=[1.0, 1.0], max_iter=30, seeds=2)
    noisy = ob.run({"name": "sphere", "noise_std": 0.5}, "gd", {"name": "constant", "lr": 0.1},
                   x0=[1.0, 1.0], max_iter=30, seeds=2)
    # gd on the sphere: x_k = 0.8^k x_0 exactly without noise
    np.testing.assert_allclose(quiet.x, 0.8**30 * np.ones((2, 2)), rtol=1e-12)
    assert np.all(np.abs(noisy.x) > 1e-6) and not np.allclose(noisy.x[0], noisy.x[1])
    problem = ob.problems.create("sphere", noise_std=0.5)
    np.testing.assert_array_equal(problem.grad(np.ones((1, 2))), [[2.0, 2.0]])  # the problem itself is exact


def test_saddle_traps_plain_gradient_descent_on_its_stable_manifold():
    rule = {"name": "constant", "lr": 0.1}
    trapped = ob.run({"name": "saddle", "dim": 3}, "gd", rule, seeds=4, max_iter=500)
    assert np.all(trapped.x[:, -1] == 0.0)
    np.testing.assert_allclose(trapped.f, 0.0, atol=1e-12)  # converged to the saddle, not the minimum -0.25
    escaped = ob.run({"name": "saddle", "dim": 3, "noise_std": 0.01}, "gd", rule, seeds=4, max_iter=500)
    np.testing.assert_allclose(escaped.f, -0.25, atol=1e-3)


def test_double_well_has_a_local_trap_and_a_global_minimum():
    problem = ob.problems.create("double-well", tilt=0.3)
    roots = np.sort(np.roots([4, 0, -4, 0.3]).real)
    assert problem.x_opt == pytest.approx([roots[0]], abs=1e-12) and problem.x_local == pytest.approx([roots[2]], abs=1e-12)
    rule = {"name": "constant", "lr": 0.05}
    right = ob.run("double-well", "gd", rule, x0=[1.5], max_iter=400)
    left = ob.run("double-well", "gd", rule, x0=[-1.5], max_iter=400)
    assert right.x[0, 0] == pytest.approx(problem.x_local[0], abs=1e-8)
    assert left.f[0] == pytest.approx(problem.f_opt, abs=1e-12)
    assert ob.problems.create("double-well", tilt=0.0).x_opt.shape == (2, 1)


def test_cli_lists_every_problem_with_dims_tags_and_f_opt(capsys):
    from optbench.cli import main

    assert main(["list", "problems"]) == 0
    out = capsys.readouterr().out
    for name in ob.problems.names():
        assert f"  {name} " in out
    assert "dims: 2" in out and "dims: any" in out and "f_opt: known" in out and "f_opt: computed" in out
    assert "tags: multimodal, smooth" in out


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(ANALYTIC),
    dim_index=st.integers(0, 2),
    n_runs=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_shape_contract_and_finite_values_inside_the_domain(name, dim_index, n_runs, seed):
    cls = ob.problems.get(name)
    if cls.dims is not None:
        dim = cls.dims[0]
    else:
        dim = [cls.min_dim, cls.min_dim + 1, 17][dim_index]
        dim += (-dim) % cls.dim_multiple
    problem = ob.problems.create(name, dim=dim)
    X = uniform_in_domain(problem, n_runs, seed)
    X[0] = problem.domain[:, int(seed % 2)]  # a corner of the domain too
    F, G = problem.value_and_grad(X)
    assert F.shape == (n_runs,) and G.shape == (n_runs, dim)
    assert np.all(np.isfinite(F)) and np.all(np.isfinite(G))
    assert problem.initial_point(np.random.default_rng(seed), n_runs).shape == (n_runs, dim)
