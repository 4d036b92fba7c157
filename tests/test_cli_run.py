"""`optbench run`: end to end, bad suites exit 2 writing nothing, SIGKILL part-way then resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import numpy as np
import pytest

from optbench import analysis
from optbench.cli import main
from optbench.driver import run_suite
from optbench.store import read_results
from conftest import suite_toml

SMALL = suite_toml(name="small", budget={"max_iter": 40}, problems=[{"name": "sphere", "dim": [2, 4]}])

SLOW = suite_toml(name="slow", seeds=8, budget={"max_iter": 3000, "record": "last"},
                  problems=[{"name": "quadratic", "dim": list(range(60, 74))}],
                  methods=[{"name": "gd", "step_rule": {"name": "constant", "lr": 0.005}}])

PLUGIN = '''
import optbench as ob

@ob.register_method("cli-test-plugin-gd")
class PluginGD(ob.Method):
    def direction(self, X, G, state, k):
        return -G, state
'''


def test_run_writes_results_and_prints_a_leaderboard(tmp_path, capsys):
    (tmp_path / "small.toml").write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "small.toml"), "--out", str(out), "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "suite 'small': 4 cells (4 run, 0 already done, 0 failed); runs: 12 budget" in printed
    assert "median gap" in printed
    runs, trace, meta = read_results(out)
    # the printed median of gd + constant(lr=0.1) on the 2-D sphere is that of the stored runs
    cell = runs[(runs["problem_params"] == '{"dim":2}') & (runs["step_params"] == '{"lr":0.1}')]
    lines = printed.splitlines()
    section = lines[lines.index("sphere(dim=2)") + 1:]
    line = next(l for l in section if "gd + constant(lr=0.1)" in l)
    assert line.split()[4] == f"{np.median(cell['f_gap']):.3e}" and line.split()[0] == "1"  # the smaller gap ranks 1
    assert len(runs) == 12 and meta["command"][:2] == ["optbench", "run"]
    # apart from the statuses, the summary counts the runs that reached the target: on the sphere
    # x_k = (1 - 2 lr)^k x_0, so lr = 0.1 reaches 1e-6 in 40 steps from |x_0|^2 < 5e1 and lr = 0.01 does not
    reached = int((runs["f_gap"] <= 1e-6).sum())
    assert reached == int((runs["step_params"] == '{"lr":0.1}').sum()) == 6
    assert f"reached the target f - f_opt <= 1e-06: {reached} of 12" in printed
    assert main(["run", str(tmp_path / "small.toml"), "--out", str(out), "--no-report"]) == 0
    assert "(0 run, 4 already done" in capsys.readouterr().out


def test_plugin_given_on_the_command_line_reaches_worker_processes(tmp_path, capsys, scratch_registry_names):
    (tmp_path / "plugin.py").write_text(PLUGIN)
    (tmp_path / "s.toml").write_text(SMALL.replace('name = "gd"', 'name = "cli-test-plugin-gd"'))
    code = main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--executor", "processes",
                 "--jobs", "2", "--no-report", "--plugin", str(tmp_path / "plugin.py")])
    assert code == 0, capsys.readouterr().err
    runs = read_results(tmp_path / "out")[0]
    assert set(runs["method"]) == {"cli-test-plugin-gd"} and set(runs["status"]) == {"budget"}


FRAGILE = '''
import numpy as np
import optbench as ob

@ob.register_method("cli-test-jumps-home-or-blows-up-on-the-right")
class JumpsOrBlowsUp(ob.Method):
    """D = -X (straight to the sphere's minimum with lr = 1) where x_1 < threshold, else D = growth * X (diverges)."""

    def __init__(self, threshold=-0.5, growth=1000.0):
        self.threshold, self.growth = threshold, growth

    def direction(self, X, G, state, k):
        return np.where(X[:, :1] < self.threshold, -X, self.growth * X), state
'''

FRAGILE_SUITE = suite_toml(name="fragile", seeds=10, plugins=["fragile.py"], budget={"max_iter": 30},
                           problems=[{"name": "sphere", "dim": 2}],
                           methods=[{"name": "cli-test-jumps-home-or-blows-up-on-the-right", "threshold": -0.4,
                                     "growth": 999.5, "step_rule": {"name": "constant", "lr": 1.0}},
                                    {"name": "gd", "step_rule": {"name": "constant", "lr": 0.1}}])


def test_terminal_leaderboard_is_failure_aware_and_prints_whole_labels(tmp_path, capsys, scratch_registry_names):
    (tmp_path / "fragile.py").write_text(FRAGILE)
    (tmp_path / "s.toml").write_text(FRAGILE_SUITE)
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--no-report"]) == 0
    printed = capsys.readouterr().out.splitlines()
    runs = read_results(tmp_path / "out")[0]
    fragile = runs[runs["method"] != "gd"]
    # the premise: most of its runs diverge, and those that finish end exactly at the minimum (gap 0 < gd's gap)
    assert (fragile["status"] == "diverged").sum() > len(fragile) / 2
    assert (fragile.loc[fragile["status"] != "diverged", "f_gap"] == 0).all()
    assert (runs.loc[runs["method"] == "gd", "f_gap"] > 0).all()
    rows = printed[printed.index("sphere(dim=2)") + 1:][:2]
    assert rows[0].split()[:4] == ["1", "gd", "+", "constant(lr=0.1)"]
    label = analysis.prepare(fragile)[0]["solver"].iloc[0]  # the solver label, as the report shows it
    assert len(label) > 50 and "999.5" in label and "-0.4" in label
    assert rows[1].split()[0] == "2" and f"  {label}  " in rows[1]  # ranked last, and whole
    assert rows[1].split()[-2] == str(int((fragile["status"] == "diverged").sum()))  # the diverged count


@pytest.mark.parametrize("text, fragments", [
    (SMALL.replace('name = "gd"', 'name = "adamm"'), ["s.toml: methods[0].name", "unknown method 'adamm'", "Did you mean 'adam'?"]),
    (SMALL.replace("lr = [0.1, 0.01]", "lr = [0.1, \"x\"]"), ["s.toml: methods[0].step_rule.lr", "expects float"]),
    (SMALL.replace("max_iter = 40", "max_iter = 40\nrecord = 'every'"), ["s.toml: budget.record must be 'log', 'all', 'last' or an integer >= 1", "got 'every'"]),
])
def test_bad_suite_exits_2_and_writes_nothing(tmp_path, capsys, text, fragments):
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("optbench: error: ")
    for fragment in fragments:
        assert fragment in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_unknown_suite_name_and_bad_options_exit_2(tmp_path, capsys):
    assert main(["run", "quik", "--out", str(tmp_path / "o")]) == 2
    assert "Did you mean 'quick'?" in capsys.readouterr().err
    (tmp_path / "small.toml").write_text(SMALL)
    assert main(["run", str(tmp_path / "small.toml"), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler applies to --executor dask only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_sigkill_part_way_then_resume_loses_nothing_and_recomputes_nothing(tmp_path):
    suite = tmp_path / "slow.toml"
    suite.write_text(SLOW)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "optbench.cli", "run", str(suite), "--out", str(out), "--no-report"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "cells").glob("*.stack.parquet"))) < 3 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "cells").glob("*.stack.parquet")}
    assert 3 <= len(finished) < 14, "the kill must come part-way through the suite"
    assert not (out / "runs.parquet").exists()

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"14 cells ({14 - len(finished)} run, {len(finished)} already done, 0 failed)" in done.stdout
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "cells").glob("*.stack.parquet")}
    assert len(after) == 14
    assert {name: after[name] for name in finished} == finished  # no finished cell was written again

    uninterrupted = run_suite(suite, tmp_path / "reference", "serial")
    runs, trace, _ = read_results(out)
    pd.testing.assert_frame_equal(runs.drop(columns="time"), uninterrupted.runs.drop(columns="time"), check_exact=True)
    pd.testing.assert_frame_equal(trace.drop(columns="time"), uninterrupted.trace.drop(columns="time"), check_exact=True)


def test_progress_bar_is_quiet_when_not_on_a_terminal(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL)
    done = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "run", str(tmp_path / "small.toml"), "--out", str(tmp_path / "o"), "--no-report"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0 and done.stderr == ""


def test_ctrl_c_stops_cleanly_with_finished_cells_on_disk(tmp_path):
    suite = tmp_path / "slow.toml"
    suite.write_text(SLOW)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "optbench.cli", "run", str(suite), "--out", str(out), "--no-report",
               "--executor", "processes", "--jobs", "2"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list((out / "cells").glob("*.stack.parquet"))) < 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    try:
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130 and "optbench: interrupted" in err
    assert "Traceback" not in err
    finished = list((out / "cells").glob("*.stack.parquet"))
    assert 2 <= len(finished) < 14
    resumed = run_suite(suite, out, "serial")
    assert resumed.cells_skipped == len(finished) and len(resumed.runs) == 14 * 8
