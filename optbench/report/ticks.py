"""Log-axis tick labels as plain Unicode text ("10⁻⁶", "2×10³") instead of mathtext ("$10^{-6}$").

matplotlib's default log formatter writes each label as mathtext, and laying out
mathtext (a parser per new label and size) was about a sixth of drawing a
report's per-problem figures. The labels are the same ones, at the same places:
``PlainLogFormatter`` asks matplotlib's formatter for each label and rewrites
``10^{e}`` as 10 followed by superscript digits, ``\\times`` as ×.
"""

from __future__ import annotations

import re

from matplotlib.ticker import LogFormatterSciNotation

__all__ = ["PlainLogFormatter", "plain_log_labels"]

_SUPERSCRIPT = str.maketrans("0123456789-−+.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻⁺·")
_POWER = re.compile(r"\^\{([^}]*)\}")


def _plain(label: str) -> str:
    """``$\\mathdefault{2\\times10^{-3}}$`` -> ``2×10⁻³``; a label without ``$`` is returned as is."""
    if not label.startswith("$"):
        return label
    text = label.strip("$").replace(r"\mathdefault", "").replace(r"\times", "×").replace(r"\,", "")
    text = _POWER.sub(lambda match: match.group(1).translate(_SUPERSCRIPT), text)
    return text.replace("{", "").replace("}", "").replace("-", "−")


class PlainLogFormatter(LogFormatterSciNotation):
    """matplotlib's log (and symlog) tick labels, as plain text: see the module docstring."""

    def __call__(self, x, pos=None) -> str:
        return _plain(super().__call__(x, pos))


def plain_log_labels(ax, which: str = "xy") -> None:
    """Plain-text labels on the log or symlog axes of ``ax`` among ``which`` ("x", "y" or "xy"); call after set_*scale."""
    for name in which:
        axis = ax.xaxis if name == "x" else ax.yaxis
        if axis.get_scale() not in ("log", "symlog"):
            continue
        base = axis._scale.base if hasattr(axis._scale, "base") else 10.0
        linthresh = getattr(axis._scale, "linthresh", None)
        axis.set_major_formatter(PlainLogFormatter(base=base, linthresh=linthresh))
        axis.set_minor_formatter(PlainLogFormatter(base=base, labelOnlyBase=False, linthresh=linthresh))
