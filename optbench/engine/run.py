"""``ob.run``: resolve the cell, check it, and dispatch its runs as batches.

The runs of a call are the product of the sweeps (``sweep={"step_rule.lr": [...]}``)
times the seeds. Configurations that differ only in batchable parameters run as
one array of shape ``(n_configs * n_seeds, dim)``, configuration-major; others run
one batch each. A run's numbers never depend on its batch: its starting point,
minibatches and noise come from the problem's key and its seed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from optbench.engine import cell as cells
from optbench.engine.budget import Budget
from optbench.engine.loop import check_start
from optbench.engine.result import RunResult
from optbench.engine.stack import Part, run_stack, stackable
from optbench.engine.sweep import batch_groups, sweep_configs
from optbench.constraints import Where, check_seeds as constraint_seeds, check_tol as constraint_tol, message
from optbench.errors import ParameterError
from optbench.problem import Problem
from optbench.registry import methods, problems, resolve, spec_of, step_rules
from optbench.seeding import run_generators

__all__ = ["run", "run_group", "check_seeds", "check_tol"]

BUDGET_ARGUMENTS = ("max_iter", "max_evals", "max_epochs", "timeout", "tol", "record")


# ---------------------------------------------------------------- argument checks
def check_seeds(seeds: Any) -> list[int]:
    """``ob.run``'s ``seeds``: the one seed rule (``constraints.check_seeds``)."""
    return constraint_seeds(seeds, Where("seeds"))


def check_tol(tol: Any) -> dict[str, float]:
    """``ob.run``'s ``tol``: the one tolerance rule (``constraints.check_tol``)."""
    return constraint_tol(tol, Where("tol"))


def _budget(arguments: dict[str, Any]) -> Budget:
    """The budget of ``ob.run``'s arguments (``Budget.parse``); at least one limit is needed."""
    budget = Budget.parse(arguments)
    if budget.unlimited():
        raise ParameterError("give a budget: max_iter, max_evals, max_epochs, tol or timeout (all are None)")
    return budget


def _batch_size(batch_size: Any, problem: Problem) -> int | None:
    if batch_size is None or problem.n_samples is None:
        return batch_size  # the cell check says why a batch size does not apply
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or not 1 <= batch_size <= problem.n_samples:
        raise ParameterError(f"batch_size must be an integer from 1 to n_samples={problem.n_samples}, got {batch_size!r}")
    return int(batch_size)


def _initial_points(problem: Problem, description: dict, seeds: list[int], x0: Any) -> np.ndarray:
    """``(n_seeds, dim)``: each seed's own start from ``problem.initial_point``, or the given ``x0``."""
    if x0 is None:
        key = cells.problem_key(description)
        return np.stack([check_start(problem, problem.initial_point(rng, 1), 1)[0] for rng in run_generators("x0", key, seeds)])
    try:
        X0 = np.array(x0, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(message("x0", f"numbers of shape ({problem.dim},) or (n_seeds, dim)", x0)) from None
    if X0.shape == (problem.dim,):
        return np.tile(X0, (len(seeds), 1))
    if X0.shape != (len(seeds), problem.dim):
        raise ParameterError(f"x0 must have shape ({problem.dim},) or (n_seeds, dim) = ({len(seeds)}, {problem.dim}), got {X0.shape}")
    return X0


# ---------------------------------------------------------------- one batch, one stack
def _run_batch(problem: Problem, pairs: list[tuple[Any, Any]], descriptions: list[dict], seeds: list[int],
               X0: np.ndarray, budget: Budget, record: Any, batch_size: int | None) -> RunResult:
    """The configurations ``pairs`` (one batch group) times ``seeds``, as one array (a one-part stack)."""
    return run_stack(problem, [Part(pairs, descriptions)], seeds, X0, budget, record, batch_size)[0]


def _stacks(pairs: Sequence[tuple[Any, Any]], problem: Problem) -> list[list[list[int]]]:
    """Batch groups of ``pairs`` (indices) arranged in stacks: every group of stackable methods in one stack,
    ordered by step rule name so that groupable rules sit side by side; each other group alone (and every group
    of a problem that draws from bound per-row noise streams, ``uses_noise_streams``)."""
    groups = batch_groups(pairs)
    if getattr(problem, "uses_noise_streams", False):
        return [[group] for group in groups]
    stacked = [group for group in groups if stackable(pairs[group[0]][0])]
    stacked.sort(key=lambda group: spec_of(pairs[group[0]][1])[0])
    alone = [[group] for group in groups if not stackable(pairs[group[0]][0])]
    return ([stacked] if stacked else []) + alone


def _resolve(problem: Any, method: Any, step_rule: Any) -> tuple[Problem, Any, Any]:
    problem = resolve(problems, problem)
    if not isinstance(problem, Problem):
        raise ParameterError(f"problem must be a registered name, a dict or an optbench.Problem, got {problem!r}")
    method = resolve(methods, method)
    if step_rule is None:
        step_rule = cells.default_step_rule(method)
    return problem, method, None if step_rule is None else resolve(step_rules, step_rule)


def _configured(method: Any, step_rule: Any, sweep: dict | None) -> list[tuple[Any, Any]]:
    """The (method, step rule) instance of every configuration of the sweep, each validated as a scalar."""
    if not sweep:
        return [(method, step_rule)]
    pairs = []
    swept = {str(path).split(".")[0] for path in sweep}  # a side no sweep key names keeps its (validated) instance
    for config in sweep_configs(method, step_rule, sweep):
        m = methods.create(spec_of(method)[0], **config["method"]) if "method" in swept else method
        s = step_rule
        if step_rule is not None and "step_rule" in swept:
            s = step_rules.create(spec_of(step_rule)[0], **config["step_rule"])
        pairs.append((m, s))
    return pairs


# ---------------------------------------------------------------- the public entry points
def run(
    problem: Any,
    method: Any,
    step_rule: Any = None,
    *,
    seeds: int | Sequence[int] = 1,
    x0: np.ndarray | None = None,
    max_iter: int | None = 1000,
    max_evals: int | None = None,
    max_epochs: float | None = None,
    batch_size: int | None = None,
    tol: float | dict[str, float] | None = None,
    record: str | int = "log",
    timeout: float | None = None,
    sweep: dict[str, Sequence[Any]] | None = None,
    suite: str = "",
) -> RunResult:
    """Run every seed of one cell (times every configuration of ``sweep``) as batches; a :class:`RunResult`.

    ``problem``, ``method``, ``step_rule``: a registered name, an instance, or a
    ``{"name": ..., **params}`` dict; ``step_rule=None`` takes the method's default.
    ``seeds``: a count (seeds 0..n-1) or a list. ``x0``: ``(dim,)`` for every run or
    ``(n_seeds, dim)``; by default each seed draws its own from ``problem.initial_point``.
    Budget: ``max_iter`` iterations, ``max_evals`` evaluations (f plus gradient calls,
    never exceeded, line searches included), ``max_epochs`` passes over the data;
    a run stops at the first one reached (status ``budget``). ``batch_size``:
    minibatch size for finite sums. ``tol``: a gradient-norm tolerance, or a dict
    with any of ``grad`` (||g|| <= tol), ``f`` (|f_k - f_k-1| <= tol (1 + |f_k|)),
    ``x`` (||x_k - x_k-1|| <= tol (1 + ||x_k||)), ``f_gap`` (f - f_opt <= tol).
    ``record``: ``"log"``, ``"all"``, ``"last"`` or every k iterations (exact first
    hits of the targets are recorded whatever it says). ``timeout``: seconds per batch.
    ``sweep``: ``{"step_rule.lr": [...], "method.betas": [...]}``; the product of the
    sweeps times the seeds is the batch, and the runs table gives each run its own
    parameters, so a swept result reads like the cells run one by one.
    """
    problem, method, step_rule = _resolve(problem, method, step_rule)
    seed_list = check_seeds(seeds)
    budget = _budget({"max_iter": max_iter, "max_evals": max_evals, "max_epochs": max_epochs, "timeout": timeout,
                      "tol": tol, "record": record})
    batch_size = _batch_size(batch_size, problem)
    pairs = _configured(method, step_rule, sweep)
    descriptions = []
    for m, s in pairs:
        problem_text = cells.incompatibility(problem, m, s, batch_size, budget.max_epochs, budget.tol)
        if problem_text:
            raise ParameterError(problem_text)
        descriptions.append({**cells.describe(problem, m, s, batch_size), "suite": suite})
    X0 = _initial_points(problem, descriptions[0], seed_list, x0)
    parts = [_run_batch(problem, [pairs[i] for i in group], [descriptions[i] for i in group], seed_list, X0, budget,
                        record, batch_size) for group in batch_groups(pairs)]
    return parts[0] if len(parts) == 1 else RunResult.concat(parts)


def run_group(specs: Sequence[dict[str, Any]]) -> list[RunResult]:
    """Run cells that share problem, seeds, budget and batch size (a suite's stack) as one stack (``engine/stack.py``).

    ``specs``: ``ob.run`` keyword arguments, one dict per cell. Returns one
    RunResult per spec, in order, each holding only that cell's runs.
    """
    first = specs[0]
    shared = {key: value for key, value in first.items() if key not in ("method", "step_rule")}
    for spec in specs[1:]:
        if {key: value for key, value in spec.items() if key not in ("method", "step_rule")} != shared:
            raise ValueError("run_group: cells of a group must share everything but the method and step rule")
    problem, _, _ = _resolve(first["problem"], first["method"], first["step_rule"])
    pairs = [_resolve(problem, spec["method"], spec["step_rule"])[1:] for spec in specs]
    seed_list = check_seeds(first["seeds"])
    budget = _budget({"max_iter": 1000, **{key: first[key] for key in BUDGET_ARGUMENTS if key in first}})
    batch_size = _batch_size(first.get("batch_size"), problem)
    descriptions = []
    for m, s in pairs:
        problem_text = cells.incompatibility(problem, m, s, batch_size, budget.max_epochs, budget.tol)
        if problem_text:
            raise ParameterError(problem_text)
        descriptions.append({**cells.describe(problem, m, s, batch_size), "suite": first.get("suite", "")})
    X0 = _initial_points(problem, descriptions[0], seed_list, first.get("x0"))
    results: list[RunResult | None] = [None] * len(specs)
    for stack in _stacks(pairs, problem):
        parts = [Part([pairs[i] for i in group], [descriptions[i] for i in group]) for group in stack]
        outcome = run_stack(problem, parts, seed_list, X0, budget, first.get("record", "log"), batch_size)
        for group, result in zip(stack, outcome):
            for position, index in enumerate(group):
                results[index] = result.config(position)
    return results
