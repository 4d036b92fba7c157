"""The ``optbench`` console script: Ctrl-C at any moment, the import of optbench included, is one line, exit 130.

It lives outside the ``optbench`` package because importing ``optbench.cli``
first runs ``optbench/__init__`` (numpy, pandas...): an interrupt there would
otherwise reach the interpreter as a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """``optbench ...`` (see :func:`optbench.cli.main`), with the start-up's imports guarded against Ctrl-C."""
    try:
        from optbench.cli import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:
        print("optbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
