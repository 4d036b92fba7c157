"""The suite driver: forms the units (stacks) of a suite, skips finished ones, runs the rest, writes each once.

``run_suite`` runs every cell of a suite through an executor (``optbench.executors``)
and stores each finished unit with one atomic write (``Store.write_stack``); a
resumed run skips the units whose cells are all finished and sound (resume works
at unit granularity: a unit is done or not). The driver turns SIGTERM/SIGHUP into
an interruption that stops its children.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from optbench.schema import FAILED_STATUSES, CellTables
from optbench.errors import ParameterError
from optbench.executors import EXECUTOR_FUNCTIONS, EXECUTORS, ExecutorLost, connect_scheduler
from optbench.registry import load_plugin
from optbench.errors import did_you_mean
from optbench.store import FolderLock, Store, concat_frames, prepare_folder, provenance
from optbench import tuning, tuning_plan
from optbench.cells import Cell, Suite, batch_groups_of
from optbench.suite import load_suite
from optbench.worker import Finished, Unit

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_suite", "SuiteResult", "Interrupted", "size_estimate", "stacks_of"]


class Interrupted(KeyboardInterrupt):
    """The driver got SIGINT, SIGTERM or SIGHUP; ``signum`` says which (exit status 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def _signals_interrupt():
    """In the main thread, SIGTERM and SIGHUP raise :class:`Interrupted` (so children are stopped)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# ---------------------------------------------------------------- sizes
def size_estimate(suite: Suite) -> dict[str, float]:
    """Rough sizes of a suite before it runs: cells, bytes of the largest cell's arrays, stored rows.

    A cell holds about ``12 * n_runs * dim`` float64 numbers at once (iterate, gradient,
    direction, method state, line-search trials); the trace stores about 60 rows per
    run with ``record = "log"`` (``max_iter + 1`` with ``"all"``).
    """
    largest, rows = 0.0, 0.0
    for cell in suite.cells:
        n_runs = len(cell.seeds)
        largest = max(largest, 12.0 * 8.0 * n_runs * float(cell.description.get("dim") or 1))
        per_run = (cell.max_iter or 1000) + 1 if cell.record == "all" else 60
        rows += n_runs * (1 + per_run)
    return {"cells": len(suite.cells), "cell_bytes": largest, "rows": rows}


# ---------------------------------------------------------------- the driver
REACHED = 1e-6  # the final gap the run summary counts as "reached the target" (the report's default target)


@dataclass
class SuiteResult:
    """What ``run_suite`` returns: the consolidated tables and what happened."""

    suite: Suite
    runs: pd.DataFrame
    trace: pd.DataFrame
    out: Path | None
    cells_run: int = 0
    cells_skipped: int = 0
    cells_failed: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    hits: pd.DataFrame | None = None
    damaged: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: cells, runs per status (converged: optbench's tolerance met; stopped: the method's own
        criterion), and apart from the statuses how many runs ended at f - f_opt <= REACHED (known f_opt only)."""
        import pandas as pd

        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.status_counts.items()))
        gap = pd.to_numeric(self.runs["f_gap"], errors="coerce") if len(self.runs) else pd.Series(dtype=float)
        known = int(gap.notna().sum())
        reached = f"; reached the target f - f_opt <= {REACHED:g}: {int((gap <= REACHED).sum())} of {known}" if known else ""
        return (
            f"suite {self.suite.name!r}: {len(self.suite.cells)} cells ({self.cells_run} run, {self.cells_skipped} "
            f"already done, {self.cells_failed} failed); runs: {counts or 'none'}{reached}; {self.elapsed:.1f} s"
        )


def stacks_of(suite: Suite) -> list[Unit]:
    """The suite's stacks, in suite order: cells that share a problem instance, seeds, budget, batch size and plugins.

    A stack is the unit of execution (one array, ``optbench.engine.stack``), of
    writing (one file) and of resume (done or not). Cells with a ``timeout`` are
    not stacked across batch groups: each batch group is its own unit, so that a
    hung plugin is killed alone and the other cells still finish.
    """
    from optbench.seeding import canonical

    groups = getattr(suite, "groups", None) or [(cell,) for cell in suite.cells]
    buckets: dict[str, list[Cell]] = {}
    for number, group in enumerate(groups):
        cell = group[0]
        shared = {k: v for k, v in cell.run_kwargs().items() if k not in ("method", "step_rule")}
        name = canonical([shared, list(cell.plugins)]) if cell.timeout is None else f"group {number}"
        buckets.setdefault(name, []).extend(group)
    return sorted((tuple(cells) for cells in buckets.values()), key=lambda unit: min(cell.index for cell in unit))


def stack_key(unit: Sequence[Cell]) -> str:
    """The name of a stack on disk: a hash of its cells' keys."""
    from optbench.seeding import canonical, key_hash

    return key_hash(canonical([cell.key for cell in unit]))


def _check_arguments(executor: str, jobs: int | None, scheduler: str | None) -> None:
    if executor not in EXECUTORS:
        raise ParameterError(f"unknown executor {executor!r}.{did_you_mean(str(executor), list(EXECUTORS))} Valid executors: {', '.join(EXECUTORS)}.")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise ParameterError(f"jobs must be a positive integer, got {jobs!r}")
    if scheduler is not None and executor != "dask":
        raise ParameterError(f"a scheduler address applies to the dask executor only, not {executor!r}")


def run_suite(
    suite: Suite | str | Path,
    out: str | Path | None = None,
    executor: str = "serial",
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    plugins: Sequence[str | Path] = (),
    progress: bool | None = None,
    command: list[str] | None = None,
    wait: bool = False,
    worker_timeout: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> SuiteResult:
    """Run every cell of ``suite`` and return the consolidated ``runs``, ``trace`` and ``hits`` tables.

    ``suite``: a :class:`~optbench.suite.Suite`, a suite file, or a shipped suite's
    name. ``out``: directory for results (three Parquet files per finished cell,
    then ``runs.parquet``, ``trace.parquet``, ``hits.parquet``, ``provenance.json``);
    a sound finished cell there is skipped unless ``force`` (cells that ended in
    ``error`` or ``timeout``, and damaged cells, run again). ``out=None`` keeps
    results in memory only. The folder is locked while the suite runs: another run
    on it raises :class:`~optbench.store.StoreError` naming its PID, or waits (``wait``).
    ``executor``: ``serial``, ``processes`` (``jobs`` workers, default all cores)
    or ``dask`` (``scheduler`` address, or a LocalCluster with ``jobs`` workers;
    ``worker_timeout``: seconds to wait for a worker, default forever).
    ``progress``: a progress bar on stderr (default: only when stderr is a terminal).
    ``notify``: where notes go (damaged cells, waiting), default stderr.
    """
    _check_arguments(executor, jobs, scheduler)
    if not isinstance(suite, Suite):
        suite = load_suite(suite, plugins)
    elif plugins:
        for path in plugins:
            load_plugin(path)
    if getattr(suite, "tuning", None) is not None:  # trials first, then the selected settings (optbench/tuning.py)
        return run_tuned_suite(suite, out, executor, jobs=jobs, scheduler=scheduler, force=force, progress=progress,
                               command=command, wait=wait, worker_timeout=worker_timeout, notify=notify)
    notify = notify or (lambda text: print(text, file=sys.stderr, flush=True))
    options = {"scheduler": scheduler, "worker_timeout": worker_timeout, "notify": notify}
    if executor == "dask" and scheduler:  # an unreachable scheduler is an error before anything is written
        options["client"] = connect_scheduler(scheduler)
    started = time.perf_counter()
    with _signals_interrupt():
        if out is None:
            return _run_in_memory(suite, executor, jobs or os.cpu_count() or 1, options, progress, started)
        prepare_folder(out)
        with FolderLock(out, wait=wait, notify=notify):
            return _run_stored(suite, Store(out), executor, jobs or os.cpu_count() or 1, options, force, progress,
                               command, started)


def _progress_bar(total: int, suite: Suite, progress: bool | None):
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, desc=suite.name, unit="cell", disable=not show, file=sys.stderr)


def _execute(units: list[Unit], executor: str, jobs: int, options: dict[str, Any], bar, keep) -> int:
    """Run ``units``, passing each finished unit's ``[(cell, tables), ...]`` to ``keep``; the number of failed cells."""
    failed = 0
    # closing(): on Ctrl-C the executor stops its workers at once; finished units are already kept
    with closing(EXECUTOR_FUNCTIONS[executor](units, jobs, options)) as finished_units:
        for finished in finished_units:
            keep(finished)
            failed += sum(any(status in FAILED_STATUSES for status in _statuses(tables.runs)) for _, tables in finished)
            if failed:
                bar.set_postfix(failed=failed)
            bar.update(len(finished))
    return failed


def _statuses(runs: Any) -> list[str]:
    """The status column of a runs table (Arrow or pandas)."""
    return runs.column("status").to_pylist() if hasattr(runs, "column") else runs["status"].tolist()


def _run_in_memory(suite, executor, jobs, options, progress, started) -> SuiteResult:
    memory: dict[str, CellTables] = {}
    keys = [cell.key for cell in suite.cells]

    def keep(finished: list[Finished]) -> None:
        memory.update((cell.key, tables) for cell, tables in finished)

    with _progress_bar(len(keys), suite, progress) as bar:
        failed = _execute(stacks_of(suite), executor, jobs, options, bar, keep)
    frames = [concat_frames([memory[key][i] for key in keys]) for i in range(3)]
    return _result(suite, CellTables(*frames), None, len(keys), 0, failed, started, {})


def _todo(suite: Suite, store: Store, force: bool, notify) -> tuple[list[Unit], int, dict[str, str]]:
    """The stacks to run (those with a cell not finished, damaged or failed), cells skipped, damaged cells."""
    stacks = stacks_of(suite)
    if force:
        return stacks, 0, {}
    done, damaged = store.scan({cell.key: len(cell.seeds) for cell in suite.cells})
    for name, why in store.broken.items():
        notify(f"note: stack file {name} is damaged: {why}; its cells run again")
    for cell in suite.cells:
        if cell.key in damaged:
            notify(f"note: cell {cell.label} ({cell.key}) is damaged: {damaged[cell.key]}; running its stack again")
    todo = [unit for unit in stacks if not all(cell.key in done for cell in unit)]
    return todo, len(suite.cells) - sum(len(unit) for unit in todo), damaged


def _run_stored(suite, store, executor, jobs, options, force, progress, command, started) -> SuiteResult:
    meta = {**provenance(suite.path, suite.text, command), "suite": suite.name, "executor": executor}
    store.recover()
    store.clean_temporaries()
    todo, skipped, damaged = _todo(suite, store, force, options["notify"])
    fresh: dict[str, CellTables] = {}  # consolidated from memory, not read back from disk

    def keep(finished: list[Finished]) -> None:
        cells = {cell.key: (tables, cell.description) for cell, tables in finished}
        store.write_stack(stack_key([cell for cell, _ in finished]), cells, meta)
        fresh.update((key, tables) for key, (tables, _) in cells.items())

    lost = None
    n_todo = sum(len(unit) for unit in todo)
    with _progress_bar(n_todo, suite, progress) as bar:
        try:
            failed = _execute(todo, executor, jobs, options, bar, keep)
        except ExecutorLost as exc:
            lost, failed = exc, 0
    tables = store.consolidate_tables([cell.key for cell in suite.cells], meta, fresh=fresh)
    if lost is not None:
        raise lost
    return _result(suite, tables, store.out, n_todo, skipped, failed, started, damaged)


def _result(suite, tables: CellTables, out, run, skipped, failed, started, damaged) -> SuiteResult:
    runs = tables.runs
    counts = {str(k): int(v) for k, v in runs["status"].value_counts().items()} if len(runs) else {}
    return SuiteResult(suite=suite, runs=runs, trace=tables.trace, hits=tables.hits, out=out, cells_run=run,
                       cells_skipped=skipped, cells_failed=failed, status_counts=counts,
                       elapsed=time.perf_counter() - started, damaged=damaged)


def run_tuned_suite(suite: Any, out: Any, executor: str, **options: Any) -> Any:
    """Run a tuned suite in two phases: trials (and defaults), then the selected settings; one :class:`SuiteResult`.

    Phase one is the suite's own cells; phase two's cells depend on its results.
    Both are ordinary cells in ``out``, so an interrupted suite resumes in either.
    """
    started = time.perf_counter()
    plan = suite.tuning
    first = run_suite(dataclasses.replace(suite, tuning=None), out, executor, **options)
    chosen = tuning.selection(plan, first.runs, first.trace, first.hits)
    extra = tuning_plan.second_cells(plan, chosen, len(suite.cells))
    stored = tuning_plan.stored_protocol(plan, chosen)
    if not extra:  # every selected setting is the default (or an untuned cell): nothing more to run
        full = _with_cells(suite, list(suite.cells))
        if out is not None:  # the results carry the protocol
            _consolidated(full, out, options.get("command"), executor, stored)
        return dataclasses.replace(first, suite=full)
    second = run_suite(_with_cells(suite, extra), out, executor, **{**options, "force": False})
    full = _with_cells(suite, list(suite.cells) + extra)
    tables = _combined(full, first, second, out, options.get("command"), executor, stored)
    return _merged(full, first, second, tables, started)


def _with_cells(suite: Any, cells: list[Any]) -> Any:
    """``suite`` with these cells (grouped into batch groups as a parsed suite is), untuned."""
    return dataclasses.replace(suite, cells=tuple(cells), groups=batch_groups_of(cells), tuning=None)


def _combined(full: Any, first: Any, second: Any, out: Any, command: Any, executor: str, stored: dict[str, Any]):
    """The consolidated tables of both phases (re-consolidated on disk when ``out`` is given)."""
    if out is None:
        import pandas as pd  # the run path imports no pandas before the first result

        return CellTables(*(pd.concat([a, b], ignore_index=True) for a, b in
                            zip((first.runs, first.trace, first.hits), (second.runs, second.trace, second.hits))))
    return _consolidated(full, out, command, executor, stored)


def _consolidated(full: Any, out: Any, command: Any, executor: str, stored: dict[str, Any]):
    """Consolidate the tables of every cell of ``full`` in ``out``, the tuning protocol in the provenance."""
    meta = {**provenance(full.path, full.text, command), "suite": full.name, "executor": executor, "tuning": stored}
    with FolderLock(out):
        return Store(out).consolidate_tables([cell.key for cell in full.cells], meta)


def _merged(full: Any, first: Any, second: Any, tables: Any, started: float) -> Any:
    counts = {str(k): int(v) for k, v in tables.runs["status"].value_counts().items()} if len(tables.runs) else {}
    return dataclasses.replace(
        second, suite=full, runs=tables.runs, trace=tables.trace, hits=tables.hits, status_counts=counts,
        cells_run=first.cells_run + second.cells_run, cells_skipped=first.cells_skipped + second.cells_skipped,
        cells_failed=first.cells_failed + second.cells_failed, elapsed=time.perf_counter() - started,
        damaged={**first.damaged, **second.damaged})
