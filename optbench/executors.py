"""Executors: run the units of a suite serially, in worker processes, or on Dask.

Each executor yields, per unit it finishes, the unit's ``[(cell, tables), ...]``
(``optbench.worker.run_unit``), in the order units finish.

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

No orphans: every worker and child process dies with its parent.
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
import time
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from optbench.errors import ParameterError
from optbench.worker import Finished, Unit, die_with_parent, preload, run_unit, unit_deadline, unit_failed

if TYPE_CHECKING:
    from optbench.cells import Cell

__all__ = ["EXECUTORS", "EXECUTOR_FUNCTIONS", "ExecutorLost", "connect_scheduler", "run_unit_in_child"]

EXECUTORS = ("serial", "processes", "dask")
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ExecutorLost(RuntimeError):
    """The executor went away (a lost Dask scheduler, no workers): unfinished cells were left not run."""



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
    """``python -m optbench.worker`` on ``unit``, killed ``unit_deadline`` seconds after its imports end.

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
                [sys.executable, "-m", "optbench.worker", str(source), str(target), str(marker), str(os.getpid())],
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
                return unit_failed(unit, "error", f"the cell's process failed ({_exit_description(child.returncode)}): "
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
            return unit_failed(unit, "error", "the task was cancelled")
        if limit is not None and now > limit:
            child.kill()
            child.wait(10)
            if started is None:
                return unit_failed(unit, "error", f"the cell's process did not start within {startup_limit:g} s")
            return unit_failed(unit, "timeout")
        time.sleep(0.02)
    return None



# ---------------------------------------------------------------- serial
def _serial(units: Sequence[Unit], jobs: int, options: dict[str, Any]) -> Iterator[list[Finished]]:
    """In suite order; with a timeout, in one child process (started once, replaced when killed)."""
    if any(unit_deadline(unit) is not None for unit in units):
        yield from _processes(units, 1, options)
        return
    for unit in units:
        yield run_unit(unit)


# ---------------------------------------------------------------- processes
def _worker_loop(conn, parent: int) -> None:
    """A processes-executor worker: receive a unit, send back its tables, until told to stop."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    preload()
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


def _processes(units: Sequence[Unit], jobs: int, options: dict[str, Any]) -> Iterator[list[Finished]]:
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


def _collect(pool: _Pool, index: int, ready: list) -> Iterator[list[Finished]]:
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
            yield unit_failed(unit, "error", f"the worker process died while running this cell ({_exit_description(code)})")
            return
        slot.unit = None
        yield output
    elif slot.deadline is not None and time.monotonic() >= slot.deadline:
        slot.unit = None
        pool.replace(index, kill=True)
        yield unit_failed(unit, "timeout")


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


def _dask(units: Sequence[Unit], jobs: int, options: dict[str, Any]) -> Iterator[list[Finished]]:
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
            yield output
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
        return unit_failed(unit, "error", f"the Dask task failed: {type(exc).__name__}: {exc}")


EXECUTOR_FUNCTIONS: dict[str, Callable[..., Iterator[list[Finished]]]] = {"serial": _serial, "processes": _processes, "dask": _dask}
