"""Figure canvases with a legend panel of their own, so that legends never cover data and are always saved.

A canvas is ``n`` plot panels in rows of ``wrap`` plus, on the right, one axes
spanning all rows that holds only the legend. Margins fixed in inches keep
labels apart (fonts have fixed sizes, so no layout engine and its extra draw is
needed); the figure grows taller when the legend needs it, so a saved figure
(``savefig`` with or without ``bbox_inches``) contains every legend entry.
"""

from __future__ import annotations

import textwrap
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from optbench.report.styles import Styles

__all__ = ["canvas", "legend_panel", "LEGEND_WIDTH"]

LEGEND_WIDTH = 4.4  # inches: the panel gap, a handle and about 38 characters at 9 pt
ENTRY_HEIGHT = 0.21  # inches per legend line at 9 pt


# titles at the top edge of their panel (plus the pad), not moved above top-side decorations there are none of:
# matplotlib's automatic placement measures every tick label again at each draw (a quarter of a figure's drawing time)
FIXED_TITLES = {"axes.titley": 1.0}
MARGINS = {"left": 0.95, "right": 0.15, "bottom": 0.65, "top": 0.4, "wspace": 1.0, "hspace": 0.95}  # inches


def _place(fig: plt.Figure, grid, columns: int, rows: int, legend: bool) -> None:
    """Fixed margins in inches (labels have fixed font sizes), converted to fractions of the current figure size."""
    width, height = fig.get_figwidth(), fig.get_figheight()
    panel_w = (width - MARGINS["left"] - MARGINS["right"] - (LEGEND_WIDTH if legend else 0) - MARGINS["wspace"] * (columns - 1)) / columns
    panel_h = (height - MARGINS["bottom"] - MARGINS["top"] - MARGINS["hspace"] * (rows - 1)) / rows
    grid.update(left=MARGINS["left"] / width, right=1 - MARGINS["right"] / width,
                bottom=MARGINS["bottom"] / height, top=1 - MARGINS["top"] / height,
                wspace=MARGINS["wspace"] / max(panel_w, 0.5), hspace=MARGINS["hspace"] / max(panel_h, 0.5))


def canvas(n: int, wrap: int = 3, panel: tuple[float, float] = (4.4, 3.4), legend: bool = True,
           layout: str | None = "fixed") -> tuple[plt.Figure, list, plt.Axes | None]:
    """A figure with ``n`` panels of about ``panel`` inches in rows of ``wrap``, and a legend axes on the right.

    ``layout="fixed"``: margins of ``MARGINS`` inches (one draw; constrained layout costs two);
    ``None``: no layout, for a caller that sets margins with ``subplots_adjust``.
    """
    columns = max(1, min(n, wrap))
    rows = -(-n // columns)
    width = columns * panel[0] + (LEGEND_WIDTH if legend else 0.0)
    fig = plt.figure(figsize=(width, rows * panel[1]), layout=None if layout == "fixed" else layout)
    grid = fig.add_gridspec(rows, columns + int(legend),
                            width_ratios=[panel[0]] * columns + ([LEGEND_WIDTH - MARGINS["wspace"]] if legend else []))
    if layout == "fixed":
        _place(fig, grid, columns, rows, legend)
        fig._optbench_place = lambda: _place(fig, grid, columns, rows, legend)  # again after the legend grows the figure
    with plt.rc_context(FIXED_TITLES):
        axes = [fig.add_subplot(grid[i // columns, i % columns]) for i in range(n)]
        side = fig.add_subplot(grid[:, columns]) if legend else None
    if side is not None:
        side.axis("off")
    return fig, axes, side


def _wrap(label: str, width: int = 38) -> str:
    return "\n".join(textwrap.wrap(label, width, break_long_words=True, subsequent_indent="  ")) or label


def legend_panel(side: plt.Axes, styles: Styles, solvers: Iterable[str], notes: Sequence[str | Line2D],
                 labels: dict[str, str] | None = None) -> None:
    """The solvers' legend (full ones, then faded ones) and ``notes`` (text, or ready handles), in the legend axes."""
    solvers = list(solvers)
    handles = styles.handles(solvers)
    full, faded = styles.shown(solvers)
    for handle in handles:
        solver = handle.get_label()
        handle.set_label(_wrap(styles.display(solver, (labels or {}).get(solver, solver))))
    title = "solver" if not faded else f"solver ({len(full)} best in full, {len(faded)} faded)"
    extra = [note if isinstance(note, Line2D) else Line2D([], [], color="none", label=_wrap(note)) for note in notes if note]
    if not handles and not extra:
        side.text(0, 1, "nothing to draw", va="top", fontsize=9)
        return
    legend = side.legend(handles=handles + extra, loc="upper left", bbox_to_anchor=(0.0, 1.0), frameon=False,
                         fontsize=9, title=title, title_fontsize=9, alignment="left", borderaxespad=0.0)
    lines = sum(h.get_label().count("\n") + 1 for h in handles + extra) + 2
    needed = ENTRY_HEIGHT * lines + 0.4
    fig = side.figure
    if fig.get_figheight() < needed:
        fig.set_figheight(needed)
        if hasattr(fig, "_optbench_place"):
            fig._optbench_place()
    legend.set_in_layout(True)
