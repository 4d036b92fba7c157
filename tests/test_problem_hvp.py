"""Problem.hvp: analytic Hessian-vector products against scipy, PyTorch's double backward and
central differences of the gradient; the base class's central differences against scipy; charging."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import rosen_hess_prod

import optbench as ob
from optbench.objectives.bbob import HVP_FUNCTIONS
from optbench.problem import Problem

# Every problem with an analytic product (``hvp_exact``), with parameters keeping the tests quick.
EXACT = [
    ("sphere", {"dim": 4}), ("zakharov", {"dim": 4}), ("trid", {"dim": 5}), ("powell", {"dim": 8}),
    ("dixon-price", {"dim": 5}), ("rosenbrock", {"dim": 6}), ("rastrigin", {"dim": 4}), ("ackley", {"dim": 4}),
    ("styblinski-tang", {"dim": 3}), ("levy", {"dim": 4}), ("schwefel", {"dim": 3}), ("michalewicz", {"dim": 4}),
    ("double-well", {}), ("saddle", {"dim": 3}), ("himmelblau", {}),
    ("six-hump-camel", {}), ("three-hump-camel", {}), ("booth", {}), ("matyas", {}), ("mccormick", {}),
    ("branin", {}), ("bohachevsky", {"variant": 1}), ("bohachevsky", {"variant": 2}),
    ("bohachevsky", {"variant": 3}), ("quadratic", {"dim": 6, "condition": 100.0}),
    ("linear-regression", {"n_samples": 30}), ("ridge", {"n_samples": 30, "l2": 0.3}),
    ("logistic-regression", {"n_samples": 30, "l2": 0.1}),
    ("mlp-moons", {"n_samples": 30, "activation": "tanh"}), ("mlp-moons", {"n_samples": 30}),
    ("mlp-blobs", {"n_samples": 30, "activation": "sigmoid"}), ("mlp-regression", {"n_samples": 30}),
    ("shifted", {"problem": {"name": "rosenbrock", "dim": 4}}),
    ("rotated", {"problem": {"name": "logistic-regression", "n_samples": 30}}),
    ("scaled", {"problem": {"name": "ackley", "dim": 3}, "condition": 10.0}),
    ("perturbed", {"problem": "himmelblau"}),
]


def points(problem, n_runs=4, seed=0):
    """Starting points (within [-3, 3], where the differences resolve the oscillating functions)
    moved off any symmetric point (so no relu or cone sits on its kink)."""
    rng = np.random.default_rng(seed)
    X = np.clip(problem.initial_point(rng, n_runs), -3.0, 3.0)
    X = X + 0.1 * rng.standard_normal(X.shape) * np.maximum(1.0, np.abs(X))
    return X, rng.standard_normal(X.shape)


def relative_error(actual, expected):
    return np.max(np.linalg.norm(actual - expected, axis=1) / np.maximum(1.0, np.linalg.norm(expected, axis=1)))


@pytest.mark.parametrize("name,params", EXACT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXACT)])
def test_analytic_products_equal_central_differences_of_the_gradient(name, params):
    problem = ob.problems.create(name, **params)
    assert problem.hvp_exact
    X, V = points(problem)
    np.testing.assert_array_less(relative_error(problem.hvp(X, V), Problem.hvp(problem, X, V)), 1e-6)
    if problem.n_samples is not None:  # the run's own minibatch
        batch = np.random.default_rng(3).integers(0, problem.n_samples, (X.shape[0], 7))
        np.testing.assert_array_less(relative_error(problem.hvp(X, V, batch), Problem.hvp(problem, X, V, batch)), 1e-6)


@pytest.mark.parametrize("function", [1, 2, 3, 8, 9, 10, 11, 12, 15])
@pytest.mark.parametrize("dim", [2, 5, 10])
def test_bbob_products_equal_extrapolated_central_differences(function, dim):
    """Richardson's extrapolation of central differences (error O(h^4)) at h = 1e-4, 5e-5, on unit directions."""
    problem = ob.problems.create("bbob", function=function, dim=dim, instance=1 + dim % 3)
    assert problem.hvp_exact and function in HVP_FUNCTIONS
    rng = np.random.default_rng(function)
    X = problem.initial_point(rng, 4)
    V = rng.standard_normal(X.shape)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    central = lambda h: (problem.grad(X + h * V) - problem.grad(X - h * V)) / (2 * h)  # noqa: E731
    expected = (4 * central(5e-5) - central(1e-4)) / 3
    np.testing.assert_array_less(relative_error(problem.hvp(X, V), expected), 1e-7)


def test_rosenbrock_equals_scipys_hessian_product_to_rounding():
    problem = ob.problems.create("rosenbrock", dim=7)
    X, V = points(problem)
    expected = np.array([rosen_hess_prod(x, v) for x, v in zip(X, V)])
    np.testing.assert_allclose(problem.hvp(X, V), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_quadratic_product_is_the_matrix_of_second_differences_of_f():
    """``H_jk = (f(x + e_j + e_k) - f(x + e_j) - f(x + e_k) + f(x))`` exactly for a quadratic (up to rounding)."""
    problem = ob.problems.create("quadratic", dim=5, condition=50.0, seed=4)
    x = np.zeros(5)
    E = np.eye(5)
    f = lambda Y: problem.value(np.atleast_2d(Y))  # noqa: E731
    H = np.array([[f(x + E[j] + E[k])[0] - f(x + E[j])[0] - f(x + E[k])[0] + f(x)[0] for k in range(5)] for j in range(5)])
    X, V = points(problem)
    np.testing.assert_allclose(problem.hvp(X, V), V @ H, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("minibatch", [False, True])
def test_logistic_regression_matches_torch_double_backward(minibatch):
    torch = pytest.importorskip("torch")
    problem = ob.problems.create("logistic-regression", n_samples=40, n_features=3, l2=0.2, seed=1)
    X, V = points(problem, n_runs=3)
    batch = np.random.default_rng(1).integers(0, 40, (3, 9)) if minibatch else None
    H = problem.hvp(X, V, batch)
    for r in range(3):
        rows = slice(None) if batch is None else batch[r]
        A = torch.tensor(problem.features[rows])
        s = torch.tensor(problem.targets[rows])

        def f(x):
            margin = s * (A @ x[:-1] + x[-1])
            return torch.nn.functional.softplus(-margin).mean() + 0.1 * (x[:-1] ** 2).sum()

        _, expected = torch.autograd.functional.hvp(f, torch.tensor(X[r]), torch.tensor(V[r]))
        np.testing.assert_allclose(H[r], expected.numpy(), rtol=1e-12, atol=1e-13)


def test_mlp_moons_matches_torch_double_backward():
    torch = pytest.importorskip("torch")
    problem = ob.problems.create("mlp-moons", n_samples=50, hidden=[6])
    X, V = points(problem, n_runs=2)
    H = problem.hvp(X, V)
    for r in range(2):
        def f(t):
            W1, b1 = t[:12].view(2, 6), t[12:18]
            W2, b2 = t[18:24].view(6, 1), t[24:25]
            z = torch.relu(torch.tensor(problem.inputs) @ W1 + b1) @ W2 + b2
            return torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], torch.tensor(problem.targets))

        _, expected = torch.autograd.functional.hvp(f, torch.tensor(X[r]), torch.tensor(V[r]))
        np.testing.assert_allclose(H[r], expected.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wrapper,params", [("shifted", {"shift": [0.5, -1.0, 2.0]}), ("rotated", {"seed": 2}),
                                            ("scaled", {"condition": 30.0})])
def test_affine_wrappers_pull_the_inner_product_back(wrapper, params):
    """``A^T H_f(A x + b) A v`` with scipy's Rosenbrock product at the mapped point."""
    problem = ob.problems.create(wrapper, problem={"name": "rosenbrock", "dim": 3}, **params)
    X, V = points(problem)
    A = np.array([problem._forward(e[None])[0] - problem._forward(np.zeros((1, 3)))[0] for e in np.eye(3)]).T
    Y = problem._forward(X)
    expected = np.array([A.T @ rosen_hess_prod(y, A @ v) for y, v in zip(Y, V)])
    np.testing.assert_allclose(problem.hvp(X, V), expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    assert problem.hvp_exact


def test_wrappers_of_a_central_difference_problem_stay_central_differences():
    problem = ob.problems.create("rotated", problem={"name": "griewank", "dim": 3})
    assert not problem.hvp_exact and not ob.problems.create("bbob", function=6, dim=3).hvp_exact
    noisy = ob.problems.create("noisy", problem={"name": "sphere", "dim": 3}, std=0.5)
    X, V = points(noisy)
    np.testing.assert_array_equal(noisy.hvp(X, V), 2.0 * V)  # the noise-free curvature


def test_the_base_hvp_matches_scipys_rosenbrock_hessian_product():
    class PlainRosenbrock(Problem):  # gradient only: the base class's central differences
        dim = 5

        def grad(self, X, batch=None):
            return ob.problems.create("rosenbrock", dim=5).grad(X)

    problem = PlainRosenbrock()
    rng = np.random.default_rng(0)
    X, V = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    V[2] = 0.0
    expected = np.array([rosen_hess_prod(x, v) for x, v in zip(X, V)])
    np.testing.assert_allclose(problem.hvp(X, V), expected, rtol=1e-6, atol=1e-6)
    assert np.all(problem.hvp(X, V)[2] == 0.0) and not problem.hvp_exact


@pytest.mark.parametrize("name,charged", [("rosenbrock", 1), ("griewank", 2)])
def test_step_context_hvp_is_charged_one_gradient_when_exact_and_two_otherwise(name, charged):
    from optbench.engine.context import Evaluator, StepContext

    problem = ob.problems.create(name, dim=3)
    evaluator = Evaluator(problem, 2, None, None)
    ctx = StepContext(None, evaluator)
    ctx.X, ctx.active = np.ones((2, 3)), np.array([True, False])
    H = ctx.hvp(np.ones((2, 3)))
    np.testing.assert_allclose(H[0], Problem.hvp(problem, np.ones((1, 3)), np.ones((1, 3)))[0], rtol=1e-6)
    assert evaluator.g_evals.tolist() == [charged, 0]
