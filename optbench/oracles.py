"""Oracle rules: a method or step rule that uses the problem's known optimum f_opt (``requires = ("f_opt",)``).

Polyak's step ``(f - f_opt) / ||g||^2`` is the example: it uses knowledge a real
user does not have, so every table and legend marks such a solver with
``ORACLE_MARK`` and a report does not crown one "best overall" unless asked.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from optbench.engine.cell import requirements
from optbench.registry import methods, step_rules

__all__ = ["ORACLE_MARK", "oracle_solvers", "mark"]

ORACLE_MARK = " [oracle: uses f_opt]"


def _needs_f_opt(registry: Any, name: Any, params: Any) -> bool:
    if not isinstance(name, str) or not name or name not in registry:
        return False
    try:
        values = json.loads(params) if isinstance(params, str) and params else {}
        return "f_opt" in requirements(registry.create(name, **values))
    except Exception:  # noqa: BLE001 -- a rule that cannot be rebuilt here is not known to be an oracle
        return False


def oracle_solvers(runs: pd.DataFrame) -> frozenset[str]:
    """Solvers (labels of a prepared runs table) whose method or step rule, as configured, requires f_opt."""
    columns = [c for c in ("solver", "method", "method_params", "step_rule", "step_params") if c in runs]
    if "solver" not in columns:
        return frozenset()
    found = set()
    for row in runs[columns].astype(object).drop_duplicates().itertuples(index=False):
        row = row._asdict()
        if (_needs_f_opt(step_rules, row.get("step_rule"), row.get("step_params"))
                or _needs_f_opt(methods, row.get("method"), row.get("method_params"))):
            found.add(row["solver"])
    return frozenset(found)


def mark(frame: pd.DataFrame, oracles: frozenset[str], column: str = "solver") -> pd.DataFrame:
    """A copy of ``frame`` whose ``column`` text carries ``ORACLE_MARK`` for the oracle solvers (for display)."""
    if not oracles or column not in frame:
        return frame
    frame = frame.copy()
    frame[column] = [f"{s}{ORACLE_MARK}" if s in oracles else s for s in frame[column].astype(object)]
    return frame
