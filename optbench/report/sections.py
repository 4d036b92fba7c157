"""The report's first sections, each a function returning HTML: summary (headline, ranking, leaderboard), aggregates.

Leaderboard columns: the rank of a solver on a problem (``rank`` of
:func:`optbench.analysis.leaderboard` where it gives one, else the rank of the
median final gap, 1 = best, a solver without finished runs last); failure
columns are *counts* of runs, as in the terminal leaderboard.
"""

from __future__ import annotations

import dataclasses
import html
import io
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from optbench import analysis, stats
from optbench.report import figures, images, overall, power
from optbench.report.data import ResultSet
from optbench.report.grouping import natural_order, problem_groups
from optbench.report.styles import Styles
from optbench.report.tables import html_table

__all__ = ["Context", "with_rank", "headline", "summary", "aggregates", "group_ecdfs", "figure_html",
           "profiles"]

BOARD_COLUMNS = {
    "rank": "rank", "mark": "mark", "problem_label": "problem", "solver": "solver", "n_runs": "runs",
    "f_gap_median": "final gap median", "f_gap_q25": "q25", "f_gap_q75": "q75",
    "diverged": "diverged", "error": "errors", "timeout": "timeouts", "mean_rank": "mean rank",
    "evaluations_to_target": "evals to target", "ert": "ERT (evals)",
}


def board_headers(target: float) -> dict[str, str]:
    """Display names of the leaderboard columns, the runtime columns naming their target."""
    return {**BOARD_COLUMNS, "evaluations_to_target": f"evals to f − f_opt ≤ {target:g} (median)",
            "ert": f"ERT to f − f_opt ≤ {target:g} (evals)"}


ALL = ""  # the key of every problem in the groups given to analysis.runtime_ecdf_groups (a group title is never empty)

@dataclass
class Context:
    """What every section needs: the data, the leaderboard (with marks), the styles, the user's options, the tests."""

    data: ResultSet
    board: pd.DataFrame
    styles: Styles
    axis: str
    target: float
    targets: Any
    tau: float
    bootstrap: int
    friedman: Any = None  # stats.FriedmanResult when at least 2 solvers share 2 problems
    headlines: dict = field(default_factory=dict)  # stats.headlines: {"problems": {...}, "overall": str}
    budget: pd.DataFrame = field(default_factory=pd.DataFrame)  # analysis.fixed_budget on ``axis``
    oracles: frozenset = frozenset()  # solvers whose rule uses the known f_opt (overall.oracle_solvers)
    crown_oracles: bool = False  # whether an oracle solver may be called "best overall"
    lead: str = "leaderboard"  # the suite's [report] headline: "profiles" puts the two profiles under the headline


def significance(board: pd.DataFrame, runs: pd.DataFrame, oracles: frozenset = frozenset(),
                 crown_oracles: bool = False) -> tuple[pd.DataFrame, Any, dict]:
    """The leaderboard with ``mark`` (best / tied: not significantly worse, Holm-corrected Wilcoxon), Friedman, headlines.

    The overall sentence is made on the common-coverage block (:func:`overall.block`), oracles not crowned.
    """
    tests = stats.pairwise(runs)
    marked = board.merge(stats.marks(board, tests)[["problem_label", "solver", "mark"]], on=["problem_label", "solver"],
                         how="left")
    if board["solver"].nunique() < 2:  # one solver: nothing to be best among
        marked["mark"] = ""
    result = None
    cover = analysis.coverage(runs)
    if len(cover.solvers) >= 2 and len(cover.problems) >= 2:
        result = stats.friedman(board)
    headlines = stats.headlines(board, tests, result)
    headlines["overall"] = overall.significance_sentence(overall.block(board, runs)[0], runs, result, oracles, crown_oracles,
                                                         tests)  # the same tests when the block holds every run
    if board["solver"].nunique() < 2:  # "best or tied on every problem" says nothing of one solver
        headlines["overall"] = ""
    return marked, result, headlines


def with_rank(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with a ``rank`` column (kept if analysis gives one) and failure counts, sorted by problem, rank."""
    board = board.copy()
    if "rank" not in board:
        board["rank"] = board.groupby("problem_label")["f_gap_median"].rank(method="min", na_option="bottom")
    for status in ("diverged", "error", "timeout"):
        board[status] = np.rint(board[f"{status}_rate"] * board["n_runs"]).astype(np.int64)
    order = {label: i for i, label in enumerate(natural_order(board["problem_label"]))}  # dim=2 before dim=10
    return board.sort_values(["problem_label", "rank", "solver"], ignore_index=True,
                             key=lambda column: column.map(order) if column.name == "problem_label" else column)


def figure_html(fig: plt.Figure | None, alt: str, caption: str = "", dpi: int = 90) -> str:
    """A figure as a PNG (``<figure>`` with caption), embedded or a file (:mod:`optbench.report.images`); empty for None."""
    if fig is None:
        return ""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    src, extra = images.source(buffer.getvalue())  # inline, or a file beside index.html in a large report
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(alt)}" src="{src}"{extra}>{text}</figure>'


def _board_table(board: pd.DataFrame, name: str, target: float) -> str:
    success = [c for c in board if c.startswith("success@")]
    left = ("f_gap_q25", "f_gap_q75", "mean_rank", "evaluations_to_target")  # in each problem's section instead
    columns = [c for c in BOARD_COLUMNS if c in board and c not in left]
    columns = columns[:6] + success + columns[6:]
    frame = board[columns]
    mark = board["mark"] if "mark" in board else pd.Series(np.where(board["rank"] == board.groupby("problem_label")["rank"].transform("min"), "best", ""))
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    marked = [c for c in ("mark", "solver", "f_gap_median") if c in frame]
    styles.loc[(mark == "tied").to_numpy(), marked] = "background: #eef8ee"
    styles.loc[(mark == "best").to_numpy(), marked] = "font-weight: bold; background: #d9f2d9"
    headers = {**board_headers(target), **{c: "success ≤ " + c.split("@", 1)[1] for c in success}}
    return html_table(frame, name, "leaderboard", filters=board, cell_styles=styles, headers=headers)


def headline(ctx: Context) -> str:
    """One paragraph: the best solver over the common-coverage block (oracle rules not crowned), and the failures."""
    rows, cover = overall.block(ctx.board, ctx.data.runs)
    table = overall.overall_table(rows)
    runs = ctx.data.runs
    counts = runs["status"].value_counts()
    failed = ", ".join(f"{counts[s]} {s}" for s in ("diverged", "error", "timeout") if counts.get(s, 0)) or "no failures"
    if len(table) == 1:  # one solver: nothing to rank it against
        return _single_solver_headline(ctx, table.iloc[0]["solver"], failed)
    eligible = overall.crowned(table, ctx.oracles, ctx.crown_oracles)
    best = eligible.iloc[0]
    scope = f"the {len(cover.problems)} problems all {len(cover.solvers)} compared solvers ran"
    text = (f"<b>{html.escape(best['solver'])}</b> ranks best overall (mean rank {best['mean_rank']:.2f} over {scope}, "
            f"best on {best['wins']})")
    others = [row for row in table.itertuples() if row.solver != best["solver"]]
    if others:
        mark = overall.ORACLE_MARK if others[0].solver in ctx.oracles else ""
        text += f"; next: {html.escape(others[0].solver + mark)} (mean rank {others[0].mean_rank:.2f})"
    skipped = [row for row in table.itertuples() if row.solver in ctx.oracles and row.mean_rank < best["mean_rank"]]
    if skipped and not ctx.crown_oracles:
        text += (". Oracle rules, which use the known f_opt and are not crowned: "
                 + ", ".join(f"{html.escape(r.solver)} (mean rank {r.mean_rank:.2f})" for r in skipped))
    left = f" Left out for partial coverage: {html.escape('; '.join(cover.left_out))}." if cover.left_out else ""
    tested = ctx.headlines.get("overall", "")
    tested = f"<br>Significance: {html.escape(tested)}." if tested else ""
    return (f'<p class="headline">{text}.{left} {len(runs)} runs of {runs["solver"].nunique()} solvers on '
            f'{runs["problem_label"].nunique()} problems: {failed}.{tested}</p>')


def _single_solver_headline(ctx: Context, solver: str, failed: str) -> str:
    """A one-solver report's headline: how many problems and runs reached the report's target, no ranking."""
    runs, board = ctx.data.runs, ctx.board
    column = f"success@{analysis.success_name(ctx.target)}"
    reached = ""
    if column in board:
        solved_runs = int(round(float((board[column] * board["n_runs"]).sum())))
        solved_problems = int((board[column] > 0).sum())
        reached = (f": f − f_opt ≤ {ctx.target:g} reached in {solved_runs} of {int(board['n_runs'].sum())} runs, "
                   f"on {solved_problems} of {len(board)} problems")
    return (f'<p class="headline">One solver, <b>{html.escape(solver)}</b>, on {runs["problem_label"].nunique()} '
            f'problems{reached}. {len(runs)} runs: {failed}.</p>')


def profiles(ctx: Context, caption: bool = False) -> list[str]:
    """The Dolan–Moré performance profile and the Moré–Wild data profile; with ``caption``, what tau and the cost are.

    A problem p counts as solved by solver s within cost t when some recorded
    point reached f − f_opt ≤ tau (f(x0) − f_opt); performance profile
    rho_s(r) = fraction of (problem, seed) with cost_s <= r min_s' cost_s';
    data profile d_s(k) = fraction solved within k (dim + 1) units of cost.
    """
    cost = {"evaluations": "evaluations (f + gradient, line-search trials charged)", "f_evals": "f-evaluations",
            "g_evals": "gradient evaluations"}.get(ctx.axis, ctx.axis)
    what = (f" Solved: f − f_opt ≤ τ (f(x0) − f_opt) with τ = {ctx.tau:g}, per (problem, seed), every solver starting "
            f"a seed from the same point; cost: {cost}." if caption else "")
    costs = analysis.solve_costs(ctx.data.runs, ctx.data.trace, tau=ctx.tau, axis=ctx.axis)  # once for both profiles
    return [figure_html(figures.performance_profile_plot(ctx.data, tau=ctx.tau, axis=ctx.axis, styles=ctx.styles, costs=costs),
                        "performance profile", "Dolan–Moré performance profile: fraction of (problem, seed) pairs a "
                        "solver solves within a factor r of the cheapest solver's cost; the score of each solver is in "
                        "the legend." + what),
            figure_html(figures.data_profile_plot(ctx.data, tau=ctx.tau, axis=ctx.axis, styles=ctx.styles, costs=costs),
                        "data profile",
                        "Moré–Wild data profile: fraction of (problem, seed) pairs solved within a budget of k (dim + 1) "
                        "units of cost." + what)]


def _leads_with_profiles(ctx: Context) -> bool:
    return ctx.lead == "profiles" and ctx.data.runs["solver"].nunique() >= 2


FOLD_ROWS = 200  # a leaderboard longer than this starts folded (its rows stay in the page, sortable and filterable)


def _folded(table: str, board: pd.DataFrame) -> str:
    """A long leaderboard inside a closed ``<details>``, so that the aggregates are in reach."""
    if len(board) <= FOLD_ROWS:
        return table
    return (f"<details><summary>{len(board)} rows over {board['problem_label'].nunique()} problems: click to open the "
            f"table</summary>{table}</details>")


def summary(ctx: Context) -> str:
    """Headline, (the profiles, when the suite leads with them), overall ranking (common-coverage block), leaderboard."""
    rows, cover = overall.block(ctx.board, ctx.data.runs)
    ranking = overall.overall_table(rows)
    lead = profiles(ctx, caption=True) if _leads_with_profiles(ctx) else []
    ranked = ['<h3 id="ranking">Overall ranking</h3>',
             "<p>Mean over problems of each solver's rank (1 = best median gap at the final iterate on that problem; "
             "tied solvers share the best rank), ranked again among the solvers compared: "
             f"{html.escape(cover.note())}. Oracle rules (marked{html.escape(overall.ORACLE_MARK)}) use the problem's "
             "known f_opt, which a real user does not have.</p>",
             html_table(overall.mark(ranking, ctx.oracles).drop(columns=["method_label", "step_label"]), "ranking",
                        filters=ranking, headers=BOARD_COLUMNS)] if len(ranking) > 1 else []  # one solver: no ranking
    parts = ['<h2 id="summary">Summary</h2>', headline(ctx), *lead, *ranked,
             '<h3 id="leaderboard">Leaderboard</h3>',
             f"<p>Per problem, solvers by rank: what is ranked is the median gap f − f_opt at the <b>final iterate</b> (where "
             f"the convergence curves end; not the best so far) over all runs, a failed run counting as +∞, a gap within "
             f"round-off of 0 as 0; tied solvers share the best rank (1, 1, 1, 4). Mark <b>best</b>: rank 1; <b>tied</b>: not significantly worse than the best (paired "
             f"Wilcoxon signed-rank tests on the seeds, Holm-corrected, α = 0.05). The final gap median is over finished "
             f"runs (quartiles and runtimes in each problem's section); diverged, errors, timeouts are counts of runs. "
             f"Success: fraction of runs reaching f − f_opt ≤ t; ERT at f − f_opt ≤ {ctx.target:g}. Click a header to "
             f"sort, type to filter.</p>",
             _folded(_board_table(overall.mark(ctx.board, ctx.oracles), "leaderboard", ctx.target), ctx.board)]
    parts += [f'<p class="note">{html.escape(line)}</p>' for line in power.seed_warnings(ctx.board)]
    return "\n".join(parts)


def aggregates(ctx: Context) -> str:
    """Figures over all problems; those that compare solvers are left out when there is only one."""
    data, styles = ctx.data, ctx.styles
    parts = ['<h2 id="aggregates">Across problems</h2>']
    groups = problem_groups(data.runs)
    every = {ALL: list(data.runs["problem_label"].unique()), **groups}  # one hit matrix for all runs and each group
    ecdfs = analysis.runtime_ecdf_groups(data.runs, data.trace, every, ctx.targets, axis=ctx.axis, hits=data.hits,
                                         bands=[ALL], bootstrap=ctx.bootstrap)
    parts.append(figure_html(figures.ecdf_plot(data, ctx.targets, axis=ctx.axis, styles=styles, table=ecdfs[ALL]),
                             "runtime ECDF", "Fraction of (problem, target, seed) triples solved against runtime per "
                             "dimension, 95 % bootstrap bands (runs resampled within each problem)."))
    parts.append(group_ecdfs(ctx, groups, ecdfs))
    if data.runs["solver"].nunique() < 2:
        return "\n".join(parts + ["<p>One solver: the figures that compare solvers (profiles, ranks) are left out.</p>"])
    if _leads_with_profiles(ctx):
        parts.append('<p>The performance and data profiles are at the top of the page, under the <a href="#summary">'
                     "summary</a>'s headline.</p>")
    else:
        parts += profiles(ctx)
    parts.append(figure_html(figures.budget_ecdf_plot(data, ctx.targets, axis=ctx.axis, styles=styles, bootstrap=ctx.bootstrap),
                             "fixed-budget ECDF", "Fraction of (problem, budget, seed) triples whose best gap reached each "
                             "target, budgets dim × 10^j; 95 % bootstrap bands."))
    if ctx.friedman is not None and ctx.friedman.n_solvers >= 2:
        parts.append(figure_html(figures.cd_diagram(ctx.friedman), "critical-difference diagram",
                                 "Friedman's average ranks over the problems every compared solver ran (Demšar 2006: "
                                 "tied solvers share the mean of their ranks, so 1, 1, 1 becomes 2, 2, 2; the overall "
                                 "ranking table gives tied solvers the best rank, hence its smaller numbers): "
                                 + ctx.friedman.coverage.note() + "."))
    if data.runs["problem_label"].nunique() > 1:
        parts.append(figure_html(figures.rank_heatmap(data, board=ctx.board), "rank heatmap", "Rank of each solver per problem."))
    sensitivity = figures.sensitivity_plot(data)
    if sensitivity is not None:
        parts.append('<h3 id="sensitivity">Learning-rate sensitivity</h3>'
                     + figure_html(sensitivity, "learning-rate sensitivity"))
    return "\n".join(parts)


def group_ecdfs(ctx: Context, groups: dict[str, list[str]], tables: dict[str, pd.DataFrame]) -> str:
    """Runtime ECDFs per group of problems (bbob's function groups, each dimension), as cocopp draws them; "" without groups.

    ``groups``: :func:`problem_groups` of the runs; ``tables``: their :func:`analysis.runtime_ecdf_groups`.
    """
    if not groups:
        return ""
    parts = ['<h3 id="groups">Runtime ECDFs by group</h3>',
             "<p>The runtime ECDF over the problems of each group (without bootstrap bands); "
             + ", ".join(f"{html.escape(title)}: {len(labels)} problems" for title, labels in groups.items()) + ".</p>"]
    runs = ctx.data.runs
    for title, labels in groups.items():
        only = dataclasses.replace(ctx.data, runs=runs[runs["problem_label"].isin(set(labels)).to_numpy()])  # for its notes
        fig = figures.ecdf_plot(only, ctx.targets, axis=ctx.axis, styles=ctx.styles, bootstrap=0, table=tables[title])
        fig.axes[0].set_title(f"runtime ECDF, {title} ({len(labels)} problems)", fontsize=11)
        parts.append(figure_html(fig, f"runtime ECDF, {title}"))
    return "\n".join(parts)
