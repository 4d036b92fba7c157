"""The statements over all problems, made on one solver set: the common coverage block, and oracle rules set apart.

- :func:`oracle_solvers`: the solvers whose step rule or method declares
  ``requires = ("f_opt",)`` (Polyak's step with the true optimum): they use
  knowledge a real user does not have, so tables and legends mark them
  (``ORACLE_MARK``) and the headline does not crown one "best overall" unless
  asked (``crown_oracles=True``).
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

import json
from typing import Any

import pandas as pd

from optbench import analysis, stats
from optbench.engine.cell import requirements
from optbench.registry import methods, step_rules
from optbench.report.styles import ORACLE_MARK

__all__ = ["ORACLE_MARK", "oracle_solvers", "mark", "block", "overall_table", "significance_sentence"]



def _needs_f_opt(registry: Any, name: Any, params: Any) -> bool:
    if not isinstance(name, str) or not name or name not in registry:
        return False
    try:
        values = json.loads(params) if isinstance(params, str) and params else {}
        return "f_opt" in requirements(registry.create(name, **values))
    except Exception:  # noqa: BLE001 -- a rule that cannot be rebuilt here is not known to be an oracle
        return False


def oracle_solvers(runs: pd.DataFrame) -> frozenset[str]:
    """Solvers (labels of a prepared runs table) whose method or step rule requires the problem's f_opt."""
    columns = [c for c in ("solver", "method", "method_params", "step_rule", "step_params") if c in runs]
    if "solver" not in columns:
        return frozenset()
    found = set()
    for row in runs[columns].astype(object).drop_duplicates().itertuples(index=False):
        row = row._asdict()
        if (_needs_f_opt(step_rules, row.get("step_rule"), row.get("step_params"))
                or _needs_f_opt(methods, row.get("method"), row.get("method_params"))):
            found.add(row["solver"])
    return frozenset(found)


def mark(frame: pd.DataFrame, oracles: frozenset[str], column: str = "solver") -> pd.DataFrame:
    """A copy of ``frame`` whose ``column`` text carries ``ORACLE_MARK`` for the oracle solvers (for display)."""
    if not oracles or column not in frame:
        return frame
    frame = frame.copy()
    frame[column] = [f"{s}{ORACLE_MARK}" if s in oracles else s for s in frame[column].astype(object)]
    return frame


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
                          crown_oracles: bool = False) -> str:
    """"X is best or tied on k of the n problems ..." over the block's solvers and problems, oracles not crowned."""
    if rows.empty:
        return ""
    inside = runs["problem_label"].isin(rows["problem_label"].unique()) & runs["solver"].isin(rows["solver"].unique())
    marks = stats.marks(rows, stats.pairwise(runs[inside.to_numpy()]))
    top = marks.assign(good=marks["mark"] != "", best=marks["mark"] == "best").groupby("solver").agg(
        good=("good", "sum"), best=("best", "sum"), mean_rank=("rank", "mean"))
    top = top.sort_values(["good", "best", "mean_rank"], ascending=[False, False, True], kind="stable").reset_index()
    name = crowned(top, oracles, crown_oracles).iloc[0]
    text = f"{name['solver']} is best or tied on {int(name['good'])} of the {rows['problem_label'].nunique()} problems"
    if friedman is not None:
        p = "undefined" if friedman.p_value != friedman.p_value else f"{friedman.p_value:.3g}"
        text += f"; Friedman p = {p} ({friedman.n_solvers} solvers, {friedman.n_problems} problems in common)"
    return text
