"""Analysis numbers against hand-computed values on small hand-made tables, and closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench import analysis
from optbench.registry import ParameterError


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
