"""The cell and suite model: what a parsed suite is, apart from the TOML that described it.

A :class:`Cell` is one problem instance x method x step rule x batch size with all
its seeds; its ``key`` identifies it on disk (:func:`cell_key`). A :class:`Suite` is
the validated list of cells in file order, with its batch groups (cells that differ
only in batchable parameters run as one array). ``optbench.suite`` parses suite
files into this model; the driver, the tuning plan and the store read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from optbench import registry
from optbench.schema import with_params
from optbench.seeding import canonical, key_hash

__all__ = ["Cell", "Suite", "cell_key", "batch_groups_of", "batch_groups_with", "instances_of", "spec_label"]


@dataclass(frozen=True)
class Cell:
    """One unit of work: one problem instance x method x step rule x batch size, all seeds batched.

    ``key`` identifies the cell on disk: a hash of its canonical description
    (problem, method, step rule and their parameters, batch size) together with
    the suite name, seeds, budget, tolerance and record mode. The timeout and
    plugin paths are not part of it: they decide how a cell runs, not what it is.
    """

    key: str
    index: int
    suite: str
    problem: dict[str, Any]
    method: dict[str, Any]
    step_rule: dict[str, Any] | None
    batch_size: int | None
    seeds: tuple[int, ...]
    max_iter: int | None
    max_evals: int | None
    max_epochs: float | None
    tol: Any
    record: str | int
    timeout: float | None
    plugins: tuple[str, ...]
    description: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        step = "-" if self.step_rule is None else spec_label(self.step_rule)
        batch = "" if self.batch_size is None else f" batch {self.batch_size}"
        return f"{spec_label(self.problem)} x {spec_label(self.method)} x {step}{batch}"

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``optbench.run`` for this cell."""
        return {
            "problem": dict(self.problem),
            "method": dict(self.method),
            "step_rule": None if self.step_rule is None else dict(self.step_rule),
            "seeds": list(self.seeds),
            "max_iter": self.max_iter,
            "max_evals": self.max_evals,
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
            "tol": self.tol,
            "record": self.record,
            "timeout": self.timeout,
            "suite": self.suite,
        }


@dataclass(frozen=True)
class Suite:
    """A validated suite: its name, source file and text, and its cells in file order."""

    name: str
    description: str
    path: str
    text: str
    seeds: tuple[int, ...]
    plugins: tuple[str, ...]
    cells: tuple[Cell, ...]
    skipped: tuple[str, ...] = ()  # combinations that cannot run, left out with the reason
    # batch groups: cells that differ only in batchable parameters run as one array (execution only;
    # storage, keys and resume stay per cell)
    groups: tuple[tuple[Cell, ...], ...] = ()
    tuning: Any = None  # an optbench.tuning_plan.Plan when the suite tunes (its evaluation cells come after its trials)

    def __len__(self) -> int:
        return len(self.cells)


def spec_label(spec: dict[str, Any]) -> str:
    """A problem, method or step-rule spec as labels show it (:func:`optbench.schema.with_params`)."""
    return with_params(spec["name"], {k: v for k, v in spec.items() if k != "name"})


def cell_key(description: dict[str, Any], seeds: Sequence[int], run_budget: dict[str, Any]) -> str:
    """A cell's key on disk: a hash of its description, seeds, budget, tolerance and record mode."""
    return key_hash(canonical({
        "description": description, "seeds": list(seeds),
        **{k: run_budget[k] for k in ("max_iter", "max_evals", "max_epochs", "tol", "record")},
    }))


def instances_of(cell: Cell) -> tuple[Any, Any]:
    """The method and step-rule instances of a cell (for batch grouping)."""
    method = registry.resolve(registry.methods, dict(cell.method))
    return method, None if cell.step_rule is None else registry.resolve(registry.step_rules, dict(cell.step_rule))


def batch_groups_of(cells: Sequence[Cell]) -> tuple[tuple[Cell, ...], ...]:
    """The batch groups of any list of cells (as :func:`parse_suite` forms ``suite.groups``)."""
    return batch_groups_with(list(cells), {cell.key: instances_of(cell) for cell in cells})


def batch_groups_with(cells: list[Cell], instances: dict[str, tuple[Any, Any]]) -> tuple[tuple[Cell, ...], ...]:
    """Cells that share problem, batch size, seeds and budget, and differ only in batchable parameters (the engine decides)."""
    from optbench.engine.sweep import batch_groups

    buckets: dict[str, list[Cell]] = {}
    for cell in cells:
        shared = {k: v for k, v in cell.run_kwargs().items() if k not in ("method", "step_rule")}
        buckets.setdefault(canonical([shared, list(cell.plugins)]), []).append(cell)
    groups = []
    for bucket in buckets.values():
        for indices in batch_groups([instances[cell.key] for cell in bucket]):
            groups.append(tuple(bucket[i] for i in indices))
    return tuple(sorted(groups, key=lambda group: group[0].index))
