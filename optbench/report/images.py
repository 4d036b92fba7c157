"""Where a report's figures go: inline as base64 PNGs (one self-contained file, the default) or PNG files beside it.

    with images.beside(out):          # a large report: out/figures/figure-001.png, ... referenced by relative paths
        html = sections.figure_html(fig, "runtime ECDF")

A report with many figures would otherwise be one page of tens of megabytes of
base64 text (a third larger than the PNGs) that a browser must decode before it
shows anything; files load as the reader scrolls (``loading="lazy"``).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
from pathlib import Path
from typing import Iterator

__all__ = ["beside", "source", "FOLDER"]

FOLDER = "figures"  # the folder of a report's figure files, inside its output folder
_target: contextvars.ContextVar[tuple[Path, list[int]] | None] = contextvars.ContextVar("optbench_report_images", default=None)


@contextlib.contextmanager
def beside(out: Path) -> Iterator[Path]:
    """Within the block, :func:`source` writes each PNG to ``out/figures/figure-NNN.png`` (the folder emptied of
    earlier figures first) instead of inlining it; yields that folder."""
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("figure-*.png"):
        old.unlink()
    token = _target.set((folder, [0]))
    try:
        yield folder
    finally:
        _target.reset(token)


def source(png: bytes) -> tuple[str, str]:
    """(the ``src`` of an ``<img>`` showing ``png``, extra attributes): a data URI, or a relative file path."""
    target = _target.get()
    if target is None:
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii"), ""
    folder, counter = target
    counter[0] += 1
    name = f"figure-{counter[0]:03d}.png"
    (folder / name).write_bytes(png)
    return f"{FOLDER}/{name}", ' loading="lazy"'
