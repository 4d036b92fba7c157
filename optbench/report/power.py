"""Whether the seeds of a study can show a significant difference at all.

With ``n`` paired seeds, the exact two-sided Wilcoxon signed-rank test gives its
smallest p-value when every difference has the same sign: ``p_min = 2 / 2^n``
(one of the 2^n equally likely sign patterns under the null, each tail).
The report's marks test the best solver of a problem against each of the other
``m = k - 1`` solvers with Holm's correction, whose first step rejects only when
``p <= alpha / m``. So when ``m * p_min >= alpha`` no solver can be separated
from the best, whatever the data: every one is "tied", and the report says so.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["min_wilcoxon_p", "seeds_needed", "seed_warnings"]


def min_wilcoxon_p(n: int) -> float:
    """Smallest exact two-sided Wilcoxon signed-rank p-value with ``n`` non-zero paired differences: ``2 / 2^n``."""
    return min(1.0, 2.0 / 2.0 ** n) if n > 0 else 1.0


def seeds_needed(comparisons: int, alpha: float) -> int:
    """The fewest seeds n with ``comparisons * 2 / 2^n < alpha``."""
    n = 1
    while comparisons * min_wilcoxon_p(n) >= alpha:
        n += 1
    return n


def seed_warnings(board: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """One sentence per problem of a leaderboard whose seed count cannot give a significant difference at ``alpha``.

    ``n``: the smallest number of runs of a solver on the problem; ``m``: its solvers - 1.
    """
    lines = []
    for problem, group in board.groupby("problem_label", sort=True):
        m, n = len(group) - 1, int(group["n_runs"].min())
        if m >= 1 and m * min_wilcoxon_p(n) >= alpha:
            lines.append(f"{problem}: {n} seeds cannot separate {m + 1} solvers at α = {alpha:g} (the smallest Wilcoxon "
                         f"p with {n} seeds is 2/2^{n} = {min_wilcoxon_p(n):.3g}, times {m} comparisons under Holm); every "
                         f"solver shows as tied with the best; {seeds_needed(m, alpha)} seeds could separate them.")
    return lines
