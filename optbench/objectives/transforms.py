"""Transformations of any problem: wrappers that hold a problem and keep f_opt, x_opt and gradients right.

Every wrapper takes the inner problem as a nested spec, ``problem = {name = "rosenbrock", dim = 5}``
(or just a name; 2-D ``rosenbrock`` by default), so it reads the same in Python and in suite files::

    ob.problems.create("rotated", problem={"name": "rosenbrock", "dim": 5}, seed=3)

    [[problems]]                      # in a suite file
    name = "rotated"
    problem = { name = "rosenbrock", dim = 5 }
    seed = [1, 2, 3]                  # a grid, as for any parameter

Wrappers nest (a noisy rotated shifted sphere is three wrappers). The affine
ones are ``g(x) = f(A x + b)``, so ``grad g(x) = A^T grad f(A x + b)``,
``x_opt_g = A^{-1} (x_opt_f - b)`` and ``f_opt`` is unchanged; starting points
are the inner problem's starting points mapped the same way, and Hessian-vector products are
``A^T H_f(A x + b) A v`` (analytic exactly when the inner problem's are, ``hvp_exact``).
``noisy`` and ``perturbed`` pass the inner product through: for ``noisy`` it is the
noise-free curvature, the Hessian of the mean gradient.

- ``shifted``:   ``g(x) = f(x - s)``; ``s`` given, or drawn uniform in ``[-radius, radius]^d`` from ``seed``.
- ``rotated``:   ``g(x) = f(Q x)``; ``Q`` a Haar-random orthogonal matrix from ``seed``.
- ``scaled``:    ``g(x) = f(D x)``, ``D = diag(condition^((i / (d - 1)) / 2))``: a sphere becomes an
  ellipsoid whose Hessian has condition number ``condition``.
- ``noisy``:     ``g(x) = f(x) + std * xi`` (additive) or ``f_opt + (f(x) - f_opt) (1 + std * xi)``
  (multiplicative, zero at the optimum); gradient ``grad f + std * zeta`` or ``grad f * (1 + std * zeta)``.
- ``perturbed``: same f; starting point ``x0 + radius * z``, ``z`` standard normal from the run's own stream.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from optbench.problem import Problem
from optbench.registry import ParameterError, RegistryError, problems, register_problem, resolve
from optbench.seeding import canonical, key_hash

__all__ = ["Transformed", "Shifted", "Rotated", "Scaled", "Noisy", "Perturbed", "random_rotation", "point_normals"]

ProblemSpec = dict | str
DEFAULT_INNER = "rosenbrock"  # the inner problem when none is given (2-D)


def _inner(spec: Any, wrapper: str) -> Problem:
    """The wrapped problem from a nested spec; errors name the ``problem`` parameter."""
    if not isinstance(spec, (dict, str)):
        raise ParameterError(f"{wrapper}: parameter 'problem' must be a problem name or a table "
                             f"{{name = ..., ...}}, got {type(spec).__name__} {spec!r}")
    try:
        return resolve(problems, spec)
    except (ParameterError, RegistryError) as exc:
        raise ParameterError(f"{wrapper}: parameter 'problem': {exc}") from None


def random_rotation(dim: int, seed: int) -> np.ndarray:
    """A Haar-random orthogonal ``(dim, dim)`` matrix: QR of a standard normal matrix, columns signed by diag(R)."""
    rng = np.random.default_rng([int(seed), 0x0B7E])
    Q, R = np.linalg.qr(rng.standard_normal((dim, dim)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


class Transformed(Problem):
    """A problem that holds a problem (``self.inner``): dimension, f_opt, tags, finite sum and noise are passed on."""

    f_opt_known: ClassVar[str] = "computed"  # from the inner problem's, when it has one

    def _wrap(self, problem: ProblemSpec) -> None:
        wrapper = type(self).name or type(self).__name__
        self.problem = problem
        self.inner = _inner(problem, wrapper)
        self.dim = self.inner.dim
        self.f_opt = self.inner.f_opt
        self.x_opt = self.inner.x_opt
        self.domain = self.inner.domain
        self.n_samples = self.inner.n_samples
        self.noise_std = getattr(self.inner, "noise_std", 0.0)
        self.tags = frozenset(getattr(self.inner, "tags", ()))

    def value(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        return self.inner.value(X, batch)

    def grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        return self.inner.grad(X, batch)

    def value_and_grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.inner.value_and_grad(X, batch)

    @property
    def hvp_exact(self) -> bool:  # type: ignore[override]
        """Analytic exactly when the inner problem's product is."""
        return self.inner.hvp_exact

    def hvp(self, X: np.ndarray, V: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        return self.inner.hvp(X, V, batch)

    def initial_point(self, rng: np.random.Generator, n_runs: int) -> np.ndarray:
        return self.inner.initial_point(rng, n_runs)

    def metrics(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return self.inner.metrics(X)


class _Affine(Transformed):
    """``g(x) = f(A x + b)`` with ``A`` a vector (diagonal) or a square matrix; subclasses set ``_A`` and ``_b``."""

    _A: np.ndarray
    _b: np.ndarray

    def _finish(self) -> None:
        self.x_opt = None if self.inner.x_opt is None else self._preimage(np.asarray(self.inner.x_opt, dtype=float))

    def _forward(self, X: np.ndarray) -> np.ndarray:
        """``A x + b`` for each row of X."""
        return (X * self._A if self._A.ndim == 1 else X @ self._A.T) + self._b

    def _pullback(self, G: np.ndarray) -> np.ndarray:
        """``A^T g`` for each row of G (the chain rule)."""
        return G * self._A if self._A.ndim == 1 else G @ self._A

    def _preimage(self, Y: np.ndarray) -> np.ndarray:
        """``A^{-1} (y - b)`` for each row (or the one vector) Y."""
        Z = Y - self._b
        if self._A.ndim == 1:
            return Z / self._A
        return np.linalg.solve(self._A, Z.T).T if Z.ndim == 2 else np.linalg.solve(self._A, Z)

    def value(self, X, batch=None):
        return self.inner.value(self._forward(X), batch)

    def grad(self, X, batch=None):
        return self._pullback(self.inner.grad(self._forward(X), batch))

    def value_and_grad(self, X, batch=None):
        F, G = self.inner.value_and_grad(self._forward(X), batch)
        return F, self._pullback(G)

    def hvp(self, X, V, batch=None):
        """``A^T H_f(A x + b) A v``: the inner product at the mapped point, pulled back."""
        V = np.asarray(V, dtype=float)
        AV = V * self._A if self._A.ndim == 1 else V @ self._A.T
        return self._pullback(self.inner.hvp(self._forward(X), AV, batch))

    def initial_point(self, rng, n_runs):
        return self._preimage(self.inner.initial_point(rng, n_runs))

    def metrics(self, X):
        return self.inner.metrics(self._forward(X))


def _positive(name: str, value: float, wrapper: str) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ParameterError(f"{wrapper}: parameter {name!r} must be a finite number > 0, got {value!r}")
    return float(value)


@register_problem("shifted")
class Shifted(_Affine):
    """Shifted problem: ``g(x) = f(x - s)``, so ``x_opt`` moves to ``x_opt + s`` and the domain with it.

    ``shift`` gives ``s`` (one number for every coordinate, or one per coordinate);
    without it ``s`` is drawn uniform in ``[-radius, radius]^d`` from ``seed``.
    Gradient: ``grad f(x - s)``.
    """

    def __init__(self, problem: ProblemSpec = DEFAULT_INNER, shift: float | list[float] | None = None, radius: float = 1.0,
                 seed: int = 0):
        self._wrap(problem)
        self.shift, self.radius, self.seed = shift, _positive("radius", radius, "shifted"), seed
        if shift is None:
            s = np.random.default_rng([int(seed), 0x5417]).uniform(-radius, radius, self.dim)
        else:
            s = np.asarray(shift, dtype=float) * np.ones(self.dim) if np.ndim(shift) == 0 else np.asarray(shift, float)
            if s.shape != (self.dim,) or not np.all(np.isfinite(s)):
                raise ParameterError(f"shifted: parameter 'shift' must be one finite number or {self.dim} of them "
                                     f"(the dimension), got {shift!r}")
        self._A, self._b = np.ones(self.dim), -np.array(s, dtype=float)
        self._finish()
        if self.domain is not None:
            self.domain = np.asarray(self.domain, dtype=float) + s[:, None]


@register_problem("rotated")
class Rotated(_Affine):
    """Rotated problem: ``g(x) = f(Q x)`` with ``Q`` a Haar-random orthogonal matrix drawn from ``seed``.

    ``x_opt`` becomes ``Q^T x_opt``; gradient ``Q^T grad f(Q x)``. A rotated box is
    not a box, so there is no domain; starting points are ``Q^T`` times the inner ones.
    """

    def __init__(self, problem: ProblemSpec = DEFAULT_INNER, seed: int = 0):
        self._wrap(problem)
        self.seed = seed
        self._A, self._b = random_rotation(self.dim, seed), np.zeros(self.dim)
        self._finish()
        self.domain = None

    def _preimage(self, Y):
        return (Y - self._b) @ self._A  # Q^{-1} = Q^T: rows y -> Q^T y


@register_problem("scaled")
class Scaled(_Affine):
    """Ill-conditioned problem: ``g(x) = f(D x)``, ``D_ii = condition^((i / (d - 1)) / 2)`` for i = 0..d-1.

    On a sphere the Hessian ``2 D^2`` has condition number ``condition``. ``x_opt``
    becomes ``D^{-1} x_opt``, the domain ``D^{-1}`` times the box; gradient ``D grad f(D x)``.
    """

    def __init__(self, problem: ProblemSpec = DEFAULT_INNER, condition: float = 100.0):
        self._wrap(problem)
        self.condition = _positive("condition", condition, "scaled")
        exponents = np.arange(self.dim) / max(self.dim - 1, 1) / 2.0
        self._A, self._b = self.condition ** exponents, np.zeros(self.dim)
        self._finish()
        if self.domain is not None:
            self.domain = np.asarray(self.domain, dtype=float) / self._A[:, None]


# ---------------------------------------------------------------- noise
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def point_normals(key: int, X: np.ndarray, count: int) -> np.ndarray:
    """``count`` standard normals per row of X, a deterministic function of ``key`` and the row's bits.

    Each row is hashed (splitmix64 of every coordinate's bits with its position), the
    hash seeds a counter-based stream, and Box-Muller turns pairs of uniforms into
    normals. The numbers depend on the point alone: never on the row's position or
    on the other rows, so a run's noise is the same alone or in any batch.
    """
    bits = np.ascontiguousarray(X, dtype=np.float64).view(np.uint64)
    salt = (np.arange(1, X.shape[1] + 1, dtype=np.uint64) * _GOLDEN) ^ np.uint64(key)
    row = _mix(np.bitwise_xor.reduce(_mix(bits + salt), axis=1) ^ np.uint64(key))
    counters = row[:, None] + np.arange(1, 2 * count + 1, dtype=np.uint64) * _GOLDEN
    u = (_mix(counters) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    u1, u2 = u[:, 0::2], u[:, 1::2]  # normal j uses counters 2j+1 and 2j+2, whatever count is
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


@register_problem("noisy")
class Noisy(Transformed):
    """Noisy value and gradient, seeded: the noise at a point is fixed by ``seed``, the inner problem and the point.

    additive:        ``f~(x) = f(x) + std * xi``,                     ``g~(x) = grad f(x) + std * zeta``
    multiplicative:  ``f~(x) = f_opt + (f(x) - f_opt) (1 + std * xi)``, ``g~(x) = grad f(x) * (1 + std * zeta)``
    with ``xi`` and the vector ``zeta`` standard normal, independent, and ``on`` choosing which of
    value and gradient are noisy. Multiplicative value noise keeps ``f(x_opt) = f_opt``
    exactly (it needs a known f_opt). Evaluating the same point twice gives the same
    noisy numbers; a run's noise comes from its own trajectory (its starting point is
    drawn from its cell key and seed), never from its position in a batch.
    """

    def __init__(self, problem: ProblemSpec = DEFAULT_INNER, std: float = 0.01,
                 kind: Literal["additive", "multiplicative"] = "additive",
                 on: Literal["both", "value", "gradient"] = "both", seed: int = 0):
        self._wrap(problem)
        if not (np.isfinite(std) and std >= 0):
            raise ParameterError(f"noisy: parameter 'std' must be a finite number >= 0, got {std!r}")
        if kind == "multiplicative" and on != "gradient" and self.f_opt is None:
            raise ParameterError("noisy: kind 'multiplicative' on the value needs the problem's f_opt, and "
                                 f"{self.inner.name!r} has none; use kind 'additive' or on 'gradient'")
        self.std, self.kind, self.on, self.seed = float(std), kind, on, seed
        self.tags = self.tags | {"noisy"}
        self._key = int(key_hash(canonical([problem, seed]), 16), 16)

    def _noisy(self, X: np.ndarray, F: np.ndarray | None, G: np.ndarray | None):
        """``(F~, G~)``: normal 0 of the point is the value's noise, normals 1..d the gradient's."""
        if self.std == 0.0:
            return F, G
        Z = self.std * point_normals(self._key, X, 1 if G is None or self.on == "value" else X.shape[1] + 1)
        if F is not None and self.on != "gradient":
            xi = Z[:, 0]
            F = F + xi if self.kind == "additive" else self.f_opt + (F - self.f_opt) * (1.0 + xi)
        if G is not None and self.on != "value":
            zeta = Z[:, 1:]
            G = G + zeta if self.kind == "additive" else G * (1.0 + zeta)
        return F, G

    def value(self, X, batch=None):
        return self._noisy(X, self.inner.value(X, batch), None)[0]

    def grad(self, X, batch=None):
        return self._noisy(X, None, self.inner.grad(X, batch))[1]

    def value_and_grad(self, X, batch=None):
        return self._noisy(X, *self.inner.value_and_grad(X, batch))


@register_problem("perturbed")
class Perturbed(Transformed):
    """Perturbed starting points: ``x0 = x0_inner + radius * z``, ``z`` standard normal.

    ``z`` is drawn from the run's own starting-point stream (fixed by the cell key and
    the seed), after the inner problem's starting point. f, gradient, f_opt and x_opt
    are the inner problem's. A starting point given to ``ob.run(x0=...)`` is used as is.
    """

    def __init__(self, problem: ProblemSpec = DEFAULT_INNER, radius: float = 0.1):
        self._wrap(problem)
        self.radius = _positive("radius", radius, "perturbed")

    def initial_point(self, rng, n_runs):
        X0 = self.inner.initial_point(rng, n_runs)
        return X0 + self.radius * rng.standard_normal(X0.shape)
