"""Analytic test functions (Surjanovic & Bingham, Virtual Library of Simulation Experiments).

Each works on a batch ``X`` of shape ``(n_runs, dim)`` and gives its value and
gradient in closed form. Definitions, domains, minimisers and minimum values follow
the library; ``f_opt`` is always the float64 value at ``x_opt`` (rounded published
constants are not used), and ``x_opt`` lists every global minimiser (``(k, dim)``)
where there are several. Minimisers that are roots of an equation (Himmelblau,
six-hump camel, Styblinski-Tang, Schwefel, Michalewicz, double-well) are solved to
machine precision when the problem is created.

Every function takes ``noise_std``: when it is > 0 the run loop adds
``noise_std * N(0, I)`` to each gradient, from each run's own random stream.
Scalable functions (``dims = None``) take any ``dim >= min_dim`` (Powell: a multiple
of 4); the others have ``dims = (2,)`` (double-well: ``(1,)``).
"""

from __future__ import annotations

import json
from typing import ClassVar, Literal

import numpy as np

from optbench.objectives.optimum import LazyOptimum
from optbench.problem import Problem, width_checked
from optbench.registry import register_problem, spec_of

__all__ = [
    "AnalyticFunction",
    "Sphere", "Rosenbrock", "Rastrigin", "Ackley", "Griewank", "StyblinskiTang", "Levy", "Zakharov",
    "DixonPrice", "Schwefel", "Michalewicz", "Trid", "Powell", "Himmelblau", "SixHumpCamel",
    "ThreeHumpCamel", "Beale", "Booth", "Matyas", "GoldsteinPrice", "Easom", "McCormick", "Branin",
    "Bohachevsky", "DoubleWell", "Saddle", "rosenbrock_hvp",
]

PI = np.pi


def _rowdot(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.vecdot(A, B)


class AnalyticFunction(LazyOptimum, Problem):
    """Base of the analytic functions: dimension checks, box domain, ``f_opt`` from ``x_opt``.

    Subclasses set ``bounds`` (one ``(low, high)`` for every coordinate, or one pair
    per coordinate for fixed-dimension functions), implement ``value``/``grad`` and
    ``minimisers(dim) -> (k, dim)``.
    """

    rowwise_exact = True  # elementwise arithmetic and per-row sums (subclasses using BLAS set False)

    dims: ClassVar[tuple[int, ...] | None] = None
    min_dim: ClassVar[int] = 1
    dim_multiple: ClassVar[int] = 1
    f_opt_known: ClassVar[bool] = True
    solved_minimisers: ClassVar[bool] = False  # True: minimisers() solves (scipy), its answer is kept on disk
    bounds: ClassVar[tuple] = (-5.0, 5.0)

    def __init__(self, dim: int = 2, noise_std: float = 0.0):
        self._setup(dim, noise_std)

    def __init_subclass__(cls, **kwargs):
        """Every function's ``value``, ``grad``, ``value_and_grad`` and ``hvp`` refuse an X of the wrong width."""
        super().__init_subclass__(**kwargs)
        for name in ("value", "grad", "value_and_grad", "hvp"):
            if name in cls.__dict__:
                setattr(cls, name, width_checked(cls.__dict__[name]))

    def _setup(self, dim: int, noise_std: float) -> None:
        name = self.name or type(self).__name__
        if self.dims is not None and dim not in self.dims:
            raise ValueError(f"{name} is defined for dim in {list(self.dims)} only, got dim={dim}")
        if dim < self.min_dim:
            raise ValueError(f"{name} needs dim >= {self.min_dim}, got dim={dim}")
        if dim % self.dim_multiple:
            raise ValueError(f"{name} needs dim a multiple of {self.dim_multiple}, got dim={dim}")
        if not noise_std >= 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.dim, self.noise_std = int(dim), float(noise_std)
        self.domain = self.domain_for(self.dim)

    def solve_optimum(self) -> tuple[np.ndarray, float]:
        """``x_opt`` (the one minimiser, or all ``(k, dim)``) and ``f_opt = min f(minimisers)``, on first read."""
        minimisers = np.atleast_2d(np.asarray(self.minimisers(self.dim), dtype=float))
        return (minimisers[0] if len(minimisers) == 1 else minimisers), float(np.min(self.value(minimisers)))

    def optimum_key(self) -> str | None:
        """Kept on disk only for functions whose minimisers are solved for (``solved_minimisers``)."""
        if not self.solved_minimisers:
            return None
        return f"optbench.{type(self).__qualname__} solve-1 {json.dumps(spec_of(self)[1], sort_keys=True, default=str)}"

    def domain_for(self, dim: int) -> np.ndarray:
        """``(dim, 2)`` lower and upper bounds."""
        bounds = np.asarray(self.bounds, dtype=float)
        return np.tile(bounds, (dim, 1)) if bounds.ndim == 1 else bounds.copy()

    def minimisers(self, dim: int) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement minimisers(dim) -> (k, dim) global minimisers")

    @property
    def x_opt_all(self) -> np.ndarray:
        """Every global minimiser, ``(k, dim)``."""
        return np.atleast_2d(self.x_opt)


# ---------------------------------------------------------------- scalable, unimodal / convex
@register_problem("sphere")
class Sphere(AnalyticFunction):
    """Sphere: ``f(x) = sum_i x_i^2``; minimum 0 at x = 0; domain [-5.12, 5.12]^d; gradient ``2 x``."""

    tags = frozenset({"convex", "smooth", "unimodal"})
    bounds = (-5.12, 5.12)
    flat_exact = True  # value_and_grad takes a (dim,) point too, same bits (Problem.flat_exact)

    def minimisers(self, dim):
        return np.zeros(dim)

    def value(self, X, batch=None):
        return _rowdot(X, X)

    def grad(self, X, batch=None):
        return 2.0 * X

    def value_and_grad(self, X, batch=None):
        return _rowdot(X, X), 2.0 * X

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``H v = 2 v``."""
        return 2.0 * V


@register_problem("zakharov")
class Zakharov(AnalyticFunction):
    """Zakharov: ``f(x) = sum x_i^2 + s^2 + s^4`` with ``s = sum 0.5 i x_i`` (i from 1).

    Convex; minimum 0 at x = 0; domain [-5, 10]^d. Gradient ``2 x + (2 s + 4 s^3) 0.5 i``.
    """

    rowwise_exact = False  # X @ w: a BLAS product over the rows

    tags = frozenset({"convex", "smooth", "unimodal"})
    bounds = (-5.0, 10.0)

    def minimisers(self, dim):
        return np.zeros(dim)

    def _weights(self):
        return 0.5 * np.arange(1, self.dim + 1)

    def value(self, X, batch=None):
        s = X @ self._weights()
        return _rowdot(X, X) + s**2 + s**4

    def grad(self, X, batch=None):
        s = X @ self._weights()
        return 2.0 * X + (2.0 * s + 4.0 * s**3)[:, None] * self._weights()

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``H v = 2 v + (2 + 12 s^2) (w.v) w`` with ``w_i = 0.5 i``."""
        w = self._weights()
        s = X @ w
        return 2.0 * V + ((2.0 + 12.0 * s * s) * (V @ w))[:, None] * w


@register_problem("trid")
class Trid(AnalyticFunction):
    """Trid: ``f(x) = sum_i (x_i - 1)^2 - sum_{i>=2} x_i x_{i-1}``.

    Convex quadratic; domain [-d^2, d^2]^d; minimiser ``x_i = i (d + 1 - i)``,
    minimum ``-d (d + 4) (d - 1) / 6``. Gradient ``2 (x_i - 1) - x_{i-1} - x_{i+1}``.
    """

    tags = frozenset({"convex", "smooth", "unimodal"})

    def domain_for(self, dim):
        return np.tile([-float(dim) ** 2, float(dim) ** 2], (dim, 1))

    def minimisers(self, dim):
        i = np.arange(1, dim + 1)
        return i * (dim + 1 - i)

    def value(self, X, batch=None):
        return np.sum((X - 1.0) ** 2, axis=1) - np.sum(X[:, 1:] * X[:, :-1], axis=1)

    def grad(self, X, batch=None):
        G = 2.0 * (X - 1.0)
        G[:, 1:] -= X[:, :-1]
        G[:, :-1] -= X[:, 1:]
        return G

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``(H v)_i = 2 v_i - v_{i-1} - v_{i+1}`` (a constant tridiagonal Hessian)."""
        H = 2.0 * V
        H[:, 1:] -= V[:, :-1]
        H[:, :-1] -= V[:, 1:]
        return H


@register_problem("powell")
class Powell(AnalyticFunction):
    """Powell: sum over blocks of four ``(a + 10 b)^2 + 5 (c - d)^2 + (b - 2 c)^4 + 10 (a - d)^4``.

    ``dim`` a multiple of 4; convex with a singular Hessian at the minimum 0 at x = 0;
    domain [-4, 5]^d.
    """

    tags = frozenset({"convex", "smooth", "unimodal"})
    bounds = (-4.0, 5.0)
    min_dim = 4
    dim_multiple = 4

    def __init__(self, dim: int = 4, noise_std: float = 0.0):
        self._setup(dim, noise_std)

    def minimisers(self, dim):
        return np.zeros(dim)

    def value(self, X, batch=None):
        a, b, c, d = X[:, 0::4], X[:, 1::4], X[:, 2::4], X[:, 3::4]
        return np.sum((a + 10 * b) ** 2 + 5 * (c - d) ** 2 + (b - 2 * c) ** 4 + 10 * (a - d) ** 4, axis=1)

    def grad(self, X, batch=None):
        a, b, c, d = X[:, 0::4], X[:, 1::4], X[:, 2::4], X[:, 3::4]
        ab, cd, bc, ad = a + 10 * b, c - d, (b - 2 * c) ** 3, (a - d) ** 3
        G = np.empty_like(X)
        G[:, 0::4] = 2 * ab + 40 * ad
        G[:, 1::4] = 20 * ab + 4 * bc
        G[:, 2::4] = 10 * cd - 8 * bc
        G[:, 3::4] = -10 * cd - 40 * ad
        return G

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """Per block, the Hessian of each term is a rank-one ``c u u^T``: ``2 (1, 10, 0, 0)``,
        ``10 (0, 0, 1, -1)``, ``12 (b - 2c)^2 (0, 1, -2, 0)`` and ``120 (a - d)^2 (1, 0, 0, -1)``."""
        a, b, c, d = X[:, 0::4], X[:, 1::4], X[:, 2::4], X[:, 3::4]
        va, vb, vc, vd = V[:, 0::4], V[:, 1::4], V[:, 2::4], V[:, 3::4]
        p, q = 2 * (va + 10 * vb), 10 * (vc - vd)
        r, s = 12 * (b - 2 * c) ** 2 * (vb - 2 * vc), 120 * (a - d) ** 2 * (va - vd)
        H = np.empty_like(V)
        H[:, 0::4], H[:, 1::4] = p + s, 10 * p + r
        H[:, 2::4], H[:, 3::4] = q - 2 * r, -q - s
        return H


@register_problem("dixon-price")
class DixonPrice(AnalyticFunction):
    """Dixon-Price: ``f(x) = (x_1 - 1)^2 + sum_{i>=2} i (2 x_i^2 - x_{i-1})^2``.

    Minimum 0 at ``x_i = 2^(-(2^i - 2) / 2^i)`` (the library's formula; ``x_i`` can
    also be negated for i >= 2, giving ``2^(d-1)`` minimisers; ``x_opt`` gives the
    positive one); domain [-10, 10]^d.
    """

    tags = frozenset({"smooth"})
    bounds = (-10.0, 10.0)

    def minimisers(self, dim):
        i = np.arange(1, dim + 1, dtype=float)
        return 2.0 ** (-(1.0 - 2.0 ** (1.0 - i)))

    def value(self, X, batch=None):
        i = np.arange(2, self.dim + 1)
        return (X[:, 0] - 1.0) ** 2 + np.sum(i * (2 * X[:, 1:] ** 2 - X[:, :-1]) ** 2, axis=1)

    def grad(self, X, batch=None):
        i = np.arange(2, self.dim + 1)
        inner = 2.0 * i * (2 * X[:, 1:] ** 2 - X[:, :-1])
        G = np.zeros_like(X)
        G[:, 0] = 2.0 * (X[:, 0] - 1.0)
        G[:, 1:] += inner * 4.0 * X[:, 1:]
        G[:, :-1] -= inner
        return G

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """Term ``i u^2`` with ``u = 2 x_i^2 - x_{i-1}`` has Hessian ``2 i (grad u grad u^T + u Hess u)``,
        ``grad u = 4 x_i e_i - e_{i-1}``, ``Hess u = 4 e_i e_i^T``; the first term adds ``2 v_1``."""
        i = np.arange(2, self.dim + 1)
        u = 2 * X[:, 1:] ** 2 - X[:, :-1]
        slope = 4.0 * X[:, 1:] * V[:, 1:] - V[:, :-1]  # grad u . v
        H = np.zeros_like(V)
        H[:, 0] = 2.0 * V[:, 0]
        H[:, 1:] += 2.0 * i * (4.0 * X[:, 1:] * slope + 4.0 * u * V[:, 1:])
        H[:, :-1] -= 2.0 * i * slope
        return H


@register_problem("rosenbrock")
class Rosenbrock(AnalyticFunction):
    """Rosenbrock: ``f(x) = sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (x_i - 1)^2``.

    Minimum 0 at x = (1, ..., 1); domain [-5, 10]^d; the narrow curved valley is the
    classic test of ill-conditioning. Gradient: ``-400 x_i (x_{i+1} - x_i^2) + 2 (x_i - 1)``
    from the i-th term plus ``200 (x_i - x_{i-1}^2)`` from the (i-1)-th.
    """

    tags = frozenset({"smooth"})
    bounds = (-5.0, 10.0)
    min_dim = 2

    def minimisers(self, dim):
        return np.ones(dim)

    def value(self, X, batch=None):
        head = X[:, :-1]
        return np.sum(100.0 * (X[:, 1:] - head * head) ** 2 + (head - 1.0) ** 2, axis=1)

    def value_and_grad(self, X, batch=None):
        head = X[:, :-1]
        valley = X[:, 1:] - head * head
        shift = head - 1.0
        F = np.sum(100.0 * valley * valley + shift * shift, axis=1)
        G = np.zeros_like(X)
        G[:, :-1] = 2.0 * shift - 400.0 * head * valley
        G[:, 1:] += 200.0 * valley
        return F, G

    def grad(self, X, batch=None):
        return self.value_and_grad(X)[1]

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """See ``rosenbrock_hvp``."""
        return rosenbrock_hvp(X, V)


def rosenbrock_hvp(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Hessian-vector products of ``sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (x_i - 1)^2``, row by row.

    Term i contributes ``(1200 x_i^2 - 400 x_{i+1} + 2) v_i - 400 x_i v_{i+1}`` to component i
    and ``200 v_{i+1} - 400 x_i v_i`` to component i+1.
    """
    head, tail, v_head, v_tail = X[:, :-1], X[:, 1:], V[:, :-1], V[:, 1:]
    H = np.zeros_like(V, dtype=float)
    H[:, :-1] = (1200.0 * head * head - 400.0 * tail + 2.0) * v_head - 400.0 * head * v_tail
    H[:, 1:] += 200.0 * v_tail - 400.0 * head * v_head
    return H


# ---------------------------------------------------------------- scalable, multimodal
@register_problem("rastrigin")
class Rastrigin(AnalyticFunction):
    """Rastrigin: ``f(x) = 10 d + sum_i (x_i^2 - 10 cos(2 pi x_i))``.

    Minimum 0 at x = 0; domain [-5.12, 5.12]^d; a regular lattice of local minima.
    Gradient ``2 x_i + 20 pi sin(2 pi x_i)``.
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-5.12, 5.12)

    def minimisers(self, dim):
        return np.zeros(dim)

    def value(self, X, batch=None):
        return 10.0 * self.dim + np.sum(X * X - 10.0 * np.cos(2 * PI * X), axis=1)

    def value_and_grad(self, X, batch=None):
        angle = 2 * PI * X
        F = 10.0 * self.dim + np.sum(X * X - 10.0 * np.cos(angle), axis=1)
        return F, 2.0 * X + 20.0 * PI * np.sin(angle)

    def grad(self, X, batch=None):
        return 2.0 * X + 20.0 * PI * np.sin(2 * PI * X)

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``(H v)_i = (2 + 40 pi^2 cos(2 pi x_i)) v_i`` (a diagonal Hessian)."""
        return (2.0 + 40.0 * PI * PI * np.cos(2 * PI * X)) * V


@register_problem("ackley")
class Ackley(AnalyticFunction):
    """Ackley: ``f(x) = -a exp(-b r) - exp(mean_i cos(c x_i)) + a + e``, ``r = sqrt(mean_i x_i^2)``.

    ``a = 20, b = 0.2, c = 2 pi``; minimum 0 at x = 0; domain [-32.768, 32.768]^d.
    Gradient ``a b exp(-b r) x / (d r) + c exp(mean cos(c x)) sin(c x) / d``; f is
    not differentiable at x = 0 (a cone point), where the subgradient 0 is returned.
    """

    tags = frozenset({"multimodal"})
    bounds = (-32.768, 32.768)
    a, b, c = 20.0, 0.2, 2 * PI

    def minimisers(self, dim):
        return np.zeros(dim)

    def value(self, X, batch=None):
        r = np.sqrt(np.mean(X * X, axis=1))
        return -self.a * np.exp(-self.b * r) - np.exp(np.mean(np.cos(self.c * X), axis=1)) + self.a + np.e

    def grad(self, X, batch=None):
        d = self.dim
        r = np.sqrt(np.mean(X * X, axis=1))
        safe_r = np.where(r > 0, r, 1.0)
        radial = np.where(r > 0, self.a * self.b * np.exp(-self.b * r) / (d * safe_r), 0.0)
        wave = self.c * np.exp(np.mean(np.cos(self.c * X), axis=1)) / d
        return radial[:, None] * X + wave[:, None] * np.sin(self.c * X)

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """With ``phi(r) = a b exp(-b r) / (d r)`` and ``psi = c exp(mean cos(c x)) / d``:
        ``H v = phi v + phi'(r) (x.v) x / (d r) + psi c cos(c x) v - (psi c / d) (sin(c x).v) sin(c x)``,
        ``phi'(r) = -a b exp(-b r) (b r + 1) / (d r^2)``; the radial part is 0 at x = 0 (the cone point)."""
        d, a, b, c = self.dim, self.a, self.b, self.c
        r = np.sqrt(np.mean(X * X, axis=1))
        safe_r = np.where(r > 0, r, 1.0)
        decay = np.where(r > 0, a * b * np.exp(-b * r) / d, 0.0)
        phi, dphi = decay / safe_r, -decay * (b * safe_r + 1.0) / safe_r**2
        psi = c * np.exp(np.mean(np.cos(c * X), axis=1)) / d
        sines = np.sin(c * X)
        radial = phi[:, None] * V + (dphi * np.vecdot(X, V) / (d * safe_r))[:, None] * X
        wave = psi[:, None] * c * np.cos(c * X) * V - (psi * c / d * np.vecdot(sines, V))[:, None] * sines
        return radial + wave


@register_problem("griewank")
class Griewank(AnalyticFunction):
    """Griewank: ``f(x) = sum x_i^2 / 4000 - prod_i cos(x_i / sqrt(i)) + 1``.

    Minimum 0 at x = 0; domain [-600, 600]^d. Gradient
    ``x_i / 2000 + sin(x_i / sqrt i) / sqrt i * prod_{j != i} cos(x_j / sqrt j)``
    (the products over j != i from prefix and suffix products, no division).
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-600.0, 600.0)

    def minimisers(self, dim):
        return np.zeros(dim)

    def _root(self):
        return np.sqrt(np.arange(1, self.dim + 1))

    def value(self, X, batch=None):
        return np.sum(X * X, axis=1) / 4000.0 - np.prod(np.cos(X / self._root()), axis=1) + 1.0

    def grad(self, X, batch=None):
        root = self._root()
        cosines = np.cos(X / root)
        n = X.shape[0]
        prefix = np.cumprod(np.hstack([np.ones((n, 1)), cosines[:, :-1]]), axis=1)
        suffix = np.cumprod(np.hstack([np.ones((n, 1)), cosines[:, :0:-1]]), axis=1)[:, ::-1]
        return X / 2000.0 + np.sin(X / root) / root * prefix * suffix


@register_problem("styblinski-tang")
class StyblinskiTang(AnalyticFunction):
    """Styblinski-Tang: ``f(x) = 0.5 sum_i (x_i^4 - 16 x_i^2 + 5 x_i)``.

    Domain [-5, 5]^d; minimiser ``x_i = -2.903534...`` (the root of ``4t^3 - 32t + 5``),
    minimum about ``-39.16617 d``. Gradient ``0.5 (4 x^3 - 32 x + 5)``.
    """

    tags = frozenset({"smooth", "multimodal"})

    solved_minimisers = True  # brentq: the minimiser is kept on disk (optbench.objectives.optimum)

    def minimisers(self, dim):
        from scipy.optimize import brentq  # lazily, at construction
        t = brentq(lambda t: 4 * t**3 - 32 * t + 5, -4.0, -2.0, xtol=1e-15, rtol=1e-15)
        return np.full(dim, t)

    def value(self, X, batch=None):
        X2 = X * X
        return 0.5 * np.sum(X2 * X2 - 16.0 * X2 + 5.0 * X, axis=1)

    def grad(self, X, batch=None):
        return 0.5 * (4.0 * X**3 - 32.0 * X + 5.0)

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``(H v)_i = (6 x_i^2 - 16) v_i``."""
        return (6.0 * X * X - 16.0) * V


@register_problem("levy")
class Levy(AnalyticFunction):
    """Levy: with ``w_i = 1 + (x_i - 1)/4``,
    ``f = sin^2(pi w_1) + sum_{i<d} (w_i - 1)^2 (1 + 10 sin^2(pi w_i + 1)) + (w_d - 1)^2 (1 + sin^2(2 pi w_d))``.

    Minimum 0 at x = (1, ..., 1); domain [-10, 10]^d.
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-10.0, 10.0)

    def minimisers(self, dim):
        return np.ones(dim)

    def value(self, X, batch=None):
        W = 1.0 + (X - 1.0) / 4.0
        head, last = W[:, :-1], W[:, -1]
        return (
            np.sin(PI * W[:, 0]) ** 2
            + np.sum((head - 1.0) ** 2 * (1.0 + 10.0 * np.sin(PI * head + 1.0) ** 2), axis=1)
            + (last - 1.0) ** 2 * (1.0 + np.sin(2 * PI * last) ** 2)
        )

    def grad(self, X, batch=None):
        W = 1.0 + (X - 1.0) / 4.0
        head, last = W[:, :-1], W[:, -1]
        dW = np.zeros_like(W)
        dW[:, 0] = PI * np.sin(2 * PI * W[:, 0])
        dW[:, :-1] += 2.0 * (head - 1.0) * (1.0 + 10.0 * np.sin(PI * head + 1.0) ** 2) + (
            head - 1.0
        ) ** 2 * 10.0 * PI * np.sin(2.0 * (PI * head + 1.0))
        dW[:, -1] += 2.0 * (last - 1.0) * (1.0 + np.sin(2 * PI * last) ** 2) + (last - 1.0) ** 2 * 2 * PI * np.sin(
            4 * PI * last
        )
        return dW / 4.0

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """Diagonal (each term depends on one ``w_i``), ``d^2 f / dx_i^2 = (1/16) d^2 f / dw_i^2``:
        ``2 pi^2 cos(2 pi w_1)`` from the first term, ``2 (1 + 10 S) + 40 a S' + 10 a^2 S''`` from term i < d
        (``a = w_i - 1``, ``S = sin^2(pi w_i + 1)``), ``2 (1 + U) + 4 a U' + a^2 U''`` from the last
        (``U = sin^2(2 pi w_d)``)."""
        W = 1.0 + (X - 1.0) / 4.0
        head, last = W[:, :-1], W[:, -1]
        a, angle = head - 1.0, PI * head + 1.0
        S, dS, d2S = np.sin(angle) ** 2, PI * np.sin(2 * angle), 2 * PI * PI * np.cos(2 * angle)
        b = last - 1.0
        U, dU, d2U = np.sin(2 * PI * last) ** 2, 2 * PI * np.sin(4 * PI * last), 8 * PI * PI * np.cos(4 * PI * last)
        curvature = np.zeros_like(W)
        curvature[:, 0] = 2 * PI * PI * np.cos(2 * PI * W[:, 0])
        curvature[:, :-1] += 2 * (1 + 10 * S) + 40 * a * dS + 10 * a * a * d2S
        curvature[:, -1] += 2 * (1 + U) + 4 * b * dU + b * b * d2U
        return curvature / 16.0 * V


@register_problem("schwefel")
class Schwefel(AnalyticFunction):
    """Schwefel: ``f(x) = 418.9829 d - sum_i x_i sin(sqrt|x_i|)``.

    Domain [-500, 500]^d; minimiser ``x_i = 420.968746...`` (solved to machine
    precision). The published constant 418.9829 is rounded, so the minimum is
    ``f_opt = f(x_opt)``, about ``1.27e-5 d``, not exactly 0.
    Gradient ``-(sin(s) + 0.5 s cos(s))`` with ``s = sqrt|x_i|``.
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-500.0, 500.0)

    solved_minimisers = True  # brentq: the minimiser is kept on disk (optbench.objectives.optimum)

    def minimisers(self, dim):
        from scipy.optimize import brentq  # lazily, at construction
        def slope(t):
            s = np.sqrt(t)
            return np.sin(s) + 0.5 * s * np.cos(s)

        return np.full(dim, brentq(slope, 400.0, 440.0, xtol=1e-14, rtol=1e-15))

    def value(self, X, batch=None):
        return 418.9829 * self.dim - np.sum(X * np.sin(np.sqrt(np.abs(X))), axis=1)

    def grad(self, X, batch=None):
        s = np.sqrt(np.abs(X))
        return -(np.sin(s) + 0.5 * s * np.cos(s))

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """Diagonal: ``f''(x_i) = -sign(x_i) (3 cos(s) / (4 s) - sin(s) / 4)``, ``s = sqrt|x_i|`` (0 at x_i = 0,
        where the curvature is unbounded)."""
        s = np.sqrt(np.abs(X))
        safe = np.where(s > 0, s, 1.0)
        curvature = np.where(s > 0, -np.sign(X) * (0.75 * np.cos(s) / safe - 0.25 * np.sin(s)), 0.0)
        return curvature * V


@register_problem("michalewicz")
class Michalewicz(AnalyticFunction):
    """Michalewicz: ``f(x) = -sum_i sin(x_i) sin^(2m)(i x_i^2 / pi)`` with steepness ``m = 10``.

    Domain [0, pi]^d. f is separable, so its global minimiser is found exactly by
    minimising each one-dimensional term (a dense grid, then Brent's root of the
    derivative in the best grid cell); ``f_opt`` is the value there (-1.8013 for d = 2, -4.687658 for
    d = 5, -9.66015 for d = 10).
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (0.0, PI)

    def __init__(self, dim: int = 2, m: int = 10, noise_std: float = 0.0):
        if not m >= 1:
            raise ValueError(f"m must be an integer >= 1, got {m}")
        self.m = int(m)
        self._setup(dim, noise_std)

    def _term(self, t, i):
        return -np.sin(t) * np.sin(i * t * t / PI) ** (2 * self.m)

    solved_minimisers = True  # brentq: the minimiser is kept on disk (optbench.objectives.optimum)

    def minimisers(self, dim):
        from scipy.optimize import brentq, minimize_scalar  # lazily, at construction
        x = np.empty(dim)
        for i in range(1, dim + 1):
            grid = np.linspace(0.0, PI, 4000 + 400 * i)
            best = int(np.argmin(self._term(grid, i)))
            low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
            slope = lambda t, i=i: self.grad(np.full((1, dim), t))[0, i - 1]  # noqa: E731
            if slope(low) < 0 < slope(high):  # the minimum is the root of the derivative: exact to rounding
                x[i - 1] = brentq(slope, low, high, xtol=1e-15, rtol=1e-15)
            else:
                found = minimize_scalar(lambda t: self._term(t, i), bounds=(low, high), method="bounded",
                                        options={"xatol": 1e-13})
                x[i - 1] = found.x if self._term(found.x, i) <= self._term(grid[best], i) else grid[best]
        return x

    def value(self, X, batch=None):
        i = np.arange(1, self.dim + 1)
        return -np.sum(np.sin(X) * np.sin(i * X * X / PI) ** (2 * self.m), axis=1)

    def grad(self, X, batch=None):
        i = np.arange(1, self.dim + 1)
        inner = i * X * X / PI
        s = np.sin(inner)
        power = s ** (2 * self.m - 1)
        return -(np.cos(X) * power * s + np.sin(X) * 2 * self.m * power * np.cos(inner) * 2 * i * X / PI)

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """Diagonal: with ``p = sin(u)^(2m)``, ``u = i x^2 / pi``, the term ``-sin(x) p`` has second derivative
        ``-(-sin(x) p + 2 cos(x) p' + sin(x) p'')``, ``p' = 2m s^(2m-1) cos(u) u'`` and
        ``p'' = 2m ((2m-1) s^(2m-2) cos(u)^2 u'^2 - s^(2m) u'^2 + s^(2m-1) cos(u) u'')``, ``u' = 2 i x / pi``."""
        i, m2 = np.arange(1, self.dim + 1), 2 * self.m
        u = i * X * X / PI
        du, d2u = 2 * i * X / PI, 2 * i / PI
        s, c = np.sin(u), np.cos(u)
        p, dp = s**m2, m2 * s ** (m2 - 1) * c * du
        d2p = m2 * ((m2 - 1) * s ** (m2 - 2) * c * c * du * du - s**m2 * du * du + s ** (m2 - 1) * c * d2u)
        return -(-np.sin(X) * p + 2 * np.cos(X) * dp + np.sin(X) * d2p) * V


# ---------------------------------------------------------------- two-dimensional
class TwoDimensional(AnalyticFunction):
    dims = (2,)
    min_dim = 2

    def __init__(self, dim: int = 2, noise_std: float = 0.0):
        self._setup(dim, noise_std)

    def value(self, X, batch=None):
        return self._f(X[:, 0], X[:, 1])

    def grad(self, X, batch=None):
        gx, gy = self._df(X[:, 0], X[:, 1])
        return np.column_stack([gx, gy])

    def hvp(self, X, V, batch=None):
        """``H v`` from the second derivatives ``_d2f(x, y) -> (f_xx, f_xy, f_yy)`` of the functions that
        define them (``hvp_exact``); central differences of the gradient for the others."""
        if not self.hvp_exact:
            return super().hvp(X, V, batch)
        hxx, hxy, hyy = self._d2f(X[:, 0], X[:, 1])
        return np.column_stack([hxx * V[:, 0] + hxy * V[:, 1], hxy * V[:, 0] + hyy * V[:, 1]])


def _newton_2d(grad_hess, start, steps: int = 50) -> np.ndarray:
    """Newton's method on a 2-D gradient; the exact stationary point near ``start``."""
    z = np.asarray(start, dtype=float)
    for _ in range(steps):
        g, H = grad_hess(z)
        z = z - np.linalg.solve(H, g)
    return z


@register_problem("himmelblau")
class Himmelblau(TwoDimensional):
    """Himmelblau: ``f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2``.

    Four global minima of value 0: (3, 2), (-2.805118, 3.131312), (-3.779310, -3.283186),
    (3.584428, -1.848126) (solved to machine precision); domain [-5, 5]^2.
    """

    tags = frozenset({"smooth", "multimodal"})

    def minimisers(self, dim):
        def residual_jacobian(z):  # f is the squared norm of (x^2 + y - 11, x + y^2 - 7)
            x, y = z
            return np.array([x * x + y - 11, x + y * y - 7]), np.array([[2 * x, 1.0], [1.0, 2 * y]])

        starts = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
        return np.array([_newton_2d(residual_jacobian, s) for s in starts])

    def _f(self, x, y):
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def _df(self, x, y):
        u, v = x * x + y - 11, x + y * y - 7
        return 4 * x * u + 2 * v, 2 * u + 4 * y * v

    hvp_exact = True

    def _d2f(self, x, y):
        u, v = x * x + y - 11, x + y * y - 7
        return 4 * u + 8 * x * x + 2, 4 * x + 4 * y, 2 + 4 * v + 8 * y * y


@register_problem("six-hump-camel")
class SixHumpCamel(TwoDimensional):
    """Six-hump camel: ``f(x, y) = (4 - 2.1 x^2 + x^4/3) x^2 + x y + (-4 + 4 y^2) y^2``.

    Two global minima, about -1.0316 at +-(0.0898, -0.7126) (solved to machine
    precision); domain [-3, 3] x [-2, 2].
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = ((-3.0, 3.0), (-2.0, 2.0))

    def minimisers(self, dim):
        def grad_hess(z):
            x, y = z
            g = np.array([8 * x - 8.4 * x**3 + 2 * x**5 + y, x - 8 * y + 16 * y**3])
            H = np.array([[8 - 25.2 * x * x + 10 * x**4, 1.0], [1.0, -8 + 48 * y * y]])
            return g, H

        first = _newton_2d(grad_hess, (0.0898, -0.7126))
        return np.array([first, -first])

    def _f(self, x, y):
        x2, y2 = x * x, y * y
        return (4 - 2.1 * x2 + x2 * x2 / 3) * x2 + x * y + (-4 + 4 * y2) * y2

    def _df(self, x, y):
        return 8 * x - 8.4 * x**3 + 2 * x**5 + y, x - 8 * y + 16 * y**3

    hvp_exact = True

    def _d2f(self, x, y):
        return 8 - 25.2 * x * x + 10 * x**4, np.ones_like(x), -8 + 48 * y * y


@register_problem("three-hump-camel")
class ThreeHumpCamel(TwoDimensional):
    """Three-hump camel: ``f(x, y) = 2 x^2 - 1.05 x^4 + x^6 / 6 + x y + y^2``; minimum 0 at 0; domain [-5, 5]^2."""

    tags = frozenset({"smooth", "multimodal"})

    def minimisers(self, dim):
        return np.zeros(2)

    def _f(self, x, y):
        x2 = x * x
        return 2 * x2 - 1.05 * x2 * x2 + x2**3 / 6 + x * y + y * y

    def _df(self, x, y):
        return 4 * x - 4.2 * x**3 + x**5 + y, x + 2 * y

    hvp_exact = True

    def _d2f(self, x, y):
        return 4 - 12.6 * x * x + 5 * x**4, np.ones_like(x), np.full_like(y, 2.0)


@register_problem("beale")
class Beale(TwoDimensional):
    """Beale: ``f = (1.5 - x + x y)^2 + (2.25 - x + x y^2)^2 + (2.625 - x + x y^3)^2``; minimum 0 at (3, 0.5); domain [-4.5, 4.5]^2."""

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-4.5, 4.5)

    def minimisers(self, dim):
        return np.array([3.0, 0.5])

    def _terms(self, x, y):
        return 1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y**3

    def _f(self, x, y):
        a, b, c = self._terms(x, y)
        return a * a + b * b + c * c

    def _df(self, x, y):
        a, b, c = self._terms(x, y)
        gx = 2 * a * (y - 1) + 2 * b * (y * y - 1) + 2 * c * (y**3 - 1)
        gy = 2 * a * x + 4 * b * x * y + 6 * c * x * y * y
        return gx, gy


@register_problem("booth")
class Booth(TwoDimensional):
    """Booth: ``f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2``; convex; minimum 0 at (1, 3); domain [-10, 10]^2."""

    tags = frozenset({"convex", "smooth", "unimodal"})
    bounds = (-10.0, 10.0)

    def minimisers(self, dim):
        return np.array([1.0, 3.0])

    def _f(self, x, y):
        return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2

    def _df(self, x, y):
        u, v = x + 2 * y - 7, 2 * x + y - 5
        return 2 * u + 4 * v, 4 * u + 2 * v

    hvp_exact = True

    def _d2f(self, x, y):
        return np.full_like(x, 10.0), np.full_like(x, 8.0), np.full_like(y, 10.0)


@register_problem("matyas")
class Matyas(TwoDimensional):
    """Matyas: ``f(x, y) = 0.26 (x^2 + y^2) - 0.48 x y``; convex; minimum 0 at 0; domain [-10, 10]^2."""

    tags = frozenset({"convex", "smooth", "unimodal"})
    bounds = (-10.0, 10.0)

    def minimisers(self, dim):
        return np.zeros(2)

    def _f(self, x, y):
        return 0.26 * (x * x + y * y) - 0.48 * x * y

    def _df(self, x, y):
        return 0.52 * x - 0.48 * y, 0.52 * y - 0.48 * x

    hvp_exact = True

    def _d2f(self, x, y):
        return np.full_like(x, 0.52), np.full_like(x, -0.48), np.full_like(y, 0.52)


@register_problem("goldstein-price")
class GoldsteinPrice(TwoDimensional):
    """Goldstein-Price: ``f = [1 + (x+y+1)^2 A] [30 + (2x-3y)^2 B]`` with
    ``A = 19 - 14x + 3x^2 - 14y + 6xy + 3y^2``, ``B = 18 - 32x + 12x^2 + 48y - 36xy + 27y^2``.

    Minimum 3 at (0, -1); domain [-2, 2]^2.
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-2.0, 2.0)

    def minimisers(self, dim):
        return np.array([0.0, -1.0])

    def _parts(self, x, y):
        a, b = x + y + 1, 2 * x - 3 * y
        A = 19 - 14 * x + 3 * x * x - 14 * y + 6 * x * y + 3 * y * y
        B = 18 - 32 * x + 12 * x * x + 48 * y - 36 * x * y + 27 * y * y
        return a, b, A, B

    def _f(self, x, y):
        a, b, A, B = self._parts(x, y)
        return (1 + a * a * A) * (30 + b * b * B)

    def _df(self, x, y):
        a, b, A, B = self._parts(x, y)
        P, Q = 1 + a * a * A, 30 + b * b * B
        dP = 2 * a * A + a * a * (-14 + 6 * x + 6 * y)  # the same for x and y
        dQx = 4 * b * B + b * b * (-32 + 24 * x - 36 * y)
        dQy = -6 * b * B + b * b * (48 - 36 * x + 54 * y)
        return dP * Q + P * dQx, dP * Q + P * dQy


@register_problem("easom")
class Easom(TwoDimensional):
    """Easom: ``f(x, y) = -cos x cos y exp(-((x - pi)^2 + (y - pi)^2))``; minimum -1 at (pi, pi); domain [-100, 100]^2.

    Flat almost everywhere: a needle-in-a-haystack test.
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-100.0, 100.0)

    def minimisers(self, dim):
        return np.array([PI, PI])

    def _f(self, x, y):
        return -np.cos(x) * np.cos(y) * np.exp(-((x - PI) ** 2 + (y - PI) ** 2))

    def _df(self, x, y):
        e = np.exp(-((x - PI) ** 2 + (y - PI) ** 2))
        cx, cy, sx, sy = np.cos(x), np.cos(y), np.sin(x), np.sin(y)
        return e * cy * (sx + 2 * (x - PI) * cx), e * cx * (sy + 2 * (y - PI) * cy)


@register_problem("mccormick")
class McCormick(TwoDimensional):
    """McCormick: ``f(x, y) = sin(x + y) + (x - y)^2 - 1.5 x + 2.5 y + 1``.

    Minimum about -1.9133 at ``x - y = 1, x + y = -2 pi / 3`` (exact, from the
    stationarity equations); domain [-1.5, 4] x [-3, 4].
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = ((-1.5, 4.0), (-3.0, 4.0))

    def minimisers(self, dim):
        total = -2 * PI / 3
        return np.array([(total + 1) / 2, (total - 1) / 2])

    def _f(self, x, y):
        return np.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1

    def _df(self, x, y):
        c = np.cos(x + y)
        return c + 2 * (x - y) - 1.5, c - 2 * (x - y) + 2.5

    hvp_exact = True

    def _d2f(self, x, y):
        s = -np.sin(x + y)
        return s + 2, s - 2, s + 2


@register_problem("branin")
class Branin(TwoDimensional):
    """Branin: ``f = a (y - b x^2 + c x - r)^2 + s (1 - t) cos x + s``,
    ``a = 1, b = 5.1 / (4 pi^2), c = 5 / pi, r = 6, s = 10, t = 1 / (8 pi)``.

    Three global minima of value ``s t = 0.397887...`` at x = -pi, pi, 3 pi with
    ``y = r + b x^2 - c x`` (12.275, 2.275, 2.475); domain [-5, 10] x [0, 15].
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = ((-5.0, 10.0), (0.0, 15.0))
    a, b, c, r, s, t = 1.0, 5.1 / (4 * PI**2), 5 / PI, 6.0, 10.0, 1 / (8 * PI)

    def minimisers(self, dim):
        x = np.array([-PI, PI, 3 * PI])
        return np.column_stack([x, self.r + self.b * x * x - self.c * x])

    def _f(self, x, y):
        return self.a * (y - self.b * x * x + self.c * x - self.r) ** 2 + self.s * (1 - self.t) * np.cos(x) + self.s

    def _df(self, x, y):
        u = y - self.b * x * x + self.c * x - self.r
        return 2 * self.a * u * (self.c - 2 * self.b * x) - self.s * (1 - self.t) * np.sin(x), 2 * self.a * u

    hvp_exact = True

    def _d2f(self, x, y):
        u = y - self.b * x * x + self.c * x - self.r
        slope = self.c - 2 * self.b * x
        hxx = 2 * self.a * slope * slope - 4 * self.a * self.b * u - self.s * (1 - self.t) * np.cos(x)
        return hxx, 2 * self.a * slope, np.full_like(y, 2 * self.a)


@register_problem("bohachevsky")
class Bohachevsky(TwoDimensional):
    """Bohachevsky functions 1, 2, 3 (``variant``); minimum 0 at 0; domain [-100, 100]^2.

    1: ``x^2 + 2 y^2 - 0.3 cos(3 pi x) - 0.4 cos(4 pi y) + 0.7``;
    2: ``x^2 + 2 y^2 - 0.3 cos(3 pi x) cos(4 pi y) + 0.3``;
    3: ``x^2 + 2 y^2 - 0.3 cos(3 pi x + 4 pi y) + 0.3``.
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-100.0, 100.0)

    def __init__(self, dim: int = 2, variant: Literal[1, 2, 3] = 1, noise_std: float = 0.0):
        if variant not in (1, 2, 3):
            raise ValueError(f"variant must be 1, 2 or 3, got {variant!r}")
        self.variant = variant
        self._setup(dim, noise_std)

    def minimisers(self, dim):
        return np.zeros(2)

    def _f(self, x, y):
        bowl = x * x + 2 * y * y
        if self.variant == 1:
            return bowl - 0.3 * np.cos(3 * PI * x) - 0.4 * np.cos(4 * PI * y) + 0.7
        if self.variant == 2:
            return bowl - 0.3 * np.cos(3 * PI * x) * np.cos(4 * PI * y) + 0.3
        return bowl - 0.3 * np.cos(3 * PI * x + 4 * PI * y) + 0.3

    def _df(self, x, y):
        if self.variant == 1:
            return 2 * x + 0.9 * PI * np.sin(3 * PI * x), 4 * y + 1.6 * PI * np.sin(4 * PI * y)
        if self.variant == 2:
            cx, cy = np.cos(3 * PI * x), np.cos(4 * PI * y)
            sx, sy = np.sin(3 * PI * x), np.sin(4 * PI * y)
            return 2 * x + 0.9 * PI * sx * cy, 4 * y + 1.2 * PI * cx * sy
        s = np.sin(3 * PI * x + 4 * PI * y)
        return 2 * x + 0.9 * PI * s, 4 * y + 1.2 * PI * s

    hvp_exact = True

    def _d2f(self, x, y):
        if self.variant == 1:
            return 2 + 2.7 * PI**2 * np.cos(3 * PI * x), np.zeros_like(x), 4 + 6.4 * PI**2 * np.cos(4 * PI * y)
        if self.variant == 2:
            cx, cy, sx, sy = np.cos(3 * PI * x), np.cos(4 * PI * y), np.sin(3 * PI * x), np.sin(4 * PI * y)
            return 2 + 2.7 * PI**2 * cx * cy, -3.6 * PI**2 * sx * sy, 4 + 4.8 * PI**2 * cx * cy
        c = np.cos(3 * PI * x + 4 * PI * y)
        return 2 + 2.7 * PI**2 * c, 3.6 * PI**2 * c, 4 + 4.8 * PI**2 * c


# ---------------------------------------------------------------- textbook pictures
@register_problem("double-well")
class DoubleWell(AnalyticFunction):
    """Double well: ``f(x) = (x^2 - 1)^2 + tilt * x`` in one dimension; domain [-2, 2].

    For ``0 < tilt < 8 / (3 sqrt 3)`` there is a global minimum near -1, a local
    minimum near +1 (``x_local``) and a maximum between: descent started right of
    the maximum gets stuck in the local minimum. The minimisers are the roots of
    ``f' = 4 x^3 - 4 x + tilt`` (numpy.roots, polished by Newton). With ``tilt = 0``
    both minima are global and ``x_opt`` lists both. Gradient ``4 x^3 - 4 x + tilt``.
    """

    tags = frozenset({"smooth", "multimodal"})
    dims = (1,)
    bounds = (-2.0, 2.0)
    LIMIT = 8 / (3 * np.sqrt(3))

    def __init__(self, dim: int = 1, tilt: float = 0.3, noise_std: float = 0.0):
        if not abs(tilt) < self.LIMIT:
            raise ValueError(f"tilt must satisfy |tilt| < 8 / (3 sqrt 3) = {self.LIMIT:.6f} (two minima), got {tilt}")
        self.tilt = float(tilt)
        self._setup(dim, noise_std)

    def _stationary(self):
        roots = np.sort(np.roots([4.0, 0.0, -4.0, self.tilt]).real)
        for _ in range(5):  # Newton polish
            roots = roots - (4 * roots**3 - 4 * roots + self.tilt) / (12 * roots**2 - 4)
        return roots  # left minimum, maximum, right minimum

    def minimisers(self, dim):
        left, _, right = self._stationary()
        values = self.value(np.array([[left], [right]]))
        if self.tilt == 0:
            self.x_local = None
            return np.array([[left], [right]])
        best, other = (left, right) if values[0] < values[1] else (right, left)
        self.x_local = np.array([other])
        return np.array([best])

    def value(self, X, batch=None):
        x = X[:, 0]
        return (x * x - 1.0) ** 2 + self.tilt * x

    def grad(self, X, batch=None):
        return 4.0 * X**3 - 4.0 * X + self.tilt

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``f'' v = (12 x^2 - 4) v``."""
        return (12.0 * X * X - 4.0) * V


@register_problem("saddle")
class Saddle(AnalyticFunction):
    """A strict saddle: ``f(x) = 0.5 sum_{i<d} x_i^2 + 0.25 x_d^4 - 0.5 x_d^2``; domain [-2, 2]^d.

    The origin is a saddle (Hessian ``diag(1, ..., 1, -1)``); the minima -0.25 are at
    ``x_d = +-1`` (both listed in ``x_opt``). The hyperplane ``x_d = 0`` is the saddle's
    stable manifold: the gradient ``(x_1, ..., x_{d-1}, x_d^3 - x_d)`` keeps ``x_d = 0``,
    so plain gradient descent started there converges to the saddle and never leaves,
    while gradient noise (``noise_std > 0``) or a random start escapes. With
    ``on_manifold=True`` (the default) initial points are drawn on that hyperplane.
    """

    tags = frozenset({"smooth", "multimodal"})
    bounds = (-2.0, 2.0)
    min_dim = 2

    def __init__(self, dim: int = 2, on_manifold: bool = True, noise_std: float = 0.0):
        self.on_manifold = bool(on_manifold)
        self._setup(dim, noise_std)

    def minimisers(self, dim):
        x = np.zeros((2, dim))
        x[:, -1] = [-1.0, 1.0]
        return x

    def initial_point(self, rng, n_runs):
        X = super().initial_point(rng, n_runs)
        if self.on_manifold:
            X[:, -1] = 0.0
        return X

    def value(self, X, batch=None):
        last = X[:, -1]
        return 0.5 * np.sum(X[:, :-1] ** 2, axis=1) + 0.25 * last**4 - 0.5 * last**2

    def grad(self, X, batch=None):
        G = X.copy()
        G[:, -1] = X[:, -1] ** 3 - X[:, -1]
        return G

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``H = diag(1, ..., 1, 3 x_d^2 - 1)``."""
        H = np.array(V, dtype=float)
        H[:, -1] *= 3.0 * X[:, -1] ** 2 - 1.0
        return H
