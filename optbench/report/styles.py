"""One line style per solver, the same in every figure of a report.

Solver ``i`` (in the order given: best-ranked first in a report, sorted names
otherwise) gets

    colour = PALETTE[i mod 10],  dash = DASHES[(i div 10) mod 4],  marker = MARKERS[i mod 7]

so two solvers share colour and dash only when ``i = j (mod 40)``, and then
their markers differ unless ``i = j (mod 280)``: up to 280 solvers, no two lines
share all three. At most ``HIGHLIGHT`` solvers of an axes are drawn in full;
the others are faded (kept in their own style, at low opacity) and the legend
says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from matplotlib.lines import Line2D

from optbench.oracles import ORACLE_MARK

__all__ = ["Style", "Styles", "styles_from_names", "HIGHLIGHT", "PALETTE", "DASHES", "MARKERS"]

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]  # matplotlib's tab10
DASHES: list[Any] = ["solid", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1.5, 2))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
HIGHLIGHT = 8  # solvers drawn in full per axes; the rest are faded
FADED_ALPHA = 0.25


@dataclass(frozen=True)
class Style:
    """How one solver is drawn: colour, dash (a matplotlib linestyle) and marker."""

    color: str
    dash: Any
    marker: str

    def line_kwargs(self, faded: bool = False) -> dict[str, Any]:
        """Keyword arguments of ``Axes.plot`` for this style (markers every few points)."""
        return {"color": self.color, "linestyle": self.dash, "marker": self.marker, "markersize": 5,
                "markevery": 0.1, "lw": 1.0 if faded else 1.8, "alpha": FADED_ALPHA if faded else 1.0}


@dataclass(frozen=True)
class Styles:
    """The styles of every solver of a result set, in rank (or name) order."""

    by_solver: dict[str, Style]
    oracles: frozenset = frozenset()  # solvers whose rule uses the known f_opt: their legend entries say so

    def display(self, solver: str, text: str | None = None) -> str:
        """The legend text of ``solver`` (``text`` if given), marked when it is an oracle rule."""
        text = solver if text is None else text
        return text + ORACLE_MARK if solver in self.oracles else text

    @property
    def order(self) -> list[str]:
        return list(self.by_solver)

    def __getitem__(self, solver: str) -> Style:
        return self.by_solver[solver]

    def shown(self, solvers: Iterable[str]) -> tuple[list[str], list[str]]:
        """Split ``solvers`` into the ``HIGHLIGHT`` best (in style order) drawn in full and the faded rest."""
        present = set(solvers)
        ordered = [s for s in self.order if s in present]
        return ordered[:HIGHLIGHT], ordered[HIGHLIGHT:]

    def handles(self, solvers: Iterable[str]) -> list[Line2D]:
        """Legend handles for ``solvers`` (faded ones drawn faded), in style order."""
        full, faded = self.shown(solvers)
        handles = []
        for solver in full + faded:
            kwargs = self[solver].line_kwargs(faded=solver in faded)
            kwargs.pop("markevery")
            handles.append(Line2D([], [], label=solver, **kwargs))
        return handles


def styles_from_names(solvers: Sequence[str], oracles: Iterable[str] = ()) -> Styles:
    """Styles for ``solvers`` in the order given (see the module docstring for the rule); ``oracles`` are marked."""
    unique = list(dict.fromkeys(solvers))
    return Styles({
        solver: Style(PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)], MARKERS[i % len(MARKERS)])
        for i, solver in enumerate(unique)
    }, frozenset(oracles))
