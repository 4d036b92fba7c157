"""Reading a result set from whatever the user holds: a results directory, RunResults, or two tables."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.analysis import prepare, prepare_hits
from optbench.errors import ParameterError
__all__ = ["ResultSet", "load_results"]


@dataclass
class ResultSet:
    """A prepared result set (see :func:`optbench.analysis.prepare`) and where it came from."""

    runs: pd.DataFrame
    trace: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    hits: pd.DataFrame | None = None  # exact first hits, prepared (analysis.prepare_hits); None when there are none


def _result_set(runs: pd.DataFrame, trace: pd.DataFrame | None, hits: pd.DataFrame | None, provenance: dict[str, Any],
                source: str) -> ResultSet:
    runs, trace = prepare(runs, trace)
    return ResultSet(runs, trace, provenance=provenance, source=source, hits=prepare_hits(runs, hits))


# columns of a prepared trace and hits table that no report section reads: a run's seed, dim and f_opt are in
# ``runs``; of the hits' axes the report shows only evaluations (ERT, evaluations to the target) and its own axis
REPORT_UNUSED = {"trace": ("seed", "dim", "message", "f_opt"),
                 "hits": ("seed", "iterations", "f_evals", "g_evals", "epochs", "time")}


def report_unused(axis: str) -> dict[str, tuple[str, ...]]:
    """The columns :func:`load_results` leaves out of a report's trace and hits for the report's x ``axis``.

    The trace keeps every axis (the leaderboard's first hits are read on all of them where the hits table does not
    cover a target); the hits keep ``evaluations`` and ``axis``: the leaderboard's runtimes to the target on the
    other axes (iterations, epochs, time), which the report does not show, are left missing (NaN) where hits exist.
    """
    return {"trace": REPORT_UNUSED["trace"], "hits": tuple(c for c in REPORT_UNUSED["hits"] if c != axis)}


def _from_directory(folder: Path, unused: dict[str, tuple[str, ...]] | None = None) -> ResultSet:
    """A results folder, read through the store's reading rules (:func:`optbench.store.table_files`) by DuckDB."""
    from optbench.sql import read_prepared

    if not folder.is_dir():
        raise FileNotFoundError(f"no results directory {str(folder)!r}")
    # DuckDB reads the files the store chooses (consolidated tables, or an interrupted suite's finished cells)
    runs, trace, hits, provenance = read_prepared(folder, unused)
    return ResultSet(runs, trace, provenance=provenance, source=str(folder), hits=hits)


def _here_provenance() -> dict[str, Any]:
    import numpy
    import scipy

    import optbench

    return {
        "note": "results passed in memory: this is the provenance of the report, not of the runs",
        "optbench": optbench.__version__, "python": sys.version.split()[0], "numpy": numpy.__version__,
        "scipy": scipy.__version__, "pandas": pd.__version__, "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "command": list(sys.argv),
    }


def load_results(results: Any, unused: dict[str, tuple[str, ...]] | None = None) -> ResultSet:
    """A :class:`ResultSet` from a directory path, a ResultSet, a RunResult, a list of RunResults or a (runs, trace) pair.

    ``unused``: for a directory, columns of the trace and hits the caller will not read (:func:`report_unused`),
    left out to save memory.
    """
    from optbench.engine.result import RunResult

    if isinstance(results, ResultSet):
        return results
    if isinstance(results, (str, Path)):
        return _from_directory(Path(results), unused)
    if isinstance(results, RunResult):
        results = [results]
    if isinstance(results, (list, tuple)) and results and all(isinstance(r, RunResult) for r in results):
        runs = pd.concat([r.runs for r in results], ignore_index=True)
        trace = pd.concat([r.trace for r in results], ignore_index=True)
        hits = pd.concat([r.hits for r in results], ignore_index=True)
        return _result_set(runs, trace, hits, _here_provenance(), "RunResult objects")
    if isinstance(results, (list, tuple)) and len(results) == 2 and isinstance(results[0], pd.DataFrame):
        trace = results[1] if isinstance(results[1], pd.DataFrame) else None
        return _result_set(results[0], trace, None, _here_provenance(), "DataFrames")
    raise ParameterError(
        "results must be a results directory, an ob.run RunResult, a list of RunResults or a (runs, trace) "
        f"pair of DataFrames; got {type(results).__name__}"
    )


def subset_runs(data: Any, keep: np.ndarray) -> Any:
    """The prepared result set of the runs where ``keep`` (a boolean mask over ``data.runs``), with the run ids
    of runs, trace and hits (and tuned copies' ``copy_of``) renumbered 0..n-1, as :func:`analysis.prepare` numbers them."""
    import dataclasses

    new_id = np.full(len(data.runs), -1, dtype=np.int64)
    new_id[keep] = np.arange(int(keep.sum()))
    runs = data.runs[keep].reset_index(drop=True)
    runs["run"] = new_id[keep]
    if "copy_of" in runs:  # tuned copies point at runs by position: renumber them too
        copy_of = runs["copy_of"].to_numpy()
        runs["copy_of"] = np.where(copy_of >= 0, new_id[np.maximum(copy_of, 0)], -1)
    tables = {}
    for name in ("trace", "hits"):  # prepared: rows point at runs by id
        frame = getattr(data, name, None)
        if frame is not None and len(frame):
            frame = frame[keep[frame["run"].to_numpy()]].reset_index(drop=True)
            frame["run"] = new_id[frame["run"].to_numpy()]
            tables[name] = frame
    return dataclasses.replace(data, runs=runs, **tables)
