"""The ``optbench`` command line: ``optbench list | run | report``.

Every subcommand is a function ``<name>_command(args) -> int`` registered in
``build_parser``. Errors that a user can fix (bad names, parameters, suite files)
print one clear message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import optbench as ob
from optbench.registry import load_plugin
from optbench.errors import ParameterError, RegistryError
__all__ = ["main", "build_parser"]

REGISTRIES = {"problems": "problems", "methods": "methods", "step-rules": "step_rules"}
ROW_LIMIT = 50_000_000  # stored result rows above which `optbench run` asks for --yes


class UsageError(Exception):
    """An error in what the user asked for; printed without a traceback, exit status 2."""


def _format_params(params: dict) -> str:
    parts = []
    for name, info in params.items():
        parts.append(f"{name}: {info['type']}" if info["required"] else f"{name}={info['default']!r}")
    return ", ".join(parts) if parts else "-"


def list_command(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(REGISTRIES)
    out = sys.stdout
    for kind in kinds:
        registry = getattr(ob, REGISTRIES[kind])
        names = registry.names()
        out.write(f"{kind} ({len(names)})\n")
        for name in names:
            info = registry.describe(name)
            line = f"  {name:<22} {info['summary']}\n"
            out.write(line)
            details = [f"params: {_format_params(info['params'])}"]
            if info["tags"]:
                details.append(f"tags: {', '.join(info['tags'])}")
            if kind == "problems":
                dims = info.get("dims")
                details.append(f"dims: {'any' if dims is None else ', '.join(map(str, dims))}")
                known = info.get("f_opt_known")
                details.append(f"f_opt: {'known' if known is True else ('computed' if known == 'computed' else 'unknown')}")
            if kind == "methods":
                if info.get("owns_loop"):
                    details.append("owns its loop (no step rule)")
                elif info.get("updates_iterate"):
                    details.append("computes its own steps (no step rule)")
                elif info.get("default_step_rule") is not None:
                    details.append(f"default step rule: {info['default_step_rule']}")
                if info.get("usage"):
                    details.append(f"use: {info['usage']}")
            if not info["source"].startswith("optbench."):
                details.append(f"from: {info['source']}")
            out.write("      " + "; ".join(details) + "\n")
        if registry.plugin_errors:
            for entry, message in registry.plugin_errors.items():
                out.write(f"  ! plugin {entry!r} failed to import: {message}\n")
        out.write("\n")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (``optbench: error: ...``) and exit status 2, without the usage text."""

    def error(self, message: str):
        print(f"optbench: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="optbench",
        description="Benchmark descent methods and step-size rules on objective problems.",
    )
    parser.add_argument("--version", action="version", version=f"optbench {ob.__version__}")
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="FILE",
        help="a Python file that registers problems, methods or step rules (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_list_parser, _add_run_parser, _add_check_parser, _add_report_parser, _add_compare_parser,
                _add_query_parser, _add_export_parser):
        add(commands)
    return parser


def _add_list_parser(commands: Any) -> None:
    listing = commands.add_parser("list", help="list registered problems, methods and step rules")
    listing.add_argument("kind", nargs="?", choices=list(REGISTRIES), help="only this registry")
    listing.set_defaults(func=list_command)


def _add_run_parser(commands: Any) -> None:
    running = commands.add_parser("run", help="run a benchmark suite (resumes where a previous run stopped)")
    from optbench.suite import shipped_suites

    running.add_argument("suite", nargs="?", default="quick",
                         help=f"a suite file, or a shipped suite's name: {', '.join(shipped_suites())} (default: quick)")
    running.add_argument("--out", metavar="DIR", help="output directory (default: reports/<suite name>/)")
    running.add_argument("--executor", choices=["serial", "processes", "dask"], default="serial")
    running.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: all cores)")
    running.add_argument("--scheduler", metavar="ADDR", help="address of a running Dask scheduler, tcp://HOST:PORT")
    running.add_argument("--force", action="store_true", help="run every cell again, even those already finished")
    running.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    running.add_argument("--wait", action="store_true", help="if another run holds the output folder, wait for it "
                         "(default: stop at once, naming its PID)")
    running.add_argument("--yes", action="store_true", help="run a suite even when its estimated size is over the limits")
    running.add_argument("--allow-failures", action="store_true", help="exit 0 even when some cells ended in error or timeout")
    running.add_argument("--timeout", type=float, metavar="SECONDS", help="with --executor dask: give up when no worker "
                         "has connected after SECONDS (default: wait, with a message after 5 s)")
    running.set_defaults(func=run_command)


def _add_check_parser(commands: Any) -> None:
    checking = commands.add_parser("check", help="verify a results folder: every cell readable, complete and consistent")
    checking.add_argument("results", metavar="DIR", help="a results directory (cells/, runs.parquet)")
    checking.set_defaults(func=check_command)


def _add_report_parser(commands: Any) -> None:
    reporting = commands.add_parser("report", help="write the self-contained HTML report of a results directory")
    reporting.add_argument("results", metavar="DIR", help="a results directory (runs.parquet, trace.parquet)")
    reporting.add_argument("--out", metavar="DIR", help="where index.html goes (default: DIR)")
    reporting.add_argument("--axis", default="evaluations", help="x axis of curves and runtimes: iterations, "
                           "evaluations, f_evals, g_evals, epochs or time (default: evaluations)")
    reporting.add_argument("--target", type=float, default=1e-6, metavar="GAP",
                           help="gap f - f_opt of the leaderboard's success, runtimes and ERT (default: 1e-6)")
    reporting.add_argument("--tau", type=float, default=1e-3, help="tolerance of the performance and data profiles: "
                           "solved when f - f_opt <= tau (f(x0) - f_opt) (default: 1e-3)")
    reporting.add_argument("--bootstrap", type=int, default=200, metavar="N", help="bootstrap replicates of the ECDF bands")
    reporting.set_defaults(func=report_command)


def _add_compare_parser(commands: Any) -> None:
    comparing = commands.add_parser("compare", help="compare two results directories cell by cell (better, worse, unchanged)")
    comparing.add_argument("base", metavar="BASE", help="the results directory before the change")
    comparing.add_argument("new", metavar="NEW", help="the results directory after the change")
    comparing.add_argument("--out", metavar="DIR", default="reports/compare", help="where index.html goes (default: reports/compare)")
    comparing.add_argument("--target", type=float, default=1e-6, metavar="GAP", help="gap of the success rate and ERT (default: 1e-6)")
    comparing.add_argument("--alpha", type=float, default=0.05, help="level of the Holm-corrected paired tests (default: 0.05)")
    comparing.set_defaults(func=compare_command)


def _add_export_parser(commands: Any) -> None:
    exporting = commands.add_parser("export", help="write a results directory in COCO's (cocopp) or IOHprofiler's (IOHanalyzer) format")
    exporting.add_argument("results", metavar="DIR", help="a results directory written by optbench run")
    exporting.add_argument("--format", default="coco", help="coco (.info/.dat/.tdat, for cocopp) or ioh (.json/.dat, for IOHanalyzer)")
    exporting.add_argument("--out", metavar="EXPORT", help="a new or empty folder (default: DIR-<format>)")
    exporting.add_argument("--gradient-cost", type=int, default=1, metavar="N",
                           help="evaluations charged per gradient: runtime = f_evals + N x g_evals (default: 1)")
    exporting.add_argument("--function-ids", default="auto", help="auto, stable or cocopp: how problems that are not "
                           "bbob's are numbered (default auto: cocopp's 1-24 for coco, stable ids for ioh)")
    exporting.set_defaults(func=export_command)


def export_command(args: argparse.Namespace) -> int:
    from optbench.export import export

    out = args.out or f"{str(args.results).rstrip('/')}-{args.format}"
    path = export(args.results, out, format=args.format, gradient_cost=args.gradient_cost, function_ids=args.function_ids)
    print(f"export ({args.format}): {path}")
    return 0


def _add_query_parser(commands) -> None:
    querying = commands.add_parser("query", help="run SQL over a results directory's views runs, trace and hits (DuckDB)")
    querying.add_argument("results", metavar="DIR", help="a results directory written by optbench run")
    querying.add_argument("sql", metavar="SQL", help='a query, e.g. "SELECT status, count(*) FROM runs GROUP BY status"')
    querying.add_argument("--out", metavar="FILE", help="write every row to FILE.csv or FILE.parquet instead of printing")
    querying.add_argument("--max-rows", type=int, default=50, metavar="N", help="rows printed (default: 50)")
    querying.set_defaults(func=query_command)


def query_command(args: argparse.Namespace) -> int:
    """``optbench query DIR SQL``: print the first ``--max-rows`` rows as a table, or write them all to ``--out``."""
    from optbench.errors import QueryError
    from optbench.sql import query, write_query

    if args.max_rows < 1:
        raise UsageError(f"--max-rows must be a positive integer, got {args.max_rows}")
    try:
        if args.out:
            _say(f"query: {write_query(args.results, args.sql, args.out)}")
            return 0
        frame = query(args.results, args.sql, limit=args.max_rows + 1)
    except QueryError as exc:
        raise UsageError(str(exc)) from None
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_colwidth", 60):
        _say(frame.head(args.max_rows).to_string(index=False))
    if len(frame) > args.max_rows:
        _say(f"... more rows: only the first {args.max_rows} are shown (--max-rows N, or --out FILE.csv for all)")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from optbench.report import report

    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    path = report(args.results, out=args.out, axis=args.axis, target=args.target, tau=args.tau, bootstrap=args.bootstrap)
    print(f"report: {path}")
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from optbench.report.comparison import compare_report

    path, lines = compare_report(args.base, args.new, args.out, target=args.target, alpha=args.alpha)
    print("\n".join(lines))
    print(f"comparison: {path}")
    return 0


def slug(name: str) -> str:
    """A suite name as one folder name: letters, digits, ``.``, ``_`` and ``-``; other runs of characters become ``-``."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:100] or "suite"


def _check_run_options(args: argparse.Namespace) -> None:
    import os

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be a positive integer, got {args.jobs}")
    if args.scheduler and args.executor != "dask":
        raise UsageError(f"--scheduler applies to --executor dask only, not {args.executor!r}")
    if args.timeout is not None and (args.executor != "dask" or not 0 < args.timeout < float("inf")):
        raise UsageError(f"--timeout takes a finite number of seconds > 0 and applies to --executor dask only, "
                         f"got {args.timeout} with {args.executor!r}")
    cores = os.cpu_count() or 1
    if args.jobs is not None and args.jobs > cores and args.executor == "processes":
        print(f"warning: --jobs {args.jobs} is more than the {cores} cores of this machine; cells will compete "
              f"for them and take longer each", file=sys.stderr)


def _check_size(suite, allow: bool) -> None:
    """Refuse (unless --yes) a suite whose estimated size is over the limits, naming the estimate."""
    import os

    from optbench.driver import size_estimate

    size = size_estimate(suite)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 * 2**30
    over = []
    if size["cell_bytes"] > memory / 4:
        over.append(f"its largest cell needs about {size['cell_bytes'] / 2**30:.3g} GiB of arrays "
                    f"(this machine has {memory / 2**30:.3g} GiB)")
    if size["rows"] > ROW_LIMIT:
        over.append(f"it would store about {size['rows']:,.0f} result rows (limit {ROW_LIMIT:,})")
    if over and not allow:
        raise UsageError(f"suite {suite.name!r} is too large: {'; '.join(over)} ({size['cells']:,} cells); "
                         f"make it smaller, or pass --yes to run it anyway")


def run_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from optbench.driver import run_suite
    from optbench.suite import MAX_CELLS, load_suite

    _check_run_options(args)
    # validated before anything is written
    suite = load_suite(args.suite, getattr(args, "plugin", []), max_cells=None if args.yes else MAX_CELLS)
    _check_size(suite, args.yes)
    for note in suite.skipped:
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out) if args.out else Path("reports") / slug(suite.name)
    result = run_suite(suite, out, args.executor, jobs=args.jobs, scheduler=args.scheduler, force=args.force,
                       command=["optbench", *getattr(args, "argv", sys.argv[1:])], wait=args.wait,
                       worker_timeout=args.timeout)
    report_path, report_failed = None, False
    if not args.no_report:  # written before anything is printed, so a closed stdout cannot prevent it
        try:
            from optbench.report import report
        except ImportError:
            report = None
        if report is not None:
            try:
                report_path = report(out, out=out)
            except Exception as exc:  # noqa: BLE001 -- the results are safe on disk; say so instead of a traceback
                report_failed = True
                reason = " ".join(f"{type(exc).__name__}: {exc}".split())
                print(f"optbench: error: the report could not be written ({reason}); the results are kept in {out}; "
                      f"`optbench report {out}` tries again; exit status 1", file=sys.stderr)
    _say(result.summary())
    try:
        from optbench.tuning import evaluation_tables  # a tuned suite's trials are not competitors

        _print_leaderboard(*evaluation_tables(result.runs, result.trace))
    except BrokenPipeError:
        _silence_stdout()
    _say(f"results: {out}")
    if report_path is not None:
        _say(f"report: {report_path}")
    if result.cells_failed and not args.allow_failures:
        print(f"optbench: {result.cells_failed} cell(s) failed (error or timeout); exit status 1 "
              f"(--allow-failures exits 0)", file=sys.stderr)
        return 1
    return 1 if report_failed else 0


def check_command(args: argparse.Namespace) -> int:
    """``optbench check DIR``: exit 0 when every cell and table is sound, 1 when something is damaged."""
    from optbench.store import check_folder, rebuild_hint

    sound, damaged, problems = check_folder(args.results)
    for key, reason in damaged.items():
        _say(f"damaged: cell {key}: {reason}; {rebuild_hint('cells/')}")
    for problem in problems:
        _say(f"damaged: {problem}")
    state = "ok" if not damaged and not problems else "damaged"
    _say(f"{args.results}: {state}: {sound} sound cell(s), {len(damaged)} damaged"
         + ("" if state == "ok" else "; `optbench run` with the same suite and --out runs damaged cells again"))
    return 0 if state == "ok" else 1


def _say(text: str) -> None:
    """Print to stdout; once stdout is closed (``| head``), stay quiet instead of failing."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _print_leaderboard(runs, trace, per_problem: int = 5, problems: int = 20) -> None:
    """Per problem (the first ``problems``, then a count), the best solvers in the report's leaderboard order.

    The order is ``rank`` of :func:`optbench.analysis.leaderboard`: failure-aware
    (the median final gap over all runs, a diverged or failed run counting as
    +inf), tied solvers sharing the best rank; the median gap and quartiles shown
    are over finished runs. Solver labels are printed whole, oracle rules (which
    use the known f_opt) marked. ``*`` marks a problem whose f_opt is unknown (the
    best value found stands in).
    """
    if not len(runs):
        return
    from optbench import analysis
    from optbench.oracles import mark, oracle_solvers
    from optbench.schema import natural_key

    runs, trace = analysis.prepare(runs, trace)
    board = mark(analysis.leaderboard(runs, trace), oracle_solvers(runs))
    # a problem none of whose runs finished has no value to stand in for f_opt: not "unknown", just no result
    board["f_opt_estimated"] = board["f_opt_estimated"] & board["f_gap_median"].notna().groupby(board["problem_label"]).transform("any")
    board["problem"] = board["problem_label"] + board["f_opt_estimated"].map({True: " *", False: ""})
    width = max(len("solver"), int(board["solver"].str.len().max()))
    number = lambda value, spec: "-" if value != value else format(value, spec)  # noqa: E731 -- NaN: no finished run
    print(f"\n{'rank':>4}  {'solver':<{width}}  {'median gap':>10}  {'q25':>9}  {'q75':>9}  {'runs':>4}  {'diverged':>8}  {'failed':>6}")
    groups = sorted(board.groupby("problem", sort=False), key=lambda item: natural_key(item[0]))  # dim=2 before dim=10
    for problem, group in groups[:problems]:
        print(problem)
        shown = group.sort_values(["rank", "solver"], kind="stable")
        for row in shown.head(per_problem).itertuples():
            failed = (row.error_rate + row.timeout_rate) * row.n_runs
            print(f"{row.rank:>4.0f}  {row.solver:<{width}}  {number(row.f_gap_median, '.3e'):>10}  "
                  f"{number(row.f_gap_q25, '.2e'):>9}  {number(row.f_gap_q75, '.2e'):>9}  {row.n_runs:>4}  "
                  f"{row.diverged_rate * row.n_runs:>8.0f}  {failed:>6.0f}")
        if len(shown) > per_problem:
            print(f"{'':>4}  ... {len(shown) - per_problem} more")
    if len(groups) > problems:
        print(f"... {len(groups) - problems} more problems ({len(groups)} in all): the report and `optbench query` "
              f"show every one")
    if board["f_opt_estimated"].any():
        print("* f_opt unknown: gaps are to the best value found in these results")
    print("rank: by the median final gap over all runs, diverged and failed runs counting as +inf (as in the report); "
          "ties share the best rank.\nmedian gap, q25, q75: over finished runs (converged, stopped or budget)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``optbench ...``: Ctrl-C at any moment (start-up included) is one line and exit status 130, no traceback."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("optbench: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    # --plugin may also follow the subcommand: accept it anywhere
    args, rest = parser.parse_known_args(argv)
    extra_plugins = []
    while "--plugin" in rest:
        at = rest.index("--plugin")
        if at + 1 >= len(rest):
            parser.error("--plugin needs a FILE")
        extra_plugins.append(rest[at + 1])
        del rest[at : at + 2]
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command is None:
        parser.print_help()
        return 2
    args.plugin = list(args.plugin) + extra_plugins
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args)
    except BrokenPipeError:  # `optbench list | head -1`: the reader has all it wants
        _silence_stdout()
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    """Run the subcommand; map what went wrong to one line and an exit status (see README, exit statuses)."""
    from optbench.driver import Interrupted
    from optbench.executors import ExecutorLost
    from optbench.store import describe_os_error
    from optbench.errors import StoreError
    from optbench.errors import SuiteError

    try:
        for path in args.plugin:
            load_plugin(path)
        return int(args.func(args) or 0)
    except (UsageError, SuiteError, ParameterError, RegistryError, FileNotFoundError, ImportError, StoreError) as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 2
    except ExecutorLost as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"optbench: interrupted ({signal_name(exc.signum)}); finished cells are saved, "
              f"run the same command again to resume", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("optbench: interrupted; finished cells are saved, run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except OSError as exc:  # a full disk, a folder made read-only while running
        out = getattr(args, "out", None) or getattr(args, "results", None) or "."
        print(f"optbench: error: {describe_os_error(exc, out, resume=args.command == 'run')}", file=sys.stderr)
        return 2


def signal_name(signum: int) -> str:
    import signal

    return signal.Signals(signum).name


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
