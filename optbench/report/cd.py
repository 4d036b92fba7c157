"""Critical-difference diagram (Demšar 2006) of a Friedman test over problems.

The axis holds the average ranks (1 = best, at the left); each solver is a tick
at its average rank with its name, the better half on the left, the rest on the
right; a thick bar joins each clique of solvers whose average ranks differ by
less than the Nemenyi critical difference CD (not significantly different);
the CD itself is drawn as an interval above the axis.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["cd_diagram"]


def cd_diagram(result: Any) -> plt.Figure:
    """The diagram of a :class:`optbench.stats.FriedmanResult` (average ranks, cliques, CD)."""
    average = result.average_ranks
    k = len(average)
    half = (k + 1) // 2
    height = 1.4 + 0.28 * max(half, k - half) + 0.18 * len(result.cliques)
    label = 0.07 * max((len(s) for s in average.index), default=10)
    fig, ax = plt.subplots(figsize=(4.5 + 2 * label + 0.3 * k, height), layout="constrained")
    ax.set_xlim(1 - 0.1, k + 0.1)
    ax.set_ylim(-height, 1.35)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black", lw=1.2)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.12, color="black", lw=1)
        ax.text(r, 0.2, str(r), ha="center", va="bottom", fontsize=9)
    if np.isfinite(result.cd):
        ax.hlines(0.85, 1, 1 + result.cd, color="black", lw=1.5)
        ax.vlines([1, 1 + result.cd], 0.77, 0.93, color="black", lw=1.5)
        ax.text(1 + result.cd / 2, 0.97, f"CD = {result.cd:.2f}", ha="center", va="bottom", fontsize=9)
    base = -0.3 - 0.18 * len(result.cliques)
    for i, (solver, rank) in enumerate(average.items()):
        left = i < half
        row = i if left else k - 1 - i
        y = base - 0.28 * row
        end = 1 - 0.05 if left else k + 0.05
        ax.plot([rank, rank, end], [0, y, y], color="0.3", lw=0.9)
        ax.text(end - 0.05 if left else end + 0.05, y, f"{solver} ({rank:.2f})", ha="right" if left else "left",
                va="center", fontsize=9, clip_on=False)
    for j, clique in enumerate(result.cliques):
        ranks = average[clique]
        ax.hlines(-0.15 - 0.18 * j, ranks.min() - 0.03, ranks.max() + 0.03, color="black", lw=3.5)
    p = "undefined" if np.isnan(result.p_value) else f"{result.p_value:.3g}"
    ax.set_title(f"average ranks over {result.n_problems} problems; Friedman p = {p}; bars: not significantly "
                 f"different (Nemenyi, α = {result.alpha:g})", fontsize=10)
    return fig
