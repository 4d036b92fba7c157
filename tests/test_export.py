"""Export to COCO's and IOHprofiler's formats, read back by their own readers (cocopp, iohinspector).

The expected ERT is computed here from the results tables alone: for each target, the
evaluations spent by every run (to its first hit when it succeeded, all of them when it
did not) summed, over the number of successes -- COCO's aRT.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench.export import ExportError, export, folder_name
from optbench.schema import target_ladder
from optbench.store import read_tables
from conftest import suite_toml

SUITE = """
name = "export-test"
seeds = 5
[budget]
max_iter = 200
record = "log"
[[problems]]
name = "sphere"
dim = [2, 4]
[[problems]]
name = "rosenbrock"
dim = 2
[[methods]]
name = "gd"
step_rule = [{ name = "armijo" }, { name = "constant", lr = 0.01 }]
"""
TARGETS = target_ladder()
# cocopp aligns runs at its own 10^(i/5), numpy's scalar power (its last bits differ from the ladder's on some CPUs)
def cocopp_targets(targets) -> list[float]:
    return [float(np.power(10, np.float64(i) / 5)) for i in np.round(5 * np.log10(np.asarray(targets, dtype=float)))]


COCOPP_TARGETS = cocopp_targets(TARGETS)
SOLVERS = {"gd + armijo": ("armijo", "{}"), "gd + constant(lr=0.01)": ("constant", '{"lr":0.01}')}  # schema's labels
COCO_IDS = {"rosenbrock": 1, "sphere": 2}  # problems that are not bbob's, numbered by sorted label


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    (folder / "suite.toml").write_text(SUITE)
    ob.run_suite(str(folder / "suite.toml"), out=str(folder / "res"))
    assert (folder / "res" / "hits.parquet").is_file()
    return folder / "res"


BBOB_SUITE = suite_toml(name="export-bbob", budget={"max_iter": 100},
                        problems=[{"name": "bbob", "function": [1, 8], "instance": [1, 2], "dim": 2}],
                        methods=[{"name": "gd", "step_rule": {"name": "armijo"}}])


@pytest.fixture(scope="module")
def bbob_results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export-bbob")
    (folder / "suite.toml").write_text(BBOB_SUITE)
    ob.run_suite(str(folder / "suite.toml"), out=str(folder / "res"))
    return folder / "res"


@pytest.fixture(scope="module")
def without_hits(results, tmp_path_factory) -> Path:
    """The same results, as written before the engine stored hits: first hits come from the trace."""
    copy = tmp_path_factory.mktemp("nohits") / "res"
    shutil.copytree(results, copy)
    (copy / "hits.parquet").unlink()
    (copy / "manifest.jsonl").unlink()  # such folders had no manifest either (one that lists hits.parquet is damaged)
    return copy


def cocopp():
    with warnings.catch_warnings():  # cocopp looks for its online archive list on import
        warnings.simplefilter("ignore")
        import cocopp as module
    return module


def expected_runtimes(results: Path, gradient_cost: int, use_hits: bool) -> pd.DataFrame:
    """Per run and target: evaluations to the first hit (NaN for a miss) and evaluations spent in all."""
    (runs, trace, hits), _ = read_tables(results)
    if not use_hits:  # first recorded trace row whose best-so-far gap meets the target
        trace = trace.sort_values(["cell", "seed", "iteration"])
        trace["best"] = trace.groupby(["cell", "seed"])["f_gap"].cummin()
        rows = [dict(row._asdict(), target=t) for t in TARGETS
                for row in trace.loc[trace["best"] <= t].groupby(["cell", "seed"]).head(1).itertuples(index=False)]
        hits = pd.DataFrame(rows)
    cost = hits["f_evals"] + gradient_cost * hits["g_evals"]
    hits = hits.assign(evals=np.where(hits["iteration"] == 0, 1, np.maximum(cost, 1)))
    grid = runs.merge(pd.DataFrame({"target": TARGETS}), how="cross")
    grid["spent"] = grid["f_evals"] + gradient_cost * grid["g_evals"]
    hits["key"] = np.round(np.log10(hits["target"]), 6)
    grid["key"] = np.round(np.log10(grid["target"]), 6)
    return grid.merge(hits[["cell", "seed", "key", "evals"]], on=["cell", "seed", "key"], how="left")


def expected_ert(table: pd.DataFrame) -> pd.DataFrame:
    table = table.assign(used=np.where(table["evals"].notna(), table["evals"], table["spent"]),
                         success=table["evals"].notna())
    out = table.groupby(["problem", "dim", "step_rule", "target"]).agg(used=("used", "sum"), successes=("success", "sum"))
    out["ert"] = np.where(out["successes"] > 0, out["used"] / out["successes"].clip(lower=1), np.inf)
    return out.reset_index()


def coco_erts(folder: Path) -> pd.DataFrame:
    rows = []
    for label, (rule, _) in SOLVERS.items():
        for ds in cocopp().load(str(folder / folder_name(label))):
            problem = {v: k for k, v in COCO_IDS.items()}[ds.funcId]
            rows += [{"problem": problem, "dim": ds.dim, "step_rule": rule, "target": t, "art": a}
                     for t, a in zip(TARGETS, ds.detERT(COCOPP_TARGETS))]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gradient_cost, hits", [(1, True), (3, True), (1, False)])
def test_cocopp_art_equals_ert(results, without_hits, tmp_path, gradient_cost, hits):
    source = results if hits else without_hits
    out = export(source, tmp_path / "coco", format="coco", gradient_cost=gradient_cost)
    art = coco_erts(out)
    ert = expected_ert(expected_runtimes(source, gradient_cost, hits))
    both = art.merge(ert, on=["problem", "dim", "step_rule", "target"], validate="one_to_one")
    assert len(both) == len(ert) == 3 * 2 * len(TARGETS)
    np.testing.assert_allclose(both["art"], both["ert"], rtol=1e-12)
    assert np.isfinite(both["ert"]).sum() > 100 and np.isinf(both["ert"]).sum() > 10  # hits and misses both tested
    info = (out / "gd-armijo" / "bbobexp_f1.info").read_text()
    assert f"gradient_cost = {gradient_cost}" in info
    assert ("hits.parquet" in info) == hits and ("derived from the trace" in info) == (not hits)


def test_coco_info_lists_each_run_with_its_total_evaluations(results, tmp_path):
    out = export(results, tmp_path / "coco", gradient_cost=2)
    (runs, _, _), _ = read_tables(results)
    mine = runs[(runs["problem"] == "rosenbrock") & (runs["step_rule"] == "armijo")].sort_values("seed")
    line = (out / "gd-armijo" / "bbobexp_f1.info").read_text().splitlines()[2]
    entries = line.split(", ")[1:]
    assert [int(e.split(":")[1].split("|")[0]) for e in entries] == list(mine["f_evals"] + 2 * mine["g_evals"])
    finals = np.array([float(e.split("|")[1]) for e in entries])
    np.testing.assert_allclose(finals, mine["f_gap"].to_numpy(), rtol=0.06)  # written with 2 significant digits
    dat = (out / "gd-armijo" / "data_f1" / "bbobexp_f1_DIM2.dat").read_text()
    assert dat.count("%") == 5 and "instance = 1" in dat


def test_tdat_is_time_triggered_and_ends_with_the_run(results, tmp_path):
    out = export(results, tmp_path / "coco")
    ds = [d for d in cocopp().load(str(out / "gd-armijo")) if d.funcId == 1][0]
    (runs, _, _), _ = read_tables(results)
    mine = runs[(runs["problem"] == "rosenbrock") & (runs["step_rule"] == "armijo")].sort_values("seed")
    np.testing.assert_array_equal(ds.maxevals, mine["f_evals"] + mine["g_evals"])
    final = ds.funvals[-1, 1:]  # fixed-budget view read from the .tdat at the largest budget
    np.testing.assert_allclose(final, mine["f_gap"].to_numpy(), rtol=1e-9)


def test_bbob_keeps_function_and_instance_numbers(bbob_results, tmp_path):
    out = export(bbob_results, tmp_path / "coco")
    datasets = cocopp().load(str(out / "gd-armijo"))
    assert sorted(ds.funcId for ds in datasets) == [1, 8]
    table = expected_ert(expected_runtimes(bbob_results, 1, True).assign(dim=lambda t: t["problem_params"]))
    for ds in datasets:
        assert ds.suite_name == "bbob" and ds.dim == 2 and sorted(ds.instancenumbers) == [1, 1, 1, 2, 2, 2]
        mine = table[table["dim"].str.contains(f'"function":{ds.funcId},')]
        expected = mine.groupby("target")[["used", "successes"]].sum()  # both instances: one data set
        ert = np.where(expected["successes"] > 0, expected["used"] / expected["successes"].clip(lower=1), np.inf)
        np.testing.assert_allclose(ds.detERT(cocopp_targets(expected.index)), ert, rtol=1e-12)
    ioh = export(bbob_results, tmp_path / "ioh", format="ioh")
    assert sorted(p.name.split("_")[1] for p in (ioh / "gd-armijo").glob("*.json")) == ["f1", "f8"]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["results", "bbob_results"])
def test_cocopp_main_post_processes_the_export_offline(which, request, tmp_path):
    out = export(request.getfixturevalue(which), tmp_path / "coco")
    code = (
        "import warnings, matplotlib; warnings.simplefilter('ignore'); matplotlib.use('Agg')\n"
        "import cocopp\n"
        f"cocopp.main(['-o', {str(tmp_path / 'pp')!r}, '--no-svg', '--no-rld-single-fcts', {str(out / 'gd-armijo')!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ALL done" in done.stdout and "Traceback" not in done.stderr
    assert (tmp_path / "pp" / "index.html").is_file()


def test_ioh_export_reads_back_with_iohinspector(results, tmp_path):
    import iohinspector

    out = export(results, tmp_path / "ioh", format="ioh")
    table = expected_runtimes(results, 1, True)
    for label, (rule, params) in SOLVERS.items():
        manager = iohinspector.DataManager()
        manager.add_folder(str(out / folder_name(label)))
        overview = manager.overview.to_pandas()
        lines = manager.load().to_pandas()
        assert len(overview) == 15 and set(overview["algorithm_name"]) == {label}
        for meta in overview.itertuples(index=False):
            problem = meta.function_name
            rows = lines[lines["data_id"] == meta.data_id]
            mine = table[(table["problem"] == problem) & (table["dim"] == meta.dimension) & (table["step_rule"] == rule)]
            seeds = sorted(mine["seed"].unique())
            seed = seeds[int(meta.run_id) - 1]  # runs are written in seed order
            run = mine[mine["seed"] == seed]
            assert meta.evals == run["spent"].iloc[0]
            assert rows["evaluations"].iloc[0] == 1
            for target, first in zip(run["target"], run["evals"]):
                met = rows.loc[rows["raw_y"] <= target, "evaluations"]
                assert (met.iloc[0] if len(met) else np.nan) == pytest.approx(first, nan_ok=True)


def test_unknown_f_opt_is_estimated_by_the_best_f_and_first_hits_come_from_the_trace(tmp_path):
    (tmp_path / "s.toml").write_text(
        'name = "n"\nseeds = 3\n[budget]\nmax_iter = 40\n[[problems]]\nname = "mlp-xor"\n'
        '[[methods]]\nname = "gd"\nstep_rule = [{ name = "armijo" }, { name = "constant", lr = 1.0 }]\n')
    ob.run_suite(str(tmp_path / "s.toml"), out=str(tmp_path / "res"))
    (runs, trace, _), _ = read_tables(tmp_path / "res")
    assert runs["f_opt"].isna().all()
    estimate = min(runs["f"].min(), trace["f"].min())
    out = export(tmp_path / "res", tmp_path / "coco")
    info = (out / "gd-armijo" / "bbobexp_f1.info").read_text()
    assert "f_opt estimated" in info and "derived from the trace against the estimated f_opt" in info
    mine = trace[trace["step_rule"] == "armijo"].sort_values(["seed", "iteration"])
    targets = [1e-1, 1e-2, 1e-3, 1e-6]
    ds = cocopp().load(str(out / "gd-armijo"))[0]
    arts = ds.detERT(targets)
    assert np.isfinite(arts[0]) and arts[0] > 1
    for target, art in zip(targets, arts):
        used, successes = 0, 0
        for seed, rows in mine.groupby("seed"):
            met = rows[(rows["f"] - estimate).cummin() <= target]
            if len(met):
                row = met.iloc[0]
                used, successes = used + (1 if row["iteration"] == 0 else row["f_evals"] + row["g_evals"]), successes + 1
            else:
                run = runs[(runs["step_rule"] == "armijo") & (runs["seed"] == seed)].iloc[0]
                used += run["f_evals"] + run["g_evals"]
        assert art == (used / successes if successes else np.inf)


def test_ioh_ids_are_stable_and_fit_sixteen_bits(results, tmp_path):
    import json

    first = export(results, tmp_path / "a", format="ioh")
    second = export(results, tmp_path / "b", format="ioh", function_ids="stable")
    names = sorted(p.name for p in (first / "gd-armijo").glob("*.json"))
    assert names == sorted(p.name for p in (second / "gd-armijo").glob("*.json"))
    for path in (first / "gd-armijo").glob("*.json"):
        meta = json.loads(path.read_text())
        assert 1000 <= meta["function_id"] < 65000 and meta["function_name"] in ("sphere", "rosenbrock")


@pytest.mark.parametrize("options, words", [
    ({"format": "iho"}, ["format", "Did you mean 'ioh'"]),
    ({"gradient_cost": 0}, ["gradient_cost", ">= 1"]),
    ({"gradient_cost": 1.5}, ["gradient_cost", "integer"]),
    ({"function_ids": "stabel"}, ["function_ids", "Did you mean 'stable'"]),
])
def test_bad_options_are_one_line_errors_and_write_nothing(results, tmp_path, options, words):
    with pytest.raises(ExportError) as info:
        export(results, tmp_path / "x", **options)
    assert "\n" not in str(info.value) and all(word in str(info.value) for word in words)
    assert not (tmp_path / "x").exists()


def test_missing_results_and_busy_out_are_errors(results, tmp_path):
    with pytest.raises(ExportError, match="runs.parquet is missing"):
        export(tmp_path / "nothing", tmp_path / "x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(results, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_cli_export(results, tmp_path):
    from optbench.cli import main

    assert main(["export", str(results), "--format", "ioh", "--out", str(tmp_path / "e")]) == 0
    assert len(list((tmp_path / "e").glob("*/*.json"))) == 4
    assert main(["export", str(results), "--format", "cocoa", "--out", str(tmp_path / "f")]) == 2
    assert not (tmp_path / "f").exists()


def test_a_tuned_suite_exports_its_evaluation_phase_only(tmp_path):
    from optbench.suite import parse_suite

    suite = parse_suite('name = "t"\nseeds = 2\n[budget]\nmax_iter = 30\n[tuning]\nprotocol = "random"\ntrials = 2\n'
                        'seeds = 2\n[[problems]]\nname = "sphere"\n[[methods]]\nname = "gd"\n'
                        'step_rule = { name = "constant", lr = 0.01 }\ntune = { "step_rule.lr" = { log_uniform = [1e-3, 0.5] } }\n')
    ob.run_suite(suite, out=tmp_path / "res", progress=False)
    runs = read_tables(tmp_path / "res")[0].runs
    assert set(runs["phase"]) == {"tuning", "evaluation"}
    evaluation = runs[runs["phase"] == "evaluation"]
    export(tmp_path / "res", tmp_path / "ioh", format="ioh")
    folders = sorted(p.name for p in (tmp_path / "ioh").iterdir() if p.is_dir())
    # one algorithm folder per evaluated setting (default and selected), none for the trials
    assert len(folders) == evaluation[["method_params", "step_params"]].drop_duplicates().shape[0]
