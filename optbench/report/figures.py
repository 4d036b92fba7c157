"""Figures of a result set on matplotlib; each returns a Figure for a notebook or the report.

Every function takes ``results`` (a results directory, a RunResult, a list of
them, a (runs, trace) pair or a ResultSet) and optional ``styles``
(:class:`optbench.report.styles.Styles`): one colour, dash and marker per
solver, the same across every figure (best-ranked solvers first). The legend
lives in its own panel on the canvas, so it never covers data and
``fig.savefig(path)`` keeps it. Gaps are drawn on log scales, raised to
``FLOOR`` when smaller. Statistics come from :mod:`optbench.analysis` and
:mod:`optbench.report.curves`.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from optbench import analysis, schema  # noqa: E402
from optbench.report import curves, diverged  # noqa: E402
from optbench.report.cd import cd_diagram  # noqa: E402
from optbench.report.data import ResultSet, load_results  # noqa: E402
from optbench.report.layout import canvas, legend_panel  # noqa: E402
from optbench.report.overall import oracle_solvers  # noqa: E402
from optbench.report.styles import Styles, styles_from_names  # noqa: E402

__all__ = [
    "Styles", "styles_for", "convergence_plot", "iterations_plot", "step_size_plot", "grad_norm_plot", "accuracy_plot",
    "ecdf_plot", "performance_profile_plot", "data_profile_plot", "sensitivity_plot", "final_gap_plot", "rank_heatmap",
    "cd_diagram", "budget_ecdf_plot",
]

FLOOR = curves.FLOOR
MIN_SWEEP = 3  # values of a parameter that make a sensitivity curve


def _diverged_note(label: str = "a run diverged here (×n runs)") -> Line2D:
    return Line2D([], [], marker="X", ms=8, mec="black", color="0.6", ls="none", label=label)


def styles_for(results: Any) -> Styles:
    """Styles of a result set's solvers, best first by mean rank over problems (see :func:`curves.solver_order`)."""
    data = load_results(results)
    return styles_from_names(curves.solver_order(data), oracles=oracle_solvers(data.runs))


def _setup(results: Any, styles: Styles | None) -> tuple[ResultSet, Styles]:
    data = load_results(results)
    return data, styles if styles is not None else styles_for(data)


def _estimated_note(data: ResultSet, problems: Iterable[str]) -> str:
    estimated = sorted(set(analysis.estimated_problems(data.runs)) & set(problems))
    return "f_opt unknown, best value found stands in: " + ", ".join(estimated) if estimated else ""


def _draw_lines(ax, frame: pd.DataFrame, x: str, y: str, styles: Styles, band: tuple[str, str] | None = None,
                step: bool = False) -> None:
    """One line per solver in its style, faded beyond the first ``HIGHLIGHT``; bands for the full ones only."""
    full, faded = styles.shown(frame["solver"].unique())
    groups = dict(tuple(frame.groupby("solver", sort=False)))
    for solver in faded[::-1] + full[::-1]:  # best drawn last, on top
        group = groups[solver].sort_values(x)
        kwargs = styles[solver].line_kwargs(faded=solver in faded)
        ax.plot(group[x], group[y], drawstyle="steps-post" if step else "default", **kwargs)
        if band is not None and solver in full:
            ax.fill_between(group[x], group[band[0]], group[band[1]], color=kwargs["color"], alpha=0.15, lw=0,
                            step="post" if step else None)


def _per_problem(data: ResultSet, problems: Sequence[str] | None) -> list[str]:
    return sorted(data.runs["problem_label"].unique()) if problems is None else list(problems)


def _only(data: ResultSet, problems: Sequence[str]) -> ResultSet:
    """The result set restricted to ``problems`` (already prepared: no recomputation of gaps)."""
    if set(problems) >= set(data.runs["problem_label"].unique()):  # unique first: no Python loop over every row
        return data
    keep = set(problems)
    return ResultSet(data.runs[data.runs["problem_label"].isin(keep)], data.trace[data.trace["problem_label"].isin(keep)],
                     data.provenance, data.source)


def convergence_plot(results: Any, axis: str = "evaluations", problems: Sequence[str] | None = None,
                     styles: Styles | None = None, wrap: int = 3) -> plt.Figure:
    """``f - f_opt`` at the iterate against ``axis``: median and interquartile band over seeds, one panel per problem.

    The gap at the iterate, not the best so far: a curve ends at the median final
    gap, the value the leaderboard ranks. Only runs that did not diverge enter the
    median; each curve stops at the largest ``axis`` value its runs reached; a
    diverged run is an ``X`` at the point where it diverged (its last recorded
    iterate, best-so-far gap).
    """
    data, styles = _setup(results, styles)
    names = _per_problem(data, problems)
    subset = _only(data, names)
    table = curves.convergence(subset, axis)
    ends = curves.divergence_points(subset, axis)
    fig, axes, side = canvas(max(len(names), 1), wrap, panel=(6.6, 4.4) if len(names) == 1 else (4.4, 3.4))
    for ax, problem in zip(axes, names):
        frame = table[table["problem_label"] == problem]
        _draw_lines(ax, frame, "x", "median", styles, band=("q25", "q75"), step=True)
        diverged.mark_grouped(ax, ends[ends["problem_label"] == problem], styles)
        curves.log_axes(ax, np.r_[frame["x"].to_numpy(), ends.loc[ends["problem_label"] == problem, "x"].to_numpy()])
        ax.set_title(problem, fontsize=11)
        ax.set_xlabel(analysis.AXIS_LABELS[axis])
        ax.set_ylabel("f − f_opt at the iterate (median, IQR)")
    solvers = pd.concat([table["solver"], ends["solver"]]).unique()
    notes: list = [_diverged_note()] if len(ends) else []
    legend_panel(side, styles, solvers, notes + [n for n in [_estimated_note(data, names)] if n])
    return fig


def _trace_plot(results: Any, column: str, ylabel: str, problems: Sequence[str] | None, styles: Styles | None,
                wrap: int, log: bool) -> plt.Figure:
    data, styles = _setup(results, styles)
    names = _per_problem(data, problems)
    table = curves.trace_bands(diverged.healthy(_only(data, names)), column)  # y limits from the runs that did not diverge
    ends = curves.divergence_points(_only(data, names), "iterations")
    fig, axes, side = canvas(max(len(names), 1), wrap)
    for ax, problem in zip(axes, names):
        frame = table[table["problem_label"] == problem].copy()
        if log:
            frame[["median", "q25", "q75"]] = frame[["median", "q25", "q75"]].clip(lower=FLOOR)
        _draw_lines(ax, frame, "iteration", "median", styles, band=("q25", "q75"))
        curves.log_axes(ax, frame["iteration"].to_numpy(), ylog=log)
        diverged.mark_at_top(ax, ends[ends["problem_label"] == problem], styles)
        ax.set_title(problem, fontsize=11)
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        if frame.empty:
            ax.text(0.5, 0.5, f"no finite {column} recorded", ha="center", va="center", transform=ax.transAxes)
    notes = [_diverged_note("a run diverged (top edge; ×n runs)")] if len(ends) else []
    legend_panel(side, styles, list(dict.fromkeys([*table["solver"], *ends["solver"]])), notes)
    return fig


TRACE_COLUMNS = {"step_size": ("step size α (median, IQR)", True), "grad_norm": ("‖∇f‖ (median, IQR)", True),
                 "accuracy": ("accuracy (median, IQR)", False),
                 "test_accuracy": ("test accuracy (median, IQR)", False), "test_loss": ("test loss (median, IQR)", True)}


def iterations_plot(results: Any, problem: str, columns: Sequence[str] = ("step_size", "grad_norm"),
                    styles: Styles | None = None) -> plt.Figure:
    """One problem, one panel per trace column (step size, gradient norm, accuracy) against iteration k.

    Each panel: per solver, the median over seeds at each recorded iteration and the interquartile band,
    over the runs that did not diverge (so they set the y limits); a diverged run is an X at the top edge at
    the last iteration it recorded (:mod:`optbench.report.diverged`).
    """
    data, styles = _setup(results, styles)
    subset = _only(data, [problem])
    ends = curves.divergence_points(subset, "iterations")
    fig, axes, side = canvas(len(columns), 2, panel=(4.0, 3.2))  # two per row: readable in a 1400 px page
    solvers: list[str] = list(dict.fromkeys(ends["solver"]))
    healthy = diverged.healthy(subset)  # y limits from the runs that did not diverge
    for ax, column in zip(axes, columns):
        label, log = TRACE_COLUMNS.get(column, (column, False))
        frame = curves.trace_bands(healthy, column)
        if log:
            frame[["median", "q25", "q75"]] = frame[["median", "q25", "q75"]].clip(lower=FLOOR)
        _draw_lines(ax, frame, "iteration", "median", styles, band=("q25", "q75"))
        curves.log_axes(ax, frame["iteration"].to_numpy(), ylog=log)
        diverged.mark_at_top(ax, ends, styles)
        ax.set_title(f"{problem}: {column.replace('_', ' ')}", fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel(label)
        solvers += [s for s in frame["solver"].unique() if s not in solvers]
    notes = [_diverged_note("a run diverged (top edge; ×n runs)")] if len(ends) else []
    legend_panel(side, styles, solvers, notes)
    return fig


def step_size_plot(results: Any, problems: Sequence[str] | None = None, styles: Styles | None = None,
                   wrap: int = 3) -> plt.Figure:
    """Step size alpha_k against iteration k: median and interquartile band over the seeds of each solver."""
    return _trace_plot(results, "step_size", "step size α (median, IQR)", problems, styles, wrap, log=True)


def grad_norm_plot(results: Any, problems: Sequence[str] | None = None, styles: Styles | None = None,
                   wrap: int = 3) -> plt.Figure:
    """Gradient norm ||grad f(x_k)|| against iteration k: median and interquartile band per solver."""
    return _trace_plot(results, "grad_norm", "‖∇f‖ (median, IQR)", problems, styles, wrap, log=True)


def accuracy_plot(results: Any, problems: Sequence[str] | None = None, styles: Styles | None = None,
                  wrap: int = 3) -> plt.Figure:
    """Classification accuracy (on the whole data set) against iteration: median and interquartile band."""
    return _trace_plot(results, "accuracy", "accuracy (median, IQR)", problems, styles, wrap, log=False)


def ecdf_plot(results: Any, targets: Iterable[float] | None = None, axis: str = "evaluations",
              styles: Styles | None = None, bootstrap: int = 200, table: pd.DataFrame | None = None) -> plt.Figure:
    """ECDF of fixed-target runtimes (COCO's ladder by default) per solver, with bootstrap 95 % bands.

    ``table``: :func:`optbench.analysis.runtime_ecdf` of the same result set and arguments, when already computed.
    """
    data, styles = _setup(results, styles)
    if table is None:
        table = analysis.runtime_ecdf(data.runs, data.trace, targets, axis=axis, bootstrap=bootstrap,
                                      hits=getattr(data, "hits", None))
    fig, (ax,), side = canvas(1, 1, panel=(7.5, 4.6))
    _draw_lines(ax, table, "x", "proportion", styles, band=("lower", "upper"), step=True)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"{analysis.AXIS_LABELS[axis]} / dimension")
    ax.set_ylabel("fraction of (problem, target, seed) solved")
    ladder = analysis._check_targets(targets)
    ax.set_title(f"runtime ECDF: {len(ladder)} targets {ladder[0]:.0e} … {ladder[-1]:.0e}, 95 % bootstrap bands", fontsize=11)
    legend_panel(side, styles, table["solver"].unique(), [n for n in [_estimated_note(data, data.runs["problem_label"].unique())] if n])
    return fig


def performance_profile_plot(results: Any, tau: float = 1e-3, axis: str = "evaluations",
                             styles: Styles | None = None, costs: pd.DataFrame | None = None) -> plt.Figure:
    """Dolan–Moré performance profile; each legend entry carries the solver's score (area over r in [1, 4], / 3).

    ``costs``: :func:`optbench.analysis.solve_costs` of the same result set, ``tau`` and ``axis``, when already computed.
    """
    data, styles = _setup(results, styles)
    costs = costs if costs is not None else analysis.solve_costs(data.runs, data.trace, tau=tau, axis=axis)
    table = analysis.performance_profile(data.runs, data.trace, tau=tau, axis=axis, costs=costs)
    scores = analysis.performance_score(data.runs, data.trace, tau=tau, axis=axis, costs=costs).set_index("solver")["score"]
    fig, (ax,), side = canvas(1, 1, panel=(7.5, 4.6))
    _draw_lines(ax, table, "ratio", "proportion", styles, step=True)
    ax.set_xscale("log", base=2)
    ax.axvline(4.0, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"performance ratio r ({axis} / best solver's)")
    ax.set_ylabel("fraction of (problem, seed) solved")
    ax.set_title(f"performance profile, solved: f − f_opt ≤ {tau:g} (f(x0) − f_opt)", fontsize=11)
    labels = {s: f"{s}  [score {scores.get(s, float('nan')):.2f}]" for s in table["solver"].unique()}
    legend_panel(side, styles, table["solver"].unique(), ["score: area under the profile, r ∈ [1, 4], / 3"], labels)
    return fig


def data_profile_plot(results: Any, tau: float = 1e-3, axis: str = "evaluations", styles: Styles | None = None,
                      costs: pd.DataFrame | None = None) -> plt.Figure:
    """Moré–Wild data profile: fraction solved against budget in units of (dim + 1) evaluations (``costs``: as
    :func:`performance_profile_plot` takes them)."""
    data, styles = _setup(results, styles)
    table = analysis.data_profile(data.runs, data.trace, tau=tau, axis=axis, costs=costs)
    fig, (ax,), side = canvas(1, 1, panel=(7.5, 4.6))
    _draw_lines(ax, table[table["budget"] > 0], "budget", "proportion", styles, step=True)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"budget κ: {axis} / (dimension + 1)")
    ax.set_ylabel("fraction of (problem, seed) solved")
    ax.set_title(f"data profile, solved: f − f_opt ≤ {tau:g} (f(x0) − f_opt)", fontsize=11)
    legend_panel(side, styles, table["solver"].unique(), [])
    return fig


def sensitivity_plot(results: Any, parameter: str | None = None, styles: Styles | None = None,
                     wrap: int = 2) -> plt.Figure | None:
    """Final gap (median, IQR over finished runs) against the swept step-rule parameter; None if nothing is swept.

    One line per (method, step rule) swept over at least ``MIN_SWEEP`` values (two values, as a tuned
    suite's default and selected setting, are no sweep: the tuning section draws every trial instead);
    a value at which most runs diverged is an ``x`` at the top of the axes.
    """
    data = load_results(results)
    table = analysis.lr_sensitivity(data.runs, parameter)
    if not table.empty:
        size = table.groupby(["problem_label", "method_label", "step_rule"])["value"].transform("nunique")
        table = table[(size >= MIN_SWEEP).to_numpy()]
    if table.empty:
        return None
    table = table.assign(solver=[schema.solver_label(m, schema.step_label(r)) for m, r in zip(table["method_label"], table["step_rule"])])
    table[["median", "q25", "q75"]] = table[["median", "q25", "q75"]].clip(lower=FLOOR)
    own = styles_from_names(sorted(table["solver"].unique()))
    names = sorted(table["problem_label"].unique())
    fig, axes, side = canvas(len(names), wrap)
    for ax, problem in zip(axes, names):
        frame = table[table["problem_label"] == problem]
        _draw_lines(ax, frame[frame["median"].notna()], "value", "median", own, band=("q25", "q75"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        for _, row in frame[frame["diverged_rate"] >= 0.5].iterrows():
            ax.plot(row["value"], 1.0, marker="x", ms=9, mew=2, color=own[row["solver"]].color,
                    transform=ax.get_xaxis_transform(), clip_on=False)
        ax.set_title(problem, fontsize=11)
        ax.set_xlabel(f"step-rule parameter {frame['parameter'].iloc[0]}")
        ax.set_ylabel("final f − f_opt (median, IQR)")
    legend_panel(side, own, table["solver"].unique(), ["x at the top: most runs diverged at that value"])
    return fig


def final_gap_plot(results: Any, problems: Sequence[str] | None = None, kind: str = "box",
                   styles: Styles | None = None, wrap: int = 1) -> plt.Figure:
    """Final ``f - f_opt`` over seeds per solver (``kind`` 'box' or 'strip'), one panel per problem.

    Only finished runs (converged, stopped or budget) are drawn; each row says ``n``, the
    finished runs out of all runs, and a row with none says why.
    """
    if kind not in ("box", "strip"):
        raise analysis.ParameterError(f"kind must be 'box' or 'strip', got {kind!r}")
    data, styles = _setup(results, styles)
    names = _per_problem(data, problems)
    data = _only(data, names)
    order = [s for s in styles.order if s in set(data.runs["solver"].unique())]
    rows = max(data.runs[data.runs["problem_label"].isin(names)].groupby("problem_label")["solver"].nunique().max(), 1)
    label = 0.075 * (max((len(s) for s in order), default=10) + 26) + 0.3  # inches: "solver  n=9/10 (1 diverged)"
    panel = 4.0 + label
    # fixed margins: room for the longest row label left of every panel
    fig, axes, _ = canvas(max(len(names), 1), wrap, panel=(panel, 0.32 * rows + 1.3), legend=False, layout=None)
    fig.subplots_adjust(left=label / fig.get_figwidth(), right=1 - 0.2 / fig.get_figwidth(), wspace=label / 4.0,
                        top=1 - 0.7 / fig.get_figheight(), bottom=0.6 / fig.get_figheight(), hspace=0.9 / (0.32 * rows + 1.3))
    for ax, problem in zip(axes, names):
        runs = data.runs[data.runs["problem_label"] == problem]
        present = set(runs["solver"].unique())
        curves.final_gap_panel(ax, runs, [s for s in order if s in present], styles, kind)
        ax.set_title(problem, fontsize=11)
    fig.suptitle("final f − f_opt of finished runs (box: quartiles, black: median, whiskers: min to max)", fontsize=10)
    return fig


def rank_heatmap(results: Any, column: str = "rank", board: pd.DataFrame | None = None) -> plt.Figure:
    """Rank of each solver on each problem by a leaderboard column (default its ``rank``; 1 = best; cells not run are blank).

    ``board``: the result set's :func:`optbench.analysis.leaderboard` when the caller has it (else computed).
    """
    data = load_results(results)
    if board is None:
        board = analysis.leaderboard(data.runs, data.trace, hits=getattr(data, "hits", None))
    table = analysis.ranks(board, column)
    table = table.loc[[s for s in curves.solver_order(data, board) if s in table.index]]
    label = 0.075 * max((len(s) for s in table.index), default=10) + 0.4  # inches for the solver names
    fig, ax = plt.subplots(figsize=(label + 2.2 + 0.9 * table.shape[1], 2.2 + 0.32 * table.shape[0]), layout="constrained")
    image = ax.imshow(table.to_numpy(dtype=float), cmap="viridis_r", aspect="auto")
    values = table.to_numpy(dtype=float)
    middle = np.nanmean(values) if np.isfinite(values).any() else 0.0
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):  # a cell that never ran stays blank
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if value > middle else "black")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right", fontsize=9)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=9)
    fig.colorbar(image, ax=ax, label="rank (1 = best)")
    what = "rank of the median final gap (1 = best)" if column == "rank" else f"rank by {column.replace('_', ' ')} (1 = best)"
    ax.set_title(f"{what}, per problem", fontsize=11)
    return fig


def budget_ecdf_plot(results: Any, targets: Iterable[float] | None = None, axis: str = "evaluations",
                     styles: Styles | None = None, bootstrap: int = 200) -> plt.Figure:
    """Fixed-budget ECDF (IOHprofiler): fraction of (problem, budget, seed) whose gap is <= each target, bootstrap bands.

    Budgets are ``dim * 10^j`` per problem; the x axis is the target gap, decreasing to the right (harder).
    """
    data, styles = _setup(results, styles)
    table = analysis.budget_ecdf(data.runs, data.trace, axis=axis, targets=targets, bootstrap=bootstrap)
    fig, (ax,), side = canvas(1, 1, panel=(7.5, 4.6))
    _draw_lines(ax, table, "target", "proportion", styles, band=("lower", "upper"))
    ax.set_xscale("log")
    if len(table):
        ax.set_xlim(table["target"].max(), table["target"].min())
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("target f − f_opt (harder to the right)")
    ax.set_ylabel("fraction of (problem, budget, seed) reached")
    ax.set_title(f"fixed-budget ECDF: budgets dim × 10^j {axis}, 95 % bootstrap bands", fontsize=11)
    legend_panel(side, styles, table["solver"].unique(), [])
    return fig
