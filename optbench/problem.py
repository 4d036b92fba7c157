"""The Problem base class and a finite-difference gradient check.

A problem works on a batch of iterates ``X`` of shape ``(n_runs, dim)``:
``value(X) -> (n_runs,)`` and ``grad(X) -> (n_runs, dim)``. Finite sums
(``n_samples`` set) also take ``batch``, an integer index array of shape
``(n_runs, batch_size)``: row ``i`` lists the samples that run ``i`` sees, and
the value is the mean over those samples.
"""

from __future__ import annotations

import functools

from typing import Any, ClassVar

import numpy as np

__all__ = ["Problem", "finite_difference_grad", "gradient_error", "check_batch", "width_checked"]

TAGS = frozenset({"convex", "smooth", "nonsmooth", "multimodal", "neural", "finite-sum", "noisy", "unimodal"})


class Problem:
    """Base class of objective problems.

    Subclasses set ``dim`` and implement ``value(X, batch=None)`` and
    ``grad(X, batch=None)`` (a subgradient where f is not differentiable).
    Optional: ``value_and_grad`` (one pass for both), ``hvp(X, V)`` (Hessian-vector
    products; central differences of the gradient unless overridden), ``initial_point(rng, n_runs)``,
    ``f_opt``, ``x_opt`` (``(dim,)``, or ``(k, dim)`` when there are k global
    minimisers), ``domain`` (``(dim, 2)`` lower and upper bounds), ``tags``,
    ``n_samples`` for finite sums, ``noise_std`` for an additive Gaussian noise on
    the gradient (drawn by the run loop from each run's own random stream), and
    ``metrics(X)`` for extra trace columns (accuracy, ...).
    """

    name: ClassVar[str] = ""
    tags: ClassVar[frozenset[str]] = frozenset()

    dim: int
    f_opt: float | None = None
    x_opt: np.ndarray | None = None
    domain: np.ndarray | None = None
    n_samples: int | None = None
    noise_std: float = 0.0
    hvp_exact: ClassVar[bool] = False
    # True when f and grad of a row depend on that row alone, bit for bit, whatever the number of rows
    # (elementwise arithmetic and per-row reductions, no BLAS product across rows): a stack of cells
    # then evaluates all its rows in one call; otherwise it calls the problem once per batch group.
    rowwise_exact: ClassVar[bool] = False
    # True when value_and_grad also takes one point x of shape (dim,) and returns (f as a scalar, g of
    # shape (dim,)) with the same bits as row 0 of the (1, dim) call: a one-run loop then calls it with x
    # and skips the cost of broadcasting tiny 2-D arrays (tests/test_loop_flat.py checks each problem that says so).
    flat_exact: ClassVar[bool] = False

    def value(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """f at each row of X: ``(n_runs, dim) -> (n_runs,)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement value(X, batch=None)")

    def grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """The (sub)gradient at each row of X: ``(n_runs, dim) -> (n_runs, dim)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement grad(X, batch=None)")

    def value_and_grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(value(X), grad(X))``; override when one pass can give both."""
        return self.value(X, batch), self.grad(X, batch)

    def hvp(self, X: np.ndarray, V: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """Hessian-vector products, row by row: ``H(x_i) v_i``, ``(n_runs, dim) -> (n_runs, dim)``.

        The base class takes central differences of the gradient,
        ``(g(x + h v) - g(x - h v)) / (2 h)`` with ``h = eps^(1/3) max(1, ||x||) / ||v||``
        per row (0 where ``v = 0``); it costs two gradient evaluations, which is what an
        engine charges for it (``hvp_exact`` is False). A subclass with an analytic
        product overrides this and sets ``hvp_exact = True``.
        """
        X, V = np.asarray(X, dtype=float), np.asarray(V, dtype=float)
        v_norm = np.linalg.norm(V, axis=1)
        scale = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.linalg.norm(X, axis=1))
        h = np.divide(scale, v_norm, out=np.zeros_like(v_norm), where=v_norm > 0)[:, None]
        forward, backward = self.grad(X + h * V, batch), self.grad(X - h * V, batch)
        return np.divide(forward - backward, 2.0 * h, out=np.zeros_like(X), where=h > 0)

    def initial_point(self, rng: np.random.Generator, n_runs: int) -> np.ndarray:
        """Starting points ``(n_runs, dim)``: uniform in ``domain`` if there is one, else standard normal."""
        if self.domain is not None:
            domain = np.asarray(self.domain, dtype=float)
            low, high = domain[:, 0], domain[:, 1]
            return low + (high - low) * rng.random((n_runs, self.dim))
        return rng.standard_normal((n_runs, self.dim))

    def metrics(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Extra per-run quantities recorded in the trace (called at recorded iterations only)."""
        return {}

    @property
    def is_finite_sum(self) -> bool:
        return self.n_samples is not None

    def __repr__(self) -> str:
        from optbench.registry import spec_of

        name, params = spec_of(self)
        inside = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"<problem {name}({inside})>"


def check_batch(problem: Problem, X: np.ndarray, batch: Any) -> None:
    """Raise a clear ValueError unless X and batch fit the problem's shape contract."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != problem.dim:
        shape = getattr(X, "shape", type(X).__name__)
        raise ValueError(f"problem {problem.name!r} takes X of shape (n_runs, {problem.dim}), got {shape}")
    if batch is None:
        return
    if problem.n_samples is None:
        raise ValueError(f"problem {problem.name!r} is not a finite sum; batch must be None")
    batch = np.asarray(batch)
    if batch.ndim != 2 or batch.shape[0] != X.shape[0] or not np.issubdtype(batch.dtype, np.integer):
        raise ValueError(
            f"batch must be an integer array of shape (n_runs, batch_size) = ({X.shape[0]}, B), got "
            f"{batch.dtype} {batch.shape}"
        )


def width_checked(function: Any) -> Any:
    """Wrap ``value``/``grad``/``hvp(self, X, ...)`` so that an X whose last axis is not ``self.dim`` is the
    :func:`check_batch` ValueError (one tuple compare per call when X fits)."""
    @functools.wraps(function)
    def checked(self: Problem, X: Any, *args: Any, **kwargs: Any) -> Any:
        shape = getattr(X, "shape", ())
        if not shape or shape[-1] != self.dim:
            check_batch(self, X, None)
        return function(self, X, *args, **kwargs)

    return checked


def finite_difference_grad(problem: Problem, X: np.ndarray, step: float = 1e-6, batch: np.ndarray | None = None) -> np.ndarray:
    """Central differences ``(f(x + h e_j) - f(x - h e_j)) / 2h``, one coordinate at a time, all runs at once.

    ``h`` is ``step * max(1, |x_j|)`` so that large coordinates are not swamped by rounding.
    """
    X = np.asarray(X, dtype=float)
    grad = np.empty_like(X)
    for j in range(X.shape[1]):
        h = step * np.maximum(1.0, np.abs(X[:, j]))
        forward, backward = X.copy(), X.copy()
        forward[:, j] += h
        backward[:, j] -= h
        grad[:, j] = (problem.value(forward, batch) - problem.value(backward, batch)) / (forward[:, j] - backward[:, j])
    return grad


def gradient_error(problem: Problem, X: np.ndarray, step: float = 1e-6, batch: np.ndarray | None = None) -> np.ndarray:
    """Relative error ``|g - g_fd| / max(1, |g_fd|)`` per run between ``grad`` and central differences."""
    analytic = problem.grad(np.asarray(X, dtype=float), batch)
    numeric = finite_difference_grad(problem, X, step, batch)
    scale = np.maximum(1.0, np.linalg.norm(numeric, axis=1))
    return np.linalg.norm(analytic - numeric, axis=1) / scale
