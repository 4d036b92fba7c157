"""Base-vs-new curves of the cells a comparison found changed: one panel per cell, both sets' median gap at the iterate.

Each panel draws, for one (problem, solver) cell, the median over seeds of the
gap f - f_opt at the iterate against evaluations (f + gradient calls), base in
grey and new in blue, with their interquartile bands
(:func:`optbench.analysis.convergence`, diverged runs left out as in the report's
convergence figures). The x axis is evaluations, so a change that only costs
more evaluations (same iterates) shows as a shift to the right.
"""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from optbench.report import curves
from optbench.report.layout import canvas

__all__ = ["change_curves", "MAX_PANELS"]

MAX_PANELS = 12
COLOURS = {"base": "#888888", "new": "#1a5fb4"}
DASHES = {"base": "--", "new": "-"}


def _draw(ax, table: pd.DataFrame, name: str) -> None:
    if table.empty:
        return
    table = table.sort_values("x")
    ax.plot(table["x"], table["median"], DASHES[name], color=COLOURS[name], drawstyle="steps-post", lw=1.6)
    ax.fill_between(table["x"], table["q25"], table["q75"], step="post", color=COLOURS[name], alpha=0.15, lw=0)


def change_curves(base: Any, new: Any, changed: Sequence[tuple[str, str]], titles: Sequence[str] = (),
                  axis: str = "evaluations") -> plt.Figure | None:
    """One panel per changed cell (the first ``MAX_PANELS``), base and new median curves; None when nothing changed.

    ``base``, ``new``: prepared ResultSets; ``changed``: (problem_label, solver) cells; ``titles``: one per cell.
    """
    changed = list(changed)[:MAX_PANELS]
    if not changed:
        return None
    tables = {name: curves.convergence(data, axis) for name, data in (("base", base), ("new", new))}
    fig, axes, side = canvas(len(changed), wrap=3, panel=(4.4, 3.2))
    for i, (ax, (problem, solver)) in enumerate(zip(axes, changed)):
        for name, table in tables.items():
            if not table.empty:
                _draw(ax, table[(table["problem_label"] == problem) & (table["solver"] == solver)], name)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_yscale("log")
        title = titles[i] if i < len(titles) else f"{solver} on {problem}"
        ax.set_title("\n".join(textwrap.wrap(title, 48)[:3]), fontsize=9)
        ax.set_xlabel(axis, fontsize=9)
        ax.set_ylabel("f − f_opt at the iterate (median)", fontsize=9)
        ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=COLOURS[n], linestyle=DASHES[n], lw=1.6, label=f"{n} (median, IQR band)")
               for n in ("base", "new")]
    side.legend(handles=handles, loc="upper left", frameon=False, fontsize=9, title="result set", title_fontsize=9)
    return fig
