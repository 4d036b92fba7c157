"""The self-contained HTML report: one ``index.html`` with every figure embedded as a base64 PNG.

It opens offline (from an e-mail attachment, with no server): no script, no
external style sheet, font or image. Sections: provenance, notes on what was
estimated, the leaderboard (best per problem highlighted), the summary figures,
one section per problem, and the failures table.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import time
from pathlib import Path
from typing import Any, Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from optbench import analysis
from optbench.registry import ParameterError
from optbench.report import figures
from optbench.report.data import ResultSet, load_results

__all__ = ["report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 0 1.5em 3em; color: #222; line-height: 1.45; }
h1 { margin-top: 1em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td.text, th.text { text-align: left; }
.scroll { overflow-x: auto; } img { max-width: 100%; height: auto; display: block; margin: .5em 0; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4em .8em; margin: .5em 0; }
.toc a { margin-right: 1em; } code, pre { background: #f6f6f6; padding: 0 .2em; }
pre { padding: .5em; overflow-x: auto; font-size: 12px; }
"""

LEADERBOARD_COLUMNS = {
    "problem_label": "problem", "solver": "solver", "n_runs": "runs", "f_gap_median": "final gap median",
    "f_gap_q25": "q25", "f_gap_q75": "q75", "f_best": "best f", "diverged_rate": "diverged", "error_rate": "error",
    "timeout_rate": "timeout", "iterations_to_target": "iters to target", "evaluations_to_target": "evals to target",
    "time_to_target": "s to target", "ert": "ERT (evals)",
}


def _png(fig: plt.Figure, dpi: int = 90) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(fig: plt.Figure | None, alt: str, caption: str = "") -> str:
    if fig is None:
        return ""
    text = f"<p>{html.escape(caption)}</p>" if caption else ""
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">{text}</figure>'


def _number(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "–"
        if np.isinf(value):
            return "∞"
        return f"{value:.3g}"
    return html.escape(str(value))


def _leaderboard_html(board: pd.DataFrame) -> str:
    """The leaderboard as a pandas Styler: the best median final gap of each problem in bold green."""
    columns = [c for c in LEADERBOARD_COLUMNS if c in board] + [c for c in board if c.startswith("success@")]
    table = board[columns].rename(columns=LEADERBOARD_COLUMNS).reset_index(drop=True)
    best = board.groupby("problem_label")["f_gap_median"].transform("min")
    is_best = (board["f_gap_median"] == best).to_numpy() & board["f_gap_median"].notna().to_numpy()

    def highlight(row: pd.Series) -> list[str]:
        style = "font-weight: bold; background-color: #d9f2d9" if is_best[row.name] else ""
        return [style if column in ("solver", "final gap median") else "" for column in row.index]

    styler = (table.style.apply(highlight, axis=1).format(_number)
              .set_table_attributes('class="leaderboard"').hide(axis="index")
              .set_properties(subset=["problem", "solver"], **{"text-align": "left"}))
    return styler.to_html()


def _plain_table(frame: pd.DataFrame, css_class: str) -> str:
    if frame.empty:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="text">{html.escape(str(v))}</td>' if isinstance(v, str) else f"<td>{_number(v)}</td>" for v in row
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _provenance_html(provenance: dict[str, Any], source: str) -> str:
    items = {"source": source, **{k: v for k, v in provenance.items() if k != "suite_text"}}
    rows = "".join(
        f'<tr><th class="text">{html.escape(str(k))}</th><td class="text">'
        f"{html.escape(' '.join(map(str, v)) if isinstance(v, list) else str(v))}</td></tr>"
        for k, v in items.items() if v not in (None, "")
    )
    suite = provenance.get("suite_text")
    suite_html = f"<details><summary>suite file</summary><pre>{html.escape(suite)}</pre></details>" if suite else ""
    return f'<table class="provenance">{rows}</table>{suite_html}'


def _notes(data: ResultSet, axis: str, target: float, tau: float) -> list[str]:
    notes = []
    estimated = analysis.estimated_problems(data.runs)
    if estimated:
        notes.append("f_opt is unknown for " + ", ".join(estimated) + ": the best value found over the whole result set "
                     "(runs that neither diverged nor failed) stands in, so their gaps are relative to that estimate.")
    notes.append("Medians and quartiles of the final gap are over finished runs (converged or budget); diverged, errored "
                 "and timed-out runs are left out of them and counted in their own rates and in the failures table.")
    notes.append("Runtimes to a target are read at the first recorded trace row that meets it; when the trace holds "
                 "log-spaced checkpoints (record='log') they are upper bounds, late by at most the checkpoint spacing.")
    notes.append(f"Evaluations = f-evaluations + gradient evaluations (line-search trials charged). ERT at f − f_opt ≤ "
                 f"{target:g} = evaluations of all runs (successful runs counted until the target) / successful runs.")
    notes.append(f"Profiles use Moré and Wild's test f − f_opt ≤ {tau:g} (f(x0) − f_opt) per (problem, seed); "
                 "every solver starts a seed from the same point. Convergence curves carry each run's best-so-far gap "
                 "forward onto a common grid (a run that stopped keeps its last value); gaps below 1e-16 are drawn at 1e-16.")
    return notes


def report(results: Any, out: str | Path | None = None, *, axis: str = "evaluations", target: float = 1e-6,
           targets: Iterable[float] | None = None, tau: float = 1e-3, title: str | None = None,
           bootstrap: int = 200, timings: dict[str, float] | None = None) -> Path:
    """Write the self-contained ``index.html`` report of ``results`` into ``out`` and return its path.

    ``results``: a results directory, a RunResult, a list of RunResults or a (runs,
    trace) pair. ``out``: the report directory (default: the results directory
    itself, else ``./reports``). ``axis``: x axis of the convergence curves and
    runtimes (``iterations``, ``evaluations``, ``f_evals``, ``g_evals``, ``epochs``,
    ``time``). ``target``: the gap for the leaderboard's runtimes and ERT;
    ``targets``: the ECDF ladder (COCO's 10^2 … 10^-8 by default); ``tau``: the
    profiles' tolerance. ``timings``, if a dict, receives seconds per stage.
    """
    analysis._check_axis(axis)
    clock = time.perf_counter()
    stages = timings if timings is not None else {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = stages.get(name, 0.0) + now - clock
        clock = now

    data = load_results(results)
    if out is None:
        out = Path(results) if isinstance(results, (str, Path)) else Path("reports")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out must be a directory, and {str(out)!r} is a file")
    out.mkdir(parents=True, exist_ok=True)
    lap("load")
    styles = figures.styles_for(data)
    board = analysis.leaderboard(data.runs, data.trace, target=target)
    failed = analysis.failures(data.runs)
    lap("leaderboard")

    suite = data.provenance.get("suite") or next((s for s in data.runs.get("suite", pd.Series(dtype=str)).unique() if s), "")
    heading = title or (f"optbench report: {suite}" if suite else "optbench report")
    problems = sorted(data.runs["problem_label"].unique())
    parts = [f"<h1>{html.escape(heading)}</h1>",
             f"<p>{len(data.runs)} runs, {len(problems)} problems, {data.runs['solver'].nunique()} solvers, "
             f"{len(data.trace)} trace rows. Generated {_dt.datetime.now().isoformat(timespec='seconds')}.</p>",
             '<p class="toc"><a href="#provenance">provenance</a><a href="#notes">notes</a><a href="#leaderboard">leaderboard</a>'
             '<a href="#figures">figures</a><a href="#problems">problems</a><a href="#failures">failures</a></p>',
             '<h2 id="provenance">Suite and provenance</h2>', _provenance_html(data.provenance, data.source),
             '<h2 id="notes">Notes on what was estimated</h2>']
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in _notes(data, axis, target, tau)]
    parts += ['<h2 id="leaderboard">Leaderboard</h2>',
              f"<p>Per problem and solver; best median final gap of each problem highlighted. Success rates: fraction of "
              f"runs whose best gap reached the target. Runtimes and ERT at f − f_opt ≤ {target:g}.</p>",
              f'<div class="scroll">{_leaderboard_html(board)}</div>']
    lap("tables")

    parts.append('<h2 id="figures">Summary figures</h2>')
    parts.append(_figure(figures.ecdf_plot(data, targets, axis=axis, styles=styles, bootstrap=bootstrap),
                         "runtime ECDF", "Fraction of (problem, target, seed) triples solved against runtime per dimension, "
                         "with 95 % bootstrap bands (runs resampled within each problem)."))
    lap("ecdf")
    parts.append(_figure(figures.performance_profile_plot(data, tau=tau, styles=styles), "performance profile"))
    parts.append(_figure(figures.data_profile_plot(data, tau=tau, styles=styles), "data profile"))
    lap("profiles")
    parts.append(_figure(figures.rank_heatmap(data), "rank heatmap"))
    parts.append(_figure(figures.final_gap_plot(data, styles=styles), "final gap distribution",
                         "Final gap over seeds of finished runs."))
    sensitivity = figures.sensitivity_plot(data, styles=styles)
    if sensitivity is not None:
        parts.append("<h3>Learning-rate sensitivity</h3>" + _figure(sensitivity, "learning-rate sensitivity"))
    lap("summary figures")

    parts.append('<h2 id="problems">Problems</h2>')
    for index, problem in enumerate(problems):
        rows = board[board["problem_label"] == problem]
        parts.append(f'<h3 id="problem-{index}">{html.escape(problem)}</h3>')
        parts.append(_figure(figures.convergence_plot(data, axis=axis, problems=[problem], styles=styles),
                             f"convergence on {problem}", "Median best-so-far gap over seeds, interquartile band."))
        summary = rows[["solver", "n_runs", "f_gap_median", "success@1e-6" if "success@1e-6" in rows else "n_runs", "ert"]]
        parts.append(_plain_table(summary.loc[:, ~summary.columns.duplicated()], "problem-summary"))
    lap("convergence figures")

    parts.append('<h2 id="failures">Failures</h2>')
    parts.append("<p>Runs that diverged, raised an error or timed out.</p>")
    parts.append(_plain_table(failed, "failures"))
    document = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{html.escape(heading)}</title><style>{_CSS}</style></head><body>"
                + "\n".join(p for p in parts if p) + "</body></html>\n")
    path = out / "index.html"
    temporary = path.with_name("index.html.tmp")
    temporary.write_text(document, encoding="utf-8")
    temporary.replace(path)
    lap("write")
    return path
