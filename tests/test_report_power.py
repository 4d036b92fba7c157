"""The seed-count warning: when n seeds cannot give a significant Wilcoxon p at alpha, under Holm, the report says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optbench.report import power


@pytest.mark.parametrize("n", [3, 5, 6, 8, 10])
def test_min_wilcoxon_p_is_scipys_exact_p_of_all_one_sign(n):
    differences = np.arange(1, n + 1, dtype=float)  # every difference positive, distinct sizes
    assert power.min_wilcoxon_p(n) == pytest.approx(stats.wilcoxon(differences, method="exact").pvalue, rel=1e-12)
    # and no sign pattern does better
    mixed = differences * np.where(np.arange(n) == 0, -1, 1)
    assert stats.wilcoxon(mixed, method="exact").pvalue > power.min_wilcoxon_p(n)


def _board(seeds: int, solvers: int) -> pd.DataFrame:
    return pd.DataFrame({"problem_label": "rastrigin(dim=10)", "solver": [f"s{i}" for i in range(solvers)],
                         "n_runs": seeds, "rank": np.arange(1, solvers + 1)})


def test_warning_where_holm_cannot_reach_alpha():
    # 8 seeds: p_min = 2/256 = 0.0078; Holm over 6 comparisons needs 0.0078 < 0.05 / 6 = 0.0083: possible
    assert power.seed_warnings(_board(8, 7)) == []
    # 8 seeds, 7 comparisons: 7 * 0.0078 = 0.055 >= 0.05, nobody can be separated from the best
    [line] = power.seed_warnings(_board(8, 8))
    assert line.startswith("rastrigin(dim=10): 8 seeds cannot separate 8 solvers") and "9 seeds could" in line
    # 5 seeds and two solvers: 2/32 = 0.0625 >= 0.05
    assert len(power.seed_warnings(_board(5, 2))) == 1 and power.seed_warnings(_board(6, 2)) == []
    assert power.seeds_needed(7, 0.05) == 9 and 7 * 2 / 2 ** 9 < 0.05 <= 7 * 2 / 2 ** 8
