"""The leaderboard and runtime ECDF aggregated by DuckDB over the hits (optbench.analysis_sql) equal pandas' on the full tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optbench import analysis, analysis_sql
from optbench.errors import ParameterError
from optbench.report.data import load_results


def _synthetic():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_results.py"
    spec = importlib.util.spec_from_file_location("synthetic_results", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _synthetic().write_results(tmp_path_factory.mktemp("sql") / "res", problems=7, solvers=4, seeds=40, seed=3)


def _close(old: pd.Series, new: pd.Series) -> None:
    """Equal, numbers up to 4 ulp (DuckDB sums and numpy's means add in another order), infinities and NaN alike."""
    if old.dtype.kind in "fiub":
        np.testing.assert_allclose(new.to_numpy(dtype=float), old.to_numpy(dtype=float), rtol=1e-15 * 4, atol=0)
    else:
        assert new.astype(str).tolist() == old.astype(str).tolist()


def test_the_leaderboard_from_runs_and_aggregated_hits_equals_the_full_one(folder):
    data = load_results(folder)  # the whole trace and hits in pandas
    assert (data.runs["status"] == "diverged").any()
    old = analysis.leaderboard(data.runs, data.trace, hits=data.hits)
    new = analysis_sql.leaderboard(folder)
    assert len(new) == len(old) == 28 and set(new.columns) <= set(old.columns)
    assert {"success@1e-8", "ert", "evaluations_to_target", "rank", "f_gap_median"} <= set(new.columns)
    assert np.isfinite(new["ert"]).any() and (new["success@1e-8"] < 1).any()
    for column in new.columns:
        _close(old[column], new[column])


def test_the_runtime_ecdf_from_hit_counts_equals_the_full_one(folder):
    data = load_results(folder)
    for axis in ("evaluations", "iterations"):
        old = analysis.runtime_ecdf(data.runs, data.trace, hits=data.hits, bootstrap=0, axis=axis)
        new = analysis_sql.runtime_ecdf(folder, axis=axis)
        assert list(new.columns) == list(old.columns) and len(new) == len(old) == 4 * 200
        assert 0 < new["proportion"].max() < 1
        for column in new.columns:
            _close(old[column], new[column])


def test_unknown_f_opt_is_refused(folder, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    table = pq.read_table(copy / "runs.parquet")
    f_opt = table.column("f_opt").to_numpy().copy()
    f_opt[:40] = np.nan
    index = table.schema.get_field_index("f_opt")
    pq.write_table(table.set_column(index, "f_opt", [f_opt]), copy / "runs.parquet")
    with pytest.raises(ParameterError, match="f_opt is unknown"):
        analysis_sql.leaderboard(copy)
