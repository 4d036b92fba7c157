"""Analysis numbers against hand-computed values on small hand-made tables, and closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench import analysis
from optbench.errors import ParameterError
def _tables(spec, problem="p", dim=2, f_opt=0.0):
    """runs, trace from {(solver, seed): dict(status, rows=[(evaluations, f_gap)], spent)} (rows at iterations 0..)."""
    runs, trace = [], []
    for (solver, seed), run in spec.items():
        lr = float(solver)
        keys = {"problem": problem, "dim": dim, "method": "gd", "step_rule": "constant", "step_params": f'{{"lr":{lr}}}', "seed": seed}
        rows = run.get("rows", [])
        for iteration, (evals, gap) in enumerate(rows):
            trace.append({**keys, "iteration": iteration, "f_evals": 0, "g_evals": evals, "epochs": np.nan,
                          "time": 0.1 * evals, "f": gap + (0.0 if np.isnan(f_opt) else f_opt), "f_gap": gap if not np.isnan(f_opt) else np.nan})
        final = rows[-1][1] if rows and run["status"] not in ("error",) else np.nan
        runs.append({**keys, "status": run["status"], "f": final + (0.0 if np.isnan(f_opt) else f_opt), "f_opt": f_opt,
                     "f_gap": final if not np.isnan(f_opt) else np.nan, "iterations": max(len(rows) - 1, 0),
                     "f_evals": run.get("f_evals", 0), "g_evals": run.get("g_evals", rows[-1][0] if rows else 0),
                     "epochs": np.nan, "time": 1.0, "message": run.get("message", "")})
    return pd.DataFrame(runs), pd.DataFrame(trace)


@pytest.fixture
def ert_tables():
    spec = {
        ("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (2, 1.0), (3, 0.05), (4, 0.001)]},
        # line-search trials: 6 value-only evaluations on top of 3 gradient calls
        ("0.1", 1): {"status": "budget", "rows": [(1, 10.0), (2, 5.0), (3, 2.0)], "f_evals": 6},
        ("0.1", 2): {"status": "error", "rows": [], "g_evals": 2, "message": "ValueError: boom"},
    }
    return _tables(spec)


def test_ert_with_failures_matches_hand_computation(ert_tables):
    runs, trace = ert_tables
    table = analysis.ert(runs, trace, [10.0, 1.0, 0.1, 1e-5]).set_index("target")
    # target 10: seeds 0, 1 hit at 1 evaluation; the errored run spent 2 -> (1 + 1 + 2) / 2
    assert table.loc[10.0, "ert"] == pytest.approx(2.0)
    # target 1: seed 0 at 2; seed 1 missed after 3 + 6 = 9; errored 2 -> 13 / 1
    assert table.loc[1.0, "ert"] == pytest.approx(13.0)
    assert table.loc[0.1, "ert"] == pytest.approx(14.0)
    assert table.loc[1e-5, "ert"] == np.inf
    assert table.loc[1.0, "success_rate"] == pytest.approx(1 / 3)


def test_leaderboard_hand_values(ert_tables):
    runs, trace = ert_tables
    board = analysis.leaderboard(runs, trace, targets=(1.0, 1e-2, 1e-5), target=0.1)
    assert len(board) == 1
    row = board.iloc[0]
    assert row["n_runs"] == 3
    assert row["f_gap_median"] == pytest.approx((0.001 + 2.0) / 2)  # finished runs only: the error is left out
    assert row["f_gap_q25"] == pytest.approx(0.001 + 0.25 * (2.0 - 0.001))
    assert row["success@1e+0"] == pytest.approx(1 / 3)
    assert row["success@1e-2"] == pytest.approx(1 / 3)
    assert row["success@1e-5"] == 0.0
    assert row["error_rate"] == pytest.approx(1 / 3)
    assert row["diverged_rate"] == 0.0
    assert row["iterations_to_target"] == 2
    assert row["evaluations_to_target"] == 3
    assert row["time_to_target"] == pytest.approx(0.3)
    assert row["ert"] == pytest.approx(14.0)
    assert row["f_best"] == pytest.approx(0.001)


def test_best_so_far_counts_a_target_hit_before_the_run_goes_back_up():
    runs, trace = _tables({("0.1", 0): {"status": "diverged", "rows": [(1, 10.0), (2, 0.5), (3, 40.0), (4, 1e13)]}})
    hits = analysis.first_hits(runs, trace, [1.0, 0.1]).set_index("target")
    assert hits.loc[1.0, "hit"] and hits.loc[1.0, "evaluations"] == 2 and hits.loc[1.0, "iterations"] == 1
    assert not hits.loc[0.1, "hit"] and hits.loc[0.1, "evaluations"] == np.inf
    board = analysis.leaderboard(runs, trace, targets=(1.0,), target=1.0)
    assert np.isnan(board.loc[0, "f_gap_median"])  # a diverged run does not enter the median
    assert board.loc[0, "diverged_rate"] == 1.0


def test_default_targets_is_cocos_ladder():
    ladder = analysis.default_targets()
    np.testing.assert_allclose(ladder, 10 ** np.arange(2, -8.2, -0.2), rtol=1e-12)
    assert len(ladder) == 51


def test_unknown_f_opt_is_estimated_by_the_best_value_and_flagged():
    runs, trace = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 5.0), (2, -3.0)]},
                           ("0.2", 0): {"status": "budget", "rows": [(1, 5.0), (2, 1.0)]},
                           ("0.3", 0): {"status": "diverged", "rows": [(1, 5.0), (2, -1e20)]}}, f_opt=np.nan)
    runs_p, trace_p = analysis.prepare(runs, trace)
    assert runs_p["f_opt_estimated"].all() and trace_p["f_opt_estimated"].all()
    # the diverged run's -1e20 does not stand in for f_opt; the best healthy value, -3, does
    np.testing.assert_allclose(runs_p["f_opt_used"], -3.0)
    np.testing.assert_allclose(runs_p["f_gap"].iloc[:2], [0.0, 4.0])
    assert analysis.estimated_problems(runs_p) == ["p(dim=2)"]
    assert analysis.leaderboard(runs, trace)["f_opt_estimated"].all()


def _profile_tables():
    # Moré-Wild test with tau = 0.1 relative to the first gap 10: gap <= 1.
    spec = {
        ("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (10, 0.9)]},   # A: cost 10
        ("0.2", 0): {"status": "budget", "rows": [(1, 10.0), (20, 0.5)]},   # B: cost 20
        ("0.1", 1): {"status": "budget", "rows": [(1, 10.0), (50, 2.0)]},   # A: never
        ("0.2", 1): {"status": "budget", "rows": [(1, 10.0), (5, 1.0)]},    # B: cost 5
    }
    return _tables(spec, dim=1)


def test_performance_profile_and_score_hand_values():
    runs, trace = _profile_tables()
    costs = analysis.solve_costs(runs, trace, tau=0.1)
    assert sorted(costs["cost"]) == [5.0, 10.0, 20.0, np.inf]
    profile = analysis.performance_profile(runs, trace, tau=0.1)
    a = profile[profile["solver"].str.contains("0.1")].set_index("ratio")["proportion"]
    b = profile[profile["solver"].str.contains("0.2")].set_index("ratio")["proportion"]
    # A: ratios [1, inf] -> 0.5 everywhere; B: ratios [2, 1] -> 0.5 below 2, 1 from 2
    assert (a == 0.5).all()
    assert b[b.index < 2].eq(0.5).all() and b[b.index >= 2].eq(1.0).all()
    scores = analysis.performance_score(runs, trace, tau=0.1).set_index("solver")["score"]
    assert scores.filter(like="0.1").iloc[0] == pytest.approx(3 / 6)
    assert scores.filter(like="0.2").iloc[0] == pytest.approx((2 + 3) / 6)


def test_data_profile_hand_values():
    runs, trace = _profile_tables()
    profile = analysis.data_profile(runs, trace, tau=0.1)  # budget = cost / (dim + 1) = cost / 2
    b = profile[profile["solver"].str.contains("0.2")]
    at = lambda frame, kappa: frame.loc[frame["budget"] <= kappa, "proportion"].iloc[-1]  # noqa: E731
    assert at(b, 2.4) == 0.0 and at(b, 2.6) == 0.5 and at(b, 9.9) == 0.5 and at(b, 10.1) == 1.0
    a = profile[profile["solver"].str.contains("0.1")]
    assert at(a, 4.9) == 0.0 and at(a, 5.1) == 0.5 and a["proportion"].max() == 0.5


def test_runtime_ecdf_hand_values_and_bootstrap_band():
    # one solver, problem p: two runs; problem q: one run. Targets 1 and 0.1, dim 2.
    runs_p, trace_p = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (2, 0.5), (4, 0.05)]},
                               ("0.1", 1): {"status": "budget", "rows": [(1, 10.0), (6, 0.5), (8, 0.4)]}})
    runs_q, trace_q = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (8, 0.01)]}}, problem="q")
    runs, trace = pd.concat([runs_p, runs_q]), pd.concat([trace_p, trace_q])
    table = analysis.runtime_ecdf(runs, trace, targets=[1.0, 0.1], bootstrap=300, seed=1)
    at = lambda x: table.loc[table["x"] <= x].iloc[-1]  # noqa: E731
    # x = evaluations / 2. Problems weigh equally: p averages its two runs, q has one.
    # x = 1.5 (3 evals): p run0 hit 1 of 2 targets, run1 none -> p = 0.25; q none -> 0.125
    assert at(1.5)["proportion"] == pytest.approx(0.125)
    # x = 3.5 (7 evals): p: (1 + 0.5) / 2 = 0.75; q: 0 -> 0.375
    assert at(3.5)["proportion"] == pytest.approx(0.375)
    # x >= 4 (8 evals): q solves both -> (0.75 + 1) / 2
    assert at(4.5)["proportion"] == pytest.approx(0.875)
    assert (table["lower"] <= table["proportion"] + 1e-12).all() and (table["proportion"] <= table["upper"] + 1e-12).all()
    # resampling p's two different runs gives a band of width > 0 where they differ; q alone gives none
    assert at(3.5)["upper"] - at(3.5)["lower"] > 0.1
    # the band's extreme values are those of resampling p's runs: p in {0.5, 0.75, 1.0} -> 0.25 .. 0.5
    assert at(3.5)["lower"] >= 0.25 - 1e-12 and at(3.5)["upper"] <= 0.5 + 1e-12


def test_convergence_carries_best_so_far_forward_hand_values():
    runs, trace = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 8.0), (2, 4.0), (4, 2.0), (8, 1.0)]},
                           ("0.1", 1): {"status": "converged", "rows": [(1, 6.0), (3, 0.5)]}})
    curve = analysis.convergence(runs, trace, axis="evaluations", points=50)
    at = lambda x: curve.loc[curve["x"] <= x].iloc[-1]  # noqa: E731
    assert at(2.5)["median"] == pytest.approx(5.0)  # run0 4, run1 6
    row = at(5.0)  # run0 2, run1 stopped at 0.5 and keeps it
    assert row["median"] == pytest.approx(1.25) and row["q25"] == pytest.approx(0.875) and row["q75"] == pytest.approx(1.625)
    assert at(8.0)["median"] == pytest.approx(0.75)


def test_lr_sensitivity_matches_gradient_descent_closed_form():
    lrs, iterations = (0.05, 0.2, 0.4), 30
    results = [ob.run("sphere", "gd", {"name": "constant", "lr": lr}, seeds=5, max_iter=iterations) for lr in lrs]
    results.append(ob.run("sphere", "gd", {"name": "constant", "lr": 1.5}, seeds=3, max_iter=iterations))
    runs = pd.concat([r.runs for r in results], ignore_index=True)
    table = analysis.lr_sensitivity(runs).set_index("value")
    assert (table["parameter"] == "lr").all()
    for lr, result in zip(lrs, results):
        start = result.trace[result.trace["iteration"] == 0].sort_values("seed")["f"].to_numpy()
        # f(x) = ||x||^2, gradient 2x: x_k = (1 - 2 lr)^k x_0, so f_k = (1 - 2 lr)^(2k) f_0
        expected = np.median((1 - 2 * lr) ** (2 * iterations) * start)
        assert table.loc[lr, "median"] == pytest.approx(expected, rel=1e-9)
    assert table.loc[1.5, "diverged_rate"] == 1.0 and np.isnan(table.loc[1.5, "median"])


def test_evaluations_charge_line_search_trials(ert_tables):
    runs, trace = ert_tables
    runs_p, _ = analysis.prepare(runs, trace)
    assert runs_p.set_index("seed").loc[1, "evaluations"] == 9


def test_ranks_and_failures():
    runs, trace = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 5.0), (2, 1e-3)]},
                           ("0.2", 0): {"status": "budget", "rows": [(1, 5.0), (2, 1e-1)]},
                           ("0.3", 0): {"status": "timeout", "rows": [(1, 5.0)], "message": "cell timed out"}})
    board = analysis.leaderboard(runs, trace)
    ranking = analysis.ranks(board)["p(dim=2)"]
    assert ranking.filter(like="0.1").iloc[0] == 1 and ranking.filter(like="0.2").iloc[0] == 2
    assert ranking.filter(like="0.3").iloc[0] == 3  # no finished run: ranked last
    failed = analysis.failures(runs)
    assert failed["status"].tolist() == ["timeout"] and failed["message"].tolist() == ["cell timed out"]


def test_bad_input_names_the_problem():
    runs, trace = _profile_tables()
    with pytest.raises(ParameterError, match="unknown axis 'evaluation'.*Did you mean 'evaluations'.*Valid axes: iterations, evaluations"):
        analysis.runtimes(runs, trace, axis="evaluation")
    with pytest.raises(ParameterError, match="lacks the column"):
        analysis.prepare(runs.drop(columns="method"), trace)
    with pytest.raises(ParameterError, match="same run twice"):
        analysis.prepare(pd.concat([runs, runs]), trace)
    with pytest.raises(ParameterError, match="tau must be in"):
        analysis.solve_costs(runs, trace, tau=2.0)


# ---------------------------------------------------------------- issue 13: honest rankings
def _finals(gaps_by_solver, problem="p", dim=2, f_opt=0.0, statuses=None):
    """A runs table with one run per (solver, seed) and the given final gaps (no trace)."""
    rows = []
    for solver, gaps in gaps_by_solver.items():
        for seed, gap in enumerate(gaps):
            status = (statuses or {}).get((solver, seed), "budget")
            rows.append({"problem": problem, "dim": dim, "method": "gd", "step_rule": "constant",
                         "step_params": f'{{"lr":{solver}}}', "seed": seed, "status": status, "f": f_opt + gap,
                         "f_opt": f_opt, "f_gap": gap, "iterations": 10, "f_evals": 0, "g_evals": 10,
                         "epochs": np.nan, "time": 1.0, "message": ""})
    return pd.DataFrame(rows)


def test_quick_suite_case_a_solver_with_7_of_8_runs_diverged_ranks_behind_one_with_none():
    # rosenbrock(dim=2), as in the quick suite: gd + constant(lr=0.001) diverges on 7 of 8 seeds
    gd = ob.run({"name": "rosenbrock", "dim": 2}, "gd", {"name": "constant", "lr": 0.001}, seeds=8, max_iter=500)
    adam = ob.run({"name": "rosenbrock", "dim": 2}, "adam", {"name": "constant", "lr": 0.01}, seeds=8, max_iter=500)
    assert (gd.runs["status"] == "diverged").sum() == 7 and (adam.runs["status"] != "diverged").all()
    runs = pd.concat([gd.runs, adam.runs], ignore_index=True)
    trace = pd.concat([gd.trace, adam.trace], ignore_index=True)
    board = analysis.leaderboard(runs, trace).set_index("solver")
    gd_label, adam_label = "gd + constant(lr=0.001)", "adam + constant(lr=0.01)"
    # its one survivor beats adam's median over finished runs, the column that used to rank ...
    survivor = gd.runs.loc[gd.runs["status"] == "budget", "f_gap"].iloc[0]
    assert board.loc[gd_label, "f_gap_median"] == survivor < board.loc[adam_label, "f_gap_median"]
    # ... but over all runs, failures as +inf, its median is inf and it ranks last
    assert board.loc[gd_label, "f_gap_median_all"] == np.inf
    assert board.loc[adam_label, "f_gap_median_all"] == pytest.approx(np.median(adam.runs["f_gap"]))
    assert board.loc[adam_label, "rank"] == 1 and board.loc[gd_label, "rank"] == 2
    assert analysis.leaderboard(runs, trace)["solver"].tolist() == [adam_label, gd_label]  # sorted by rank


def test_negative_round_off_gaps_tie_with_zero():
    # the stepsize suite's "wins" at -4.66e-15 and -1.11e-16 are round-off: they tie with 0 and 1e-16
    runs = _finals({"0.1": [-4.66e-15] * 3, "0.2": [0.0] * 3, "0.3": [1e-16] * 3, "0.4": [1e-3] * 3}, f_opt=-1.5)
    board = analysis.leaderboard(runs).set_index("solver")
    ranks = board["rank"].rename(lambda s: s.split("lr=")[1][:-1])
    assert ranks.to_dict() == {"0.1": 1.0, "0.2": 1.0, "0.3": 1.0, "0.4": 4.0}  # three tied winners share rank 1
    # tables show the gap as computed
    assert board["f_gap_median_all"].min() == pytest.approx(-4.66e-15, rel=1e-9, abs=0)
    assert board["gap_tol"].eq(1e-12 * 1.5).all()
    # a stricter explicit tolerance separates them again, and negative still never beats 0
    strict = analysis.leaderboard(runs, gap_tol=1e-17).set_index("solver")["rank"].rename(lambda s: s.split("lr=")[1][:-1])
    assert strict["0.1"] == strict["0.2"] == 1.0 and strict["0.3"] == 3.0


def test_successes_count_gaps_within_the_tolerance():
    runs, trace = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 1.0), (2, 5e-13)]}})
    board = analysis.leaderboard(runs, trace, targets=(1e-13,), target=1e-13)
    assert board.loc[0, "success@1e-13"] == 1.0  # 5e-13 <= 1e-12: counts as 0
    assert analysis.leaderboard(runs, trace, targets=(1e-13,), target=1e-13, gap_tol=0.0).loc[0, "success@1e-13"] == 0.0
    with pytest.raises(ParameterError, match="gap_tol must be a finite number >= 0"):
        analysis.leaderboard(runs, trace, gap_tol=-1.0)


def test_rank_matrix_leaves_cells_that_never_ran_blank():
    runs = pd.concat([_finals({"0.1": [1.0], "0.2": [2.0]}, problem="p"), _finals({"0.1": [3.0]}, problem="q")])
    matrix = analysis.ranks(analysis.leaderboard(runs))
    assert matrix.loc["gd + constant(lr=0.2)", "q(dim=2)"] != matrix.loc["gd + constant(lr=0.2)", "q(dim=2)"]  # NaN
    assert matrix.loc["gd + constant(lr=0.1)", "q(dim=2)"] == 1.0
    by_median = analysis.ranks(analysis.leaderboard(runs), "f_gap_median")
    assert np.isnan(by_median.loc["gd + constant(lr=0.2)", "q(dim=2)"]) and by_median.loc["gd + constant(lr=0.2)", "p(dim=2)"] == 2


def test_exact_hits_replace_checkpoint_runtimes():
    # the trace records iterations 0 and 3 only (log checkpoints); the exact first hit of 1e0 was at iteration 2
    runs, trace = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (2, 5.0), (3, 0.5), (4, 0.01)]}})
    trace = trace[trace["iteration"].isin([0, 3])]
    hits = pd.DataFrame([{**runs.iloc[0][["problem", "dim", "method", "step_rule", "step_params", "seed"]].to_dict(),
                          "target": t, "iteration": it, "f_evals": 0, "g_evals": ev, "epochs": np.nan, "time": 0.1 * ev,
                          "estimated": False} for t, it, ev in [(10.0, 0, 1), (1.0, 2, 3), (0.1, 3, 4)]])
    from_trace = analysis.first_hits(runs, trace, [10.0, 1.0, 0.1, 1e-3]).set_index("target")
    exact = analysis.first_hits(runs, trace, [10.0, 1.0, 0.1, 1e-3], hits=hits).set_index("target")
    assert from_trace.loc[1.0, "evaluations"] == 4 and exact.loc[1.0, "evaluations"] == 3
    assert exact.loc[1.0, "iterations"] == 2 and exact.loc[1.0, "time"] == pytest.approx(0.3)
    assert not exact.loc[1e-3, "hit"]  # in neither
    assert analysis.ert(runs, trace, [1.0], hits=hits).loc[0, "ert"] == 3


def _budget_trace():
    """Two solvers on p (dim 2): A with three runs, B with two; rows (evaluations, gap)."""
    spec = {("0.1", 0): {"status": "budget", "rows": [(1, 9.0), (3, 4.0), (7, 5.0), (12, 0.5)]},
            ("0.1", 1): {"status": "budget", "rows": [(1, 8.0), (2, 2.0), (4, 1.0)]},
            ("0.1", 2): {"status": "budget", "rows": [(1, 7.0), (5, 3.0), (9, 0.25), (20, 0.125)]},
            ("0.2", 0): {"status": "budget", "rows": [(1, 9.0), (10, 0.1)]},
            ("0.2", 1): {"status": "budget", "rows": [(1, 8.0), (6, 0.2)]}}
    return spec, *_tables(spec)


def test_fixed_budget_quantiles_equal_a_direct_computation():
    spec, runs, trace = _budget_trace()
    budgets = [2, 6, 10, 100]
    table = analysis.fixed_budget(runs, trace, budgets=budgets)
    assert set(table["axis"]) == {"evaluations"}
    for solver in ("0.1", "0.2"):
        rows = table[table["solver"] == f"gd + constant(lr={solver})"].set_index("budget")
        seeds = [seed for (s, seed) in spec if s == solver]
        for budget in budgets:
            reached = [min(g for e, g in spec[(solver, seed)]["rows"] if e <= budget) for seed in seeds]
            quantiles = np.quantile(reached, [0.1, 0.25, 0.5, 0.75, 0.9])
            got = rows.loc[budget, ["gap_q10", "gap_q25", "gap_median", "gap_q75", "gap_q90"]].to_numpy(dtype=float)
            np.testing.assert_allclose(got, quantiles, rtol=1e-12)
            totals = [spec[(solver, seed)]["rows"][-1][0] for seed in seeds]
            assert rows.loc[budget, "running"] == pytest.approx(np.mean([t > budget for t in totals]))
    # a budget before a run's first record: its gap is unknown there, counted as +inf
    early = analysis.fixed_budget(runs, trace, budgets=[0.5])
    assert (early["gap_median"] == np.inf).all()


def test_fixed_budget_default_budgets_are_dim_times_powers_of_ten():
    _, runs, trace = _budget_trace()
    table = analysis.fixed_budget(runs, trace)
    assert sorted(table["budget"].unique()) == [2.0, 20.0]  # dim 2; the largest run spent 20 evaluations
    np.testing.assert_allclose(analysis.default_budgets(10, 1e4), [10, 100, 1e3, 1e4])


def test_budget_ecdf_hand_values():
    _, runs, trace = _budget_trace()
    table = analysis.budget_ecdf(runs, trace, budgets=[2, 10], targets=[1.0, 0.2], bootstrap=0)
    b = table[table["solver"] == "gd + constant(lr=0.2)"].set_index("target")["proportion"]
    # B at budget 2: gaps 9, 8; at budget 10: 0.1, 0.2 -> target 1: 2 of 4 triples, target 0.2: 2 of 4
    assert b[1.0] == pytest.approx(0.5) and b[0.2] == pytest.approx(0.5)
    a = table[table["solver"] == "gd + constant(lr=0.1)"].set_index("target")["proportion"]
    # A at 2: 9, 2, 7; at 10: 4, 1, 0.25 -> target 1: 2 of 6 (1 and 0.25); target 0.2: 0
    assert a[1.0] == pytest.approx(2 / 6) and a[0.2] == 0.0


def test_ecdf_of_two_solvers_with_different_coverage_uses_the_common_problems_and_names_the_other():
    spec_p = {("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (4, 0.5)]},
              ("0.2", 0): {"status": "budget", "rows": [(1, 10.0), (8, 0.05)]}}
    spec_q = {("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (2, 0.01)]}}  # only solver A ran q
    runs_p, trace_p = _tables(spec_p)
    runs_q, trace_q = _tables(spec_q, problem="q")
    runs, trace = pd.concat([runs_p, runs_q]), pd.concat([trace_p, trace_q])
    table = analysis.runtime_ecdf(runs, trace, targets=[1.0, 0.1], bootstrap=0)
    cover = table.attrs["coverage"]
    assert cover.problems == ["p(dim=2)"] and cover.left_out_problems == ["q(dim=2)"]
    assert cover.labels["gd + constant(lr=0.2)"] == "gd + constant(lr=0.2) (1 of 2 problems)"
    assert "q(dim=2)" in cover.note()
    a = table[table["solver"] == "gd + constant(lr=0.1)"]
    at = lambda frame, x: frame.loc[frame["x"] <= x, "proportion"].iloc[-1]  # noqa: E731
    # on p alone A hits target 1 at 4 evaluations (x = 2) and never 0.1: 0.5 at the end (q would give 1.0 for its part)
    assert at(a, 2.5) == pytest.approx(0.5) and a["proportion"].max() == pytest.approx(0.5)
    each = analysis.runtime_ecdf(runs, trace, targets=[1.0, 0.1], bootstrap=0, coverage="each")
    assert each[each["solver"] == "gd + constant(lr=0.1)"]["proportion"].max() == pytest.approx(0.75)


def test_coverage_leaves_out_a_partial_solver_and_names_it():
    runs = pd.concat([_finals({"0.1": [1.0], "0.2": [2.0], "0.3": [3.0]}, problem="p"),
                      _finals({"0.1": [1.0], "0.2": [2.0]}, problem="q")])
    cover = analysis.coverage(runs)
    assert cover.solvers == ["gd + constant(lr=0.1)", "gd + constant(lr=0.2)"]
    assert cover.left_out == ["gd + constant(lr=0.3) (1 of 2 problems)"] and cover.problems == ["p(dim=2)", "q(dim=2)"]
    with pytest.raises(ParameterError, match="unknown coverage 'comon'.*Did you mean 'common'"):
        analysis.coverage(runs, "comon")


def test_profiles_use_common_coverage():
    runs, trace = _profile_tables()
    extra_runs, extra_trace = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (2, 0.5)]}}, problem="q", dim=1)
    runs, trace = pd.concat([runs, extra_runs]), pd.concat([trace, extra_trace])
    scores = analysis.performance_score(runs, trace, tau=0.1)
    assert scores.attrs["coverage"].left_out_problems == ["q(dim=1)"]
    # the same hand values as without q (test_performance_profile_and_score_hand_values)
    assert scores.set_index("solver")["score"].filter(like="0.1").iloc[0] == pytest.approx(3 / 6)


def test_fair_axes_use_epochs_where_full_batch_meets_minibatch():
    runs = pd.concat([_finals({"0.1": [1.0]}, problem="p"), _finals({"0.1": [1.0], "0.2": [2.0]}, problem="q")])
    runs["batch_size"] = pd.array([None, None, 32], dtype="Int64")
    assert analysis.fair_axes(runs) == {"p(dim=2)": "evaluations", "q(dim=2)": "epochs"}


def test_profiles_measure_cost_in_epochs_where_full_batch_meets_minibatch():
    # full batch reaches the Moré-Wild test after 10 gradient calls = 10 epochs (n_samples 100);
    # minibatch (batch 10) after 40 gradient calls = 4 epochs: by epochs it wins, by evaluations it loses
    runs, trace = _tables({("0.1", 0): {"status": "budget", "rows": [(1, 10.0), (10, 0.5)]},
                           ("0.2", 0): {"status": "budget", "rows": [(1, 10.0), (40, 0.5)]}})
    minibatch = runs["step_params"].str.contains("0.2")
    runs["batch_size"] = pd.array([pd.NA if not m else 10 for m in minibatch], dtype="Int64")
    trace["batch_size"] = pd.array([pd.NA if "0.1" in p else 10 for p in trace["step_params"]], dtype="Int64")
    trace["epochs"] = np.where(trace["batch_size"].isna(), trace["g_evals"], trace["g_evals"] / 10.0)
    costs = analysis.solve_costs(runs, trace, tau=0.1).set_index("solver")
    assert (costs["axis"] == "epochs").all() and costs.attrs["axes"] == {"p(dim=2)": "epochs"}
    assert costs.loc["gd [batch 10] + constant(lr=0.2)", "cost"] == 4.0 and costs.loc["gd + constant(lr=0.1)", "cost"] == 10.0
    by_evaluations = analysis.solve_costs(runs, trace, tau=0.1, axis="evaluations").set_index("solver")
    assert by_evaluations.loc["gd [batch 10] + constant(lr=0.2)", "cost"] == 40.0
