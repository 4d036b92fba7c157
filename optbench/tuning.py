"""Tuning protocols: search spaces, trials, and selection on tuning seeds held apart from the evaluation seeds.

A *search space* maps a parameter path to a distribution::

    {"step_rule.lr": {"log_uniform": [1e-5, 1.0]},       # exp(U(log a, log b))
     "method.momentum": {"uniform": [0.0, 0.99]},         # U(a, b)
     "method.betas": [[0.9, 0.999], [0.8, 0.99]]}         # one of the listed values

A *protocol* turns it into trials: ``grid`` runs every combination of the listed
values (every dimension must be a list); ``random`` draws ``trials`` settings
from a generator seeded by the protocol's ``seed`` and the space (so the same
suite draws the same trials, whichever executor runs it). Trial 0 is always the
*default setting*: the method's own defaults (its default step rule's values
included) for every tuned parameter. Draws that repeat an earlier setting are
dropped.

Every trial runs on the *tuning seeds*, which must be disjoint from the
evaluation seeds: selecting on the seeds one reports is selection bias. A count
of tuning seeds means ``TUNING_SEED_START + 0, 1, ...`` (10**6 onwards), far from
the evaluation seeds ``0, 1, ...``.

The *criterion* of a trial on a problem (smaller is better):

- ``final_gap``: the median over tuning seeds of the final gap f - f_opt, a failed
  run (diverged, error, timeout) counting as +inf and a gap at or below the gap
  tolerance as 0 (:func:`optbench.analysis.final_gaps`);
- ``time_to_target``: the median over tuning seeds of the evaluations (f + gradient
  calls) to the first hit of ``f - f_opt <= target``, +inf for a miss or a failed run;
- ``ert``: COCO's expected running time to ``target``: the evaluations of all runs
  (successful ones counted until their hit) / the successful runs, +inf when none
  succeeds (COCO's rule: a run that met the target before failing is a success);
- ``area_under_curve``: the mean over the budgets dim * 10^j of log10 of the
  median best-so-far gap (clipped at 1e-16; see :func:`optbench.analysis.fixed_budget`).

Selection: ``scope = "problem"`` takes per problem the trial of least criterion
(ties: the lowest trial, so the default wins a tie); ``scope = "suite"`` (AlgoPerf's
rule) ranks the trials on each problem (ties averaged) and takes the trial of
least mean rank over the problems, one setting per method for all problems.
The selected setting and the default then run on the evaluation seeds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from optbench import schema
from optbench.constraints import TARGET, Interval, Where, check_seeds, parameter_path, unknown
from optbench.engine.cell import default_step_rule, step_rule_incompatibility
from optbench.errors import ParameterError, TuningError
from optbench.registry import methods, step_rules
from optbench.seeding import canonical, run_generators

if TYPE_CHECKING:  # suite loading and the run path import no pandas; the functions that need it import it
    import pandas as pd

__all__ = [
    "TUNING_SEED_START", "PROTOCOLS", "CRITERIA", "SCOPES", "DISTRIBUTIONS", "TUNING_KEYS", "Protocol",
    "TuningError", "tuning_seeds", "check_space", "evaluation_tables", "check_protocol", "draw_trials", "apply_trial", "default_setting",
    "criterion_table", "select", "tune", "TuneResult",
]

TUNING_SEED_START = 10**6
PROTOCOLS = ("grid", "random")
CRITERIA = ("final_gap", "ert", "time_to_target", "area_under_curve")
SCOPES = ("problem", "suite")
DISTRIBUTIONS = ("log_uniform", "uniform")
TUNING_KEYS = ("protocol", "trials", "seeds", "criterion", "target", "scope", "seed")
GROUP = ["problem_label", "method", "step_rule", "batch"]  # one tuned target on one problem


# ---------------------------------------------------------------- protocols
@dataclass(frozen=True)
class Protocol:
    """A validated tuning protocol (the ``[tuning]`` block of a suite, or ``ob.tune``'s arguments)."""

    protocol: str = "random"
    trials: int = 20
    seeds: tuple[int, ...] = tuple(range(TUNING_SEED_START, TUNING_SEED_START + 3))
    criterion: str = "final_gap"
    target: float = 1e-6
    scope: str = "problem"
    seed: int = 0


def _tuning_where(where: Where | None) -> Where:
    """Where a tuning key lives: ``ob.tune``'s arguments (TuningError) unless a suite's ``[tuning]`` table is given."""
    return where if where is not None else Where(error=TuningError)


def _choice(key: str, value: Any, valid: Sequence[str], where: Where | None = None) -> str:
    if value not in valid:
        raise (_tuning_where(where) / key).unknown(key, value, valid)
    return value


def _count(key: str, value: Any, where: Where, least: int = 1) -> int:
    return int((where / key).check(value, [Interval("int", least, None)]))


def tuning_seeds(value: Any, evaluation: Sequence[int], where: Where | None = None) -> tuple[int, ...]:
    """The seed rule (a count means ``TUNING_SEED_START + 0..n-1``), and disjoint from ``evaluation``."""
    where = where or Where("seeds", error=TuningError)
    seeds = tuple(check_seeds(value, where, start=TUNING_SEED_START))
    shared = sorted(set(seeds) & set(evaluation))
    if shared:
        raise where.error(f"tuning seeds must be disjoint from the evaluation seeds (tuning on the seeds one "
                          f"reports is selection bias); both hold {shared[:5]}")
    return seeds


def check_protocol(table: dict[str, Any], evaluation: Sequence[int], where: Where | None = None) -> Protocol:
    """A :class:`Protocol` from a ``[tuning]`` table; a wrong key or value raises ``where``'s error (TuningError)."""
    where = _tuning_where(where)
    if not isinstance(table, dict):
        raise where.invalid(f"a table with keys {', '.join(TUNING_KEYS)}", table)
    for key in table:
        if key not in TUNING_KEYS:
            raise (where / key).error(unknown("key", key, TUNING_KEYS, "Valid keys"))
    return Protocol(
        protocol=_choice("protocol", table.get("protocol", "random"), PROTOCOLS, where),
        trials=_count("trials", table.get("trials", 20), where),
        seeds=tuning_seeds(table.get("seeds", 3), evaluation, where / "seeds"),
        criterion=_choice("criterion", table.get("criterion", "final_gap"), CRITERIA, where),
        target=float((where / "target").check(table.get("target", 1e-6), TARGET)),
        scope=_choice("scope", table.get("scope", "problem"), SCOPES, where),
        seed=_count("seed", table.get("seed", 0), where, 0),
    )


# ---------------------------------------------------------------- search spaces
def _check_path(path: Any, method: str, step_rule: str | None, method_params: dict | None, where: Where) -> tuple[str, str]:
    """``(target, parameter)`` of a tuned key (the one parameter-path rule, ``constraints.parameter_path``)."""
    # a method whose parameters depend on its others (the torch adapter's optimizer options) is asked with them
    valid = {"method": list(methods.parameters(method, method_params)),
             "step_rule": None if step_rule is None else list(step_rules.parameters(step_rule))}
    return parameter_path(path, valid, {"method": method, "step_rule": step_rule or ""}, where)


def _check_dimension(value: Any, protocol: str, where: Where) -> None:
    if isinstance(value, list):
        if not value:
            raise where.invalid("a non-empty list of values", value)
        return
    if protocol == "grid":
        raise where.invalid("a list of values (the grid protocol)", value)
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
        raise where.invalid("a list of values or one of { log_uniform = [a, b] }, { uniform = [a, b] }", value)
    kind, bounds = next(iter(value.items()))
    ok = (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                                                  and math.isfinite(b) for b in bounds))
    if not ok or bounds[0] >= bounds[1] or (kind == "log_uniform" and bounds[0] <= 0):
        need = "0 < a < b" if kind == "log_uniform" else "a < b"
        raise (where / kind).invalid(f"two finite numbers [a, b] with {need}", bounds)


def check_space(space: Any, method: str, step_rule: str | None, protocol: str = "random",
                method_params: dict | None = None, where: Where | None = None) -> dict[str, Any]:
    """A validated search space of ``method`` (and its ``step_rule``), paths in sorted order.

    ``where``: the table holding the space (default: ``ob.tune``'s ``space`` argument, TuningError)."""
    where = where or Where("space", error=TuningError)
    if not isinstance(space, dict) or not space:
        raise where.invalid("a non-empty table from 'method.<parameter>' or 'step_rule.<parameter>' to distributions",
                            space)
    for path, value in space.items():
        _check_path(path, method, step_rule, method_params, where)
        _check_dimension(value, protocol, where / path)
    return {path: space[path] for path in sorted(space)}


def _draw(value: Any, rng: np.random.Generator) -> Any:
    if isinstance(value, list):
        return value[int(rng.integers(len(value)))]
    (kind, (low, high)), = value.items()
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def draw_trials(space: dict[str, Any], protocol: Protocol, salt: str = "") -> list[dict[str, Any]]:
    """The trials of ``space`` under ``protocol`` (trial 1, 2, ...), each ``{path: value}``; repeats dropped.

    ``random``: ``protocol.trials`` draws from a generator seeded by
    ``protocol.seed``, ``salt`` (e.g. the method's name) and the space itself.
    ``grid``: every combination of the listed values, the last path varying fastest.
    """
    paths = sorted(space)
    if protocol.protocol == "grid":
        draws = [dict(zip(paths, combo)) for combo in itertools.product(*(space[p] for p in paths))]
    else:
        rng = run_generators("tuning", canonical([salt, space]), [protocol.seed])[0]
        draws = [{path: _draw(space[path], rng) for path in paths} for _ in range(protocol.trials)]
    return _unique(draws)


def default_setting(method: dict[str, Any], step_rule: dict[str, Any] | None,
                    space: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The default setting: the specs without the tuned parameters (so the registered defaults apply).

    A tuned step-rule parameter of the method's own default step rule takes that
    rule's value (Adam's default is ``constant(lr=0.001)``, not the rule's 0.01).
    """
    tuned = {tuple(path.split(".")) for path in space}
    method_spec = {k: v for k, v in method.items() if ("method", k) not in tuned}
    if step_rule is None:
        return method_spec, None
    own = default_step_rule(methods.get(method["name"]))
    base = own if own is not None and own["name"] == step_rule["name"] else {"name": step_rule["name"]}
    rule_spec = {**base, **{k: v for k, v in step_rule.items() if ("step_rule", k) not in tuned}}
    return method_spec, rule_spec


def apply_trial(method: dict[str, Any], step_rule: dict[str, Any] | None,
                trial: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The method and step-rule specs of one trial: the default setting with the trial's values set."""
    method, step_rule = dict(method), None if step_rule is None else dict(step_rule)
    for path, value in trial.items():
        target, name = path.split(".")
        (method if target == "method" else step_rule)[name] = value
    return method, step_rule


# ---------------------------------------------------------------- criteria and selection
def _tuning_only(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None or "phase" not in frame:
        return None
    return frame[frame["phase"].astype(str) == "tuning"]


def _tuning_rows(runs: pd.DataFrame, trace: pd.DataFrame | None, hits: pd.DataFrame | None):
    """The prepared runs, trace and hits of the tuning phase, with a ``batch`` label ("full" or the size)."""
    from optbench import analysis

    if "phase" not in runs:
        raise ParameterError("the runs table has no 'phase' column: it is not the result of a tuned suite or ob.tune")
    prepared, trace_p = analysis.prepare(_tuning_only(runs).reset_index(drop=True), _tuning_only(trace))
    hits_p = analysis.prepare_hits(prepared, _tuning_only(hits))
    batch = prepared["batch_size"].astype("Int64").astype(str)
    prepared["batch"] = batch.where(prepared["batch_size"].notna(), "full")
    return prepared, trace_p, hits_p


def _per_solver(prepared: pd.DataFrame, table: pd.DataFrame, column: str) -> np.ndarray:
    """``table[column]`` (one row per problem_label and solver) read for every run of ``prepared``."""
    import pandas as pd

    index = pd.MultiIndex.from_frame(table[["problem_label", "solver"]])
    where = index.get_indexer(pd.MultiIndex.from_frame(prepared[["problem_label", "solver"]]))
    values = table[column].to_numpy(dtype=float)
    return np.where(where >= 0, values[np.maximum(where, 0)], np.inf)


def _run_values(prepared, trace, hits, criterion: str, target: float) -> np.ndarray:
    """Per tuning run, the value whose median (or, for ert and auc, whose group value) is the criterion."""
    import pandas as pd

    from optbench import analysis

    if criterion == "final_gap":
        return analysis.final_gaps(prepared)[1]
    if criterion == "time_to_target":
        first = analysis.first_hits(prepared, trace, [target], hits=hits)
        value = pd.Series(np.where(first["hit"], first["evaluations"], np.inf), index=first["run"].to_numpy())
        value = value.reindex(prepared["run"].to_numpy()).to_numpy(dtype=float)
        return np.where(prepared["status"].isin(schema.INFINITE_GAP_STATUSES).to_numpy(), np.inf, value)
    if criterion == "ert":
        return _per_solver(prepared, analysis.ert(prepared, trace, [target], hits=hits), "ert")
    board = analysis.fixed_budget(prepared, trace)
    board["log_gap"] = np.log10(np.clip(board["gap_median"].to_numpy(dtype=float), 1e-16, None))
    area = board.groupby(["problem_label", "solver"], as_index=False)["log_gap"].mean()
    return _per_solver(prepared, area, "log_gap")


def criterion_table(runs: pd.DataFrame, trace: pd.DataFrame | None = None, hits: pd.DataFrame | None = None,
                    criterion: str = "final_gap", target: float = 1e-6) -> pd.DataFrame:
    """One row per (problem, tuned method, step rule, batch size, trial) of the tuning phase: ``criterion``.

    Also ``method_params``, ``step_params`` (the trial's setting), ``n_runs`` and
    ``n_failed`` (diverged, error or timeout runs, counted as +inf).
    """
    _choice("criterion", criterion, CRITERIA)
    prepared, trace_p, hits_p = _tuning_rows(runs, trace, hits)
    prepared["value"] = _run_values(prepared, trace_p, hits_p, criterion, target)
    prepared["failed"] = prepared["status"].isin(schema.INFINITE_GAP_STATUSES)
    table = prepared.groupby(GROUP + ["trial"], sort=True).agg(
        criterion=("value", "median"), method_params=("method_params", "first"),
        step_params=("step_params", "first"), n_runs=("run", "size"), n_failed=("failed", "sum"),
        problem=("problem", "first"), dim=("dim", "first")).reset_index()
    table["trial"] = table["trial"].astype(np.int64)
    return table


def select(table: pd.DataFrame, scope: str = "problem") -> pd.DataFrame:
    """The selected trial of every (problem, tuned method): least criterion per problem, or least mean rank (suite).

    Returns the rows of ``table`` that were selected (ties: the lowest trial);
    with ``scope="suite"`` also ``mean_rank``, and the same trial on every problem.
    """
    _choice("scope", scope, SCOPES)
    table = table.sort_values(GROUP + ["trial"], kind="stable").reset_index(drop=True)
    table["criterion"] = table["criterion"].fillna(np.inf)
    if scope == "problem":
        best = table.groupby(GROUP, sort=True)["criterion"].idxmin()  # first (lowest trial) of the minima
        return table.loc[best].reset_index(drop=True)
    table = table.assign(rank=table.groupby(GROUP)["criterion"].rank(method="average"))
    tuned = ["method", "step_rule", "batch"]
    mean = table.groupby(tuned + ["trial"], sort=True)["rank"].mean().rename("mean_rank").reset_index()
    chosen = mean.loc[mean.groupby(tuned, sort=True)["mean_rank"].idxmin()]
    return table.merge(chosen, on=tuned + ["trial"]).drop(columns="rank").reset_index(drop=True)


# ---------------------------------------------------------------- ob.tune
@dataclass
class TuneResult:
    """What :func:`tune` returns.

    ``trials``: one row per trial (0 = the default setting) with its setting and
    criterion on the tuning seeds; ``selected``: the chosen row; ``runs``, ``trace``,
    ``hits``: every run of both phases (columns ``phase`` and ``trial``);
    ``evaluation``: the selected setting's ``RunResult`` on the evaluation seeds,
    ``default``: the default setting's.
    """

    trials: pd.DataFrame
    selected: pd.Series
    runs: pd.DataFrame
    trace: pd.DataFrame
    hits: pd.DataFrame
    evaluation: Any
    default: Any
    settings: list[tuple[dict, dict | None]] = field(default_factory=list)

    @property
    def method(self) -> dict[str, Any]:
        return self.settings[int(self.selected["trial"])][0]

    @property
    def step_rule(self) -> dict[str, Any] | None:
        return self.settings[int(self.selected["trial"])][1]


def _labelled(results: Sequence[Any], phase: str, trials: Sequence[int]) -> tuple[pd.DataFrame, ...]:
    """The tables of ``results`` (one RunResult per setting) as one, with ``phase`` and ``trial`` set per row."""
    import pandas as pd

    from optbench.engine.result import RunResult

    combined = RunResult.concat(list(results)) if len(results) > 1 else results[0]
    trial_of = {result.cell["cell"]: trial for result, trial in zip(results, trials)}
    frames = []
    for frame in combined.tables():
        frame = frame.copy()
        frame["phase"] = pd.array([phase] * len(frame), dtype="str")
        frame["trial"] = pd.array(frame["cell"].map(trial_of).astype(object), dtype="Int64")
        frames.append(frame)
    return tuple(frames)


def _spec(value: Any) -> dict[str, Any] | None:
    """A method or step rule (name, dict or instance) as a ``{"name": ..., **params}`` spec."""
    from optbench.registry import spec_of

    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"name": value}
    label, params = spec_of(value)
    return {"name": label, **params}


def _tuning_specs(problem, method, step_rule, space, protocol) -> list[tuple[dict, dict | None]]:
    method_spec = _spec(method)
    method_class = methods.get(method_spec["name"])
    rule_spec = default_step_rule(method_class) if step_rule is None else _spec(step_rule)
    reason = step_rule_incompatibility(method_class, rule_spec)  # the engine's rule, worded as ob.run words it
    if reason:
        raise _tuning_where(None).error(reason)
    space = check_space(space, method_spec["name"], None if rule_spec is None else rule_spec["name"], protocol.protocol,
                        {k: v for k, v in method_spec.items() if k != "name"})
    return settings_of(method_spec, rule_spec, space, protocol)


def settings_of(method: dict[str, Any], step_rule: dict[str, Any] | None, space: dict[str, Any],
                protocol: Protocol) -> list[tuple[dict, dict | None]]:
    """``(method spec, step-rule spec)`` of trial 0 (the default setting), 1, 2, ... (repeats dropped)."""
    base = default_setting(method, step_rule, space)
    trials = draw_trials(space, protocol, canonical([base[0]["name"], None if base[1] is None else base[1]["name"]]))
    settings = [base] + [apply_trial(*base, trial) for trial in trials]
    return _unique(settings)


def _unique(settings: list) -> list:
    """``settings`` without repeats (the first of each kept)."""
    seen, out = set(), []
    for setting in settings:
        if canonical(setting) not in seen:
            seen.add(canonical(setting))
            out.append(setting)
    return out


def tune(problem: Any, method: Any, step_rule: Any = None, *, space: dict[str, Any], protocol: str = "random",
         trials: int = 20, seeds: int | Sequence[int] = 3, eval_seeds: int | Sequence[int] = 10,
         criterion: str = "final_gap", target: float = 1e-6, seed: int = 0, **budget: Any) -> TuneResult:
    """Tune ``method`` (with ``step_rule``) on ``problem`` over ``space``; evaluate the chosen and the default setting.

    All trials (trial 0 = the default setting) x the tuning ``seeds`` (a count means
    10**6, 10**6 + 1, ...) run as one batch group (``run_group``); the trial of
    least criterion (see the module docstring) is then run with ``ob.run`` on
    ``eval_seeds`` (a count means 0, 1, ...), and so is the default setting.
    ``budget``: further ``ob.run`` arguments (``max_iter``, ``max_evals``, ``tol``, ...).
    """
    from optbench.engine.run import run, run_group

    evaluation = check_seeds(eval_seeds, Where("eval_seeds", error=TuningError))
    chosen = check_protocol({"protocol": protocol, "trials": trials, "seeds": seeds, "criterion": criterion,
                             "target": target, "seed": seed}, evaluation)
    settings = _tuning_specs(problem, method, step_rule, space, chosen)
    specs = [{"problem": problem, "method": m, "step_rule": s, "seeds": list(chosen.seeds), **budget} for m, s in settings]
    parts = [_labelled(run_group(specs), "tuning", range(len(specs)))]
    table = criterion_table(*parts[0], criterion=criterion, target=target)
    best = select(table).iloc[0]
    m, s = settings[int(best["trial"])]
    evaluated = run(problem, m, s, seeds=evaluation, **budget)
    default = evaluated if int(best["trial"]) == 0 else run(problem, *settings[0], seeds=evaluation, **budget)
    parts.append(_labelled([evaluated], "evaluation", [int(best["trial"])]))
    if int(best["trial"]) != 0:
        parts.append(_labelled([default], "evaluation", [0]))
    return TuneResult(table, best, *_joined(parts), evaluated, default, settings)


def _joined(parts) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    return tuple(pd.concat([part[i] for part in parts], ignore_index=True) for i in range(3))


# ---------------------------------------------------------------- tuned suites


def selection(plan: Any, runs: pd.DataFrame, trace: pd.DataFrame | None, hits: pd.DataFrame | None) -> pd.DataFrame:
    """The selected trials of a tuned suite from its tuning-phase tables."""
    table = criterion_table(runs, trace, hits, plan.protocol.criterion, plan.protocol.target)
    return select(table, plan.protocol.scope)


def evaluation_tables(runs: pd.DataFrame, trace: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``runs`` and ``trace`` without the tuning phase: what a leaderboard of tuned methods compares."""
    def keep(frame):
        if frame is None or "phase" not in frame:
            return frame
        return frame[frame["phase"].astype(str) != "tuning"].reset_index(drop=True)

    return keep(runs), keep(trace)
