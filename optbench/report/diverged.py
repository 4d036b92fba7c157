"""Diverged runs in the figures: left out of the medians and the axis limits, marked where they diverged.

- :func:`healthy`: the result set without its diverged runs (their iterates
  blow up; a gradient norm of 1e36 would otherwise set the y axis of a panel).
- :func:`mark_at_top`: one ``X`` per (solver, last recorded x) at the top edge of
  a panel, in axes coordinates so the y limits stay those of the finished runs;
  solvers are stacked downwards so that markers at one x do not hide each other,
  and ``×n`` says how many runs share a marker.
- :func:`mark_grouped`: the same grouping at data coordinates (convergence
  curves put a diverged run at its last best-so-far gap, inside the axes).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.transforms import blended_transform_factory

from optbench.report.data import ResultSet
from optbench.report.styles import Styles

__all__ = ["healthy", "mark_at_top", "mark_grouped"]

STACK = 6  # marker rows below the top edge before they wrap
MARKER = {"marker": "X", "ms": 8, "mec": "black", "mew": 0.7, "ls": "none", "zorder": 5}


def healthy(data: ResultSet) -> ResultSet:
    """``data`` without its diverged runs (trace rows too); run ids are kept (figures select by id)."""
    runs = data.runs[data.runs["status"] != "diverged"]
    trace = data.trace[data.trace["run"].isin(runs["run"].to_numpy())]
    return ResultSet(runs, trace, data.provenance, data.source)


def _groups(points: pd.DataFrame, columns: list[str]):
    order = {solver: i for i, solver in enumerate(dict.fromkeys(points["solver"]))}
    for key, group in points.groupby(columns, sort=True):
        yield key, len(group), order[key[0]]


def mark_at_top(ax, points: pd.DataFrame, styles: Styles) -> None:
    """``points`` (``solver``, ``x``): an X per (solver, x) at the top edge of ``ax``, not changing its y limits."""
    if points.empty:
        return
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    for (solver, x), count, index in _groups(points, ["solver", "x"]):
        y = 0.97 - 0.05 * (index % STACK)
        ax.plot([x], [y], transform=transform, color=styles[solver].color, clip_on=False, **MARKER)
        if count > 1:
            ax.text(x, y, f"  ×{count}", transform=transform, fontsize=7, va="center")


def mark_grouped(ax, points: pd.DataFrame, styles: Styles) -> None:
    """``points`` (``solver``, ``x``, ``gap``): an X per distinct (solver, x, gap), ``×n`` for n runs."""
    for (solver, x, gap), count, _ in _groups(points, ["solver", "x", "gap"]) if not points.empty else ():
        ax.plot([x], [gap], color=styles[solver].color, **MARKER)
        if count > 1:
            ax.text(x, gap, f"  ×{count}", fontsize=7, va="center")
