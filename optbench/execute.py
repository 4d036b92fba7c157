"""Executors: run the units of a suite serially, in worker processes, or on Dask.

A *unit* is a tuple of cells that run together (a batch group; today one cell
each unless the suite groups them). ``run_unit(cells)`` gives each cell's tables.
Whichever executor runs it, a cell gives the same bits: its random streams come
from its key and seeds.

- ``serial``: in suite order. A suite with a timeout runs in one child process
  (the ``processes`` machinery with one worker, started once, killed at a unit's
  deadline and replaced), so a plugin can neither swallow the timeout nor end the
  suite (``os._exit``, a segfault). Without a timeout it runs in this process: an
  exception or ``SystemExit`` is the cell's ``error``; ``os._exit`` or a segfault
  ends the suite (give the suite a timeout to contain such plugins).
- ``processes``: ``jobs`` long-lived worker processes (``spawn`` context, one
  BLAS thread each), one unit at a time per worker. A unit over its deadline is
  stopped by killing its worker, which is then replaced.
- ``dask``: ``distributed`` futures, on a ``LocalCluster`` started here or on a
  running cluster (``scheduler="tcp://host:port"``). A unit with a timeout runs
  in a child process of the Dask worker, killed at the deadline or when the task
  is cancelled (the driver died or stopped); a unit without a timeout runs in the
  worker thread.

The hard deadline of a cell is ``timeout + 1 s + timeout / 4`` (a unit's: the sum
over its cells): ``optbench.run`` itself stops a loop still iterating at
``timeout`` (status ``timeout`` with the iterates reached), and the kill is for
code that hangs.

No orphans: every worker and child process dies with its parent (Linux
``PR_SET_PDEATHSIG`` and a watchdog thread polling the parent PID); the driver
turns SIGTERM/SIGHUP into an interruption that stops its children.
"""

from __future__ import annotations

import collections
import os
import pickle
import re
import shutil
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

import pandas as pd

from optbench.engine import tables as _tables
from optbench.engine.tables import FAILED_STATUSES, CellTables
from optbench.registry import ParameterError, did_you_mean, load_plugin
from optbench.store import FolderLock, Store, _concat, prepare_folder, provenance
from optbench.suite import Cell, Suite, load_suite

__all__ = ["EXECUTORS", "run_cell", "run_unit", "run_suite", "SuiteResult", "hard_deadline", "failed_cell",
           "Interrupted", "ExecutorLost", "size_estimate"]

EXECUTORS = ("serial", "processes", "dask")
Unit = tuple[Cell, ...]
Finished = tuple[Cell, CellTables]
_loaded_plugins: set[str] = set()  # plugin files already imported in this process
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class Interrupted(KeyboardInterrupt):
    """The driver got SIGINT, SIGTERM or SIGHUP; ``signum`` says which (exit status 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ExecutorLost(RuntimeError):
    """The executor went away (a lost Dask scheduler, no workers): unfinished cells were left not run."""


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


def _error_message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def run_cell(cell: Cell) -> CellTables:
    """Run one cell; a failure inside it (an exception, ``SystemExit``, a bad table) is status ``error``."""
    import optbench as ob

    try:
        _load_plugins(cell.plugins)
        result = ob.run(**cell.run_kwargs())
        hits = getattr(result, "hits", None)
        if hits is None:
            hits = _tables.empty_table("hits", dict(cell.description))
        tables = _tables.with_phase(CellTables(result.runs, result.trace, hits), cell.description)
        pickle.dumps(tables)  # a table that cannot travel back to the driver fails here, in its cell
        return tables
    except (Exception, SystemExit) as exc:  # noqa: BLE001 -- a failing cell must not stop the suite
        return failed_cell(cell, "error", _error_message(exc))


def run_unit(cells: Sequence[Cell]) -> list[Finished]:
    """Run the cells of one unit (a batch group) as one array: ``[(cell, CellTables), ...]`` in the unit's order.

    If the group fails as a whole, its cells are run one by one, so that a failure
    is recorded in the cell that caused it and the others still finish.
    """
    if len(cells) == 1:
        return [(cells[0], run_cell(cells[0]))]
    from optbench.engine.run import run_group

    try:
        _load_plugins(cells[0].plugins)
        results = run_group([cell.run_kwargs() for cell in cells])
        finished = [(cell, _tables.with_phase(result.tables(), cell.description)) for cell, result in zip(cells, results)]
        pickle.dumps(finished)
        return finished
    except (Exception, SystemExit):  # noqa: BLE001 -- isolate the failure: one cell at a time
        return [(cell, run_cell(cell)) for cell in cells]


def _timeout_message(cell: Cell) -> str:
    return f"cell exceeded its timeout of {cell.timeout:g} s and was stopped after {hard_deadline(cell.timeout):g} s"


def _unit_failed(unit: Sequence[Cell], status: str, message: str | None = None) -> list[Finished]:
    return [(cell, failed_cell(cell, status, message or _timeout_message(cell))) for cell in unit]


# ---------------------------------------------------------------- a unit in a child process
def _child_environment() -> dict[str, str]:
    env = {**os.environ}
    for name in _BLAS_THREADS:
        env.setdefault(name, "1")
    return env


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_unit_in_child(unit: Sequence[Cell], startup_limit: float = 120.0,
                      cancelled: Callable[[], bool] | None = None) -> list[Finished]:
    """``python -m optbench.execute`` on ``unit``, killed ``unit_deadline`` seconds after its imports end.

    The child touches a marker file once its imports are done, so the deadline does
    not count the interpreter's start-up. ``cancelled()``, polled, stops the child early
    (the result is then the unit's ``error``). The child dies with this process.
    """
    folder = tempfile.mkdtemp(prefix="optbench-cell-")
    try:
        source, target, marker = (Path(folder) / name for name in ("unit.pickle", "result.pickle", "started"))
        source.write_bytes(pickle.dumps(tuple(unit)))
        with tempfile.TemporaryFile(mode="w+", dir=folder) as errors:
            child = subprocess.Popen(
                [sys.executable, "-m", "optbench.execute", str(source), str(target), str(marker), str(os.getpid())],
                stdout=subprocess.DEVNULL, stderr=errors, stdin=subprocess.DEVNULL, env=_child_environment(),
            )
            try:
                outcome = _watch_child(child, unit, target, marker, startup_limit, cancelled)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait(10)
            if outcome is not None:
                return outcome
            if child.returncode != 0 or not target.is_file():
                errors.seek(0)
                return _unit_failed(unit, "error", f"the cell's process failed ({_exit_description(child.returncode)}): "
                                                   f"{errors.read()[-2000:]}")
        return pickle.loads(target.read_bytes())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _watch_child(child, unit, target: Path, marker: Path, startup_limit: float, cancelled) -> list[Finished] | None:
    """Wait for ``child``; the unit's failed tables if it had to be killed, None when it ended by itself."""
    launched, started = time.monotonic(), None
    deadline = unit_deadline(unit)
    while child.poll() is None:
        if target.exists():  # finished; the interpreter is shutting down
            child.wait(60)
            return None
        now = time.monotonic()
        if started is None and marker.exists():
            started = now
        if started is None:
            limit = launched + startup_limit
        else:
            limit = None if deadline is None else started + deadline
        if cancelled is not None and cancelled():
            child.kill()
            return _unit_failed(unit, "error", "the task was cancelled")
        if limit is not None and now > limit:
            child.kill()
            child.wait(10)
            if started is None:
                return _unit_failed(unit, "error", f"the cell's process did not start within {startup_limit:g} s")
            return _unit_failed(unit, "timeout")
        time.sleep(0.02)
    return None


def _subprocess_main(argv: list[str]) -> int:
    """``python -m optbench.execute UNIT.pickle RESULT.pickle STARTED PARENT_PID``: run one unit in a fresh process."""
    source, target = Path(argv[0]), Path(argv[1])
    if len(argv) > 3:
        die_with_parent(int(argv[3]), cleanup=lambda: shutil.rmtree(source.parent, ignore_errors=True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    unit = pickle.loads(source.read_bytes())
    for cell in unit:
        _load_plugins(cell.plugins)
    if len(argv) > 2:
        Path(argv[2]).touch()  # imports done: the unit's clock starts now
    output = run_unit(unit)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(pickle.dumps(output))
    os.replace(temporary, target)
    return 0


# ---------------------------------------------------------------- serial
def _serial(units: Sequence[Unit], jobs: int, options: dict[str, Any]) -> Iterator[Finished]:
    """In suite order; with a timeout, in one child process (started once, replaced when killed)."""
    if any(unit_deadline(unit) is not None for unit in units):
        yield from _processes(units, 1, options)
        return
    for unit in units:
        yield from run_unit(unit)


# ---------------------------------------------------------------- processes
def _worker_loop(conn, parent: int) -> None:
    """A processes-executor worker: receive a unit, send back its tables, until told to stop."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    conn.send("ready")  # imports done: units sent from now on are timed from when they are sent
    while True:
        try:
            unit = conn.recv()
        except EOFError:
            return
        if unit is None:
            return
        conn.send(run_unit(unit))


@contextmanager
def _single_threaded_blas():
    """Worker processes inherit one BLAS/OpenMP thread each (unless the user chose otherwise)."""
    saved = {name: os.environ.get(name) for name in _BLAS_THREADS}
    for name in _BLAS_THREADS:
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
    unit: Unit | None = None
    deadline: float | None = None
    ready: bool = False


class _Pool:
    """The worker processes of the ``processes`` executor."""

    def __init__(self, size: int):
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.slots = [self.start() for _ in range(size)]

    def start(self) -> _Slot:
        parent, child = self.context.Pipe()
        with _single_threaded_blas():
            process = self.context.Process(target=_worker_loop, args=(child, os.getpid()), daemon=True,
                                           name="optbench-worker")
            process.start()
        child.close()
        return _Slot(process, parent)

    def replace(self, index: int, kill: bool) -> None:
        slot = self.slots[index]
        if kill:
            slot.process.kill()
        self.stop(slot, 5)
        self.slots[index] = self.start()

    @staticmethod
    def stop(slot: _Slot, wait: float) -> None:
        try:
            slot.conn.send(None)
        except (OSError, ValueError):
            pass
        slot.process.join(wait)
        for end in (slot.process.terminate, slot.process.kill):
            if slot.process.is_alive():
                end()
                slot.process.join(5)
        slot.conn.close()

    def close(self) -> None:
        for slot in self.slots:
            if slot.unit is not None:  # interrupted: do not wait for unfinished units
                slot.process.kill()
            self.stop(slot, 5)


def _processes(units: Sequence[Unit], jobs: int, options: dict[str, Any]) -> Iterator[Finished]:
    if not units:
        return
    pending = collections.deque(units)
    pool = _Pool(max(1, min(jobs, len(units))))
    try:
        while pending or any(slot.unit is not None for slot in pool.slots):
            _dispatch(pool, pending)
            busy = [slot for slot in pool.slots if slot.unit is not None or not slot.ready]
            deadlines = [slot.deadline for slot in busy if slot.deadline is not None]
            wait = 1.0 if not deadlines else max(0.0, min(1.0, min(deadlines) - time.monotonic()))
            ready = connection.wait([slot.conn for slot in busy], timeout=wait)
            for index in range(len(pool.slots)):
                yield from _collect(pool, index, ready)
    finally:
        pool.close()


def _dispatch(pool: _Pool, pending: collections.deque) -> None:
    for slot in pool.slots:
        if slot.ready and slot.unit is None and pending:
            slot.unit = pending.popleft()
            limit = unit_deadline(slot.unit)
            slot.deadline = None if limit is None else time.monotonic() + limit
            slot.conn.send(slot.unit)


def _collect(pool: _Pool, index: int, ready: list) -> Iterator[Finished]:
    """What slot ``index`` has to give: a unit's tables, a dead worker's or a killed unit's failures."""
    slot = pool.slots[index]
    if not slot.ready and slot.conn in ready:
        try:
            slot.ready = slot.conn.recv() == "ready"
        except (EOFError, OSError):
            raise RuntimeError(f"an optbench worker process failed to start ({_exit_description(slot.process.exitcode)})") from None
        return
    unit = slot.unit
    if unit is None:
        return
    if slot.conn in ready:
        try:
            output = slot.conn.recv()
        except (EOFError, OSError):
            slot.process.join(5)
            code = slot.process.exitcode
            slot.unit = None
            pool.replace(index, kill=False)
            yield from _unit_failed(unit, "error", f"the worker process died while running this cell ({_exit_description(code)})")
            return
        slot.unit = None
        yield from output
    elif slot.deadline is not None and time.monotonic() >= slot.deadline:
        slot.unit = None
        pool.replace(index, kill=True)
        yield from _unit_failed(unit, "timeout")


# ---------------------------------------------------------------- dask
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://[^\s/:]+:\d{1,5}$")


def _task_cancelled() -> bool:
    """Inside a Dask task: whether the scheduler has let go of it (the client died or cancelled it)."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker, key = get_worker(), thread_state.key
    except Exception:  # noqa: BLE001 -- not in a Dask task
        return False
    task = worker.state.tasks.get(key)
    return task is None or task.state in ("cancelled", "released", "forgotten")


def _dask_task(unit: Unit) -> list[Finished]:
    """Runs on a Dask worker: the unit in this thread, or in a child process when it has a timeout."""
    if unit_deadline(unit) is None:
        return run_unit(unit)
    return run_unit_in_child(unit, cancelled=_task_cancelled)


def connect_scheduler(scheduler: str, seconds: float = 10.0):
    """A ``distributed.Client`` of the scheduler at ``scheduler``, or a one-line ``ParameterError``."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover -- distributed is in the [dask] extra
        raise ParameterError("the dask executor needs the 'distributed' package: pip install 'optbench[dask]'") from None
    if not _ADDRESS.match(scheduler):
        raise ParameterError(f"--scheduler {scheduler!r} is not a scheduler address; expected tcp://HOST:PORT")
    try:
        return Client(scheduler, timeout=seconds)
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler} within {seconds:g} s "
                             f"({type(exc).__name__}); check --scheduler and that `dask scheduler` is running") from None


def _connect(scheduler: str | None, jobs: int, options: dict[str, Any]):
    from distributed import Client, LocalCluster

    if not scheduler:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    return options.pop("client", None) or connect_scheduler(scheduler), None


def _wait_for_workers(client, scheduler: str, options: dict[str, Any]) -> None:
    """Return once a worker is connected; say so after a few seconds; give up after ``worker_timeout``."""
    limit = options.get("worker_timeout")
    notice = min(5.0, limit) if limit is not None else 5.0
    try:
        client.wait_for_workers(1, timeout=notice)
        return
    except (TimeoutError, OSError):
        pass
    notify = options.get("notify") or (lambda text: print(text, file=sys.stderr, flush=True))
    wait = "" if limit is None else f" (giving up after {limit:g} s)"
    notify(f"optbench: no Dask worker is connected to {scheduler}; waiting for one{wait}: start one with "
           f"`dask worker {scheduler}`")
    try:
        if limit is not None and limit - notice <= 0:  # (distributed reads timeout=0 as "no timeout")
            raise TimeoutError
        client.wait_for_workers(1, timeout=None if limit is None else limit - notice)
    except (TimeoutError, OSError):
        raise ExecutorLost(f"no Dask worker connected to {scheduler} within {limit:g} s; nothing was run") from None


def _dask(units: Sequence[Unit], jobs: int, options: dict[str, Any]) -> Iterator[Finished]:
    if not units:
        return
    try:
        from distributed import as_completed
    except ImportError:  # pragma: no cover -- distributed is in the [dask] extra
        raise ParameterError("the dask executor needs the 'distributed' package: pip install 'optbench[dask]'") from None
    scheduler = options.get("scheduler")
    client, cluster = _connect(scheduler, jobs, options)
    futures = {}
    quiet = _quiet_distributed()  # a lost connection is reported once, by us, not as a logged traceback
    try:
        if scheduler:
            _wait_for_workers(client, scheduler, options)
        run_id = os.urandom(4).hex()
        for number, unit in enumerate(units):
            futures[client.submit(_dask_task, unit, key=f"optbench-{unit[0].key}-{run_id}-{number}", pure=False)] = unit
        left = len(futures)
        for future in as_completed(list(futures)):
            unit = futures[future]
            output = _dask_output(client, future, unit, scheduler, left)
            future.release()
            left -= 1
            yield from output
    finally:
        for future in futures:
            future.cancel()
        client.close()
        if cluster is not None:
            cluster.close()
        quiet()


def _quiet_distributed() -> Callable[[], None]:
    """Silence ``distributed``'s loggers below CRITICAL; returns the function that restores them."""
    import logging

    loggers = [logging.getLogger(name) for name in ("distributed", "distributed.client", "distributed.comm",
                                                    "distributed.core", "distributed.batched")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    return lambda: [logger.setLevel(level) for logger, level in zip(loggers, levels)] and None


def _dask_output(client, future, unit: Unit, scheduler: str | None, left: int) -> list[Finished]:
    """A finished future's tables; a lost scheduler raises :class:`ExecutorLost` (cells left not run)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 -- a dead worker, a lost scheduler
        if future.status == "cancelled" or client.status != "running" or "cancel" in type(exc).__name__.lower():
            raise ExecutorLost(
                f"lost the Dask scheduler{'' if not scheduler else ' at ' + scheduler} ({type(exc).__name__}); "
                f"{left} unit(s) were not run; finished cells are saved: run the same command again to resume"
            ) from None
        return _unit_failed(unit, "error", f"the Dask task failed: {type(exc).__name__}: {exc}")


_EXECUTORS: dict[str, Callable[..., Iterator[Finished]]] = {"serial": _serial, "processes": _processes, "dask": _dask}


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
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.status_counts.items()))
        gap = pd.to_numeric(self.runs["f_gap"], errors="coerce") if len(self.runs) else pd.Series(dtype=float)
        known = int(gap.notna().sum())
        reached = f"; reached the target f - f_opt <= {REACHED:g}: {int((gap <= REACHED).sum())} of {known}" if known else ""
        return (
            f"suite {self.suite.name!r}: {len(self.suite.cells)} cells ({self.cells_run} run, {self.cells_skipped} "
            f"already done, {self.cells_failed} failed); runs: {counts or 'none'}{reached}; {self.elapsed:.1f} s"
        )


def _units(suite: Suite, todo: set[str]) -> list[Unit]:
    """The units to run: the suite's batch groups (``suite.groups`` when present) restricted to ``todo``."""
    groups = getattr(suite, "groups", None) or [(cell,) for cell in suite.cells]
    units = [tuple(cell for cell in group if cell.key in todo) for group in groups]
    return [unit for unit in units if unit]


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
        from optbench.tuning import run_tuned_suite

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
    """Run ``units``, passing each finished cell to ``keep``; the number of failed cells."""
    failed = 0
    # closing(): on Ctrl-C the executor stops its workers at once; finished cells are already kept
    with closing(_EXECUTORS[executor](units, jobs, options)) as finished_cells:
        for cell, tables in finished_cells:
            keep(cell, tables)
            if tables.runs["status"].isin(FAILED_STATUSES).any():
                failed += 1
                bar.set_postfix(failed=failed)
            bar.update(1)
    return failed


def _run_in_memory(suite, executor, jobs, options, progress, started) -> SuiteResult:
    memory: dict[str, CellTables] = {}
    keys = [cell.key for cell in suite.cells]
    with _progress_bar(len(keys), suite, progress) as bar:
        failed = _execute(_units(suite, set(keys)), executor, jobs, options, bar,
                          lambda cell, tables: memory.__setitem__(cell.key, tables))
    frames = [_concat([memory[key][i] for key in keys]) for i in range(3)]
    return _result(suite, CellTables(*frames), None, len(keys), 0, failed, started, {})


def _run_stored(suite, store, executor, jobs, options, force, progress, command, started) -> SuiteResult:
    meta = {**provenance(suite.path, suite.text, command), "suite": suite.name, "executor": executor}
    store.recover()
    store.clean_temporaries()
    keys = [cell.key for cell in suite.cells]
    done, damaged = (set(), {}) if force else store.scan({cell.key: len(cell.seeds) for cell in suite.cells})
    for cell in suite.cells:
        if cell.key in damaged:
            options["notify"](f"note: cell {cell.label} ({cell.key}) is damaged: {damaged[cell.key]}; running it again")
    todo = [cell for cell in suite.cells if cell.key not in done]

    fresh: dict[str, CellTables] = {}  # consolidated from memory, not read back from disk

    def keep(cell: Cell, tables: CellTables) -> None:
        store.write_cell(cell.key, tables.runs, tables.trace, {**meta, "cell": cell.description}, hits=tables.hits)
        fresh[cell.key] = tables

    lost = None
    with _progress_bar(len(todo), suite, progress) as bar:
        try:
            failed = _execute(_units(suite, {cell.key for cell in todo}), executor, jobs, options, bar, keep)
        except ExecutorLost as exc:
            lost, failed = exc, 0
    tables = store.consolidate_tables(keys, meta, fresh=fresh)
    if lost is not None:
        raise lost
    return _result(suite, tables, store.out, len(todo), len(done), failed, started, damaged)


def _result(suite, tables: CellTables, out, run, skipped, failed, started, damaged) -> SuiteResult:
    runs = tables.runs
    counts = {str(k): int(v) for k, v in runs["status"].value_counts().items()} if len(runs) else {}
    return SuiteResult(suite=suite, runs=runs, trace=tables.trace, hits=tables.hits, out=out, cells_run=run,
                       cells_skipped=skipped, cells_failed=failed, status_counts=counts,
                       elapsed=time.perf_counter() - started, damaged=damaged)


if __name__ == "__main__":
    sys.exit(_subprocess_main(sys.argv[1:]))
