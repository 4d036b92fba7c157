"""Seeded synthetic data sets: determinism, shapes, and the geometry each promises."""

import numpy as np
import pytest
from scipy.optimize import linprog

from optbench.objectives import data

GENERATORS = [data.house_prices, data.sparse_regression, data.linear_classification,
              data.moons, data.circles, data.spirals, data.blobs]


def separable(X, y):
    """Whether a hyperplane strictly separates the classes (independent LP feasibility check)."""
    s = 2.0 * y - 1.0
    D = np.hstack([X, np.ones((len(y), 1))])
    result = linprog(np.zeros(D.shape[1]), A_ub=-(s[:, None] * D), b_ub=-np.ones(len(y)),
                     bounds=[(None, None)] * D.shape[1], method="highs")
    return result.status == 0


@pytest.mark.parametrize("generator", GENERATORS)
def test_same_seed_same_data_other_seed_other_data(generator):
    X1, y1 = generator(n_samples=50, seed=3)
    X2, y2 = generator(n_samples=50, seed=3)
    X3, _ = generator(n_samples=50, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert X1.dtype == np.float64 and X1.shape[0] == 50 and y1.shape == (50,)


def test_house_prices_are_standardised_and_follow_the_true_linear_model():
    X, y = data.house_prices(n_samples=300, n_features=10, noise=0.0, seed=1)
    assert X.shape == (300, 10)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1, rtol=1e-12)
    coef = np.linalg.lstsq(np.hstack([X, np.ones((300, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(coef[:-1], data.house_price_coefficients(10), atol=1e-12)
    assert coef[-1] == pytest.approx(3.0)
    assert np.corrcoef(X[:, 0], X[:, 1])[0, 1] > 0.5  # bigger houses have more rooms
    _, noisy = data.house_prices(n_samples=300, n_features=10, noise=0.5, seed=1)
    assert np.std(noisy - y) == pytest.approx(0.5, rel=0.15)


def test_sparse_regression_has_exactly_n_informative_coefficients():
    X, y = data.sparse_regression(n_samples=200, n_features=12, n_informative=3, noise=0.0, seed=0)
    coef = np.linalg.lstsq(np.hstack([X, np.ones((200, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(coef[:-1], [1.0, -0.75, 0.5] + [0.0] * 9, atol=1e-12)


def test_linear_classification_separable_or_overlapping():
    X, y = data.linear_classification(n_samples=200, n_features=3, separable=True, seed=0)
    assert separable(X, y) and set(np.unique(y)) == {0, 1} and y.sum() == 100
    X, y = data.linear_classification(n_samples=200, n_features=3, separable=False, flip=0.1, seed=0)
    assert not separable(X, y)


def test_moons_and_circles_lie_on_their_curves_without_noise():
    X, y = data.moons(n_samples=101, noise=0.0, seed=0)
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, rtol=1e-12)
    assert len(outer) == 50 and len(inner) == 51
    X, y = data.circles(n_samples=80, noise=0.0, factor=0.3, seed=0)
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.hypot(*X[y == 1].T), 0.3, rtol=1e-12)
    assert not separable(X, y)


def test_spirals_interleave_and_blobs_cluster():
    X, y = data.spirals(n_samples=200, noise=0.0, seed=0)
    r = np.hypot(*X.T)
    assert r.max() == pytest.approx(1.0) and not separable(X, y)
    # class 1 is class 0 turned by pi
    np.testing.assert_allclose(np.sort(r[y == 0]), np.sort(r[y == 1]), rtol=1e-12)
    X, y = data.blobs(n_samples=90, n_classes=3, std=0.1, seed=0)
    assert np.bincount(y).tolist() == [30, 30, 30]
    for k in range(3):
        assert X[y == k].std(axis=0).max() < 0.2


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        data.moons(n_samples=1)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        data.house_prices(noise=-1.0)
    with pytest.raises(ValueError, match="factor must be in"):
        data.circles(factor=1.5)
    with pytest.raises(ValueError, match="flip must be in"):
        data.linear_classification(flip=0.7)
