"""Non-differentiable problems: optima against independent LP / QP solves, subgradients at and away from kinks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize

import optbench as ob


def design_of(problem):
    return np.hstack([problem.features, np.ones((problem.n_samples, 1))])


def test_l1_minimum_subgradient_and_kink_convention():
    problem = ob.problems.create("l1", dim=5, seed=3)
    assert problem.value(problem.x_opt[None])[0] == 0.0 and problem.f_opt == 0.0
    X = np.random.default_rng(0).uniform(-5, 5, (8, 5))
    assert ob.gradient_error(problem, X).max() < 1e-8
    at_kink = problem.x_opt[None].copy()
    at_kink[0, 0] += 1.0
    np.testing.assert_array_equal(problem.grad(at_kink), [[1.0, 0, 0, 0, 0]])


def test_lad_regression_f_opt_equals_an_independent_linprog():
    problem = ob.problems.create("lad-regression", n_samples=60, n_features=3, seed=5)
    D, y = design_of(problem), problem.targets
    n, dim = D.shape
    # residual split r = u - v with u, v >= 0:  min (1/n) sum (u + v)  s.t.  D x - u + v = y
    result = linprog(
        np.concatenate([np.zeros(dim), np.full(2 * n, 1.0 / n)]),
        A_eq=np.hstack([D, -np.eye(n), np.eye(n)]), b_eq=y,
        bounds=[(None, None)] * dim + [(0, None)] * (2 * n), method="highs-ds",
    )
    assert result.status == 0
    assert problem.f_opt == pytest.approx(result.fun, abs=1e-12)
    assert problem.f_opt == pytest.approx(np.mean(np.abs(D @ problem.x_opt - y)), rel=1e-14)


def test_max_affine_f_opt_equals_the_dual_linear_program():
    problem = ob.problems.create("max-affine", dim=4, n_pieces=9, seed=2)
    G, h = problem.slopes, problem.offsets
    # dual: max h.lambda  s.t.  G^T lambda = 0, sum lambda = 1, lambda >= 0
    result = linprog(-h, A_eq=np.vstack([G.T, np.ones(len(h))]), b_eq=np.append(np.zeros(4), 1.0),
                     bounds=[(0, None)] * len(h), method="highs")
    assert problem.f_opt == pytest.approx(-result.fun, abs=1e-12)
    X = problem.x_opt + 0.1 * np.random.default_rng(0).standard_normal((200, 4))
    assert problem.value(X).min() >= problem.f_opt


def test_lasso_satisfies_the_optimality_conditions_and_beats_a_smooth_reformulation():
    problem = ob.problems.create("lasso", l1=0.05, seed=1)
    D, y, n, lam = design_of(problem), problem.targets, problem.n_samples, 0.05
    x = problem.x_opt
    smooth = 2.0 / n * D.T @ (D @ x - y)  # gradient of the MSE, written here independently
    w, g = x[:-1], smooth[:-1]
    assert abs(smooth[-1]) < 1e-10
    assert np.all(np.abs(g[w != 0] + lam * np.sign(w[w != 0])) < 1e-10)
    assert np.all(np.abs(g[w == 0]) <= lam + 1e-10)
    assert np.count_nonzero(w) < len(w)  # sparse
    # w = u - v with u, v >= 0 makes the problem smooth: L-BFGS-B with bounds
    p = len(w)

    def split(z):
        u, v, c = z[:p], z[p : 2 * p], z[-1]
        r = problem.features @ (u - v) + c - y
        value = np.mean(r * r) + lam * np.sum(u + v)
        gw = 2.0 / n * problem.features.T @ r
        return value, np.concatenate([gw + lam, -gw + lam, [2.0 * np.mean(r)]])

    found = minimize(split, np.zeros(2 * p + 1), jac=True, method="L-BFGS-B",
                     bounds=[(0, None)] * (2 * p) + [(None, None)], options={"ftol": 1e-15, "gtol": 1e-12})
    assert problem.f_opt <= found.fun + 1e-14
    assert problem.f_opt == pytest.approx(found.fun, abs=1e-8)


def test_lasso_subgradient_at_zero_is_the_minimum_norm_one():
    problem = ob.problems.create("lasso")
    assert np.linalg.norm(problem.grad(problem.x_opt[None])) < 1e-10
    X = np.zeros((1, problem.dim))
    smooth = 2.0 / problem.n_samples * design_of(problem).T @ (design_of(problem) @ X[0] - problem.targets)
    expected = smooth[:-1] - np.clip(smooth[:-1], -problem.l1, problem.l1)
    np.testing.assert_allclose(problem.grad(X)[0, :-1], expected, atol=1e-14)


@pytest.mark.parametrize("params", [{}, {"separable": True}, {"l2": 1.0, "n_samples": 60}])
def test_hinge_svm_f_opt_beats_an_independent_quadratic_program(params):
    problem = ob.problems.create("hinge-svm", **params)
    D, s, n, lam = design_of(problem), problem.targets, problem.n_samples, problem.l2
    dim = D.shape[1]
    # epigraph QP in (x, xi): min lam/2 |w|^2 + mean(xi)  s.t.  xi >= 0, xi >= 1 - s (D x), by SLSQP
    margins = 1 - s * (D @ problem.x_opt)
    start = np.concatenate([problem.x_opt, np.maximum(margins, 0) + 0.01]) + 0.01
    found = minimize(
        lambda z: (0.5 * lam * z[: dim - 1] @ z[: dim - 1] + z[dim:].mean(),
                   np.concatenate([lam * z[: dim - 1], [0.0], np.full(n, 1.0 / n)])),
        start, jac=True, method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda z: z[dim:] - 1 + s * (D @ z[:dim]),
                      "jac": lambda z: np.hstack([s[:, None] * D, np.eye(n)])}],
        bounds=[(None, None)] * dim + [(0, None)] * n, options={"ftol": 1e-14, "maxiter": 500},
    )
    assert problem.f_opt <= found.fun + 1e-12
    assert problem.f_opt == pytest.approx(found.fun, abs=1e-7)
    # optimality: some subgradient is 0 -- weights beta in [0, 1] for the margin points
    on = np.abs(margins) < 1e-9
    inside = margins > 1e-9
    rest = lam * np.append(problem.x_opt[:-1], 0.0) - (s[inside, None] * D[inside]).sum(0) / n
    beta = np.linalg.lstsq((s[on, None] * D[on]).T / n, rest, rcond=None)[0]
    assert np.linalg.norm((s[on, None] * D[on]).T @ beta / n - rest) < 1e-10
    assert np.all(beta >= -1e-9) and np.all(beta <= 1 + 1e-9)


@pytest.mark.parametrize("name", ["lasso", "hinge-svm", "lad-regression", "max-affine"])
def test_subgradients_equal_finite_differences_away_from_kinks(name):
    problem = ob.problems.create(name)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, problem.dim))
    batch = rng.integers(0, problem.n_samples, (10, 8)) if problem.n_samples else None
    assert ob.gradient_error(problem, X).max() < 1e-6
    if batch is not None:
        assert ob.gradient_error(problem, X, batch=batch).max() < 1e-6


def test_kink_conventions_for_hinge_lad_and_max_affine():
    y = np.array([[1.0, -1.0, 2.5]])
    _, lad_slope = ob.problems.create("lad-regression").loss(y.copy(), y, True)  # zero residuals
    np.testing.assert_array_equal(lad_slope, 0.0)
    s = np.array([[1.0, -1.0, 1.0]])
    _, hinge_slope = ob.problems.create("hinge-svm").loss(np.array([[1.0, -1.0, 0.5]]), s, True)
    np.testing.assert_array_equal(hinge_slope, [[0.0, 0.0, -1.0]])  # on the margin: 0; inside: -s
    affine = ob.problems.create("max-affine", dim=2, n_pieces=3)
    G, h = affine.slopes, affine.offsets
    tie = np.linalg.solve(G[:2] - G[2], h[2] - h[:2])  # pieces 0, 1, 2 all equal here
    assert np.array_equal(affine.grad(tie[None])[0], G[0])


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(["lasso", "hinge-svm", "lad-regression"]),
    n_samples=st.integers(4, 30),
    n_features=st.integers(1, 5),
    n_runs=st.integers(1, 4),
    batch_size=st.integers(1, 6),
    seed=st.integers(0, 500),
)
def test_shape_contract_for_random_sizes(name, n_samples, n_features, n_runs, batch_size, seed):
    params = {"n_samples": n_samples, "n_features": n_features, "seed": seed}
    if name == "lasso":
        params["n_informative"] = 1
    problem = ob.problems.create(name, **params)
    rng = np.random.default_rng(seed)
    X = 10 * rng.standard_normal((n_runs, problem.dim))
    for b in (None, rng.integers(0, n_samples, (n_runs, batch_size))):
        F, G = problem.value_and_grad(X, b)
        assert F.shape == (n_runs,) and G.shape == (n_runs, problem.dim)
        assert np.all(np.isfinite(F)) and np.all(np.isfinite(G))
    assert problem.value(problem.x_opt[None])[0] == pytest.approx(problem.f_opt)
    assert problem.value(X).min() >= problem.f_opt - 1e-12


@settings(max_examples=20, deadline=None)
@given(dim=st.integers(1, 8), extra=st.integers(1, 10), n_runs=st.integers(1, 5), seed=st.integers(0, 500))
def test_max_affine_and_l1_shapes(dim, extra, n_runs, seed):
    for problem in (ob.problems.create("max-affine", dim=dim, n_pieces=dim + extra, seed=seed),
                    ob.problems.create("l1", dim=dim, seed=seed)):
        X = np.random.default_rng(seed).standard_normal((n_runs, dim))
        F, G = problem.value_and_grad(X)
        assert F.shape == (n_runs,) and G.shape == (n_runs, dim) and np.all(np.isfinite(F))
        assert problem.value(X).min() >= problem.f_opt - 1e-12
