"""Report figures: distinct styles for 13 solvers, legends kept by savefig, honest drawings (diverged runs, n, stops)."""

from __future__ import annotations

import io
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

import optbench as ob
from optbench.report import figures, load_results, report
from optbench.report.styles import styles_from_names

LRS_13 = tuple(np.round(np.geomspace(0.01, 0.6, 12), 4)) + (1.2,)  # 13 solvers; 1.2 diverges on the sphere


@pytest.fixture(scope="module")
def thirteen():
    """13 solvers (gd at 13 learning rates) on the sphere and a quadratic, 3 seeds each."""
    out = []
    for problem in ("sphere", {"name": "quadratic", "dim": 4}):
        out += [ob.run(problem, "gd", {"name": "constant", "lr": float(lr)}, seeds=3, max_iter=120) for lr in LRS_13]
    return load_results(out)


FIGURES = {
    "convergence": lambda data, styles: figures.convergence_plot(data, styles=styles),
    "iterations": lambda data, styles: figures.iterations_plot(data, "sphere(dim=2)", styles=styles),
    "step size": lambda data, styles: figures.step_size_plot(data, styles=styles),
    "grad norm": lambda data, styles: figures.grad_norm_plot(data, styles=styles),
    "ecdf": lambda data, styles: figures.ecdf_plot(data, styles=styles, bootstrap=20),
    "performance profile": lambda data, styles: figures.performance_profile_plot(data, styles=styles),
    "data profile": lambda data, styles: figures.data_profile_plot(data, styles=styles),
    "sensitivity": lambda data, styles: figures.sensitivity_plot(data),
    "fixed-budget ecdf": lambda data, styles: figures.budget_ecdf_plot(data, styles=styles, bootstrap=20),
}


def _style(line) -> tuple:
    return (to_rgba(line.get_color())[:3], str(line.get_linestyle()), str(line.get_marker()))


@pytest.mark.parametrize("name", list(FIGURES))
def test_no_two_lines_of_an_axes_share_colour_dash_and_marker(thirteen, name):
    styles = figures.styles_for(thirteen)
    fig = FIGURES[name](thirteen, styles)
    drawn = 0
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if line.get_linestyle() not in ("None", "none", "")
                 and len(line.get_xdata()) > 1]
        styles_seen = [_style(line) for line in lines]
        assert len(styles_seen) == len(set(styles_seen)), f"{name}: two lines share colour, dash and marker"
        drawn += len(lines)
    assert drawn >= 12 if name != "sensitivity" else drawn >= 1
    plt.close(fig)


def test_styles_are_unique_for_many_solvers():
    names = [f"solver {i}" for i in range(280)]
    styles = styles_from_names(names)
    triples = {(s.color, str(s.dash), s.marker) for s in styles.by_solver.values()}
    assert len(triples) == 280


@pytest.mark.parametrize("name", list(FIGURES) + ["final gap", "rank heatmap"])
def test_saved_figure_contains_its_legend(thirteen, name, tmp_path):
    styles = figures.styles_for(thirteen)
    if name == "final gap":
        fig = figures.final_gap_plot(thirteen, styles=styles)
    elif name == "rank heatmap":
        fig = figures.rank_heatmap(thirteen)
    else:
        fig = FIGURES[name](thirteen, styles)
    path = tmp_path / "figure.png"
    fig.savefig(path)  # default bbox and dpi: the canvas as it is
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    if name in ("final gap", "rank heatmap"):  # labelled on the axes, no legend: every tick label is on the canvas
        panels = fig.axes[:1] if name == "rank heatmap" else fig.axes  # not the colour bar's (unshown) ticks
        texts = [t for ax in panels for t in ax.get_yticklabels() if t.get_text()]
    else:
        assert legends, f"{name} has no legend"
        texts = [t for legend in legends for t in legend.get_texts()]
        labels = " ".join(t.get_text().replace("\n  ", "").replace("\n", "") for t in texts)
        assert ("gd + constant" if name == "sensitivity" else "gd + constant(lr=0.01)") in labels
    canvas = fig.bbox
    for text in texts + legends:
        box = text.get_window_extent(renderer)
        assert box.x0 >= canvas.x0 - 1 and box.y0 >= canvas.y0 - 1 and box.x1 <= canvas.x1 + 1 and box.y1 <= canvas.y1 + 1, \
            f"{name}: {getattr(text, 'get_text', lambda: 'legend')()} is outside the saved canvas"
    plt.close(fig)


def test_diverged_runs_end_in_a_marker_and_curves_stop_where_runs_stopped(thirteen):
    styles = figures.styles_for(thirteen)
    fig = figures.convergence_plot(thirteen, axis="iterations", problems=["sphere(dim=2)"], styles=styles)
    ax = fig.axes[0]
    diverging = styles["gd + constant(lr=1.2)"]
    markers = [line for line in ax.get_lines() if line.get_marker() == "X"]
    # |1 - 2 lr| = 1.4 > 1: every run of lr = 1.2 diverges; its last recorded iteration, from the raw trace
    trace = thirteen.trace[(thirteen.trace["problem_label"] == "sphere(dim=2)") & (thirteen.trace["solver"] == "gd + constant(lr=1.2)")]
    last = trace.groupby("seed")["iteration"].max()
    assert (thirteen.runs.loc[thirteen.runs["solver"] == "gd + constant(lr=1.2)", "status"] == "diverged").all()
    xs = sorted(float(line.get_xdata()[0]) for line in markers if to_rgba(line.get_color())[:3] == to_rgba(diverging.color)[:3])
    assert xs == sorted(last.astype(float).tolist())
    # no median line for a solver all of whose runs diverged
    solid = [line for line in ax.get_lines() if line.get_linestyle() not in ("None", "none") and _style(line) == _style_of(diverging)]
    assert solid == []
    # each curve ends at or before its own runs' last iteration
    for line in ax.get_lines():
        if line.get_marker() == "X" or len(line.get_xdata()) < 2:
            continue
        owner = next(s for s in styles.order if _style_of(styles[s]) == _style(line))
        reach = thirteen.trace.loc[(thirteen.trace["solver"] == owner) & (thirteen.trace["problem_label"] == "sphere(dim=2)"), "iteration"].max()
        assert np.max(line.get_xdata()) <= reach
    plt.close(fig)


def _style_of(style) -> tuple:
    line = plt.Line2D([], [], color=style.color, linestyle=style.dash, marker=style.marker)
    return _style(line)


def test_every_box_row_says_its_n(thirteen):
    fig = figures.final_gap_plot(thirteen, problems=["sphere(dim=2)"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    runs = thirteen.runs[thirteen.runs["problem_label"] == "sphere(dim=2)"]
    for solver, group in runs.groupby("solver"):
        finished = int(group["status"].isin(["converged", "budget"]).sum())
        assert any(label.startswith(f"{solver}  n={finished}/{len(group)}") for label in labels)
    assert any("(3 diverged)" in label for label in labels)
    plt.close(fig)


def test_report_is_callable_after_importing_figures(tmp_path):
    code = ("import optbench as ob\nimport optbench.report.figures\n"
            "res = ob.run('sphere', 'gd', {'name': 'constant', 'lr': 0.1}, seeds=2, max_iter=10)\n"
            f"print(ob.report(res, out={str(tmp_path)!r}, bootstrap=10))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "index.html").is_file()


def test_single_solver_report_leaves_out_comparisons(tmp_path):
    res = ob.run("sphere", "gd", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=30)
    text = report(res, tmp_path, bootstrap=10).read_text()
    assert 'alt="convergence on sphere(dim=2)"' in text and "step size, grad norm on sphere(dim=2)" in text
    assert 'alt="runtime ECDF"' in text  # one solver still shows its ECDF, as cocopp does
    for absent in ("performance profile", "data profile", "rank heatmap", "final gaps on"):
        assert f'alt="{absent}' not in text
    assert "One solver: the figures that compare solvers" in text and ">best</td>" not in text  # no "best" of one


def test_a_problem_with_nan_everywhere_does_not_stop_the_report(tmp_path):
    good = ob.run("sphere", "gd", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=30)
    other = ob.run("sphere", "adam", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=30)
    broken = ob.run({"name": "quadratic", "dim": 3}, "gd", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=30)
    nan_runs = broken.runs.assign(f=np.nan, f_gap=np.nan, f_opt=np.nan, status="diverged")
    nan_trace = broken.trace.assign(f=np.nan, f_gap=np.nan, grad_norm=np.nan, step_size=np.nan)
    runs = pd.concat([good.runs, other.runs, nan_runs], ignore_index=True)
    trace = pd.concat([good.trace, other.trace, nan_trace], ignore_index=True)
    text = report((runs, trace), tmp_path, bootstrap=10).read_text()
    section = text[text.index("quadratic(dim=3) <span>"):]
    section = section[:section.index("</details>")]
    assert "Not drawn: convergence curves and final gaps" in section
    assert "Not drawn: step size" in section and "Not drawn: gradient norm" in section
    assert 'alt="convergence on sphere(dim=2)"' in text  # the other problem is drawn as usual


def test_accuracy_plot_with_13_solvers_has_distinct_lines_and_its_legend():
    """A classification problem (logistic regression records accuracy): 13 lines, 13 styles, the legend on the canvas."""
    results = [ob.run("logistic-regression", "gd", {"name": "constant", "lr": float(lr)}, seeds=2, max_iter=20)
               for lr in LRS_13]
    data = load_results(results)
    assert "accuracy" in data.trace and np.isfinite(data.trace["accuracy"].to_numpy(dtype=float)).any()
    fig = figures.accuracy_plot(data)
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) > 1]
    assert len(lines) == 13 and len({_style(line) for line in lines}) == 13
    fig.savefig(io.BytesIO(), format="png")
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert fig.bbox.x0 - 1 <= box.x0 and box.x1 <= fig.bbox.x1 + 1 and fig.bbox.y0 - 1 <= box.y0 and box.y1 <= fig.bbox.y1 + 1
    plt.close(fig)


def test_cd_diagram_draws_every_solver_at_its_average_rank(thirteen):
    from optbench import analysis, stats

    board = analysis.leaderboard(thirteen.runs, thirteen.trace)
    result = stats.friedman(board)
    fig = figures.cd_diagram(result)
    texts = {t.get_text() for t in fig.axes[0].texts}
    # average ranks from the leaderboard's rank matrix, computed here with pandas
    average = board.pivot(index="problem_label", columns="solver", values="rank").rank(axis=1).mean()
    for solver, rank in average.items():
        assert f"{solver} ({rank:.2f})" in texts
    plt.close(fig)


def test_rank_heatmap_leaves_cells_that_never_ran_blank():
    import matplotlib.pyplot as plt

    a = ob.run({"name": "sphere", "dim": 2}, "gd", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=20)
    b = ob.run({"name": "rosenbrock", "dim": 2}, "gd", {"name": "constant", "lr": 0.001}, seeds=3, max_iter=20)
    c = ob.run({"name": "sphere", "dim": 2}, "adam", {"name": "constant", "lr": 0.1}, seeds=3, max_iter=20)
    fig = figures.rank_heatmap([a, b, c])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "nan" not in texts and len(texts) == 3  # adam never ran rosenbrock: 3 of the 4 cells have a rank
    plt.close(fig)


def test_diverged_runs_do_not_set_the_y_limits_and_are_marked_at_the_top(thirteen):
    trace, runs = thirteen.trace, thirteen.runs
    sphere = runs["problem_label"] == "sphere(dim=2)"
    bad = runs.loc[sphere & (runs["status"] == "diverged"), "run"]
    good = runs.loc[sphere & (runs["status"] != "diverged"), "run"]
    norm = trace["grad_norm"].to_numpy(dtype=float)
    finite = np.isfinite(norm)
    largest_good = norm[finite & trace["run"].isin(good).to_numpy()].max()
    largest_bad = norm[finite & trace["run"].isin(bad).to_numpy()].max()
    assert len(bad) and largest_bad > 1e6 * largest_good  # the premise: diverged runs reach huge gradient norms
    fig = figures.iterations_plot(thirteen, "sphere(dim=2)", columns=("grad_norm",))
    ax = fig.axes[0]
    assert ax.get_ylim()[1] < 10 * largest_good
    # one X per (solver, last iteration) at the top edge (axes coordinates), however many runs share it
    marks = [line for line in ax.get_lines() if line.get_marker() == "X" and line.get_linestyle() in ("None", "none")]
    last = trace[trace["run"].isin(bad)].groupby("run")[["solver", "iterations"]].max()
    assert len(marks) == len(last.drop_duplicates())
    assert all(0.5 < line.get_ydata()[0] <= 1 for line in marks)
    plt.close(fig)


def test_a_problem_mixing_batch_sizes_is_drawn_against_epochs(tmp_path):
    # full-batch gd and minibatch gd on one finite sum: their evaluations are not comparable, epochs are
    problem = {"name": "logistic-regression"}
    out = [ob.run(problem, "gd", {"name": "constant", "lr": 0.5}, seeds=2, max_iter=30),
           ob.run(problem, "gd", {"name": "constant", "lr": 0.5}, seeds=2, max_iter=30, batch_size=16)]
    data = load_results(out)
    [label] = data.runs["problem_label"].unique()
    text = report(data, tmp_path / "r", bootstrap=0).read_text()
    assert "x axis: epochs, the one cost full-batch and minibatch solvers share" in text
    fig = figures.convergence_plot(data, "epochs")
    assert fig.axes[0].get_xlabel() == ob.analysis.AXIS_LABELS["epochs"]
    # full batch: one epoch per iteration, so its curve reaches about max_iter epochs
    assert np.isclose(data.runs.loc[data.runs["batch_size"].isna(), "epochs"].max(), 30, atol=1)
    plt.close(fig)
    single = report(load_results(out[:1]), tmp_path / "one", bootstrap=0).read_text()
    assert "x axis: epochs" not in single and label in single
