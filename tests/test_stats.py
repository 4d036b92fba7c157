"""Significance against independent implementations: scipy's Wilcoxon and Friedman, statsmodels' Holm, Demšar's table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from optbench import analysis, stats
from optbench.errors import ParameterError
def _runs(gaps_by_solver, problem="p", f_opt=0.0, failed=()):
    """One run per (solver, seed) with final gaps; (solver, seed) pairs in ``failed`` diverged."""
    rows = []
    for solver, gaps in gaps_by_solver.items():
        for seed, gap in enumerate(gaps):
            status = "diverged" if (solver, seed) in failed else "budget"
            rows.append({"problem": problem, "dim": 2, "method": solver, "seed": seed, "status": status,
                         "f": f_opt + gap, "f_opt": f_opt, "f_gap": gap, "iterations": 5, "f_evals": 0, "g_evals": 5,
                         "epochs": np.nan, "time": 1.0, "message": ""})
    return pd.DataFrame(rows)


@pytest.fixture
def three_problems():
    rng = np.random.default_rng(7)
    frames = []
    for index, problem in enumerate(("p", "q", "r")):
        base = 10.0 ** rng.uniform(-6, 0, size=20)
        frames.append(_runs({"a": base, "b": base * 10.0 ** rng.normal(0.4 * index, 1.0, size=20),
                             "c": base * 10.0 ** rng.normal(-0.5, 1.0, size=20)}, problem=problem))
    return pd.concat(frames, ignore_index=True)


def test_pairwise_p_values_equal_scipy_wilcoxon_on_log_differences(three_problems):
    table = stats.pairwise(three_problems)
    assert len(table) == 9 and (table["n_pairs"] == 20).all()
    runs = three_problems
    for row in table.itertuples():
        name = row.problem_label.split("(")[0]
        a = runs[(runs["problem"] == name) & (runs["method"] == row.solver_a)].sort_values("seed")["f_gap"].to_numpy()
        b = runs[(runs["problem"] == name) & (runs["method"] == row.solver_b)].sort_values("seed")["f_gap"].to_numpy()
        expected = scipy.stats.wilcoxon(np.log10(np.maximum(a, 1e-12)) - np.log10(np.maximum(b, 1e-12)))
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-12)
        assert row.statistic == pytest.approx(expected.statistic, rel=1e-12)


def test_p_adjusted_equals_statsmodels_holm_per_problem_and_over_the_table(three_problems):
    table = stats.pairwise(three_problems, alpha=0.05)
    for _, block in table.groupby("problem_label"):  # default family: the comparisons of one problem
        reject, adjusted, _, _ = multipletests(block["p_value"], alpha=0.05, method="holm")
        np.testing.assert_allclose(block["p_adjusted"], adjusted, rtol=1e-12)
        assert ((block["better"] != "") == reject).all()
    assert (table["better"] != "").any() and (table["better"] == "").any()  # the data give both outcomes
    whole = stats.pairwise(three_problems, alpha=0.05, family="table")
    reject, adjusted, _, _ = multipletests(whole["p_value"], alpha=0.05, method="holm")
    np.testing.assert_allclose(whole["p_adjusted"], adjusted, rtol=1e-12)
    assert ((whole["better"] != "") == reject).all()
    np.testing.assert_array_equal(whole["p_value"], table["p_value"])


def test_holm_hand_values_and_nan():
    # m = 3 non-NaN: 0.01 * 3 = 0.03; 0.02 * 2 = 0.04; 0.04 * 1 -> max(0.04, 0.04) = 0.04
    np.testing.assert_allclose(stats.holm([0.04, np.nan, 0.01, 0.02]), [0.04, np.nan, 0.03, 0.04])


def test_effect_is_the_matched_pairs_rank_biserial_correlation():
    # differences a - b = -1, -2, +3 -> ranks 1, 2, 3: (1 + 2 - 3) / 6 = 0
    table = stats.pairwise(_runs({"a": [10.0 ** -1, 10.0 ** -2, 10.0 ** 3], "b": [1.0, 1.0, 1.0]}))
    assert table.loc[0, "effect"] == pytest.approx(0.0)
    # a always smaller: W+ = 0, r = 1 and a is the better side once significant (8 pairs: exact p = 2 / 2^8)
    table = stats.pairwise(_runs({"a": [1e-3] * 8, "b": [10.0 ** k for k in range(8)]}))
    assert table.loc[0, "effect"] == 1.0 and table.loc[0, "p_value"] == pytest.approx(2 / 2 ** 8)
    assert table.loc[0, "better"] == "a"


def test_failed_runs_rank_worse_than_any_finished_run_and_tie_with_each_other():
    # b failed on seeds 0-5; a finished everywhere but far worse than b's finished runs
    a = [1e3] * 8
    b = [1e-9, 1e-9, 1e-9, 1e-9, 1e-9, 1e-9, 1e-9, 1e-9]
    table = stats.pairwise(_runs({"a": a, "b": b}, failed={("b", s) for s in range(6)}))
    row = table.iloc[0]
    assert row["n_failed_b"] == 6 and row["n_failed_a"] == 0
    # six pairs favour a (failed b), two favour b: the failures are the larger differences
    assert row["effect"] == pytest.approx((3 + 4 + 5 + 6 + 7 + 8 - 1 - 2) / 36)
    both_failed = stats.pairwise(_runs({"a": [1.0] * 4, "b": [1.0] * 4}, failed={(s, k) for s in "ab" for k in range(4)}))
    assert both_failed.loc[0, "p_value"] == 1.0 and both_failed.loc[0, "better"] == ""


def test_round_off_gaps_are_equal_in_the_tests():
    table = stats.pairwise(_runs({"a": [-4.66e-15, -1.11e-16, 0.0, 5e-13], "b": [0.0, 1e-16, -1e-15, 0.0]}))
    assert table.loc[0, "p_value"] == 1.0 and table.loc[0, "effect"] == 0.0


def test_friedman_equals_scipy_on_the_rank_matrix(three_problems):
    board = analysis.leaderboard(three_problems)
    extra = pd.concat([three_problems, _runs({"d": [1.0] * 20}, problem="p")])  # d ran only p: left out
    result = stats.friedman(analysis.leaderboard(extra))
    assert result.coverage.left_out == ["d (1 of 3 problems)"]
    matrix = board.pivot(index="problem_label", columns="solver", values="rank")
    expected = scipy.stats.friedmanchisquare(*matrix.to_numpy().T)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    pd.testing.assert_series_equal(result.average_ranks.sort_index(), matrix.mean().sort_index(), check_names=False)
    assert result.n_problems == 3 and result.n_solvers == 3


def test_friedman_with_ties_equals_scipy():
    ranks = pd.DataFrame({"problem_label": np.repeat(["p", "q", "r", "s"], 4), "solver": list("abcd") * 4,
                          "rank": [1, 2.5, 2.5, 4, 1, 2, 3, 4, 1.5, 1.5, 3, 4, 2, 1, 3.5, 3.5]})
    result = stats.friedman(ranks)
    expected = scipy.stats.friedmanchisquare(*ranks.pivot(index="problem_label", columns="solver", values="rank").to_numpy().T)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)


@pytest.mark.parametrize("k, q_table", [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (10, 3.164)])
def test_critical_difference_matches_demsars_table_and_the_formula(k, q_table):
    # Demšar (2006), Table 5(a): q_0.05 of the two-tailed Nemenyi test
    n = 12
    assert stats.critical_difference(k, n) == pytest.approx(q_table * np.sqrt(k * (k + 1) / (6 * n)), rel=1e-3)
    q = scipy.stats.studentized_range.ppf(0.95, k, np.inf) / np.sqrt(2)
    assert stats.critical_difference(k, n) == pytest.approx(q * np.sqrt(k * (k + 1) / (6 * n)), rel=1e-12)


def test_cliques_group_solvers_within_the_critical_difference():
    ranks = pd.DataFrame({"problem_label": np.repeat([f"p{i}" for i in range(10)], 3), "solver": list("abc") * 10,
                          "rank": [1, 2, 3] * 10})
    result = stats.friedman(ranks)
    # average ranks 1, 2, 3 and CD = 2.343 * sqrt(12 / 60) = 1.048: a-b and b-c are within it, a-c is not
    assert result.cd == pytest.approx(2.343 * np.sqrt(3 * 4 / 60), rel=1e-3)
    assert result.cliques == [["a", "b"], ["b", "c"]]


def test_marks_and_headlines():
    runs = pd.concat([_runs({"a": [1e-6] * 8, "b": [1e-6 * 1.0001] * 7 + [1e-7], "c": [1.0] * 8}, problem="p"),
                      _runs({"a": [1.0] * 8, "b": [1e-3] * 8, "c": [1e-3] * 8}, problem="q")])
    board = analysis.leaderboard(runs)
    tests = stats.pairwise(runs)
    marked = stats.marks(board, tests).set_index(["problem_label", "solver"])["mark"]
    # p: a best (rank 1); b not significantly worse (7 of 8 pairs, p = 0.078 before correction); c beaten
    assert marked[("p(dim=2)", "a")] == "best" and marked[("p(dim=2)", "b")] == "tied" and marked[("p(dim=2)", "c")] == ""
    # q: b and c tie for best
    assert marked[("q(dim=2)", "b")] == marked[("q(dim=2)", "c")] == "best" and marked[("q(dim=2)", "a")] == ""
    lines = stats.headlines(board, tests, stats.friedman(board))
    assert lines["problems"]["q(dim=2)"].startswith("b and c are best")
    assert lines["overall"].startswith("b is best or tied on 2 of 2 problems; Friedman p = ")


def test_bad_arguments_name_the_choices():
    runs = _runs({"a": [1.0, 2.0], "b": [2.0, 3.0]})
    with pytest.raises(ParameterError, match="unknown metric 'fgap'.*Did you mean 'f_gap'"):
        stats.pairwise(runs, metric="fgap")
    with pytest.raises(ParameterError, match=r"alpha must be a number in \(0, 1\)"):
        stats.pairwise(runs, alpha=5)


def _six_solvers_four_problems():
    # 6 solvers x 4 problems x 10 seeds: each worse solver is 10x worse on every seed (exact Wilcoxon p = 2/2^10).
    rng = np.random.default_rng(0)
    frames = []
    for problem in "pqrs":
        base = 10.0 ** rng.uniform(-6, -3, 10)
        frames.append(_runs({name: base * 10.0**i * (1 + 0.01 * np.arange(10)) for i, name in enumerate("abcdef")},
                            problem=problem))
    return pd.concat(frames)


def test_per_problem_holm_separates_what_table_wide_holm_cannot_and_says_why():
    # Holm over all 60 pairs: smallest threshold 0.05/60 < 2/2^10 = 0.00195, nobody separated; per problem
    # (15 comparisons): 15 * 0.00195 = 0.029 < 0.05, every pair separated.
    runs = _six_solvers_four_problems()
    board = analysis.leaderboard(runs)
    tests = stats.pairwise(runs)
    assert (tests["better"] == "a").all() and tests.attrs["note"] == "" and tests.attrs["unreachable"] == []
    for _, block in tests.groupby("problem_label"):
        assert multipletests(block["p_value"], alpha=0.05, method="holm")[0].all()  # statsmodels, per problem
    marked = stats.marks(board, tests)
    for _, group in marked.groupby("problem_label"):
        assert group.set_index("solver")["mark"].to_dict() == {"a": "best", "b": "", "c": "", "d": "", "e": "", "f": ""}
    whole = stats.pairwise(runs, family="table")
    assert (whole["better"] == "").all() and not multipletests(whole["p_value"], alpha=0.05, method="holm")[0].any()
    assert "the table (60 comparisons, 10 seeds" in whole.attrs["note"] and len(whole.attrs["unreachable"]) == 4
    assert set(stats.marks(board, whole)["mark"]) == {"best", "tied"}  # marks follow the table they are given


@pytest.mark.parametrize("family", ["problem", "table"])
def test_marks_agree_with_pairwise_by_construction(three_problems, family):
    rng = np.random.default_rng(3)
    extra = _runs({"d": 10.0 ** rng.uniform(-6, 0, 20), "e": 10.0 ** rng.uniform(-3, 0, 20)}, problem="p")
    runs = pd.concat([three_problems, extra], ignore_index=True)
    board, tests = analysis.leaderboard(runs), stats.pairwise(runs, family=family)
    for row in stats.marks(board, tests).itertuples():
        if row.mark == "best":
            continue
        best = board[(board["problem_label"] == row.problem_label) & (board["rank"] == board.loc[
            board["problem_label"] == row.problem_label, "rank"].min())]["solver"].iloc[0]
        pair = tests[(tests["problem_label"] == row.problem_label)
                     & (tests[["solver_a", "solver_b"]].isin([best, row.solver]).all(axis=1))].iloc[0]
        best_better = pair["better"] == ("a" if pair["solver_a"] == best else "b")
        assert (row.mark == "") == best_better


@pytest.mark.parametrize("n", [1, 2, 5, 10, 12])
def test_min_p_value_is_scipys_exact_wilcoxon_p_when_all_differences_share_a_sign(n):
    differences = np.arange(1.0, n + 1.0)
    assert stats.min_p_value(n) == pytest.approx(scipy.stats.wilcoxon(differences, method="exact").pvalue, rel=1e-12)
    flipped = differences.copy()
    flipped[0] = -1.0
    assert scipy.stats.wilcoxon(flipped, method="exact").pvalue > stats.min_p_value(n) or n == 1


def test_a_table_that_cannot_reach_significance_says_so():
    runs = _runs({"a": [1e-6] * 4, "b": [1e-3] * 4, "c": [1.0] * 4})  # 4 seeds, 3 comparisons: 3 * 2/2^4 = 0.375
    tests = stats.pairwise(runs)
    assert (tests["p_min"] == 0.125).all() and (tests["better"] == "").all()
    assert tests.attrs["unreachable"] == ["p(dim=2)"]
    assert "p(dim=2) (3 comparisons, 4 seeds: m * 2/2^n = 0.375)" in tests.attrs["note"]
    with pytest.raises(ParameterError, match="unknown family 'tabel'.*Did you mean 'table'"):
        stats.pairwise(runs, family="tabel")


def test_armijo_beats_a_tiny_constant_step_significantly_on_two_problems_with_ten_seeds():
    import optbench as ob

    solvers = [("gd", "armijo"), ("gd", {"name": "constant", "lr": 1e-4}), ("gd", {"name": "constant", "lr": 1e-3}),
               ("adam", {"name": "constant", "lr": 0.01}), ("momentum", {"name": "constant", "lr": 1e-3}),
               ("nesterov", {"name": "constant", "lr": 1e-3})]
    problems = [{"name": "quadratic", "dim": 5}, {"name": "logistic-regression", "n_samples": 60}]
    runs = pd.concat([ob.run(p, m, r, seeds=10, max_iter=100).runs for p in problems for m, r in solvers],
                     ignore_index=True)
    tests = stats.pairwise(runs)
    pair = tests[(tests["solver_a"] == "gd + armijo") & (tests["solver_b"] == "gd + constant(lr=0.0001)")]
    assert len(pair) == 2 and (pair["better"] == "a").all()
    whole = stats.pairwise(runs, family="table")  # 30 comparisons: 30 * 2/2^10 > 0.05
    assert (whole["better"] == "").all() and whole.attrs["note"]
