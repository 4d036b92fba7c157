"""The descent loop, in small named stages, and the own-loop path of scipy-like methods.

Each iteration ``k`` of ``DescentLoop.run``::

    evaluate   F, G = f(X), grad f(X)        one gradient evaluation charged to each active run
    screen     runs whose f or x left the finite range are diverged
    converge   runs that meet a tolerance are converged
    budget     runs out of iterations, evaluations, epochs or time stop (budget / timeout)
    hits       the first iteration at which each run's best-so-far gap meets each target
    freeze     stopped runs keep their iterate; a trace row records where they stopped
    step       D = direction(X, G); alpha = step_rule(ctx); X = X + alpha * D (active runs)

A trace row counts what was spent to reach and evaluate ``x_k``; line-search
trials made from ``x_k`` appear in the next row. What plugins return is checked
here on every step (shapes, real floating-point arrays, finite non-negative
step sizes, no writes into ``X`` or ``G``, which are handed out read-only), and
a violation stops the cell with a ``PluginError`` that names the plugin.
"""

from __future__ import annotations

import dis
import functools
import math
import time
from typing import Any

import numpy as np

from optbench.engine.budget import Budget
from optbench.engine.context import Evaluator, StepContext
from optbench.engine.hits import BufferedClock, HitTracker
from optbench.engine.trace import Recorder
from optbench.errors import PluginError
from optbench.problem import Problem
from optbench.registry import spec_of

__all__ = ["Budget", "DescentLoop", "Sampler", "DIVERGENCE"]

# the local names a fused loop calls its plugins by (DescentLoop.failing_plugin)
PLUGIN_CALLS = {"value_and_grad": "problem", "gradient": "problem", "direction": "method", "step": "step rule"}


@functools.lru_cache(maxsize=None)
def plugin_lines(function: Any) -> dict[int, str]:
    """``{line: kind}``: the lines of ``function`` that call a plugin through a local name of ``PLUGIN_CALLS``
    (each such call on a line of its own), read from its bytecode once."""
    return {ins.positions.lineno: PLUGIN_CALLS[ins.argval] for ins in dis.get_instructions(function)
            if ins.opname == "LOAD_FAST" and ins.argval in PLUGIN_CALLS and ins.positions.lineno is not None}


# A run is diverged when f leaves [f0 - limit, f0 + limit] with limit = DIVERGENCE * (1 + |f0|), or is not finite.
DIVERGENCE = 1e12


class Sampler:
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


FLOAT = np.dtype(np.float64)
_MIN, _MAX, _DOT, _INF = np.minimum.reduce, np.maximum.reduce, np.dot, math.inf


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def guarded(k: int) -> bool:
    """Whether iteration ``k`` hands X and G to plugins read-only: every iteration (a flag, ~0.1 us each)."""
    return True


def check_real(array: Any, plugin: str, what: str) -> None:
    """``array`` must hold real floating-point numbers: complex, integer or object arrays are a PluginError."""
    kind = getattr(getattr(array, "dtype", None), "kind", None)
    if kind != "f":
        got = getattr(array, "dtype", type(array).__name__)
        raise PluginError(f"{plugin} returned {what} of dtype {got}; it must be a float64 array (real numbers)")


def check_start(problem: Problem, X0: Any, n_runs: int) -> np.ndarray:
    """The starting points, checked: real numbers of shape ``(n_runs, problem.dim)`` (``initial_point``'s contract)."""
    plugin = _plugin(problem, "problem")
    if not isinstance(X0, np.ndarray) or X0.shape != (n_runs, problem.dim):
        got = getattr(X0, "shape", type(X0).__name__)
        raise PluginError(f"{plugin}: initial_point must return X of shape (n_runs, dim) = ({n_runs}, {problem.dim}), "
                          f"got {got}")
    check_real(X0, plugin, "starting points")
    return X0


def _plugin(obj: Any, kind: str) -> str:
    """``"method 'adam'"``: how messages name a plugin."""
    return f"{kind} {spec_of(obj)[0]!r}"


def _raise_if_read_only(obj: Any, kind: str, exc: ValueError) -> None:
    """A write into a read-only input (X, G, ctx arrays) becomes a PluginError naming the plugin."""
    if "read-only" in str(exc):
        raise PluginError(f"{_plugin(obj, kind)} wrote into its input X or G in place ({exc}); "
                          f"copy it first (e.g. G = G + ...)") from exc


def _exit_error(obj: Any, kind: str, exc: SystemExit) -> PluginError:
    """Plugin code calling ``sys.exit`` ends its run with an error, never the process."""
    return PluginError(f"{_plugin(obj, kind)} raised SystemExit: {exc.code} (sys.exit); a plugin must not end the process")


def _call(obj: Any, kind: str, function: Any, *args: Any) -> Any:
    """``function(*args)``, read-only writes reported by :func:`_raise_if_read_only`, ``sys.exit`` a PluginError."""
    try:
        return function(*args)
    except ValueError as exc:
        _raise_if_read_only(obj, kind, exc)
        raise
    except SystemExit as exc:
        raise _exit_error(obj, kind, exc) from None


def _checked_pair(result: Any, plugin: str, call: str, name: str, shape: tuple, shape_text: str) -> tuple[np.ndarray, Any]:
    """``result`` must be ``(array, state)`` with the array of ``shape``; else a PluginError that says what came back."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise PluginError(f"{plugin}: {call} must return ({name}, state), got {type(result).__name__}")
    array = result[0]
    if not isinstance(array, np.ndarray) or array.shape != shape:
        got = getattr(array, "shape", type(array).__name__)
        raise PluginError(f"{plugin}: {call} must return {name} of shape {shape_text} = {shape}, got {got}")
    check_real(array, plugin, f"{name} from {call}")
    return result


class BatchClock:
    """A batch's clock as ``HitTracker.note`` buffers it: one reading, ``DescentLoop.clock()``, the same for every run."""

    width = 1

    def __init__(self, loop: "DescentLoop"):
        self.loop = loop

    def read(self, row: np.ndarray) -> None:
        loop = self.loop
        row[0] = time.perf_counter() - loop.start - loop.recorder.overhead

    def times(self, readings: np.ndarray, runs: np.ndarray) -> np.ndarray:
        return readings[:, 0].copy()


class DescentLoop:
    """One batch of ``n_runs`` descending together; ``run()`` returns the final X and per-run outcome arrays."""

    def __init__(self, problem: Problem, method: Any, step_rule: Any, X0: np.ndarray, budget: Budget,
                 recorder: Recorder, hits: HitTracker | None, sampler: Sampler | None, noise_rngs: list | None):
        self.problem, self.method, self.step_rule, self.budget = problem, method, step_rule, budget
        self.recorder, self.hits, self.sampler = recorder, hits, sampler
        self.n_runs = n = X0.shape[0]
        self.X = _readonly(np.array(X0, dtype=float))
        self.alpha_shape, self.X_shape = (n,), self.X.shape  # f and alpha: (n_runs,); X, G and D: (n_runs, dim)
        self.evaluator = Evaluator(problem, n, noise_rngs, budget.max_evals)
        self.ctx = StepContext(problem.f_opt, self.evaluator)
        self.active = np.ones(n, dtype=bool)
        self.all_active = True
        self.status = np.array(["budget"] * n, dtype=object)
        self.stopped_at = {"iterations": np.zeros(n, dtype=np.int64), "time": np.zeros(n), "f": np.full(n, np.nan),
                           "f_evals": np.zeros(n, dtype=np.int64), "g_evals": np.zeros(n, dtype=np.int64),
                           "samples": np.zeros(n, dtype=np.int64)}
        self.bounds = None  # divergence bounds, set from f(x_0)
        self.single = n == 1
        self.max_evals, self.max_iter, self.tol = budget.max_evals, budget.max_iter, budget.tol
        self.iterations_only = (budget.max_iter is not None and budget.max_evals is None and budget.max_epochs is None
                                and budget.timeout is None)
        self.quiet_band = (math.inf, -math.inf)  # no f is quiet before the bounds are set
        self.F_previous = self.X_previous = None
        self.alpha_seen = self.alpha_column = None
        self.buffered_clock: BufferedClock = BatchClock(self)
        self.start = time.perf_counter()

    # ------------------------------------------------------------ stages
    def evaluate(self, batch: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """f and grad at X for every row; charged to the active runs that can still pay."""
        charged = self.active if self.max_evals is None else self.evaluator.affordable(self.active)
        try:
            F, G = self.evaluator.gradient(self.X, batch, charged)
        except ValueError as exc:  # a problem writing into X
            _raise_if_read_only(self.problem, "problem", exc)
            raise
        except SystemExit as exc:
            raise _exit_error(self.problem, "problem", exc) from None
        if self.ctx.reused is not None:  # the line search already paid for this point
            self.evaluator.refund_gradient(self.ctx.reused & charged)
            self.ctx.reused = None
        if F.shape != self.alpha_shape or G.shape != self.X_shape or F.dtype is not FLOAT or G.dtype is not FLOAT:
            self.check_evaluation(F, G)
        G.setflags(write=False)
        return F, G

    def check_evaluation(self, F: Any, G: Any) -> None:
        """``F`` of shape ``(n_runs,)`` and ``G`` of the iterate's shape, real numbers; else a PluginError."""
        if getattr(F, "shape", None) != self.alpha_shape or getattr(G, "shape", None) != self.X_shape:
            raise PluginError(f"problem {spec_of(self.problem)[0]!r} returned f of shape {getattr(F, 'shape', None)} "
                              f"and a gradient of shape {getattr(G, 'shape', None)} for X of shape {self.X.shape}; "
                              f"expected ({self.n_runs},) and {self.X.shape}")
        plugin = _plugin(self.problem, "problem")
        check_real(F, plugin, "f")
        check_real(G, plugin, "a gradient")

    def screen(self, k: int, F: np.ndarray) -> np.ndarray | None:
        """Diverged runs: f not finite or outside ``f0 +- 1e12 (1 + |f0|)``, or x not finite."""
        if self.bounds is None:
            limit = DIVERGENCE * (1.0 + np.abs(F))
            upper, lower = F + limit, F - limit
            upper_min = float(np.min(upper)) if np.isfinite(upper).all() else -math.inf
            lower_max = float(np.max(lower)) if np.isfinite(lower).all() else math.inf
            self.bounds = (upper, lower, upper_min, lower_max)
            self.quiet_band = (lower_max, upper_min)
        upper, lower, upper_min, lower_max = self.bounds
        # one reduction screens for NaN, +inf and growth; the full check runs when it trips or every 16th step
        if self.n_runs == 1:
            suspicious = not lower_max <= F.item() <= upper_min
        else:
            suspicious = not _MAX(F) <= upper_min or (k & 15 == 0 and not _MIN(F) >= lower_max)
        if not (suspicious or (k & 15 == 0 and not np.isfinite(self.X).all())):
            return None
        diverged = self.active & ~((F <= upper) & (F >= lower) & np.isfinite(self.X).all(axis=1))
        if not diverged.any():
            return None
        self.status[diverged] = "diverged"
        return diverged

    def quiet(self, f: float) -> bool:
        """One run, f its value: inside the divergence bounds and above its next target, so that neither
        ``screen`` nor the hit tracker has anything to do (the caller checks x every 16th step)."""
        lower_max, upper_min = self.quiet_band
        if not lower_max <= f <= upper_min:
            return False
        hits = self.hits
        return hits is None or not f - hits.f_opt <= hits.threshold.item()

    def track_hits(self, k: int, F: np.ndarray, diverged: np.ndarray | None) -> None:
        """Hand iteration ``k`` to the hit tracker: buffered (``HitTracker.note``) while every run has spent the
        same evaluations, one iteration at a time otherwise (one run, line searches, budgets)."""
        mask = self.active if diverged is None else self.active & ~diverged
        evaluator = self.evaluator
        if self.single or not evaluator.uniform:
            self.hits.update(k, F, mask, self.counters, self.clock)
        else:
            self.hits.note(k, F, mask, evaluator.calls_total, evaluator.samples_total, self.buffered_clock)

    def converge(self, F: np.ndarray, G: np.ndarray, stop: np.ndarray | None) -> np.ndarray | None:
        """Runs that meet a tolerance: ``grad``, ``f_gap``, ``f`` (relative change), ``x`` (relative move)."""
        tol = self.budget.tol
        if not tol:
            return stop
        met = np.zeros(self.n_runs, dtype=bool)
        if "grad" in tol:
            met |= np.sqrt(np.vecdot(G, G)) <= tol["grad"]
        if "f_gap" in tol:
            met |= (F - self.problem.f_opt) <= tol["f_gap"]
        if "f" in tol and self.F_previous is not None:
            met |= np.abs(F - self.F_previous) <= tol["f"] * (1.0 + np.abs(F))
        if "x" in tol and self.X_previous is not None:
            met |= np.linalg.norm(self.X - self.X_previous, axis=1) <= tol["x"] * (1.0 + np.linalg.norm(self.X, axis=1))
        met &= self.active if stop is None else (self.active & ~stop)
        if not met.any():
            return stop
        self.status[met] = "converged"
        return met if stop is None else (stop | met)

    def out_of_budget(self, k: int, stop: np.ndarray | None) -> np.ndarray | None:
        """Runs out of iterations, evaluations, epochs (full batch) or time."""
        budget, evaluator = self.budget, self.evaluator
        spent = None
        if budget.max_iter is not None and k >= budget.max_iter:
            spent = self.active.copy()
        else:
            if budget.max_evals is not None:
                spent = evaluator.spent() >= budget.max_evals
            if budget.max_epochs is not None and self.sampler is None:
                epochs = evaluator.samples / self.problem.n_samples >= budget.max_epochs - 1e-12
                spent = epochs if spent is None else (spent | epochs)
            if budget.timeout is not None:
                late = self.active & (self.elapsed() > budget.timeout)  # a stack: each run's own share of time
                if late.any():
                    spent = late if spent is None else (spent | late)
                    self.status[late] = "timeout"
        if spent is None:
            return stop
        spent &= self.active if stop is None else (self.active & ~stop)
        return spent if stop is None else (stop | spent)

    def counters(self, runs: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """f_evals, g_evals, samples of ``runs`` (None: every run), as copies."""
        evaluator = self.evaluator
        if evaluator.uniform:  # every run has spent the same: plain numbers, no arrays to copy
            return 0, evaluator.calls_total, evaluator.samples_total if evaluator.finite_sum else None
        pick = slice(None) if runs is None else runs
        samples = evaluator.samples[pick].copy() if evaluator.finite_sum else None
        return evaluator.f_evals[pick].copy(), evaluator.g_evals[pick].copy(), samples

    def elapsed(self) -> float | np.ndarray:
        """Seconds since the batch started (a stack's loop gives each run its own share, a vector)."""
        return time.perf_counter() - self.start

    def clock(self) -> float | np.ndarray:
        """Seconds of the batch so far, less the time spent recording (a stack: each run's share, a vector)."""
        return self.elapsed() - self.recorder.overhead

    def freeze(self, stop: np.ndarray, k: int, F: np.ndarray | None, G: np.ndarray | None) -> None:
        """Stop the runs in ``stop`` at iteration ``k`` and record where they stopped."""
        elapsed = self.elapsed()
        runs = np.flatnonzero(stop)
        f_evals, g_evals, samples = self.counters(runs)
        at = self.stopped_at
        own = elapsed if np.ndim(elapsed) == 0 else elapsed[runs]
        at["iterations"][runs], at["time"][runs] = k, own - self.recorder.overhead
        at["f_evals"][runs], at["g_evals"][runs] = f_evals, g_evals
        if samples is not None:
            at["samples"][runs] = samples
        if F is not None:
            at["f"][runs] = F[runs]
        self.recorder.record(k, runs, self.X, F, G, None, f_evals, g_evals, samples, elapsed)
        self.active = self.active & ~stop
        self.all_active = False

    def direction(self, G: np.ndarray, method_state: Any, k: int) -> tuple[np.ndarray, Any]:
        """The method's direction, checked: a ``(D, state)`` pair with ``D`` of the iterate's shape."""
        try:
            result = self.method.direction(self.X, G, method_state, k)
        except ValueError as exc:
            _raise_if_read_only(self.method, "method", exc)
            raise
        except SystemExit as exc:
            raise _exit_error(self.method, "method", exc) from None
        if (type(result) is tuple and len(result) == 2 and type(result[0]) is np.ndarray
                and result[0].shape == self.X_shape and result[0].dtype is FLOAT):
            return result  # the usual case, checked without building a message
        return self.checked_direction(result)

    def checked_direction(self, result: Any) -> tuple[np.ndarray, Any]:
        """What ``direction`` returned, checked in full: ``(D, state)``, ``D`` real of the iterate's shape."""
        return _checked_pair(result, _plugin(self.method, "method"), "direction()", "D", self.X.shape, "(n_runs, dim)")

    def step_size(self, step_state: Any) -> tuple[np.ndarray, Any]:
        """The step rule's step sizes, checked: ``(n_runs,)``, finite and >= 0 for active runs."""
        try:
            result = self.step_rule.step(self.ctx, step_state)
        except ValueError as exc:
            _raise_if_read_only(self.step_rule, "step rule", exc)
            raise
        except SystemExit as exc:
            raise _exit_error(self.step_rule, "step rule", exc) from None
        if type(result) is tuple and len(result) == 2:
            alpha = result[0]
            if type(alpha) is np.ndarray and alpha.shape == self.alpha_shape and alpha.dtype is FLOAT:
                if self.n_runs == 1:  # every step: a scalar test (~0.1 us), or a min and a dot product (~1 us)
                    if 0.0 <= alpha.item() < _INF:
                        return result
                else:
                    live = alpha if self.all_active else alpha[self.active]
                    if _MIN(live) >= 0.0 and _DOT(live, live) < _INF:  # NaN fails both; a huge alpha takes the long way
                        return result
        return self.checked_step(result)

    def checked_step(self, result: Any) -> tuple[np.ndarray, Any]:
        """What ``step`` returned, checked in full: ``(alpha, state)``, ``alpha`` of shape ``(n_runs,)``, finite
        and >= 0 for active runs."""
        plugin = _plugin(self.step_rule, "step rule")
        alpha, step_state = _checked_pair(result, plugin, "step()", "alpha", (self.n_runs,), "(n_runs,)")
        live = alpha if self.all_active else alpha[self.active]
        valid = (live >= 0) & (live < np.inf)
        if not valid.all():
            raise PluginError(f"{plugin} returned the step size {float(live[~valid][0])!r}; "
                              f"a step size must be finite and >= 0")
        return alpha, step_state

    def move(self, alpha: np.ndarray, D: np.ndarray) -> None:
        """``X = X + alpha * D`` for active runs; runs refused a trial for budget stay where they are."""
        if self.max_evals is not None and self.evaluator.refused.any():
            alpha = np.where(self.evaluator.refused, 0.0, alpha)
            self.evaluator.refused[:] = False
        if alpha is not self.alpha_seen:  # one run: a float times a row (same products, no broadcasting)
            self.alpha_seen, self.alpha_column = alpha, (alpha.item() if self.single else alpha[:, None])
        if self.single:
            X_next = (self.X[0] + self.alpha_column * D[0])[None]
        else:
            X_next = self.X + self.alpha_column * D
        if not self.all_active:
            X_next = np.where(self.active[:, None], X_next, self.X)
        X_next.setflags(write=False)  # handed out read-only every step: a write into X is a PluginError
        self.X = X_next

    def next_iterate(self, G: np.ndarray, method_state: Any, k: int) -> tuple[np.ndarray, Any]:
        """``method.update(X, G, state, k, ctx) -> (X_next, state)`` of a method that takes no step rule, checked."""
        result = _call(self.method, "method", self.method.update, self.X, G, method_state, k, self.ctx)
        return _checked_pair(result, _plugin(self.method, "method"), "update()", "X_next", self.X.shape, "(n_runs, dim)")

    def place(self, X_next: np.ndarray) -> None:
        """``X = X_next`` for active runs (runs refused an evaluation for budget stay where they are)."""
        keep = ~self.active
        if self.budget.max_evals is not None and self.evaluator.refused.any():
            keep = keep | self.evaluator.refused
            self.evaluator.refused[:] = False
        X_next = np.array(X_next, dtype=float)
        self.X = _readonly(np.where(keep[:, None], self.X, X_next) if keep.any() else X_next)

    # ------------------------------------------------------------ the loop
    def stop_before_batch(self, k: int) -> bool:
        """Minibatch runs out of epochs stop before drawing a batch (no evaluation needed at their last point)."""
        if self.sampler is None or self.budget.max_epochs is None:
            return False
        spent = self.active & (self.evaluator.samples / self.problem.n_samples >= self.budget.max_epochs - 1e-12)
        if spent.any():
            self.freeze(spent, k, None, None)
        return not self.active.any()

    def iterate(self, k: int, method_state: Any, step_state: Any) -> tuple[bool, Any, Any]:
        """One iteration; returns (finished, method_state, step_state)."""
        if self.sampler is None:
            batch = None
        elif self.stop_before_batch(k):
            return True, method_state, step_state
        else:
            batch = self.sampler.next()
        F, G = self.evaluate(batch)
        return self.proceed(k, F, G, batch, method_state, step_state)

    def proceed(self, k: int, F: np.ndarray, G: np.ndarray, batch: np.ndarray | None, method_state: Any,
                step_state: Any) -> tuple[bool, Any, Any]:
        """Iteration ``k`` once ``F`` and ``G`` are known: screen, hits, stops, record, step."""
        tol = self.tol
        if self.single and k & 15 and self.quiet(F.item()):
            diverged = None  # nothing to screen or hit this step
        else:
            diverged = self.screen(k, F)
            if self.hits is not None:
                self.track_hits(k, F, diverged)
        stop = self.converge(F, G, diverged) if tol else diverged
        if not (self.iterations_only and k < self.max_iter):  # a budget of iterations alone: nothing to check before it
            stop = self.out_of_budget(k, stop)
        if stop is not None and stop.any():
            self.freeze(stop, k, F, G)
            if not self.active.any():
                return True, method_state, step_state
        recording = self.recorder.wants(k)
        if recording:
            runs = None if self.all_active else np.flatnonzero(self.active)
            spent, elapsed = self.counters(runs), self.elapsed()
        ctx = self.ctx
        ctx.k, ctx.X, ctx.F, ctx.G, ctx.batch, ctx.active = k, self.X, F, G, batch, self.active
        if self.step_rule is None:  # the method computes the next iterate itself
            ctx.D = None
            X_next, method_state = self.next_iterate(G, method_state, k)
            alpha = None
        else:
            D, method_state = self.direction(G, method_state, k)
            ctx.D = D
            alpha, step_state = self.step_size(step_state)
        if recording:
            self.recorder.record(k, runs, self.X, F, G, alpha, *spent, elapsed)
        if tol:
            self.X_previous, self.F_previous = self.X, F
        if alpha is None:
            self.place(X_next)
        else:
            self.move(alpha, D)
        return False, method_state, step_state

    def run(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Iterate until no run is active; the final X and the per-run outcome. A loop that can (``fusable``)
        runs its ``fused`` loop; an error from a plugin it calls is worded as the staged loop words it, the
        plugin named by the line of ``fused`` that called it (``plugin_lines``)."""
        method_state = _call(self.method, "method", self.method.init, self.X)
        step_state = None if self.step_rule is None else _call(self.step_rule, "step rule", self.step_rule.init, self.n_runs)
        if self.fusable():
            try:
                step_state = self.fused(method_state, step_state)
            except PluginError:
                raise
            except ValueError as exc:  # a plugin writing into its read-only input
                plugin = self.failing_plugin(exc)
                if plugin is not None:
                    _raise_if_read_only(*plugin, exc)
                raise
            except SystemExit as exc:
                plugin = self.failing_plugin(exc) or (self.problem, "problem")
                raise _exit_error(*plugin, exc) from None
            return self.X, self.outcome(step_state)
        k, finished, iterate = 0, False, self.iterate
        while not finished:
            finished, method_state, step_state = iterate(k, method_state, step_state)
            k += 1
        return self.X, self.outcome(step_state)

    def failing_plugin(self, exc: BaseException) -> tuple[Any, str] | None:
        """``(plugin, kind)`` whose call in ``fused`` raised ``exc`` (None: the error came from elsewhere)."""
        code, line = type(self).fused.__code__, None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is code:
                line = tb.tb_lineno
            tb = tb.tb_next
        kind = plugin_lines(type(self).fused).get(line)
        plugins = {"problem": self.problem, "method": self.method, "step rule": self.step_rule}
        return None if kind is None else (plugins[kind], kind)

    def fusable(self) -> bool:
        """Whether this loop has a ``fused(method_state, step_state)`` loop for its budget and plugins: the
        subclasses that define one say when (``engine/single.py``, ``engine/batch.py``); the staged loop has none."""
        return False

    def outcome(self, step_state: Any) -> dict[str, Any]:
        at = self.stopped_at
        n_samples = self.problem.n_samples
        return {
            "status": self.status, "iterations": at["iterations"], "time": at["time"], "f": at["f"],
            "f_evals": at["f_evals"], "g_evals": at["g_evals"],
            "epochs": at["samples"] / n_samples if n_samples is not None else np.full(self.n_runs, np.nan),
            "step_counters": {f"step_{name}": np.asarray(step_state[name]).copy()
                              for name in getattr(self.step_rule, "counters", ())},
        }
