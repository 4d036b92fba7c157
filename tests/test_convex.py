"""Convex problems: optima against numpy/scipy solves, gradients against finite differences, finite sums."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

import optbench as ob
from optbench.errors import ParameterError
FINITE_SUMS = ["linear-regression", "ridge", "logistic-regression", "lasso", "hinge-svm", "lad-regression"]


def design_of(problem):
    return np.hstack([problem.features, np.ones((problem.n_samples, 1))])


def test_quadratic_minimiser_solves_A_x_equals_b():
    problem = ob.problems.create("quadratic", dim=6, condition=1e3, seed=3)
    np.testing.assert_allclose(problem.x_opt, scipy.linalg.solve(problem.A, problem.b), rtol=1e-10)
    np.testing.assert_allclose(np.linalg.eigvalsh(problem.A), np.logspace(0, 3, 6), rtol=1e-10)
    X = np.random.default_rng(0).standard_normal((5, 6))
    assert ob.gradient_error(problem, X).max() < 1e-8


def test_linear_regression_optimum_is_lstsq_and_f_opt_its_mean_squared_residual():
    problem = ob.problems.create("linear-regression", n_samples=120, n_features=6, noise=0.3, seed=2)
    D, y = design_of(problem), problem.targets
    expected = scipy.linalg.lstsq(D, y)[0]
    np.testing.assert_allclose(problem.x_opt, expected, rtol=1e-10, atol=1e-12)
    assert problem.f_opt == pytest.approx(np.mean((D @ expected - y) ** 2), rel=1e-12)
    assert problem.dim == 7  # six features and the bias, last


def test_ridge_optimum_is_the_closed_form():
    problem = ob.problems.create("ridge", l2=0.5, n_samples=80, seed=1)
    D, y, n = design_of(problem), problem.targets, problem.n_samples
    # minimise (1/n)|D x - y|^2 + 0.25 |w|^2 with scipy from scratch
    found = minimize(
        lambda x: np.mean((D @ x - y) ** 2) + 0.25 * x[:-1] @ x[:-1],
        np.zeros(problem.dim), jac=lambda x: 2 / n * D.T @ (D @ x - y) + 0.5 * np.append(x[:-1], 0.0),
        method="BFGS", options={"gtol": 1e-12},
    )
    np.testing.assert_allclose(problem.x_opt, found.x, atol=1e-7)
    assert problem.f_opt == pytest.approx(found.fun, abs=1e-12)


def test_logistic_regression_f_opt_reaches_a_tiny_gradient_and_beats_lbfgs():
    problem = ob.problems.create("logistic-regression", l2=0.01, seed=4)
    assert np.linalg.norm(problem.grad(problem.x_opt[None])) < 1e-10
    D, s = design_of(problem), 2.0 * problem.labels - 1.0

    def loss(x):  # written independently: log(1 + e^-m) as log1p(exp(-m)) on a stable branch
        m = s * (D @ x)
        return np.mean(np.where(m > 0, np.log1p(np.exp(-np.abs(m))), -m + np.log1p(np.exp(-np.abs(m))))) + 0.005 * x[:-1] @ x[:-1]

    found = minimize(loss, np.zeros(problem.dim), method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10})
    assert problem.f_opt <= found.fun + 1e-14
    assert problem.f_opt == pytest.approx(found.fun, abs=1e-8)
    assert problem.f_opt == pytest.approx(loss(problem.x_opt), rel=1e-13)


def test_separable_logistic_regression_has_infimum_zero_and_no_minimiser():
    problem = ob.problems.create("logistic-regression", separable=True)
    assert problem.f_opt == 0.0 and problem.x_opt is None
    w = np.linalg.lstsq(design_of(problem), problem.targets, rcond=None)[0]
    values = problem.value(np.outer([1.0, 10.0, 100.0], w))
    assert np.all(np.diff(values) < 0) and 0 < values[-1] < 0.01
    assert problem.metrics(100 * w[None])["accuracy"][0] == 1.0


@pytest.mark.parametrize("name", FINITE_SUMS)
def test_minibatch_gradients_averaged_over_an_epoch_equal_the_full_gradient(name):
    problem = ob.problems.create(name)
    rng = np.random.default_rng(0)
    n, n_runs, batch_size = problem.n_samples, 3, 20
    assert n % batch_size == 0
    X = rng.standard_normal((n_runs, problem.dim))
    order = np.stack([rng.permutation(n) for _ in range(n_runs)])  # each run its own epoch order
    batches = [order[:, i : i + batch_size] for i in range(0, n, batch_size)]
    mean_grad = np.mean([problem.grad(X, b) for b in batches], axis=0)
    mean_value = np.mean([problem.value(X, b) for b in batches], axis=0)
    np.testing.assert_allclose(mean_grad, problem.grad(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean_value, problem.value(X), rtol=1e-12)


@pytest.mark.parametrize("name", ["linear-regression", "ridge", "logistic-regression"])
def test_gradients_equal_finite_differences_full_and_minibatch(name):
    problem = ob.problems.create(name)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, problem.dim))
    batch = rng.integers(0, problem.n_samples, (6, 9))
    assert ob.gradient_error(problem, X).max() < 1e-6
    assert ob.gradient_error(problem, X, batch=batch).max() < 1e-6


def test_minibatch_value_is_each_run_s_own_sample_mean():
    problem = ob.problems.create("linear-regression")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, problem.dim))
    batch = rng.integers(0, problem.n_samples, (4, 7))
    D, y = design_of(problem), problem.targets
    expected = [np.mean((D[batch[r]] @ X[r] - y[batch[r]]) ** 2) for r in range(4)]
    np.testing.assert_allclose(problem.value(X, batch), expected, rtol=1e-13)


def test_bad_batches_and_parameters_are_clear_errors():
    problem = ob.problems.create("linear-regression")
    X = np.zeros((2, problem.dim))
    with pytest.raises(ValueError, match="batch must be an integer array of shape"):
        problem.value(X, np.zeros((3, 4), dtype=int))
    with pytest.raises(ValueError, match="takes X of shape"):
        problem.value(np.zeros((2, 3)))
    with pytest.raises(ParameterError, match="l2 must be >= 0"):
        ob.problems.create("ridge", l2=-1.0)
    with pytest.raises(ParameterError, match="n_samples must be >= 2"):
        ob.problems.create("linear-regression", n_samples=1)


def test_sgd_on_linear_regression_runs_through_the_loop():
    result = ob.run("linear-regression", "gd", {"name": "constant", "lr": 0.05}, seeds=3, batch_size=20, max_epochs=30.0)
    problem = ob.problems.create("linear-regression")
    assert np.all(result.runs["f_gap"] < 0.05) and np.all(result.runs["f_gap"] >= -1e-12)
    np.testing.assert_allclose(result.runs["f"], problem.value(result.x), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(["linear-regression", "ridge", "logistic-regression"]),
    n_samples=st.integers(5, 40),
    n_features=st.integers(1, 6),
    n_runs=st.integers(1, 5),
    batch_size=st.integers(1, 5),
    seed=st.integers(0, 1000),
)
def test_shape_contract_for_random_sizes(name, n_samples, n_features, n_runs, batch_size, seed):
    problem = ob.problems.create(name, n_samples=n_samples, n_features=n_features, seed=seed)
    rng = np.random.default_rng(seed)
    X = 10 * rng.standard_normal((n_runs, n_features + 1))
    batch = rng.integers(0, n_samples, (n_runs, batch_size))
    for b in (None, batch):
        F, G = problem.value_and_grad(X, b)
        assert F.shape == (n_runs,) and G.shape == (n_runs, n_features + 1)
        assert np.all(np.isfinite(F)) and np.all(np.isfinite(G))
    assert np.isfinite(problem.f_opt)
