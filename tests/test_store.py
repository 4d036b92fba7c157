"""Storage: atomic per-cell files, consolidation in suite order, provenance, resume."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import optbench as ob
from optbench.driver import run_suite
from optbench.suite import parse_suite
from optbench.store import Store, provenance, read_results
from conftest import suite_toml

SUITE = suite_toml(name="store", seeds=2, budget={"max_iter": 30},
                   methods=[{"name": "gd", "step_rule": {"name": "constant", "lr": [0.1, 0.2]}}])


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "store.toml"
    path.write_text(SUITE)
    return path


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "cells").glob("*.parquet")}


def test_write_cell_is_atomic_and_round_trips(tmp_path):
    store = Store(tmp_path / "out")
    result = ob.run("sphere", "gd", seeds=3, max_iter=10)
    assert not store.has("abc")
    store.write_cell("abc", result.runs, result.trace, {"x": 1})
    assert store.has("abc")
    assert sorted(p.name for p in (tmp_path / "out" / "cells").iterdir()) == ["abc.hits.parquet", "abc.runs.parquet", "abc.trace.parquet"]
    runs, trace, _ = store.read_cell_tables("abc")
    pd.testing.assert_frame_equal(runs, result.runs, check_dtype=False, check_exact=True)
    pd.testing.assert_frame_equal(trace, result.trace, check_dtype=False, check_exact=True)
    assert json.loads(pq.read_schema(store.runs_path("abc")).metadata[b"optbench"]) == {"x": 1}


def test_a_trace_without_runs_is_not_a_finished_cell(tmp_path):
    store = Store(tmp_path / "out")
    store.make_folders()
    (store.cells_dir / "abc.trace.parquet").write_bytes(b"partial")
    (store.cells_dir / "abc.runs.parquet.tmp").write_bytes(b"partial")
    assert not store.has("abc") and store.scan({"abc": None})[0] == set()


def test_consolidated_tables_provenance_and_resume(suite_file, tmp_path):
    out = tmp_path / "out"
    first = run_suite(suite_file, out, "serial", command=["optbench", "run", "store.toml"])
    assert first.cells_run == 4 and first.cells_skipped == 0
    runs, trace, meta = read_results(out)
    assert runs["cell"].unique().tolist() == [c.description["cell"] for c in first.suite.cells]
    assert len(runs) == 8 and set(trace["cell"]) == set(runs["cell"])
    for key in ("optbench", "python", "numpy", "platform", "machine", "date", "suite_path", "suite_text", "command", "git_commit"):
        assert key in meta
    assert meta["suite_text"] == SUITE and meta["command"] == ["optbench", "run", "store.toml"]
    assert json.loads((out / "provenance.json").read_text())["suite_path"] == str(suite_file.resolve())
    assert not list(out.rglob("*.tmp"))

    before = stamps(out)
    again = run_suite(suite_file, out, "serial")
    assert again.cells_run == 0 and again.cells_skipped == 4
    assert stamps(out) == before  # not one finished cell was written again
    pd.testing.assert_frame_equal(again.runs.drop(columns="time"), runs.drop(columns="time"), check_exact=True)

    forced = run_suite(suite_file, out, "serial", force=True)
    assert forced.cells_run == 4
    assert all(stamps(out)[name][1] > before[name][1] or stamps(out)[name][0] != before[name][0] for name in before)

    suite_file.write_text(SUITE.replace("max_iter = 30", "max_iter = 31"))
    changed = run_suite(suite_file, out, "serial")
    assert changed.cells_run == 4  # a new budget is a new cell key
    assert len(list((out / "cells").glob("*.stack.parquet"))) == 4  # one file per stack: 2 problems x 2 budgets
    assert len(read_results(out)[0]) == 8  # consolidation holds this suite's cells only


def test_git_commit_is_that_of_the_source_tree():
    folder = Path(ob.__file__).resolve().parent
    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    commit = provenance()["git_commit"]
    if done.returncode == 0:
        assert commit.split("-")[0] == done.stdout.strip()
    else:
        assert commit is None


def test_read_results_of_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="runs.parquet is missing"):
        read_results(tmp_path)


def test_reading_keys_as_categoricals_gives_the_same_tables(tmp_path):
    from optbench.store import read_tables

    ob.run_suite(parse_suite('name = "cat"\nseeds = 3\n[budget]\nmax_iter = 30\n[[problems]]\nname = "sphere"\n'
                             '[[methods]]\nname = "gd"\nstep_rule = { name = "constant", lr = [0.1, 0.01] }\n'),
                 out=tmp_path / "out", progress=False)
    plain, _ = read_tables(tmp_path / "out")
    lean, _ = read_tables(tmp_path / "out", categorical=True)
    assert str(lean.trace["problem"].dtype) == "category" and str(lean.hits["method"].dtype) == "category"
    for name in ("runs", "trace", "hits"):
        a, b = getattr(plain, name), getattr(lean, name)
        assert len(a) > 0 and list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a, b.astype({c: a[c].dtype for c in a.columns}), check_exact=True)


def test_the_report_reads_through_the_store_and_uses_exact_hits(tmp_path):
    from optbench.store import MARKER

    out = tmp_path / "out"
    ob.run_suite(parse_suite('name = "h"\nseeds = 3\n[budget]\nmax_iter = 300\n[[problems]]\nname = "sphere"\n'
                             '[[methods]]\nname = "gd"\nstep_rule = "armijo"\n'), out=out, progress=False)
    text = ob.report(out, out=tmp_path / "html").read_text()
    assert "Runtimes to a target (ERT, runtime ECDFs) are exact" in text
    (out / MARKER).write_text("{}")  # an interrupted consolidation
    with pytest.raises(Exception, match="consolidation .* was interrupted"):
        ob.report(out, out=tmp_path / "html2")
