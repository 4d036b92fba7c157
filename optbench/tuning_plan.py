"""The plan of a tuned suite's two phases: which cells run the trials, which the selected settings.

``optbench.tuning`` is the search (spaces, protocols, criteria, selection); this
module turns a suite's ``[tuning]`` table and its tuned ``[[methods]]`` entries into
a :class:`Plan` and the cells of each phase (:func:`first_cells`: every trial on
the tuning seeds and the default on the evaluation seeds; :func:`second_cells`: the
selected trial of every problem on the evaluation seeds). The driver runs them
(``optbench.driver.run_tuned_suite``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from optbench.cells import Cell, cell_key
from optbench.engine.cell import describe, incompatibility
from optbench.constraints import Where
from optbench.errors import ParameterError, RegistryError
from optbench.registry import methods, parameters_of, resolve, spec_of, step_rules
from optbench.schema import problem_label
from optbench.seeding import canonical, key_hash
from optbench.tuning import GROUP, Protocol, check_protocol, check_space, settings_of

if TYPE_CHECKING:  # suite loading imports no pandas
    import pandas as pd

__all__ = ["Target", "Plan", "plan_suite", "first_cells", "second_cells", "setting_key", "engine_key",
           "stored_protocol", "make_cell"]


@dataclass(frozen=True)
class Target:
    """One tuned (method, step rule, batch size) of a suite: its settings, trial 0 (the default) first."""

    settings: tuple[tuple[dict, dict | None], ...]
    batch_size: int | None

    @property
    def label(self) -> tuple[str, str, str]:
        method, rule = self.settings[0]
        return method["name"], "none" if rule is None else rule["name"], \
            "full" if self.batch_size is None else str(self.batch_size)


@dataclass(frozen=True)
class Plan:
    """What a suite's tuning needs at run time: the protocol, the targets, the problems (spec, instance, budget)."""

    protocol: Protocol
    targets: tuple[Target, ...]
    problems: tuple[tuple[dict, Any, dict], ...]
    evaluation_seeds: tuple[int, ...]
    plugins: tuple[str, ...]
    suite: str
    ordinary: frozenset[str]  # setting keys of the suite's untuned cells and defaults (never run twice)


def make_cell(plan: Plan, index: int, problem: tuple[dict, Any, dict], setting: tuple[dict, dict | None],
              batch_size: int | None, phase: str, trial: int) -> Any:
    """The suite cell of one trial (``phase="tuning"``) or evaluation (``"evaluation"``), or a reason it cannot run."""

    spec, instance, budget = problem
    batch_size = batch_size if instance.n_samples is not None else None  # minibatches apply to finite sums only
    method, rule = resolve(methods, setting[0]), None if setting[1] is None else resolve(step_rules, setting[1])
    reason = incompatibility(instance, method, rule, batch_size)
    if reason:
        return reason
    description = describe(instance, method, rule, batch_size)
    description.pop("cell")
    description.update(phase=phase, trial=trial)
    description["cell"] = key_hash(canonical(description))
    description["suite"] = plan.suite
    seeds = plan.protocol.seeds if phase == "tuning" else plan.evaluation_seeds
    cell = Cell(key=cell_key(description, seeds, budget), index=index, suite=plan.suite, problem=spec,
                method=setting[0], step_rule=setting[1], batch_size=batch_size, seeds=tuple(seeds),
                plugins=plan.plugins, description=description, **budget)
    if phase == "evaluation" and trial > 0 and setting_key(cell) in plan.ordinary:
        return None  # the selected setting is an untuned cell of the suite (or the default) already
    return cell


def engine_key(description: dict[str, Any]) -> str:
    """The engine's key of a cell description (what it runs, without suite, phase and trial)."""
    return key_hash(canonical({k: v for k, v in description.items() if k not in ("cell", "suite", "phase", "trial")}))


def _values(obj: Any) -> Any:
    """Every declared parameter of a method or step rule with its value (given or default)."""

    if obj is None:
        return None
    return [spec_of(obj)[0], {name: getattr(obj, name, None) for name in parameters_of(type(obj))}]


def setting_key(cell: Any) -> str:
    """What a suite cell runs, by effective parameter values: ``constant`` and ``constant(lr=0.01)`` are one setting."""

    rule = None if cell.step_rule is None else resolve(step_rules, dict(cell.step_rule))
    problem = [cell.description.get(k) for k in ("problem", "problem_params", "dim", "batch_size")]
    return key_hash(canonical([problem, _values(resolve(methods, dict(cell.method))), _values(rule)]))


def first_cells(plan: Plan, start: int) -> tuple[list[Any], list[str]]:
    """Phase one: every trial on the tuning seeds, and the default setting on the evaluation seeds.

    An untuned cell of the suite that runs a default setting is replaced by its
    evaluation cell (the suite drops the cells whose :func:`setting_key` these share).
    """
    cells, skipped, seen = [], [], set()
    for problem in plan.problems:
        for target in plan.targets:
            wanted = [(setting, "tuning", trial) for trial, setting in enumerate(target.settings)]
            for setting, phase, trial in wanted + [(target.settings[0], "evaluation", 0)]:
                cell = make_cell(plan, start + len(cells), problem, setting, target.batch_size, phase, trial)
                if isinstance(cell, str):
                    skipped.append(f"tuning of {'/'.join(target.label)} left out on {problem[0]['name']}: {cell}")
                    break
                if cell is not None and cell.key not in seen:  # a minibatch target runs full batch on a non-finite sum
                    seen.add(cell.key)
                    cells.append(cell)
    return cells, list(dict.fromkeys(skipped))


def second_cells(plan: Plan, chosen: pd.DataFrame, start: int) -> list[Any]:
    """Phase two: the selected trial of every (problem, target) on the evaluation seeds (trial 0 is already run)."""
    targets = {target.label: target for target in plan.targets}
    for target in plan.targets:  # on problems that are not finite sums a target runs full batch
        targets.setdefault(target.label[:2] + ("full",), target)
    problems = {_problem_label(problem): problem for problem in plan.problems}
    cells = []
    for row in chosen[chosen["trial"] > 0].itertuples(index=False):
        target = targets[(row.method, row.step_rule, row.batch)]
        cell = make_cell(plan, start + len(cells), problems[row.problem_label], target.settings[int(row.trial)],
                         target.batch_size, "evaluation", int(row.trial))
        if cell is not None and not isinstance(cell, str):
            cells.append(cell)
    return cells


def _problem_label(problem: tuple[dict, Any, dict]) -> str:
    """The label of a planned problem (:func:`optbench.schema.problem_label`, as the analysis writes it)."""

    spec, instance, _ = problem
    row = describe(instance, methods.create("gd"), step_rules.create("constant"), None)
    return problem_label(row["problem"], row["problem_params"], row["dim"])


def plan_suite(table: Any, entries: list[tuple], problems: list[tuple], seeds: Sequence[int], plugins: Sequence[str],
               suite: str, ordinary: set[str], where: Where | None = None) -> Plan:
    """The tuning plan of a suite from its ``[tuning]`` table (or None) and its tuned ``[[methods]]`` entries.

    ``entries``: ``(method specs, step-rule specs, batch sizes, tune table, path)``,
    one per entry with a ``tune`` key (``path`` is the entry's :class:`Where`, for errors);
    ``where``: the ``[tuning]`` table's. A wrong key raises their error naming its key path.
    """
    protocol = check_protocol({} if table is None else table, seeds, where)
    targets: dict[tuple, Target] = {}
    for method_specs, rule_specs, sizes, space, path in entries:
        for method, rule, size in itertools.product(method_specs, rule_specs, sizes):
            checked = check_space(space, method["name"], None if rule is None else rule["name"], protocol.protocol,
                                  {k: v for k, v in method.items() if k != "name"}, path / "tune")
            target = Target(tuple(settings_of(method, rule, checked, protocol)), size)
            _check_settings(target, path)
            if target.label in targets and targets[target.label] != target:
                raise (path / "tune").error(f"{'/'.join(target.label[:2])} is tuned twice with different "
                                            f"settings; tune one setting per method, step rule and batch size")
            targets[target.label] = target
    return Plan(protocol, tuple(targets.values()), tuple(problems), tuple(seeds), tuple(plugins), suite,
                frozenset(ordinary))


def _check_settings(target: Target, path: Any) -> None:
    """Every trial's setting is valid (an integer parameter drawn from a range is not)."""

    for trial, (method, rule) in enumerate(target.settings):
        try:
            resolve(methods, dict(method))
            if rule is not None:
                resolve(step_rules, dict(rule))
        except (ParameterError, RegistryError) as exc:
            raise (path / "tune").error(f"trial {trial} of {'/'.join(target.label[:2])} is not a valid setting: "
                                        f"{exc} (an integer parameter needs a list of values)") from None


def stored_protocol(plan: Plan, chosen: pd.DataFrame) -> dict[str, Any]:
    """What the results keep of a tuning (``provenance["tuning"]``): the protocol and the selected trials."""
    import dataclasses

    protocol = dataclasses.asdict(plan.protocol)
    protocol["seeds"] = list(protocol["seeds"])
    selected = chosen[[c for c in GROUP + ["trial"] if c in chosen]].astype({"trial": int}).to_dict("records")
    return {**protocol, "selected": selected}
