"""Significance: paired tests per problem, Holm's correction, Friedman's test and Nemenyi's critical difference.

Common random numbers make seed ``s`` of every solver start from the same point
(and see the same minibatches), so the runs of two solvers on one problem are
paired by seed. Within a problem, :func:`pairwise` compares every two solvers
with the Wilcoxon signed-rank test on the paired differences of log gaps, and
corrects for the number of comparisons with Holm's step-down procedure
(Holm 1979) over the comparisons of that problem (``family="problem"``, as
IOHanalyzer's ``pairwise.test`` does on one function), or over the whole table
(``family="table"``). Across problems, :func:`friedman` tests whether the solvers'
ranks differ (Friedman's chi-square) and gives the Nemenyi critical difference
of average ranks drawn in a critical-difference diagram (Demšar 2006).
:func:`marks` and :func:`headlines` turn both into what a table shows: the best
solver of each problem and every solver not significantly worse than it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from optbench import analysis, schema
from optbench.errors import ParameterError, did_you_mean
__all__ = ["METRICS", "FAMILIES", "holm", "min_p_value", "paired_values", "pairwise", "FriedmanResult", "friedman", "critical_difference",
           "marks", "headlines"]

METRICS = ("f_gap", "f")
FAMILIES = ("problem", "table")  # what Holm's correction counts: the comparisons of one problem, or of the table
PAIRWISE_COLUMNS = ["problem_label", "solver_a", "solver_b", "n_pairs", "n_failed_a", "n_failed_b",
                    "statistic", "p_value", "p_min", "p_adjusted", "effect", "better"]


def _check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ParameterError(f"unknown family {family!r}.{did_you_mean(str(family), list(FAMILIES))} "
                             f"Valid: {', '.join(FAMILIES)}")
    return family


def min_p_value(n_pairs: Any) -> np.ndarray:
    """The smallest exact two-sided Wilcoxon signed-rank p-value with ``n`` paired differences: ``2 / 2^n``.

    It is reached when all n differences have one sign (of the ``2^n`` equally likely
    sign patterns under the null hypothesis, two are that extreme); 1 for n = 0.
    """
    n = np.asarray(n_pairs, dtype=float)
    return np.minimum(1.0, 2.0 ** (1.0 - n))


def _check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ParameterError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given.

    With the m non-NaN p-values sorted ascending, p_(1) <= ... <= p_(m):
    ``adjusted_(i) = max over j <= i of min(1, (m - j + 1) * p_(j))``.
    A hypothesis is rejected at level alpha when its adjusted p-value is
    below alpha (Holm 1979). NaN p-values stay NaN and do not count in m.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return out
    order = present[np.argsort(p[present], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def paired_values(runs: pd.DataFrame, metric: str = "f_gap", gap_tol: float | None = None) -> pd.DataFrame:
    """The values the paired tests compare: one row per (problem_label, seed), one column per solver.

    For ``metric="f_gap"``: ``log10(max(gap, gap_tol))`` of the final gap, so
    every gap at or below the tolerance (round-off, negative gaps) is equal.
    For ``metric="f"``: the final value as it is. A failed run (diverged,
    errored, timed out, or a non-finite value) is +inf; NaN where a solver did
    not run that seed.
    """
    if metric not in METRICS:
        raise ParameterError(f"unknown metric {metric!r}.{did_you_mean(str(metric), list(METRICS))} Valid: {', '.join(METRICS)}")
    runs, _ = analysis.prepare(runs, None)
    if metric == "f_gap":
        shown, _ = analysis.final_gaps(runs, gap_tol)
        with np.errstate(divide="ignore"):
            value = np.log10(np.maximum(shown, analysis.tolerance(runs, gap_tol)))
    else:
        value = runs["f"].to_numpy(dtype=float)
        failed = runs["status"].isin(schema.INFINITE_GAP_STATUSES).to_numpy() | ~np.isfinite(value)
        value = np.where(failed, np.inf, value)
    table = runs[["problem_label", "seed", "solver"]].assign(value=value)
    return table.pivot(index=["problem_label", "seed"], columns="solver", values="value")


def _stand_in(values: np.ndarray) -> float:
    """The finite value a failed run takes in a problem's tests: L_max + (L_max - L_min) + 1 over finished runs."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    return float(finite.max() + (finite.max() - finite.min()) + 1.0)


def _rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby 2014) of ``a - b``, positive when ``a`` is smaller.

    Over the non-zero differences, ranked by absolute value (ties averaged):
    ``(sum of ranks where a < b - sum of ranks where a > b) / sum of all ranks``.
    """
    nonzero = differences[differences != 0]
    if nonzero.size == 0:
        return 0.0
    ranks = _scipy_stats.rankdata(np.abs(nonzero))
    return float((ranks[nonzero < 0].sum() - ranks[nonzero > 0].sum()) / ranks.sum())


def _pair_row(a: np.ndarray, b: np.ndarray) -> tuple[int, float, float, float]:
    """(n_pairs, statistic, p_value, effect) for two aligned columns (NaN where not run)."""
    both = ~np.isnan(a) & ~np.isnan(b)
    differences = a[both] - b[both]
    if both.sum() == 0:
        return 0, np.nan, np.nan, np.nan
    if not np.any(differences != 0):
        return int(both.sum()), 0.0, 1.0, 0.0
    result = _scipy_stats.wilcoxon(differences)
    return int(both.sum()), float(result.statistic), float(result.pvalue), _rank_biserial(differences)


def pairwise(runs: pd.DataFrame, metric: str = "f_gap", alpha: float = 0.05, gap_tol: float | None = None,
             family: str = "problem") -> pd.DataFrame:
    """Paired tests between every two solvers of each problem, on the seeds both ran.

    One row per (problem_label, solver_a, solver_b), solver_a < solver_b by name.
    Values: :func:`paired_values` (log10 of the final gap floored at the gap
    tolerance). ``statistic``, ``p_value``: the two-sided Wilcoxon signed-rank
    test (``scipy.stats.wilcoxon``, its default method; zero differences are
    dropped, as its default ``zero_method="wilcox"`` does) on the differences
    ``value_a - value_b`` over the ``n_pairs`` seeds both ran.

    Failed runs (diverged, error, timeout): a failed run ranks worse than any
    finished run, and two failed runs tie. Concretely, before the differences
    are taken, every failed run's value is replaced by
    ``L_max + (L_max - L_min) + 1``, where L_max and L_min are the largest and
    smallest finished values on that problem (over all solvers): a pair with
    one failed run gets a difference of the failed side's sign larger in size
    than any difference between two finished runs, and a pair of two failed
    runs a zero difference (dropped). When every difference is zero, p = 1.

    ``p_adjusted``: Holm's correction (:func:`holm`) over the ``m`` rows of each
    problem (``family="problem"``, the default: a problem's comparisons are one
    family, as ``marks`` and IOHanalyzer count them) or over every row of the table
    (``family="table"``). ``p_min``: the smallest p-value the test can give with
    ``n_pairs`` seeds, ``2 / 2^n_pairs`` (:func:`min_p_value`); a family whose
    ``m * min(p_min)`` is not below ``alpha`` cannot reach significance at this seed
    count, and ``attrs["note"]`` says so (``attrs["unreachable"]`` lists those
    problems, every problem for ``family="table"``). ``effect``: the matched-pairs
    rank-biserial correlation, in [-1, 1], positive when solver_a reaches smaller
    values. ``better``: "a" or "b" when ``p_adjusted < alpha`` (the side the effect
    favours), "" otherwise. ``n_failed_a``, ``n_failed_b``: failed runs among the pairs.
    """
    alpha, family = _check_alpha(alpha), _check_family(family)
    out = _raw_tests(paired_values(runs, metric, gap_tol))
    out["p_min"] = min_p_value(out["n_pairs"].to_numpy())
    groups = out["problem_label"] if family == "problem" else pd.Series("the table", index=out.index)
    out["p_adjusted"] = out.groupby(groups, sort=False)["p_value"].transform(lambda p: holm(p.to_numpy(dtype=float)))
    significant = out["p_adjusted"].to_numpy(dtype=float) < alpha
    out["better"] = np.where(significant & (out["effect"] > 0), "a", np.where(significant & (out["effect"] < 0), "b", ""))
    out = out[PAIRWISE_COLUMNS]
    out.attrs["unreachable"], out.attrs["note"] = _unreachable(out, groups, alpha)
    return out


def _unreachable(out: pd.DataFrame, groups: pd.Series, alpha: float) -> tuple[list, str]:
    """The problems whose Holm family cannot reach ``alpha`` at their seed counts, and a sentence saying so.

    A family of m tests whose smallest attainable p is p_min has every Holm-adjusted
    p-value >= m * p_min: it cannot reject anything when m * p_min >= alpha.
    """
    tested = out.assign(family=groups.to_numpy())[out["p_value"].notna()]
    floors = tested.groupby("family", sort=True).agg(m=("p_value", "size"), p_min=("p_min", "min"), n=("n_pairs", "max"))
    hopeless = floors[floors["m"] * floors["p_min"] >= alpha]
    if hopeless.empty:
        return [], ""
    problems = sorted(tested.loc[tested["family"].isin(hopeless.index), "problem_label"].unique())
    where = ", ".join(f"{label} ({int(row.m)} comparisons, {int(row.n)} seeds: m * 2/2^n = {row.m * row.p_min:.3g})"
                      for label, row in hopeless.iterrows())
    return problems, (f"no difference can be significant at alpha = {alpha:g} on {where}: with n seeds the smallest "
                      f"exact two-sided Wilcoxon p is 2/2^n, and Holm's correction over m comparisons needs "
                      f"m * p < alpha; add seeds or compare fewer solvers")


def _raw_tests(table: pd.DataFrame) -> pd.DataFrame:
    """The Wilcoxon test of every two solvers of each problem, before any correction."""
    rows = []
    for problem, block in table.groupby(level="problem_label", sort=True):
        block = block.dropna(axis=1, how="all")
        values = block.to_numpy(dtype=float)
        failed = np.isinf(values)
        values = np.where(failed, _stand_in(values), values)
        for i, j in combinations(range(values.shape[1]), 2):
            both = ~np.isnan(values[:, i]) & ~np.isnan(values[:, j])
            n_pairs, statistic, p_value, effect = _pair_row(values[:, i], values[:, j])
            rows.append((problem, block.columns[i], block.columns[j], n_pairs, int(failed[both, i].sum()),
                         int(failed[both, j].sum()), statistic, p_value, effect))
    return pd.DataFrame(rows, columns=[c for c in PAIRWISE_COLUMNS if c not in ("p_min", "p_adjusted", "better")])


# ---------------------------------------------------------------- across problems
@dataclass
class FriedmanResult:
    """Friedman's test over problems and the Nemenyi critical difference (Demšar 2006).

    ``statistic``, ``p_value``: Friedman's chi-square (tie-corrected) and its
    p-value with k - 1 degrees of freedom, as ``scipy.stats.friedmanchisquare``
    computes them (NaN with fewer than 2 problems or 2 solvers, or when every
    problem ties every solver). ``average_ranks``: per solver, ascending (1 =
    best). ``cd``: the critical difference at ``alpha``; two solvers differ
    significantly when their average ranks differ by at least ``cd``.
    ``cliques``: maximal groups of solvers (in rank order) whose average ranks
    lie within less than ``cd`` of each other: the bars of the diagram.
    ``ranks``: the problems x solvers matrix tested. ``coverage``: which solvers
    and problems were compared (common coverage) and which were left out.
    """

    statistic: float
    p_value: float
    average_ranks: pd.Series
    n_problems: int
    n_solvers: int
    cd: float
    alpha: float
    cliques: list[list[str]] = field(default_factory=list)
    ranks: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: analysis.Coverage | None = None


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference ``CD = q_alpha * sqrt(k (k + 1) / (6 N))``, ``q_alpha = q_range(1 - alpha; k, inf) / sqrt(2)``.

    ``q_range`` is the studentized range distribution (``scipy.stats.studentized_range``)
    with k groups and infinite degrees of freedom; ``N`` = n problems.
    """
    alpha = _check_alpha(alpha)
    if k < 2 or n < 1:
        return np.nan
    q_alpha = _scipy_stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q_alpha * np.sqrt(k * (k + 1) / (6.0 * n)))


def _friedman_statistic(ranks: np.ndarray) -> tuple[float, float]:
    """Friedman's chi-square with scipy's tie correction, on an (N problems, k solvers) matrix of ranks.

    ``chi2 = (12 / (N k (k + 1)) * sum_j R_j^2 - 3 N (k + 1)) / C`` with ``R_j``
    the rank sum of solver j and ``C = 1 - sum over tie groups (t^3 - t) / (N k (k^2 - 1))``;
    p = P(chi-square with k - 1 df > chi2).
    """
    n, k = ranks.shape
    if n < 2 or k < 2:
        return np.nan, np.nan
    ranks = np.apply_along_axis(_scipy_stats.rankdata, 1, ranks)
    ties = sum(float(np.sum(counts ** 3 - counts)) for counts in (np.unique(row, return_counts=True)[1] for row in ranks))
    correction = 1.0 - ties / (n * k * (k * k - 1))
    if correction <= 0:
        return np.nan, np.nan
    chi2 = (12.0 / (n * k * (k + 1)) * np.sum(ranks.sum(axis=0) ** 2) - 3.0 * n * (k + 1)) / correction
    return float(chi2), float(_scipy_stats.chi2.sf(chi2, k - 1))


def _cliques(average: pd.Series, cd: float) -> list[list[str]]:
    """Maximal runs of solvers (ascending average rank) spanning less than ``cd``, of two or more."""
    names, values = list(average.index), average.to_numpy(dtype=float)
    groups: list[list[str]] = []
    last_end = -1
    for start in range(len(values)):
        end = start
        while end + 1 < len(values) and values[end + 1] - values[start] < cd:
            end += 1
        if end > start and end > last_end:
            groups.append(names[start:end + 1])
            last_end = end
    return groups


def _board_coverage(board: pd.DataFrame, mode: str) -> analysis.Coverage:
    pairs = board[["problem_label", "solver"]].assign(problem=board["problem_label"], method=board["solver"], seed=0)
    return analysis.coverage(pairs, mode)


def friedman(board: pd.DataFrame, alpha: float = 0.05) -> FriedmanResult:
    """Friedman's test on the leaderboard's ``rank`` matrix (problems x solvers, common coverage) and Nemenyi's CD.

    Only the solvers and problems of the common block (:func:`optbench.analysis.coverage`)
    enter; within each problem the solvers are ranked again among themselves
    (ties averaged), which keeps the leaderboard's order. See :class:`FriedmanResult`.
    """
    alpha = _check_alpha(alpha)
    cover = _board_coverage(board, "common")  # Friedman's test needs every solver on every problem
    matrix = board.pivot(index="problem_label", columns="solver", values="rank").loc[cover.problems, cover.solvers]
    ranks = matrix.rank(axis=1, method="average")
    statistic, p_value = _friedman_statistic(ranks.to_numpy(dtype=float))
    average = ranks.mean(axis=0).sort_values(kind="stable")
    n, k = ranks.shape
    cd = critical_difference(k, n, alpha) if n >= 1 and k >= 2 else np.nan
    return FriedmanResult(statistic, p_value, average, n, k, cd, alpha, _cliques(average, cd) if np.isfinite(cd) else [],
                          ranks, cover)


# ---------------------------------------------------------------- what a table shows
def _beaten_by_best(tests: pd.DataFrame, problem: Any, best: str, others: list[str], alpha: float) -> set[str]:
    """The solvers of ``others`` that ``best`` beats on ``problem``: ``p_adjusted < alpha`` in the row of ``tests``
    that pairs them (pairwise's own correction) with the effect on ``best``'s side."""
    rows = tests[(tests["problem_label"] == problem) & (tests["p_adjusted"] < alpha)]
    best_a = (rows["solver_a"] == best) & rows["solver_b"].isin(others) & (rows["effect"] > 0)
    best_b = (rows["solver_b"] == best) & rows["solver_a"].isin(others) & (rows["effect"] < 0)
    return set(rows.loc[best_a, "solver_b"]) | set(rows.loc[best_b, "solver_a"])


def marks(board: pd.DataFrame, tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per (problem_label, solver): ``mark`` "best" (rank 1, or tied for it), "tied" (not significantly worse than the best), or "".

    On each problem every other solver is compared with the best one through the
    row of ``tests`` (a :func:`pairwise` table) that pairs them: a solver is "tied"
    unless that row's ``p_adjusted`` is below ``alpha`` with the effect favouring the
    best. The marks therefore use pairwise's correction (by default Holm within each
    problem) and agree with its ``better`` column at the same ``alpha`` by construction.
    Returns ``problem_label, solver, rank, mark``, in the leaderboard's order.
    """
    alpha = _check_alpha(alpha)
    out = board[["problem_label", "solver", "rank"]].copy()
    best_rank = out.groupby("problem_label")["rank"].transform("min")
    bests = out[out["rank"] == best_rank].groupby("problem_label")["solver"].agg(list)
    beaten: dict[Any, set[str]] = {}
    for problem, group in out.groupby("problem_label", sort=False):
        winners = bests.get(problem, [])
        others = [solver for solver in group["solver"] if solver not in winners]
        beaten[problem] = _beaten_by_best(tests, problem, winners[0], others, alpha) if winners and others else set()
    out["mark"] = ["best" if row.solver in bests.get(row.problem_label, []) else
                   ("" if row.solver in beaten[row.problem_label] else "tied") for row in out.itertuples(index=False)]
    return out.reset_index(drop=True)


def _join(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def headlines(board: pd.DataFrame, tests: pd.DataFrame, result: FriedmanResult | None = None) -> dict[str, Any]:
    """One sentence per problem and one overall, from :func:`marks` and :func:`friedman`.

    Overall: the solver marked best or tied on the most problems (then best on
    the most, then the lowest mean rank). Returns
    ``{"problems": {problem_label: sentence}, "overall": sentence}``; e.g.
    "gd + polyak is best or tied on 4 of its 6 problems; Friedman p = 0.012 (5 solvers, 6 problems)".
    """
    table = marks(board, tests)
    sentences = {}
    for problem, group in table.groupby("problem_label", sort=True):
        best = group.loc[group["mark"] == "best", "solver"].tolist()
        tied = group.loc[group["mark"] == "tied", "solver"].tolist()
        text = f"{' and '.join(best)} {'is' if len(best) == 1 else 'are'} best"
        sentences[problem] = text + (f"; not significantly worse: {_join(tied)}" if tied else "; every other solver is significantly worse")
    top = table.assign(good=table["mark"] != "", best=table["mark"] == "best").groupby("solver").agg(
        good=("good", "sum"), best=("best", "sum"), ran=("good", "size"), mean_rank=("rank", "mean"))
    top = top.sort_values(["good", "best", "mean_rank"], ascending=[False, False, True], kind="stable")
    n_problems = table["problem_label"].nunique()
    overall = ""
    if len(top):
        name, row = top.index[0], top.iloc[0]
        ran = int(row["ran"])
        scope = f"of {ran} problems" if ran == n_problems else f"of the {ran} (of {n_problems}) problems it ran"
        overall = f"{name} is best or tied on {int(row['good'])} {scope}"
    if result is not None:
        p = "undefined" if np.isnan(result.p_value) else f"{result.p_value:.3g}"
        overall += f"; Friedman p = {p} ({result.n_solvers} solvers, {result.n_problems} problems in common)"
    return {"problems": sentences, "overall": overall}
