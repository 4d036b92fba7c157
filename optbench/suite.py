"""Suite files (TOML) -> a validated list of cells.

A suite names problem instances, methods with their step rules, seeds and a
budget; every list of values is a grid, and the suite is the product of its
grids::

    cells = problems x methods x step rules x batch sizes        (each with all seeds)

Everything is validated before anything runs. A mistake raises
:class:`SuiteError` naming the file, the key path (``quick.toml:
methods[1].step_rule.lr``), what was wrong, the valid choices and the closest
match.

Grid rule for a parameter: when the parameter takes a list (its type hint is a
list or tuple, e.g. ``hidden: list[int]``), a list of lists is its grid and a
plain list is one value; otherwise any list is a grid.

A shipped suite is found by name (``load_suite("quick")``) inside the installed
package (``optbench/suites/*.toml``). In the source tree ``optbench/suites`` is a
link to ``problems/``, the only copy, which the wheel ships. Any other suite is given by path.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
import types
from collections.abc import Sequence as AbcSequence
from importlib import resources
from pathlib import Path
from typing import Any, Sequence, Union, get_args, get_origin

from optbench import registry, tuning_plan
from optbench.cells import Cell, Suite, batch_groups_of, batch_groups_with, cell_key, instances_of, spec_label
from optbench.constraints import RECORD_MODES, Where, check_seeds
from optbench.engine.budget import Budget
from optbench.engine.cell import (budget_incompatibility, default_step_rule, describe as cell_description, incompatibility,
                                  step_rule_incompatibility)
from optbench.errors import ParameterError, RegistryError, SuiteError, did_you_mean
from optbench.registry import load_plugin
__all__ = ["SuiteError", "Suite", "Cell", "load_suite", "parse_suite", "shipped_suites", "suite_path", "RECORD_MODES",
           "cell_key", "batch_groups_of", "report_headline", "REPORT_HEADLINES"]

TOP_KEYS = ("name", "description", "seeds", "plugins", "budget", "problems", "methods", "tuning", "report")
REPORT_KEYS = ("headline",)
REPORT_HEADLINES = ("leaderboard", "profiles")  # what the report shows first under its headline sentence
BUDGET_KEYS = ("max_iter", "max_evals", "epochs", "record", "timeout", "tol")
DEFAULT_MAX_ITER = 1000
MAX_CELLS = 100_000  # a larger grid needs max_cells=None (`optbench run --yes`)
MAX_NAME = 100
MAX_DIM = 10_000_000  # a larger dim (80 MB per vector) needs max_cells=None (`optbench run --yes`)



# ---------------------------------------------------------------- the result of parsing


# ---------------------------------------------------------------- finding suite files
def _suites_dir():
    return resources.files("optbench") / "suites"


def shipped_suites() -> list[str]:
    """Names of the suites shipped inside the package (``optbench run NAME``)."""
    folder = _suites_dir()
    try:
        return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".toml"))
    except FileNotFoundError:
        return []


def suite_path(suite: str | Path) -> Path:
    """The file of a suite given by path, or by the name of a shipped suite."""
    path = Path(suite).expanduser()
    if path.is_file():
        return path.resolve()
    text = str(suite)
    names = shipped_suites()
    if text in names:
        return Path(str(_suites_dir() / f"{text}.toml"))
    if text.endswith(".toml") or "/" in text or path.suffix:
        raise SuiteError(f"suite file {text!r} does not exist. Shipped suites: {', '.join(names)}.")
    raise SuiteError(
        f"unknown suite {text!r}: not a file and not a shipped suite.{did_you_mean(text, names)} "
        f"Shipped suites: {', '.join(names)}."
    )


def load_suite(suite: str | Path, extra_plugins: Sequence[str | Path] = (), **limits: Any) -> Suite:
    """Read and validate a suite file given by path or shipped name; load its plugin files."""
    path = suite_path(suite)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"cannot read suite file {str(path)!r}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path.name}: not a text (UTF-8) TOML file: byte {exc.start} cannot be decoded") from None
    return parse_suite(text, path, extra_plugins, **limits)


# ---------------------------------------------------------------- validation helpers
def _file_root(filename: str) -> Where:
    """The root of a suite file's key paths: errors read ``quick.toml: methods[1].step_rule.lr: ...`` (SuiteError)."""
    return Where(file=filename, error=SuiteError)


def _check_keys(table: dict, valid: Sequence[str], where: Where) -> None:
    for key in table:
        if key not in valid:
            raise (where / key).unknown("key", key, valid, "Valid keys")


def _label_name(name: Any, where: Where) -> None:
    """A suite name is a label (used in file names after slugifying), never a path."""
    if not isinstance(name, str) or not name.strip():
        raise where.invalid("a non-empty string", name)
    bad = sorted({c for c in name if c in "/\\" or not c.isprintable()})
    if bad or name.strip(".") == "" or len(name) > MAX_NAME:
        raise where.error(
            f"the suite name is a label, not a path: at most {MAX_NAME} printable characters, no '/' or '\\', "
            f"not '.' or '..'; got {name[:60]!r}{'...' if len(name) > 60 else ''} (choose the folder with --out)"
        )


def _finite(value: Any, where: Where) -> None:
    """Parameter values from a suite are finite numbers (inf and nan are refused, also inside lists)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            _finite(item, where / i)
    elif isinstance(value, float) and not math.isfinite(value):
        raise where.invalid("a finite number", value)


def _check_size(count: int, max_cells: int | None, where: Where) -> None:
    if max_cells is not None and count > max_cells:
        raise where.error(f"this suite expands to about {count:,} cells, more than the limit of {max_cells:,}; "
                          f"split it, or pass --yes (max_cells=None) to run it anyway")


def _check_dim(dim: Any, max_cells: int | None, where: Where) -> None:
    if max_cells is not None and isinstance(dim, int) and dim > MAX_DIM:
        raise where.error(f"dim {dim:,} needs about {8 * dim / 2**30:.3g} GiB per vector, over the limit of "
                          f"dim {MAX_DIM:,}; pass --yes (max_cells=None) to run it anyway")


def _budget(table: Any, where: Where, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``[budget]`` table's keys over ``base`` (a problem's own budget over the suite's), as written in the file;
    their values are checked by the one budget parser, ``Budget.parse``."""
    if not isinstance(table, dict):
        raise where.invalid(f"a table with keys {', '.join(BUDGET_KEYS)}", table)
    _check_keys(table, BUDGET_KEYS, where)
    Budget.parse(table, where)
    return {**(base or {}), **table}


def _is_sequence_type(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_sequence_type(a) for a in get_args(annotation))
    return origin in (list, tuple, AbcSequence) or annotation in (list, tuple)


def _grid(name: str, params: dict[str, Any], reg: registry.Registry, where: Where) -> list[dict[str, Any]]:
    """Every combination of the parameter grids, each checked by ``reg.validate``."""
    try:
        known = reg.parameters(name, params)  # the torch method's options depend on its optimizer
    except ParameterError as exc:
        raise where.error(str(exc)) from None
    axes = []
    for key, value in params.items():
        if key not in known:
            listing = ", ".join(p.describe() for p in known.values()) or "(none)"
            raise (where / key).error(
                f"{reg.kind} {name!r} has no parameter {key!r}.{did_you_mean(key, list(known))} Valid parameters: {listing}."
            )
        _finite(value, where / key)
        takes_list = _is_sequence_type(known[key].annotation)
        if isinstance(value, list) and (not takes_list or (value and all(isinstance(v, list) for v in value))):
            if not value:
                raise (where / key).error("an empty list is an empty grid; give at least one value")
            axes.append([(key, v) for v in value])
        else:
            axes.append([(key, value)])
    combos = [dict(combo) for combo in itertools.product(*axes)]
    for combo in combos:
        try:
            reg.validate(name, combo)
        except ParameterError as exc:
            bad = next((key for key in combo if f"{key!r}" in str(exc)), None)
            raise (where / bad if bad else where).error(str(exc)) from None
    return combos


def _name(entry: Any, reg: registry.Registry, where: Where) -> str:
    if not isinstance(entry, dict):
        raise where.invalid("a table with a 'name' key", entry)
    if "name" not in entry:
        raise where.error(f"missing key 'name' (the {reg.kind}). Registered {reg.kind}s: {', '.join(reg.names())}.")
    name = entry["name"]
    if not isinstance(name, str):
        raise (where / "name").invalid("a string", name)
    if name not in reg:
        raise (where / "name").unknown(reg.kind, name, reg.names(), f"Registered {reg.kind}s")
    return name


def _create(reg: registry.Registry, spec: dict[str, Any], where: Where) -> Any:
    try:
        return registry.resolve(reg, spec)
    except (ParameterError, RegistryError) as exc:
        named = str(exc).startswith(f"{reg.kind} {spec['name']!r}")  # the registry's message names what it created
        raise where.error(str(exc) if named else f"{spec_label(spec)}: {exc}") from None
    except MemoryError:
        raise where.error(f"{spec_label(spec)}: creating it needs more memory than this machine has; "
                          f"use a smaller size") from None


def _step_rules(value: Any, where: Where) -> list[dict[str, Any]]:
    entries = value if isinstance(value, list) else [value]
    if not entries:
        raise where.error(f"an empty list of step rules. Registered step rules: {', '.join(registry.step_rules.names())}.")
    specs = []
    for i, entry in enumerate(entries):
        at = where / i if isinstance(value, list) else where
        if isinstance(entry, str):
            entry = {"name": entry}
        name = _name(entry, registry.step_rules, at)
        params = {k: v for k, v in entry.items() if k != "name"}
        specs += [{"name": name, **combo} for combo in _grid(name, params, registry.step_rules, at)]
    return specs


def _batch_sizes(value: Any, where: Where) -> list[int | None]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise where.error("an empty list of batch sizes; give integers >= 1 or \"full\"")
    sizes = []
    for i, size in enumerate(values):
        at = where / i if isinstance(value, list) else where
        if size == "full":
            sizes.append(None)
        elif isinstance(size, int) and not isinstance(size, bool) and size >= 1:
            sizes.append(size)
        else:
            raise at.invalid('an integer >= 1 or "full"', size)
    return sizes


# ---------------------------------------------------------------- the parser
def parse_suite(text: str, path: str | Path = "<suite>", extra_plugins: Sequence[str | Path] = (),
                max_cells: int | None = MAX_CELLS) -> Suite:
    """Validate the text of a suite file and expand it into cells (nothing runs).

    The steps: the TOML text, the header (name, description, seeds), the plugins,
    the budget, the problems, the methods, their product (the cells) and the
    tuning plan, each in its own function below.
    """
    path = Path(path)
    where = _file_root(path.name)
    data = _read_toml(text, where)
    name, description, seeds = _header(data, path, where)
    _report_table(data.get("report", {}), where / "report")
    plugins = _plugins(data.get("plugins", []), path, extra_plugins, where / "plugins")
    budget = _budget(data.get("budget", {}), where / "budget")
    problems = _problems(data.get("problems"), budget, max_cells, where / "problems")
    methods, tuned = _methods(data.get("methods"), where / "methods")
    _check_size(len(problems) * sum(len(rules) * len(sizes) for _, rules, sizes, _ in methods), max_cells, where)
    cells, instances, skipped = _product(problems, methods, name, seeds, plugins)
    plan = None
    if tuned or "tuning" in data:
        plan = _tuning_plan(data.get("tuning"), tuned, problems, seeds, plugins, name, cells, where)
        cells, left_out = _with_tuning_cells(plan, cells, instances)
        skipped += left_out
    if not cells:
        raise where.error("no cell can run: " + "; ".join(skipped) if skipped else "the suite has no cells")
    return Suite(name=name, description=description, path=str(path), text=text, seeds=seeds,
                 plugins=tuple(plugins), cells=tuple(cells), skipped=tuple(dict.fromkeys(skipped)),
                 groups=batch_groups_with(cells, instances), tuning=plan)


def _read_toml(text: str, where: Where) -> dict[str, Any]:
    """The suite file's TOML as a table whose top-level keys are all known."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise where.error(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise where.error("not a suite: arrays or tables are nested too deeply") from None
    _check_keys(data, TOP_KEYS, where)
    return data


def _report_table(table: Any, where: Where) -> str:
    """The ``[report]`` table's ``headline``: "leaderboard" (the default) or "profiles" (performance and data profiles first)."""
    if not isinstance(table, dict):
        raise where.invalid(f"a table with keys {', '.join(REPORT_KEYS)}", table)
    _check_keys(table, REPORT_KEYS, where)
    value = table.get("headline", REPORT_HEADLINES[0])
    if value not in REPORT_HEADLINES:
        raise (where / "headline").invalid(f"one of {', '.join(map(repr, REPORT_HEADLINES))}", value, REPORT_HEADLINES)
    return value


def report_headline(text: str | None) -> str:
    """The ``[report] headline`` of a suite file's text (as kept in the results' provenance); "leaderboard" without one.

    A text that is not a valid suite (or None: results run without a suite) gives the default.
    """
    try:
        return _report_table(tomllib.loads(text or "").get("report", {}), _file_root("suite"))
    except (tomllib.TOMLDecodeError, SuiteError):
        return REPORT_HEADLINES[0]


def _header(data: dict[str, Any], path: Path, where: Where) -> tuple[str, str, tuple[int, ...]]:
    """The suite's name (default: the file's stem), description and evaluation seeds."""
    name = data.get("name", path.stem)
    _label_name(name, where / "name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise (where / "description").invalid("a string", description)
    return name, description, tuple(check_seeds(data.get("seeds", 1), where / "seeds"))


def _plugins(value: Any, path: Path, extra_plugins: Sequence[str | Path], where: Where) -> list[str]:
    """Load the plugin files (relative to the suite file) and the extra ones; their absolute paths."""
    if not isinstance(value, list):
        raise where.invalid("an array of plugin file paths", value)
    plugins = []
    for i, plugin in enumerate(value):
        if not isinstance(plugin, str):
            raise (where / i).invalid("a file path", plugin)
        plugin_path = (path.parent / plugin).expanduser().resolve()
        try:
            load_plugin(plugin_path)
        except (FileNotFoundError, ValueError, ImportError, RegistryError) as exc:
            raise (where / i).error(str(exc)) from None
        plugins.append(str(plugin_path))
    for plugin in extra_plugins:
        plugin_path = str(Path(plugin).expanduser().resolve())
        if plugin_path not in plugins:
            load_plugin(plugin_path)
            plugins.append(plugin_path)
    return plugins


def _problems(entries: Any, budget: dict[str, Any], max_cells: int | None, where: Where) -> list[tuple]:
    """``(spec, instance, budget, where)`` per problem instance; created now (validates values, gives dim)."""
    if entries is None:
        raise where.error(
            f"missing: a suite needs at least one [[problems]] table. Registered problems: {', '.join(registry.problems.names())}."
        )
    if not isinstance(entries, list) or not entries:
        raise where.invalid("a non-empty array of tables ([[problems]])", entries)
    problems = []
    for i, entry in enumerate(entries):
        at = where / i
        problem_name = _name(entry, registry.problems, at)
        own_budget = _budget(entry["budget"], at / "budget", budget) if "budget" in entry else budget
        params = {k: v for k, v in entry.items() if k not in ("name", "budget")}
        for combo in _grid(problem_name, params, registry.problems, at):
            spec = {"name": problem_name, **combo}
            _check_dim(combo.get("dim"), max_cells, at / "dim")  # before the instance allocates its vectors
            problems.append((spec, _create(registry.problems, spec, at), own_budget, at))
    return problems


def _default_rules(cls: type) -> list[dict[str, Any] | None]:
    """A method's step rules when the suite names none: its default rule, or None when it takes none."""
    return [default_step_rule(cls)]


def _methods(entries: Any, where: Where) -> tuple[list[tuple], list[tuple]]:
    """``(method spec, step rule specs, batch sizes, where)`` per method setting, and the tuned entries.

    No [[methods]] table: every registered method that needs no argument, at its defaults.
    """
    if entries is None:
        defaults = [name for name in registry.methods.names()
                    if not any(p.required for p in registry.methods.parameters(name).values())]
        return [({"name": name}, _default_rules(registry.methods.get(name)), [None], where) for name in defaults], []
    if not isinstance(entries, list) or not entries:
        raise where.invalid("a non-empty array of tables ([[methods]])", entries)
    methods, tuned = [], []
    for i, entry in enumerate(entries):
        at = where / i
        method_name = _name(entry, registry.methods, at)
        params = {k: v for k, v in entry.items() if k not in ("name", "step_rule", "batch_size", "tune")}
        rules = _method_rules(method_name, entry, at)
        sizes = _batch_sizes(entry["batch_size"], at / "batch_size") if "batch_size" in entry else [None]
        specs = [{"name": method_name, **combo} for combo in _grid(method_name, params, registry.methods, at)]
        methods += [(spec, rules, sizes, at) for spec in specs]
        if "tune" in entry:
            tuned.append((specs, rules, sizes, entry["tune"], at))
    return methods, tuned


def _method_rules(method_name: str, entry: dict[str, Any], where: Where) -> list[dict[str, Any] | None]:
    """The step rules of one [[methods]] entry (``step_rule`` key, or the method's default)."""
    cls = registry.methods.get(method_name)
    given = entry.get("step_rule")
    reason = "step_rule" in entry and step_rule_incompatibility(cls, given[0] if isinstance(given, list) and given else given)
    if reason:
        raise (where / "step_rule").error(reason)
    if "step_rule" in entry:
        return _step_rules(entry["step_rule"], where / "step_rule")
    return _default_rules(cls)


def _product(problems: list[tuple], methods: list[tuple], name: str, seeds: tuple[int, ...],
             plugins: list[str]) -> tuple[list[Cell], dict[str, tuple[Any, Any]], list[str]]:
    """The cells of problems x methods x step rules x batch sizes that can run, their method and rule
    instances by key (for batch grouping), and a line for each combination left out."""
    cells: list[Cell] = []
    skipped: list[str] = []
    instances: dict[str, tuple[Any, Any]] = {}
    for problem_spec, problem, problem_budget, problem_at in problems:
        run_budget = _run_budget(problem_budget, problem, problem_spec, problem_at)
        for method_spec, rules, sizes, method_at in methods:
            method = _create(registry.methods, method_spec, method_at)
            for size in dict.fromkeys(sizes if problem.n_samples is not None else [None]):
                if size is not None and size > problem.n_samples:
                    raise (method_at / "batch_size").error(
                        f"batch size {size} exceeds n_samples={problem.n_samples} of {spec_label(problem_spec)}"
                    )
                for rule_spec in rules:
                    rule = None if rule_spec is None else _create(registry.step_rules, rule_spec, method_at / "step_rule")
                    reason = incompatibility(problem, method, rule, size)  # the engine decides what can run
                    if reason:
                        skipped.append(f"{spec_label(rule_spec) if rule_spec else spec_label(method_spec)} left out on "
                                       f"{spec_label(problem_spec)}: {reason}")
                        continue
                    cell = cell_description(problem, method, rule, size)
                    cell["suite"] = name
                    key = cell_key(cell, seeds, run_budget)
                    if key in instances:
                        continue  # the same cell named twice runs once
                    instances[key] = (method, rule)
                    cells.append(Cell(
                        key=key, index=len(cells), suite=name, problem=problem_spec, method=method_spec,
                        step_rule=rule_spec, batch_size=size, seeds=seeds, plugins=tuple(plugins),
                        description=cell, **run_budget,
                    ))
    return cells, instances, skipped


def _with_tuning_cells(plan: Any, cells: list[Cell], instances: dict[str, tuple[Any, Any]]) -> tuple[list[Cell], list[str]]:
    """The untuned cells plus the tuning plan's first cells (a default setting replaces the untuned
    cell that runs the same effective parameters), renumbered; and the lines of what was left out."""
    more, left_out = tuning_plan.first_cells(plan, len(cells))
    defaults = {tuning_plan.setting_key(c) for c in more if c.description["phase"] == "evaluation"}
    kept = [c for c in cells if tuning_plan.setting_key(c) not in defaults] + more
    instances.update((cell.key, instances_of(cell)) for cell in more)
    return [dataclasses.replace(c, index=i) for i, c in enumerate(kept)], left_out


def _tuning_plan(table, tuned, problems, seeds, plugins, name, cells, where: Where):
    """The tuning plan (optbench.tuning); a wrong key is an error naming its path."""
    if not tuned:
        raise (where / "tuning").error("a [tuning] block needs at least one [[methods]] entry with a 'tune' table, "
                                       "e.g. tune = { \"step_rule.lr\" = { log_uniform = [1e-5, 1.0] } }")
    budgets = [(spec, problem, _run_budget(budget, problem, spec, at)) for spec, problem, budget, at in problems]
    return tuning_plan.plan_suite(table, tuned, budgets, seeds, plugins, name, {tuning_plan.setting_key(c) for c in cells},
                                  where / "tuning")


def _run_budget(budget: dict[str, Any], problem: Any, spec: dict[str, Any], where: Where) -> dict[str, Any]:
    """The budget of a problem's cells as ``optbench.run`` arguments (epochs only for finite sums)."""
    epochs = budget.get("epochs") if problem.n_samples is not None else None
    max_iter = budget.get("max_iter")
    max_evals = budget.get("max_evals")
    tol = budget.get("tol")
    if max_iter is None and max_evals is None and epochs is None and tol is None:
        if "epochs" in budget:
            raise (where / "budget").error(
                f"{spec_label(spec)} is not a finite sum, so 'epochs' does not apply to it; give it max_iter or max_evals "
                f"(a [problems.budget] table overrides the suite's budget)"
            )
        max_iter = DEFAULT_MAX_ITER
    reason = budget_incompatibility(problem, epochs, tol if isinstance(tol, dict) else None)  # the engine's rule
    if reason:
        raise (where / "budget" / "tol").error(f"{spec_label(spec)}: {reason}")
    return {
        "max_iter": max_iter, "max_evals": max_evals, "max_epochs": epochs, "tol": tol,
        "record": budget.get("record", "log"), "timeout": budget.get("timeout"),
    }
