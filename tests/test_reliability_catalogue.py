"""Failures found by the adversarial catalogue (benchmarks/adversarial.py) on stacked folders, and their fixes.

A deleted manifest or a deleted stack file must not break resume or go unseen by
``optbench check``; out-of-range seed counts and dimensions are one-line
ParameterErrors naming the parameter; Ctrl-C while the console script imports
optbench is one line and exit status 130. Results are compared with the same
suite computed in memory (no folder), an independent path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optbench as ob
from optbench.cli import main
from optbench.driver import run_suite
from optbench.errors import ParameterError

SUITE = '''
name = "catalogue"
seeds = 2
[budget]
max_iter = 20
[[problems]]
name = "sphere"
dim = 3
[[methods]]
name = "gd"
step_rule = { name = "constant", lr = [0.1, 0.3] }
'''
ROOT = Path(__file__).resolve().parents[1]


def _same_as_memory(resumed, memory) -> None:
    for table in ("runs", "trace", "hits"):
        got, want = getattr(resumed, table), getattr(memory, table)
        pd.testing.assert_frame_equal(got.drop(columns=["time"], errors="ignore").reset_index(drop=True),
                                      want.drop(columns=["time"], errors="ignore").reset_index(drop=True),
                                      check_exact=True)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "s.toml").write_text(SUITE)
    run_suite(tmp_path / "s.toml", tmp_path / "out", "serial", progress=False)
    return tmp_path


def test_a_deleted_manifest_is_rebuilt_from_the_stack_files(folder: Path) -> None:
    (folder / "out" / "manifest.jsonl").unlink()
    resumed = run_suite(folder / "s.toml", folder / "out", "serial", progress=False)  # raised FileNotFoundError
    _same_as_memory(resumed, run_suite(folder / "s.toml", None, "serial", progress=False))
    assert main(["check", str(folder / "out")]) == 0
    assert "cells/" in (folder / "out" / "manifest.jsonl").read_text()


def test_a_deleted_stack_file_is_named_by_check_and_rebuilt(folder: Path, capsys) -> None:
    (stack,) = (folder / "out" / "cells").glob("*.stack.parquet")
    stack.unlink()
    capsys.readouterr()
    assert main(["check", str(folder / "out")]) == 1  # was 0
    assert "cells/" in capsys.readouterr().out
    resumed = run_suite(folder / "s.toml", folder / "out", "serial", progress=False)
    _same_as_memory(resumed, run_suite(folder / "s.toml", None, "serial", progress=False))
    assert main(["check", str(folder / "out")]) == 0


def test_a_table_replaced_by_another_table_of_the_folder_is_damage_not_a_foreign_folder(folder: Path, capsys) -> None:
    out = folder / "out"
    (out / "runs.parquet").write_bytes((out / "trace.parquet").read_bytes())  # sound bytes, wrong file
    capsys.readouterr()
    assert main(["check", str(out)]) == 1  # was 2, "not a results folder"
    assert "runs.parquet" in capsys.readouterr().out
    resumed = run_suite(folder / "s.toml", out, "serial", progress=False)
    _same_as_memory(resumed, run_suite(folder / "s.toml", None, "serial", progress=False))
    assert main(["check", str(out)]) == 0


@pytest.mark.parametrize("call, name", [
    (lambda: ob.run("sphere", "gd", seeds=10**30, max_iter=2), "seeds"),
    (lambda: ob.run("sphere", "gd", seeds=b"\x00", max_iter=2), "seeds"),
    (lambda: ob.tune("sphere", "gd", space={"step_rule.lr": {"log_uniform": [1e-3, 1.0]}}, seeds=10**30,
                     max_iter=2), "seeds"),
    (lambda: ob.problems.create("sphere", dim=10**30), "dim"),
    (lambda: ob.problems.create("rosenbrock", dim=10**30), "dim"),
])
def test_out_of_range_values_are_one_line_parameter_errors(call, name: str) -> None:
    with pytest.raises(ParameterError) as caught:  # were OverflowError, or bytes accepted as seeds
        call()
    assert name in str(caught.value) and "\n" not in str(caught.value)


INTERRUPT_IMPORT = '''
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "optbench":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
import optbench_entry
sys.exit(optbench_entry.main(["list"]))
'''


def test_ctrl_c_while_the_console_script_imports_optbench_is_one_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", INTERRUPT_IMPORT], capture_output=True, text=True, env=env, timeout=120)
    assert (done.returncode, done.stderr) == (130, "optbench: interrupted\n")


def test_the_console_script_runs_optbench() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "optbench_entry", "list", "problems"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0 and "sphere" in done.stdout
