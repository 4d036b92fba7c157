"""SQL over a results folder (``ob.query``, ``optbench query``): the views read what the store reads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import optbench as ob
from optbench.errors import QueryError
from optbench.store import MARKER, read_finished_cells, read_tables
from optbench.suite import parse_suite
from conftest import suite_toml

SUITE = suite_toml(name="q", seeds=4, budget={"max_iter": 150},
                   problems=[{"name": "rosenbrock", "dim": 2}, {"name": "sphere", "dim": 3}],
                   methods=[{"name": "gd", "step_rule": ["armijo", {"name": "constant", "lr": 0.01}]}])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("query") / "res"
    ob.run_suite(parse_suite(SUITE), out=out, progress=False)
    return out


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optbench.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_views_hold_the_tables_the_store_reads(results):
    tables, _ = read_tables(results)
    for name in ("runs", "trace", "hits"):
        frame = getattr(tables, name)
        counted = ob.query(results, f"SELECT count(*) AS n FROM {name}")["n"].iloc[0]
        assert len(frame) > 0 and counted == len(frame)
    got = ob.query(results, "SELECT * FROM trace ORDER BY cell, seed, iteration")
    expected = tables.trace.sort_values(["cell", "seed", "iteration"], kind="stable").reset_index(drop=True)
    for column in ("seed", "iteration", "f_evals", "g_evals", "f", "f_gap", "grad_norm", "step_size"):
        np.testing.assert_array_equal(got[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float))


def test_an_aggregate_equals_pandas_on_the_same_tables(results):
    runs = read_tables(results)[0].runs
    got = ob.query(results, """
        SELECT problem, step_rule, median(f_gap) FILTER (status IN ('converged', 'budget')) AS median_gap,
               count(*) FILTER (status = 'diverged') AS diverged
        FROM runs GROUP BY problem, step_rule ORDER BY problem, step_rule""")
    finished = runs[runs["status"].isin(["converged", "budget"])]
    median = finished.groupby(["problem", "step_rule"])["f_gap"].median()
    diverged = runs.assign(d=runs["status"].eq("diverged")).groupby(["problem", "step_rule"])["d"].sum()
    assert len(got) == 4 and got["diverged"].sum() > 0  # rosenbrock with lr=0.01 diverges
    for row in got.itertuples():
        assert row.diverged == diverged[(row.problem, row.step_rule)]
        expected = median.get((row.problem, row.step_rule), np.nan)
        assert (np.isnan(row.median_gap) and np.isnan(expected)) or row.median_gap == expected


def test_an_interrupted_suite_gives_its_sound_cells(results, tmp_path):
    import shutil

    folder = tmp_path / "cells-only"
    shutil.copytree(results / "cells", folder / "cells")
    victim = sorted((folder / "cells").glob("*.parquet"))[0]  # a stack file (or a cell file of an older folder)
    victim.write_bytes(victim.read_bytes()[:100])  # a damaged cell: left out, as read_finished_cells leaves it out
    tables, _ = read_finished_cells(folder)
    assert ob.query(folder, "SELECT count(*) AS n FROM runs")["n"].iloc[0] == len(tables.runs) < len(read_tables(results)[0].runs)
    assert ob.query(folder, "SELECT count(*) AS n FROM trace")["n"].iloc[0] == len(tables.trace)


def test_a_folder_without_hits_has_an_empty_hits_view(results, tmp_path):
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(results, folder)
    (folder / "hits.parquet").unlink()
    (folder / "manifest.jsonl").unlink()  # such folders had no manifest either (one that lists hits.parquet is damaged)
    frame = ob.query(folder, "SELECT * FROM hits")
    assert len(frame) == 0 and {"target", "iteration", "seed"} <= set(frame.columns)


def test_refused_folders_and_bad_sql(results, tmp_path):
    with pytest.raises(QueryError, match="Parser Error"):
        ob.query(results, "SELEC 1")
    with pytest.raises(QueryError, match="nope"):
        ob.query(results, "SELECT nope FROM runs")
    with pytest.raises(FileNotFoundError):
        ob.query(tmp_path / "nowhere", "SELECT 1")
    import shutil

    folder = tmp_path / "busy"
    shutil.copytree(results, folder)
    (folder / MARKER).write_text("{}")
    with pytest.raises(Exception, match="consolidation .* was interrupted"):
        ob.query(folder, "SELECT 1")


def test_cli_prints_writes_csv_and_parquet(results, tmp_path):
    sql = "SELECT problem, seed, f_gap FROM runs ORDER BY problem, step_rule, seed"
    expected = ob.query(results, sql)
    done = cli("query", str(results), sql, "--max-rows", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["problem", "seed", "f_gap"] and len(lines) == 5 and "more rows" in lines[-1]
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"out{suffix}"
        done = cli("query", str(results), sql, "--out", str(path))
        assert done.returncode == 0, done.stderr
        frame = pd.read_csv(path) if suffix == ".csv" else pq.read_table(path).to_pandas()
        assert list(frame["seed"]) == list(expected["seed"])
        np.testing.assert_allclose(frame["f_gap"], expected["f_gap"], rtol=1e-15)


@pytest.mark.parametrize("args, message", [
    (["SELEC 1"], "Parser Error"),
    (["SELECT nope FROM runs"], "nope"),
    (["SELECT cast('a' AS INT) AS x FROM runs", "--out", "x.csv"], "Conversion Error"),
    (["SELECT 1", "--out", "x.json"], "valid: .csv, .parquet"),
    (["SELECT 1", "--max-rows", "0"], "--max-rows"),
])
def test_cli_errors_are_one_line_exit_2_nothing_written(results, tmp_path, args, message):
    done = cli("query", str(results), *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_folder_exit_2(tmp_path):
    done = cli("query", str(tmp_path / "nowhere"), "SELECT 1")
    assert done.returncode == 2 and "nowhere" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- the analysis' reader (optbench.sql.read_prepared)
def _synthetic():
    """benchmarks/synthetic_results.py, loaded by path (benchmarks/ is not an installed package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_results.py"
    spec = importlib.util.spec_from_file_location("synthetic_results", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pandas_path(folder):
    """The reading before DuckDB: the store's tables in pandas, then analysis.prepare / prepare_hits."""
    from optbench import analysis

    tables, _ = read_tables(folder, categorical=True) if (folder / "runs.parquet").is_file() else read_finished_cells(folder)
    runs, trace = analysis.prepare(tables.runs, tables.trace)
    return runs, trace, analysis.prepare_hits(runs, tables.hits)


def _assert_same(old: pd.DataFrame, new: pd.DataFrame) -> None:
    assert list(old.columns) == list(new.columns) and len(old) == len(new) > 0
    for column in old.columns:
        a, b = old[column], new[column]
        if "category" in (str(a.dtype), str(b.dtype)):  # key text the store reads as categorical or not, by folder
            a, b = a.astype(str), b.astype(str)
        pd.testing.assert_series_equal(a, b, check_exact=True, obj=column)


@pytest.fixture(scope="module")
def suite_10k(tmp_path_factory):
    return _synthetic().write_results(tmp_path_factory.mktemp("synthetic") / "res", problems=8, solvers=5, seeds=250)


TUNED = suite_toml(name="tuned-q", seeds=3, budget={"max_iter": 60}, problems=[{"name": "rosenbrock", "dim": [2, 3]}],
                   methods=[{"name": "adam", "tune": {"step_rule.lr": {"log_uniform": [1e-4, 1.0]}}},
                            {"name": "gd", "step_rule": "armijo"}],
                   tuning={"trials": 3, "seeds": 2})


def test_the_duckdb_reader_gives_the_pandas_tables_column_by_column(results, suite_10k, tmp_path):
    import shutil

    from optbench.sql import read_prepared

    cells_only = tmp_path / "cells-only"
    shutil.copytree(results / "cells", cells_only / "cells")
    tuned = tmp_path / "tuned"  # tuning and evaluation phases; a default setting that wins is copied as the tuned one
    ob.run_suite(parse_suite(TUNED, "tuned-q.toml"), out=tuned, progress=False)
    for folder in (results, suite_10k, cells_only, tuned):
        for old, new in zip(_pandas_path(folder), read_prepared(folder)[:3]):
            _assert_same(old, new)
    assert len(read_prepared(suite_10k)[0]) == 10_000


def test_analysis_of_a_10k_run_suite_is_unchanged(suite_10k):
    from optbench import analysis
    from optbench.report.data import load_results

    old = _pandas_path(suite_10k)
    new = load_results(suite_10k)  # the report's reader
    assert (new.runs["status"] == "diverged").any() and new.hits is not None
    _assert_same(analysis.leaderboard(old[0], old[1], hits=old[2]), analysis.leaderboard(new.runs, new.trace, hits=new.hits))
    ecdf_old = analysis.runtime_ecdf(old[0], old[1], hits=old[2], bootstrap=20, seed=1)
    ecdf_new = analysis.runtime_ecdf(new.runs, new.trace, hits=new.hits, bootstrap=20, seed=1)
    _assert_same(ecdf_old, ecdf_new)
    _assert_same(analysis.fixed_budget(old[0], old[1]), analysis.fixed_budget(new.runs, new.trace))
    _assert_same(analysis.performance_profile(old[0], old[1]), analysis.performance_profile(new.runs, new.trace))
