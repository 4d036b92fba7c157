"""Smooth test functions (Surjanovic & Bingham's Virtual Library of Simulation Experiments)."""

from __future__ import annotations

import numpy as np

from optbench.problem import Problem
from optbench.registry import register_problem

__all__ = ["Sphere"]


@register_problem("sphere")
class Sphere(Problem):
    """Sphere: ``f(x) = sum_i x_i^2``; minimum 0 at x = 0; domain [-5.12, 5.12]^d."""

    tags = frozenset({"convex", "smooth", "unimodal"})
    f_opt_known = True

    def __init__(self, dim: int = 2):
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.f_opt = 0.0
        self.x_opt = np.zeros(dim)
        self.domain = np.tile([-5.12, 5.12], (dim, 1))

    def value(self, X, batch=None):
        return np.einsum("ij,ij->i", X, X)

    def grad(self, X, batch=None):
        return 2.0 * X

    def value_and_grad(self, X, batch=None):
        return np.einsum("ij,ij->i", X, X), 2.0 * X
