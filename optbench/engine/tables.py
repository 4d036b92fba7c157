"""Compatibility name for :mod:`optbench.schema` (the tables' field dictionary and builders moved there).

Import from ``optbench.schema``; this module goes once no module imports it.
"""

from optbench.schema import (  # noqa: F401
    DTYPES, FAILED_STATUSES, HIT_COLUMNS, KEY_COLUMNS, RUN_COLUMNS, STATUSES, TRACE_COLUMNS, CellTables, build,
    empty_table, failed_runs, key_frame, target_ladder, with_phase,
)

__all__ = ["STATUSES", "FAILED_STATUSES", "KEY_COLUMNS", "RUN_COLUMNS", "TRACE_COLUMNS", "HIT_COLUMNS", "DTYPES",
           "CellTables", "key_frame", "empty_table", "failed_runs", "build", "target_ladder", "with_phase"]
