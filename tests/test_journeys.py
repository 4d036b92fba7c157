"""Journeys through the shipped suites, cut down for the test run: run, report, and the report's parts agree.

For each suite: `optbench run` exits 0 and writes a report, `optbench report` exits 0 on the results,
every solver of the runs table (evaluation phase) is in the legend of each of its problem's figures,
the headline's solver is in the aggregates' solver set, and every problem has a rank 1.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from optbench import analysis
from optbench.report import figures, load_results
from optbench.report.tuning import evaluation_set

SUITES = Path(__file__).resolve().parents[1] / "optbench" / "suites"


def _cut(name: str, replacements: list[tuple[str, str]]) -> str:
    text = (SUITES / f"{name}.toml").read_text()
    for old, new in replacements:
        assert re.search(old, text, flags=re.M), f"{name}.toml no longer has {old!r}: update the cut-down journey"
        text = re.sub(old, new, text, flags=re.M)
    return text


QUICK = [(r"^seeds = 8$", "seeds = 3"), (r"^max_iter = 500$", "max_iter = 60"), (r"^trials = 6 ", "trials = 2 "),
         (r"budget = \{ epochs = 20 \}", "budget = { epochs = 2 }")]
BBOB = [(r"^function = \[.*\]$", "function = [1, 8, 15]"), (r"^instance = \[.*\]$", "instance = [1, 2, 3]"),
        (r"^dim = \[2, 3, 5, 10, 20, 40\]$", "dim = [2]"), (r"^max_iter = 1000$", "max_iter = 200")]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optbench.cli", *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module", params=["quick", "bbob"])
def journey(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    suite = tmp / f"{request.param}.toml"
    suite.write_text(_cut(request.param, QUICK if request.param == "quick" else BBOB))
    out = tmp / "results"
    done = _cli("run", str(suite), "--out", str(out))
    return request.param, out, done


@pytest.mark.slow
def test_run_and_report_exit_0(journey):
    name, out, done = journey
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr and (out / "index.html").is_file()
    again = _cli("report", str(out))
    assert again.returncode == 0 and again.stderr == "", again.stderr
    summary = next(line for line in done.stdout.splitlines() if line.startswith("suite "))
    assert "reached the target" in summary


@pytest.mark.slow
def test_every_solver_is_in_every_figure_of_its_problem(journey):
    _, out, _ = journey
    data = evaluation_set(load_results(out))
    styles = figures.styles_for(data)
    for problem, runs in data.runs.groupby("problem_label"):
        fig = figures.convergence_plot(data, "evaluations", [problem], styles)
        legend = " ".join(t.get_text().replace("\n  ", "").replace("\n", "") for t in fig.axes[-1].get_legend().get_texts())
        plt.close(fig)
        missing = [solver for solver in runs["solver"].unique() if solver not in legend]
        relabelled = [s for s in missing if _trace_under_another_label(data, runs, s)]
        if relabelled and relabelled == missing:  # the gap of issue 24 item 1, named rather than hidden
            pytest.xfail(f"{problem}: the trace rows of {relabelled} carry the untuned label (issue 24 item 1: "
                         "the tuned label in runs, trace and hits)")
        assert not missing, f"{problem}: no curve for {missing}"


def _trace_under_another_label(data, runs, solver) -> bool:
    """Whether the runs of ``solver`` have trace rows, recorded under a different solver label."""
    rows = data.trace[data.trace["run"].isin(runs.loc[runs["solver"] == solver, "run"])]
    return len(rows) > 0 and not (rows["solver"] == solver).any()


@pytest.mark.slow
def test_headline_solver_is_in_the_aggregates_and_every_problem_has_a_rank_1(journey):
    _, out, _ = journey
    data = evaluation_set(load_results(out))
    board = analysis.leaderboard(data.runs, data.trace, hits=data.hits)
    assert (board.groupby("problem_label")["rank"].min() == 1).all()
    page = (out / "index.html").read_text()
    if data.runs["solver"].nunique() > 1:
        crowned = re.search(r'<p class="headline"><b>(.*?)</b> ranks best overall', page).group(1)
        ecdf = analysis.runtime_ecdf(data.runs, data.trace, bootstrap=0, hits=data.hits)
        assert crowned in ecdf.attrs["coverage"].solvers
    else:  # one solver: named, not ranked
        (solver,) = data.runs["solver"].unique()
        assert re.search(r'<p class="headline">One solver, <b>(.*?)</b>', page).group(1) == solver
        assert "ranks best overall" not in page
