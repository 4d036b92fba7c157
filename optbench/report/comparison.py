"""Two result sets side by side: did my change make an optimizer better or worse?

``compare(base, new, out)`` matches the cells (problem, solver) the two sets
have in common and, per cell, reports

- the change of the median final gap (finished runs), of the success rate at
  ``target`` (best-so-far gap <= target) and of ERT at ``target``;
- ``unchanged`` when every seed of the cell ran in both and ended with the same
  status and the same final f (to 1e-12 relative);
- otherwise the paired test of :func:`optbench.stats.pairwise` (Wilcoxon
  signed-rank on the log final gaps of the seeds both ran, failed runs worse
  than any finished run), Holm-corrected over all compared cells: ``better`` or
  ``worse`` when the adjusted p-value is below ``alpha``, else ``changed (not
  significant)``; ``changed (no common seeds)`` when no seed matches.

Where a problem's f_opt is unknown, both sets' gaps are taken against the
smaller of their two estimates, so that they are comparable.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench import analysis, stats
from optbench.constraints import Interval, check
from optbench.registry import ParameterError
from optbench.report import page
from optbench.report.data import ResultSet, load_results
from optbench.report.tables import html_table
from optbench.report.tuning import evaluation_set

__all__ = ["compare", "compare_tables"]

KEYS = ["problem_label", "solver"]
HEADERS = {"problem_label": "problem", "solver": "solver", "verdict": "verdict", "f_gap_median_base": "median gap base",
           "f_gap_median_new": "median gap new", "gap_ratio": "gap ratio new / base", "success_base": "success base",
           "success_new": "success new", "ert_base": "ERT base", "ert_new": "ERT new", "n_pairs": "paired seeds",
           "p_value": "p", "p_adjusted": "p (Holm)", "n_runs_base": "runs base", "n_runs_new": "runs new"}
_SEPARATOR = " \u241f "  # SYMBOL FOR UNIT SEPARATOR: joins a problem and a solver label into one test "problem"
VERDICTS = ("worse", "better", "changed (not significant)", "changed (no common seeds)", "unchanged")


def _common_gaps(base: ResultSet, new: ResultSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs of both sets with ``f_gap`` against one f_opt per problem (the smaller estimate where unknown)."""
    f_opt = pd.concat([base.runs, new.runs]).groupby("problem_label")["f_opt_used"].min()
    out = []
    for runs in (base.runs, new.runs):
        runs = runs.copy()
        estimated = runs["f_opt_estimated"].to_numpy(dtype=bool)
        if estimated.any():
            common = runs["problem_label"].map(f_opt).to_numpy(dtype=float)
            runs["f_gap"] = np.where(estimated, runs["f"].to_numpy(dtype=float) - common, runs["f_gap"].to_numpy(dtype=float))
        out.append(runs)
    return out[0], out[1]


def _identical(base: pd.DataFrame, new: pd.DataFrame) -> pd.Series:
    """Per cell: True when both ran the same seeds with the same statuses and final f (1e-12 relative)."""
    merged = base[KEYS + ["seed", "status", "f"]].merge(new[KEYS + ["seed", "status", "f"]], on=KEYS + ["seed"],
                                                        how="outer", suffixes=("_b", "_n"), indicator=True)
    f_b, f_n = merged["f_b"].to_numpy(dtype=float), merged["f_n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        same_f = (f_b == f_n) | (np.abs(f_b - f_n) <= 1e-12 * np.maximum(np.abs(f_b), 1.0)) | (np.isnan(f_b) & np.isnan(f_n))
    same = (merged["_merge"] == "both") & (merged["status_b"] == merged["status_n"]) & same_f
    return merged.assign(same=same.to_numpy()).groupby(KEYS)["same"].all()


def _tests(base: pd.DataFrame, new: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """stats.pairwise on 'base' against 'new', each cell its own problem, Holm over all cells given."""
    if base.empty or new.empty:
        return pd.DataFrame(columns=KEYS + ["n_pairs", "p_value", "p_adjusted", "better"]).set_index(KEYS)
    frames = [runs.assign(problem_label=runs["problem_label"] + _SEPARATOR + runs["solver"], solver=name)
              for runs, name in ((base, "base"), (new, "new"))]
    tests = stats.pairwise(pd.concat(frames, ignore_index=True), alpha=alpha, family="table")
    split = tests["problem_label"].str.split(_SEPARATOR, n=1, expand=True, regex=False)
    return tests.assign(problem_label=split[0], solver=split[1]).set_index(KEYS)


def _board(runs: pd.DataFrame, trace: pd.DataFrame, target: float) -> pd.DataFrame:
    board = analysis.leaderboard(runs, trace, targets=(target,), target=target).set_index(KEYS)
    success = next(c for c in board if c.startswith("success@"))
    return board[["n_runs", "f_gap_median", "ert"]].assign(success=board[success])


def compare_tables(base: Any, new: Any, target: float = 1e-6, alpha: float = 0.05) -> pd.DataFrame:
    """One row per common cell: base and new median gap, success, ERT, their changes, the test and the verdict."""
    base, new = evaluation_set(load_results(base)), evaluation_set(load_results(new))  # trials are no competitors
    base_runs, new_runs = _common_gaps(base, new)
    common = base_runs[KEYS].drop_duplicates().merge(new_runs[KEYS].drop_duplicates(), on=KEYS)
    if common.empty:
        raise ParameterError("the two result sets have no cell (problem, solver) in common; nothing to compare")
    keep = lambda runs: runs.merge(common, on=KEYS)  # noqa: E731
    base_runs, new_runs = keep(base_runs), keep(new_runs)
    b = _board(base_runs, base.trace[base.trace["run"].isin(base_runs["run"])], target)
    n = _board(new_runs, new.trace[new.trace["run"].isin(new_runs["run"])], target)
    table = b.merge(n, left_index=True, right_index=True, suffixes=("_base", "_new"))
    with np.errstate(divide="ignore", invalid="ignore"):
        table["gap_ratio"] = table["f_gap_median_new"] / table["f_gap_median_base"]
    table["success_change"] = table["success_new"] - table["success_base"]
    identical = _identical(base_runs, new_runs).reindex(table.index).fillna(False).astype(bool)
    changed = pd.MultiIndex.from_frame(base_runs[KEYS]).isin(identical.index[~identical.to_numpy()])
    changed_new = pd.MultiIndex.from_frame(new_runs[KEYS]).isin(identical.index[~identical.to_numpy()])
    tests = _tests(base_runs[changed], new_runs[changed_new], alpha)  # identical cells are not tested
    table = table.join(tests[["n_pairs", "p_value", "p_adjusted", "better"]])
    table["verdict"] = np.select(
        [identical, table["better"] == "a", table["better"] == "b", table["n_pairs"].fillna(0) == 0],
        ["unchanged", "worse", "better", "changed (no common seeds)"], "changed (not significant)")
    table.loc[identical, ["p_value", "p_adjusted"]] = np.nan
    order = {v: i for i, v in enumerate(VERDICTS)}
    table = table.drop(columns="better").reset_index()
    return table.sort_values(by=["verdict", "problem_label", "solver"], key=lambda c: c.map(order) if c.name == "verdict" else c,
                             ignore_index=True)


def _headline(table: pd.DataFrame, only_base: int, only_new: int) -> str:
    counts = table["verdict"].value_counts()
    parts = [f"<b>{counts.get(v, 0)}</b> {v}" for v in VERDICTS if counts.get(v, 0)]
    names = lambda verdict: ", ".join(html.escape(f"{r.solver} on {r.problem_label}")  # noqa: E731
                                      for r in table[table["verdict"] == verdict].head(8).itertuples())
    lines = [f"{len(table)} cells in common: " + "; ".join(parts) + "."]
    lines += [f"{v.capitalize()}: {names(v)}{' …' if counts.get(v, 0) > 8 else ''}." for v in ("worse", "better") if counts.get(v, 0)]
    if only_base or only_new:
        lines.append(f"Not compared: {only_base} cells only in the base set, {only_new} only in the new one.")
    return '<p class="headline">' + "<br>".join(lines) + "</p>"


def compare(base: Any, new: Any, out: str | Path = "reports/compare", *, target: float = 1e-6, alpha: float = 0.05,
            title: str | None = None) -> Path:
    """Write ``out/index.html``: the cells of ``base`` and ``new`` side by side, what got better and worse.

    ``base``, ``new``: results directories (or anything :func:`load_results` takes).
    ``target``: the gap of the success rate and ERT. ``alpha``: level of the Holm-corrected paired tests.
    """
    if not target > 0:
        raise ParameterError(f"target must be a positive gap f − f_opt, got {target}")
    check(alpha, [Interval("real", 0, 1, closed="neither")], "alpha")  # before any folder is read
    base_set, new_set = evaluation_set(load_results(base)), evaluation_set(load_results(new))
    table = compare_tables(base_set, new_set, target, alpha)
    cells = lambda data: set(map(tuple, data.runs[KEYS].drop_duplicates().to_numpy()))  # noqa: E731
    only_base, only_new = len(cells(base_set) - cells(new_set)), len(cells(new_set) - cells(base_set))
    heading = title or "optbench comparison"
    labels = pd.concat([base_set.runs, new_set.runs]).drop_duplicates("solver").set_index("solver")[["method_label", "step_label"]]
    filters = table.join(labels, on="solver")
    body = [f"<h1>{html.escape(heading)}</h1>",
            f"<p>base: <code>{html.escape(base_set.source)}</code>; new: <code>{html.escape(new_set.source)}</code>.</p>",
            '<h2 id="summary">Summary</h2>', _headline(table, only_base, only_new),
            '<h2 id="cells">Cells</h2>',
            f"<p>Median final gap over finished runs; success: fraction of runs reaching f − f_opt ≤ {target:g}; ERT in "
            f"evaluations at that target; gap ratio = new / base. p: Wilcoxon signed-rank on the paired seeds' log final "
            f"gaps, Holm-adjusted over the cells that changed; verdicts at α = {alpha:g}.</p>",
            html_table(table[list(HEADERS)], "comparison", "comparison", filters=filters, headers=HEADERS)]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out must be a directory, and {str(out)!r} is a file")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page.document(heading, [("summary", "Summary", False), ("cells", "Cells", False)], body), encoding="utf-8")
    return path
