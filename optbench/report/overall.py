"""The statements over all problems, made on one solver set: the common coverage block, and oracle rules set apart.

- oracle rules (:mod:`optbench.oracles`: a rule with ``requires = ("f_opt",)``)
  are marked in tables and legends, and the headline does not crown one "best
  overall" unless asked (``crown_oracles=True``).
- :func:`block`: the leaderboard restricted to the common-coverage block of
  :func:`optbench.analysis.coverage` (every solver ran every problem), the
  block the ECDFs, profiles, Friedman's test and the CD diagram compare; ranks
  are taken again among the block's solvers (ties share the best rank).
- :func:`overall_table`: per solver of the block, its mean rank over the
  block's problems, wins (rank 1), runs and failures.
- :func:`significance_sentence`: the solver marked best or tied on the most
  problems of the block (paired Wilcoxon tests, Holm, :func:`optbench.stats.marks`),
  oracles excluded unless asked, and Friedman's p.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from optbench import analysis, stats
from optbench.oracles import ORACLE_MARK, mark, oracle_solvers

__all__ = ["ORACLE_MARK", "oracle_solvers", "mark", "block", "overall_table", "crowned", "significance_sentence"]



def block(board: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, analysis.Coverage]:
    """The leaderboard rows inside the common-coverage block, ranked again among the block's solvers, and the block."""
    cover = analysis.coverage(runs)
    inside = board["problem_label"].isin(cover.problems) & board["solver"].isin(cover.solvers)
    rows = board[inside.to_numpy()].copy()
    rows["rank"] = rows.groupby("problem_label")["rank"].rank(method="min")
    return rows.reset_index(drop=True), cover


def overall_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per solver of a block: mean rank, problems, wins (rank 1), runs, failure counts; best mean rank first."""
    table = rows.groupby("solver").agg(mean_rank=("rank", "mean"), problems=("problem_label", "nunique"),
                                       wins=("rank", lambda r: int((r == 1).sum())), runs=("n_runs", "sum"),
                                       diverged=("diverged", "sum"), errors=("error", "sum"), timeouts=("timeout", "sum"),
                                       method_label=("method_label", "first"), step_label=("step_label", "first"))
    return table.sort_values(["mean_rank", "solver"]).reset_index()


def crowned(table: pd.DataFrame, oracles: frozenset[str], crown_oracles: bool = False) -> pd.DataFrame:
    """The rows of an overall table eligible for "best overall": all, or those that are not oracles."""
    if crown_oracles:
        return table
    eligible = table[~table["solver"].isin(oracles)]
    return eligible if len(eligible) else table


def significance_sentence(rows: pd.DataFrame, runs: pd.DataFrame, friedman: Any, oracles: frozenset[str],
                          crown_oracles: bool = False, tests: pd.DataFrame | None = None) -> str:
    """"X is best or tied on k of the n problems ..." over the block's solvers and problems, oracles not crowned.

    ``tests``: ``stats.pairwise(runs)`` when the caller has it; it is used when the block holds every run
    (the same tests), else the block's runs are tested on their own.
    """
    if rows.empty:
        return ""
    inside = (runs["problem_label"].isin(rows["problem_label"].unique()) & runs["solver"].isin(rows["solver"].unique())).to_numpy()
    if tests is None or not inside.all():
        tests = stats.pairwise(runs[inside])
    marks = stats.marks(rows, tests)
    top = marks.assign(good=marks["mark"] != "", best=marks["mark"] == "best").groupby("solver").agg(
        good=("good", "sum"), best=("best", "sum"), mean_rank=("rank", "mean"))
    top = top.sort_values(["good", "best", "mean_rank"], ascending=[False, False, True], kind="stable").reset_index()
    name = crowned(top, oracles, crown_oracles).iloc[0]
    text = f"{name['solver']} is best or tied on {int(name['good'])} of the {rows['problem_label'].nunique()} problems"
    if friedman is not None:
        p = "undefined" if friedman.p_value != friedman.p_value else f"{friedman.p_value:.3g}"
        text += f"; Friedman p = {p} ({friedman.n_solvers} solvers, {friedman.n_problems} problems in common)"
    return text
