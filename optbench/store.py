"""Results on disk: one pair of Parquet files per finished cell, written atomically.

Layout of an output directory ``OUT``::

    OUT/cells/<key>.trace.parquet   the cell's trace rows
    OUT/cells/<key>.runs.parquet    the cell's run rows -- written last: its presence means "finished"
    OUT/runs.parquet                every cell of the suite, consolidated in suite order
    OUT/trace.parquet
    OUT/provenance.json             versions, git commit, machine, date, suite file and command line

Every file is written under a temporary name (``*.tmp``) and renamed with
``os.replace``, so a reader (or a resumed run) never sees half a file: a cell
killed while writing leaves at most a stray ``.tmp`` or a trace without runs,
and it is run again. Only the driver writes; workers return tables.
Provenance is also stored as Parquet key-value metadata (key ``optbench``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["Store", "provenance", "read_results", "FAILED_STATUSES"]

FAILED_STATUSES = ("error", "timeout")  # cells with these are recorded but run again on resume
METADATA_KEY = b"optbench"


def _git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    commit = done.stdout.strip()
    try:
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        dirty = ""
    return commit + ("-dirty" if dirty else "")


def provenance(suite_path: str | None = None, suite_text: str | None = None, command: list[str] | None = None) -> dict[str, Any]:
    """Where results come from: versions, git commit of optbench (if a git checkout), machine, date, suite."""
    import numpy
    import scipy

    import optbench

    return {
        "optbench": optbench.__version__,
        "git_commit": _git_commit(Path(optbench.__file__).resolve().parent),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "node": platform.node(),
        "cpu_count": os.cpu_count(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "suite_path": suite_path,
        "suite_text": suite_text,
        "command": command if command is not None else list(sys.argv),
    }


def _write_table(frame: pd.DataFrame, path: Path, metadata: dict[str, Any] | None = None) -> None:
    """Write ``frame`` to ``path`` atomically (temporary name, then rename)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(metadata).encode()})
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


class Store:
    """The output directory of one suite: write finished cells, find them again, consolidate."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.cells_dir = self.out / "cells"

    def create(self) -> None:
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def runs_path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.runs.parquet"

    def trace_path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.trace.parquet"

    def has(self, key: str) -> bool:
        """Whether the cell ``key`` finished (its runs file exists)."""
        return self.runs_path(key).is_file()

    def finished(self, keys: Iterable[str], retry_failed: bool = True) -> set[str]:
        """The keys among ``keys`` that need not run again: finished, and (with ``retry_failed``) not failed."""
        done = set()
        for key in keys:
            if not self.has(key):
                continue
            if retry_failed:
                status = pq.read_table(self.runs_path(key), columns=["status"]).column("status").to_pylist()
                if any(s in FAILED_STATUSES for s in status):
                    continue
            done.add(key)
        return done

    def write_cell(self, key: str, runs: pd.DataFrame, trace: pd.DataFrame, metadata: dict[str, Any] | None = None) -> None:
        """Write one finished cell: trace first, runs last (the commit marker), each atomically."""
        self.create()
        _write_table(trace, self.trace_path(key), metadata)
        _write_table(runs, self.runs_path(key), metadata)

    def read_cell(self, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        return _read(self.runs_path(key)), _read(self.trace_path(key))

    def consolidate(self, keys: Iterable[str], metadata: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Concatenate the cells ``keys`` (in that order) into ``runs.parquet`` and ``trace.parquet``."""
        runs, traces = [], []
        for key in keys:
            if self.has(key):
                cell_runs, cell_trace = self.read_cell(key)
                runs.append(cell_runs)
                traces.append(cell_trace)
        runs_frame = _concat(runs)
        trace_frame = _concat(traces)
        self.out.mkdir(parents=True, exist_ok=True)
        _write_table(trace_frame, self.out / "trace.parquet", metadata)
        _write_table(runs_frame, self.out / "runs.parquet", metadata)
        temporary = self.out / "provenance.json.tmp"
        temporary.write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(temporary, self.out / "provenance.json")
        return runs_frame, trace_frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if len(frame.columns)]
    if not frames:
        return pd.DataFrame()
    non_empty = [frame for frame in frames if len(frame)] or frames[:1]
    frame = pd.concat(non_empty, ignore_index=True, sort=False)
    for extra in frames:  # columns of empty frames (e.g. a failed cell's trace) still belong to the table
        for column in extra.columns:
            if column not in frame:
                frame[column] = pd.Series(dtype=extra[column].dtype)
    return frame


def read_results(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``(runs, trace, provenance)`` of a consolidated output directory."""
    out = Path(out)
    runs_file = out / "runs.parquet"
    if not runs_file.is_file():
        raise FileNotFoundError(f"no results in {str(out)!r}: {runs_file.name} is missing (run `optbench run` first)")
    table = pq.read_table(runs_file)
    meta = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}"))
    return table.to_pandas(), _read(out / "trace.parquet"), meta
