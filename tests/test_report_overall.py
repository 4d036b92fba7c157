"""One solver set per statement: the headline, significance line and aggregates use the common-coverage block;
oracle rules (a step rule that requires f_opt) are marked and not crowned "best overall" unless asked."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench import analysis
from optbench.report import figures, load_results, report
from optbench.report.overall import block, oracle_solvers
from optbench.report.sections import with_rank
from optbench.oracles import ORACLE_MARK

PROBLEMS = ("sphere", {"name": "quadratic", "dim": 5}, {"name": "rosenbrock", "dim": 3})


def _runs(problems_of_polyak):
    out = []
    for problem in PROBLEMS:
        out.append(ob.run(problem, "gd", {"name": "constant", "lr": 0.01}, seeds=5, max_iter=60))
        out.append(ob.run(problem, "adam", {"name": "constant", "lr": 0.05}, seeds=5, max_iter=60))
    for problem in problems_of_polyak:
        out.append(ob.run(problem, "gd", {"name": "polyak"}, seeds=5, max_iter=60))
    return out


def _headline(page) -> str:
    return re.search(r'<p class="headline">(.*?)</p>', page.read_text()).group(1)


def test_oracle_detection_from_the_rules_requires():
    data = load_results(_runs(PROBLEMS[:1]))
    assert oracle_solvers(data.runs) == {"gd + polyak"}
    # Polyak with estimate=True needs no f_opt: not an oracle
    estimate = load_results([ob.run("sphere", "gd", {"name": "polyak", "estimate": True}, seeds=2, max_iter=5)])
    assert oracle_solvers(estimate.runs) == frozenset()


def test_headline_uses_the_common_block_and_names_who_was_left_out(tmp_path):
    data = load_results(_runs(PROBLEMS[:1]))  # polyak ran 1 of 3 problems: the block is 2 solvers x 3 problems
    text = _headline(report(data, tmp_path / "r", bootstrap=20))
    assert "over the 3 problems all 2 compared solvers ran" in text
    assert "Left out for partial coverage: gd + polyak (1 of 3 problems)" in text
    # the crowned solver and its mean rank, computed here from the final gaps with pandas: median over all runs
    # (diverged = inf), ranks among the two compared solvers, ties sharing the best rank
    runs = data.runs[data.runs["solver"] != "gd + polyak"]
    gap = np.where(runs["status"] == "diverged", np.inf, runs["f_gap"].to_numpy(dtype=float))
    medians = runs.assign(g=np.maximum(gap, 1e-12)).groupby(["problem_label", "solver"])["g"].median()
    ranks = medians.groupby(level="problem_label").rank(method="min").groupby(level="solver").mean().sort_values()
    crowned = re.search(r"<b>(.*?)</b> ranks best overall \(mean rank ([0-9.]+)", text)
    assert crowned.group(1) == ranks.index[0] and float(crowned.group(2)) == pytest.approx(ranks.iloc[0], abs=0.005)
    # the ECDF compares the same solvers
    ecdf = analysis.runtime_ecdf(data.runs, data.trace, bootstrap=0)
    assert crowned.group(1) in ecdf.attrs["coverage"].solvers and "gd + polyak" not in ecdf.attrs["coverage"].solvers
    said = re.search(r"Significance: (.*?) is best or tied on \d+ of the (\d+) problems", text)
    assert said.group(1) in ("gd + constant(lr=0.01)", "adam + constant(lr=0.05)") and said.group(2) == "3"


def test_oracle_rule_is_marked_and_not_crowned_unless_asked(tmp_path):
    data = load_results(_runs(PROBLEMS))
    rows, _ = block(with_rank(analysis.leaderboard(data.runs, data.trace)), data.runs)
    mean = rows.groupby("solver")["rank"].mean().sort_values()
    assert mean.index[0] == "gd + polyak"  # the premise: the oracle has the best mean rank
    page = report(data, tmp_path / "r", bootstrap=20)
    text = _headline(page)
    assert not text.startswith("<b>gd + polyak</b>") and "Oracle rules, which use the known f_opt and are not crowned: gd + polyak" in text
    assert "Significance: gd + polyak" not in text
    html = page.read_text()
    assert f"gd + polyak{ORACLE_MARK}" in html  # in the tables
    asked = _headline(report(data, tmp_path / "asked", bootstrap=20, crown_oracles=True))
    assert asked.startswith("<b>gd + polyak</b> ranks best overall")
    fig = figures.convergence_plot(data)
    legend = [t.get_text().replace("\n", " ") for t in fig.axes[-1].get_legend().get_texts()]
    assert any(t.startswith("gd + polyak") and "[oracle: uses f_opt]" in t.replace("  ", " ") for t in legend)
    assert not any(t.startswith("adam") and "oracle" in t for t in legend)


def test_terminal_leaderboard_marks_the_oracle(capsys):
    from optbench.cli import _print_leaderboard

    results = _runs(PROBLEMS[:1])
    _print_leaderboard(pd.concat([r.runs for r in results]), pd.concat([r.trace for r in results]))
    lines = capsys.readouterr().out.splitlines()
    assert any(f"gd + polyak{ORACLE_MARK}" in line for line in lines)
    assert not any("adam" in line and "oracle" in line for line in lines)


def test_a_one_solver_report_counts_what_reached_the_target_and_ranks_nothing(tmp_path):
    results = [ob.run(p, "gd", {"name": "constant", "lr": 0.05}, seeds=4, max_iter=200) for p in PROBLEMS]
    data = load_results(results)
    page = report(data, tmp_path / "r", bootstrap=0)
    text = _headline(page)
    assert "ranks best" not in text and "wins" not in text
    # reached: some recorded point of the run has f - f_opt <= 1e-6, counted here from the traces of ob.run
    reached = [(r.trace.groupby("seed")["f_gap"].min() <= 1e-6) for r in results]
    runs, problems = sum(int(s.sum()) for s in reached), sum(bool(s.any()) for s in reached)
    diverged = sum(int((r.runs["status"] == "diverged").sum()) for r in results)
    assert f"One solver, <b>gd + constant(lr=0.05)</b>, on 3 problems: f − f_opt ≤ 1e-06 reached in {runs} of 12 runs, " \
           f"on {problems} of 3 problems. 12 runs: {diverged} diverged." == text
    assert 0 < runs < 12 and diverged > 0  # the test can tell reached from not reached, and counts failures
    assert "1 solver," in page.read_text()


def test_one_solver_has_no_ranking_and_a_long_leaderboard_starts_folded(tmp_path, monkeypatch):
    from optbench.report import sections

    results = [ob.run(p, "gd", {"name": "constant", "lr": 0.01}, seeds=2, max_iter=20) for p in PROBLEMS]
    page = report(load_results(results), tmp_path / "one", bootstrap=0).read_text()
    assert 'id="ranking"' not in page and 'href="#ranking"' not in page
    assert "<details><summary>" not in page.split('id="leaderboard"')[1].split("</table>")[0]  # 3 rows: open
    monkeypatch.setattr(sections, "FOLD_ROWS", 2)
    page = report(load_results(results), tmp_path / "folded", bootstrap=0).read_text()
    after = page.split('id="leaderboard"')[1]
    assert after.index("<details><summary>3 rows over 3 problems") < after.index("<table")
    assert after.count("gd + constant(lr=0.01)") >= 3  # the rows are still in the page
