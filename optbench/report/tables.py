"""HTML tables of the report: sortable by any column, filterable by problem, method and step rule, downloadable as CSV.

Each table is a ``<div class="table-block">`` holding a tool bar (filter boxes,
a row count and a CSV link whose ``href`` is a ``data:text/csv;base64`` URI of
the very table shown) and the table in a scroller at most 75 % of the window
tall, with a sticky header. Cells carry their sort key in ``data-v`` (numbers as
JavaScript reads them: ``NaN``, ``Infinity``); rows carry ``data-problem``,
``data-method``, ``data-step`` for the filters. The behaviour is the inline
script of :mod:`optbench.report.page`.
"""

from __future__ import annotations

import base64
import html
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["html_table", "number"]

FILTERS = {"problem": "problem_label", "method": "method_label", "step": "step_label"}


def number(value: Any) -> str:
    """A cell's text: 3 significant digits for floats, – for NaN, ∞ for inf, as is otherwise."""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "–"
        if np.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.3g}"
    if value is None or value is pd.NA:
        return "–"
    return html.escape(str(value))


def _sort_key(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return ""
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = float(value)
        return "NaN" if np.isnan(value) else ("Infinity" if value == np.inf else "-Infinity" if value == -np.inf else repr(value))
    return ""


def _cell(value: Any, css: str = "") -> str:
    key = _sort_key(value)
    attributes = f' data-v="{key}"' if key else ' class="text"'
    if css:
        attributes += f' style="{css}"'
    return f"<td{attributes}>{number(value)}</td>"


def _csv_link(frame: pd.DataFrame, name: str) -> str:
    data = base64.b64encode(frame.to_csv(index=False).encode("utf-8")).decode("ascii")
    return f'<a class="csv" download="{html.escape(name)}.csv" href="data:text/csv;base64,{data}">CSV</a>'


def html_table(frame: pd.DataFrame, name: str, css_class: str = "", filters: pd.DataFrame | None = None,
               cell_styles: pd.DataFrame | None = None, headers: dict[str, str] | None = None) -> str:
    """``frame`` as a sortable table; ``filters`` (same index) holds problem_label/method_label/step_label for the filter boxes.

    ``cell_styles``: an optional frame of inline CSS strings aligned with ``frame``.
    ``headers``: display names of columns (the CSV keeps the column names).
    """
    if frame.empty:
        return "<p>None.</p>"
    frame = frame.reset_index(drop=True)
    head = "".join(f"<th title=\"sort by {html.escape(str(c))}\">{html.escape((headers or {}).get(c, str(c)))}</th>"
                   for c in frame.columns)
    present = [key for key, column in FILTERS.items() if filters is not None and column in filters]
    rows = []
    values = frame.to_numpy(dtype=object)
    styles = cell_styles.reset_index(drop=True).to_numpy(dtype=object) if cell_styles is not None else None
    for i, row in enumerate(values):
        data = "".join(f' data-{key}="{html.escape(str(filters[FILTERS[key]].iloc[i]))}"' for key in present)
        cells = "".join(_cell(v, styles[i, j] if styles is not None else "") for j, v in enumerate(row))
        rows.append(f"<tr{data}>{cells}</tr>")
    boxes = "".join(f'<input type="search" data-filter="{key}" placeholder="filter {key}" aria-label="filter {key}">'
                    for key in present)
    tools = f'<div class="table-tools">{boxes}<span class="count"></span>{_csv_link(frame, name)}</div>'
    table = (f'<table class="sortable {css_class}"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    return f'<div class="table-block" id="table-{html.escape(name)}">{tools}<div class="table-scroll">{table}</div></div>'


def labelled(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The filter columns of ``frame`` (those of ``FILTERS`` it has)."""
    return frame[[c for c in columns if c in frame]]
