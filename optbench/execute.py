"""Executors: run the cells of a suite serially, in worker processes, or on Dask.

One cell (all its seeds, batched) is the unit of work. Whichever executor runs
it, a cell gives the same bits: its random streams come from its key and seeds.

- ``serial``: in this process, in suite order. A cell's timeout is enforced by
  ``SIGALRM`` (main thread, POSIX), which interrupts Python code.
- ``processes``: ``jobs`` long-lived worker processes (``spawn`` context, one
  BLAS thread each), one cell at a time per worker. A cell over its deadline is
  stopped by terminating its worker, which is then replaced.
- ``dask``: ``distributed`` futures, on a ``LocalCluster`` started here or on a
  running cluster (``scheduler="tcp://host:port"``). A cell with a timeout runs
  in a child process of the Dask worker (``python -m optbench.execute``) that is
  killed at the deadline, because a hung task in a Dask worker thread cannot be
  stopped; a cell without a timeout runs in the worker thread directly.

The hard deadline of a cell is ``timeout + 1 s + timeout / 4``: ``optbench.run``
itself stops a cell whose loop is still iterating at ``timeout`` (status
``timeout`` with the iterates reached), and the kill is for code that hangs.

Failures stay inside their cell: an exception gives status ``error`` with the
message and traceback for every seed, a kill gives ``timeout``, a dead worker
``error``; the suite goes on. Only the driver writes results (``optbench.store``).
"""

from __future__ import annotations

import collections
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from multiprocessing import connection
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from optbench.registry import ParameterError, did_you_mean, load_plugin
from optbench.run import RUN_COLUMNS, TRACE_COLUMNS, run
from optbench.store import FAILED_STATUSES, Store, provenance
from optbench.suite import Cell, Suite, load_suite

__all__ = ["EXECUTORS", "run_cell", "run_suite", "SuiteResult", "hard_deadline", "failed_cell"]

EXECUTORS = ("serial", "processes", "dask")
CellOutput = tuple[pd.DataFrame, pd.DataFrame]
_loaded_plugins: set[str] = set()  # plugin files already imported in this process


def hard_deadline(timeout: float | None) -> float | None:
    """Seconds after which a cell with ``timeout`` is killed."""
    return None if timeout is None else timeout + 1.0 + 0.25 * timeout


# ---------------------------------------------------------------- one cell
def failed_cell(cell: Cell, status: str, message: str) -> CellOutput:
    """The tables of a cell that produced no result: one row per seed with ``status`` and ``message``."""
    n = len(cell.seeds)
    keys = {column: [cell.description.get(column)] * n for column in RUN_COLUMNS if column in cell.description}
    runs = pd.DataFrame({
        **keys,
        "seed": np.asarray(cell.seeds, dtype=np.int64),
        "status": [status] * n,
        "f": np.full(n, np.nan), "f_opt": np.full(n, np.nan), "f_gap": np.full(n, np.nan),
        "iterations": np.zeros(n, dtype=np.int64), "f_evals": np.zeros(n, dtype=np.int64),
        "g_evals": np.zeros(n, dtype=np.int64), "epochs": np.full(n, np.nan), "time": np.full(n, np.nan),
        "message": [message] * n,
    })[RUN_COLUMNS]
    trace = pd.DataFrame({column: pd.Series(dtype=object if column in cell.description else float) for column in TRACE_COLUMNS})
    return runs, trace


class _Timeout(BaseException):
    """Raised by SIGALRM in the serial executor (a BaseException, so cell code cannot swallow it)."""


def _load_plugins(paths: Sequence[str]) -> None:
    for path in paths:
        if path not in _loaded_plugins:
            load_plugin(path)
            _loaded_plugins.add(path)


def run_cell(cell: Cell) -> CellOutput:
    """Run one cell; never raises for a failure inside the cell (status ``error``)."""
    try:
        _load_plugins(cell.plugins)
        result = run(**cell.run_kwargs())
    except _Timeout:
        raise
    except Exception as exc:  # noqa: BLE001 -- a failing cell must not stop the suite
        message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        return failed_cell(cell, "error", message)
    return result.runs, result.trace


def _timeout_message(cell: Cell) -> str:
    return f"cell exceeded its timeout of {cell.timeout:g} s and was stopped after {hard_deadline(cell.timeout):g} s"


@contextmanager
def _alarm(seconds: float | None):
    usable = seconds is not None and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def ring(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- executors (generators of finished cells)
def _serial(cells: Sequence[Cell], jobs: int, scheduler: str | None) -> Iterator[tuple[Cell, CellOutput]]:
    for cell in cells:
        try:
            with _alarm(hard_deadline(cell.timeout)):
                output = run_cell(cell)
        except _Timeout:
            output = failed_cell(cell, "timeout", _timeout_message(cell))
        yield cell, output


def _worker_loop(conn) -> None:
    """A processes-executor worker: receive a cell, send back its tables, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    conn.send("ready")  # imports done: cells sent from now on are timed from when they are sent
    while True:
        try:
            cell = conn.recv()
        except EOFError:
            return
        if cell is None:
            return
        conn.send((cell.key, run_cell(cell)))


@contextmanager
def _single_threaded_blas():
    """Worker processes inherit one BLAS/OpenMP thread each (unless the user chose otherwise)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


@dataclass
class _Slot:
    process: Any
    conn: Any
    cell: Cell | None = None
    deadline: float | None = None
    ready: bool = False


def _processes(cells: Sequence[Cell], jobs: int, scheduler: str | None) -> Iterator[tuple[Cell, CellOutput]]:
    if not cells:
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")

    def start() -> _Slot:
        parent, child = context.Pipe()
        with _single_threaded_blas():
            process = context.Process(target=_worker_loop, args=(child,), daemon=True, name="optbench-worker")
            process.start()
        child.close()
        return _Slot(process, parent)

    def stop(slot: _Slot, wait: float) -> None:
        try:
            slot.conn.send(None)
        except (OSError, ValueError):
            pass
        slot.process.join(wait)
        if slot.process.is_alive():
            slot.process.terminate()
            slot.process.join(5)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join(5)
        slot.conn.close()

    pending = collections.deque(cells)
    slots = [start() for _ in range(max(1, min(jobs, len(cells))))]
    try:
        while pending or any(slot.cell is not None for slot in slots):
            for slot in slots:
                if slot.ready and slot.cell is None and pending:
                    slot.cell = pending.popleft()
                    limit = hard_deadline(slot.cell.timeout)
                    slot.deadline = None if limit is None else time.monotonic() + limit
                    slot.conn.send(slot.cell)
            busy = [slot for slot in slots if slot.cell is not None or not slot.ready]
            deadlines = [slot.deadline for slot in busy if slot.deadline is not None]
            wait = 1.0 if not deadlines else max(0.0, min(1.0, min(deadlines) - time.monotonic()))
            ready = connection.wait([slot.conn for slot in busy], timeout=wait)
            for index, slot in enumerate(slots):
                if not slot.ready and slot.conn in ready:
                    try:
                        slot.ready = slot.conn.recv() == "ready"
                    except (EOFError, OSError):
                        raise RuntimeError(f"an optbench worker process failed to start (exit code {slot.process.exitcode})") from None
                    continue
                if slot.cell is None:
                    continue
                cell = slot.cell
                if slot.conn in ready:
                    try:
                        key, output = slot.conn.recv()
                    except (EOFError, OSError):
                        code = slot.process.exitcode
                        slot.process.join(5)
                        slot.cell = None
                        stop(slot, 0)
                        slots[index] = start()
                        yield cell, failed_cell(cell, "error", f"the worker process died while running this cell (exit code {slot.process.exitcode if code is None else code})")
                        continue
                    slot.cell = None
                    yield cell, output
                elif slot.deadline is not None and time.monotonic() >= slot.deadline:
                    slot.cell = None
                    slot.process.kill()
                    stop(slot, 5)
                    slots[index] = start()
                    yield cell, failed_cell(cell, "timeout", _timeout_message(cell))
    finally:
        for slot in slots:
            if slot.cell is not None:  # interrupted: do not wait for unfinished cells
                slot.process.kill()
            stop(slot, 5)


def _dask_task(cell: Cell) -> CellOutput:
    """Runs on a Dask worker: the cell in this thread, or in a child process when it has a timeout."""
    if cell.timeout is None:
        return run_cell(cell)
    return _run_in_child_process(cell)


def _run_in_child_process(cell: Cell, startup_limit: float = 120.0) -> CellOutput:
    """``python -m optbench.execute`` on ``cell``, killed ``hard_deadline`` seconds after the cell starts.

    The child touches a marker file once its imports are done, so the deadline
    does not count the interpreter's start-up.
    """
    with tempfile.TemporaryDirectory(prefix="optbench-cell-") as folder:
        source, target, marker = (Path(folder) / name for name in ("cell.pickle", "result.pickle", "started"))
        source.write_bytes(pickle.dumps(cell))
        env = {**os.environ}
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, "1")
        with tempfile.TemporaryFile(mode="w+") as errors:
            child = subprocess.Popen(
                [sys.executable, "-m", "optbench.execute", str(source), str(target), str(marker)],
                stdout=subprocess.DEVNULL, stderr=errors, env=env,
            )
            try:
                launched, started = time.monotonic(), None
                while child.poll() is None:
                    if target.exists():  # finished; the interpreter is shutting down
                        child.wait(60)
                        break
                    now = time.monotonic()
                    if started is None and marker.exists():
                        started = now
                    limit = launched + startup_limit if started is None else started + hard_deadline(cell.timeout)
                    if now > limit:
                        child.kill()
                        child.wait(10)
                        if started is None:
                            return failed_cell(cell, "error", f"the cell's process did not start within {startup_limit:g} s")
                        return failed_cell(cell, "timeout", _timeout_message(cell))
                    time.sleep(0.02)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait(10)
            if child.returncode != 0 or not target.is_file():
                errors.seek(0)
                return failed_cell(cell, "error", f"the cell's process failed (exit code {child.returncode}): {errors.read()[-2000:]}")
        return pickle.loads(target.read_bytes())


def _dask(cells: Sequence[Cell], jobs: int, scheduler: str | None) -> Iterator[tuple[Cell, CellOutput]]:
    if not cells:
        return
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover -- distributed is in the [dask] extra
        raise ParameterError("the dask executor needs the 'distributed' package: pip install 'optbench[dask]'") from None
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout=30)
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    futures = {}
    try:
        run_id = os.urandom(4).hex()
        for cell in cells:
            futures[client.submit(_dask_task, cell, key=f"optbench-{cell.key}-{run_id}", pure=False)] = cell
        for future in as_completed(list(futures)):
            cell = futures[future]
            try:
                output = future.result()
            except Exception as exc:  # noqa: BLE001 -- e.g. the worker died
                output = failed_cell(cell, "error", f"the Dask task failed: {type(exc).__name__}: {exc}")
            future.release()
            yield cell, output
    finally:
        for future in futures:
            future.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


_EXECUTORS: dict[str, Callable[..., Iterator[tuple[Cell, CellOutput]]]] = {
    "serial": _serial, "processes": _processes, "dask": _dask,
}


# ---------------------------------------------------------------- the driver
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

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.status_counts.items()))
        return (
            f"suite {self.suite.name!r}: {len(self.suite.cells)} cells ({self.cells_run} run, {self.cells_skipped} "
            f"already done, {self.cells_failed} failed); runs: {counts or 'none'}; {self.elapsed:.1f} s"
        )


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
) -> SuiteResult:
    """Run every cell of ``suite`` and return the consolidated ``runs`` and ``trace`` tables.

    ``suite``: a :class:`~optbench.suite.Suite`, a suite file, or a shipped suite's
    name. ``out``: directory for results (one Parquet file pair per finished cell,
    then ``runs.parquet``, ``trace.parquet``, ``provenance.json``); a cell already
    finished there is skipped unless ``force`` (cells that ended in ``error`` or
    ``timeout`` run again). ``out=None`` keeps results in memory only.
    ``executor``: ``serial``, ``processes`` (``jobs`` workers, default all cores)
    or ``dask`` (``scheduler`` address, or a LocalCluster with ``jobs`` workers).
    ``progress``: a progress bar on stderr (default: only when stderr is a terminal).
    """
    if executor not in EXECUTORS:
        raise ParameterError(f"unknown executor {executor!r}.{did_you_mean(str(executor), list(EXECUTORS))} Valid executors: {', '.join(EXECUTORS)}.")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise ParameterError(f"jobs must be a positive integer, got {jobs!r}")
    if scheduler is not None and executor != "dask":
        raise ParameterError(f"a scheduler address applies to the dask executor only, not {executor!r}")
    if not isinstance(suite, Suite):
        suite = load_suite(suite, plugins)
    elif plugins:
        for path in plugins:
            load_plugin(path)
    jobs = jobs or os.cpu_count() or 1
    started = time.perf_counter()
    meta = provenance(suite.path, suite.text, command)
    meta["suite"] = suite.name
    meta["executor"] = executor
    store = Store(out) if out is not None else None
    memory: dict[str, CellOutput] = {}
    keys = [cell.key for cell in suite.cells]
    done = set() if (store is None or force) else store.finished(keys)
    todo = [cell for cell in suite.cells if cell.key not in done]
    if store is not None:
        store.create()
    if progress is None:
        progress = sys.stderr.isatty()

    from tqdm import tqdm

    failed = 0
    with tqdm(total=len(todo), desc=suite.name, unit="cell", disable=not progress, file=sys.stderr) as bar:
        # closing(): on Ctrl-C the executor stops its workers at once; finished cells are already on disk
        with closing(_EXECUTORS[executor](todo, jobs, scheduler)) as finished_cells:
            for cell, (runs, trace) in finished_cells:
                if store is not None:
                    store.write_cell(cell.key, runs, trace, {**meta, "cell": cell.description})
                else:
                    memory[cell.key] = (runs, trace)
                if runs["status"].isin(FAILED_STATUSES).any():
                    failed += 1
                    bar.set_postfix(failed=failed)
                bar.update(1)
    if store is not None:
        runs, trace = store.consolidate(keys, meta)
    else:
        from optbench.store import _concat

        runs = _concat([memory[key][0] for key in keys])
        trace = _concat([memory[key][1] for key in keys])
    counts = {str(k): int(v) for k, v in runs["status"].value_counts().items()} if len(runs) else {}
    return SuiteResult(
        suite=suite, runs=runs, trace=trace, out=None if out is None else Path(out),
        cells_run=len(todo), cells_skipped=len(suite.cells) - len(todo), cells_failed=failed,
        status_counts=counts, elapsed=time.perf_counter() - started,
    )


def _subprocess_main(argv: list[str]) -> int:
    """``python -m optbench.execute CELL.pickle RESULT.pickle [STARTED]``: run one cell in a fresh process."""
    source, target = Path(argv[0]), Path(argv[1])
    cell = pickle.loads(source.read_bytes())
    _load_plugins(cell.plugins)
    if len(argv) > 2:
        Path(argv[2]).touch()  # imports done: the cell's clock starts now
    output = run_cell(cell)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(pickle.dumps(output))
    os.replace(temporary, target)
    return 0


if __name__ == "__main__":
    sys.exit(_subprocess_main(sys.argv[1:]))
