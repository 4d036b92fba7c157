"""The budget of a run: when it stops (iterations, evaluations, epochs, seconds, tolerances) and what it records.

``Budget.parse(mapping, where)`` is the one parser of budgets, tolerances and
record modes: ``ob.run``/``ob.tune`` arguments and a suite file's ``[budget]``
tables go through it, so a wrong value reads the same from every entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from optbench.constraints import Interval, Where, check_record, check_tol

__all__ = ["Budget", "MAX_TIMEOUT", "BUDGET_RULES"]

MAX_TIMEOUT = 31 * 24 * 3600.0  # seconds: a cell's timeout beyond a month is a mistake

# what each limit accepts (None, or a key left out, means unlimited)
BUDGET_RULES = {
    "max_iter": [Interval("int", 0, None)],
    "max_evals": [Interval("int", 1, None)],
    "max_epochs": [Interval("real", 0, None, closed="neither")],
    "timeout": [Interval("real", 0, MAX_TIMEOUT, closed="right")],
}
EPOCHS_SPELLINGS = ("max_epochs", "epochs")  # ob.run says max_epochs, a suite file says epochs


@dataclass(frozen=True)
class Budget:
    """When runs stop: iterations, evaluations (f + gradient calls), epochs, seconds, tolerances; and what is recorded."""

    max_iter: int | None = 1000
    max_evals: int | None = None
    max_epochs: float | None = None
    timeout: float | None = None
    tol: dict[str, float] = field(default_factory=dict)
    record: str | int = "log"

    @classmethod
    def parse(cls, mapping: Mapping[str, Any], where: Where | None = None) -> "Budget":
        """A Budget from ``max_iter``, ``max_evals``, ``max_epochs`` (or ``epochs``), ``timeout``, ``tol``, ``record``.

        A key left out or None is unlimited (``record``: ``"log"``). ``where``: the table
        the keys belong to (the root for ``ob.run`` arguments); every wrong value raises
        ``where``'s error naming its key: ``max_iter must be an integer >= 0, got -1``.
        Keys the mapping may not hold are the caller's to refuse.
        """
        where = where or Where()
        values: dict[str, Any] = {}
        for key, rule in BUDGET_RULES.items():
            spellings = EPOCHS_SPELLINGS if key == "max_epochs" else (key,)
            for spelling in spellings:
                if mapping.get(spelling) is not None:
                    values[key] = (where / spelling).check(mapping[spelling], rule)
        ints = {key: int(values[key]) for key in ("max_iter", "max_evals") if key in values}
        record = mapping.get("record")
        return cls(max_iter=ints.get("max_iter"), max_evals=ints.get("max_evals"), max_epochs=values.get("max_epochs"),
                   timeout=values.get("timeout"), tol=check_tol(mapping.get("tol"), where / "tol"),
                   record="log" if record is None else check_record(record, where / "record"))

    def unlimited(self) -> bool:
        """Whether nothing stops the runs (no iteration, evaluation, epoch, time or tolerance limit)."""
        return (self.max_iter is None and self.max_evals is None and self.max_epochs is None and not self.tol
                and self.timeout is None)
