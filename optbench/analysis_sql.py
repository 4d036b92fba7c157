"""The leaderboard and the runtime ECDF of a results folder too large to load: the hits aggregated by DuckDB.

    from optbench import analysis_sql
    board = analysis_sql.leaderboard(folder)            # the runs' columns of analysis.leaderboard, and its hit columns
    ecdf = analysis_sql.runtime_ecdf(folder)            # analysis.runtime_ecdf without bootstrap bands

A million runs have some 28 M trace rows and 45 M hits: more than pandas holds in
a few GiB. These functions read the ``runs`` table (one row per run) into pandas
and leave the ``hits`` table in the Parquet files, where DuckDB reduces it to a
few thousand rows out of core: per cell and target the runs that reached it and
the evaluations they spent until then (leaderboard), per cell the count of first
hits at each runtime (ECDF). The numbers are those of :func:`optbench.analysis.leaderboard`
and :func:`optbench.analysis.runtime_ecdf` (``bootstrap=0``) on the same folder, up to
the rounding of sums taken in another order (tests/test_analysis_sql.py checks them).

They need what makes the hits table exact (:mod:`optbench.analysis`, "runtimes to a
target"): every problem's ``f_opt`` known and no tuned (``phase``) runs; otherwise
they raise ``ParameterError`` and ``ob.analysis`` is the way. A cell without any
hit row is read as "no run reached any target" (the trace is not read).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pandas as pd

from optbench import analysis
from optbench.errors import ParameterError

if TYPE_CHECKING:
    import duckdb

__all__ = ["prepared_runs", "leaderboard", "runtime_ecdf"]

RUN_COLUMNS = ("cell", "problem", "problem_params", "dim", "method", "method_params", "step_rule", "step_params",
               "batch_size", "phase", "trial", "seed", "status", "f", "f_opt", "f_gap", "iterations", "f_evals",
               "g_evals", "epochs", "time", "message")


def prepared_runs(results: str | Path) -> pd.DataFrame:
    """The runs table of ``results`` prepared as :func:`optbench.analysis.prepare` prepares it (no trace read).

    ``ParameterError`` when some problem's ``f_opt`` is unknown (its estimate needs the
    trace) or the folder holds tuned runs (their copies need the hits relabelled).
    """
    from optbench.sql import connect

    with contextlib.closing(connect(results)) as connection:
        return _prepared_runs(connection, results)


def _prepared_runs(connection: "duckdb.DuckDBPyConnection", results: str | Path) -> pd.DataFrame:
    from optbench.sql import _frame, _identifier

    present = [c for c in RUN_COLUMNS if c in connection.table("runs").columns]
    runs = _frame(connection.sql(f"SELECT {', '.join(map(_identifier, present))} FROM runs").to_arrow_table())
    if runs["f_opt"].isna().any():
        raise ParameterError(f"{results}: f_opt is unknown for some problems; their gaps need the trace: use ob.analysis")
    if "phase" in runs and (runs["phase"].astype(str) != "").any():
        raise ParameterError(f"{results}: the folder holds a tuned suite's runs; use ob.analysis")
    return analysis.prepare(runs, None)[0]




def _axis_value(axis: str) -> str:
    """The SQL expression of ``axis`` on a hits row (evaluations = f + gradient evaluations, as analysis counts them)."""
    return {"evaluations": "coalesce(f_evals, 0) + coalesce(g_evals, 0)", "iterations": "iteration"}.get(axis, axis)


def _cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell: its problem and solver labels, dimension and number of runs."""
    return runs.groupby("cell", sort=False).agg(problem_label=("problem_label", "first"), solver=("solver", "first"),
                                                method_label=("method_label", "first"), step_label=("step_label", "first"),
                                                dim=("dim", "first"), n_runs=("run", "size"))


def leaderboard(results: str | Path, targets: Sequence[float] = (1e-2, 1e-4, 1e-6, 1e-8),
                target: float = 1e-6) -> pd.DataFrame:
    """One row per (problem, solver): the columns of :func:`optbench.analysis.leaderboard` that runs and hits give.

    From the runs (:func:`optbench.analysis.runs_leaderboard`): ``n_runs``, ``n_finished``,
    ``rank``, ``f_gap_median_all``, the quartiles of the final gap, the failure rates.
    From the hits, aggregated by DuckDB: ``success@t`` = runs that reached t / runs;
    ``evaluations_to_target`` = median over the runs that reached ``target`` of the
    evaluations at their first hit; ``ert`` = (evaluations of the successful runs until
    their hit + all evaluations of the others) / successes (inf without any).
    """
    from optbench.sql import connect

    keys = ["problem_label", "solver"]
    listing = ", ".join(repr(float(t)) for t in targets)
    with contextlib.closing(connect(results)) as connection:
        runs = _prepared_runs(connection, results)
        reached = connection.sql(f"SELECT cell, target, count(*) AS n FROM hits WHERE target IN ({listing}) GROUP BY ALL").df()
        at_hit = connection.sql(f"SELECT cell, seed, {_axis_value('evaluations')} AS at_hit FROM hits "
                                f"WHERE target = {float(target)!r}").df()
    table = analysis.runs_leaderboard(runs)
    reached = reached.join(_cells(runs)[keys], on="cell")
    for t in targets:
        count = reached[reached["target"] == float(t)].groupby(keys)["n"].sum().reindex(table.index, fill_value=0)
        table[f"success@{analysis.success_name(t)}"] = count.to_numpy(dtype=float) / table["n_runs"].to_numpy()
    analysis.failure_rates(table, runs)
    table["evaluations_to_target"], table["ert"] = _at_target(runs, at_hit, table.index)
    table["target"] = float(target)
    return table.reset_index().sort_values(["problem_label", "rank", "solver"], kind="stable", ignore_index=True)


def _at_target(runs: pd.DataFrame, hits: pd.DataFrame, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(median evaluations at the first hit of the target over the runs that reached it, ERT) per leaderboard row;
    ``hits``: ``cell, seed, at_hit`` of the runs that reached it."""
    runs = runs[["cell", "seed", "problem_label", "solver", "evaluations"]].merge(hits, on=["cell", "seed"], how="left")
    reached = runs["at_hit"].notna()
    spent = np.where(reached, runs["at_hit"].to_numpy(dtype=float), runs["evaluations"].to_numpy(dtype=float))
    groups = [runs["problem_label"], runs["solver"]]
    successes = reached.groupby(groups).sum().reindex(index, fill_value=0).to_numpy()
    total = pd.Series(spent).groupby(groups).sum().reindex(index).to_numpy()
    median = runs["at_hit"].groupby(groups).median().reindex(index).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ert = np.where(successes > 0, total / np.maximum(successes, 1), np.inf)
    return median, ert


def runtime_ecdf(results: str | Path, targets: Iterable[float] | None = None, axis: str = "evaluations",
                 points: int = 200) -> pd.DataFrame:
    """:func:`optbench.analysis.runtime_ecdf` with ``bootstrap=0`` (``lower`` = ``upper`` = ``proportion``), from the hits.

    ``proportion(x)`` = mean over the problems of the common-coverage block of the
    fraction of (run, target) pairs of the solver there whose runtime (first hit on
    ``axis`` / dimension) is <= x, on a log grid of ``points`` values from the smallest
    positive runtime or budget to the largest, as analysis spaces it.
    """
    from optbench.sql import connect

    analysis._check_axis(axis)
    ladder = analysis._check_targets(targets)
    listing = ", ".join(repr(float(t)) for t in ladder)
    with contextlib.closing(connect(results)) as connection:
        runs = _prepared_runs(connection, results)
        counts = connection.sql(f"SELECT cell, {_axis_value(axis)} AS value, count(*) AS n FROM hits "
                                f"WHERE target IN ({listing}) GROUP BY ALL").df()
    cover = analysis.coverage(runs)
    cells = _cells(runs)
    cells = cells[cells["problem_label"].isin(cover.problems) & cells["solver"].isin(cover.solvers)]
    counts = counts.join(cells, on="cell", how="inner")
    counts["runtime"] = counts["value"].to_numpy(dtype=float) / _scale(counts["dim"])
    grid = _grid(runs, cover, axis, counts["runtime"].to_numpy(), points)
    frames = []
    for solver in cover.solvers:
        curves = []
        for problem in cover.problems:
            here = counts[(counts["solver"] == solver) & (counts["problem_label"] == problem)]
            n_runs = cells.loc[(cells["solver"] == solver) & (cells["problem_label"] == problem), "n_runs"].sum()
            index = np.searchsorted(grid, here["runtime"].to_numpy(), side="left")  # as analysis._fraction_reached
            reached = np.bincount(index, weights=here["n"].to_numpy(dtype=float), minlength=len(grid) + 1)[:len(grid)]
            curves.append(np.cumsum(reached) / (n_runs * len(ladder)))
        proportion = np.mean(curves, axis=0)
        first = cells[cells["solver"] == solver].iloc[0]
        frames.append(pd.DataFrame({"solver": solver, "method_label": first["method_label"], "step_label": first["step_label"],
                                    "x": grid, "proportion": proportion, "lower": proportion, "upper": proportion, "axis": axis}))
    table = pd.concat(frames, ignore_index=True)
    table.attrs["coverage"] = cover
    return table


def _scale(dim: pd.Series) -> np.ndarray:
    """A runtime's divisor: the dimension, 1 where it is not positive (as analysis divides)."""
    dim = dim.to_numpy(dtype=float)
    return np.where(dim > 0, dim, 1.0)


def _grid(runs: pd.DataFrame, cover, axis: str, runtimes: np.ndarray, points: int) -> np.ndarray:
    """The ECDF's log grid: from the smallest positive runtime or budget (per dimension) of the block to the largest."""
    inside = (runs["problem_label"].isin(cover.problems) & runs["solver"].isin(cover.solvers)).to_numpy()
    budget = (runs[axis].to_numpy(dtype=float) / _scale(runs["dim"]))[inside]
    candidates = np.r_[runtimes[np.isfinite(runtimes)], budget[np.isfinite(budget)]]
    positive = candidates[candidates > 0]
    low = positive.min() if positive.size else 1.0
    high = max(positive.max(), low * 10) if positive.size else 10.0
    return np.geomspace(low, high, points)
