"""What the report's figures draw, computed from a prepared result set (no plotting state here except panels).

- ``convergence``: :func:`optbench.analysis.convergence` over runs that did not
  diverge, each solver's curve cut at the largest axis value its runs reached;
  the gap at the iterate (not the best so far), so that a curve ends at the
  median final gap the leaderboard ranks.
- ``divergence_points``: for each diverged run, its last recorded axis value and
  its best-so-far gap there.
- ``trace_bands``: median and quartiles over seeds of a trace column
  (step size, gradient norm, accuracy) at each recorded iteration.
- ``solver_order``: solvers by mean rank over problems (rank 1 = smallest
  median final gap among finished runs; a solver without finished runs ranks
  last), ties by name.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection

from optbench import analysis, schema
from optbench.report.data import ResultSet
from optbench.report.styles import Styles

__all__ = ["FLOOR", "convergence", "divergence_points", "trace_bands", "solver_order", "log_axes", "final_gap_panel"]

FLOOR = 1e-16


def solver_order(data: ResultSet, board: pd.DataFrame | None = None) -> list[str]:
    """Solvers best first: by the mean over problems of the leaderboard ``rank`` (or of the median-gap rank)."""
    if board is None:
        finished = data.runs[data.runs["status"].isin(schema.FINISHED_STATUSES)]
        board = finished.groupby(["problem_label", "solver"])["f_gap"].median().rename("f_gap_median").reset_index()
        everyone = data.runs[["problem_label", "solver"]].drop_duplicates()
        board = everyone.merge(board, how="left", on=["problem_label", "solver"])
    if "rank" in board:
        rank = board["rank"]
    else:
        rank = board.groupby("problem_label")["f_gap_median"].rank(method="average", na_option="bottom")
    mean = board.assign(_rank=rank).groupby("solver")["_rank"].mean()
    ordered = sorted(mean.index, key=lambda s: (mean[s], s))
    missing = sorted(set(data.runs["solver"].unique()) - set(ordered))
    return ordered + missing


def _healthy(data: ResultSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = data.runs[data.runs["status"] != "diverged"]
    trace = data.trace[data.trace["run"].isin(runs["run"].to_numpy())]
    return runs, trace


def convergence(data: ResultSet, axis: str) -> pd.DataFrame:
    """Median gap at the iterate per solver on a common grid, non-diverged runs only, cut where the runs stopped."""
    runs, trace = _healthy(data)
    finite = trace[np.isfinite(trace["f_gap"].to_numpy(dtype=float))]
    table = analysis.convergence(runs, finite, axis=axis, floor=FLOOR, running_best=False)
    if table.empty:
        return table
    reach = finite.groupby(["problem_label", "solver"])[axis].max().rename("_reach")
    table = table.join(reach, on=["problem_label", "solver"])
    return table[table["x"] <= table["_reach"]].drop(columns="_reach").reset_index(drop=True)


def divergence_points(data: ResultSet, axis: str) -> pd.DataFrame:
    """One row per diverged run with a finite record: ``problem_label, solver, x`` (last finite axis value), ``gap``."""
    diverged = data.runs.loc[data.runs["status"] == "diverged", "run"].to_numpy()
    rows = data.trace[data.trace["run"].isin(diverged)]
    gap = rows["f_gap"].to_numpy(dtype=float)
    rows = rows[np.isfinite(gap) & np.isfinite(rows[axis].to_numpy(dtype=float))]
    if rows.empty:
        return pd.DataFrame(columns=["problem_label", "solver", "x", "gap"])
    grouped = rows.groupby("run")
    out = grouped.agg(problem_label=("problem_label", "first"), solver=("solver", "first"), x=(axis, "max"),
                      gap=("f_gap", "min"))
    out["gap"] = out["gap"].clip(lower=FLOOR)
    return out.reset_index(drop=True)


def trace_bands(data: ResultSet, column: str) -> pd.DataFrame:
    """Median, q25, q75 and count over seeds of ``column`` per (problem, solver, iteration), finite values only."""
    columns = ["problem_label", "solver", "iteration", "median", "q25", "q75", "n"]
    if column not in data.trace:
        return pd.DataFrame(columns=columns)
    values = data.trace[column].to_numpy(dtype=float)
    rows = data.trace.loc[np.isfinite(values), ["problem_label", "solver", "iteration", column]]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    grouped = rows.groupby(["problem_label", "solver", "iteration"])[column]
    table = grouped.quantile([0.5, 0.25, 0.75]).unstack()
    table.columns = ["median", "q25", "q75"]
    table["n"] = grouped.size()
    return table.reset_index()


def log_axes(ax, x: np.ndarray, ylog: bool = True) -> None:
    """Log x (symlog with a linear part below 1 when x reaches 0) and, if ``ylog``, log y."""
    x = np.asarray(x, dtype=float)
    if x.size and (x <= 0).any():
        ax.set_xscale("symlog", linthresh=1.0)
    elif x.size:
        ax.set_xscale("log")
    if ylog and ax.has_data():
        ax.set_yscale("log")


def _boxes(ax, rows: list[tuple[float, np.ndarray, str]]) -> None:
    """Horizontal boxes, one per ``(y, values, colour)``: quartiles (box), median (thick tick), min to max (whiskers).

    Three artists for all rows (whiskers, boxes, medians), not four per row: a panel of 20 solvers draws fast.
    """
    if not rows:
        return
    whiskers, boxes, medians, colours = [], [], [], []
    for y, values, colour in rows:
        q25, q50, q75 = np.percentile(values, [25, 50, 75])
        whiskers += [[(values.min(), y), (q25, y)], [(q75, y), (values.max(), y)]]
        boxes.append([(q25, y - 0.3), (q75, y - 0.3), (q75, y + 0.3), (q25, y + 0.3)])
        medians.append([(q50, y - 0.32), (q50, y + 0.32)])
        colours.append(colour)
    ax.add_collection(PolyCollection(boxes, facecolors=colours, edgecolors=colours, linewidths=1.2, alpha=0.35, zorder=1))
    ax.add_collection(LineCollection(whiskers, colors=[c for c in colours for _ in (0, 1)], linewidths=1.2, zorder=2,
                                     capstyle="projecting"))  # as Line2D ends
    ax.add_collection(LineCollection(medians, colors="black", linewidths=2.2, zorder=2, capstyle="projecting"))
    ax.autoscale_view()


def final_gap_panel(ax, runs: pd.DataFrame, order: Sequence[str], styles: Styles, kind: str = "box") -> None:
    """Final gaps of finished runs per solver, one row each, labelled with ``n = finished / all``."""
    labels, drawn, boxes, strips = [], [], [], []
    rng = np.random.default_rng(0)
    for y, solver in enumerate(order):
        mine = runs[runs["solver"] == solver]
        finished = mine[mine["status"].isin(schema.FINISHED_STATUSES)]
        gaps = np.maximum(finished["f_gap"].to_numpy(dtype=float), FLOOR)
        gaps = gaps[np.isfinite(gaps)]
        counts = mine["status"].value_counts()
        lost = ", ".join(f"{counts[s]} {s}" for s in ("diverged", "error", "timeout") if counts.get(s, 0))
        labels.append(f"{solver}  n={gaps.size}/{len(mine)}" + (f" ({lost})" if lost else ""))
        if gaps.size and kind == "box":
            boxes.append((y, gaps, styles[solver].color))
        if gaps.size and (kind == "strip" or gaps.size < 5):
            strips.append((gaps, y + rng.uniform(-0.2, 0.2, gaps.size), solver))
        drawn.extend(gaps)
    _boxes(ax, boxes)
    for x, y, solver in strips:
        ax.plot(x, y, ls="none", marker=styles[solver].marker, ms=4, color=styles[solver].color, alpha=0.8)
    ax.set_yticks(range(len(order)), labels, fontsize=9)
    ax.set_ylim(len(order) - 0.5, -0.5)
    if drawn:
        ax.set_xscale("log")
        low, high = min(drawn), max(drawn)
        if low == high:
            ax.set_xlim(low / 10, high * 10)
    else:
        ax.text(0.5, 0.5, "no finished run to draw", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("final f − f_opt")
    ax.grid(axis="x", alpha=0.3)
