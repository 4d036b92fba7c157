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
    return parser


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
    try:
        for path in list(args.plugin) + extra_plugins:
            load_plugin(path)
        return int(args.func(args) or 0)
    except (UsageError, ParameterError, RegistryError, FileNotFoundError, ImportError) as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("optbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
