"""The HTML report: one ``index.html``, figures as embedded PNGs, one inline script, nothing fetched; a report with
more than ``FILES_ABOVE`` problem sections writes its figures as PNG files in ``figures/`` beside it instead.

Order: summary (headline, overall ranking, leaderboard sorted by rank), notes on
what was estimated, aggregates across problems, one collapsible section per
problem, failures grouped by cell, provenance. A table of contents stays at the
left edge; tables sort, filter and download as CSV (see :mod:`optbench.report.tables`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from optbench import analysis
from optbench.errors import ParameterError
from optbench.report import detail, images, page, sections
from optbench.report.curves import solver_order
from optbench.report.data import ResultSet, load_results, report_unused
from optbench.report.grouping import natural_order
from optbench.report.overall import oracle_solvers
from optbench.report.styles import styles_from_names
from optbench.store import folder_suite_text
from optbench.suite import report_headline

__all__ = ["report"]

OPEN_PROBLEMS = 6  # problem sections are open when there are at most this many
DETAIL_LIMIT = 60  # above this many problems, one compact table replaces the per-problem sections
FILES_ABOVE = 12  # with more problem sections than this, figures are PNG files in figures/ beside index.html


def _count(n: int, noun: str) -> str:
    """'1 solver', '2 solvers'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _notes(data: ResultSet, ctx: sections.Context) -> list[str]:
    notes = []
    estimated = analysis.estimated_problems(data.runs)
    if estimated:
        notes.append("f_opt is unknown for " + ", ".join(estimated) + ": the best value found over the whole result set "
                     "(runs that neither diverged nor failed) stands in, so their gaps are relative to that estimate.")
    notes.append("Medians and quartiles of the final gap are over finished runs (converged, stopped or budget); diverged, errored "
                 "and timed-out runs are left out of them and counted in their own columns and in the failures table.")
    if data.hits is not None:
        notes.append("Runtimes to a target (ERT, runtime ECDFs) are exact: the first iteration whose best-so-far gap met "
                     "the target, tracked at every iteration whatever was recorded (the hits table). Where f_opt is "
                     "estimated, or for minibatch runs, they are read at the first recorded trace row that meets the "
                     "target: an upper bound, late by at most the checkpoint spacing.")
    else:
        notes.append("Runtimes to a target are read at the first recorded trace row that meets it; with log-spaced "
                     "checkpoints (record='log') they are upper bounds, late by at most the checkpoint spacing.")
    notes.append(f"Evaluations = f-evaluations + gradient evaluations (line-search trials charged). ERT at f − f_opt ≤ "
                 f"{ctx.target:g} = evaluations of all runs (successful runs counted until the target) / successful runs.")
    notes.append("A final gap at or below the gap tolerance, 1e-12 max(1, |f_opt|), counts as 0 in ranks, success rates "
                 "and tests: differences of round-off never decide a ranking.")
    notes.append("Aggregates over problems (ECDFs, profiles, Friedman's test) compare the solvers on the problems they "
                 "all ran: " + analysis.coverage(data.runs).note() + ".")
    notes.append(f"Profiles use Moré and Wild's test f − f_opt ≤ {ctx.tau:g} (f(x0) − f_opt) per (problem, seed); "
                 "every solver starts a seed from the same point. Gaps below 1e-16 are drawn at 1e-16.")
    return notes


def _context(data: ResultSet, axis: str, target: float, targets: Any, tau: float, bootstrap: int,
             crown_oracles: bool = False) -> sections.Context:
    board = sections.with_rank(analysis.leaderboard(data.runs, data.trace, target=target, hits=data.hits))
    oracles = oracle_solvers(data.runs)
    styles = styles_from_names(solver_order(data, board), oracles=oracles)
    board, friedman, headlines = sections.significance(board, data.runs, oracles, crown_oracles)
    budget = analysis.fixed_budget(data.runs, data.trace, axis=axis)
    return sections.Context(data, board, styles, axis, target, targets, tau, bootstrap, friedman, headlines, budget,
                            oracles, crown_oracles, _lead(data))


def _lead(data: ResultSet) -> str:
    """The suite's ``[report] headline`` ("leaderboard" for results run without a suite file)."""
    return report_headline(data.provenance.get("suite_text") or (folder_suite_text(data.source) if data.source else None))


def _figure_files(data: ResultSet) -> bool:
    """Whether the figures go to files beside ``index.html``: when more than ``FILES_ABOVE`` problems get a section
    of figures (about three figures each); a smaller report stays one self-contained file."""
    problems = data.runs["problem_label"].nunique()
    return FILES_ABOVE < problems <= DETAIL_LIMIT


def _output(results: Any, out: str | Path | None) -> Path:
    if out is None:
        out = Path(results) if isinstance(results, (str, Path)) else Path("reports")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out must be a directory, and {str(out)!r} is a file")
    return out


def _check(axis: str, target: float, tau: float) -> None:
    analysis._check_axis(axis)
    if not (target > 0):
        raise ParameterError(f"target must be a positive gap f − f_opt, got {target}")
    if not 0 < tau < 1:
        raise ParameterError(f"tau must be in (0, 1), got {tau}")


def _body(ctx: sections.Context, heading: str, lap: Callable[[str], None]) -> tuple[list, list[str]]:
    data = ctx.data
    problems = natural_order(data.runs["problem_label"])
    detailed = len(problems) <= DETAIL_LIMIT
    ranking = [("ranking", "overall ranking", True)] if data.runs["solver"].nunique() > 1 else []  # as sections.summary
    toc = [("summary", "Summary", False), *ranking, ("leaderboard", "leaderboard", True),
           ("notes", "Notes", False), ("aggregates", "Across problems", False), ("problems", "Problems", False)]
    toc += [(f"problem-{i}", p, True) for i, p in enumerate(problems)] if detailed else []
    toc += [("failures", "Failures", False), ("provenance", "Provenance", False)]
    parts = [f"<h1>{html.escape(heading)}</h1>",
             f"<p>{len(data.runs)} runs, {len(problems)} problems, {_count(data.runs['solver'].nunique(), 'solver')}, "
             f"{len(data.trace)} trace rows. Generated {_dt.datetime.now().isoformat(timespec='seconds')}.</p>",
             sections.summary(ctx), '<h2 id="notes">Notes on what was estimated</h2>']
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in _notes(data, ctx)]
    lap("summary")
    parts.append(sections.aggregates(ctx))
    lap("aggregates")
    if detailed:
        parts.append('<h2 id="problems">Problems</h2><p>One section per problem; click a title to open or close it.</p>')
        parts += [detail.problem_section(ctx, i, p, len(problems) <= OPEN_PROBLEMS) for i, p in enumerate(problems)]
    else:
        parts.append(detail.compact_problems(ctx, problems, DETAIL_LIMIT))
    lap("problems")
    parts += [detail.failures(ctx), detail.provenance(data.provenance, data.source)]
    return toc, parts


def report(results: Any, out: str | Path | None = None, *, axis: str = "evaluations", target: float = 1e-6,
           targets: Iterable[float] | None = None, tau: float = 1e-3, title: str | None = None,
           bootstrap: int = 200, timings: dict[str, float] | None = None, crown_oracles: bool = False) -> Path:
    """Write the ``index.html`` report of ``results`` into ``out`` and return its path (self-contained, or with its
    figures in ``out/figures/`` when more than ``FILES_ABOVE`` problems get a section).

    ``results``: a results directory, a RunResult, a list of RunResults or a (runs,
    trace) pair. ``out``: the report directory (default: the results directory
    itself, else ``./reports``). ``axis``: x axis of the convergence curves and
    runtimes (``iterations``, ``evaluations``, ``f_evals``, ``g_evals``, ``epochs``,
    ``time``). ``target``: the gap for the leaderboard's runtimes and ERT;
    ``targets``: the ECDF ladder (COCO's 10^2 … 10^-8 by default); ``tau``: the
    profiles' tolerance. ``timings``, if a dict, receives seconds per stage.
    ``crown_oracles``: let a solver whose rule uses the known f_opt (Polyak's step)
    be named "best overall" (by default oracle rules are marked and not crowned).
    """
    _check(axis, target, tau)
    stages = timings if timings is not None else {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        stages[name] = stages.get(name, 0.0) + now - clock[0]
        clock[0] = now

    data = load_results(results, report_unused(axis))
    from optbench.report import tuning as tuned_part  # a tuned suite: its trials are not competitors

    data, everything = tuned_part.evaluation_set(data), data
    out = _output(results, out)
    lap("load")
    ctx = _context(data, axis, target, targets, tau, bootstrap, crown_oracles)
    lap("leaderboard")
    suite = data.provenance.get("suite") or next((s for s in data.runs.get("suite", []) if isinstance(s, str) and s), "")
    heading = title or (f"optbench report: {suite}" if suite else "optbench report")
    out.mkdir(parents=True, exist_ok=True)
    with images.beside(out) if _figure_files(data) else contextlib.nullcontext():
        toc, parts = _body(ctx, heading, lap)
        tuning_toc, tuning_html = tuned_part.section(everything)  # before failures and provenance
    toc[-2:-2], parts[-2:-2] = tuning_toc, [tuning_html]
    path = out / "index.html"
    temporary = path.with_name("index.html.tmp")
    temporary.write_text(page.document(heading, toc, parts), encoding="utf-8")
    temporary.replace(path)
    lap("write")
    return path
