"""Reports of large suites: numeric order of problems, bbob's function groups, the compact table, the capped terminal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import optbench as ob
from optbench.report import html as report_html
from optbench.report.data import load_results
from optbench.report.grouping import natural_order, problem_groups, subset


def test_numbers_in_labels_sort_as_numbers():
    labels = ["sphere(dim=10)", "sphere(dim=2)", "bbob(dim=2, function=11)", "bbob(dim=2, function=2)", "sphere(dim=2.5)"]
    assert natural_order(labels) == ["bbob(dim=2, function=2)", "bbob(dim=2, function=11)", "sphere(dim=2)",
                                     "sphere(dim=2.5)", "sphere(dim=10)"]


def _bbob_runs(functions, dims) -> pd.DataFrame:
    rows = [{"problem": "bbob", "problem_params": json.dumps({"dim": d, "function": f, "instance": 1}), "dim": d,
             "problem_label": f"bbob(dim={d}, function={f}, instance=1)"} for f in functions for d in dims]
    return pd.DataFrame(rows)


def test_bbob_problems_group_by_cocos_function_groups_and_by_dimension():
    groups = problem_groups(_bbob_runs(range(1, 25), [2, 10]))
    # COCO's groups: separable 1-5, moderate 6-9, ill-conditioned 10-14, multimodal 15-19, weakly structured 20-24
    sizes = {title.split(" (")[0]: len(labels) for title, labels in groups.items()}
    assert sizes == {"bbob separable": 10, "bbob moderate conditioning": 8, "bbob ill-conditioned": 10,
                     "bbob multimodal, adequate structure": 10, "bbob multimodal, weak structure": 10,
                     "dimension 2": 24, "dimension 10": 24}
    assert "bbob(dim=2, function=10, instance=1)" in groups["bbob ill-conditioned (f10-f14)"]
    assert groups["dimension 2"][:2] == ["bbob(dim=2, function=1, instance=1)", "bbob(dim=2, function=2, instance=1)"]
    assert problem_groups(_bbob_runs([1, 2, 3], [2])) == {}  # one group, one dimension: nothing to split


def test_subset_renumbers_runs_and_keeps_the_analysis_of_its_problems():
    from optbench import analysis

    results = [ob.run(p, "gd", "armijo", seeds=3, max_iter=50) for p in ({"name": "sphere", "dim": 2}, {"name": "quadratic", "dim": 5})]
    data = load_results(results)
    alone = load_results(results[1])
    part = subset(data, ["quadratic(dim=5)"])
    assert list(part.runs["run"]) == [0, 1, 2] and set(part.trace["run"]) == {0, 1, 2}
    pd.testing.assert_frame_equal(analysis.runtime_ecdf(part.runs, part.trace, hits=part.hits, bootstrap=0),
                                  analysis.runtime_ecdf(alone.runs, alone.trace, hits=alone.hits, bootstrap=0))


def test_group_ecdfs_from_one_hit_matrix_equal_each_group_analysed_alone():
    from optbench import analysis

    problems = ({"name": "sphere", "dim": 2}, {"name": "quadratic", "dim": 5}, {"name": "rosenbrock", "dim": 2})
    results = [ob.run(p, m, "armijo", seeds=3, max_iter=60) for p in problems for m in ("gd", "nesterov")]
    data = load_results(results)
    groups = {"two": ["sphere(dim=2)", "rosenbrock(dim=2)"], "five": ["quadratic(dim=5)"], "all": ["sphere(dim=2)",
              "quadratic(dim=5)", "rosenbrock(dim=2)"]}  # overlapping groups, as bbob's function groups and dimensions
    tables = analysis.runtime_ecdf_groups(data.runs, data.trace, groups, hits=data.hits)
    for title, labels in groups.items():
        alone = subset(data, labels)
        expected = analysis.runtime_ecdf(alone.runs, alone.trace, hits=alone.hits, bootstrap=0)
        pd.testing.assert_frame_equal(tables[title], expected, check_exact=True)
        assert tables[title].attrs["coverage"] == expected.attrs["coverage"]
    banded = analysis.runtime_ecdf_groups(data.runs, data.trace, groups, hits=data.hits, bands=["all"], bootstrap=50, seed=3)
    pd.testing.assert_frame_equal(banded["all"], analysis.runtime_ecdf(data.runs, data.trace, hits=data.hits, bootstrap=50,
                                                                       seed=3), check_exact=True)
    assert (banded["all"]["lower"] < banded["all"]["upper"]).any() and banded["five"]["lower"].equals(banded["five"]["upper"])


def test_many_problems_give_one_compact_table_instead_of_sections(tmp_path, monkeypatch):
    results = [ob.run({"name": "sphere", "dim": d}, "gd", "armijo", seeds=2, max_iter=30) for d in (2, 3, 10)]
    monkeypatch.setattr(report_html, "DETAIL_LIMIT", 2)
    text = ob.report(results, tmp_path, bootstrap=0).read_text()
    assert "3 problems: more than 2, so one row each" in text and 'id="problem-0"' not in text
    assert text.index("sphere(dim=2)") < text.index("sphere(dim=10)")


def test_a_report_with_many_problem_sections_writes_its_figures_beside_it(tmp_path, monkeypatch):
    import re

    results = [ob.run({"name": "sphere", "dim": d}, "gd", "armijo", seeds=2, max_iter=30) for d in (2, 3)]
    inline = ob.report(results, tmp_path / "small", bootstrap=0).read_text()
    assert "data:image/png;base64," in inline and not (tmp_path / "small" / "figures").exists()
    monkeypatch.setattr(report_html, "FILES_ABOVE", 1)
    page = ob.report(results, tmp_path / "large", bootstrap=0).read_text()
    sources = re.findall(r'<img alt="[^"]*" src="([^"]+)"', page)
    files = sorted((tmp_path / "large" / "figures").glob("*.png"))
    assert "data:image/png" not in page and len(sources) == len(files) == len(re.findall(r"<img ", inline)) > 4
    assert sorted(tmp_path / "large" / src for src in sources) == files
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in files)


def test_the_terminal_leaderboard_is_capped(capsys):
    from optbench.cli import _print_leaderboard

    results = [ob.run({"name": "sphere", "dim": d}, "gd", "armijo", seeds=2, max_iter=30) for d in (2, 3, 10)]
    runs = pd.concat([r.runs for r in results], ignore_index=True)
    trace = pd.concat([r.trace for r in results], ignore_index=True)
    _print_leaderboard(runs, trace, problems=2)
    out = capsys.readouterr().out
    assert "sphere(dim=2)" in out and "sphere(dim=3)" in out and "sphere(dim=10)" not in out
    assert "... 1 more problems (3 in all)" in out
