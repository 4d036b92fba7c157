"""Two result sets side by side: did my change make an optimizer better, worse, cheaper or costlier?

``compare(base, new, out)`` matches the cells (problem, solver) the two sets
have in common (the cells found in one set only are listed, not compared) and,
per common cell, reports

- the median final gap (finished runs) of both sets and their ratio, the
  success rate at ``target`` (best-so-far gap <= target) and ERT at ``target``;
- the cost: the ratio ``ERT_new / ERT_base`` in evaluations (the ratio of the
  evaluations spent where neither set reached the target), with a 95 % percentile
  bootstrap interval over the paired seeds, and a paired Wilcoxon test of the
  per-seed costs (:mod:`optbench.report.compare_stats`);
- ``unchanged`` only when every seed of the cell ran in both and ended with the
  same status, the same final f (to 1e-12 relative), the same number of
  evaluations and the same number of iterations;
- otherwise two paired tests, each Holm-corrected over the cells that changed:
  quality (Wilcoxon signed-rank on the seeds' log final gaps, failed runs worse
  than any finished run, :func:`optbench.stats.pairwise`) and cost. Verdict:
  ``better`` / ``worse`` when quality changed significantly (or, quality equal,
  cost did: cheaper is better); ``mixed`` when one improved and the other got
  worse; ``changed (not significant)``; ``changed (no common seeds)``.

Where a problem's f_opt is unknown, both sets' gaps are taken against the
smaller of their two estimates, so that they are comparable.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench import analysis, stats
from optbench.constraints import TARGET, Interval, check
from optbench.errors import ParameterError
from optbench.report import compare_stats, page
from optbench.report.compare_figures import MAX_PANELS, change_curves
from optbench.report.compare_stats import KEYS
from optbench.report.data import ResultSet, load_results
from optbench.report.sections import figure_html
from optbench.report.tables import html_table
from optbench.report.tuning import evaluation_set

__all__ = ["compare", "compare_report", "compare_tables", "only_in_one", "summary_lines"]

HEADERS = {"problem_label": "problem", "solver": "solver", "verdict": "verdict",
           "f_gap_median_base": "median gap base", "f_gap_median_new": "median gap new", "gap_ratio": "gap new / base",
           "p_adjusted": "p gap (Holm)", "success_base": "success base", "success_new": "success new",
           "ert_base": "ERT base", "ert_new": "ERT new", "cost_ratio": "cost new / base",
           "cost_interval": "95% interval", "cost_p_adjusted": "p cost (Holm)", "n_pairs": "paired seeds"}
_SEPARATOR = " \u241f "  # SYMBOL FOR UNIT SEPARATOR: joins a problem and a solver label into one test "problem"
VERDICTS = ("worse", "mixed", "better", "changed (not significant)", "changed (no common seeds)", "unchanged")
SAME = ["status", "f", "evaluations", "iterations"]  # per seed: what must agree for a cell to be unchanged


def _common_gaps(base: ResultSet, new: ResultSet) -> tuple[ResultSet, ResultSet]:
    """Both sets with ``f_gap`` (runs and trace) against one f_opt per problem (the smaller estimate where unknown)."""
    f_opt = pd.concat([base.runs, new.runs]).groupby("problem_label")["f_opt_used"].min()
    out = []
    for data in (base, new):
        tables = {}
        for name in ("runs", "trace"):
            frame = getattr(data, name).copy()
            estimated = frame["f_opt_estimated"].to_numpy(dtype=bool)
            if estimated.any():
                common = frame["problem_label"].map(f_opt).to_numpy(dtype=float)
                frame["f_gap"] = np.where(estimated, frame["f"].to_numpy(dtype=float) - common,
                                          frame["f_gap"].to_numpy(dtype=float))
            tables[name] = frame
        out.append(dataclasses.replace(data, **tables))
    return out[0], out[1]


def _identical(base: pd.DataFrame, new: pd.DataFrame) -> pd.Series:
    """Per cell: True when both ran the same seeds with the same status, final f (1e-12 relative), evaluations, iterations."""
    merged = base[KEYS + ["seed"] + SAME].merge(new[KEYS + ["seed"] + SAME], on=KEYS + ["seed"],
                                                 how="outer", suffixes=("_b", "_n"), indicator=True)
    f_b, f_n = merged["f_b"].to_numpy(dtype=float), merged["f_n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        same_f = (f_b == f_n) | (np.abs(f_b - f_n) <= 1e-12 * np.maximum(np.abs(f_b), 1.0)) | (np.isnan(f_b) & np.isnan(f_n))
    same = (merged["_merge"] == "both") & (merged["status_b"] == merged["status_n"]) & same_f
    for column in ("evaluations", "iterations"):
        same &= merged[f"{column}_b"].to_numpy(dtype=float) == merged[f"{column}_n"].to_numpy(dtype=float)
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


def _board(data: ResultSet, target: float) -> pd.DataFrame:
    board = analysis.leaderboard(data.runs, data.trace, targets=(target,), target=target, hits=data.hits).set_index(KEYS)
    success = next(c for c in board if c.startswith("success@"))
    return board[["n_runs", "f_gap_median", "ert"]].assign(success=board[success])


def _cost_columns(base: ResultSet, new: ResultSet, changed: pd.Index, target: float, alpha: float) -> pd.DataFrame:
    """cost_ratio with its interval for every cell; the cost test (Holm over the changed cells) for the changed ones."""
    costs = [compare_stats.cell_costs(data, target) for data in (base, new)]
    ratios = compare_stats.ratio_interval(*costs)
    in_changed = [pd.MultiIndex.from_frame(c[KEYS]).isin(changed) for c in costs]
    tests = compare_stats.cost_tests(costs[0][in_changed[0]], costs[1][in_changed[1]], alpha)
    return ratios.join(tests, how="left")


def _verdicts(table: pd.DataFrame, identical: pd.Series) -> np.ndarray:
    quality = table["better"].fillna("").map({"a": -1, "b": 1}).fillna(0).to_numpy()
    cost = table["cost_effect"].fillna("").map({"costlier": -1, "cheaper": 1}).fillna(0).to_numpy()
    return np.select([identical.to_numpy(), quality * cost < 0, quality > 0, quality < 0, cost > 0, cost < 0,
                      table["n_pairs"].fillna(0).to_numpy() == 0],
                     ["unchanged", "mixed", "better", "worse", "better", "worse", "changed (no common seeds)"],
                     "changed (not significant)")


def _interval_text(low: pd.Series, high: pd.Series) -> pd.Series:
    return pd.Series([f"[{a:.3g}, {b:.3g}]" if np.isfinite(a) or np.isfinite(b) else "–" for a, b in zip(low, high)],
                     index=low.index, dtype=object)


def compare_tables(base: Any, new: Any, target: float = 1e-6, alpha: float = 0.05) -> pd.DataFrame:
    """One row per common cell: both sets' median gap, success, ERT, the cost ratio, the two tests and the verdict."""
    base, new = evaluation_set(load_results(base)), evaluation_set(load_results(new))  # trials are no competitors
    common = compare_stats.cells(base.runs) & compare_stats.cells(new.runs)
    if not common:
        raise ParameterError("the two result sets have no cell (problem, solver) in common; nothing to compare")
    base, new = _common_gaps(compare_stats.restrict(base, common), compare_stats.restrict(new, common))
    table = _board(base, target).merge(_board(new, target), left_index=True, right_index=True, suffixes=("_base", "_new"))
    with np.errstate(divide="ignore", invalid="ignore"):
        table["gap_ratio"] = table["f_gap_median_new"] / table["f_gap_median_base"]
    identical = _identical(base.runs, new.runs).reindex(table.index).fillna(False).astype(bool)
    changed = identical.index[~identical.to_numpy()]
    in_changed = [pd.MultiIndex.from_frame(data.runs[KEYS]).isin(changed) for data in (base, new)]
    tests = _tests(base.runs[in_changed[0]], new.runs[in_changed[1]], alpha)  # identical cells are not tested
    table = table.join(tests[["n_pairs", "p_value", "p_adjusted", "better"]])
    table = table.join(_cost_columns(base, new, changed, target, alpha))
    table["verdict"] = _verdicts(table, identical)
    table.loc[identical, ["p_value", "p_adjusted", "cost_p", "cost_p_adjusted"]] = np.nan
    table["cost_interval"] = _interval_text(table["ratio_low"], table["ratio_high"])
    order = {v: i for i, v in enumerate(VERDICTS)}
    table = table.drop(columns=["better", "cost_effect"]).reset_index()
    return table.sort_values(by=["verdict", "problem_label", "solver"], key=lambda c: c.map(order) if c.name == "verdict" else c,
                             ignore_index=True)


def only_in_one(base: Any, new: Any) -> pd.DataFrame:
    """The cells (problem_label, solver) found in one set only, with ``in`` = "base" or "new"."""
    base_cells, new_cells = (compare_stats.cells(evaluation_set(load_results(d)).runs) for d in (base, new))
    rows = [(*cell, "base") for cell in sorted(base_cells - new_cells)] + [(*cell, "new") for cell in sorted(new_cells - base_cells)]
    return pd.DataFrame(rows, columns=KEYS + ["in"])


def _change_text(row: Any) -> str:
    """One cell's change in words: gap ratio and cost ratio with its interval."""
    interval = f" {row.cost_interval}" if row.cost_interval != "–" else ""
    return (f"{row.solver} on {row.problem_label}: median gap x{row.gap_ratio:.3g} (p={row.p_adjusted:.2g}), "
            f"cost x{row.cost_ratio:.3g}{interval} (p={row.cost_p_adjusted:.2g})")


def summary_lines(table: pd.DataFrame, only: pd.DataFrame, top: int = 5) -> list[str]:
    """The terminal summary: counts of each verdict and of the cells in one set only, then the ``top`` largest changes."""
    counts = table["verdict"].value_counts()
    parts = [f"{counts.get(v, 0)} {v}" for v in VERDICTS if counts.get(v, 0)]
    n_base, n_new = int((only["in"] == "base").sum()), int((only["in"] == "new").sum())
    lines = [f"{len(table)} cells in common: " + ", ".join(parts) + f"; only in base: {n_base}, only in new: {n_new}"]
    changed = table[~table["verdict"].isin(["unchanged"])]
    size = np.abs(np.log(changed["gap_ratio"].astype(float).clip(1e-300))) + np.abs(np.log(changed["cost_ratio"].astype(float).clip(1e-300)))
    significant = changed["verdict"].isin(["worse", "better", "mixed"]).to_numpy()
    ranked = changed.assign(_s=significant, _size=np.nan_to_num(size.to_numpy(), posinf=1e300)).sort_values(
        ["_s", "_size"], ascending=False).head(top)
    lines += [f"  {row.verdict}: {_change_text(row)}" for row in ranked.itertuples()]
    if len(changed) == 0:
        lines.append("  no cell changed: same status, final f, evaluations and iterations on every seed")
    return lines


def _headline(lines: list[str]) -> str:
    return '<p class="headline">' + "<br>".join(html.escape(line.strip()) for line in lines) + "</p>"


def _filters(table: pd.DataFrame, base: ResultSet, new: ResultSet) -> pd.DataFrame:
    labels = pd.concat([base.runs, new.runs]).drop_duplicates("solver").set_index("solver")[["method_label", "step_label"]]
    return table.join(labels, on="solver")


def _figure(base: ResultSet, new: ResultSet, table: pd.DataFrame) -> str:
    changed = table[table["verdict"] != "unchanged"]
    if changed.empty:
        return "<p>No cell changed.</p>"
    common = compare_stats.cells(changed)
    fig = change_curves(compare_stats.restrict(base, common), compare_stats.restrict(new, common),
                        list(zip(changed["problem_label"], changed["solver"])),
                        [f"{v}: {s} on {p}" for v, s, p in zip(changed["verdict"], changed["solver"], changed["problem_label"])])
    more = f" (the first {MAX_PANELS} of {len(changed)} changed cells)" if len(changed) > MAX_PANELS else ""
    return figure_html(fig, "base and new curves of the changed cells",
                       f"Median gap f − f_opt at the iterate against evaluations, base dashed grey, new blue{more}.")


def _body(heading: str, base: ResultSet, new: ResultSet, table: pd.DataFrame, only: pd.DataFrame, lines: list[str],
          target: float, alpha: float) -> list[str]:
    return [f"<h1>{html.escape(heading)}</h1>",
            f"<p>base: <code>{html.escape(base.source)}</code>; new: <code>{html.escape(new.source)}</code>.</p>",
            '<h2 id="summary">Summary</h2>', _headline(lines),
            '<h2 id="cells">Cells</h2>',
            f"<p>Median final gap over finished runs; success: fraction of runs reaching f − f_opt ≤ {target:g}; ERT in "
            f"evaluations at that target. Cost new / base: ERT_new / ERT_base (ratio of evaluations spent where neither "
            f"reached the target), 95% bootstrap interval over the paired seeds. p gap: Wilcoxon signed-rank on the paired "
            f"seeds' log final gaps; p cost: the same on their costs (evaluations to the target, a miss costlier than any "
            f"hit); both Holm-adjusted over the cells that changed; verdicts at α = {alpha:g}. A cell is unchanged only "
            f"when every seed has the same status, final f, evaluations and iterations.</p>",
            html_table(table[list(HEADERS)], "comparison", "comparison", filters=_filters(table, base, new), headers=HEADERS),
            '<h2 id="curves">Changed cells</h2>', _figure(base, new, table),
            '<h2 id="only">Cells in one set only</h2>',
            html_table(only, "only-in-one", filters=only, headers={"problem_label": "problem", "solver": "solver",
                                                                   "in": "only in"})]


def compare_report(base: Any, new: Any, out: str | Path = "reports/compare", *, target: float = 1e-6,
                   alpha: float = 0.05, title: str | None = None) -> tuple[Path, list[str]]:
    """:func:`compare`, also returning the terminal summary (:func:`summary_lines`)."""
    check(target, TARGET, "target")  # a gap f - f_opt, the rule ob.tune and suite files use
    check(alpha, [Interval("real", 0, 1, closed="neither")], "alpha")  # before any folder is read
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out must be a directory, and {str(out)!r} is a file")
    base_set, new_set = evaluation_set(load_results(base)), evaluation_set(load_results(new))
    table = compare_tables(base_set, new_set, target, alpha)
    only = only_in_one(base_set, new_set)
    lines = summary_lines(table, only)
    heading = title or "optbench comparison"
    body = _body(heading, base_set, new_set, table, only, lines, target, alpha)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    toc = [("summary", "Summary", False), ("cells", "Cells", False), ("curves", "Changed cells", False),
           ("only", "In one set only", False)]
    path.write_text(page.document(heading, toc, body), encoding="utf-8")
    return path, lines


def compare(base: Any, new: Any, out: str | Path = "reports/compare", *, target: float = 1e-6, alpha: float = 0.05,
            title: str | None = None) -> Path:
    """Write ``out/index.html``: the cells of ``base`` and ``new`` side by side, what got better, worse, costlier.

    ``base``, ``new``: results directories (or anything :func:`load_results` takes).
    ``target``: the gap of the success rate and ERT. ``alpha``: level of the Holm-corrected paired tests.
    """
    return compare_report(base, new, out, target=target, alpha=alpha, title=title)[0]
