"""Journey: a tuned suite run end to end through the CLI, and one vocabulary in every output.

The 2-problem repro of issue 24 (gd and adam tuned with a log-uniform lr on rosenbrock and a
quadratic), at fast settings. Its report used to crash (``KeyError: 'gd + constant(lr=6.61e-05)'``)
with exit status 0, and the tuned methods had no curves.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import optbench as ob
from optbench import analysis, schema
from optbench.cli import main
from optbench.export import export, folder_name
from optbench.report.comparison import compare_tables
from optbench.report.data import load_results
from optbench.report.tuning import evaluation_set
from optbench.store import read_tables

pytestmark = pytest.mark.slow  # a tuned suite and two reports: about 40 s

REPRO = """
name = "repro"
seeds = 4

[budget]
max_iter = 200

[tuning]
trials = 6
seeds = 2

[[problems]]
name = "rosenbrock"
dim = 10

[[problems]]
name = "quadratic"
dim = 20
condition = 1000.0

[[methods]]
name = "gd"
tune = { "step_rule.lr" = { log_uniform = [1e-5, 1.0] } }

[[methods]]
name = "adam"
tune = { "step_rule.lr" = { log_uniform = [1e-5, 1.0] } }
"""


@pytest.fixture(scope="module")
def tuned_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("journey")
    (folder / "repro.toml").write_text(REPRO)
    code = main(["run", str(folder / "repro.toml"), "--out", str(folder / "out")])
    return folder / "out", code


def test_the_tuned_repro_writes_its_report_and_report_rewrites_it(tuned_results):
    out, code = tuned_results
    assert code == 0 and (out / "index.html").is_file()
    assert main(["report", str(out)]) == 0


def test_every_solver_has_curves_on_every_problem_and_tuned_methods_are_tuned_everywhere(tuned_results):
    out, _ = tuned_results
    (runs, trace, hits), _ = read_tables(out)
    evaluation = runs[runs["phase"] == "evaluation"]
    prepared, prepared_trace = analysis.prepare(evaluation, trace[trace["phase"] == "evaluation"])
    problems = set(prepared["problem_label"])
    assert len(problems) == 2
    pairs = set(zip(prepared["problem_label"], prepared["solver"]))
    assert pairs == set(zip(prepared_trace["problem_label"], prepared_trace["solver"]))  # curves for every solver
    for method in ("gd", "adam"):
        label = schema.tuned_label(method, "constant")
        assert {(p, label) for p in problems} <= pairs, method
    # the selected setting is shown at 4 significant digits, its exact value kept in step_params
    selected = evaluation[evaluation["trial"] > 0]
    assert len(selected) and all(json.loads(p)["lr"] > 0 for p in selected["step_params"])


def test_labels_are_one_set_in_runs_trace_hits_export_and_compare(tuned_results, tmp_path):
    out, _ = tuned_results
    data = evaluation_set(load_results(out))
    solvers = set(data.runs["solver"])
    assert set(data.trace["solver"]) == solvers
    tuned = {schema.tuned_label("gd", "constant"), schema.tuned_label("adam", "constant")}
    hit_solvers = set(data.runs["solver"].to_numpy()[data.hits["run"].to_numpy()])
    reached = set(data.trace.loc[data.trace["f_gap"] <= schema.target_ladder()[0], "solver"])  # the easiest target
    assert tuned <= solvers and hit_solvers == reached
    coco = export(out, tmp_path / "coco")
    assert {p.name for p in coco.iterdir()} == {folder_name(s) for s in solvers}
    algorithms = {line.split("algId = ")[1].split("'")[1] for p in coco.glob("*/*.info")
                  for line in p.read_text().splitlines() if "algId" in line}
    assert algorithms == {s.replace("'", '"') for s in solvers}
    table = compare_tables(out, out)
    assert set(table.index.get_level_values("solver") if "solver" in table.index.names else table["solver"]) == solvers
    assert set(pd.unique(data.runs["problem_label"])) == set(table.index.get_level_values("problem_label")
                                                             if "problem_label" in table.index.names else table["problem_label"])


def test_hits_targets_are_the_ladder(tuned_results):
    out, _ = tuned_results
    (_, _, hits), _ = read_tables(out)
    assert set(hits["target"]) <= set(schema.target_ladder())


def test_the_tuning_protocol_is_stored_with_the_results(tuned_results):
    out, _ = tuned_results
    _, provenance = read_tables(out)
    stored = provenance["tuning"]
    assert stored["criterion"] == "final_gap" and stored["trials"] == 6 and len(stored["seeds"]) == 2
    assert {row["method"] for row in stored["selected"]} == {"gd", "adam"}


def test_a_report_that_cannot_be_written_makes_run_exit_1_and_keeps_the_results(tmp_path, monkeypatch, capsys):
    import optbench.report

    def broken(*args, **kwargs):
        raise KeyError("a solver the report does not know")

    monkeypatch.setattr(optbench.report, "report", broken)
    (tmp_path / "s.toml").write_text('name = "s"\nseeds = 2\n[budget]\nmax_iter = 20\n[[problems]]\nname = "rosenbrock"\n'
                                     'dim = 2\n[[methods]]\nname = "gd"\n')
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "report could not be written" in err[0] and "optbench report" in err[0]
    assert (tmp_path / "out" / "runs.parquet").is_file()
    assert len(ob.load_results(tmp_path / "out").runs) == 2 if hasattr(ob, "load_results") else True
