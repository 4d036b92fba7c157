"""Non-differentiable convex problems, with the subgradient each returns at a kink.

- ``l1``: ``sum_i |x_i - s_i|``; at ``x_i = s_i`` the subgradient coordinate is 0 (``sign(0) = 0``).
- ``lasso``: ``MSE + l1 ||w||_1``; at ``w_j = 0`` the minimum-norm subgradient
  ``g_j - clip(g_j, -l1, l1)`` (``g`` the gradient of the MSE), which is 0 at the optimum.
- ``hinge-svm``: mean hinge loss ``max(0, 1 - s z)`` + ``(l2/2) ||w||^2``; at a margin of
  exactly 1 the sample contributes 0 (the right derivative).
- ``lad-regression``: mean ``|r_i|``; a zero residual contributes 0 (``sign(0) = 0``).
- ``max-affine``: ``max_k (g_k.x + h_k)``; at a tie, the ``g_k`` of the lowest tied ``k``.

The data problems are finite sums (see ``optbench.objectives.convex.LinearModel``).
``f_opt`` is exact for ``l1``, by ``scipy.optimize.linprog`` for ``lad-regression`` and
``max-affine``, and by a high-accuracy solve polished on the optimal active set (an
exact linear solve of the optimality conditions) for ``lasso`` and ``hinge-svm``.
"""

from __future__ import annotations

import numpy as np

from optbench.objectives import data
from optbench.objectives.convex import LinearModel, _check_noise_std, _regression_params
from optbench.problem import Problem
from optbench.registry import register_problem

__all__ = ["L1", "Lasso", "HingeSVM", "LADRegression", "MaxAffine"]


@register_problem("l1")
class L1(Problem):
    """Shifted absolute-value sum ``f(x) = sum_i |x_i - s_i|``, ``s ~ uniform(-1, 1)^d`` from ``seed``.

    Minimum 0 at ``x = s``; domain [-5, 5]^d. Subgradient ``sign(x - s)`` (0 at a kink).
    """

    tags = frozenset({"convex", "nonsmooth", "unimodal"})
    dims = None
    f_opt_known = True

    def __init__(self, dim: int = 10, seed: int = 0, noise_std: float = 0.0):
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim, self.seed = dim, seed
        self.noise_std = _check_noise_std(noise_std)
        self.shift = np.random.default_rng(seed).uniform(-1.0, 1.0, dim)
        self.x_opt = self.shift.copy()
        self.f_opt = 0.0
        self.domain = np.tile([-5.0, 5.0], (dim, 1))

    def value(self, X, batch=None):
        return np.sum(np.abs(X - self.shift), axis=1)

    def grad(self, X, batch=None):
        return np.sign(X - self.shift)


@register_problem("lasso")
class Lasso(LinearModel):
    """Lasso: ``f(w, c) = (1/n) sum_i (a_i.w + c - y_i)^2 + l1 ||w||_1`` (bias not penalised).

    Data ``data.sparse_regression(n_samples, n_features, n_informative, noise, seed)``.
    Subgradient: the MSE gradient plus ``l1 sign(w_j)``; at ``w_j = 0`` the minimum-norm
    choice ``g_j - clip(g_j, -l1, l1)``. ``f_opt`` by cyclic coordinate descent, then an
    exact linear solve on the optimal support with its signs (checked against the
    optimality conditions to 1e-10).
    """

    tags = frozenset({"convex", "nonsmooth", "unimodal", "finite-sum"})

    def __init__(
        self, n_samples: int = 100, n_features: int = 20, n_informative: int = 5, noise: float = 0.1,
        l1: float = 0.1, seed: int = 0,
    ):
        _regression_params(n_samples, n_features, noise)
        if not l1 >= 0:
            raise ValueError(f"l1 must be >= 0, got {l1}")
        self.n_features, self.n_informative, self.noise, self.l1, self.seed = n_features, n_informative, noise, float(l1), seed
        self._set_data(*data.sparse_regression(n_samples, n_features, n_informative, noise, seed))
        self._set_optimum(self._solve())

    def loss(self, Z, Y, need_grad):
        R = Z - Y
        return R * R, (2.0 * R if need_grad else None)

    def value(self, X, batch=None):
        return super().value(X, batch) + self.l1 * np.sum(np.abs(X[:, :-1]), axis=1)

    def value_and_grad(self, X, batch=None):
        F, G = self._data_value_and_grad(X, batch, True)
        W = X[:, :-1]
        smooth = G[:, :-1]
        G[:, :-1] = np.where(W != 0, smooth + self.l1 * np.sign(W), smooth - np.clip(smooth, -self.l1, self.l1))
        return F + self.l1 * np.sum(np.abs(W), axis=1), G

    def optimality_error(self, x: np.ndarray) -> float:
        """Norm of the minimum-norm subgradient at ``x`` (0 exactly at the minimiser)."""
        return float(np.linalg.norm(self.grad(np.asarray(x, dtype=float)[None])[0]))

    def _solve(self) -> np.ndarray:
        A, y, n, lam = self.features, self.targets, self.n_samples, self.l1
        p = A.shape[1]
        w, c = np.zeros(p), float(np.mean(y))
        squares = np.sum(A * A, axis=0) / n
        residual = y - c - A @ w
        for _ in range(100000):
            largest = 0.0
            for j in range(p):
                if squares[j] == 0:
                    continue
                old = w[j]
                rho = A[:, j] @ residual / n + squares[j] * old
                w[j] = np.sign(rho) * max(abs(rho) - lam / 2, 0.0) / squares[j]
                if w[j] != old:
                    residual -= A[:, j] * (w[j] - old)
                    largest = max(largest, abs(w[j] - old))
            shift = float(np.mean(residual))
            c += shift
            residual -= shift
            if largest < 1e-13:
                break
        x = np.append(w, c)
        # exact polish: on the support S with signs sigma, (2/n) D_S^T (D_S x_S - y) + lam (sigma, 0) = 0
        support = np.append(w != 0, True)
        D = self.design[:, support]
        rhs = 2.0 / n * D.T @ y - lam * np.append(np.sign(w[w != 0]), 0.0)
        polished = np.zeros(self.dim)
        polished[support] = np.linalg.lstsq(2.0 / n * D.T @ D, rhs, rcond=None)[0]
        same_signs = np.array_equal(np.sign(polished[:-1]), np.sign(w))
        if same_signs and self.optimality_error(polished) <= self.optimality_error(x):
            x = polished
        if self.optimality_error(x) > 1e-10:
            raise RuntimeError(f"lasso: the reference solve reached only a subgradient norm of {self.optimality_error(x):.2e}")
        return x


@register_problem("lad-regression")
class LADRegression(LinearModel):
    """Least absolute deviations: ``f(w, c) = (1/n) sum_i |a_i.w + c - y_i|`` on the house-price data set.

    Subgradient ``(1/n) sum_i sign(r_i) (a_i, 1)`` (0 for a zero residual). ``f_opt``
    exactly by ``scipy.optimize.linprog`` (HiGHS) on ``min (1/n) sum t_i`` subject to
    ``-t <= D x - y <= t``.
    """

    tags = frozenset({"convex", "nonsmooth", "finite-sum"})

    def __init__(self, n_samples: int = 100, n_features: int = 4, noise: float = 0.5, seed: int = 0):
        _regression_params(n_samples, n_features, noise)
        self.n_features, self.noise, self.seed = n_features, noise, seed
        self._set_data(*data.house_prices(n_samples, n_features, noise, seed))
        self.linprog_result = self._solve()
        self._set_optimum(self.linprog_result.x[: self.dim])

    def loss(self, Z, Y, need_grad):
        R = Z - Y
        return np.abs(R), (np.sign(R) if need_grad else None)

    def _solve(self):
        from scipy.optimize import linprog  # lazily, at construction
        D, y, n, dim = self.design, self.targets, self.n_samples, self.dim
        eye = np.eye(n)
        result = linprog(
            np.append(np.zeros(dim), np.full(n, 1.0 / n)),
            A_ub=np.block([[D, -eye], [-D, -eye]]), b_ub=np.append(y, -y),
            bounds=[(None, None)] * dim + [(0, None)] * n, method="highs",
        )
        if result.status != 0:
            raise RuntimeError(f"lad-regression: linprog failed: {result.message}")
        return result


@register_problem("hinge-svm")
class HingeSVM(LinearModel):
    """Linear SVM: ``f(w, c) = (1/n) sum_i max(0, 1 - s_i (a_i.w + c)) + (l2/2) ||w||^2``.

    Labels ``s_i = +-1`` from ``data.linear_classification`` (as ``logistic-regression``).
    Subgradient ``(1/n) sum_{s_i z_i < 1} -s_i (a_i, 1) + l2 (w, 0)``: a sample exactly on
    the margin contributes 0. ``f_opt``: scipy's ``trust-exact`` Newton solves of the hinge
    smoothed quadratically over a band of width mu (mu = 1, 0.1, ..., 1e-10, warm
    started), then an exact solve of the optimality conditions on the margin set
    ``s_i z_i = 1`` it identifies.
    ``metrics`` adds the training ``accuracy``.
    """

    tags = frozenset({"convex", "nonsmooth", "unimodal", "finite-sum"})

    def __init__(
        self, n_samples: int = 100, n_features: int = 5, separable: bool = False, flip: float = 0.1,
        l2: float = 0.01, seed: int = 0,
    ):
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0 (the problem has no minimiser without it), got {l2}")
        self.n_features, self.separable, self.flip, self.l2, self.seed = n_features, separable, flip, float(l2), seed
        A, labels = data.linear_classification(n_samples, n_features, separable=separable, flip=flip, seed=seed)
        self._set_data(A, 2.0 * labels - 1.0)
        self._set_optimum(self._solve())

    def loss(self, Z, Y, need_grad):
        slack = 1.0 - Y * Z
        return np.maximum(slack, 0.0), (np.where(slack > 0, -Y, 0.0) if need_grad else None)

    def penalty(self, X):
        return self._l2(X, self.l2)

    def metrics(self, X):
        return {"accuracy": np.mean((X @ self.design.T > 0) == (self.targets > 0), axis=1)}

    def _solve(self) -> np.ndarray:
        from scipy.optimize import minimize  # lazily, at construction
        A, s, n, lam = self.features, self.targets, self.n_samples, self.l2
        if np.all(s == s[0]):  # one class: w = 0 and c = s_0 gives f = 0
            return np.append(np.zeros(A.shape[1]), s[0])
        D, P = self.design, np.diag(np.append(np.ones(A.shape[1]), 0.0))
        x = np.zeros(self.dim)
        for mu in 10.0 ** -np.arange(0, 11):  # Huber-smoothed hinge, smoothing mu -> 0, warm started
            def fun(x, mu=mu):
                m = s * (D @ x)
                band = (m > 1 - mu) & (m < 1)
                loss = np.where(m >= 1, 0.0, np.where(band, (1 - m) ** 2 / (2 * mu), 1 - m - mu / 2))
                slope = np.where(m >= 1, 0.0, np.where(band, -(1 - m) / mu, -1.0))
                return loss.mean() + 0.5 * lam * x[:-1] @ x[:-1], (slope * s) @ D / n + lam * (P @ x)

            def hess(x, mu=mu):
                m = s * (D @ x)
                band = (m > 1 - mu) & (m < 1)
                return D[band].T @ D[band] / (n * mu) + lam * P

            x = minimize(fun, x, jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-12}).x
        return self._polish(x)

    def _polish(self, x):
        """Solve the optimality conditions exactly on the margin set of ``x``; keep the better point."""
        D, s, n, lam, p = self.design, self.targets, self.n_samples, self.l2, self.dim - 1
        margins = s * (D @ x)
        best = x
        for tol in (1e-6, 1e-8, 1e-4):
            on = np.abs(margins - 1.0) < tol
            inside = margins < 1.0 - tol
            m = int(on.sum())
            # unknowns (w, c, beta_on): lam w - (1/n) sum_in s a - (1/n) sum_on beta s a = 0,
            # -(1/n) sum_in s - (1/n) sum_on beta s = 0, s_i (a_i.w + c) = 1 on the margin
            M = np.zeros((p + 1 + m, p + 1 + m))
            rhs = np.zeros(p + 1 + m)
            M[:p, :p] = lam * np.eye(p)
            M[: p + 1, p + 1 :] = -(s[on, None] * D[on]).T / n
            rhs[: p + 1] = (s[inside, None] * D[inside]).sum(axis=0) / n
            M[p + 1 :, : p + 1] = s[on, None] * D[on]
            rhs[p + 1 :] = 1.0
            solution = np.linalg.lstsq(M, rhs, rcond=None)[0]
            candidate = solution[: p + 1]
            if self.value(candidate[None])[0] < self.value(best[None])[0]:
                best = candidate
        return best


@register_problem("max-affine")
class MaxAffine(Problem):
    """Max of affine functions: ``f(x) = max_k (g_k.x + h_k)``, ``k = 1..n_pieces``.

    ``g_k`` standard normal, centred so that their mean is 0 (then f is bounded below),
    ``h_k`` standard normal, from ``seed``; ``n_pieces > dim``. Subgradient: ``g_k`` of the
    active piece, the lowest ``k`` at a tie. ``f_opt`` and ``x_opt`` by ``linprog`` on
    ``min t`` subject to ``g_k.x + h_k <= t``.
    """

    tags = frozenset({"convex", "nonsmooth", "unimodal"})
    dims = None
    f_opt_known = "computed"

    def __init__(self, dim: int = 10, n_pieces: int = 30, seed: int = 0, noise_std: float = 0.0):
        from scipy.optimize import linprog  # lazily, at construction
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if n_pieces <= dim:
            raise ValueError(f"n_pieces must be > dim={dim} (or f is unbounded below), got {n_pieces}")
        self.dim, self.n_pieces, self.seed = dim, n_pieces, seed
        self.noise_std = _check_noise_std(noise_std)
        rng = np.random.default_rng(seed)
        slopes = rng.standard_normal((n_pieces, dim))
        self.slopes = slopes - slopes.mean(axis=0)
        self.offsets = rng.standard_normal(n_pieces)
        result = linprog(
            np.append(np.zeros(dim), 1.0), A_ub=np.hstack([self.slopes, -np.ones((n_pieces, 1))]), b_ub=-self.offsets,
            bounds=[(None, None)] * (dim + 1), method="highs",
        )
        if result.status != 0:
            raise RuntimeError(f"max-affine: linprog failed: {result.message}")
        self.linprog_result = result
        self.x_opt = result.x[:dim]
        self.f_opt = float(self.value(self.x_opt[None])[0])

    def value(self, X, batch=None):
        return np.max(X @ self.slopes.T + self.offsets, axis=1)

    def grad(self, X, batch=None):
        return self.slopes[np.argmax(X @ self.slopes.T + self.offsets, axis=1)]
