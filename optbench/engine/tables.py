"""The three result tables, defined once: ``runs``, ``trace`` and ``hits``.

Every table starts with the cell's key columns; then its own columns. This
docstring is the field dictionary (in the manner of scipy's ``OptimizeResult``).

Key columns (constant within a cell)
    cell (str)            the cell key: a hash of the canonical cell description
    suite (str)           the suite's name ("" for a plain ``ob.run``)
    problem (str)         registered problem name
    problem_params (str)  its parameters, canonical JSON
    dim (int64)           dimension of the iterate
    method (str)          registered method name
    method_params (str)   its parameters, canonical JSON (this run's own values when swept)
    step_rule (str)       registered step-rule name ("none" for methods that own their loop)
    step_params (str)     its parameters, canonical JSON (this run's own values when swept)
    batch_size (Int64)    minibatch size, <NA> for full batch
    phase (str)           tuned suites (optbench.tuning): "tuning" for a trial's runs on the tuning seeds,
                          "evaluation" for a tuned method's runs on the evaluation seeds; "" otherwise
    trial (Int64)         tuned suites: the trial of the search (0 = the default setting, 1..N = the
                          protocol's draws); on "evaluation" rows 0 marks the default setting and k > 0
                          the selected trial k; <NA> otherwise

``runs``: one row per run
    seed (int64)          the run's seed; with the cell key it fixes every random stream
    status (str)          one of STATUSES: converged, budget, diverged, error, timeout
    f (float64)           final objective value (full objective for minibatch runs)
    f_opt (float64)       the problem's optimal value, NaN when unknown
    f_gap (float64)       f - f_opt (NaN when f_opt is unknown)
    iterations (int64)    iterations made
    f_evals (int64)       value-only oracle calls (line-search trials)
    g_evals (int64)       gradient oracle calls (a value-and-gradient call is one)
    epochs (float64)      samples touched / n_samples (finite sums), NaN otherwise
    time (float64)        seconds of the batch up to this run's stop, recording excluded
    message (str)         why a run failed ("" otherwise)
    step_<counter> (int64) per-run event counters a step rule declares (backtracks, ...)

``trace``: one row per run per recorded iteration
    seed, iteration (int64), f_evals, g_evals, epochs, time: as above, spent to reach x_k
    f (float64)           objective at x_k (full objective for minibatch runs)
    f_gap (float64)       f - f_opt
    grad_norm (float64)   ||grad f(x_k)||
    step_size (float64)   the step alpha_k taken from x_k (NaN at a run's last row)
    <metric> (float64)    a problem's metrics (accuracy, ...)

``hits``: one row per run per target of the ladder that the run reached
    seed (int64)
    target (float64)      the gap target 10^t (COCO's ladder 10^2 ... 10^-8 by 0.2 by default)
    iteration (int64)     the first iteration whose best-so-far gap f_best - f_opt <= target
    f_evals, g_evals (int64), epochs (float64), time (float64): spent to reach that iterate
    estimated (bool)      True when f_opt was unknown and the hit was computed after the fact
                          against an estimate of f_opt (the best f seen in the result set)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "STATUSES", "FAILED_STATUSES", "KEY_COLUMNS", "RUN_COLUMNS", "TRACE_COLUMNS", "HIT_COLUMNS",
    "DTYPES", "CellTables", "key_frame", "empty_table", "failed_runs", "target_ladder", "with_phase",
]

STATUSES = ("converged", "budget", "diverged", "error", "timeout")
FAILED_STATUSES = ("error", "timeout")  # recorded, and run again on resume

KEY_COLUMNS = [
    "cell", "suite", "problem", "problem_params", "dim", "method", "method_params",
    "step_rule", "step_params", "batch_size", "phase", "trial",
]
RUN_COLUMNS = KEY_COLUMNS + [
    "seed", "status", "f", "f_opt", "f_gap", "iterations", "f_evals", "g_evals", "epochs", "time", "message",
]
TRACE_COLUMNS = KEY_COLUMNS + [
    "seed", "iteration", "f_evals", "g_evals", "epochs", "time", "f", "f_gap", "grad_norm", "step_size",
]
HIT_COLUMNS = KEY_COLUMNS + [
    "seed", "target", "iteration", "f_evals", "g_evals", "epochs", "time", "estimated",
]

# dtype of every column: "str" (pandas string), "Int64" (nullable), numpy names otherwise
DTYPES: dict[str, str] = {
    "cell": "str", "suite": "str", "problem": "str", "problem_params": "str", "dim": "int64",
    "method": "str", "method_params": "str", "step_rule": "str", "step_params": "str", "batch_size": "Int64",
    "phase": "str", "trial": "Int64",
    "seed": "int64", "status": "str", "f": "float64", "f_opt": "float64", "f_gap": "float64",
    "iterations": "int64", "f_evals": "int64", "g_evals": "int64", "epochs": "float64", "time": "float64",
    "message": "str", "iteration": "int64", "grad_norm": "float64", "step_size": "float64",
    "target": "float64", "estimated": "bool",
}

_COLUMNS = {"runs": RUN_COLUMNS, "trace": TRACE_COLUMNS, "hits": HIT_COLUMNS}


class CellTables(NamedTuple):
    """The three tables of one cell (``hits`` may be empty, never None)."""

    runs: "pd.DataFrame"
    trace: "pd.DataFrame"
    hits: "pd.DataFrame"


def target_ladder(start: float = 2.0, stop: float = -8.0, step: float = 0.2) -> np.ndarray:
    """COCO's target ladder of gaps, ``10 ** arange(start, stop - step / 2, -step)`` (51 targets by default).

    Exponents are rounded to 10 decimals first, so 10^-8 is exactly ``1e-08``.
    """
    count = int(round((start - stop) / step)) + 1
    exponents = np.round(start - step * np.arange(count), 10)
    return 10.0 ** exponents


def _column(name: str, values: Any, n_rows: int) -> Any:
    import pandas as pd

    dtype = DTYPES.get(name, "float64")
    if dtype == "str":
        array = np.full(n_rows, "", dtype=object)
        if values is not None:
            array[:] = values if not np.isscalar(values) else str(values)
        return pd.array(array.astype(str).astype(object), dtype="str")
    if dtype == "Int64":
        return pd.array(np.broadcast_to(np.asarray(values, dtype=object), (n_rows,)).tolist(), dtype="Int64")
    return np.broadcast_to(np.asarray(values, dtype=dtype), (n_rows,)).copy()


def key_frame(description: dict[str, Any], n_rows: int) -> dict[str, Any]:
    """The key columns of a cell, repeated ``n_rows`` times, as a dict of columns."""
    return {column: _column(column, description.get(column), n_rows) for column in KEY_COLUMNS}


def empty_table(table: str, description: dict[str, Any] | None = None) -> "pd.DataFrame":
    """An empty ``runs``, ``trace`` or ``hits`` table with every column at its dtype."""
    import pandas as pd

    if table not in _COLUMNS:
        raise ValueError(f"table must be one of {', '.join(_COLUMNS)}, got {table!r}")
    frame = {column: _column(column, None, 0) if DTYPES[column] == "str" else pd.Series(dtype=DTYPES[column])
             for column in _COLUMNS[table]}
    if description is not None:
        frame.update(key_frame(description, 0))
    return pd.DataFrame(frame)


def failed_runs(description: dict[str, Any], seeds: Sequence[int], status: str, message: str) -> "pd.DataFrame":
    """The runs table of a cell that produced no result: one row per seed with ``status`` and ``message``."""
    import pandas as pd

    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    n = len(seeds)
    nan = np.full(n, np.nan)
    zero = np.zeros(n, dtype=np.int64)
    columns = {
        **key_frame(description, n),
        "seed": np.asarray(seeds, dtype=np.int64), "status": _column("status", status, n),
        "f": nan, "f_opt": nan.copy(), "f_gap": nan.copy(), "iterations": zero, "f_evals": zero.copy(),
        "g_evals": zero.copy(), "epochs": nan.copy(), "time": nan.copy(), "message": _column("message", message, n),
    }
    return pd.DataFrame(columns)[RUN_COLUMNS]


def _keys_by_row(descriptions: Sequence[dict[str, Any]], config: np.ndarray) -> dict[str, Any]:
    """Key columns for rows that belong to ``descriptions[config[row]]``."""
    import pandas as pd

    n_rows = len(config)
    keys: dict[str, Any] = {}
    for column in KEY_COLUMNS:
        per_config = [description.get(column) for description in descriptions]
        dtype = DTYPES[column]
        if dtype == "str":
            values = np.array(["" if v is None else str(v) for v in per_config], dtype=object)[config]
            keys[column] = pd.array(values, dtype="str")
        elif dtype == "Int64":
            values = np.array(per_config, dtype=object)[config] if n_rows else []
            keys[column] = pd.array(list(values), dtype="Int64")
        else:
            keys[column] = np.asarray(per_config, dtype=dtype)[config] if n_rows else np.zeros(0, dtype=dtype)
    return keys


def build(table: str, descriptions: Sequence[dict[str, Any]], config: np.ndarray, columns: dict[str, Any]) -> "pd.DataFrame":
    """The ``runs``, ``trace`` or ``hits`` table of rows ``columns`` whose cell is ``descriptions[config[row]]``.

    The table's own columns come in their defined order, then any extra columns
    (a step rule's counters, a problem's metrics) in the order given.
    """
    import pandas as pd

    order = _COLUMNS[table]
    frame = _keys_by_row(descriptions, np.asarray(config, dtype=np.int64))
    for name in order[len(KEY_COLUMNS):]:
        if name in columns:
            frame[name] = _column(name, columns[name], len(config)) if DTYPES.get(name) == "str" else columns[name]
    frame.update((name, values) for name, values in columns.items() if name not in frame)
    return pd.DataFrame(frame)


def with_phase(tables: CellTables, description: dict[str, Any]) -> CellTables:
    """The tables of a tuned cell with its ``cell``, ``phase`` and ``trial`` columns set from ``description``.

    The engine labels runs by what they ran; a tuned suite's cell also says which
    phase and trial it belongs to. Tables of a description without ``phase`` are
    returned unchanged (untuned cells keep their keys).
    """
    if not description.get("phase"):
        return tables
    out = []
    for frame in tables:
        frame = frame.copy()
        n_rows = len(frame)
        for column in ("cell", "phase", "trial"):
            frame[column] = _column(column, description.get(column), n_rows)
        out.append(frame)
    return CellTables(*out)
