"""Reading a result set from whatever the user holds: a results directory, RunResults, or two tables."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optbench.analysis import prepare
from optbench.registry import ParameterError

__all__ = ["ResultSet", "load_results"]


@dataclass
class ResultSet:
    """A prepared result set (see :func:`optbench.analysis.prepare`) and where it came from."""

    runs: pd.DataFrame
    trace: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def _read_parquet_files(paths: list[Path]) -> pd.DataFrame | None:
    frames = [pd.read_parquet(path) for path in sorted(paths)]
    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else None


def _from_directory(folder: Path) -> ResultSet:
    if not folder.is_dir():
        raise FileNotFoundError(f"no results directory {str(folder)!r}")
    runs_file, trace_file = folder / "runs.parquet", folder / "trace.parquet"
    if runs_file.is_file():
        runs = pd.read_parquet(runs_file)
        trace = pd.read_parquet(trace_file) if trace_file.is_file() else None
    else:  # an interrupted suite: the finished cells only
        runs = _read_parquet_files(list((folder / "cells").glob("*.runs.parquet")))
        if runs is None:
            raise FileNotFoundError(
                f"{str(folder)!r} holds no results: expected runs.parquet (and trace.parquet), or cells/*.runs.parquet"
            )
        finished = {path.name[: -len(".runs.parquet")] for path in (folder / "cells").glob("*.runs.parquet")}
        trace = _read_parquet_files([folder / "cells" / f"{key}.trace.parquet" for key in finished
                                     if (folder / "cells" / f"{key}.trace.parquet").is_file()])
    provenance: dict[str, Any] = {}
    provenance_file = folder / "provenance.json"
    if provenance_file.is_file():
        try:
            provenance = json.loads(provenance_file.read_text())
        except json.JSONDecodeError as exc:
            provenance = {"note": f"provenance.json could not be read: {exc}"}
    return ResultSet(*prepare(runs, trace), provenance=provenance, source=str(folder))


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


def load_results(results: Any) -> ResultSet:
    """A :class:`ResultSet` from a directory path, a ResultSet, a RunResult, a list of RunResults or a (runs, trace) pair."""
    from optbench.engine.result import RunResult

    if isinstance(results, ResultSet):
        return results
    if isinstance(results, (str, Path)):
        return _from_directory(Path(results))
    if isinstance(results, RunResult):
        results = [results]
    if isinstance(results, (list, tuple)) and results and all(isinstance(r, RunResult) for r in results):
        runs = pd.concat([r.runs for r in results], ignore_index=True)
        trace = pd.concat([r.trace for r in results], ignore_index=True)
        return ResultSet(*prepare(runs, trace), provenance=_here_provenance(), source="RunResult objects")
    if isinstance(results, (list, tuple)) and len(results) == 2 and isinstance(results[0], pd.DataFrame):
        trace = results[1] if isinstance(results[1], pd.DataFrame) else None
        return ResultSet(*prepare(results[0], trace), provenance=_here_provenance(), source="DataFrames")
    raise ParameterError(
        "results must be a results directory, an ob.run RunResult, a list of RunResults or a (runs, trace) "
        f"pair of DataFrames; got {type(results).__name__}"
    )
