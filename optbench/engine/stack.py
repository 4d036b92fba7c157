"""Stacks: cells that share a problem instance, seeds, budget and batch size, run as one array.

A stack is a list of *parts*; a part is one batch group (configurations that
differ only in batchable parameters, ``engine/sweep.py``) times the seeds, and
holds the rows ``part.rows`` of the stack's ``(n_rows, dim)`` iterate. Each
iteration the objective is evaluated once for every row; each part's method
computes its direction on its own row slice (a view) through its unchanged
``init``/``direction`` (a batch group may join methods of one ``batch_family``: adam, adamw, amsgrad, nadam;
``nesterov`` with ``momentum``, through per-run flags). Neighbouring parts whose
step rules differ only in batchable parameters form a *rule group* with one
batched rule (``rule_groups``): it sees a ``StepContext`` of the group's rows, whose
``line`` evaluates the trial points of all those rows in one call (one call per
part for a problem that is not ``rowwise_exact``, ``Evaluator._split``) and charges
them to those runs. The loop (``DescentLoop``) is the one a single batch uses: status,
budgets, hits and records are per row, so a run's numbers are the same alone,
in its cell or in a stack -- bit for bit where the problem's arithmetic is
elementwise per row, to a few ulp where a BLAS product of the stacked rows blocks
differently from the cell's own (``X @ A.T`` of the data-fitting problems).

Time in a stack. The objective and the loop's bookkeeping are shared; each part's
method calls are timed on their own, and each rule group's step-rule calls
(line-search trials included) are shared among its parts by their rows.
A run's ``time`` is its cell's share of the shared time (its cell's rows over the
stack's rows) plus its cell's share of its part's own time (its cell's rows over
the part's rows): about what the cell would have taken alone, so time-to-target
figures compare methods of one stack fairly. A run's ``timeout`` applies to that
time.

Methods that own their loop (scipy's) or compute the next iterate themselves
(``update``, the torch adapter) are not stacked: they run as one-part stacks.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from optbench.engine import cell as cells
from optbench.engine.context import Evaluator, StepContext
from optbench.engine.loop import Budget, DescentLoop, Sampler, _call, _checked_pair, _plugin
from optbench.engine.batch import BatchLoop
from optbench.engine.own_loop import run_own_loop
from optbench.engine.single import SingleRunLoop
from optbench.engine.result import RunResult
from optbench.engine.sweep import groupable, batched_instance
from optbench.schema import target_ladder
from optbench.engine.hits import HitTracker, hits_from_trace
from optbench.engine.trace import Recorder
from optbench.errors import PluginError
from optbench.problem import Problem
from optbench.seeding import canonical, run_generators, stream_seeds

__all__ = ["Part", "run_stack", "stackable"]


@dataclass
class Part:
    """One batch group of a stack: its configurations' (method, step rule) pairs and cell descriptions."""

    pairs: list[tuple[Any, Any]]
    descriptions: list[dict]
    rows: slice = field(default_factory=lambda: slice(0, 0))
    method: Any = None
    step_rule: Any = None


def stackable(method: Any) -> bool:
    """Whether a method's cells can share a stack: it moves by ``alpha * D`` with a step rule."""
    return cells.takes_step_rule(method)


class _RowsEvaluator:
    """The evaluator seen by one part's step rule: trial points of its rows only, charged to its runs."""

    def __init__(self, evaluator: Evaluator, rows: slice):
        self.evaluator, self.rows = evaluator, rows
        self.n_runs = rows.stop - rows.start

    def _full(self, mask: np.ndarray) -> np.ndarray:
        full = np.zeros(self.evaluator.n_runs, dtype=bool)
        full[self.rows] = mask
        return full

    def line(self, X, batch, mask, need_grad):
        return self.evaluator.line(X, batch, self._full(mask), need_grad, rows=self.rows)

    def hvp(self, X, V, batch, mask):
        return self.evaluator.hvp(X, V, batch, self._full(mask), rows=self.rows)


class StackedMethod:
    """The parts' methods as one: each part's ``direction`` on its own rows (views), timed per part."""

    owns_loop = False
    updates_iterate = False

    def __init__(self, parts: Sequence[Part]):
        self.parts = parts
        self.own = np.zeros(len(parts))  # seconds spent in each part's method and step-rule calls
        self.calls = [(i, part.rows, part.method) for i, part in enumerate(parts)]
        self.times = np.zeros(len(parts))

    def init(self, X: np.ndarray) -> list[Any]:
        return [part.method.init(X[part.rows]) for part in self.parts]

    def direction(self, X: np.ndarray, G: np.ndarray, state: list[Any], k: int) -> tuple[np.ndarray, list[Any]]:
        D = np.empty(X.shape)
        times, clock = self.times, time.perf_counter
        before = clock()
        for i, rows, method in self.calls:
            X_p = X[rows]
            result = _call(method, "method", method.direction, X_p, G[rows], state[i], k)
            if not (type(result) is tuple and len(result) == 2 and type(result[0]) is np.ndarray
                    and result[0].shape == X_p.shape and result[0].dtype.kind == "f"):
                _checked_pair(result, _plugin(method, "method"), "direction()", "D", X_p.shape, "(n_runs, dim)")
            D[rows], state[i] = result
            after = clock()
            times[i] = after - before
            before = after
        self.own += times
        return D, state


@dataclass
class RuleGroup:
    """Neighbouring parts whose step rules differ only in batchable parameters: one batched rule on their rows."""

    parts: list[int]
    rows: slice
    rule: Any
    shares: np.ndarray  # each part's share of the group's rows (its share of the rule's time)


def rule_groups(parts: Sequence[Part], n_seeds: int) -> list[RuleGroup]:
    """The parts (laid out by ``_layout``) in groups of neighbours with groupable step rules, each with one
    batched instance over all its configurations: a line search then evaluates the trial points of every
    row of the group in one call. A run's numbers do not change: step rules are per row, as in a batch group."""
    spans: list[list[int]] = []
    for i, part in enumerate(parts):
        if spans and groupable(parts[spans[-1][0]].pairs[0][1], part.pairs[0][1]):
            spans[-1].append(i)
        else:
            spans.append([i])
    groups = []
    for span in spans:
        first, last = parts[span[0]].rows, parts[span[-1]].rows
        rule = parts[span[0]].step_rule if len(span) == 1 else batched_instance(
            [s for i in span for _, s in parts[i].pairs], n_seeds, column=False)
        sizes = np.array([parts[i].rows.stop - parts[i].rows.start for i in span], dtype=float)
        groups.append(RuleGroup(span, slice(first.start, last.stop), rule, sizes / sizes.sum()))
    return groups


class StackedStepRule:
    """The parts' step rules as one: each group of groupable rules (``rule_groups``) steps on a context of its rows."""

    counters: tuple[str, ...] = ()  # each part's counters are read from ``part_states`` (run_stack)

    def __init__(self, groups: Sequence[RuleGroup], f_opt: float | None, evaluator: Evaluator, own: np.ndarray):
        self.groups, self.own = groups, own
        self.views = [StepContext(f_opt, _RowsEvaluator(evaluator, group.rows)) for group in groups]
        self.states: list[Any] = []
        self.last: list[Any] = [None] * len(groups)
        self.alpha = np.zeros(evaluator.n_runs)

    def init(self, n_runs: int) -> list[Any]:
        self.states = [group.rule.init(group.rows.stop - group.rows.start) for group in self.groups]
        return self.states

    def part_states(self, parts: Sequence[Part]) -> list[dict[str, np.ndarray]]:
        """Each part's step-rule counters (``rule.counters``), its rows of its group's final state."""
        states: list[dict[str, np.ndarray]] = [{} for _ in parts]
        for group, state in zip(self.groups, self.states):
            for i in group.parts:
                own = slice(parts[i].rows.start - group.rows.start, parts[i].rows.stop - group.rows.start)
                states[i] = {name: np.asarray(state[name])[own] for name in getattr(group.rule, "counters", ())}
        return states

    def _view(self, view: StepContext, ctx: StepContext, rows: slice) -> StepContext:
        view.k, view.X, view.F, view.G, view.D = ctx.k, ctx.X[rows], ctx.F[rows], ctx.G[rows], ctx.D[rows]
        view.batch = None if ctx.batch is None else ctx.batch[rows]
        view.active = ctx.active[rows]
        return view

    def _checked(self, group: RuleGroup, view: StepContext, result: Any) -> np.ndarray:
        plugin = _plugin(group.rule, "step rule")
        alpha, _ = _checked_pair(result, plugin, "step()", "alpha", (view.n_runs,), "(n_runs,)")
        live = alpha[view.active]
        valid = (live >= 0) & (live < np.inf)
        if not valid.all():
            raise PluginError(f"{plugin} returned the step size {float(live[~valid][0])!r}; "
                              f"a step size must be finite and >= 0")
        return alpha

    def step(self, ctx: StepContext, state: list[Any]) -> tuple[np.ndarray, list[Any]]:
        """Each group's step sizes into one vector (the same array while every group returns the same one)."""
        same = True
        for i, (group, view) in enumerate(zip(self.groups, self.views)):
            started = time.perf_counter()
            self._view(view, ctx, group.rows)
            result = _call(group.rule, "step rule", group.rule.step, view, state[i])
            if not (type(result) is tuple and len(result) == 2 and result[0] is self.last[i]):
                self.last[i] = self._checked(group, view, result)
                same = False
            state[i] = result[1]
            if view.reused is not None:  # the rule paid for f and grad at the accepted point of these runs
                reused = np.zeros(ctx.n_runs, dtype=bool)
                reused[group.rows] = view.reused
                ctx.reuse(reused)
                view.reused = None
            self.own[group.parts] += (time.perf_counter() - started) * group.shares
        if not same:
            self.alpha = np.concatenate(self.last)
        self.states = state
        return self.alpha, state


class StackLoop(BatchLoop):
    """``BatchLoop`` over a stack; ``elapsed()`` gives each run its own share of the time (see the module)."""

    def __init__(self, parts: Sequence[Part], n_seeds: int, *args: Any):
        super().__init__(*args)
        n = self.n_runs
        part_rows = np.zeros(n)
        owner = np.zeros(n, dtype=np.int64)
        for i, part in enumerate(parts):
            part_rows[part.rows], owner[part.rows] = part.rows.stop - part.rows.start, i
        self.owner, self.shared_weight, self.own_weight = owner, n_seeds / n, n_seeds / part_rows
        self.buffered_clock = StackClock(self, len(parts))

    def elapsed(self) -> np.ndarray:
        """Per run: ``shared * rows_cell / rows_stack + own_part * rows_cell / rows_part`` (plus the recording
        overhead, which the callers subtract)."""
        total = time.perf_counter() - self.start
        own = self.method.own
        overhead = self.recorder.overhead
        shared = total - overhead - float(own.sum())
        return shared * self.shared_weight + own[self.owner] * self.own_weight + overhead


class StackClock:
    """A stack's clock as ``HitTracker.note`` buffers it: the shared seconds (less recording and the parts' own
    time) and each part's own seconds; ``times`` gives each run its share, as ``StackLoop.elapsed``."""

    def __init__(self, loop: StackLoop, n_parts: int):
        self.loop, self.width = loop, 1 + n_parts

    def read(self, row: np.ndarray) -> None:
        loop = self.loop
        own = loop.method.own
        row[0] = time.perf_counter() - loop.start - loop.recorder.overhead - float(own.sum())
        row[1:] = own

    def times(self, readings: np.ndarray, runs: np.ndarray) -> np.ndarray:
        loop = self.loop
        own = readings[np.arange(len(runs)), 1 + loop.owner[runs]]
        return readings[:, 0] * loop.shared_weight + own * loop.own_weight[runs]  # shared_weight: one number


# ---------------------------------------------------------------- running a stack
def _layout(parts: Sequence[Part], n_seeds: int) -> list[int]:
    """Give each part its rows and batched instances; the config index of the first config of each part."""
    start, first, config = 0, [], 0
    for part in parts:
        n_rows = len(part.pairs) * n_seeds
        part.rows = slice(start, start + n_rows)
        part.method = batched_instance([m for m, _ in part.pairs], n_seeds, column=True)
        part.step_rule = None if part.pairs[0][1] is None else batched_instance(
            [s for _, s in part.pairs], n_seeds, column=False)
        first.append(config)
        start, config = start + n_rows, config + len(part.pairs)
    return first


def _descend(problem: Problem, parts: Sequence[Part], n_seeds: int, X_start: np.ndarray, budget: Budget,
             recorder: Recorder, tracker: HitTracker | None, sampler: Sampler | None, noise_rngs: list | None,
             method_seeds: np.ndarray | None = None):
    """Run the stack's loop; the final X, the outcome and each part's final step-rule state.

    ``method_seeds``: each row's ``StepContext.stream_seeds`` (methods that compute the next iterate)."""
    if len(parts) == 1:
        part = parts[0]
        if getattr(part.method, "owns_loop", False):
            X, out = run_own_loop(problem, part.method, X_start, recorder, budget.max_iter, budget.max_evals,
                                  budget.tol, budget.timeout, noise_rngs)
            return X, out, None
        kind = SingleRunLoop if len(X_start) == 1 else BatchLoop
        loop = kind(problem, part.method, part.step_rule, X_start, budget, recorder, tracker, sampler, noise_rngs)
        loop.ctx.stream_seeds = method_seeds
        X, out = loop.run()
        return X, out, None
    method = StackedMethod(parts)
    loop = StackLoop(parts, n_seeds, problem, method, None, X_start, budget, recorder, tracker, sampler, noise_rngs)
    loop.step_rule = rule = StackedStepRule(rule_groups(parts, n_seeds), problem.f_opt, loop.evaluator, method.own)
    if not problem.rowwise_exact:
        loop.evaluator.chunks, loop.evaluator.usual = [part.rows for part in parts], False
    X, out = loop.run()
    return X, out, rule.part_states(parts)


def _counters(part: Part, state: Any) -> dict[str, np.ndarray]:
    return {f"step_{name}": np.asarray(state[name]).copy() for name in getattr(part.step_rule, "counters", ())}


def _part_result(part: Part, X: np.ndarray, out: dict, state: Any, trace: dict, hits: dict, seeds: list[int],
                 f_opt: float | None) -> RunResult:
    """The rows of one part, as the RunResult its batch would give alone."""
    rows = part.rows
    own = {name: values[rows] for name, values in out.items() if name != "step_counters"}
    own["step_counters"] = out.get("step_counters", {}) if state is None else _counters(part, state)

    def pick(columns: Any) -> Any:
        if callable(columns) or not columns or (rows.start == 0 and rows.stop == len(X)):  # every row of the stack
            return columns
        keep = (columns["run"] >= rows.start) & (columns["run"] < rows.stop)
        picked = {name: values[keep] for name, values in columns.items()}
        picked["run"] = picked["run"] - rows.start
        return picked

    n_configs = len(part.pairs)
    run_seeds = np.asarray(list(seeds) * n_configs, dtype=np.int64)
    return RunResult(X[rows], part.descriptions, np.repeat(np.arange(n_configs), len(seeds)), run_seeds,
                     f_opt, own, pick(trace), pick(hits))


def run_stack(problem: Problem, parts: Sequence[Part], seeds: list[int], X0: np.ndarray, budget: Budget,
              record: Any, batch_size: int | None) -> list[RunResult]:
    """The parts (batch groups of one problem instance) times ``seeds``, as one array; one RunResult per part.

    ``X0``: ``(n_seeds, dim)`` starting points, the same for every configuration.
    """
    n_seeds = len(seeds)
    _layout(parts, n_seeds)
    n_rows = parts[-1].rows.stop
    run_seeds = [seed for part in parts for seed in list(seeds) * len(part.pairs)]
    key = cells.problem_key(parts[0].descriptions[0])
    noise_rngs = None
    if getattr(problem, "noise_std", 0.0) or getattr(problem, "uses_noise_streams", False):
        noise_rngs = run_generators("noise", canonical([key, batch_size]), run_seeds)
    if getattr(problem, "uses_noise_streams", False):
        problem.bind_noise(noise_rngs)  # one generator per row: the noisy wrapper draws from the charged rows'
    owns_loop = getattr(parts[0].method, "owns_loop", False)
    method_seeds = None  # a method computing its iterate (torch's Hutchinson draws): each run's own stream
    if getattr(parts[0].method, "updates_iterate", False):
        method_seeds = stream_seeds("method", key, run_seeds)
    recorder = Recorder(problem, n_rows, record, full_objective=batch_size is not None)
    tracker = None
    if problem.f_opt is not None and batch_size is None and not owns_loop:
        tracker = HitTracker(problem.f_opt, target_ladder(), n_rows, problem.n_samples)
    sampler = None
    if batch_size is not None and not owns_loop:
        sampler = Sampler(problem.n_samples, batch_size, run_generators("batch", canonical([key, batch_size]), run_seeds))
    X_start = np.tile(X0, (n_rows // n_seeds, 1))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        X, out, states = _descend(problem, parts, n_seeds, X_start, budget, recorder, tracker, sampler, noise_rngs,
                                   method_seeds)
        if batch_size is not None:  # minibatch runs: the final f is the full objective at the final iterate
            out["f"] = np.concatenate([np.asarray(problem.value(X[part.rows]), dtype=float) for part in parts])
    if len(parts) == 1 and tracker is not None:  # one part: its tables are built when first read
        return [_part_result(parts[0], X, out, None if states is None else states[0], recorder.frame, tracker.frame,
                             seeds, problem.f_opt)]
    trace = recorder.frame()
    if tracker is not None:
        hits = tracker.frame()
    elif problem.f_opt is not None:
        hits = hits_from_trace(trace, problem.f_opt, target_ladder(), problem.n_samples)
    else:  # f_opt unknown: analysis computes hits after the fact against an estimate
        hits = hits_from_trace({}, 0.0, target_ladder(), problem.n_samples)
    return [_part_result(part, X, out, None if states is None else states[i], trace, hits, seeds, problem.f_opt)
            for i, part in enumerate(parts)]
