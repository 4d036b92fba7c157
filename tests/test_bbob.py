"""COCO's bbob functions: values against cocoex, optima, and analytic gradients against finite differences."""

import cocoex
import numpy as np
import pytest

import optbench as ob
from optbench.objectives.bbob import BBOB, FUNCTION_NAMES
from optbench.errors import ParameterError
FUNCTIONS = list(range(1, 25))
INSTANCES = [1, 2, 3, 4, 5]
DIMS = [2, 5, 10, 20]
# functions without a matrix product: batched equals one by one bit for bit
ELEMENTWISE = {1, 2, 3, 4, 5, 8, 20}


@pytest.fixture(scope="module")
def coco_suite():
    return cocoex.Suite("bbob", "instances: 1-5", "dimensions: 2,5,10,20")


@pytest.fixture(scope="module")
def problems():
    return {(f, i, d): BBOB(function=f, instance=i, dim=d) for f in FUNCTIONS for i in INSTANCES for d in DIMS}


def test_the_family_is_registered_with_24_functions():
    assert "bbob" in ob.problems.names()
    p = ob.problems.create("bbob", function=3, instance=2, dim=5)
    assert isinstance(p, BBOB) and p.dim == 5 and p.function == 3 and p.instance == 2
    assert sorted(FUNCTION_NAMES) == FUNCTIONS
    assert p.domain.tolist() == [[-5.0, 5.0]] * 5


@pytest.mark.parametrize("function", FUNCTIONS)
def test_values_equal_cocoex(function, coco_suite, problems):
    """50 uniform points in [-5, 5]^d per instance and dimension; the error is relative to the scale of
    the terms summed, max(|f|, |f - f_opt|) (f_opt is an added offset: f can be near 0 by cancellation)."""
    rng = np.random.default_rng(function)
    for d in DIMS:
        for i in INSTANCES:
            reference = coco_suite.get_problem_by_function_dimension_instance(function, d, i)
            ours = problems[function, i, d]
            X = rng.uniform(-5.0, 5.0, (50, d))
            expected = np.array([reference(x) for x in X])
            got = ours.value(X)
            scale = np.maximum(np.abs(expected), np.abs(expected - ours.f_opt))
            assert np.max(np.abs(got - expected) / scale) < 1e-9, (function, i, d)


def test_dims_3_and_40_and_later_instances_equal_cocoex():
    """The suite file's other dimensions and instances: a lighter check, 5 points each."""
    reference_suite = cocoex.Suite("bbob", "instances: 6,15", "dimensions: 3,40")
    rng = np.random.default_rng(40)
    for function in FUNCTIONS:
        for d in (3, 40):
            for i in (6, 15):
                reference = reference_suite.get_problem_by_function_dimension_instance(function, d, i)
                ours = BBOB(function=function, instance=i, dim=d)
                X = rng.uniform(-5.0, 5.0, (5, d))
                expected = np.array([reference(x) for x in X])
                scale = np.maximum(np.abs(expected), np.abs(expected - ours.f_opt))
                assert np.max(np.abs(ours.value(X) - expected) / scale) < 1e-9, (function, i, d)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_f_opt_is_coco_s_and_x_opt_attains_it(function, coco_suite, problems):
    for d in DIMS:
        for i in INSTANCES:
            reference = coco_suite.get_problem_by_function_dimension_instance(function, d, i)
            ours = problems[function, i, d]
            # COCO's own value at our x_opt, and ours
            tolerance = 1e-9 * max(1.0, abs(ours.f_opt))
            assert reference(ours.x_opt) == pytest.approx(ours.f_opt, rel=0, abs=tolerance)
            assert ours.value(ours.x_opt[None])[0] == pytest.approx(ours.f_opt, rel=0, abs=tolerance)
            assert np.all(np.abs(ours.x_opt) <= 5.0)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_point_of_the_domain_is_below_f_opt(function, problems):
    rng = np.random.default_rng(100 + function)
    for d in DIMS:
        for i in INSTANCES:
            p = problems[function, i, d]
            X = rng.uniform(-5.0, 5.0, (1000, d))
            assert np.min(p.value(X)) >= p.f_opt - 1e-10 * max(1.0, abs(p.f_opt)), (function, i, d)


def test_f_opt_comes_from_coco_s_generator():
    # COCO's published offsets of instance 1 (bbob functions documentation / cocoex best values)
    assert BBOB(1, 1, 2).f_opt == 79.48
    assert BBOB(3, 1, 2).f_opt == BBOB(4, 1, 2).f_opt  # f4 shares f3's seed
    assert BBOB(17, 2, 5).f_opt == BBOB(18, 2, 5).f_opt  # f18 shares f17's seed


def central_differences(problem, X, h):
    """Central differences of f in extended precision (np.longdouble), one coordinate at a time."""
    XL = X.astype(np.longdouble)
    G = np.empty_like(XL)
    for j in range(X.shape[1]):
        E = np.zeros_like(XL)
        E[:, j] = h
        G[:, j] = (problem.value(XL + E) - problem.value(XL - E)) / (2 * h)
    return G.astype(float)


def relative_gradient_error(problem, X, h):
    G = problem.grad(X)
    fd = central_differences(problem, X, h)
    return np.linalg.norm(G - fd, axis=1) / np.maximum(np.linalg.norm(fd, axis=1), 1e-12)


# step sizes: functions that vary on fine scales need small steps (Weierstrass: 3^-11; f19: cos of 1e5)
STEPS = {16: 1e-11, 19: 1e-10}


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f != 23])
def test_gradients_equal_central_differences(function, problems):
    """Random points in [-6, 6]^d (some outside the domain, where the penalties act), instances 1 and 2."""
    assert np.finfo(np.longdouble).eps < 1e-18, "the reference differences need extended precision"
    rng = np.random.default_rng(200 + function)
    for d in DIMS:
        for i in (1, 2):
            p = problems[function, i, d]
            X = rng.uniform(-6.0, 6.0, (12, d))
            errors = relative_gradient_error(p, X, STEPS.get(function, 1e-8))
            assert np.max(errors) < 1e-6, (function, i, d, errors)


def test_step_ellipsoid_gradient_is_zero_on_plateaus_and_exact_elsewhere(problems):
    p = problems[7, 1, 5]
    rng = np.random.default_rng(7)
    inside = rng.uniform(-4.5, 4.5, (20, 5))
    assert np.all(p.grad(inside) == 0.0)  # the rounded ellipsoid is piecewise constant: its gradient is 0
    # near x_opt the floor 1e-4 |z_1| is active, and outside the domain the penalty: both are exact
    near = p.x_opt + 1e-3 * rng.standard_normal((10, 5))
    outside = rng.uniform(5.5, 6.5, (10, 5)) * rng.choice([-1.0, 1.0], (10, 5))
    for X, h in ((near, 1e-5), (outside, 1e-8)):  # f - f_opt is ~1e-8 near x_opt: a larger step
        assert np.all(np.linalg.norm(p.grad(X), axis=1) > 0)
        assert np.max(relative_gradient_error(p, X, h)) < 1e-6


def test_katsuura_gradient_between_its_kinks(problems):
    """Katsuura has kinks every 2^-33 in z = M (x - x_opt): points are put half-way between kinks
    (z_i an odd multiple of 2^-34) and the difference step moves z by less than 2^-34."""
    rng = np.random.default_rng(23)
    for d in DIMS:
        p = problems[23, 1, d]
        M = p._c.M
        Z = (np.floor(rng.uniform(-1.0, 1.0, (8, d)) * 2.0**33) * 2.0 + 1.0) * 2.0**-34
        X = p.x_opt + np.linalg.solve(M, Z.T).T
        h = 0.5 * 2.0**-34 / np.max(np.abs(M))
        errors = relative_gradient_error(p, X, h)
        assert np.max(errors) < 1e-6, (d, errors)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_batched_equals_one_by_one(function, problems):
    p = problems[function, 3, 10]
    X = np.random.default_rng(300 + function).uniform(-5.5, 5.5, (16, 10))
    F, G = p.value_and_grad(X)
    single = [p.value_and_grad(X[k : k + 1]) for k in range(len(X))]
    F1, G1 = np.concatenate([s[0] for s in single]), np.concatenate([s[1] for s in single])
    assert np.array_equal(F, p.value(X)) and np.array_equal(G, p.grad(X))
    if function in ELEMENTWISE:
        assert np.array_equal(F, F1) and np.array_equal(G, G1)
    else:  # a BLAS product may sum in another order for one row than for many
        np.testing.assert_allclose(F, F1, rtol=1e-12, atol=0)
        np.testing.assert_allclose(G, G1, rtol=1e-9, atol=1e-9 * np.max(np.abs(G)))


def test_initial_points_are_uniform_in_the_domain():
    X = BBOB(8, 1, 10).initial_point(np.random.default_rng(0), 2000)
    assert X.shape == (2000, 10) and np.all(np.abs(X) <= 5.0)
    assert np.all(np.abs(X.mean(axis=0)) < 0.3) and np.all(np.abs(X.var(axis=0) - 100.0 / 12.0) < 0.8)


def test_overflow_is_quiet(problems):
    X = np.full((2, 5), 1e200)
    with np.errstate(all="raise"):
        for function in FUNCTIONS:
            F, G = problems[function, 1, 5].value_and_grad(X)
            assert F.shape == (2,) and G.shape == (2, 5)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"function": 25}, r"bbob function must be an integer in 1-24, got 25"),
        ({"instance": 0}, r"bbob instance must be an integer >= 1"),
        ({"dim": 1}, r"bbob dim must be an integer >= 2"),
        ({"functon": 3}, r"has no parameter 'functon'.*Did you mean 'function'"),
    ],
)
def test_bad_parameters_are_one_line_errors(params, message):
    with pytest.raises(ParameterError, match=message):
        ob.problems.create("bbob", **params)


def test_tags_per_function():
    assert BBOB(1).tags == {"convex", "smooth", "unimodal"}
    assert "nonsmooth" in BBOB(7).tags and "multimodal" in BBOB(21).tags
    assert all(BBOB(f).tags <= BBOB.tags for f in FUNCTIONS)


def test_a_descent_method_reaches_the_sphere_s_optimum():
    res = ob.run(ob.problems.create("bbob", function=1, instance=1, dim=5), "gd", {"name": "constant", "lr": 0.1},
                 seeds=3, max_iter=200)
    assert np.all(res.runs["f"].to_numpy() - 79.48 < 1e-8)
