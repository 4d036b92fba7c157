"""One cell: every seed of one problem x method x step rule, run as one batch.

The iterate is one array ``X`` of shape ``(n_runs, dim)``. Each iteration::

    F, G   = f(X), grad f(X)              (one gradient evaluation per active run)
    stop runs that converged, diverged or spent their budget (frozen by a mask)
    D      = method.direction(X, G)
    alpha  = step_rule.step(ctx)          (line searches may evaluate f more, charged per run)
    X      = X + alpha * D                (active runs only)

This is the only module where problems, methods and step rules meet.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from optbench.problem import Problem
from optbench.registry import ParameterError, methods, problems, resolve, spec_of, step_rules
from optbench.seeding import canonical, key_hash, run_generators

__all__ = ["run", "RunResult", "StepContext", "Oracle", "cell_description", "STATUSES", "RUN_COLUMNS", "TRACE_COLUMNS"]

STATUSES = ("converged", "budget", "diverged", "error", "timeout")
KEY_COLUMNS = [
    "cell", "suite", "problem", "problem_params", "dim", "method", "method_params",
    "step_rule", "step_params", "batch_size",
]
RUN_COLUMNS = KEY_COLUMNS + [
    "seed", "status", "f", "f_opt", "f_gap", "iterations", "f_evals", "g_evals", "epochs", "time", "message",
]
TRACE_COLUMNS = KEY_COLUMNS + [
    "seed", "iteration", "f_evals", "g_evals", "epochs", "time", "f", "f_gap", "grad_norm", "step_size",
]

# A run is diverged when f leaves [f0 - limit, f0 + limit] with limit = DIVERGENCE * (1 + |f0|), or is not finite.
DIVERGENCE = 1e12
_LOG_POINTS = frozenset(int(round(10 ** (j / 10))) for j in range(0, 121)) | {0}


# ---------------------------------------------------------------- result
@dataclass
class RunResult:
    """What ``ob.run`` returns (in the spirit of ``scipy.optimize.OptimizeResult``).

    ``x``: final iterates ``(n_runs, dim)``; ``runs``: one row per run; ``trace``:
    one row per run per recorded iteration (tidy). ``cell`` describes the cell.
    """

    x: np.ndarray
    runs: pd.DataFrame
    trace: pd.DataFrame
    cell: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> list[str]:
        return self.runs["status"].tolist()

    @property
    def f(self) -> np.ndarray:
        return self.runs["f"].to_numpy()

    def __repr__(self) -> str:
        counts = self.runs["status"].value_counts().to_dict()
        return (
            f"<RunResult {self.cell.get('problem')} x {self.cell.get('method')} x {self.cell.get('step_rule')}: "
            f"{len(self.runs)} runs {counts}, median f {np.nanmedian(self.runs['f']):.6g}>"
        )


def cell_description(problem: Problem, method: Any, step_rule: Any, batch_size: int | None) -> dict[str, Any]:
    """The canonical description of a cell; its hash is the cell key."""
    problem_name, problem_params = spec_of(problem)
    method_name, method_params = spec_of(method)
    step_name, step_params = spec_of(step_rule) if step_rule is not None else ("none", {})
    description = {
        "problem": problem_name,
        "problem_params": canonical(problem_params),
        "dim": int(problem.dim),
        "method": method_name,
        "method_params": canonical(method_params),
        "step_rule": step_name,
        "step_params": canonical(step_params),
        "batch_size": batch_size,
    }
    description["cell"] = key_hash(canonical(description))
    return description


# ---------------------------------------------------------------- step context
class StepContext:
    """What a step rule sees at iteration ``k`` (fields may be added, never removed).

    ``X``, ``F``, ``G``, ``D``: iterate, values, gradient and direction of every run;
    ``f_opt``: the problem's optimal value or None; ``batch``: the minibatch in use
    (None for full batch); ``active``: mask of runs still running; ``problem``.
    ``line(alpha, need_grad=False, mask=None)`` evaluates ``f(X + alpha[:, None] * D)``
    (and the gradient when asked) for all runs and charges one evaluation to the
    runs in ``mask`` (default: all active runs). Evaluating every row keeps each
    run's numbers independent of the others; frozen runs are never charged.
    """

    __slots__ = ("k", "X", "F", "G", "D", "f_opt", "batch", "active", "problem", "n_runs", "_loop")

    def __init__(self, problem: Problem, loop: "_Loop"):
        self.problem = problem
        self.f_opt = problem.f_opt
        self.n_runs = loop.n_runs
        self._loop = loop
        self.k = 0
        self.X = self.F = self.G = self.D = None
        self.batch = None
        self.active = None

    def line(self, alpha: np.ndarray, need_grad: bool = False, mask: np.ndarray | None = None):
        """``f(X + alpha * D)`` per run, and ``grad`` too when ``need_grad``; charged to ``mask``."""
        alpha = np.asarray(alpha, dtype=float)
        X_trial = self.X + alpha[:, None] * self.D
        charged = self.active if mask is None else (mask & self.active)
        return self._loop.evaluate(X_trial, self.batch, charged, need_grad)


# ---------------------------------------------------------------- counting oracle for own-loop methods
class Oracle:
    """A counting f / gradient oracle for one run of a method that owns its loop (scipy's).

    ``value(x)``, ``grad(x)`` and ``value_and_grad(x)`` take and return 1-D arrays.
    Call ``iteration(x)`` once per iteration of the method: it records the trace.
    ``exhausted`` says whether the evaluation budget is spent; ``budget_left``
    how many evaluations remain (None: unlimited).
    """

    def __init__(self, problem: Problem, recorder: "_Recorder", run: int, max_evals: int | None, noise_rng=None):
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

    def value(self, x: np.ndarray) -> float:
        self.f_evals += 1
        f = float(self.problem.value(np.asarray(x, dtype=float).reshape(1, -1))[0])
        self._track(x, f)
        return f

    def grad(self, x: np.ndarray) -> np.ndarray:
        self.g_evals += 1
        g = self.problem.grad(np.asarray(x, dtype=float).reshape(1, -1))[0]
        if self._noise_rng is not None:
            g = g + self.problem.noise_std * self._noise_rng.standard_normal(g.shape)
        self.last_g = g
        return g

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.g_evals += 1
        F, G = self.problem.value_and_grad(np.asarray(x, dtype=float).reshape(1, -1))
        g = G[0]
        if self._noise_rng is not None:
            g = g + self.problem.noise_std * self._noise_rng.standard_normal(g.shape)
        f = float(F[0])
        self._track(x, f)
        self.last_g = g
        return f, g

    def iteration(self, x: np.ndarray) -> None:
        """Record the iterate reached after one more iteration (not charged)."""
        self.iterations += 1
        self.recorder.record_single(self, np.asarray(x, dtype=float))


# ---------------------------------------------------------------- trace recording
class _Recorder:
    """Collects trace rows as column blocks; evaluations for the record are not charged."""

    def __init__(self, problem: Problem, n_runs: int, record: str | int, full_objective: bool):
        self.problem = problem
        self.n_runs = n_runs
        self.full_objective = full_objective  # re-evaluate f on all samples (minibatch runs)
        self.blocks: list[dict[str, np.ndarray]] = []
        self.overhead = 0.0  # seconds spent recording, subtracted from the clock
        if record == "all":
            self.wants: Callable[[int], bool] = lambda k: True
        elif record == "log":
            self.wants = _LOG_POINTS.__contains__
        elif record == "last":
            self.wants = lambda k: k == 0
        elif isinstance(record, int) and not isinstance(record, bool) and record >= 1:
            every = record
            self.wants = lambda k: k % every == 0
        else:
            raise ParameterError(
                f"record must be 'log', 'all', 'last' or a positive integer (every k iterations), got {record!r}"
            )

    def record(self, k, runs, X, F, G, step, f_evals, g_evals, epochs, elapsed):
        """Rows for the runs in ``runs`` (an index array) at iteration ``k``."""
        started = time.perf_counter()
        X_r = X[runs]
        if self.full_objective:
            F_r, G_r = self.problem.value_and_grad(X_r)
        else:
            F_r, G_r = F[runs], G[runs]
        block = {
            "run": runs,
            "iteration": np.full(len(runs), k, dtype=np.int64),
            "f_evals": f_evals[runs],
            "g_evals": g_evals[runs],
            "epochs": epochs[runs],
            "time": np.full(len(runs), elapsed - self.overhead),
            "f": np.asarray(F_r, dtype=float).copy(),
            "grad_norm": np.sqrt(np.einsum("ij,ij->i", G_r, G_r)),
            "step_size": np.asarray(step, dtype=float)[runs] if step is not None else np.full(len(runs), np.nan),
        }
        for metric, values in self.problem.metrics(X_r).items():
            block[metric] = np.asarray(values, dtype=float)
        self.blocks.append(block)
        self.overhead += time.perf_counter() - started

    def record_single(self, oracle: Oracle, x: np.ndarray) -> None:
        """One row for a run of an own-loop method."""
        started = time.perf_counter()
        X = x.reshape(1, -1)
        F, G = self.problem.value_and_grad(X)
        block = {
            "run": np.array([oracle.run]),
            "iteration": np.array([oracle.iterations], dtype=np.int64),
            "f_evals": np.array([oracle.f_evals], dtype=np.int64),
            "g_evals": np.array([oracle.g_evals], dtype=np.int64),
            "epochs": np.array([np.nan if self.problem.n_samples is None else float(oracle.g_evals)]),
            "time": np.array([oracle.elapsed()]),
            "f": np.asarray(F, dtype=float).copy(),
            "grad_norm": np.sqrt(np.einsum("ij,ij->i", G, G)),
            "step_size": np.array([np.nan]),
        }
        for metric, values in self.problem.metrics(X).items():
            block[metric] = np.asarray(values, dtype=float)
        self.blocks.append(block)
        self.overhead += time.perf_counter() - started

    def frame(self) -> dict[str, np.ndarray]:
        if not self.blocks:
            return {}
        keys = list(self.blocks[0])
        for block in self.blocks[1:]:
            keys += [key for key in block if key not in keys]
        n = [len(block["run"]) for block in self.blocks]
        columns = {}
        for key in keys:
            parts = [block[key] if key in block else np.full(size, np.nan) for block, size in zip(self.blocks, n)]
            columns[key] = np.concatenate(parts)
        order = np.lexsort((columns["iteration"], columns["run"]))
        return {key: values[order] for key, values in columns.items()}


# ---------------------------------------------------------------- minibatches
class _Sampler:
    """Minibatches without replacement within each epoch, each run its own permutation.

    All runs take the same number of samples per iteration; the last batch of an
    epoch is smaller when ``batch_size`` does not divide ``n_samples``.
    """

    def __init__(self, n_samples: int, batch_size: int, rngs: list[np.random.Generator]):
        self.n_samples, self.batch_size, self.rngs = n_samples, batch_size, rngs
        self.position = n_samples  # forces a new permutation at the first call
        self.order = None

    def next(self) -> np.ndarray:
        if self.position >= self.n_samples:
            self.order = np.stack([rng.permutation(self.n_samples) for rng in self.rngs])
            self.position = 0
        batch = self.order[:, self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch


# ---------------------------------------------------------------- the batched loop
class _Loop:
    """Evaluation and counting for the batched descent loop."""

    def __init__(self, problem: Problem, n_runs: int, noise_rngs):
        self.problem = problem
        self.n_runs = n_runs
        self.f_extra = np.zeros(n_runs, dtype=np.int64)  # value-only calls (line searches)
        self.g_extra = np.zeros(n_runs, dtype=np.int64)  # extra gradient calls (line searches)
        self.samples_extra = np.zeros(n_runs, dtype=np.int64)
        self.charged = False  # whether any extra evaluation was charged
        self.noise_rngs = noise_rngs

    def noise(self, mask: np.ndarray) -> np.ndarray:
        """Gradient noise, drawn only for the runs in ``mask`` from their own streams."""
        dim = self.problem.dim
        noise = np.zeros((self.n_runs, dim))
        for i in np.flatnonzero(mask):
            noise[i] = self.noise_rngs[i].standard_normal(dim)
        return self.problem.noise_std * noise

    def evaluate(self, X, batch, charged, need_grad):
        self.charged = True
        samples = self.problem.n_samples if batch is None else batch.shape[1]
        if samples is not None:
            self.samples_extra += charged * samples
        if need_grad:
            self.g_extra += charged
            F, G = self.problem.value_and_grad(X, batch)
            if self.noise_rngs is not None:
                G = G + self.noise(charged)
            return F, G
        self.f_extra += charged
        return self.problem.value(X, batch)


def _as_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ParameterError(f"seeds must be a positive count or a list of seeds, got {seeds}")
        return list(range(int(seeds)))
    try:
        seed_list = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise ParameterError(f"seeds must be a positive count or a list of non-negative integers, got {seeds!r}") from None
    if not seed_list or any(s < 0 for s in seed_list) or any(s != t for s, t in zip(seed_list, seeds)):
        raise ParameterError(f"seeds must be a positive count or a list of non-negative integers, got {seeds!r}")
    if len(set(seed_list)) != len(seed_list):
        raise ParameterError(f"seeds must not repeat, got {seed_list}")
    return seed_list


def _parse_tol(tol: Any) -> dict[str, float]:
    if tol is None:
        return {}
    if isinstance(tol, (int, float)) and not isinstance(tol, bool):
        tol = {"grad": tol}
    if not isinstance(tol, dict):
        raise ParameterError(f"tol must be a number (gradient-norm tolerance) or a dict, got {tol!r}")
    valid = ("grad", "f", "x", "f_gap")
    for key, value in tol.items():
        if key not in valid:
            from optbench.registry import did_you_mean

            raise ParameterError(f"unknown tolerance {key!r}.{did_you_mean(key, list(valid))} Valid tolerances: {', '.join(valid)}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise ParameterError(f"tolerance {key!r} must be a number >= 0, got {value!r}")
    return {key: float(value) for key, value in tol.items()}


def _check_positive(name: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ParameterError(f"{name} must be a positive number{' or None' if allow_none else ''}, got {value!r}")


def run(
    problem: Any,
    method: Any,
    step_rule: Any = None,
    *,
    seeds: int | list[int] = 1,
    x0: np.ndarray | None = None,
    max_iter: int | None = 1000,
    max_evals: int | None = None,
    max_epochs: float | None = None,
    batch_size: int | None = None,
    tol: float | dict[str, float] | None = None,
    record: str | int = "log",
    timeout: float | None = None,
    suite: str = "",
) -> RunResult:
    """Run every seed of one cell as one batch and return a :class:`RunResult`.

    ``problem``, ``method``, ``step_rule``: a registered name, an instance, or a
    ``{"name": ..., **params}`` dict. ``step_rule=None`` takes the method's default.
    ``seeds``: a count (seeds 0..n-1) or a list. ``x0``: ``(dim,)`` for every run or
    ``(n_runs, dim)``; by default each run draws its own from ``problem.initial_point``.
    Budget: ``max_iter`` iterations, ``max_evals`` evaluations (f plus gradient calls),
    ``max_epochs`` passes over the data (finite sums); a run stops at the first one
    reached (status ``budget``). ``batch_size``: minibatch size for finite-sum
    problems (None: full batch). ``tol``: a gradient-norm tolerance, or a dict with
    any of ``grad`` (||g|| <= tol), ``f`` (|f_k - f_k-1| <= tol (1 + |f_k|)),
    ``x`` (||x_k - x_k-1|| <= tol (1 + ||x_k||)), ``f_gap`` (f - f_opt <= tol);
    a run meeting one is ``converged``. ``record``: ``"log"`` (log-spaced
    iterations plus each run's last), ``"all"``, ``"last"``, or an integer k (every
    k iterations). ``timeout``: seconds for the whole cell (status ``timeout``).
    """
    problem = resolve(problems, problem)
    method = resolve(methods, method)
    if not isinstance(problem, Problem):
        raise ParameterError(f"problem must be a registered name, a dict or an optbench.Problem, got {problem!r}")
    if getattr(method, "owns_loop", False):
        if step_rule is not None:
            raise ParameterError(
                f"method {spec_of(method)[0]!r} runs its own loop (scipy) and takes no step rule; got step_rule={step_rule!r}"
            )
    else:
        step_rule = resolve(step_rules, step_rule if step_rule is not None else method.default_step_rule)
    seed_list = _as_seeds(seeds)
    tolerances = _parse_tol(tol)
    if max_iter is not None and (not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 0):
        raise ParameterError(f"max_iter must be a non-negative integer or None, got {max_iter!r}")
    _check_positive("max_evals", max_evals)
    _check_positive("max_epochs", max_epochs)
    _check_positive("timeout", timeout)
    if max_iter is None and max_evals is None and max_epochs is None and not tolerances and timeout is None:
        raise ParameterError("give a budget: max_iter, max_evals, max_epochs, tol or timeout (all are None)")
    if "f_gap" in tolerances and problem.f_opt is None:
        raise ParameterError(f"tol 'f_gap' needs the problem's f_opt, and {spec_of(problem)[0]!r} has none")
    if batch_size is not None:
        if problem.n_samples is None:
            raise ParameterError(
                f"batch_size applies to finite-sum problems only, and {spec_of(problem)[0]!r} is not one (no n_samples)"
            )
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or not 1 <= batch_size <= problem.n_samples:
            raise ParameterError(f"batch_size must be an integer from 1 to n_samples={problem.n_samples}, got {batch_size!r}")
        batch_size = int(batch_size)
    if max_epochs is not None and problem.n_samples is None:
        raise ParameterError(f"max_epochs applies to finite-sum problems only, and {spec_of(problem)[0]!r} is not one")

    cell = cell_description(problem, method, step_rule, batch_size)
    cell["suite"] = suite
    problem_key = canonical([cell["problem"], cell["problem_params"]])
    n_runs = len(seed_list)
    if x0 is None:
        X0 = np.stack([problem.initial_point(rng, 1)[0] for rng in run_generators("x0", problem_key, seed_list)])
    else:
        X0 = np.array(x0, dtype=float)
        if X0.ndim == 1 and X0.shape == (problem.dim,):
            X0 = np.tile(X0, (n_runs, 1))
        elif X0.shape != (n_runs, problem.dim):
            raise ParameterError(
                f"x0 must have shape ({problem.dim},) or (n_runs, dim) = ({n_runs}, {problem.dim}), got {X0.shape}"
            )
    noise_rngs = None
    if getattr(problem, "noise_std", 0.0):
        noise_rngs = run_generators("noise", canonical([problem_key, batch_size]), seed_list)
    recorder = _Recorder(problem, n_runs, record, full_objective=batch_size is not None)

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if getattr(method, "owns_loop", False):
            X, out = _own_loop(problem, method, X0, recorder, max_iter, max_evals, tolerances, timeout, noise_rngs)
        else:
            sampler = None
            if batch_size is not None:
                sampler = _Sampler(problem.n_samples, batch_size, run_generators("batch", canonical([problem_key, batch_size]), seed_list))
            X, out = _batched_loop(
                problem, method, step_rule, X0, recorder, sampler, noise_rngs,
                max_iter, max_evals, max_epochs, tolerances, timeout,
            )
    return _result(problem, cell, seed_list, X, out, recorder)


def _batched_loop(problem, method, step_rule, X, recorder, sampler, noise_rngs,
                  max_iter, max_evals, max_epochs, tol, timeout):
    n_runs = X.shape[0]
    loop = _Loop(problem, n_runs, noise_rngs)
    ctx = StepContext(problem, loop)
    method_state = method.init(X)
    step_state = step_rule.init(n_runs)
    active = np.ones(n_runs, dtype=bool)
    all_active = True
    status = np.array(["budget"] * n_runs, dtype=object)
    stop_iter = np.zeros(n_runs, dtype=np.int64)
    stop_time = np.zeros(n_runs)
    stop_calls = np.full(n_runs, -1, dtype=np.int64)  # standard gradient calls when the run stopped
    final_F = np.full(n_runs, np.nan)
    samples_per_call = None if problem.n_samples is None else (sampler.batch_size if sampler else problem.n_samples)
    tol_grad, tol_f, tol_x, tol_gap = tol.get("grad"), tol.get("f"), tol.get("x"), tol.get("f_gap")
    f_opt = problem.f_opt
    wants = recorder.wants
    calls = 0  # standard gradient calls made by every active run so far
    F0 = upper = lower = None
    F_previous = None
    X_previous = None
    start = time.perf_counter()

    def counters(calls_now):
        base = np.where(stop_calls >= 0, stop_calls, calls_now)
        g_evals = loop.g_extra + base
        if samples_per_call is None:
            epochs = np.full(n_runs, np.nan)
        else:
            epochs = (base * samples_per_call + loop.samples_extra) / problem.n_samples
        return loop.f_extra, g_evals, epochs

    k = 0
    while True:
        batch = sampler.next() if sampler is not None else None
        F, G = problem.value_and_grad(X, batch)
        calls += 1
        if noise_rngs is not None:
            G = G + loop.noise(active)
        if F0 is None:
            F0 = F.copy()
            limit = DIVERGENCE * (1.0 + np.abs(F0))
            upper, lower = F0 + limit, F0 - limit
            upper_min = float(np.nanmin(upper)) if np.isfinite(upper).any() else math.inf
            lower_max = float(np.nanmax(lower)) if np.isfinite(lower).any() else -math.inf

        # -- which runs stop here
        stop = None
        f_max, f_min = F.max(), F.min()
        if not (f_max <= upper_min and f_min >= lower_max):
            diverged = active & ~((F <= upper) & (F >= lower))
            if diverged.any():
                stop = diverged
                status[diverged] = "diverged"
        if tol:
            converged = np.zeros(n_runs, dtype=bool)
            if tol_grad is not None:
                converged |= np.sqrt(np.einsum("ij,ij->i", G, G)) <= tol_grad
            if tol_gap is not None:
                converged |= (F - f_opt) <= tol_gap
            if tol_f is not None and F_previous is not None:
                converged |= np.abs(F - F_previous) <= tol_f * (1.0 + np.abs(F))
            if tol_x is not None and X_previous is not None:
                converged |= np.linalg.norm(X - X_previous, axis=1) <= tol_x * (1.0 + np.linalg.norm(X, axis=1))
            converged &= active
            if stop is not None:
                converged &= ~stop
            if converged.any():
                status[converged] = "converged"
                stop = converged if stop is None else (stop | converged)
        out_of_budget = None
        if max_iter is not None and k >= max_iter:
            out_of_budget = active.copy()
        else:
            if max_evals is not None:
                if loop.charged:
                    spent = loop.f_extra + loop.g_extra + calls
                    exhausted = spent >= max_evals
                    if exhausted.any():
                        out_of_budget = exhausted
                elif calls >= max_evals:
                    out_of_budget = active.copy()
            if max_epochs is not None:
                epochs_now = (calls * samples_per_call + loop.samples_extra) / problem.n_samples
                exhausted = epochs_now >= max_epochs - 1e-12
                if exhausted.any():
                    out_of_budget = exhausted if out_of_budget is None else (out_of_budget | exhausted)
            if timeout is not None and time.perf_counter() - start > timeout:
                out_of_budget = active.copy()
                status[active] = "timeout"
        if out_of_budget is not None:
            out_of_budget &= active
            if stop is not None:
                out_of_budget &= ~stop
            stop = out_of_budget if stop is None else (stop | out_of_budget)

        if stop is not None and stop.any():
            elapsed = time.perf_counter() - start
            stop_iter[stop] = k
            stop_time[stop] = elapsed - recorder.overhead
            stop_calls[stop] = calls
            final_F[stop] = F[stop]
            f_evals, g_evals, epochs = counters(calls)
            recorder.record(k, np.flatnonzero(stop), X, F, G, None, f_evals, g_evals, epochs, elapsed)
            active = active & ~stop
            all_active = False
            if not active.any():
                break

        # -- one step
        D, method_state = method.direction(X, G, method_state, k)
        ctx.k, ctx.X, ctx.F, ctx.G, ctx.D, ctx.batch, ctx.active = k, X, F, G, D, batch, active
        alpha, step_state = step_rule.step(ctx, step_state)
        if wants(k):
            f_evals, g_evals, epochs = counters(calls)
            recorder.record(k, np.flatnonzero(active), X, F, G, alpha, f_evals, g_evals, epochs, time.perf_counter() - start)
        if tol_x is not None:
            X_previous = X
        if tol_f is not None:
            F_previous = F
        X_next = X + alpha[:, None] * D
        X = X_next if all_active else np.where(active[:, None], X_next, X)
        k += 1

    f_evals, g_evals, epochs = counters(calls)
    return X, {
        "status": status, "iterations": stop_iter, "time": stop_time, "f": final_F,
        "f_evals": f_evals.copy(), "g_evals": g_evals, "epochs": epochs,
    }


def _own_loop(problem, method, X0, recorder, max_iter, max_evals, tol, timeout, noise_rngs):
    """Each run in turn through ``method.minimize(oracle, x0, max_iter)`` (scipy's methods)."""
    n_runs = X0.shape[0]
    X = np.empty_like(X0)
    out = {
        "status": np.array(["budget"] * n_runs, dtype=object),
        "iterations": np.zeros(n_runs, dtype=np.int64),
        "time": np.zeros(n_runs),
        "f": np.full(n_runs, np.nan),
        "f_evals": np.zeros(n_runs, dtype=np.int64),
        "g_evals": np.zeros(n_runs, dtype=np.int64),
        "epochs": np.full(n_runs, np.nan),
    }
    for i in range(n_runs):
        oracle = Oracle(problem, recorder, i, max_evals, None if noise_rngs is None else noise_rngs[i])
        recorder.record_single(oracle, X0[i])
        status, x = method.minimize(oracle, X0[i].copy(), max_iter=max_iter, tol=tol)
        if timeout is not None and oracle.elapsed() > timeout:
            status = "timeout"
        x = np.asarray(x, dtype=float)
        f_final = float(problem.value(x.reshape(1, -1))[0])
        if not np.isfinite(f_final) or not np.all(np.isfinite(x)):
            status = "diverged"
        if status not in STATUSES:
            raise ValueError(f"method {spec_of(method)[0]!r} returned status {status!r}; valid: {', '.join(STATUSES)}")
        if recorder.blocks[-1]["f"][0] != f_final and np.isfinite(f_final):
            oracle.iteration(x)  # the method ended away from its last recorded iterate: record where it ended
        X[i] = x
        out["status"][i] = status
        out["iterations"][i] = oracle.iterations
        out["time"][i] = oracle.elapsed()
        out["f"][i] = f_final
        out["f_evals"][i] = oracle.f_evals
        out["g_evals"][i] = oracle.g_evals
        if problem.n_samples is not None:
            out["epochs"][i] = float(oracle.g_evals)
    return X, out


def _result(problem, cell, seeds, X, out, recorder) -> RunResult:
    n_runs = len(seeds)
    f_opt = problem.f_opt
    keys = {column: [cell.get(column)] * n_runs for column in KEY_COLUMNS}
    runs = pd.DataFrame(
        {
            **keys,
            "seed": np.asarray(seeds, dtype=np.int64),
            "status": out["status"].astype(str),
            "f": out["f"],
            "f_opt": np.full(n_runs, np.nan if f_opt is None else float(f_opt)),
            "f_gap": out["f"] - (np.nan if f_opt is None else f_opt),
            "iterations": out["iterations"],
            "f_evals": out["f_evals"],
            "g_evals": out["g_evals"],
            "epochs": out["epochs"],
            "time": out["time"],
            "message": [""] * n_runs,
        }
    )
    if recorder.full_objective:  # minibatch runs: the final f is the full objective at the final iterate
        with np.errstate(all="ignore"):
            runs["f"] = np.asarray(problem.value(X), dtype=float)
        runs["f_gap"] = runs["f"] - (np.nan if f_opt is None else f_opt)
    columns = recorder.frame()
    run_index = columns.pop("run")
    n_rows = len(run_index)
    trace = pd.DataFrame(
        {
            **{column: [cell.get(column)] * n_rows for column in KEY_COLUMNS},
            "seed": np.asarray(seeds, dtype=np.int64)[run_index],
            **columns,
        }
    )
    trace["f_gap"] = trace["f"] - (np.nan if f_opt is None else f_opt)
    ordered = [c for c in TRACE_COLUMNS if c in trace] + [c for c in trace if c not in TRACE_COLUMNS]
    return RunResult(x=X, runs=runs, trace=trace[ordered].reset_index(drop=True), cell=cell)
