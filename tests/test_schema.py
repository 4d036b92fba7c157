"""The results vocabulary (optbench.schema): labels, the target ladder, the tuned label, the f_opt estimate.

Truth: the label formats the issue specifies (``lr=6.614e-05``, ``<method> + <rule> (tuned)``),
correctly rounded decimal powers of ten (Python's ``decimal``), and f_opt estimates worked out by hand.
"""

from __future__ import annotations

import ast
import decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optbench import analysis, export, schema

PACKAGE = Path(schema.__file__).parent


def test_numbers_in_labels_have_four_significant_digits():
    assert schema.number_text(6.613653224595875e-05) == "6.614e-05"
    assert schema.number_text(0.32668562241834537) == "0.3267"
    assert schema.number_text(0.001) == "0.001"
    assert schema.number_text([0.9, 0.999]) == "[0.9, 0.999]"
    assert schema.number_text(3) == "3" and schema.number_text(True) == "True"
    assert schema.with_params("constant", '{"lr":6.613653224595875e-05}') == "constant(lr=6.614e-05)"


def test_problem_method_step_solver_and_tuned_labels():
    assert schema.problem_label("rosenbrock", "{}", 10) == "rosenbrock(dim=10)"
    assert schema.problem_label("quadratic", '{"cond":100.0,"dim":5}', 5) == "quadratic(cond=100, dim=5)"
    assert schema.method_label("sgd", "{}", pd.NA) == "sgd"
    assert schema.method_label("sgd", '{"momentum":0.9}', 32) == "sgd(momentum=0.9) [batch 32]"
    assert schema.step_label("none", "{}") == "own loop" and schema.step_label("armijo", "{}") == "armijo"
    assert schema.solver_label("lbfgs", "own loop") == "lbfgs"
    assert schema.solver_label("gd", "constant(lr=0.01)") == "gd + constant(lr=0.01)"
    assert schema.tuned_label("gd", "constant") == "gd + constant (tuned)"
    assert schema.tuned_label("sgd", "constant", 32) == "sgd [batch 32] + constant (tuned)"
    assert schema.tuned_label("lbfgs", "none") == "lbfgs (tuned)"


def test_target_ladder_is_cocos_ladder_of_correctly_rounded_powers():
    """Target k is the double nearest 10^(m/5), m = 10 - k: the fifth powers of the midpoints to its neighbours
    bracket 10^m (exact decimal arithmetic), so the ladder is the same bits on every CPU."""
    ladder = schema.target_ladder()
    assert len(ladder) == 51 and ladder[0] == 100.0 and ladder[-1] == 1e-8
    assert list(ladder[::5]) == [10.0**k for k in range(2, -9, -1)]  # integer powers exactly
    with decimal.localcontext(decimal.Context(prec=2000)):
        for k, value in enumerate(ladder):
            exact = decimal.Decimal(float(value))
            below = (decimal.Decimal(float(np.nextafter(value, 0.0))) + exact) / 2
            above = (decimal.Decimal(float(np.nextafter(value, np.inf))) + exact) / 2
            assert below**5 <= decimal.Decimal(10) ** (10 - k) <= above**5, k
    with pytest.raises(ValueError, match="start >= stop"):
        schema.target_ladder(start=-8.0, stop=2.0)


def _defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Tuple, ast.List)):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_each_vocabulary_item_is_defined_in_schema_only():
    """Labels, the ladder, statuses and the f_opt estimate: schema defines them; no other module does."""
    one = {"target_ladder", "default_targets", "solver_label", "problem_label", "tuned_label", "f_opt_estimate",
           "label_frame", "with_tuned", "STATUSES", "FINISHED", "FAILED", "FINISHED_STATUSES", "FAILED_STATUSES",
           "INFINITE_GAP_STATUSES", "_with_params", "_params_text", "_solver_label", "_tuned_labels"}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "schema.py":
            assert not (_defined_names(path) & one), (path.name, _defined_names(path) & one)
    assert analysis.default_targets is schema.target_ladder
    assert analysis.FINISHED is schema.FINISHED_STATUSES and analysis.FAILED is schema.INFINITE_GAP_STATUSES
    assert set(schema.target_ladder()) <= set(export._TRIGGERS)  # the export's triggers extend the same ladder


def _runs(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["problem", "method", "step_params", "phase", "trial", "seed", "status", "f"])
    return frame.assign(problem_params="{}", dim=2, method_params="{}", step_rule="constant", batch_size=pd.NA,
                        f_opt=np.nan, f_gap=np.nan, iterations=1, f_evals=0, g_evals=1,
                        trial=pd.array(frame["trial"], dtype="Int64"))


def test_tuned_label_goes_to_the_selected_trial_and_to_the_default_where_it_won():
    runs = _runs([
        ("a", "gd", '{"lr":0.5}', "evaluation", 3, 0, "budget", 1.0),   # a: trial 3 selected
        ("a", "gd", '{"lr":0.01}', "evaluation", 0, 0, "budget", 2.0),  # a: the default
        ("b", "gd", '{"lr":0.01}', "evaluation", 0, 0, "budget", 3.0),  # b: the default won
        ("b", "gd", '{"lr":0.7}', "tuning", 1, 10**6, "budget", 4.0),   # a trial: no competitor
    ])
    tuned = schema.with_tuned(runs)
    assert tuned["tuned"].tolist() == [True, False, False, False, True] and tuned["copy_of"].tolist() == [-1] * 4 + [2]
    solvers = schema.label_frame(tuned)["solver"].tolist()
    assert solvers == ["gd + constant (tuned)", "gd + constant(lr=0.01)", "gd + constant(lr=0.01)",
                       "gd + constant(lr=0.7)", "gd + constant (tuned)"]
    trace = runs.loc[runs.index.repeat(2)].assign(iteration=[0, 1] * 4)
    prepared_runs, prepared_trace = analysis.prepare(runs, trace)
    per_run = prepared_trace.groupby("run")["solver"].agg(set)
    assert per_run.to_dict() == {i: {s} for i, s in enumerate(solvers)}  # trace rows carry their run's label, copies too


def test_f_opt_estimate_is_the_best_finite_f_of_finished_runs():
    runs = pd.DataFrame({"problem_label": ["p"] * 5 + ["q"],
                         "status": ["budget", "converged", "diverged", "timeout", "error", "diverged"],
                         "f": [3.0, 2.0, -50.0, -60.0, -70.0, -1.0]})
    trace = pd.DataFrame({"run": [0, 0, 1, 2, 3], "f": [1.5, np.inf, 2.5, -80.0, -90.0]})
    trace["f_gap"] = np.nan
    estimate = schema.f_opt_estimate(runs, trace)
    assert estimate["p"] == 1.5  # budget run's trace; diverged, timed-out and errored runs excluded
    assert np.isnan(estimate["q"])  # no finished run
    prepared, _ = analysis.prepare(runs.assign(problem=runs["problem_label"], method="gd", seed=range(6), f_opt=np.nan,
                                               f_gap=np.nan).drop(columns="problem_label"),
                                   trace.assign(problem=[runs["problem_label"][r] for r in trace["run"]], method="gd",
                                                seed=trace["run"], iteration=0, f_evals=0, g_evals=1).drop(columns="run"))
    assert prepared.loc[prepared["problem"] == "p", "f_opt_used"].eq(1.5).all()
