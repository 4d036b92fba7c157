"""Tuning protocols (optbench/tuning.py): selection, held-apart seeds, reproducible trials, suite scope, validation.

Every selection is checked against an argmin (or mean rank) computed here from
the tuning-phase runs table with numpy and scipy, and every evaluation against a
plain ``ob.run`` of the selected setting.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import optbench as ob
from optbench import tuning
from optbench.suite import parse_suite
from conftest import suite_toml
from optbench.errors import SuiteError
from optbench.schema import number_text

FAILED = ("diverged", "error", "timeout")

def tuned_suite(scope: str) -> str:
    """Two tuned methods (adam: lr; momentum: lr and momentum) and gd + armijo on rosenbrock, tuned per ``scope``."""
    return suite_toml(name="tuned-test", seeds=4, budget={"max_iter": 150}, problems=[{"name": "rosenbrock", "dim": [2, 4]}],
                      methods=[{"name": "adam", "tune": {"step_rule.lr": {"log_uniform": [1e-4, 1.0]}}},
                               {"name": "momentum", "tune": {"step_rule.lr": {"log_uniform": [1e-5, 0.1]},
                                                             "method.momentum": {"uniform": [0.0, 0.99]}}},
                               {"name": "gd", "step_rule": "armijo"}],
                      tuning={"trials": 5, "seeds": 3, "scope": scope})


def _suite(scope: str = "problem", text: str | None = None):
    return parse_suite(text or tuned_suite(scope), "tuned-test.toml")


@pytest.fixture(scope="module")
def tuned():
    return ob.run_suite(_suite(), None)


def _medians(runs: pd.DataFrame) -> pd.DataFrame:
    """Median final gap over the tuning seeds per (problem, method, trial), failures +inf: numpy, not analysis."""
    rows = runs[runs["phase"] == "tuning"].copy()
    gap = (rows["f"] - rows["f_opt"]).to_numpy(dtype=float)
    gap = np.where(gap <= 1e-12 * np.maximum(1.0, np.abs(rows["f_opt"].to_numpy(dtype=float))), 0.0, gap)
    rows["value"] = np.where(rows["status"].isin(FAILED) | np.isnan(gap), np.inf, gap)
    keys = ["problem_params", "method", "trial"]
    return rows.groupby(keys)["value"].agg(lambda v: float(np.median(v.to_numpy()))).rename("median").reset_index()


def _selected(runs: pd.DataFrame) -> dict[tuple[str, str], int]:
    """The trial the suite evaluated per (problem, method): the largest evaluation trial (0 = the default)."""
    rows = runs[runs["phase"] == "evaluation"]
    return {key: int(trial) for key, trial in rows.groupby(["problem_params", "method"])["trial"].max().items()}


def test_selected_setting_is_the_argmin_of_the_tuning_runs(tuned):
    medians = _medians(tuned.runs)
    chosen = _selected(tuned.runs)
    assert len(chosen) == 4  # 2 problems x 2 tuned methods
    for (problem, method), group in medians.groupby(["problem_params", "method"]):
        group = group.sort_values("trial")
        values = group["median"].to_numpy()
        assert len(values) == 6  # the default (trial 0) and 5 draws
        expected = int(group["trial"].to_numpy()[int(np.argmin(values))])  # first minimum: the lowest trial
        assert chosen[(problem, method)] == expected, (problem, method, values)


def test_tuning_and_evaluation_seeds_are_disjoint_and_evaluations_equal_plain_runs(tuned):
    runs = tuned.runs
    tuning_seeds = set(runs.loc[runs["phase"] == "tuning", "seed"])
    evaluation_seeds = set(runs.loc[runs["phase"] == "evaluation", "seed"])
    assert tuning_seeds == {10**6, 10**6 + 1, 10**6 + 2}
    assert evaluation_seeds == {0, 1, 2, 3}
    assert set(runs.loc[runs["phase"] == "", "seed"]) == {0, 1, 2, 3}  # the untuned gd + armijo
    evaluated = runs[runs["phase"] == "evaluation"]
    for _, rows in evaluated.groupby(["problem_params", "method", "trial"]):
        first = rows.iloc[0]
        method = {"name": first["method"], **json.loads(first["method_params"])}
        step = {"name": first["step_rule"], **json.loads(first["step_params"])}
        plain = ob.run({"name": "rosenbrock", **json.loads(first["problem_params"])}, method, step,
                       seeds=sorted(rows["seed"]), max_iter=150).runs
        rows = rows.sort_values("seed")
        np.testing.assert_array_equal(rows["status"].to_numpy(), plain["status"].to_numpy())
        np.testing.assert_allclose(rows["f"].to_numpy(dtype=float), plain["f"].to_numpy(dtype=float), rtol=1e-13, atol=0)
        np.testing.assert_array_equal(rows["iterations"].to_numpy(), plain["iterations"].to_numpy())


def test_overlapping_tuning_seeds_are_refused():
    text = tuned_suite("problem").replace("seeds = 4", "seeds = [0, 1, 2]").replace("seeds = 3", "seeds = [2, 7]")
    with pytest.raises(SuiteError, match=r"tuned-test.toml: tuning.seeds: .*disjoint.*\[2\]"):
        _suite(text=text)


def _trials(suite) -> list[tuple]:
    return [(c.description["phase"], c.description["trial"], json.dumps(c.method, sort_keys=True),
             json.dumps(c.step_rule, sort_keys=True)) for c in suite.cells if c.description.get("phase")]


def test_the_same_suite_draws_the_same_trials():
    first, second = _trials(_suite()), _trials(_suite())
    assert first == second and len(first) == 2 * 2 * 7  # problems x methods x (6 trials + the default's evaluation)
    lrs = [json.loads(step)["lr"] for phase, trial, _, step in first if phase == "tuning" and trial > 0]
    assert len(set(lrs)) == len(lrs) // 2  # the same draws on both problems, distinct within a problem
    other = _trials(_suite(text=tuned_suite("problem") + "seed = 1\n"))
    assert other != first  # another generator seed draws other trials


SMALL = tuned_suite("problem").replace("dim = [2, 4]", "dim = 2").replace("trials = 5", "trials = 3")


@pytest.mark.slow
def test_the_same_trials_and_numbers_under_every_executor(tmp_path):
    text = SMALL
    columns = ["problem_params", "method", "method_params", "step_params", "phase", "trial", "seed", "status", "f"]
    tables = []
    for executor in ("serial", "processes", "dask"):
        out = tmp_path / executor if executor == "serial" else None  # stored (resume path) and in memory
        result = ob.run_suite(_suite(text=text), out, executor, jobs=1 if executor == "dask" else 2)
        runs = result.runs[columns].sort_values(["method", "phase", "trial", "seed"]).reset_index(drop=True)
        tables.append(runs.astype({"phase": object, "trial": "Int64"}))
    assert set(tables[0]["phase"]) == {"", "tuning", "evaluation"}
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other)


def test_scope_suite_selects_one_setting_per_method_for_all_problems():
    result = ob.run_suite(_suite("suite"), None)
    runs = result.runs
    medians = _medians(runs)
    for method, group in medians.groupby("method"):
        table = group.pivot(index="trial", columns="problem_params", values="median")
        ranks = np.column_stack([scipy.stats.rankdata(table[c].to_numpy()) for c in table.columns])  # inf ranks last
        expected = int(table.index[int(np.argmin(ranks.mean(axis=1)))])
        evaluated = runs[(runs["phase"] == "evaluation") & (runs["method"] == method)]
        per_problem = evaluated.groupby("problem_params")["trial"].max()
        assert len(per_problem) == 2 and set(per_problem) == {expected}
        settings = evaluated[evaluated["trial"] == expected][["method_params", "step_params"]].drop_duplicates()
        assert len(settings) == 1  # one setting shared by both problems


def test_ob_tune_selects_the_argmin_and_evaluates_like_ob_run():
    space = {"step_rule.lr": {"log_uniform": [1e-4, 1.0]}, "method.betas": [[0.9, 0.999], [0.8, 0.99]]}
    result = ob.tune("rosenbrock", "adam", space=space, trials=6, seeds=2, eval_seeds=3, max_iter=100)
    runs = result.runs
    tuning_runs = runs[runs["phase"] == "tuning"]
    assert set(tuning_runs["seed"]) == {10**6, 10**6 + 1} and set(runs[runs["phase"] == "evaluation"]["seed"]) == {0, 1, 2}
    gap = np.where(tuning_runs["status"].isin(FAILED), np.inf, tuning_runs["f"] - tuning_runs["f_opt"])
    medians = pd.Series(gap, index=tuning_runs.index).groupby(tuning_runs["trial"]).median()
    assert int(result.selected["trial"]) == int(medians.index[int(np.argmin(medians.to_numpy()))])
    plain = ob.run("rosenbrock", result.method, result.step_rule, seeds=3, max_iter=100)
    np.testing.assert_allclose(result.evaluation.runs["f"], plain.runs["f"], rtol=1e-13, atol=0)
    assert result.default.runs["step_params"].iloc[0] == '{"lr":0.001}'  # Adam's own default step
    default_betas = ob.methods.create("adam", **json.loads(result.default.runs["method_params"].iloc[0])).betas
    assert tuple(default_betas) == (0.9, 0.999)


def test_random_draws_follow_the_declared_distributions():
    protocol = tuning.Protocol(trials=2000, seed=3)
    space = {"method.momentum": {"uniform": [0.2, 0.9]}, "step_rule.lr": {"log_uniform": [1e-5, 1.0]}}
    draws = tuning.draw_trials(space, protocol, "x")
    assert draws == tuning.draw_trials(space, protocol, "x") and len(draws) == 2000
    lr = np.log10([d["step_rule.lr"] for d in draws])
    momentum = np.array([d["method.momentum"] for d in draws])
    assert scipy.stats.kstest(lr, scipy.stats.uniform(loc=-5, scale=5).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(momentum, scipy.stats.uniform(loc=0.2, scale=0.7).cdf).pvalue > 1e-3
    grid = tuning.draw_trials({"step_rule.lr": [0.1, 0.01], "method.momentum": [0.0, 0.5, 0.5]},
                              tuning.Protocol(protocol="grid"))
    assert len(grid) == 4 and {(d["step_rule.lr"], d["method.momentum"]) for d in grid} == {
        (0.1, 0.0), (0.1, 0.5), (0.01, 0.0), (0.01, 0.5)}


@pytest.mark.parametrize("edit, pattern", [
    (("trials = 5", "trails = 5"), r"tuned-test.toml: tuning.trails: unknown key 'trails'\. Did you mean 'trials'\? Valid keys: protocol, trials"),
    (('scope = "problem"', 'scope = "suit"'), r"tuning.scope: unknown scope 'suit'\. Did you mean 'suite'\? Valid: problem, suite"),
    (("log_uniform = [0.0001, 1.0]", "log_uniform = [0.0, 1.0]"), r"methods\[0\].tune.step_rule.lr.log_uniform must be two finite numbers \[a, b\] with 0 < a < b, got \[0.0, 1.0\]"),
    (('"step_rule.lr" = { log_uniform = [0.0001', '"step_rule.lrr" = { log_uniform = [0.0001'),
     r"methods\[0\].tune: unknown parameter path 'step_rule.lrr'\. Did you mean 'step_rule.lr'\? Valid parameter paths: .*step_rule.lr\."),
    (('"method.momentum"', '"method.momentun"'), r"methods\[1\].tune: unknown parameter path 'method.momentun'\. Did you mean 'method.momentum'\?"),
    (("trials = 5", 'protocol = "grid"'), r"methods\[0\].tune.step_rule.lr must be a list of values \(the grid protocol\), got \{'log_uniform'"),
    (('scope = "problem"', 'criterion = "ertt"'), r"tuning.criterion: .*Did you mean 'ert'\?"),
])
def test_bad_tuning_keys_are_one_line_errors(edit, pattern):
    text = tuned_suite("problem").replace(*edit)
    with pytest.raises(SuiteError, match=pattern) as info:
        _suite(text=text)
    assert "\n" not in str(info.value)


def test_a_tuning_block_needs_a_tuned_method():
    text = tuned_suite("problem").replace("tune = ", "# tune = ")
    with pytest.raises(SuiteError, match=r"tuned-test.toml: tuning: a \[tuning\] block needs .* 'tune'"):
        _suite(text=text)


def test_untuned_suites_keep_their_keys_and_neutral_columns():
    res = ob.run("rosenbrock", "adam", seeds=2, max_iter=5)
    assert (res.runs["phase"] == "").all() and res.runs["trial"].isna().all()
    assert str(res.runs["trial"].dtype) == "Int64"


def test_tuneability_against_hand_computed_shares():
    from optbench.report.tuning import tuneability

    # trial criteria (median final gaps over 1 tuning seed): default 100, then 10, 1000, 1
    gaps = [100.0, 10.0, 1000.0, 1.0]
    runs = pd.DataFrame({
        "problem": "p", "problem_params": "{}", "dim": 2, "method": "m", "method_params": "{}", "step_rule": "constant",
        "step_params": [f'{{"lr":{i}}}' for i in range(4)], "batch_size": pd.array([None] * 4, dtype="Int64"),
        "seed": 10**6, "status": "budget", "f": gaps, "f_opt": 0.0, "f_gap": gaps,
        "iterations": 1, "f_evals": 0, "g_evals": 1, "epochs": math.nan, "time": 0.0,
        "phase": "tuning", "trial": pd.array(range(4), dtype="Int64")})
    from optbench.analysis import prepare

    table = tuneability(prepare(runs)[0], within=(1, 2))
    row = table.iloc[0]
    assert row["within_1"] == pytest.approx((2 - 1) / 2) and row["within_2"] == pytest.approx(0.5)
    assert row["within_3"] == pytest.approx(1.0)


@pytest.mark.slow
def test_the_report_compares_evaluation_runs_and_shows_the_tuning(tmp_path):
    tuned = ob.run_suite(_suite(text=SMALL), tmp_path / "results")
    path = ob.report(tmp_path / "results", out=tmp_path)  # from the folder: runs, trace and the exact hits
    page = path.read_text()
    assert "Tuning: tuned against default" in page and "Tuneability" in page and "Sensitivity" in page
    runs = tuned.runs
    chosen = _selected(runs)
    for (problem, method), rows in runs[runs["phase"] == "tuning"].groupby(["problem_params", "method"]):
        for trial, step in rows.groupby("trial")["step_params"].first().items():
            lr = number_text(json.loads(step)["lr"])  # labels show 4 significant digits
            picked = any(t == trial for (p, m), t in chosen.items() if m == method)
            if not picked and trial > 0:  # a trial that was not selected anywhere is no competitor
                assert f"lr={lr}" not in page, (method, trial)
    selected = [json.loads(s)["lr"] for s in runs.loc[(runs["phase"] == "evaluation") & (runs["trial"] > 0), "step_params"]]
    assert selected and all(f"lr={number_text(lr)}" in page for lr in selected)


def _tuning_hits(result, target: float) -> tuple[pd.DataFrame, pd.Series]:
    runs = result.runs[result.runs["phase"] == "tuning"]
    hits = result.hits[(result.hits["phase"] == "tuning") & np.isclose(result.hits["target"], target, rtol=1e-12)]
    first = (hits["f_evals"] + hits["g_evals"]).groupby([hits["trial"], hits["seed"]]).min()
    return runs, first


def test_time_to_target_and_ert_criteria_against_the_hits_table():
    space = {"step_rule.lr": {"log_uniform": [1e-3, 0.5]}}
    kwargs = dict(space=space, trials=6, seeds=3, eval_seeds=2, max_iter=300, target=1e-2)
    for criterion in ("time_to_target", "ert"):
        result = ob.tune({"name": "quadratic", "dim": 5}, "momentum", criterion=criterion, **kwargs)
        runs, first = _tuning_hits(result, 1e-2)
        values = {}
        for trial, rows in runs.groupby("trial"):
            spent = (rows["f_evals"] + rows["g_evals"]).to_numpy(dtype=float)
            hit = np.array([first.get((trial, seed), np.nan) for seed in rows["seed"]])
            failed = rows["status"].isin(FAILED).to_numpy()
            if criterion == "time_to_target":  # median evaluations to the hit; misses and failures +inf
                values[trial] = float(np.median(np.where(np.isnan(hit) | failed, np.inf, hit)))
            else:  # COCO: all evaluations of all runs (successes until their hit) / successes
                successes = int(np.sum(~np.isnan(hit)))
                values[trial] = np.inf if successes == 0 else float(np.sum(np.where(np.isnan(hit), spent, hit))) / successes
        got = result.trials.set_index("trial")["criterion"]
        for trial, value in values.items():
            assert got[trial] == pytest.approx(value, rel=1e-12), (criterion, trial)
        finite = [v for v in values.values() if np.isfinite(v)]
        assert finite, "some trial must reach the target for the test to mean something"
        assert int(result.selected["trial"]) == min(values, key=lambda t: (values[t], t))


def test_area_under_curve_criterion_against_the_trace():
    result = ob.tune({"name": "quadratic", "dim": 5}, "momentum", criterion="area_under_curve", trials=5, seeds=3,
                     eval_seeds=2, max_iter=200, space={"step_rule.lr": {"log_uniform": [1e-3, 0.5]}})
    runs = result.runs[result.runs["phase"] == "tuning"]
    trace = result.trace[result.trace["phase"] == "tuning"]
    evaluations = trace["f_evals"] + trace["g_evals"]
    largest = max((runs["f_evals"] + runs["g_evals"]).max(), evaluations.max())
    budgets = 5.0 * 10.0 ** np.arange(1 + int(np.ceil(np.log10(largest / 5.0))))  # dim * 10^j up to >= largest
    values = {}
    for trial, rows in trace.groupby("trial"):
        per_seed = []
        for _, run in rows.sort_values("iteration").groupby("seed"):
            best = np.minimum.accumulate(np.nan_to_num(run["f_gap"].to_numpy(dtype=float), nan=np.inf))
            spent = (run["f_evals"] + run["g_evals"]).to_numpy(dtype=float)
            per_seed.append([best[spent <= b][-1] if (spent <= b).any() else np.inf for b in budgets])
        medians = np.median(np.array(per_seed), axis=0)
        values[trial] = float(np.mean(np.log10(np.clip(medians, 1e-16, None))))
    got = result.trials.set_index("trial")["criterion"]
    for trial, value in values.items():
        assert got[trial] == pytest.approx(value, rel=1e-12, abs=1e-12), trial
    assert len(set(np.round(list(values.values()), 6))) > 1  # the trials differ
    assert int(result.selected["trial"]) == min(values, key=lambda t: (values[t], t))


def test_a_stored_tuned_suite_resumes_without_running_again(tmp_path):
    first = ob.run_suite(_suite(text=SMALL), tmp_path)
    assert first.cells_run == len(first.suite.cells) > len(_suite(text=SMALL).cells)  # phase two added cells
    again = ob.run_suite(_suite(text=SMALL), tmp_path)
    assert again.cells_run == 0 and again.cells_skipped == len(first.suite.cells)
    columns = ["cell", "phase", "trial", "seed", "f"]
    order = ["cell", "seed"]
    pd.testing.assert_frame_equal(first.runs[columns].sort_values(order).reset_index(drop=True),
                                  again.runs[columns].sort_values(order).reset_index(drop=True))
    stored = pd.read_parquet(tmp_path / "runs.parquet")
    assert set(stored["phase"]) == {"", "tuning", "evaluation"} and len(stored) == len(first.runs)


def test_a_drawn_value_the_method_refuses_is_a_suite_error():
    text = '[[problems]]\nname = "rosenbrock"\n[[methods]]\nname = "l-bfgs-b"\ntune = { "method.maxcor" = { uniform = [3, 20] } }\n'
    with pytest.raises(SuiteError, match=r"int.toml: methods\[0\].tune: trial 1 of l-bfgs-b/none is not a valid "
                                         r"setting: .*maxcor.*expects int.*needs a list of values"):
        parse_suite(text, "int.toml")
    suite = parse_suite(text.replace("{ uniform = [3, 20] }", "[3, 20]"), "int.toml")
    assert sorted(c.method.get("maxcor", 10) for c in suite.cells if c.description.get("phase") == "tuning") == [3, 10, 20]


def test_the_report_names_a_tuned_method_alike_on_every_problem(tmp_path):
    from optbench.report.data import load_results
    from optbench.report.tuning import evaluation_set
    from optbench.suite import parse_suite

    suite = parse_suite('name = "t2"\nseeds = 2\n[budget]\nmax_iter = 40\n[tuning]\nprotocol = "random"\ntrials = 3\n'
                        'seeds = 2\n[[problems]]\nname = "sphere"\n[[problems]]\nname = "quadratic"\n[[methods]]\n'
                        'name = "gd"\nstep_rule = { name = "constant", lr = 1e-6 }\n'
                        'tune = { "step_rule.lr" = { log_uniform = [0.02, 0.15] } }\n')
    ob.run_suite(suite, out=tmp_path / "res", progress=False)
    runs = evaluation_set(load_results(tmp_path / "res")).runs
    selected = runs[pd.to_numeric(runs["trial"], errors="coerce") > 0]
    assert len(selected) and set(selected["solver"]) == {"gd + constant (tuned)"}
    assert selected["problem"].nunique() == 2  # one name on both problems, whatever lr each selected
    # the method's own default (trial 0, gd's constant(lr=0.01)) keeps its plain name
    assert set(runs.loc[pd.to_numeric(runs["trial"], errors="coerce") == 0, "solver"]) == {"gd + constant(lr=0.01)"}
