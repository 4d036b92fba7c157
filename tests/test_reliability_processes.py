"""Issue 11, processes (items 5-7): no orphans, plugins contained, a lost or empty Dask cluster handled.

Orphans are looked for with psutil among the real processes the test started
(the driver's descendants, the Dask worker's children), after killing the driver
with SIGTERM or SIGKILL in the middle of a cell that spins at 100 % CPU.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from optbench.cli import main
from optbench.driver import run_suite
from optbench.store import read_results

PLUGIN = '''
import ctypes, os, time
from pathlib import Path
import optbench as ob

def mark():
    folder = os.environ.get("OPTBENCH_TEST_MARKS")
    if folder:
        (Path(folder) / f"{os.getpid()}").touch()

@ob.register_method("test-spin")
class Spin(ob.Method):
    """Spins at 100 % CPU forever, after leaving a mark file named by its PID."""
    def direction(self, X, G, state, k):
        mark()
        while True:
            pass

@ob.register_method("test-swallow")
class Swallow(ob.Method):
    """Sleeps forever and swallows every BaseException (timeouts, Ctrl-C)."""
    def direction(self, X, G, state, k):
        mark()
        while True:
            try:
                time.sleep(0.05)
            except BaseException:
                pass

@ob.register_method("test-os-exit")
class OsExit(ob.Method):
    def direction(self, X, G, state, k):
        os._exit(3)

@ob.register_method("test-segfault")
class Segfault(ob.Method):
    def direction(self, X, G, state, k):
        ctypes.string_at(0)

@ob.register_method("test-system-exit")
class Exit(ob.Method):
    def direction(self, X, G, state, k):
        raise SystemExit(4)
'''


def suite_text(methods: list[str], timeout: float | None = None, seeds: int = 2, name: str = "procs") -> str:
    budget = f"max_iter = 20\n" + (f"timeout = {timeout}\n" if timeout is not None else "")
    blocks = "".join(f'[[methods]]\nname = "{m}"\nstep_rule = {{ name = "constant", lr = 0.1 }}\n' for m in methods)
    return (f'name = "{name}"\nseeds = {seeds}\nplugins = ["plugin.py"]\n[budget]\n{budget}'
            f'[[problems]]\nname = "sphere"\ndim = 3\n{blocks}')


@pytest.fixture
def folder(tmp_path, scratch_registry_names):
    (tmp_path / "plugin.py").write_text(PLUGIN)
    (tmp_path / "marks").mkdir()
    return tmp_path


def environment(folder: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "OPTBENCH_TEST_MARKS": str(folder / "marks"), **extra}


def wait_for_mark(folder: Path, process: subprocess.Popen | None = None, limit: float = 60.0) -> int:
    """The PID in the first mark file of ``folder/marks`` (or of ``folder`` itself when it is a marks folder)."""
    marks_folder = folder if folder.name == "marks" else folder / "marks"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        marks = list(marks_folder.iterdir())
        if marks:
            return int(marks[0].name)
        assert process is None or process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the spinning cell never started")


def gone(processes: list[psutil.Process], limit: float = 20.0) -> list[psutil.Process]:
    """The processes still alive after ``limit`` seconds (killed afterwards, so a failure leaves none behind)."""
    _, alive = psutil.wait_procs(processes, timeout=limit)
    for process in alive:
        process.kill()
    return alive


def start_driver(folder: Path, executor: list[str], env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "optbench.cli", "run", str(folder / "s.toml"), "--out", str(folder / "out"),
               "--no-report", *executor]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


# ---------------------------------------------------------------- item 5: orphans under processes
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_driver_leaves_no_worker_process(folder, signum):
    (folder / "s.toml").write_text(suite_text(["test-spin", "gd"]))
    driver = start_driver(folder, ["--executor", "processes", "--jobs", "2"], environment(folder))
    try:
        spinner = wait_for_mark(folder, driver)
        descendants = psutil.Process(driver.pid).children(recursive=True)
        assert spinner in [p.pid for p in descendants]
        driver.send_signal(signum)
        driver.wait(30)
        assert gone(descendants) == []
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == (128 + signal.SIGTERM if signum == signal.SIGTERM else -signal.SIGKILL)
    if signum == signal.SIGTERM:
        assert "interrupted (SIGTERM)" in driver.stderr.read()


# ---------------------------------------------------------------- item 6: plugins cannot end a serial suite
def test_serial_suite_with_a_timeout_contains_exits_segfaults_and_swallowed_timeouts(folder):
    methods = ["test-os-exit", "test-segfault", "test-system-exit", "test-swallow", "gd"]
    (folder / "s.toml").write_text(suite_text(methods, timeout=3.0))
    result = run_suite(folder / "s.toml", folder / "out", "serial")
    by_method = result.runs.groupby("method")
    status = by_method["status"].agg(lambda s: sorted(set(s))).to_dict()
    assert status == {"test-os-exit": ["error"], "test-segfault": ["error"], "test-system-exit": ["error"],
                      "test-swallow": ["timeout"], "gd": ["budget"]}
    message = by_method["message"].first()
    assert "exit code 3" in message["test-os-exit"]
    assert "killed by SIGSEGV" in message["test-segfault"]
    assert "SystemExit: 4" in message["test-system-exit"]
    assert "timeout of 3 s" in message["test-swallow"]
    assert not list(folder.glob("optbench-cell-*"))


def test_serial_suite_without_a_timeout_records_system_exit_as_the_cells_error(folder):
    (folder / "s.toml").write_text(suite_text(["test-system-exit", "gd"]))
    result = run_suite(folder / "s.toml", None, "serial")
    assert result.runs.groupby("method")["status"].first().to_dict() == {"test-system-exit": "error", "gd": "budget"}
    assert result.runs.loc[result.runs["method"] == "test-system-exit", "message"].str.contains("SystemExit: 4").all()


def test_ctrl_c_stops_a_serial_suite_whose_plugin_swallows_it(folder):
    (folder / "s.toml").write_text(suite_text(["test-swallow", "gd"], timeout=600.0))
    driver = start_driver(folder, [], environment(folder))
    try:
        child = wait_for_mark(folder, driver)
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_an_error_while_building_a_cells_tables_is_that_cells_error(folder):
    (folder / "metric.py").write_text('''
import numpy as np
import optbench as ob

@ob.register_problem("test-string-metric")
class StringMetric(ob.Problem):
    """f(x) = ||x||^2 with a metric whose values are strings (a table cannot be built from them)."""
    def __init__(self, dim: int = 2):
        self.dim = dim
    def value(self, X, batch=None):
        return np.sum(X * X, axis=1)
    def grad(self, X, batch=None):
        return 2 * X
    def metrics(self, X):
        return {"label": np.array(["bad"] * len(X))}
''')
    text = suite_text(["gd"]).replace('plugins = ["plugin.py"]', 'plugins = ["metric.py"]')
    text += '[[problems]]\nname = "test-string-metric"\n'
    (folder / "s.toml").write_text(text)
    for executor in ("serial", "processes"):
        result = run_suite(folder / "s.toml", None, executor, jobs=1)
        status = result.runs.groupby("problem")["status"].first().to_dict()
        assert status == {"sphere": "budget", "test-string-metric": "error"}, executor
        message = result.runs.loc[result.runs["problem"] == "test-string-metric", "message"].iloc[0]
        assert "worker process died" not in message and "Traceback" in message  # the real exception is kept


# ---------------------------------------------------------------- a real Dask scheduler and worker on loopback
def start_scheduler(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = folder / "scheduler.json"
    process = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                "--scheduler-file", str(scheduler_file)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while True:  # the file may be seen half written
        assert time.monotonic() < deadline, "the Dask scheduler did not start within 60 s"
        try:
            return process, json.loads(scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)


def start_worker(address: str, env: dict[str, str]) -> subprocess.Popen:
    dask = str(Path(sys.executable).with_name("dask"))
    worker = subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(1, timeout=90)
    return worker


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait(10)


@pytest.fixture
def cluster(folder):
    pytest.importorskip("distributed")
    scratch = folder / "worker-tmp"
    scratch.mkdir()
    env = environment(folder, TMPDIR=str(scratch), DASK_DISTRIBUTED__WORKER__DAEMON="False")
    scheduler, address = start_scheduler(folder, env)
    worker = None
    try:
        worker = start_worker(address, env)
        yield {"address": address, "scheduler": scheduler, "worker": worker, "scratch": scratch, "env": env}
    finally:
        stop(worker, scheduler)


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """One scheduler and worker for the orphan tests (killing a driver leaves the cluster usable)."""
    pytest.importorskip("distributed")
    base = tmp_path_factory.mktemp("cluster")
    (base / "marks").mkdir()
    (base / "worker-tmp").mkdir()
    env = {**os.environ, "OPTBENCH_TEST_MARKS": str(base / "marks"), "TMPDIR": str(base / "worker-tmp"),
           "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler, address = start_scheduler(base, env)
    worker = None
    try:
        worker = start_worker(address, env)
        yield {"address": address, "scheduler": scheduler, "worker": worker, "scratch": base / "worker-tmp",
               "marks": base / "marks", "env": env}
    finally:
        stop(worker, scheduler)


def cell_children(worker: subprocess.Popen) -> list[psutil.Process]:
    return [p for p in psutil.Process(worker.pid).children(recursive=True) if "optbench.worker" in " ".join(p.cmdline())]


@pytest.mark.slow
@pytest.mark.parametrize("victim, signum", [("driver", signal.SIGTERM), ("driver", signal.SIGKILL),
                                            ("worker", signal.SIGKILL)])
def test_dask_cell_process_dies_with_its_driver_or_worker_and_cleans_up(folder, shared_cluster, victim, signum):
    cluster = shared_cluster
    for mark in cluster["marks"].iterdir():
        mark.unlink()
    (folder / "s.toml").write_text(suite_text(["test-spin"], timeout=300.0))
    driver = start_driver(folder, ["--executor", "dask", "--scheduler", cluster["address"]], environment(folder))
    try:
        spinner = wait_for_mark(cluster["marks"], driver, limit=90)
        children = cell_children(cluster["worker"])
        assert [p.pid for p in children] == [spinner]
        before = set(cluster["scratch"].glob("optbench-cell-*"))
        assert before
        if victim == "driver":
            driver.send_signal(signum)
        else:
            psutil.Process(spinner).parent().send_signal(signum)  # the Dask worker process running the task
        assert gone(children) == []
        # the killed cell's folder is removed (a restarted worker may already run the task again, in a new folder)
        deadline = time.monotonic() + 10
        while before & set(cluster["scratch"].glob("optbench-cell-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not before & set(cluster["scratch"].glob("optbench-cell-*"))
    finally:
        stop(driver)


# ---------------------------------------------------------------- item 7: lost scheduler, no workers, bad address
@pytest.mark.slow
def test_losing_the_scheduler_leaves_remaining_cells_not_run_and_exits_non_zero(folder, cluster):
    (folder / "sleepy.py").write_text('''
import time
import optbench as ob

@ob.register_method("test-sleepy")
class Sleepy(ob.Method):
    def direction(self, X, G, state, k):
        time.sleep(0.1)
        return -G, state
''')
    text = suite_text(["gd", "test-sleepy"], seeds=1).replace('"plugin.py"', '"sleepy.py"')
    text = text.replace("dim = 3", "dim = [3, 4, 5, 6, 7, 8]")
    (folder / "s.toml").write_text(text)
    driver = start_driver(folder, ["--executor", "dask", "--scheduler", cluster["address"]], environment(folder))
    try:
        deadline = time.monotonic() + 90
        while len(list((folder / "out" / "cells").glob("*.stack.parquet"))) < 1:
            assert time.monotonic() < deadline and driver.poll() is None, driver.communicate()
            time.sleep(0.05)
        cluster["scheduler"].kill()
        out, err = driver.communicate(timeout=90)
    finally:
        stop(driver)
    finished = len(list((folder / "out" / "cells").glob("*.stack.parquet")))
    assert driver.returncode == 1, err
    assert "lost the Dask scheduler" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    assert 1 <= finished < 6  # stacks: one per dimension
    runs = read_results(folder / "out")[0]
    assert set(runs["status"]) <= {"budget", "converged"}  # nothing was recorded as an error


def test_a_cluster_without_workers_is_reported_then_given_up(folder):
    pytest.importorskip("distributed")
    scheduler, address = start_scheduler(folder, environment(folder))
    try:
        (folder / "s.toml").write_text(suite_text(["gd"]))
        started = time.monotonic()
        driver = start_driver(folder, ["--executor", "dask", "--scheduler", address, "--timeout", "3"], environment(folder))
        _, err = driver.communicate(timeout=120)
    finally:
        stop(scheduler)
    assert driver.returncode == 1, err
    assert f"no Dask worker is connected to {address}; waiting for one (giving up after 3 s)" in err
    assert f"no Dask worker connected to {address} within 3 s; nothing was run" in err
    assert time.monotonic() - started < 60 and "Traceback" not in err


@pytest.mark.parametrize("address, fragment", [
    ("localhost:8786", "is not a scheduler address; expected tcp://HOST:PORT"),
    ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
])
def test_a_dead_or_malformed_scheduler_address_is_one_line_exit_2(folder, capsys, address, fragment):
    pytest.importorskip("distributed")
    (folder / "s.toml").write_text(suite_text(["gd"]))
    started = time.monotonic()
    code = main(["run", str(folder / "s.toml"), "--out", str(folder / "out"), "--executor", "dask", "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1
    assert not (folder / "out").exists()  # nothing written
    assert time.monotonic() - started < 25
