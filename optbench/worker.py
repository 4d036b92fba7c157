"""The worker: runs one unit of a suite (a stack of cells) and returns each cell's tables.

A *unit* is a tuple of cells that run together: a *stack*, the cells of a suite
that share a problem instance, seeds, budget and batch size (``optbench.engine.stack``
runs them as one array). ``run_unit(cells)`` gives each cell's tables; whichever
executor calls it (``optbench.executors``), a cell gives the same numbers: its
random streams come from its key and seeds.

The hard deadline of a cell is ``timeout + 1 s + timeout / 4`` (a unit's: the sum
over its cells): ``optbench.run`` itself stops a loop still iterating at
``timeout`` (status ``timeout`` with the iterates reached), and the kill is for
code that hangs.

``python -m optbench.worker UNIT.pickle RESULT.pickle STARTED PARENT_PID`` runs one
unit in a fresh process (the executors' child processes); it dies with its parent
(Linux ``PR_SET_PDEATHSIG`` and a watchdog thread polling the parent PID).
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from optbench import schema as _tables
from optbench.engine.result import RunResult
from optbench.engine.run import run, run_group
from optbench.schema import CellTables
from optbench.registry import load_plugin

if TYPE_CHECKING:
    from optbench.cells import Cell

__all__ = ["run_cell", "run_unit", "preload", "failed_cell", "hard_deadline", "unit_deadline", "die_with_parent",
           "unit_failed", "Unit", "Finished"]

Unit = tuple["Cell", ...]
Finished = tuple["Cell", CellTables]
_loaded_plugins: set[str] = set()  # plugin files already imported in this process

def hard_deadline(timeout: float | None) -> float | None:
    """Seconds after which a cell with ``timeout`` is killed: ``timeout + 1 + timeout / 4``."""
    return None if timeout is None else timeout + 1.0 + 0.25 * timeout


def unit_deadline(unit: Sequence[Cell]) -> float | None:
    """The sum of the hard deadlines of the unit's cells (None if one has no timeout)."""
    limits = [hard_deadline(cell.timeout) for cell in unit]
    return None if any(limit is None for limit in limits) else float(sum(limits))



# ---------------------------------------------------------------- dying with the parent
def die_with_parent(parent: int, cleanup: Callable[[], None] | None = None) -> None:
    """End this process when ``parent`` ends: ``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread.

    ``cleanup`` runs first (e.g. removing a temporary folder) when the watchdog sees the parent gone.
    """
    def leave(*_):
        if cleanup is not None:
            cleanup()
        os._exit(1)

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            deathsig = signal.SIGKILL if cleanup is None else signal.SIGTERM
            if cleanup is not None:
                signal.signal(signal.SIGTERM, leave)
            ctypes.CDLL(None, use_errno=True).prctl(1, int(deathsig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError, ValueError):
            pass
    if os.getppid() != parent:  # the parent died before we could ask
        leave()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        leave()

    threading.Thread(target=watch, name="optbench-parent-watch", daemon=True).start()



# ---------------------------------------------------------------- one cell, one unit
def failed_cell(cell: Cell, status: str, message: str) -> CellTables:
    """The tables of a cell that produced no result: one row per seed with ``status`` and ``message``."""
    description = dict(cell.description)
    return CellTables(_tables.failed_runs(description, cell.seeds, status, message),
                      _tables.empty_table("trace", description), _tables.empty_table("hits", description))


def _load_plugins(paths: Sequence[str]) -> None:
    for path in paths:
        if path not in _loaded_plugins:
            load_plugin(path)
            _loaded_plugins.add(path)


def preload() -> None:
    """Import what building a unit's tables needs, so that a unit's deadline does not count it: pyarrow, and
    pandas (the tables of a failed cell). Called by timed workers only; a serial suite without a
    timeout imports no pandas before its first result."""
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401


def _error_message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def _cell_tables(result: RunResult, cell: Cell) -> CellTables:
    """A cell's tables as Arrow tables (no pandas on the run path); a tuned cell's relabelled with its phase."""
    if cell.description.get("phase"):
        return _tables.with_phase(result.arrow_tables(), cell.description)
    return result.arrow_tables()


def run_cell(cell: Cell) -> CellTables:
    """Run one cell; a failure inside it (an exception, ``SystemExit``, a bad table) is status ``error``."""
    try:
        _load_plugins(cell.plugins)
        tables = _cell_tables(run(**cell.run_kwargs()), cell)
        pickle.dumps(tables)  # a table that cannot travel back to the driver fails here, in its cell
        return tables
    except (Exception, SystemExit) as exc:  # noqa: BLE001 -- a failing cell must not stop the suite
        return failed_cell(cell, "error", _error_message(exc))


def run_unit(cells: Sequence[Cell]) -> list[Finished]:
    """Run the cells of one unit (a stack) as one array: ``[(cell, CellTables), ...]`` in the unit's order.

    If the group fails as a whole, its cells are run one by one, so that a failure
    is recorded in the cell that caused it and the others still finish.
    """
    if len(cells) == 1:
        return [(cells[0], run_cell(cells[0]))]
    try:
        _load_plugins(cells[0].plugins)
        results = run_group([cell.run_kwargs() for cell in cells])
        finished = [(cell, _cell_tables(result, cell)) for cell, result in zip(cells, results)]
        pickle.dumps(finished)
        return finished
    except (Exception, SystemExit):  # noqa: BLE001 -- isolate the failure: one cell at a time
        return [(cell, run_cell(cell)) for cell in cells]


def _timeout_message(cell: Cell) -> str:
    return f"cell exceeded its timeout of {cell.timeout:g} s and was stopped after {hard_deadline(cell.timeout):g} s"


def unit_failed(unit: Sequence[Cell], status: str, message: str | None = None) -> list[Finished]:
    return [(cell, failed_cell(cell, status, message or _timeout_message(cell))) for cell in unit]



def _subprocess_main(argv: list[str]) -> int:
    """``python -m optbench.worker UNIT.pickle RESULT.pickle STARTED PARENT_PID``: run one unit in a fresh process."""
    source, target = Path(argv[0]), Path(argv[1])
    if len(argv) > 3:
        die_with_parent(int(argv[3]), cleanup=lambda: shutil.rmtree(source.parent, ignore_errors=True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    unit = pickle.loads(source.read_bytes())
    for cell in unit:
        _load_plugins(cell.plugins)
    if len(argv) > 2:
        preload()
        Path(argv[2]).touch()  # imports done: the unit's clock starts now
    output = run_unit(unit)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(pickle.dumps(output))
    os.replace(temporary, target)
    return 0



if __name__ == "__main__":
    sys.exit(_subprocess_main(sys.argv[1:]))
