"""The path of methods that own their loop (scipy's): each run in turn, through a counting oracle.

``method.minimize(oracle, x0, max_iter=..., tol=...) -> (status, x)`` or
``(status, x, message)`` drives the search (the message goes to the runs
table's ``message``); ``Oracle`` counts every f and gradient call of its run and records a
trace row at each ``oracle.iteration(x)``. Every iteration is recorded, so the
first hits of the targets are read off the trace exactly.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from optbench.schema import STATUSES
from optbench.engine.trace import Recorder
from optbench.errors import PluginError
from optbench.problem import Problem
from optbench.registry import spec_of

__all__ = ["Oracle", "run_own_loop"]


class Oracle:
    """A counting f / gradient oracle for one run of a method that owns its loop.

    ``value(x)``, ``grad(x)`` and ``value_and_grad(x)`` take and return 1-D arrays.
    Call ``iteration(x)`` once per iteration of the method: it records the trace.
    ``exhausted`` says whether the evaluation budget is spent; ``budget_left``
    how many evaluations remain (None: unlimited).
    """

    def __init__(self, problem: Problem, recorder: Recorder, run: int, max_evals: int | None, noise_rng=None):
        self.problem = problem
        self.recorder = recorder
        self.run = run
        self.max_evals = max_evals
        self.f_evals = 0
        self.g_evals = 0
        self.iterations = 0
        self.start = time.perf_counter()
        self.best_f = math.inf
        self.best_x = None
        self.last_f = math.nan
        self.last_g = None
        self._noise_rng = noise_rng
        self._overhead_start = recorder.overhead

    def elapsed(self) -> float:
        """Seconds since this run started, less the time spent recording its trace."""
        return time.perf_counter() - self.start - (self.recorder.overhead - self._overhead_start)

    @property
    def evals(self) -> int:
        return self.f_evals + self.g_evals

    @property
    def budget_left(self) -> int | None:
        return None if self.max_evals is None else max(0, self.max_evals - self.evals)

    @property
    def exhausted(self) -> bool:
        return self.max_evals is not None and self.evals >= self.max_evals

    def _track(self, x, f):
        if f < self.best_f:
            self.best_f, self.best_x = float(f), np.array(x, dtype=float)
        self.last_f = float(f)

    def _noisy(self, g: np.ndarray) -> np.ndarray:
        if self._noise_rng is None or not self.problem.noise_std:
            return g
        return g + self.problem.noise_std * self._noise_rng.standard_normal(g.shape)

    def value(self, x: np.ndarray) -> float:
        self.f_evals += 1
        f = float(self.problem.value(np.asarray(x, dtype=float).reshape(1, -1))[0])
        self._track(x, f)
        return f

    def grad(self, x: np.ndarray) -> np.ndarray:
        self.g_evals += 1
        self.last_g = self._noisy(self.problem.grad(np.asarray(x, dtype=float).reshape(1, -1))[0])
        return self.last_g

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.g_evals += 1
        F, G = self.problem.value_and_grad(np.asarray(x, dtype=float).reshape(1, -1))
        f = float(F[0])
        self._track(x, f)
        self.last_g = self._noisy(G[0])
        return f, self.last_g

    def iteration(self, x: np.ndarray) -> None:
        """Record the iterate reached after one more iteration (not charged)."""
        self.iterations += 1
        self.record(x)

    def record(self, x: np.ndarray) -> None:
        self.recorder.record_single(self.run, self.iterations, np.asarray(x, dtype=float), self.f_evals, self.g_evals,
                                    self.elapsed())


def _one_run(problem, method, oracle: Oracle, x0: np.ndarray, max_iter, tol, timeout) -> tuple[str, np.ndarray, float, str]:
    oracle.record(x0)
    status, x, *said = method.minimize(oracle, x0.copy(), max_iter=max_iter, tol=tol)
    message = str(said[0]) if said else ""
    if timeout is not None and oracle.elapsed() > timeout:
        status = "timeout"
    x = np.asarray(x, dtype=float)
    if x.shape != x0.shape:
        raise PluginError(f"method {spec_of(method)[0]!r}: minimize() returned x of shape {x.shape}, expected {x0.shape}")
    f_final = float(problem.value(x.reshape(1, -1))[0])
    if not np.isfinite(f_final) or not np.all(np.isfinite(x)):
        status = "diverged"
    if status not in STATUSES:
        raise PluginError(f"method {spec_of(method)[0]!r} returned status {status!r}; valid: {', '.join(STATUSES)}")
    if oracle.recorder.last_f() != f_final and np.isfinite(f_final):
        oracle.iteration(x)  # the method ended away from its last recorded iterate: record where it ended
    return status, x, f_final, message


def run_own_loop(problem: Problem, method: Any, X0: np.ndarray, recorder: Recorder, max_iter: int | None,
                 max_evals: int | None, tol: dict[str, float], timeout: float | None,
                 noise_rngs: list | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Each run in turn through ``method.minimize``; the final X and per-run outcome arrays."""
    n_runs = X0.shape[0]
    X = np.empty_like(X0)
    out = {
        "status": np.array(["budget"] * n_runs, dtype=object), "iterations": np.zeros(n_runs, dtype=np.int64),
        "time": np.zeros(n_runs), "f": np.full(n_runs, np.nan), "f_evals": np.zeros(n_runs, dtype=np.int64),
        "g_evals": np.zeros(n_runs, dtype=np.int64), "epochs": np.full(n_runs, np.nan),
        "message": np.full(n_runs, "", dtype=object),
    }
    for i in range(n_runs):
        oracle = Oracle(problem, recorder, i, max_evals, None if noise_rngs is None else noise_rngs[i])
        if noise_rngs is not None and getattr(problem, "uses_noise_streams", False):
            problem.bind_noise([noise_rngs[i]], np.ones(1, dtype=bool))  # run i alone: its own stream
        out["status"][i], X[i], out["f"][i], out["message"][i] = _one_run(problem, method, oracle, X0[i], max_iter, tol, timeout)
        out["iterations"][i], out["time"][i] = oracle.iterations, oracle.elapsed()
        out["f_evals"][i], out["g_evals"][i] = oracle.f_evals, oracle.g_evals
        if problem.n_samples is not None:
            out["epochs"][i] = float(oracle.f_evals + oracle.g_evals)
    return X, out
