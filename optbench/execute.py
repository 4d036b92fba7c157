"""Former home of the executors, kept so that ``from optbench.execute import run_suite`` still works.

The code lives in ``optbench.worker`` (runs one unit), ``optbench.executors``
(serial, processes, Dask) and ``optbench.driver`` (the suite driver: stacks,
resume, progress, writing).
"""

from __future__ import annotations

from optbench.driver import Interrupted, SuiteResult, run_suite, size_estimate, stacks_of
from optbench.executors import EXECUTORS, ExecutorLost
from optbench.worker import failed_cell, hard_deadline, run_cell, run_unit

__all__ = ["EXECUTORS", "run_cell", "run_unit", "run_suite", "SuiteResult", "hard_deadline", "failed_cell",
           "Interrupted", "ExecutorLost", "size_estimate", "stacks_of"]
