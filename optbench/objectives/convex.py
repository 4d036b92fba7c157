"""Convex problems: quadratics, least squares, logistic regression."""

from __future__ import annotations

import numpy as np

from optbench.problem import Problem
from optbench.registry import register_problem

__all__ = ["Quadratic", "random_rotation"]


def random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    Q, R = np.linalg.qr(rng.standard_normal((dim, dim)))
    return Q * np.sign(np.diag(R))


@register_problem("quadratic")
class Quadratic(Problem):
    """Quadratic ``f(x) = 0.5 x.A.x - b.x`` with ``A = Q diag(lambda) Q^T``.

    The eigenvalues are log-spaced from 1 to ``condition``; ``Q`` is a random
    rotation and ``b`` a standard normal vector, both drawn from ``seed``.
    ``x_opt = A^-1 b`` and ``f_opt = -0.5 b.x_opt``. Gradient ``A x - b``.
    """

    tags = frozenset({"convex", "smooth", "unimodal"})
    f_opt_known = True

    def __init__(self, dim: int = 10, condition: float = 10.0, seed: int = 0):
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not condition >= 1:
            raise ValueError(f"condition must be >= 1, got {condition}")
        self.dim, self.condition, self.seed = dim, condition, seed
        rng = np.random.default_rng(seed)
        Q = random_rotation(rng, dim)
        self.eigenvalues = np.logspace(0.0, np.log10(condition), dim)
        A = (Q * self.eigenvalues) @ Q.T
        self.A = 0.5 * (A + A.T)
        self.b = rng.standard_normal(dim)
        self.x_opt = Q @ ((Q.T @ self.b) / self.eigenvalues)
        self.f_opt = float(0.5 * self.x_opt @ self.A @ self.x_opt - self.b @ self.x_opt)

    def value(self, X, batch=None):
        return np.einsum("ij,ij->i", X, 0.5 * (X @ self.A) - self.b)

    def grad(self, X, batch=None):
        return X @ self.A - self.b

    def value_and_grad(self, X, batch=None):
        AX = X @ self.A
        return np.einsum("ij,ij->i", X, 0.5 * AX - self.b), AX - self.b
