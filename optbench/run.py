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
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from optbench.problem import Problem

if TYPE_CHECKING:  # pandas is imported when a table is first built, to keep `import optbench` light
    import pandas as pd
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
class RunResult:
    """What ``ob.run`` returns (in the spirit of ``scipy.optimize.OptimizeResult``).

    ``x``: final iterates ``(n_runs, dim)``; ``runs``: one row per run; ``trace``:
    one row per run per recorded iteration (tidy); ``cell``: the cell's description.
    The two tables are built from the loop's arrays on first access.
    """

    def __init__(self, x: np.ndarray, runs: pd.DataFrame | Callable[[], pd.DataFrame],
                 trace: pd.DataFrame | Callable[[], pd.DataFrame], cell: dict[str, Any]):
        self.x = x
        self.cell = cell
        self._runs = runs
        self._trace = trace

    @property
    def runs(self) -> pd.DataFrame:
        if callable(self._runs):
            self._runs = self._runs()
        return self._runs

    @property
    def trace(self) -> pd.DataFrame:
        if callable(self._trace):
            self._trace = self._trace()
        return self._trace

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
    ``reuse(mask)`` tells the loop that the rule already evaluated f and the
    gradient at the accepted point ``X + alpha * D`` for the runs in ``mask`` (with
    ``line(alpha, need_grad=True)``), so the next iteration does not charge them
    again for it (full batch only: a minibatch step's next gradient is on a new batch).
    """

    __slots__ = ("k", "X", "F", "G", "D", "f_opt", "batch", "active", "problem", "n_runs", "_loop", "reused")

    def __init__(self, problem: Problem, loop: "_Loop"):
        self.problem = problem
        self.f_opt = problem.f_opt
        self.n_runs = loop.n_runs
        self._loop = loop
        self.k = 0
        self.X = self.F = self.G = self.D = None
        self.batch = None
        self.active = None
        self.reused = None

    def reuse(self, mask: np.ndarray) -> None:
        """The rule evaluated f and grad at the accepted point for ``mask``: don't charge it twice."""
        self.reused = mask.copy() if self.reused is None else (self.reused | mask)

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
    """Collects trace rows; evaluations made for the record are not charged to the runs.

    Each recorded iteration appends one light block (the run indices, or None for
    all runs, f, the gradient norm, the step sizes, the counters as Python ints
    unless line searches made them differ per run, the time); ``frame`` expands
    them into columns once, at the end, so recording every iteration stays cheap.
    """

    def __init__(self, problem: Problem, n_runs: int, record: str | int, full_objective: bool):
        self.problem = problem
        self.n_runs = n_runs
        self.full_objective = full_objective  # re-evaluate f on all samples (minibatch runs)
        self.has_metrics = type(problem).metrics is not Problem.metrics
        self.blocks: list[tuple] = []
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

    def record(self, k, runs, X, F, G, step, f_evals, g_evals, samples, elapsed):
        """Rows at iteration ``k`` for ``runs`` (an index array, or None for every run).

        ``f_evals``, ``g_evals``, ``samples``: ints shared by the rows, or per-run arrays
        (already restricted to ``runs``); ``samples`` is None when the problem is not a finite sum.
        """
        started = time.perf_counter()
        X_r = X if runs is None else X[runs]
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

    def record_single(self, oracle: Oracle, x: np.ndarray) -> None:
        """One row for a run of an own-loop method (every call touches all samples of a finite sum)."""
        elapsed = oracle.elapsed()
        started = time.perf_counter()
        X = x.reshape(1, -1)
        F, G = self.problem.value_and_grad(X)
        samples = None if self.problem.n_samples is None else (oracle.f_evals + oracle.g_evals) * self.problem.n_samples
        metrics = self.problem.metrics(X) if self.has_metrics else None
        grad_norm = np.sqrt(np.vecdot(G, G))
        self.blocks.append((oracle.iterations, np.array([oracle.run]), np.asarray(F, dtype=float).copy(), grad_norm,
                            None, oracle.f_evals, oracle.g_evals, samples, elapsed, metrics))
        self.overhead += time.perf_counter() - started

    def frame(self) -> dict[str, np.ndarray]:
        """The recorded rows as columns, sorted by run and iteration."""
        if not self.blocks:
            return {}
        every_run = np.arange(self.n_runs)
        sizes = np.array([self.n_runs if b[1] is None else len(b[1]) for b in self.blocks])
        columns = {
            "run": np.concatenate([every_run if b[1] is None else b[1] for b in self.blocks]),
            "iteration": np.repeat(np.array([b[0] for b in self.blocks], dtype=np.int64), sizes),
        }

        def expand(position, dtype):
            values = [b[position] for b in self.blocks]
            if all(isinstance(v, (int, np.integer)) for v in values):
                return np.repeat(np.array(values, dtype=dtype), sizes)
            return np.concatenate([np.broadcast_to(np.asarray(v, dtype=dtype), (n,)) for v, n in zip(values, sizes)])

        columns["f_evals"] = expand(5, np.int64)
        columns["g_evals"] = expand(6, np.int64)
        if self.problem.n_samples is None:
            columns["epochs"] = np.full(len(columns["run"]), np.nan)
        else:
            columns["epochs"] = expand(7, np.int64) / self.problem.n_samples
        columns["time"] = np.repeat(np.array([b[8] for b in self.blocks]), sizes)
        columns["f"] = np.concatenate([np.asarray(b[2], dtype=float) for b in self.blocks])
        columns["grad_norm"] = np.concatenate([b[3] for b in self.blocks])
        columns["step_size"] = np.concatenate(
            [np.full(n, np.nan) if b[4] is None else np.asarray(b[4], dtype=float) for b, n in zip(self.blocks, sizes)]
        )
        if self.has_metrics:
            names = list(dict.fromkeys(name for b in self.blocks for name in (b[9] or {})))
            for name in names:
                columns[name] = np.concatenate(
                    [np.asarray((b[9] or {}).get(name, np.full(n, np.nan)), dtype=float) for b, n in zip(self.blocks, sizes)]
                )
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
    value_and_grad, direction, step = problem.value_and_grad, method.direction, step_rule.step
    active = np.ones(n_runs, dtype=bool)
    all_active = True
    status = np.array(["budget"] * n_runs, dtype=object)
    stop_iter = np.zeros(n_runs, dtype=np.int64)
    stop_time = np.zeros(n_runs)
    stop_calls = np.zeros(n_runs, dtype=np.int64)  # standard gradient calls when the run stopped
    stop_samples = np.zeros(n_runs, dtype=np.int64)  # samples those calls touched
    final_F = np.full(n_runs, np.nan)
    tol_grad, tol_f, tol_x, tol_gap = tol.get("grad"), tol.get("f"), tol.get("x"), tol.get("f_gap")
    f_opt = problem.f_opt
    wants = recorder.wants
    iteration_limit = math.inf if max_iter is None else max_iter
    finite_sum = problem.n_samples is not None
    calls = 0  # standard gradient calls made by every active run so far
    samples = 0  # samples those calls touched (finite sums)
    upper = lower = None
    F_previous = X_previous = None
    epochs_before_batch = sampler is not None and max_epochs is not None
    largest, smallest = np.maximum.reduce, np.minimum.reduce
    single_run = n_runs == 1
    alpha_seen = alpha_column = None
    start = time.perf_counter()

    def counters(runs):
        """f_evals, g_evals, samples for ``runs`` (None: all): ints unless line searches charged extras."""
        if not loop.charged:
            return 0, calls, samples if finite_sum else None
        pick = slice(None) if runs is None else runs
        extra_samples = loop.samples_extra[pick] + samples if finite_sum else None
        return loop.f_extra[pick].copy(), loop.g_extra[pick] + calls, extra_samples

    def freeze(stop, k, F, G):
        elapsed = time.perf_counter() - start
        runs = np.flatnonzero(stop)
        stop_iter[runs] = k
        stop_time[runs] = elapsed - recorder.overhead
        stop_calls[runs] = calls
        stop_samples[runs] = samples
        if F is not None:
            final_F[runs] = F[runs]
        recorder.record(k, runs, X, F, G, None, *counters(runs), elapsed)
        return active & ~stop

    k = 0
    while True:
        if epochs_before_batch:
            # Checked before drawing a batch: a minibatch step needs no evaluation at its final point
            # (the trace records the full objective there, uncharged).
            exhausted = active & ((samples + loop.samples_extra) / problem.n_samples >= max_epochs - 1e-12)
            if exhausted.any():
                active = freeze(exhausted, k, None, None)
                all_active = False
                if not active.any():
                    break
        batch = sampler.next() if sampler is not None else None
        F, G = value_and_grad(X, batch)
        calls += 1
        if finite_sum:
            samples += problem.n_samples if batch is None else batch.shape[1]
        if ctx.reused is not None:  # the line search already paid for this point
            refund = ctx.reused & active
            loop.g_extra -= refund
            if finite_sum:
                loop.samples_extra -= refund * problem.n_samples
            ctx.reused = None
        if noise_rngs is not None:
            G = G + loop.noise(active)
        if upper is None:
            limit = DIVERGENCE * (1.0 + np.abs(F))
            upper, lower = F + limit, F - limit
            upper_min = float(np.min(upper)) if np.isfinite(upper).all() else -math.inf
            lower_max = float(np.max(lower)) if np.isfinite(lower).all() else math.inf

        # -- which runs stop here. max(F) is NaN if any F is: one reduction screens for NaN,
        # +inf and growth; the full check (-inf, non-finite x) runs when it trips or every 16th step.
        stop = None
        if single_run:  # a Python comparison beats a numpy reduction on one element
            suspicious = not lower_max <= F.item() <= upper_min
        else:
            suspicious = not largest(F) <= upper_min or (k & 15 == 0 and not smallest(F) >= lower_max)
        if suspicious or (k & 15 == 0 and not np.isfinite(X).all()):
            diverged = active & ~((F <= upper) & (F >= lower) & np.isfinite(X).all(axis=1))
            if diverged.any():
                stop = diverged
                status[diverged] = "diverged"
        if tol:
            converged = np.zeros(n_runs, dtype=bool)
            if tol_grad is not None:
                converged |= np.sqrt(np.vecdot(G, G)) <= tol_grad
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
        if k >= iteration_limit:
            out_of_budget = active.copy()
        else:
            if max_evals is not None:
                if loop.charged:
                    exhausted = loop.f_extra + loop.g_extra + calls >= max_evals
                    if exhausted.any():
                        out_of_budget = exhausted
                elif calls >= max_evals:
                    out_of_budget = active.copy()
            if max_epochs is not None and sampler is None:
                exhausted = (samples + loop.samples_extra) / problem.n_samples >= max_epochs - 1e-12
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
            active = freeze(stop, k, F, G)
            all_active = False
            if not active.any():
                break

        # -- one step. A row counts what was spent to reach and evaluate x_k, so its counters
        # and time are read before the step rule searches for the next point.
        recording = wants(k)
        if recording:
            runs = None if all_active else np.flatnonzero(active)
            spent, elapsed = counters(runs), time.perf_counter() - start
        D, method_state = direction(X, G, method_state, k)
        ctx.k, ctx.X, ctx.F, ctx.G, ctx.D, ctx.batch, ctx.active = k, X, F, G, D, batch, active
        alpha, step_state = step(ctx, step_state)
        if recording:
            recorder.record(k, runs, X, F, G, alpha, *spent, elapsed)
        if tol_x is not None:
            X_previous = X
        if tol_f is not None:
            F_previous = F
        if alpha is not alpha_seen:  # constant rules return the same array every step
            alpha_seen, alpha_column = alpha, alpha[:, None]
        X_next = X + alpha_column * D
        X = X_next if all_active else np.where(active[:, None], X_next, X)
        k += 1

    if loop.charged:
        f_evals, g_evals = loop.f_extra.copy(), loop.g_extra + stop_calls
        samples_total = loop.samples_extra + stop_samples
    else:
        f_evals, g_evals, samples_total = np.zeros(n_runs, dtype=np.int64), stop_calls, stop_samples
    epochs = samples_total / problem.n_samples if finite_sum else np.full(n_runs, np.nan)
    step_counters = {
        f"step_{name}": np.asarray(step_state[name]).copy() for name in getattr(step_rule, "counters", ())
    }
    return X, {
        "status": status, "iterations": stop_iter, "time": stop_time, "f": final_F,
        "f_evals": f_evals, "g_evals": g_evals, "epochs": epochs, "step_counters": step_counters,
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
        if recorder.blocks[-1][2][0] != f_final and np.isfinite(f_final):
            oracle.iteration(x)  # the method ended away from its last recorded iterate: record where it ended
        X[i] = x
        out["status"][i] = status
        out["iterations"][i] = oracle.iterations
        out["time"][i] = oracle.elapsed()
        out["f"][i] = f_final
        out["f_evals"][i] = oracle.f_evals
        out["g_evals"][i] = oracle.g_evals
        if problem.n_samples is not None:
            out["epochs"][i] = float(oracle.f_evals + oracle.g_evals)
    return X, out


def _with_keys(columns: dict[str, Any], n_rows: int, cell: dict[str, Any], order: list[str]) -> pd.DataFrame:
    """One DataFrame: the cell's key columns (constant per cell) first, then ``columns`` in ``order``."""
    import pandas as pd

    frame: dict[str, Any] = {}
    for column in KEY_COLUMNS:
        value = cell.get(column)
        if column == "batch_size":
            frame[column] = pd.array([value] * n_rows, dtype="Int64")
        elif column == "dim":
            frame[column] = np.full(n_rows, value, dtype=np.int64)
        else:
            frame[column] = pd.array(np.full(n_rows, "" if value is None else str(value), dtype=object), dtype="str")
    frame.update((name, columns[name]) for name in order if name in columns)
    frame.update((name, values) for name, values in columns.items() if name not in frame)
    return pd.DataFrame(frame)


def _result(problem, cell, seeds, X, out, recorder) -> RunResult:
    n_runs = len(seeds)
    f_opt = np.nan if problem.f_opt is None else float(problem.f_opt)
    f_final = out["f"]
    if recorder.full_objective:  # minibatch runs: the final f is the full objective at the final iterate
        with np.errstate(all="ignore"):
            f_final = np.asarray(problem.value(X), dtype=float)
    def runs() -> pd.DataFrame:
        import pandas as pd

        columns = {
            "seed": np.asarray(seeds, dtype=np.int64),
            "status": pd.array(out["status"].astype(str).astype(object), dtype="str"),
            "f": f_final,
            "f_opt": np.full(n_runs, f_opt),
            "f_gap": f_final - f_opt,
            "iterations": out["iterations"],
            "f_evals": out["f_evals"],
            "g_evals": out["g_evals"],
            "epochs": out["epochs"],
            "time": out["time"],
            "message": pd.array(np.full(n_runs, "", dtype=object), dtype="str"),
            **out.get("step_counters", {}),  # a step rule's per-run fallbacks, failures, trials
        }
        return _with_keys(columns, n_runs, cell, RUN_COLUMNS)

    def trace() -> pd.DataFrame:
        columns = recorder.frame()
        run_index = columns.pop("run")
        columns["seed"] = np.asarray(seeds, dtype=np.int64)[run_index]
        columns["f_gap"] = columns["f"] - f_opt
        return _with_keys(columns, len(run_index), cell, TRACE_COLUMNS)

    return RunResult(x=X, runs=runs, trace=trace, cell=cell)
