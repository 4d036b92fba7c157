"""What is recorded, and when: trace rows at chosen iterations.

``Recorder`` keeps one light block per recorded iteration and expands the blocks
into columns once, at the end, so that recording every iteration stays cheap.
Evaluations made for the record (the full objective of a minibatch run, metrics)
are not charged, and the time they take is kept in ``overhead`` and subtracted
from the clock.

First hits of targets are ``engine/hits.py``'s (``hits_from_trace`` reads them off a trace).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from optbench.constraints import check_record
from optbench.problem import Problem

__all__ = ["Recorder", "record_schedule", "expand_blocks", "LOG_POINTS"]

# about ten log-spaced iterations per decade, up to 10^12
LOG_POINTS = frozenset(int(round(10 ** (j / 10))) for j in range(0, 121)) | {0}


def record_schedule(record: str | int) -> Callable[[int], bool]:
    """Whether iteration ``k`` is recorded: ``"log"``, ``"all"``, ``"last"`` (first and last) or every ``k``."""
    if record == "all":
        return lambda k: True
    if record == "log":
        return LOG_POINTS.__contains__
    if record == "last":
        return lambda k: k == 0
    every = int(check_record(record))  # the one record rule; "log", "all" and "last" are answered above
    return lambda k: k % every == 0


_NUMBER = (int, float, np.integer, np.floating)


def expand_blocks(values: list, sizes: np.ndarray, dtype: type) -> np.ndarray:
    """One value per row: each block's value is a number shared by its ``sizes[i]`` rows or an array of them."""
    if all(isinstance(value, _NUMBER) for value in values):  # plain numbers: no array per block
        return np.repeat(np.array(values, dtype=dtype), sizes)
    return np.concatenate([v if isinstance(v, np.ndarray) and v.shape == (n,) else np.full(n, v, dtype=dtype)
                           for v, n in zip(values, sizes)]).astype(dtype, copy=False)


def run_major(values: list, n: int, dtype: type) -> np.ndarray:
    """Blocks that each hold all ``n`` runs, as one column ordered by run then block: each block's value is a
    number shared by its rows or an ``(n,)`` array."""
    if all(isinstance(value, _NUMBER) for value in values):
        return np.tile(np.array(values, dtype=dtype), n)
    block_major = expand_blocks(values, np.full(len(values), n), dtype)
    return block_major if n == 1 else block_major.reshape(len(values), n).T.ravel()


class Recorder:
    """Collects trace rows of a batch of ``n_runs``.

    ``record(k, runs, X, F, G, step, f_evals, g_evals, samples, elapsed)`` adds the
    rows of iteration ``k`` for ``runs`` (an index array, or None for every run);
    counters are per-run arrays already restricted to ``runs`` (``samples`` None
    when the problem is not a finite sum). ``full_objective``: re-evaluate f on all
    samples (minibatch runs), uncharged.
    """

    def __init__(self, problem: Problem, n_runs: int, record: str | int, full_objective: bool):
        self.problem = problem
        self.n_runs = n_runs
        self.full_objective = full_objective
        self.has_metrics = type(problem).metrics is not Problem.metrics
        self.blocks: list[tuple] = []
        self.overhead = 0.0
        self.wants = record_schedule(record)

    def record(self, k, runs, X, F, G, step, f_evals, g_evals, samples, elapsed) -> None:
        started = time.perf_counter()
        X_r = X if runs is None else X[runs]
        if np.ndim(elapsed) and runs is not None:  # a stack: one time per run
            elapsed = elapsed[runs]
        if self.full_objective:
            F_r, G_r = self.problem.value_and_grad(X_r)
        elif runs is None:
            F_r, G_r = F.copy(), G
        else:
            F_r, G_r = F[runs], G[runs]
        grad_norm = np.sqrt(np.vecdot(G_r, G_r))
        if step is not None:
            step = step.copy() if runs is None else step[runs]
        metrics = self.problem.metrics(X_r) if self.has_metrics else None
        self.blocks.append((k, runs, F_r, grad_norm, step, f_evals, g_evals, samples, elapsed - self.overhead, metrics))
        self.overhead += time.perf_counter() - started

    def record_single(self, run: int, iteration: int, x: np.ndarray, f_evals: int, g_evals: int, elapsed: float) -> None:
        """One row for run ``run`` of an own-loop method (every call touches all samples of a finite sum)."""
        started = time.perf_counter()
        X = x.reshape(1, -1)
        F, G = self.problem.value_and_grad(X)
        samples = None if self.problem.n_samples is None else (f_evals + g_evals) * self.problem.n_samples
        metrics = self.problem.metrics(X) if self.has_metrics else None
        self.blocks.append((iteration, np.array([run]), np.asarray(F, dtype=float).copy(), np.sqrt(np.vecdot(G, G)),
                            None, f_evals, g_evals, samples, elapsed, metrics))
        self.overhead += time.perf_counter() - started

    def last_f(self) -> float:
        """f of the last recorded row (own-loop methods compare it with their final point)."""
        return float(self.blocks[-1][2][0])

    def frame(self) -> dict[str, np.ndarray]:
        """The recorded rows as columns (``run`` is the row's index in the batch), sorted by run and iteration."""
        if not self.blocks:
            return {}
        blocks, n = self.blocks, self.n_runs
        iterations = np.array([b[0] for b in blocks], dtype=np.int64)
        full = all(b[1] is None or len(b[1]) == n for b in blocks)  # every run (in order) in every block: no sort
        if full:
            columns = {"run": np.repeat(np.arange(n), len(blocks)), "iteration": np.tile(iterations, n)}

            def expand(values, dtype):
                return run_major(values, n, dtype)
        else:
            sizes = np.array([n if b[1] is None else len(b[1]) for b in blocks])
            columns = {"run": np.concatenate([np.arange(n) if b[1] is None else b[1] for b in blocks]),
                       "iteration": np.repeat(iterations, sizes)}

            def expand(values, dtype):
                return expand_blocks(values, sizes, dtype)
        columns["f_evals"] = expand([b[5] for b in blocks], np.int64)
        columns["g_evals"] = expand([b[6] for b in blocks], np.int64)
        if self.problem.n_samples is None:
            columns["epochs"] = np.full(len(columns["run"]), np.nan)
        else:
            columns["epochs"] = expand([b[7] for b in blocks], np.int64) / self.problem.n_samples
        columns["time"] = expand([b[8] for b in blocks], float)
        columns["f"] = expand([b[2] for b in blocks], float)
        columns["grad_norm"] = expand([b[3] for b in blocks], float)
        columns["step_size"] = expand([np.nan if b[4] is None else b[4] for b in blocks], float)
        if self.has_metrics:
            for name in dict.fromkeys(name for b in blocks for name in (b[9] or {})):
                columns[name] = expand([(b[9] or {}).get(name, np.nan) for b in blocks], float)
        if full:
            return columns
        order = np.lexsort((columns["iteration"], columns["run"]))
        return {key: values[order] for key, values in columns.items()}
