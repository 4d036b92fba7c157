"""The ``optbench`` command line: ``optbench list | run | report``.

Every subcommand is a function ``<name>_command(args) -> int`` registered in
``build_parser``. Errors that a user can fix (bad names, parameters, suite files)
print one clear message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import optbench as ob
from optbench.registry import ParameterError, RegistryError, load_plugin

__all__ = ["main", "build_parser"]

REGISTRIES = {"problems": "problems", "methods": "methods", "step-rules": "step_rules"}


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
                elif info.get("default_step_rule") is not None:
                    details.append(f"default step rule: {info['default_step_rule']}")
            if not info["source"].startswith("optbench."):
                details.append(f"from: {info['source']}")
            out.write("      " + "; ".join(details) + "\n")
        if registry.plugin_errors:
            for entry, message in registry.plugin_errors.items():
                out.write(f"  ! plugin {entry!r} failed to import: {message}\n")
        out.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optbench",
        description="Benchmark descent methods and step-size rules on objective problems.",
    )
    parser.add_argument("--version", action="version", version=f"optbench {ob.__version__}")
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="FILE",
        help="a Python file that registers problems, methods or step rules (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    listing = commands.add_parser("list", help="list registered problems, methods and step rules")
    listing.add_argument("kind", nargs="?", choices=list(REGISTRIES), help="only this registry")
    listing.set_defaults(func=list_command)

    running = commands.add_parser("run", help="run a benchmark suite (resumes where a previous run stopped)")
    running.add_argument("suite", nargs="?", default="quick", help="a suite file, or a shipped suite's name (default: quick)")
    running.add_argument("--out", metavar="DIR", help="output directory (default: reports/<suite name>/)")
    running.add_argument("--executor", choices=["serial", "processes", "dask"], default="serial")
    running.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: all cores)")
    running.add_argument("--scheduler", metavar="ADDR", help="address of a running Dask scheduler, tcp://HOST:PORT")
    running.add_argument("--force", action="store_true", help="run every cell again, even those already finished")
    running.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    running.set_defaults(func=run_command)

    reporting = commands.add_parser("report", help="write the self-contained HTML report of a results directory")
    reporting.add_argument("results", metavar="DIR", help="a results directory (runs.parquet, trace.parquet)")
    reporting.add_argument("--out", metavar="DIR", help="where index.html goes (default: DIR)")
    reporting.add_argument("--axis", default="evaluations", help="x axis of curves and runtimes: iterations, "
                           "evaluations, f_evals, g_evals, epochs or time (default: evaluations)")
    reporting.set_defaults(func=report_command)
    return parser


def report_command(args: argparse.Namespace) -> int:
    from optbench.report import report

    print(f"report: {report(args.results, out=args.out, axis=args.axis)}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from optbench.execute import run_suite
    from optbench.suite import load_suite

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be a positive integer, got {args.jobs}")
    if args.scheduler and args.executor != "dask":
        raise UsageError(f"--scheduler applies to --executor dask only, not {args.executor!r}")
    suite = load_suite(args.suite, getattr(args, "plugin", []))  # validated before anything is written
    for note in suite.skipped:
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out) if args.out else Path("reports") / suite.name
    result = run_suite(suite, out, args.executor, jobs=args.jobs, scheduler=args.scheduler, force=args.force,
                       command=["optbench", *getattr(args, "argv", sys.argv[1:])])
    print(result.summary())
    _print_leaderboard(result.runs, result.trace)
    print(f"results: {out}")
    if not args.no_report:
        try:
            from optbench.report import report
        except ImportError:
            report = None
        if report is not None:
            print(f"report: {report(out, out=out)}")
    return 0


def _print_leaderboard(runs, trace, per_problem: int = 5) -> None:
    """Per problem, the best solvers by median final gap over finished runs (as the report computes it).

    Diverged, errored and timed-out runs are counted, not folded into the median;
    ``*`` marks a problem whose f_opt is unknown (the best value found stands in).
    """
    if not len(runs):
        return
    from optbench import analysis

    board = analysis.leaderboard(runs, trace)
    board["problem"] = board["problem_label"] + board["f_opt_estimated"].map({True: " *", False: ""})
    width = min(40, max(len("problem"), board["problem"].str.len().max()))
    solver_width = min(48, max(len("solver"), board["solver"].str.len().max()))
    print(f"\n{'problem':<{width}}  {'solver':<{solver_width}}  {'median gap':>10}  {'q25':>9}  {'q75':>9}"
          f"  {'diverged':>8}  {'failed':>6}")
    for _, group in board.groupby("problem", sort=False):
        shown = group.sort_values("f_gap_median", na_position="last")
        for row in shown.head(per_problem).itertuples():
            failed = (row.error_rate + row.timeout_rate) * row.n_runs
            number = lambda value, spec: "-" if value != value else format(value, spec)  # NaN: no finished run
            print(f"{row.problem[:width]:<{width}}  {row.solver[:solver_width]:<{solver_width}}  "
                  f"{number(row.f_gap_median, '.3e'):>10}  {number(row.f_gap_q25, '.2e'):>9}  "
                  f"{number(row.f_gap_q75, '.2e'):>9}  {row.diverged_rate * row.n_runs:>8.0f}  {failed:>6.0f}")
        if len(shown) > per_problem:
            print(f"{'':<{width}}  ... {len(shown) - per_problem} more")
    if board["f_opt_estimated"].any():
        print("* f_opt unknown: gaps are to the best value found in these results")
    print("median gap: over finished runs (converged or budget); diverged and failed runs are counted apart\n")


def main(argv: Sequence[str] | None = None) -> int:
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
    from optbench.suite import SuiteError

    args.plugin = list(args.plugin) + extra_plugins
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        for path in args.plugin:
            load_plugin(path)
        return int(args.func(args) or 0)
    except (UsageError, SuiteError, ParameterError, RegistryError, FileNotFoundError, ImportError) as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("optbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
