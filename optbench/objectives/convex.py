"""Convex problems: quadratics and linear models on seeded data (least squares, ridge, logistic).

The linear models are finite sums over a data set ``(A, y)`` with ``n`` samples:
``f(w, c) = (1/n) sum_i loss(a_i.w + c, y_i) + penalty(w)``; the parameter vector
is ``x = (w, c)``, the bias ``c`` last (``dim = n_features + 1``), and the penalty
never includes the bias. ``value(X, batch)`` / ``grad(X, batch)`` with ``batch`` an
integer array ``(n_runs, B)``: run ``r`` uses the rows ``batch[r]``, the loss is their
mean and the penalty is added once. ``batch=None`` is the full objective (one 2-D
matrix product for all runs).
"""

from __future__ import annotations

import functools
from typing import ClassVar, Literal

import numpy as np

from optbench.objectives import data
from optbench.objectives.optimum import LazyOptimum, data_digest
from optbench.problem import Problem, check_batch
from optbench.registry import register_problem

__all__ = ["Quadratic", "LinearModel", "LinearRegression", "Ridge", "LogisticRegression", "random_rotation", "linearly_separable"]


@functools.cache
def _scipy_expit():
    from scipy.special import expit  # on first use: creating a problem or loading a suite imports no scipy

    return expit


def expit(Z: np.ndarray) -> np.ndarray:
    """The logistic sigmoid ``1 / (1 + exp(-z))`` elementwise (scipy's ``expit``, the same bits on every CPU)."""
    return _scipy_expit()(Z)


def random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    Q, R = np.linalg.qr(rng.standard_normal((dim, dim)))
    return Q * np.sign(np.diag(R))


def linearly_separable(design: np.ndarray, signs: np.ndarray) -> bool:
    """Whether some ``x`` has ``s_i (d_i.x) >= 1`` for every row ``d_i`` (a ``linprog`` feasibility problem)."""
    from scipy.optimize import linprog  # lazily, at construction
    n, dim = design.shape
    result = linprog(np.zeros(dim), A_ub=-(signs[:, None] * design), b_ub=-np.ones(n),
                     bounds=[(None, None)] * dim, method="highs")
    return result.status == 0


def _check_noise_std(noise_std: float) -> float:
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    return float(noise_std)


@register_problem("quadratic")
class Quadratic(Problem):
    """Quadratic ``f(x) = 0.5 x.A.x - b.x`` with ``A = Q diag(lambda) Q^T``.

    The eigenvalues are log-spaced from 1 to ``condition``; ``Q`` is a random
    rotation and ``b`` a standard normal vector, both drawn from ``seed``.
    ``x_opt = A^-1 b`` and ``f_opt = -0.5 b.x_opt``. Gradient ``A x - b``.
    """

    tags = frozenset({"convex", "smooth", "unimodal"})
    f_opt_known = True
    dims = None
    flat_exact = True  # value_and_grad takes a (dim,) point too, same bits (Problem.flat_exact)

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
        return np.vecdot(X, 0.5 * (X @ self.A) - self.b)

    def grad(self, X, batch=None):
        return X @ self.A - self.b

    def value_and_grad(self, X, batch=None):
        AX = X @ self.A
        return np.vecdot(X, 0.5 * AX - self.b), AX - self.b

    hvp_exact = True

    def hvp(self, X, V, batch=None):
        """``H v = A v`` (the Hessian is constant)."""
        return np.asarray(V, dtype=float) @ self.A


# ---------------------------------------------------------------- linear models (finite sums)
class LinearModel(Problem):
    """Base of ``f(w, c) = (1/n) sum_i loss(a_i.w + c, y_i) + penalty(w)`` on a fixed data set.

    Subclasses call ``_set_data(A, y)`` and implement ``loss(Z, Y, need_grad)`` (per
    sample values and derivatives in ``z``, elementwise) and optionally ``penalty``.
    """

    tags = frozenset({"convex", "finite-sum"})
    dims: ClassVar = None
    f_opt_known: ClassVar = "computed"

    def _set_data(self, features: np.ndarray, targets: np.ndarray) -> None:
        self.features = np.ascontiguousarray(features, dtype=float)
        self.targets = np.asarray(targets, dtype=float)
        n, p = self.features.shape
        self.design = np.hstack([self.features, np.ones((n, 1))])  # bias column last
        self.n_samples = n
        self.dim = p + 1

    # -- to implement
    def loss(self, Z: np.ndarray, Y: np.ndarray, need_grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError(f"{type(self).__name__} must implement loss(Z, Y, need_grad) -> (per-sample loss, dloss/dZ)")

    def penalty(self, X: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
        """Value ``(n_runs,)`` and gradient ``(n_runs, dim)`` of the regulariser (0 by default)."""
        return 0.0, 0.0

    def curvature(self, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Second derivative of the per-sample loss in ``z``, elementwise (subclasses with
        ``hvp_exact = True`` implement it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement curvature(Z, Y) when hvp_exact is True")

    def penalty_hvp(self, V: np.ndarray) -> np.ndarray | float:
        """Hessian of the regulariser times each row of V (0 by default)."""
        return 0.0

    # -- the finite sum
    def _rows(self, X, batch):
        check_batch(self, X, batch)
        if batch is None:
            return None, X @ self.design.T, self.targets
        batch = np.asarray(batch)
        D = self.design[batch]  # (n_runs, B, dim)
        return D, np.einsum("rbj,rj->rb", D, X), self.targets[batch]

    def _data_value_and_grad(self, X, batch, need_grad):
        D, Z, Y = self._rows(X, batch)
        losses, dZ = self.loss(Z, Y, need_grad)
        F = losses.mean(axis=1)
        if not need_grad:
            return F, None
        if D is None:
            G = dZ @ self.design / self.n_samples
        else:
            G = np.einsum("rb,rbj->rj", dZ, D) / dZ.shape[1]
        return F, G

    def value(self, X, batch=None):
        F, _ = self._data_value_and_grad(X, batch, False)
        return F + self.penalty(X)[0]

    def value_and_grad(self, X, batch=None):
        F, G = self._data_value_and_grad(X, batch, True)
        P, PG = self.penalty(X)
        return F + P, G + PG

    def grad(self, X, batch=None):
        return self.value_and_grad(X, batch)[1]

    def hvp(self, X, V, batch=None):
        """``H v = (1/B) sum_i loss''(z_i) (d_i.v) d_i + penalty Hessian v`` over the run's samples
        ``d_i = (a_i, 1)`` (all n without ``batch``); central differences when ``hvp_exact`` is False."""
        if not self.hvp_exact:
            return super().hvp(X, V, batch)
        V = np.asarray(V, dtype=float)
        D, Z, Y = self._rows(X, batch)
        if D is None:
            W = self.curvature(Z, Y) * (V @ self.design.T)
            H = W @ self.design / self.n_samples
        else:
            W = self.curvature(Z, Y) * np.einsum("rbj,rj->rb", D, V)
            H = np.einsum("rb,rbj->rj", W, D) / W.shape[1]
        return H + self.penalty_hvp(V)

    def _l2_hvp(self, V, l2):
        """``l2 (v_w, 0)``: the Hessian of ``(l2 / 2) ||w||^2`` times v (bias excluded)."""
        H = np.zeros_like(V)
        H[:, :-1] = l2 * V[:, :-1]
        return H

    def _l2(self, X, l2):
        """``(l2 / 2) ||w||^2`` and its gradient (bias excluded)."""
        W = X[:, :-1]
        G = np.zeros_like(X)
        G[:, :-1] = l2 * W
        return 0.5 * l2 * np.vecdot(W, W), G

    def _set_dataset(self, dataset: str, owner: str, valid: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Train on a real data set's train split (``optbench.objectives.datasets``); keep its test split."""
        from optbench.objectives.datasets import check_dataset, load_split  # only for real data (scikit-learn)

        check_dataset(dataset, owner, valid)
        A, y, A_test, y_test = load_split(dataset)
        self._test = (np.hstack([A_test, np.ones((len(A_test), 1))]), y_test)
        return A, y

    def test_metrics(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``test_loss`` (mean loss on the test split) and, for +-1 targets, ``test_accuracy``; {} without a data set."""
        if getattr(self, "_test", None) is None:
            return {}
        design, targets = self._test
        Z = X @ design.T
        out = {"test_loss": self.loss(Z, np.broadcast_to(targets, Z.shape), False)[0].mean(axis=1)}
        if getattr(self, "labels", None) is not None:
            out["test_accuracy"] = np.mean((Z > 0) == (targets > 0), axis=1)
        return out

    def _set_optimum(self, x_opt: np.ndarray | None, f_opt: float | None = None) -> None:
        self.x_opt = None if x_opt is None else np.asarray(x_opt, dtype=float)
        self.f_opt = float(self.value(self.x_opt[None])[0]) if f_opt is None else float(f_opt)


def _regression_params(n_samples: int, n_features: int, noise: float) -> None:
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")


@register_problem("linear-regression")
class LinearRegression(LinearModel):
    """Least squares: ``f(w, c) = (1/n) sum_i (a_i.w + c - y_i)^2`` on the house-price data set.

    Data: ``optbench.objectives.data.house_prices(n_samples, n_features, noise, seed)``
    (standardised features such as area, rooms, age, distance to the centre).
    Gradient ``(2/n) sum_i r_i (a_i, 1)`` with ``r_i = a_i.w + c - y_i``; the bias is
    the last coordinate. ``x_opt`` from ``numpy.linalg.lstsq``, ``f_opt`` its mean
    squared residual.
    """

    tags = frozenset({"convex", "smooth", "unimodal", "finite-sum"})
    f_opt_known = True

    def __init__(self, n_samples: int = 200, n_features: int = 4, noise: float = 0.5, seed: int = 0,
                 dataset: Literal["diabetes"] | None = None):
        _regression_params(n_samples, n_features, noise)
        self.n_features, self.noise, self.seed, self.dataset = n_features, noise, seed, dataset
        if dataset is None:
            self._set_data(*data.house_prices(n_samples, n_features, noise, seed))
        else:  # a real data set's standardised train split (n_samples, n_features, noise, seed unused)
            self._set_data(*self._set_dataset(dataset, type(self).name, ("diabetes",)))
        self._solve()

    def metrics(self, X):
        return self.test_metrics(X)

    def _solve(self):
        x_opt = np.linalg.lstsq(self.design, self.targets, rcond=None)[0]
        self._set_optimum(x_opt)

    def loss(self, Z, Y, need_grad):
        R = Z - Y
        return R * R, (2.0 * R if need_grad else None)

    hvp_exact = True

    def curvature(self, Z, Y):
        """``d^2/dz^2 (z - y)^2 = 2``."""
        return np.full_like(Z, 2.0)


@register_problem("ridge")
class Ridge(LinearRegression):
    """Ridge regression: ``f(w, c) = (1/n) sum_i (a_i.w + c - y_i)^2 + (l2/2) ||w||^2`` (bias not penalised).

    House-price data as in ``linear-regression``. Closed form: ``x_opt`` solves
    ``(2/n) D^T D x + l2 P x = (2/n) D^T y`` with ``D = [A, 1]`` and ``P = diag(1, ..., 1, 0)``.
    """

    tags = frozenset({"convex", "smooth", "unimodal", "finite-sum"})
    f_opt_known = True

    def __init__(self, n_samples: int = 200, n_features: int = 4, noise: float = 0.5, l2: float = 0.1, seed: int = 0):
        if not l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        self.l2 = float(l2)
        super().__init__(n_samples, n_features, noise, seed)

    def _solve(self):
        n = self.n_samples
        P = np.eye(self.dim)
        P[-1, -1] = 0.0
        lhs = 2.0 / n * self.design.T @ self.design + self.l2 * P
        x_opt = np.linalg.solve(lhs, 2.0 / n * self.design.T @ self.targets)
        self._set_optimum(x_opt)

    def penalty(self, X):
        return self._l2(X, self.l2)

    def penalty_hvp(self, V):
        return self._l2_hvp(V, self.l2)


@register_problem("logistic-regression")
class LogisticRegression(LazyOptimum, LinearModel):
    """Logistic regression: ``f(w, c) = (1/n) sum_i log(1 + exp(-s_i (a_i.w + c))) + (l2/2) ||w||^2``.

    Labels ``s_i = +-1`` from ``data.linear_classification(n_samples, n_features,
    separable, flip, seed)`` (overlapping classes with a fraction ``flip`` of flipped
    labels, or ``separable=True``). Gradient ``(1/n) sum_i -s_i sigmoid(-s_i z_i) (a_i, 1) + l2 (w, 0)``.
    ``f_opt`` from scipy's ``trust-exact`` Newton solve to a gradient norm below 1e-10.
    Separable data with ``l2 = 0`` (``separable=True``, or few samples; checked by
    ``linprog``) has no minimiser: then ``f_opt = 0`` (the infimum) and ``x_opt`` is None. Both solves run when
    ``f_opt`` or ``x_opt`` is first read, and their answer is kept on disk by a digest of the data
    (``optbench.objectives.optimum``). ``metrics`` adds the training ``accuracy`` to the trace.
    """

    tags = frozenset({"convex", "smooth", "unimodal", "finite-sum"})

    def __init__(
        self, n_samples: int = 200, n_features: int = 5, separable: bool = False, flip: float = 0.1,
        l2: float = 0.0, seed: int = 0, dataset: Literal["iris", "wine", "breast-cancer", "digits"] | None = None,
    ):
        if not l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        self.n_features, self.separable, self.flip, self.l2, self.seed = n_features, separable, flip, float(l2), seed
        self.dataset = dataset
        if dataset is None:
            A, labels = data.linear_classification(n_samples, n_features, separable=separable, flip=flip, seed=seed)
        else:  # a real data set's train split; class 0 against the others (breast-cancer: malignant)
            from optbench.objectives.datasets import CLASSIFICATION

            A, classes = self._set_dataset(dataset, "logistic-regression", CLASSIFICATION)
            labels = (classes == 0).astype(np.int64)
            self._test = (self._test[0], np.where(self._test[1] == 0, 1.0, -1.0))
        self.labels = labels
        self._set_data(A, 2.0 * labels - 1.0)

    def optimum_key(self) -> str:
        """The class, the solver's version, ``l2`` and a digest of the data: what fixes ``(x_opt, f_opt)``."""
        return f"optbench.LogisticRegression solve-1 l2={self.l2!r} data={data_digest(self.design, self.targets)}"

    def solve_optimum(self) -> tuple[np.ndarray | None, float]:
        """``(x_opt, f(x_opt))`` by :meth:`_solve`; separable data with ``l2 = 0``: ``(None, 0.0)``."""
        if self.l2 == 0 and linearly_separable(self.design, self.targets):
            return None, 0.0  # no minimiser: the infimum 0 is approached as ||w|| grows
        x_opt = np.asarray(self._solve(), dtype=float)
        return x_opt, float(self.value(x_opt[None])[0])

    def loss(self, Z, Y, need_grad):
        margin = Y * Z
        return np.logaddexp(0.0, -margin), (-Y * expit(-margin) if need_grad else None)

    def penalty(self, X):
        return self._l2(X, self.l2)

    hvp_exact = True

    def curvature(self, Z, Y):
        """``d^2/dz^2 log(1 + exp(-s z)) = sigmoid(s z) sigmoid(-s z)`` (s = +-1)."""
        margin = Y * Z
        return expit(margin) * expit(-margin)

    def penalty_hvp(self, V):
        return self._l2_hvp(V, self.l2)

    def _solve(self) -> np.ndarray:
        from scipy.optimize import minimize  # lazily, at construction
        D, s, n = self.design, self.targets, self.n_samples
        P = np.eye(self.dim)
        P[-1, -1] = 0.0

        def fun(x):
            F, G = self.value_and_grad(x[None])
            return F[0], G[0]

        def hess(x):
            p = expit(D @ x)
            return (D.T * (p * (1 - p))) @ D / n + self.l2 * P

        x = minimize(fun, np.zeros(self.dim), jac=True, hess=hess, method="trust-exact",
                     options={"gtol": 1e-12, "maxiter": 1000}).x
        for _ in range(10):  # a few exact Newton steps polish scipy's answer (quadratic convergence)
            gradient = fun(x)[1]
            gradient_norm = np.linalg.norm(gradient)
            if gradient_norm < 1e-12:
                break
            x = x - np.linalg.solve(hess(x), gradient)
        if gradient_norm < 1e-10:
            return x
        raise RuntimeError(f"logistic-regression: the reference solve reached only ||grad|| = {gradient_norm:.2e}")

    def metrics(self, X):
        return {"accuracy": np.mean((X @ self.design.T > 0) == (self.targets > 0), axis=1), **self.test_metrics(X)}
