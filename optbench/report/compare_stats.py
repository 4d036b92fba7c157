"""The statistics of ``optbench compare``: common cells, per-seed costs, the paired cost test, the ERT ratio interval.

- :func:`restrict` keeps the runs of a prepared result set that belong to given
  cells (problem, solver) and renumbers the run ids of runs, trace and hits,
  so that every :mod:`optbench.analysis` function can read the subset.
- :func:`cell_costs`: per run, its cost at the target ``t`` (the quantity ERT
  sums): the evaluations until its best-so-far gap first reached ``t``, or all
  the evaluations it spent if it never did; and whether it reached ``t``.
- :func:`cost_tests`: per cell, the two-sided Wilcoxon signed-rank test on the
  paired seeds' cost values ``log10(cost) + (0 if reached else M)``, where ``M``
  (one more than the spread of the cell's log costs) makes a run that missed
  the target costlier than any run that reached it, and two misses compare by
  the evaluations they spent. Holm-corrected over the cells tested.
- :func:`ratio_interval`: the percentile bootstrap interval of
  ``cost_ratio = ERT_new / ERT_base`` over seed pairs resampled with
  replacement (ERT = sum of costs / number of runs that reached ``t``; where
  neither set reached ``t`` in a resample, the ratio of the evaluations spent).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from optbench import analysis, stats
from optbench.report.data import subset_runs

__all__ = ["KEYS", "cells", "restrict", "cell_costs", "cost_ratio", "cost_tests", "ratio_interval"]

KEYS = ["problem_label", "solver"]
BOOTSTRAP = 2000  # resamples of the ratio interval
CONFIDENCE = 0.95


def cells(runs: pd.DataFrame) -> set[tuple[str, str]]:
    """The (problem_label, solver) cells of a prepared runs table."""
    return set(map(tuple, runs[KEYS].drop_duplicates().to_numpy()))


def restrict(data: Any, keep_cells: Iterable[tuple[str, str]]) -> Any:
    """The result set (a prepared ResultSet) with the runs of ``keep_cells`` only, run ids renumbered 0..n-1."""
    index = pd.MultiIndex.from_tuples(sorted(keep_cells), names=KEYS) if keep_cells else pd.MultiIndex.from_tuples([], names=KEYS)
    keep = pd.MultiIndex.from_frame(data.runs[KEYS]).isin(index)
    return subset_runs(data, keep)


def cell_costs(data: Any, target: float) -> pd.DataFrame:
    """Per run: KEYS, ``seed``, ``reached`` (best-so-far gap <= target) and ``cost`` (evaluations, see module doc)."""
    hits = analysis.first_hits(data.runs, data.trace, [target], hits=data.hits)
    cost = np.where(hits["hit"], hits["evaluations"], hits["evaluations_spent"]).astype(float)
    return hits[KEYS + ["seed"]].assign(reached=hits["hit"].to_numpy(dtype=bool), cost=cost)


def cost_ratio(cost_base: np.ndarray, reached_base: np.ndarray, cost_new: np.ndarray, reached_new: np.ndarray) -> np.ndarray:
    """``ERT_new / ERT_base`` (sum of costs / successes) over the last axis; the ratio of evaluations spent where
    neither set succeeded, 0 or inf where only one did, NaN where the base spent nothing."""
    s_base, s_new = reached_base.sum(axis=-1), reached_new.sum(axis=-1)
    total_base, total_new = cost_base.sum(axis=-1), cost_new.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ert = (total_new / s_new) / (total_base / s_base)
        spent = np.where(total_base > 0, total_new / total_base, np.nan)
    one_sided = np.where(s_base == 0, 0.0, np.inf)
    return np.where((s_base == 0) & (s_new == 0), spent, np.where((s_base == 0) | (s_new == 0), one_sided,
                                                                  np.where(total_base > 0, ert, np.nan)))


def _values(cost: np.ndarray, reached: np.ndarray, offset: float) -> np.ndarray:
    return np.log10(np.maximum(cost, 1.0)) + np.where(reached, 0.0, offset)


def _pairs(base: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Cost rows of both sets paired by (cell, seed): columns cost_b, reached_b, cost_n, reached_n."""
    return base.merge(new, on=KEYS + ["seed"], suffixes=("_b", "_n"))


def cost_tests(base: pd.DataFrame, new: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per cell of the paired costs: ``cost_p``, ``cost_p_adjusted`` (Holm), ``cost_effect`` ("cheaper"/"costlier"/"")."""
    rows = []
    for key, block in _pairs(base, new).groupby(KEYS, sort=True):
        logs = np.log10(np.maximum(np.r_[block["cost_b"], block["cost_n"]], 1.0))
        offset = float(logs.max() - logs.min() + 1.0)
        difference = (_values(block["cost_n"].to_numpy(), block["reached_n"].to_numpy(), offset)
                      - _values(block["cost_b"].to_numpy(), block["reached_b"].to_numpy(), offset))
        if not np.any(difference != 0):
            rows.append((*key, 1.0, 0.0))
            continue
        p_value = float(_scipy_stats.wilcoxon(difference).pvalue)
        rows.append((*key, p_value, float(np.median(difference))))
    table = pd.DataFrame(rows, columns=KEYS + ["cost_p", "_shift"])
    table["cost_p_adjusted"] = stats.holm(table["cost_p"].to_numpy(dtype=float)) if len(table) else pd.Series(dtype=float)
    significant = table["cost_p_adjusted"].to_numpy(dtype=float) < alpha
    shift = table["_shift"].to_numpy(dtype=float)
    table["cost_effect"] = np.where(significant & (shift > 0), "costlier", np.where(significant & (shift < 0), "cheaper", ""))
    return table.drop(columns="_shift").set_index(KEYS)


def ratio_interval(base: pd.DataFrame, new: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per cell: ``cost_ratio`` on the paired seeds and its bootstrap interval ``ratio_low``, ``ratio_high``."""
    rng = np.random.default_rng(seed)
    tail = (1.0 - CONFIDENCE) / 2
    rows = []
    for key, block in _pairs(base, new).groupby(KEYS, sort=True):
        arrays = [block[c].to_numpy() for c in ("cost_b", "reached_b", "cost_n", "reached_n")]
        point = float(cost_ratio(*arrays))
        draws = rng.integers(0, len(block), size=(BOOTSTRAP, len(block)))
        ratios = cost_ratio(*(a[draws] for a in arrays))
        ratios = ratios[~np.isnan(ratios)]
        low, high = (np.quantile(ratios, [tail, 1 - tail], method="inverted_cdf") if ratios.size else (np.nan, np.nan))
        rows.append((*key, point, float(low), float(high)))
    return pd.DataFrame(rows, columns=KEYS + ["cost_ratio", "ratio_low", "ratio_high"]).set_index(KEYS)
