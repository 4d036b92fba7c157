"""Executors: identical tables under serial, processes and a real Dask cluster; failures stay in their cell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench.driver import run_suite
from optbench.worker import hard_deadline
from optbench.errors import ParameterError
from optbench.suite import load_suite
from conftest import suite_toml

SUITE = suite_toml(name="ident", seeds=4, budget={"max_iter": 60, "record": "log"},
                   problems=[{"name": "sphere", "dim": [2, 6]}, {"name": "quadratic", "dim": 5, "condition": 50.0}],
                   methods=[{"name": "gd", "step_rule": {"name": "constant", "lr": [0.05, 0.3]}},
                            {"name": "momentum", "step_rule": {"name": "constant", "lr": 0.01}}])

FAILING_PLUGIN = '''
import time
import optbench as ob

@ob.register_method("test-raises")
class Raises(ob.Method):
    def direction(self, X, G, state, k):
        if k == 3:
            raise RuntimeError("planted failure at iteration 3")
        return -G, state

@ob.register_method("test-hangs")
class Hangs(ob.Method):
    def direction(self, X, G, state, k):
        while True:
            time.sleep(0.05)

@ob.register_method("test-ascends")
class Ascends(ob.Method):
    """Moves uphill: x_{k+1} = x_k + lr * g, which diverges on the sphere."""
    def direction(self, X, G, state, k):
        return G, state
'''

FAILING_SUITE = suite_toml(name="failing", plugins=["plugin.py"], budget={"max_iter": 400, "timeout": 2.0},
                           problems=[{"name": "sphere", "dim": 3}],
                           methods=[{"name": "test-raises"}, {"name": "test-hangs"},
                                    {"name": "test-ascends", "step_rule": {"name": "constant", "lr": 1.0}},
                                    {"name": "gd", "step_rule": {"name": "constant", "lr": 0.1}}])


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["time"])


def assert_same_bits(a, b):
    pd.testing.assert_frame_equal(without_time(a.runs), without_time(b.runs), check_exact=True)
    pd.testing.assert_frame_equal(without_time(a.trace), without_time(b.trace), check_exact=True)


@pytest.fixture
def ident_suite(tmp_path):
    path = tmp_path / "ident.toml"
    path.write_text(SUITE)
    return path


@pytest.fixture
def failing_suite(tmp_path, scratch_registry_names):
    (tmp_path / "plugin.py").write_text(FAILING_PLUGIN)
    path = tmp_path / "failing.toml"
    path.write_text(FAILING_SUITE)
    return path


@pytest.fixture(scope="module")
def serial_result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serial")
    (folder / "ident.toml").write_text(SUITE)
    return run_suite(folder / "ident.toml", folder / "out", "serial")


def test_serial_tables_are_ob_run_results_in_suite_order(serial_result):
    suite = serial_result.suite
    assert len(suite.cells) == 9 and serial_result.cells_run == 9
    expected = pd.concat([ob.run(**cell.run_kwargs()).runs for cell in suite.cells], ignore_index=True)
    assert serial_result.runs["cell"].tolist() == expected["cell"].tolist()
    np.testing.assert_array_equal(serial_result.runs["f"].to_numpy(), expected["f"].to_numpy())
    assert set(serial_result.runs["status"]) == {"budget", "diverged"}  # lr 0.3 on the quadratic diverges
    assert len(serial_result.trace) > len(serial_result.runs)


def test_processes_gives_the_same_bits_as_serial(serial_result, tmp_path, ident_suite):
    result = run_suite(ident_suite, tmp_path / "out", "processes", jobs=2)
    assert_same_bits(result, serial_result)


def test_dask_local_cluster_gives_the_same_bits(serial_result, ident_suite):
    pytest.importorskip("distributed")
    result = run_suite(ident_suite, None, "dask", jobs=1)
    assert_same_bits(result, serial_result)


# ---------------------------------------------------------------- a real Dask cluster, as separate processes
@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    pytest.importorskip("distributed")
    folder = tmp_path_factory.mktemp("dask")
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = folder / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    processes = [subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scheduler_file.is_file(), "the Dask scheduler did not start within 60 s"
        for _ in range(2):
            processes.append(subprocess.Popen(
                [dask, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1", "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            ))
        address = None
        while address is None and time.monotonic() < deadline:  # the file may be seen half written
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (ValueError, KeyError):
                time.sleep(0.1)
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def test_real_dask_cluster_gives_the_same_bits(serial_result, dask_cluster, ident_suite, tmp_path):
    assert dask_cluster.startswith("tcp://127.0.0.1:")
    result = run_suite(ident_suite, tmp_path / "out", "dask", scheduler=dask_cluster)
    assert_same_bits(result, serial_result)


def test_real_dask_cluster_records_failures_and_kills_a_hung_cell(dask_cluster, failing_suite, tmp_path):
    check_failures(run_suite(failing_suite, tmp_path / "out", "dask", scheduler=dask_cluster))


# ---------------------------------------------------------------- failures
def check_failures(result):
    runs = result.runs
    status = runs.groupby("method")["status"].agg(lambda s: sorted(set(s)))
    assert status["test-raises"] == ["error"]
    assert status["test-hangs"] == ["timeout"]
    assert status["test-ascends"] == ["diverged"]
    assert status["gd"] == ["budget"]
    raised = runs.loc[runs["method"] == "test-raises", "message"]
    assert raised.str.contains("RuntimeError: planted failure at iteration 3").all()
    assert raised.str.contains("Traceback").all()
    assert runs.loc[runs["method"] == "test-hangs", "message"].str.contains("timeout of 2 s").all()
    # the healthy cell is complete: its numbers are those of a direct run
    gd = runs[runs["method"] == "gd"]
    cell = next(c for c in result.suite.cells if c.method["name"] == "gd")
    np.testing.assert_array_equal(gd["f"].to_numpy(), ob.run(**cell.run_kwargs()).runs["f"].to_numpy())
    assert result.cells_failed == 2
    assert result.status_counts == {"error": 3, "timeout": 3, "diverged": 3, "budget": 3}


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_failures_stay_inside_their_cell(failing_suite, tmp_path, executor):
    started = time.monotonic()
    result = run_suite(failing_suite, tmp_path / "out", executor, jobs=2)
    check_failures(result)
    assert time.monotonic() - started < 120  # the hung cell was stopped, not waited for (generous: loaded CI)
    assert hard_deadline(2.0) == pytest.approx(3.5)


def test_failed_cells_run_again_on_resume_finished_ones_do_not(failing_suite, tmp_path):
    failing_suite.write_text(FAILING_SUITE.replace('[[methods]]\nname = "test-hangs"\n', ""))
    out = tmp_path / "out"
    first = run_suite(failing_suite, out, "serial")
    assert first.cells_run == 3 and first.status_counts["error"] == 3
    again = run_suite(failing_suite, out, "serial")
    assert again.cells_run == 1 and again.cells_skipped == 2  # the error cell is retried, the others kept
    assert again.runs["status"].tolist() == first.runs["status"].tolist()


def test_bad_executor_arguments_are_clear_errors(ident_suite):
    with pytest.raises(ParameterError, match=r"unknown executor 'proceses'. Did you mean 'processes'\?"):
        run_suite(ident_suite, None, "proceses")
    with pytest.raises(ParameterError, match="jobs must be a positive integer"):
        run_suite(ident_suite, None, "processes", jobs=0)
    with pytest.raises(ParameterError, match="scheduler address applies to the dask executor only"):
        run_suite(ident_suite, None, "serial", scheduler="tcp://127.0.0.1:1")


def test_in_memory_results_equal_stored_results(serial_result, ident_suite):
    assert_same_bits(run_suite(load_suite(ident_suite), None, "serial"), serial_result)
