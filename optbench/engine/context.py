"""What a step rule sees (``StepContext``) and the evaluator that charges every oracle call.

The evaluator is the only code that calls the problem during a descent loop. It
keeps per-run counters (``f_evals``, ``g_evals``, ``samples``) and charges each
call to the runs it serves: a call evaluates every row of the batch (so a run's
numbers never depend on the others) but is charged only to the runs in its
mask. With a per-run evaluation budget it refuses, per run, any trial that would
spend past it: those rows come back as ``+inf`` (no trial was made for them) and
the runs are listed in ``refused``, so the loop stops them where they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.problem import Problem

__all__ = ["StepContext", "Evaluator"]


class Evaluator:
    """Calls ``problem`` for a batch of ``n_runs`` and charges each call per run.

    Counters (``(n_runs,)`` int64): ``f_evals`` value-only calls, ``g_evals``
    value-and-gradient calls, ``samples`` data points touched (finite sums).
    ``max_evals``: each run's budget of ``f_evals + g_evals`` (None: unlimited).
    """

    def __init__(self, problem: Problem, n_runs: int, noise_rngs: list | None, max_evals: int | None):
        self.problem = problem
        self.n_runs = n_runs
        self.noise_rngs = noise_rngs
        self.max_evals = max_evals
        self.f_evals = np.zeros(n_runs, dtype=np.int64)
        self._g_evals = np.zeros(n_runs, dtype=np.int64)
        self._samples = np.zeros(n_runs, dtype=np.int64)
        self.refused = np.zeros(n_runs, dtype=bool)  # runs a line trial was refused to (budget)
        self.finite_sum = problem.n_samples is not None
        self.full_samples = problem.n_samples if self.finite_sum else 0  # samples of one full-batch call
        # one run of a full-batch problem: call with x of shape (dim,)
        self.flat = n_runs == 1 and getattr(problem, "flat_exact", False) and not self.finite_sum
        # The loop charges the same mask every iteration: those charges are counted as Python
        # ints and added to the arrays when a counter is read (numpy calls on tiny arrays are slow).
        self._mask_seen, self._mask_counts = None, None
        self._deferred_calls, self._deferred_samples = 0, 0
        # While every charge went to every run alike, the counters are the same number for all runs.
        self.uniform = True
        self.calls_total, self.samples_total = 0, 0
        self.chunks: list[slice] | None = None  # a stack of a problem that is not rowwise_exact: one call per part
        self.usual = noise_rngs is None  # no noise and no chunks: the loop's evaluation takes the short path

    def _flush(self) -> None:
        if self._deferred_calls:
            self._g_evals += self._deferred_calls * self._mask_counts
            self._samples += self._deferred_samples * self._mask_counts
            self._deferred_calls = self._deferred_samples = 0

    @property
    def g_evals(self) -> np.ndarray:
        """Value-and-gradient calls per run."""
        self._flush()
        return self._g_evals

    @property
    def samples(self) -> np.ndarray:
        """Data points touched per run (finite sums)."""
        self._flush()
        return self._samples

    def spent(self) -> np.ndarray:
        """Evaluations spent per run, ``f_evals + g_evals``."""
        return self.f_evals + self.g_evals

    def affordable(self, mask: np.ndarray) -> np.ndarray:
        """The runs of ``mask`` that can pay for one more evaluation."""
        if self.max_evals is None:
            return mask
        return mask & (self.spent() < self.max_evals)

    def _batch_samples(self, batch: np.ndarray | None) -> int:
        if not self.finite_sum:
            return 0
        return self.problem.n_samples if batch is None else batch.shape[1]

    def _charge_gradient(self, mask: np.ndarray, batch: np.ndarray | None) -> None:
        if mask is not self._mask_seen:
            self._flush()
            self._mask_seen, self._mask_counts = mask, mask.astype(np.int64)
            if self.uniform and not mask.all():
                self.uniform = False
        samples = self._batch_samples(batch)
        self._deferred_calls += 1
        self._deferred_samples += samples
        self.calls_total += 1
        self.samples_total += samples

    def _charge_value(self, mask: np.ndarray, batch: np.ndarray | None) -> None:
        self.uniform = False
        self.f_evals += mask
        if self.finite_sum:
            self._samples += mask * self._batch_samples(batch)

    def _noise(self, mask: np.ndarray, rows: slice | None = None) -> np.ndarray:
        """Gradient noise, drawn only for the runs in ``mask`` (of ``rows``, default all) from their own streams."""
        dim = self.problem.dim
        first = 0 if rows is None else rows.start
        picked = mask if rows is None else mask[rows]
        noise = np.zeros((len(picked), dim))
        for i in np.flatnonzero(picked):
            noise[i] = self.noise_rngs[first + i].standard_normal(dim)
        return self.problem.noise_std * noise

    def _call(self, function: Any, charged: np.ndarray, *args: Any) -> Any:
        """``function(*args)``, telling a noisy problem which rows are charged: only those draw
        from their own noise streams, so a run's noise does not depend on the other rows."""
        hook = getattr(self.problem, "noise_rows", None)
        if hook is None or self.noise_rngs is None:
            return function(*args)
        hook(charged)
        try:
            return function(*args)
        finally:
            hook(None)

    def _split(self, function: Any, charged: np.ndarray, rows: slice | None, batch: np.ndarray | None,
               *arrays: np.ndarray) -> Any:
        """``function(*arrays, batch)`` for every row (of ``rows``; ``arrays`` and ``batch`` hold those rows): one
        call, or one per part of a stack whose problem is not ``rowwise_exact`` (``chunks``), so that each part's
        rows reach the problem as they do when the part runs alone (BLAS blocks a product by its shape)."""
        start, stop = (0, self.n_runs) if rows is None else (rows.start, rows.stop)
        parts = [] if self.chunks is None else [c for c in self.chunks if start <= c.start and c.stop <= stop]
        if len(parts) <= 1:
            return self._call(function, charged[start:stop], *arrays, batch)
        pieces = []
        for c in parts:
            own = slice(c.start - start, c.stop - start)
            pieces.append(self._call(function, charged[c], *(a[own] for a in arrays), None if batch is None else batch[own]))
        if isinstance(pieces[0], tuple):
            return tuple(np.concatenate(column) for column in zip(*pieces))
        return np.concatenate(pieces)

    def gradient(self, X: np.ndarray, batch: np.ndarray | None, charged: np.ndarray,
                 rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``f`` and ``grad f`` at ``X`` (every row, or the runs ``rows`` of a stack), one gradient evaluation
        charged to ``charged`` (a mask over all runs)."""
        if charged is self._mask_seen and self.usual and rows is None:  # the loop's call: same mask, no noise, one part
            if self.flat and batch is None:  # one run through the problem's 1-D call (Problem.flat_exact)
                return self.flat_gradient(X)
            F, G = self.problem.value_and_grad(X, batch)
            self._deferred_calls += 1
            self.calls_total += 1
            if self.finite_sum:
                samples = self.full_samples if batch is None else self._batch_samples(batch)
                self._deferred_samples += samples
                self.samples_total += samples
            return F, G
        F, G = self._split(self.problem.value_and_grad, charged, rows, batch, X)
        self._charge_gradient(charged, batch)
        if self.noise_rngs is not None and self.problem.noise_std:
            G = G + self._noise(charged, rows)
        return F, G

    def flat_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``f`` and ``grad f`` of one run (``X`` of shape ``(1, dim)``) through the problem's 1-D call, charged to
        it (``flat``: no noise, full batch, the loop's usual mask)."""
        f, g = self.problem.value_and_grad(X[0])
        F = np.empty(1)
        F[0] = f
        self._deferred_calls += 1
        self.calls_total += 1
        return F, g[None]

    def charge_flat(self, calls: int) -> None:
        """Charge ``calls`` gradient evaluations the one run made through the problem's 1-D call (``flat``) without
        this evaluator (``engine/single.py``)."""
        self._deferred_calls += calls
        self.calls_total += calls

    def line(self, X: np.ndarray, batch: np.ndarray | None, mask: np.ndarray, need_grad: bool,
             rows: slice | None = None):
        """A line-search trial at ``X`` charged to ``mask`` (over all runs); rows refused for budget are ``+inf``.

        ``rows``: ``X`` holds only these runs (a stack's part); the result has their rows.
        """
        allowed = self.affordable(mask)
        refused = mask & ~allowed
        if refused.any():
            self.refused |= refused
        refused = refused if rows is None else refused[rows]
        if need_grad:
            F, G = self.gradient(X, batch, allowed, rows)
            if refused.any():
                F = np.where(refused, np.inf, F)
            return F, G
        F = self._split(self.problem.value, allowed, rows, batch, X)
        self._charge_value(allowed, batch)
        return np.where(refused, np.inf, F) if refused.any() else F

    def hvp(self, X: np.ndarray, V: np.ndarray, batch: np.ndarray | None, mask: np.ndarray,
            rows: slice | None = None) -> np.ndarray:
        """``H(x_i) v_i`` for every row (of ``rows``), charged to ``mask``: one gradient evaluation when the
        problem's product is analytic (``hvp_exact``), two when it is central differences of the
        gradient. Rows refused for budget are zero (the loop stops those runs)."""
        allowed = self.affordable(mask)
        refused = mask & ~allowed
        if refused.any():
            self.refused |= refused
        H = self._split(self.problem.hvp, allowed, rows, batch, X, V)
        refused = refused if rows is None else refused[rows]
        for _ in range(1 if self.problem.hvp_exact else 2):
            self._charge_gradient(allowed, batch)
        return np.where(refused[:, None], 0.0, H) if refused.any() else H

    def as_value(self, mask: np.ndarray) -> None:
        """Charge one gradient evaluation already charged to ``mask`` as a value-only one (same samples)."""
        self._flush()
        self.uniform = False
        self._g_evals -= mask
        self.f_evals += mask

    def refund_gradient(self, mask: np.ndarray) -> None:
        """Take back one full-batch gradient evaluation from ``mask`` (it was already paid for)."""
        self._flush()
        self.uniform = False
        self._g_evals -= mask
        if self.finite_sum:
            self._samples -= mask * self.problem.n_samples


class StepContext:
    """What a step rule sees at iteration ``k`` (fields may be added, never removed).

    ``k`` iteration (from 0); ``X``, ``F``, ``G``, ``D``: iterate ``(n_runs, dim)``,
    values ``(n_runs,)``, gradient and direction of every run (read-only arrays);
    ``f_opt``: the problem's optimal value or None; ``batch``: the minibatch in use
    (None for full batch); ``active``: mask of runs still running; ``n_runs``.
    ``line(alpha, need_grad=False, mask=None)`` evaluates ``f(X + alpha[:, None] * D)``
    (and the gradient when asked) for every row and charges one evaluation to the
    runs in ``mask`` (default: all active runs); a run with no evaluation left in
    its budget is not evaluated (its row is ``+inf``) and is stopped by the loop.
    ``evaluate(X, need_grad=True, mask=None)`` does the same at any points (for
    methods that take no step rule and evaluate more than once per iteration).
    ``hvp(V, X=None, mask=None)``: Hessian-vector products, charged as gradient evaluations.
    ``value_only(mask=None)``: charge this iteration's evaluation at ``X`` as a value only.
    ``reuse(mask)`` says the rule evaluated f and the gradient at the accepted point
    ``X + alpha * D`` for the runs in ``mask`` (with ``line(alpha, need_grad=True)``),
    so the next iteration does not charge them again (full batch only).
    ``stream_seeds``: ``(n_runs,)`` int64, each run's seed for the random numbers a method
    draws itself (stream ``"method"`` of the problem's key and the run's seed,
    ``optbench.seeding.stream_seeds``: the same alone, in any batch or stack, and for every
    method on the problem), set by the engine for methods that compute the next iterate
    (``update``); None otherwise.
    """

    __slots__ = ("k", "X", "_F", "_F_of", "f_one", "G", "D", "f_opt", "batch", "active", "n_runs", "reused",
                 "stream_seeds", "_evaluator")

    def __init__(self, f_opt: float | None, evaluator: Evaluator):
        self.f_opt = f_opt
        self.n_runs = evaluator.n_runs
        self._evaluator = evaluator
        self.k = 0
        self.X = self._F = self._F_of = self.f_one = self.G = self.D = None
        self.batch = None
        self.active = None
        self.reused = None
        self.stream_seeds = None

    @property
    def F(self) -> np.ndarray:
        """``(n_runs,)`` values at ``X``. One run's loop (``engine/single.py``) sets only ``f_one``, its value as a
        number (a new object each iteration): the array is built from it when first read."""
        if self._F_of is not self.f_one:
            self._F, self._F_of = np.array([self.f_one], dtype=float), self.f_one
        return self._F

    @F.setter
    def F(self, F: np.ndarray | None) -> None:
        self._F, self._F_of = F, self.f_one

    def reuse(self, mask: np.ndarray) -> None:
        """The rule evaluated f and grad at the accepted point for ``mask``: don't charge it twice."""
        self.reused = mask.copy() if self.reused is None else (self.reused | mask)

    def evaluate(self, X: np.ndarray, need_grad: bool = True, mask: np.ndarray | None = None):
        """``f(X)`` (and the gradient) at any points ``(n_runs, dim)``, on the same minibatch, charged to ``mask``.

        For methods that evaluate more than once per iteration (closures of
        ``torch.optim.LBFGS``); budget refusals behave as for ``line``.
        """
        charged = self.active if mask is None else (mask & self.active)
        return self._evaluator.line(np.asarray(X, dtype=float), self.batch, charged, need_grad)

    def hvp(self, V: np.ndarray, X: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        """Hessian-vector products ``H(x_i) v_i`` at ``X`` (default: the iterate), on the same
        minibatch, charged to ``mask`` (default: the active runs) as one gradient evaluation
        (analytic products) or two (central differences)."""
        charged = self.active if mask is None else (mask & self.active)
        X = self.X if X is None else np.asarray(X, dtype=float)
        return self._evaluator.hvp(X, np.asarray(V, dtype=float), self.batch, charged)

    def value_only(self, mask: np.ndarray | None = None) -> None:
        """This iteration's evaluation at ``X`` served only to record f (a method took its gradient
        elsewhere, as ScheduleFree's train point): charge it to ``mask`` (default: the active runs)
        as a value evaluation instead of a gradient one."""
        self._evaluator.as_value(self.active if mask is None else (mask & self.active))

    def line(self, alpha: Any, need_grad: bool = False, mask: np.ndarray | None = None):
        """``f(X + alpha * D)`` per run, and ``grad`` too when ``need_grad``; charged to ``mask``."""
        alpha = np.asarray(alpha, dtype=float)
        X_trial = self.X + alpha[:, None] * self.D
        charged = self.active if mask is None else (mask & self.active)
        return self._evaluator.line(X_trial, self.batch, charged, need_grad)
