"""The report's later sections: one collapsible section per problem, failures grouped by cell, provenance.

A problem section holds its leaderboard rows, the convergence curves
(diverged runs marked where they diverged), the final-gap distribution (when
more than one solver ran), step size and gradient norm over iterations, and
accuracy for classification networks. What cannot be drawn (no finite value of
f in any run, say) is said in the section instead of stopping the report.
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import numpy as np
import pandas as pd

from optbench import analysis
from optbench.report import figures, overall
from optbench.report.sections import Context, board_headers, figure_html
from optbench.report.tables import html_table

__all__ = ["problem_section", "compact_problems", "failures", "provenance"]


def _finite(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and bool(np.isfinite(frame[column].to_numpy(dtype=float)).any())


def _summary_line(rows: pd.DataFrame) -> str:
    best = rows.sort_values("rank").iloc[0]
    gap = "no finished run" if np.isnan(best["f_gap_median"]) else f"median final gap {best['f_gap_median']:.3g}"
    return f"best: {html.escape(best['solver'])} ({gap}); {len(rows)} solvers"


def _figures(ctx: Context, problem: str, runs: pd.DataFrame, trace: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The problem's figures and the list of what could not be drawn, with why."""
    # the problem's rows only, filtered once here: each figure's own filter of the whole trace is then a no-op
    data, styles, one = dataclasses.replace(ctx.data, runs=runs, trace=trace), ctx.styles, [problem]
    parts, missing = [], []
    axis = analysis.fair_axes(runs, ctx.axis).get(problem, ctx.axis)  # epochs where full batch meets minibatch
    if _finite(trace, "f_gap") or _finite(runs, "f_gap"):
        parts.append(figure_html(figures.convergence_plot(data, axis, one, styles), f"convergence on {problem}",
                                 "Gap f − f_opt at the iterate (a curve ends at the final gap the leaderboard ranks): "
                                 "median and interquartile band over the seeds that did not diverge; a curve stops where "
                                 "its runs stopped; X marks where a run diverged."
                                 + (" x axis: epochs, the one cost full-batch and minibatch solvers share."
                                    if axis == "epochs" and axis != ctx.axis else "")))
        if runs["solver"].nunique() > 1:
            parts.append(figure_html(figures.final_gap_plot(data, one, styles=styles), f"final gaps on {problem}",
                                     "Final gap of finished runs per solver; n = finished runs / all runs."))
    else:
        missing.append("convergence curves and final gaps: f (and so f − f_opt) is not finite in any run or trace row")
    columns = [c for c in ("step_size", "grad_norm", "accuracy", "test_accuracy", "test_loss") if _finite(trace, c)]
    missing += [f"{what}: no finite value recorded" for c, what in (("step_size", "step size"), ("grad_norm", "gradient norm"))
                if c not in columns]
    if columns:
        what = ", ".join(c.replace("_", " ") for c in columns)
        parts.append(figure_html(figures.iterations_plot(data, problem, columns, styles), f"{what} on {problem}",
                                 f"{what.capitalize()} over iterations: median and interquartile band over seeds"
                                 + (" (accuracy on the whole data set)." if "accuracy" in columns else ".")))
    return parts, missing


def compact_problems(ctx: Context, problems: list[str], limit: int) -> str:
    """One row per problem (its best solver, runs, failures) in place of the per-problem sections of a large suite."""
    board = ctx.board
    best = board.sort_values("rank", kind="stable").drop_duplicates("problem_label").set_index("problem_label")
    counts = board.groupby("problem_label")[["n_runs", "diverged", "error", "timeout"]].sum()
    table = pd.DataFrame({"problem": problems, "solvers": board.groupby("problem_label")["solver"].nunique().reindex(problems).to_numpy(),
                          "runs": counts["n_runs"].reindex(problems).to_numpy(),
                          "best solver": best["solver"].reindex(problems).to_numpy(),
                          "best median gap": best["f_gap_median"].reindex(problems).to_numpy(),
                          "diverged": counts["diverged"].reindex(problems).to_numpy(),
                          "failed": (counts["error"] + counts["timeout"]).reindex(problems).to_numpy()})
    return (f'<h2 id="problems">Problems</h2><p>{len(problems)} problems: more than {limit}, so one row each instead of a '
            f"section with figures (the aggregates above group them; <code>optbench query</code> answers any other "
            f"question about them). Best solver: rank 1 on the problem; failed: errors and timeouts.</p>"
            + html_table(table, "problems", filters=table.rename(columns={"problem": "problem_label"})))


def problem_section(ctx: Context, index: int, problem: str, open_: bool) -> str:
    """One ``<details>`` section for ``problem``: its leaderboard rows, figures, and what could not be drawn."""
    runs = ctx.data.runs[ctx.data.runs["problem_label"] == problem]
    trace = ctx.data.trace[ctx.data.trace["problem_label"] == problem]
    rows = ctx.board[ctx.board["problem_label"] == problem]
    columns = [c for c in ("rank", "mark", "solver", "n_runs", "f_gap_median", "f_gap_q25", "f_gap_q75", "diverged", "error",
                           "timeout", "evaluations_to_target", "ert") if c in rows]
    parts, missing = _figures(ctx, problem, runs, trace)
    sentence = ctx.headlines.get("problems", {}).get(problem, "")
    notes = f'<p class="note">{html.escape(sentence)} (paired Wilcoxon, Holm-corrected).</p>' if sentence else ""
    notes += "".join(f'<p class="missing">Not drawn: {html.escape(m)}.</p>' for m in missing)
    table = html_table(overall.mark(rows[columns], ctx.oracles), f"problem-{index}", filters=rows,
                       headers=board_headers(ctx.target))
    return (f'<details class="problem" id="problem-{index}"{" open" if open_ else ""}>'
            f"<summary>{html.escape(problem)} <span>— {_summary_line(rows)}</span></summary>"
            + notes + table + "".join(parts) + _budget_table(ctx, index, problem) + "</details>")


def _budget_table(ctx: Context, index: int, problem: str) -> str:
    """Fixed-budget table (IOHprofiler's view): per solver, the median best-so-far gap at budgets dim * 10^j."""
    if ctx.budget.empty:
        return ""
    rows = ctx.budget[ctx.budget["problem_label"] == problem]
    if rows.empty:
        return ""
    table = rows.pivot_table(index="solver", columns="budget", values="gap_median", aggfunc="first", sort=True)
    table.columns = [f"{budget:.3g}" for budget in table.columns]
    order = [s for s in ctx.styles.order if s in table.index]
    table = table.loc[order].reset_index()
    labels = rows.drop_duplicates("solver").set_index("solver").loc[order, ["method_label", "step_label"]].reset_index()
    return (f"<h4>Fixed budget</h4><p>Median over seeds of the best-so-far f − f_opt after each budget of {ctx.axis} "
            "(columns; dim × 10^j); ∞: some runs had recorded no value yet, or failed.</p>"
            + html_table(table, f"budget-{index}", filters=labels.assign(problem_label=problem)))


def failures(ctx: Context) -> str:
    """Failed runs grouped by (problem, solver, status): count, seeds, first iteration and first message."""
    runs = ctx.data.runs
    bad = runs[runs["status"].isin(("diverged", "error", "timeout"))]
    parts = ['<h2 id="failures">Failures</h2>', "<p>Runs that diverged, raised an error or timed out, grouped by cell "
             "and status; the message is the first run's.</p>"]
    if bad.empty:
        return "\n".join(parts + ["<p>None.</p>"])
    grouped = bad.sort_values("seed").groupby(["problem_label", "solver", "status"], sort=True)
    table = grouped.agg(runs=("seed", "size"), seeds=("seed", lambda s: _seeds(s.tolist())),
                        first_iteration=("iterations", "min"), message=("message", _first_message),
                        method_label=("method_label", "first"), step_label=("step_label", "first")).reset_index()
    shown = table.drop(columns=["method_label", "step_label"])
    return "\n".join(parts + [html_table(shown, "failures", "failures", filters=table,
                                         headers={"problem_label": "problem", "first_iteration": "stopped at iteration"})])


def _seeds(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds[:8])) + (f", … ({len(seeds)})" if len(seeds) > 8 else "")


def _first_message(messages: pd.Series) -> str:
    text = next((str(m) for m in messages if isinstance(m, str) and m), "")
    return text.splitlines()[0][:200] if text else ""


def provenance(provenance: dict[str, Any], source: str) -> str:
    """Where the results came from: versions, commit, machine, date, command, the suite file."""
    items = {"source": source, **{k: v for k, v in provenance.items() if k != "suite_text"}}
    rows = "".join(
        f'<tr><th class="text">{html.escape(str(k))}</th><td class="text">'
        f"{html.escape(' '.join(map(str, v)) if isinstance(v, list) else str(v))}</td></tr>"
        for k, v in items.items() if v not in (None, "")
    )
    suite = provenance.get("suite_text")
    suite_html = f"<details><summary>suite file</summary><pre>{html.escape(suite)}</pre></details>" if suite else ""
    return f'<h2 id="provenance">Provenance</h2><table class="provenance">{rows}</table>{suite_html}'
