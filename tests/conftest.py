"""Shared fixtures: small problems defined here, independent of the built-in suite."""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob


class MeanSquares(ob.Problem):
    """Finite sum ``f(x) = (1/n) sum_i ||x - a_i||^2``; minimiser the mean of the a_i."""

    tags = frozenset({"convex", "smooth", "finite-sum"})

    def __init__(self, dim: int = 3, n_samples: int = 10, seed: int = 0):
        self.dim, self.n_samples, self.seed = dim, n_samples, seed
        self.points = np.random.default_rng(seed).standard_normal((n_samples, dim))
        self.x_opt = self.points.mean(axis=0)
        self.f_opt = float(np.mean(np.sum((self.points - self.x_opt) ** 2, axis=1)))

    def value(self, X, batch=None):
        if batch is None:
            diff = X[:, None, :] - self.points[None, :, :]
        else:
            diff = X[:, None, :] - self.points[batch]
        return np.mean(np.sum(diff**2, axis=2), axis=1)

    def grad(self, X, batch=None):
        points = self.points[None] if batch is None else self.points[batch]
        return 2.0 * (X - points.mean(axis=1))


@pytest.fixture
def mean_squares():
    return MeanSquares()


@pytest.fixture
def scratch_registry_names():
    """Names registered by a test are removed afterwards."""
    before = {reg: set(reg.names()) for reg in (ob.problems, ob.methods, ob.step_rules)}
    yield
    for reg, names in before.items():
        for name in set(reg.names()) - names:
            reg.unregister(name)
