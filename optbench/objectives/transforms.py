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
  (multiplicative, zero at the optimum); gradient ``grad f + std * zeta`` or ``grad f * (1 + std * zeta)``;
  or COCO's bbob-noisy value models (gaussian, uniform, cauchy). Fresh noise at every
  evaluation, from the run's own stream "noise".
- ``perturbed``: same f; starting point ``x0 + radius * z``, ``z`` standard normal from the run's own stream.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from optbench.problem import Problem
from optbench.registry import problems, register_problem, resolve
from optbench.errors import ParameterError, RegistryError
__all__ = ["Transformed", "Shifted", "Rotated", "Scaled", "Noisy", "Perturbed", "random_rotation", "noise_draws",
           "coco_value_noise"]

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

    @property
    def uses_noise_streams(self) -> bool:
        """Whether a noisy wrapper inside wants the engine's per-run noise generators."""
        return bool(getattr(self.inner, "uses_noise_streams", False))

    def bind_noise(self, streams: list | None, rows: np.ndarray | None = None) -> None:
        """Hands the per-row noise generators down to the noisy wrapper inside."""
        if hasattr(self.inner, "bind_noise"):
            self.inner.bind_noise(streams, rows)

    def noise_rows(self, rows: np.ndarray | None) -> None:
        """Hands the charged rows down to the noisy wrapper inside."""
        if hasattr(self.inner, "noise_rows"):
            self.inner.noise_rows(rows)


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
def noise_draws(kind: str, rng: np.random.Generator, count: int) -> np.ndarray:
    """The ``count`` random numbers one evaluation of noise model ``kind`` uses, from ``rng``.

    additive / multiplicative / gaussian: ``count`` standard normals; uniform: two
    uniforms on [0, 1); cauchy: a uniform and two standard normals.
    """
    if kind == "uniform":
        return rng.random(2)
    if kind == "cauchy":
        return np.concatenate([rng.random(1), rng.standard_normal(2)])
    return rng.standard_normal(count)


def coco_value_noise(kind: str, F: np.ndarray, draws: np.ndarray, alpha: float, beta: float, p: float) -> np.ndarray:
    """COCO's bbob-noisy models on ``F >= 0`` (``f - f_opt``), one row of ``draws`` per value.

    gaussian: ``F exp(beta N)``; uniform: ``F U1^beta max(1, (1e9 / (F + 1e-199))^(alpha U2))``;
    cauchy: ``F + alpha max(0, 1000 + N1 / (|N2| + 1e-199))`` with probability p, else F.
    All three then add 1.01e-8 where ``F >= 1e-8`` (COCO's precision offset).
    """
    if kind == "gaussian":
        out = F * np.exp(beta * draws[:, 0])
    elif kind == "uniform":
        out = F * draws[:, 0] ** beta * np.maximum(1.0, (1e9 / (F + 1e-199)) ** (alpha * draws[:, 1]))
    else:
        outlier = alpha * np.maximum(0.0, 1000.0 + draws[:, 1] / (np.abs(draws[:, 2]) + 1e-199))
        out = F + np.where(draws[:, 0] < p, outlier, 0.0)
    return np.where(F >= 1e-8, out + 1.01e-8, out)


COCO_KINDS = ("gaussian", "uniform", "cauchy")


@register_problem("noisy")
class Noisy(Transformed):
    """Noisy value and gradient, fresh noise at every evaluation, from each run's own random stream.

    additive:        ``f~(x) = f(x) + std * xi``,                     ``g~(x) = grad f(x) + std * zeta``
    multiplicative:  ``f~(x) = f_opt + (f(x) - f_opt) (1 + std * xi)``, ``g~(x) = grad f(x) * (1 + std * zeta)``
    with ``xi`` and the vector ``zeta`` standard normal, independent, and ``on`` choosing which
    of value and gradient are noisy. COCO's bbob-noisy value models (``kind`` gaussian,
    uniform, cauchy; value only, need f_opt) act on ``f - f_opt``: gaussian with
    ``beta = std``, uniform with ``alpha = beta = std``, cauchy with ``alpha = std`` and
    outlier probability ``p`` (COCO's moderate noise: std 0.01, p 0.05; its severe
    gaussian and cauchy: std 1, p 0.2).

    In a run the engine hands the problem one generator per row (stream "noise" of the
    run's key and seed, :func:`optbench.seeding.run_generators`), and only the runs an
    evaluation is charged to draw from theirs: a run's noise is the same alone or in
    any batch, two seeds never share it. Called directly (no run), each call draws
    fresh noise for every row from a generator seeded by ``seed``.
    """

    uses_noise_streams: ClassVar[bool] = True

    def __init__(self, problem: ProblemSpec = DEFAULT_INNER, std: float = 0.01,
                 kind: Literal["additive", "multiplicative", "gaussian", "uniform", "cauchy"] = "additive",
                 on: Literal["both", "value", "gradient"] = "both", p: float = 0.05, seed: int = 0):
        self._wrap(problem)
        if not (np.isfinite(std) and std >= 0):
            raise ParameterError(f"noisy: parameter 'std' must be a finite number >= 0, got {std!r}")
        if not 0.0 <= p <= 1.0:
            raise ParameterError(f"noisy: parameter 'p' must be a probability in [0, 1], got {p!r}")
        if kind in COCO_KINDS and on != "value":
            raise ParameterError(f"noisy: parameter 'kind' = {kind!r} is COCO's value noise; give on = 'value' "
                                 "(or kind 'additive' or 'multiplicative' for gradient noise)")
        if kind != "additive" and on != "gradient" and self.f_opt is None:
            raise ParameterError(f"noisy: kind {kind!r} on the value needs the problem's f_opt, and "
                                 f"{self.inner.name!r} has none; use kind 'additive' or on 'gradient'")
        self.std, self.kind, self.on, self.p, self.seed = float(std), kind, on, float(p), seed
        self.tags = self.tags | {"noisy"}
        self._own = np.random.default_rng([int(seed), 0x401E])
        self._streams, self._rows = None, None

    def bind_noise(self, streams: list | None, rows: np.ndarray | None = None) -> None:
        """Per-row generators of a run batch (None: back to the wrapper's own generator)."""
        self._streams, self._rows = streams, rows

    def noise_rows(self, rows: np.ndarray | None) -> None:
        """The rows the next evaluation is charged to (they draw noise); None: no row draws."""
        self._rows = rows

    def _draws(self, n_rows: int, count: int) -> np.ndarray | None:
        """One row of random numbers per row of X, or None when no row draws noise."""
        if self._streams is None:
            return np.stack([noise_draws(self.kind, self._own, count) for _ in range(n_rows)])
        if self._rows is None or not np.any(self._rows):
            return None
        out = np.zeros((n_rows, {"uniform": 2, "cauchy": 3}.get(self.kind, count)))
        for i in np.flatnonzero(self._rows):
            out[i] = noise_draws(self.kind, self._streams[i], count)
        return out

    def _noisy(self, X: np.ndarray, F: np.ndarray | None, G: np.ndarray | None):
        """``(F~, G~)``: draw 0 of a row is the value's noise, draws 1..d the gradient's."""
        if self.std == 0.0:
            return F, G
        draws = self._draws(X.shape[0], 1 if G is None or self.on == "value" else X.shape[1] + 1)
        if draws is None:
            return F, G
        if F is not None and self.on != "gradient":
            F = self._value_noise(F, draws)
        if G is not None and self.on != "value":
            zeta = self.std * draws[:, 1:]
            G = G + zeta if self.kind == "additive" else G * (1.0 + zeta)
        return F, G

    def _value_noise(self, F: np.ndarray, draws: np.ndarray) -> np.ndarray:
        charged = np.ones(len(F), bool) if self._streams is None else np.asarray(self._rows, bool)
        if self.kind == "additive":
            noisy = F + self.std * draws[:, 0]
        elif self.kind == "multiplicative":
            noisy = self.f_opt + (F - self.f_opt) * (1.0 + self.std * draws[:, 0])
        else:
            noisy = self.f_opt + coco_value_noise(self.kind, F - self.f_opt, draws, self.std, self.std, self.p)
        return np.where(charged, noisy, F)

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
