"""Figures of a result set, seaborn on matplotlib; each returns a matplotlib Figure for notebooks or the report.

Every function takes ``results`` (a results directory, a RunResult, a list of
them, a (runs, trace) pair or a ResultSet) and optional ``styles``, the
:class:`Styles` that map each method to one colour and each step rule to one
dash pattern across every figure. Statistics are computed with pandas and numpy
in :mod:`optbench.analysis` (no seaborn bootstrapping); bands are drawn with
``fill_between``. Gaps are drawn on log scales, raised to ``FLOOR`` when smaller.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from optbench import analysis  # noqa: E402
from optbench.report.data import ResultSet, load_results  # noqa: E402

__all__ = [
    "Styles",
    "styles_for",
    "convergence_plot",
    "ecdf_plot",
    "performance_profile_plot",
    "data_profile_plot",
    "sensitivity_plot",
    "final_gap_plot",
    "rank_heatmap",
]

FLOOR = 1e-16
WIDTH = 10.0  # inches; at 100 dpi a figure fits a laptop screen
_DASHES = ["", (4, 1.5), (1, 1), (3, 1.25, 1.5, 1.25), (5, 1, 1, 1), (6, 2), (2, 2, 6, 2), (1, 2), (8, 2, 1, 2), (3, 3)]


@dataclass(frozen=True)
class Styles:
    """One colour per method label and one dash pattern per step-rule label, built once from sorted names."""

    colors: dict[str, Any]
    dashes: dict[str, Any]

    def legend_handles(self, methods: Iterable[str], steps: Iterable[str]) -> list[Line2D]:
        methods, steps = sorted(set(methods)), sorted(set(steps))
        handles = [Line2D([], [], color=self.colors[m], lw=2.5, label=m) for m in methods]
        if len(steps) > 1:
            handles.append(Line2D([], [], color="none", label=""))
            for step in steps:
                line = Line2D([], [], color="0.3", lw=1.8, label=step)
                if self.dashes.get(step):
                    line.set_dashes(self.dashes[step])
                handles.append(line)
        return handles


def styles_for(results: Any) -> Styles:
    """The :class:`Styles` of a result set: colours from seaborn's palettes in sorted method order."""
    data = load_results(results)
    methods = sorted(data.runs["method_label"].unique())
    steps = sorted(data.runs["step_label"].unique())
    colors = sns.color_palette("tab10" if len(methods) <= 10 else "husl", len(methods))
    dashes = {step: _DASHES[i % len(_DASHES)] if i < len(_DASHES) else (1 + i % 5, 1 + i // 5) for i, step in enumerate(steps)}
    return Styles(dict(zip(methods, colors)), dashes)


def _setup(results: Any, styles: Styles | None) -> tuple[ResultSet, Styles]:
    data = load_results(results)
    return data, styles if styles is not None else styles_for(data)


def _legend(fig: plt.Figure, styles: Styles, frame: pd.DataFrame, title: str = "method / step rule") -> None:
    handles = styles.legend_handles(frame["method_label"], frame["step_label"])
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title=title, fontsize=9)


def _lines(ax, frame: pd.DataFrame, x: str, y: str, styles: Styles, band: tuple[str, str] | None = None,
           drawstyle: str = "default") -> None:
    """Lines coloured by method and dashed by step rule (seaborn), with optional bands (fill_between)."""
    if frame.empty:
        return
    sns.lineplot(data=frame, x=x, y=y, hue="method_label", style="step_label", units="solver", estimator=None,
                 palette=styles.colors, dashes={s: styles.dashes.get(s, "") for s in frame["step_label"].unique()}, ax=ax, legend=False, errorbar=None,
                 drawstyle=drawstyle, lw=1.8, sort=True)
    if band is not None:
        for solver, group in frame.groupby("solver", sort=False):
            color = styles.colors[group["method_label"].iloc[0]]
            ax.fill_between(group[x], group[band[0]], group[band[1]], color=color, alpha=0.18, lw=0,
                            step="post" if drawstyle == "steps-post" else None)


def _facets(n: int, wrap: int = 3, height: float = 3.2) -> tuple[plt.Figure, list]:
    columns = min(n, wrap)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(WIDTH if columns > 1 else 6.5, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _estimated_note(data: ResultSet, problems: Sequence[str]) -> str:
    estimated = sorted(set(analysis.estimated_problems(data.runs)) & set(problems))
    return f"f_opt unknown, best value found stands in: {', '.join(estimated)}" if estimated else ""


def convergence_plot(results: Any, axis: str = "evaluations", problems: Sequence[str] | None = None,
                     styles: Styles | None = None, wrap: int = 3) -> plt.Figure:
    """Best-so-far ``f - f_opt`` against ``axis``: median over seeds with interquartile band, one facet per problem."""
    data, styles = _setup(results, styles)
    curves = analysis.convergence(data.runs, data.trace, axis=axis, floor=FLOOR)
    names = sorted(curves["problem_label"].unique()) if problems is None else list(problems)
    fig, axes = _facets(max(len(names), 1), wrap)
    for ax, problem in zip(axes, names):
        frame = curves[curves["problem_label"] == problem]
        _lines(ax, frame, "x", "median", styles, band=("q25", "q75"), drawstyle="steps-post")
        ax.set_xscale("symlog" if (frame["x"] <= 0).any() else "log", **({"linthresh": 1.0} if (frame["x"] <= 0).any() else {}))
        ax.set_yscale("log")
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel(analysis.AXIS_LABELS[axis])
        ax.set_ylabel("best f − f_opt (median, IQR)")
    note = _estimated_note(data, names)
    if note:
        fig.text(0.0, -0.02, note, fontsize=8, ha="left", va="top")
    fig.subplots_adjust(wspace=0.3, hspace=0.45)  # fixed spacing: tight_layout costs a full draw
    _legend(fig, styles, curves[curves["problem_label"].isin(names)])
    return fig


def ecdf_plot(results: Any, targets: Iterable[float] | None = None, axis: str = "evaluations",
              styles: Styles | None = None, bootstrap: int = 200) -> plt.Figure:
    """ECDF of fixed-target runtimes (COCO ladder by default) per solver with bootstrap 95 % bands."""
    data, styles = _setup(results, styles)
    table = analysis.runtime_ecdf(data.runs, data.trace, targets, axis=axis, bootstrap=bootstrap)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    _lines(ax, table, "x", "proportion", styles, band=("lower", "upper"), drawstyle="steps-post")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"{analysis.AXIS_LABELS[axis]} / dimension")
    ax.set_ylabel("fraction of (problem, target, seed) solved")
    ladder = analysis._check_targets(targets)
    ax.set_title(f"runtime ECDF, {len(ladder)} targets f − f_opt ≤ {ladder[0]:.0e} … {ladder[-1]:.0e}; bands: 95 % bootstrap", fontsize=10)
    note = _estimated_note(data, data.runs["problem_label"].unique())
    if note:
        fig.text(0.0, -0.02, note, fontsize=8, ha="left", va="top")
    fig.subplots_adjust(wspace=0.3, hspace=0.45)  # fixed spacing: tight_layout costs a full draw
    _legend(fig, styles, table)
    return fig


def _with_labels(table: pd.DataFrame, data: ResultSet) -> pd.DataFrame:
    labels = data.runs.drop_duplicates("solver").set_index("solver")[["method_label", "step_label"]]
    return table.join(labels, on="solver")


def performance_profile_plot(results: Any, tau: float = 1e-3, axis: str = "evaluations",
                             styles: Styles | None = None) -> plt.Figure:
    """Dolan–Moré performance profile; the legend gives each solver's AlgoPerf-style score (area over r in [1, 4])."""
    data, styles = _setup(results, styles)
    table = _with_labels(analysis.performance_profile(data.runs, data.trace, tau=tau, axis=axis), data)
    scores = analysis.performance_score(data.runs, data.trace, tau=tau, axis=axis).set_index("solver")["score"]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    _lines(ax, table, "ratio", "proportion", styles, drawstyle="steps-post")
    ax.set_xscale("log", base=2)
    ax.axvline(4.0, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"performance ratio r ({axis} / best solver's {axis})")
    ax.set_ylabel("fraction of (problem, seed) solved")
    ax.set_title(f"performance profile, test f − f_opt ≤ {tau:g} (f(x0) − f_opt)", fontsize=10)
    fig.subplots_adjust(wspace=0.3, hspace=0.45)  # fixed spacing: tight_layout costs a full draw
    handles = styles.legend_handles(table["method_label"], table["step_label"])
    text = "\n".join(f"{score:.2f}  {solver}" for solver, score in scores.items())
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="method / step rule", fontsize=9)
    fig.text(1.01, 0.02, "score (area r ∈ [1, 4]):\n" + text, fontsize=8, va="bottom", ha="left")
    return fig


def data_profile_plot(results: Any, tau: float = 1e-3, axis: str = "evaluations", styles: Styles | None = None) -> plt.Figure:
    """Moré–Wild data profile: fraction solved against budget in units of (dim + 1) evaluations."""
    data, styles = _setup(results, styles)
    table = _with_labels(analysis.data_profile(data.runs, data.trace, tau=tau, axis=axis), data)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    _lines(ax, table[table["budget"] > 0], "budget", "proportion", styles, drawstyle="steps-post")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"budget κ: {axis} / (dimension + 1)")
    ax.set_ylabel("fraction of (problem, seed) solved")
    ax.set_title(f"data profile, test f − f_opt ≤ {tau:g} (f(x0) − f_opt)", fontsize=10)
    fig.subplots_adjust(wspace=0.3, hspace=0.45)  # fixed spacing: tight_layout costs a full draw
    _legend(fig, styles, table)
    return fig


def sensitivity_plot(results: Any, parameter: str | None = None, styles: Styles | None = None, wrap: int = 3) -> plt.Figure | None:
    """Final gap (median, IQR over finished runs) against the swept step-rule parameter; None if nothing is swept.

    A value at which most runs diverged is drawn as an ``x`` at the top of the axis.
    """
    data, styles = _setup(results, styles)
    table = analysis.lr_sensitivity(data.runs, parameter)
    if table.empty:
        return None
    table = table.assign(step_label=table["step_rule"], solver=table["method_label"] + " + " + table["step_rule"])
    table[["median", "q25", "q75"]] = table[["median", "q25", "q75"]].clip(lower=FLOOR)
    names = sorted(table["problem_label"].unique())
    fig, axes = _facets(len(names), wrap)
    for ax, problem in zip(axes, names):
        frame = table[table["problem_label"] == problem]
        finite = frame[frame["median"].notna()]
        _lines(ax, finite, "value", "median", styles)
        for _, group in finite.groupby("solver"):
            color = styles.colors[group["method_label"].iloc[0]]
            ax.errorbar(group["value"], group["median"], yerr=[group["median"] - group["q25"], group["q75"] - group["median"]],
                        fmt="o", ms=4, color=color, capsize=2, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        diverged = frame[frame["diverged_rate"] >= 0.5]
        if len(diverged):
            top = ax.get_ylim()[1]
            for _, row in diverged.iterrows():
                ax.plot(row["value"], top, marker="x", ms=9, mew=2, color=styles.colors[row["method_label"]], clip_on=False)
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel(f"step-rule parameter {frame['parameter'].iloc[0]}")
        first_column = axes.index(ax) % min(len(names), wrap) == 0
        ax.set_ylabel("final f − f_opt (median, IQR)" if first_column else "")
    fig.text(0.0, -0.02, "x at the top: most runs diverged at that value", fontsize=8, ha="left", va="top")
    fig.subplots_adjust(wspace=0.4, hspace=0.5)  # fixed spacing: tight_layout costs a full draw
    _legend(fig, styles, table)
    return fig


def final_gap_plot(results: Any, kind: str = "box", styles: Styles | None = None, wrap: int = 3) -> plt.Figure:
    """Distribution over seeds of the final ``f - f_opt`` per solver (``kind`` 'box' or 'strip'), one facet per problem.

    Only finished runs (converged or budget) are drawn; failures are in the failures table.
    """
    if kind not in ("box", "strip"):
        raise analysis.ParameterError(f"kind must be 'box' or 'strip', got {kind!r}")
    data, styles = _setup(results, styles)
    runs = data.runs[data.runs["status"].isin(analysis.FINISHED)].copy()
    runs["gap"] = runs["f_gap"].clip(lower=FLOOR)
    names = sorted(data.runs["problem_label"].unique())
    solvers = sorted(data.runs["solver"].unique())
    fig, axes = _facets(len(names), wrap, height=0.35 * len(solvers) + 1.6)
    columns = min(len(names), wrap)
    for index, (ax, problem) in enumerate(zip(axes, names)):
        frame = runs[runs["problem_label"] == problem]
        order = solvers  # the same rows in every facet, so solver labels are given once per row of facets
        if len(frame):
            plot = sns.boxplot if kind == "box" else sns.stripplot
            extra = {"fliersize": 2, "linewidth": 0.8} if kind == "box" else {"size": 3, "jitter": 0.2}
            with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert` to boxplot;
                warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)  # equal gaps: singular xlims
                warnings.filterwarnings("ignore", "Attempting to set identical", UserWarning)
                plot(data=frame, x="gap", y="solver", order=order, hue="method_label", palette=styles.colors,
                     dodge=False, legend=False, log_scale=True, ax=ax, **extra)
            low, high = frame["gap"].min(), frame["gap"].max()
            if low == high:
                ax.set_xlim(low / 10, high * 10)
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel("final f − f_opt (finished runs)")
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=8, labelleft=index % columns == 0)
    # room on the left for the longest solver label (about 0.075 inch a character at 8 pt)
    label_width = 0.075 * max(len(s) for s in solvers) + 0.3
    fig.subplots_adjust(left=min(0.5, label_width / fig.get_figwidth()), right=0.98, wspace=0.12, hspace=0.45)
    return fig


def rank_heatmap(results: Any, column: str = "f_gap_median") -> plt.Figure:
    """Rank of each solver on each problem by median final gap (1 = best; ties averaged; missing ranked last)."""
    data = load_results(results)
    board = analysis.leaderboard(data.runs, data.trace)
    table = analysis.ranks(board, column)
    fig, ax = plt.subplots(figsize=(min(WIDTH, 2.5 + 1.1 * table.shape[1]), 1.2 + 0.38 * table.shape[0]))
    sns.heatmap(table, annot=True, fmt=".3g", cmap="viridis_r", cbar_kws={"label": "rank (1 = best)"}, ax=ax,
                linewidths=0.5, annot_kws={"fontsize": 8})
    ax.set_xlabel("problem")
    ax.set_ylabel("solver")
    ax.set_title(f"rank by {column.replace('_', ' ')}", fontsize=10)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.tick_params(axis="y", labelsize=8)
    fig.subplots_adjust(wspace=0.3, hspace=0.45)  # fixed spacing: tight_layout costs a full draw
    return fig
