"""The results vocabulary, defined once: tables, columns, dtypes, statuses, targets, labels, f_opt.

Every module that reads or writes results (the engine, the store, ``analysis``,
``stats``, ``report``, ``export``, ``compare``, the CLI) takes these from here and
defines none of its own.

Tables: ``runs``, ``trace`` and ``hits``
=========================================

The three result tables, defined once: ``runs``, ``trace`` and ``hits``.

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
    status (str)          one of STATUSES: converged (optbench's tolerance met), stopped (the method's own
                          criterion, e.g. scipy's tolerances or a failed line search; its words in message),
                          budget, diverged, error, timeout
    f (float64)           final objective value (full objective for minibatch runs)
    f_opt (float64)       the problem's optimal value, NaN when unknown
    f_gap (float64)       f - f_opt (NaN when f_opt is unknown)
    iterations (int64)    iterations made
    f_evals (int64)       value-only oracle calls (line-search trials)
    g_evals (int64)       gradient oracle calls (a value-and-gradient call is one)
    epochs (float64)      samples touched / n_samples (finite sums), NaN otherwise
    time (float64)        seconds of the batch up to this run's stop, recording excluded. In a stack
                          (cells of one problem run as one array, optbench/engine/stack.py): the
                          cell's share of the shared time (objective calls, loop bookkeeping; its rows
                          over the stack's rows) plus its share of its own method and step-rule calls
                          (line-search trials included; its rows over its batch group's rows; a step
                          rule shared by neighbouring batch groups splits its time by their rows)
    message (str)         why a run failed or stopped ("" otherwise)
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
    f_evals, g_evals (int64), epochs (float64), time (float64): spent to reach that iterate (time: the
                          run's own clock, as in runs and trace; in a stack its cell's share)
    estimated (bool)      True when f_opt was unknown and the hit was computed after the fact
                          against an estimate of f_opt (the best f seen in the result set)

Statuses
    ``STATUSES``; ``FINISHED_STATUSES`` (converged, stopped, budget: their final f enters medians
    and the f_opt estimate); ``FAILED_STATUSES`` (error, timeout: the cell failed and is
    run again on resume); ``INFINITE_GAP_STATUSES`` (diverged, error, timeout: a final gap
    of +inf in ranks and tuning criteria).

Target ladder
    :func:`target_ladder`: gap targets ``10^t``, t = 2, 1.8, ..., -8 (COCO's 51 targets);
    the engine records first hits of this ladder, and the analysis reads them by exact value.

Labels (what every table, figure, export folder and terminal line shows)
    problem  ``name(params, dim=d)``: :func:`problem_label`, e.g. ``quadratic(cond=100, dim=10)``
    method   ``name(params)`` and `` [batch b]`` for minibatches: :func:`method_label`
    step     ``name(params)``, or ``own loop`` for a method without a step rule: :func:`step_label`
    solver   ``method + step`` (or the method alone when it owns its loop): :func:`solver_label`
    tuned    ``<method> + <rule> (tuned)``: :func:`tuned_label`, the solver of a tuned method's
             selected setting on the evaluation seeds (see :func:`with_tuned`)
    Numbers are shown to ``LABEL_DIGITS`` = 4 significant digits (``lr=6.614e-05``); exact
    values stay in the ``*_params`` columns. :func:`label_frame` computes the four label
    columns of a DataFrame of key columns (vectorised over its distinct keys).

The f_opt estimate
    Where a problem's ``f_opt`` is unknown, :func:`f_opt_estimate` stands in: the best finite
    f over every finished run (converged or budget) of the problem, final values and trace rows
    alike. Diverged runs are excluded (their iterates before blowing up are not a solution the
    method returns), and so are errors and timeouts (unfinished).
"""

from __future__ import annotations

import decimal
import functools
import json
import re
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import numpy as np

from optbench.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "STATUSES", "FINISHED_STATUSES", "FAILED_STATUSES", "INFINITE_GAP_STATUSES",
    "KEY_COLUMNS", "RUN_COLUMNS", "TRACE_COLUMNS", "HIT_COLUMNS", "DTYPES", "CellTables",
    "key_frame", "empty_table", "failed_runs", "build", "arrow_table", "frame_of", "with_phase", "target_ladder",
    "LABEL_DIGITS", "LABEL_COLUMNS", "natural_key", "LABEL_KEYS", "number_text", "params_text", "with_params", "problem_label",
    "method_label", "step_label", "solver_label", "tuned_label", "label_frame", "with_tuned", "f_opt_estimate",
]

STATUSES = ("converged", "stopped", "budget", "diverged", "error", "timeout")
FINISHED_STATUSES = ("converged", "stopped", "budget")  # final f enters medians and the f_opt estimate
FAILED_STATUSES = ("error", "timeout")  # recorded, and run again on resume
INFINITE_GAP_STATUSES = ("diverged", "error", "timeout")  # a final gap of +inf in ranks and criteria

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
    """COCO's target ladder of gaps ``10^t`` for t = start, start - step, ..., stop (51 targets by default).

    Each target is ``10^t`` correctly rounded from the decimal exponent ``t`` (computed in
    decimal arithmetic), so the ladder is the same bits on every CPU (numpy's SIMD ``**``
    is not) and integer powers are exact (``1e-08``). The one ladder of optbench: the
    engine's hits, the analysis' default targets and the export's triggers are its values.
    """
    if not step > 0 or not start >= stop:
        raise ParameterError(f"target ladder needs start >= stop and step > 0, got start={start}, stop={stop}, step={step}")
    return np.array(_ladder(float(start), float(stop), float(step)))


@functools.lru_cache(maxsize=16)
def _ladder(start: float, stop: float, step: float) -> tuple[float, ...]:
    count = int(round((start - stop) / step)) + 1
    first, spacing = decimal.Decimal(repr(start)), decimal.Decimal(repr(step))
    with decimal.localcontext(decimal.Context(prec=40)):
        return tuple(float(decimal.Decimal(10) ** (first - spacing * k)) for k in range(count))


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
        if hasattr(frame, "set_column"):  # an Arrow table (the run path of a suite): no pandas
            out.append(_arrow_with(frame, {column: description.get(column) for column in ("cell", "phase", "trial")}))
            continue
        frame = frame.copy()
        n_rows = len(frame)
        for column in ("cell", "phase", "trial"):
            frame[column] = _column(column, description.get(column), n_rows)
        out.append(frame)
    return CellTables(*out)


def _arrow_with(table: Any, values: dict[str, Any]) -> Any:
    """The Arrow ``table`` with each key column of ``values`` set to that one value on every row."""
    from optbench.arrow import numbers, texts

    n_rows = table.num_rows
    for column, value in values.items():
        if DTYPES[column] == "str":
            array = texts(["" if value is None else str(value)] * n_rows)
        else:
            array = numbers(np.full(n_rows, 0 if value is None else int(value), dtype=np.int64),
                            None if value is not None else np.zeros(n_rows, dtype=bool))
        table = table.set_column(table.schema.get_field_index(column), column, array)
    return table



def _arrow_keys(descriptions: Sequence[dict[str, Any]], index: Any) -> dict[str, Any]:
    """Key columns (Arrow arrays) for rows that belong to ``descriptions[index[row]]``."""
    from optbench.arrow import numbers, texts

    keys = {}
    for column in KEY_COLUMNS:
        per_config = [description.get(column) for description in descriptions]
        dtype = DTYPES[column]
        if dtype == "str":
            values = texts(["" if v is None else str(v) for v in per_config])
        elif dtype == "Int64":
            valid = np.array([v is not None for v in per_config], dtype=bool)
            values = numbers(np.array([0 if v is None else int(v) for v in per_config], dtype=np.int64), valid)
        else:
            values = numbers(np.asarray(per_config, dtype=dtype))
        keys[column] = values.take(index)
    return keys


def arrow_table(table: str, descriptions: Sequence[dict[str, Any]], config: np.ndarray, columns: dict[str, Any]) -> Any:
    """The ``runs``, ``trace`` or ``hits`` table as a ``pyarrow.Table``, built from ``columns`` without pandas.

    Same columns, order and values as :func:`build` (the run path of a suite writes these; no pandas is imported).
    """
    import pyarrow as pa

    from optbench.arrow import numbers, texts

    arrays = _arrow_keys(descriptions, numbers(np.asarray(config, dtype=np.int64)))
    order = _COLUMNS[table]
    names = [name for name in order[len(KEY_COLUMNS):] if name in columns]
    names += [name for name in columns if name not in order]
    for name in names:
        if DTYPES.get(name) == "str":
            arrays[name] = texts(np.asarray(columns[name], dtype=object).astype(str).tolist())
        else:
            arrays[name] = numbers(np.asarray(columns[name]))
    return pa.table(arrays)


def frame_of(table: Any) -> "pd.DataFrame":
    """A table as a pandas DataFrame with the dtypes of ``DTYPES`` (an Arrow table is converted; a frame passes)."""
    if not hasattr(table, "to_pandas") or hasattr(table, "iloc"):
        return table
    frame = table.to_pandas()
    for column in frame.columns:
        dtype = DTYPES.get(column)
        if dtype in ("Int64", "str") and str(frame[column].dtype) != dtype:
            frame[column] = frame[column].astype(dtype)
    return frame


# ---------------------------------------------------------------- labels
LABEL_DIGITS = 4  # significant digits of every number in a label
LABEL_COLUMNS = ["problem_label", "solver", "method_label", "step_label"]
# the key columns that tell solvers and problems apart (``cell`` and ``suite`` do not)
LABEL_KEYS = ["problem", "problem_params", "dim", "method", "method_params", "step_rule", "step_params", "batch_size",
              "phase", "trial"]
_OWN_LOOP = ("none", "", None)


_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:e[-+]?\d+)?)")


def natural_key(label: str) -> tuple:
    """``label`` split into text and numbers, numbers compared as numbers: ``"f(dim=2)" < "f(dim=10)"``."""
    parts = _NUMBER.split(str(label))
    return tuple((0, float(part), "") if i % 2 else (1, 0.0, part) for i, part in enumerate(parts))


def _missing(value: Any) -> bool:
    """None, NaN or pandas' NA."""
    if value is None or type(value).__name__ == "NAType":
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def number_text(value: Any) -> str:
    """A parameter value as a label shows it: floats to 4 significant digits (``6.614e-05``), lists element-wise."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(number_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        return f"{float(value):.{LABEL_DIGITS}g}"
    return str(value)


def params_text(params: Any) -> str:
    """``key=value, ...`` of a parameter dict or its canonical JSON (``""`` for none)."""
    if _missing(params):
        return ""
    if isinstance(params, str):
        try:
            params = json.loads(params) if params else {}
        except json.JSONDecodeError:
            return params
    if not isinstance(params, dict):
        return str(params)
    return ", ".join(f"{key}={number_text(value)}" for key, value in params.items())


def with_params(name: Any, params: Any, extra: str = "") -> str:
    """``name(params, extra)``, or ``name`` alone when both are empty."""
    text = ", ".join(part for part in (params_text(params), extra) if part)
    return f"{name}({text})" if text else str(name)


def problem_label(problem: str, problem_params: Any = None, dim: Any = None) -> str:
    """``name(params, dim=d)``; ``dim`` is left out when 0, unknown, or one of the parameters."""
    has_dim = not _missing(dim) and int(dim) and '"dim"' not in str(problem_params)
    return with_params(problem, problem_params, f"dim={int(dim)}" if has_dim else "")


def _batch_text(batch_size: Any) -> str:
    return "" if _missing(batch_size) else f" [batch {int(batch_size)}]"


def method_label(method: str, method_params: Any = None, batch_size: Any = None) -> str:
    """``name(params)``, with `` [batch b]`` for a minibatch run."""
    return with_params(method, method_params) + _batch_text(batch_size)


def step_label(step_rule: Any, step_params: Any = None) -> str:
    """``name(params)`` of a step rule, or ``"own loop"`` for a method that takes none."""
    return "own loop" if step_rule in _OWN_LOOP or _missing(step_rule) else with_params(step_rule, step_params)


def solver_label(method: str, step: str) -> str:
    """The solver of a method label and a step label: ``method + step``, the method alone for ``own loop``."""
    return method if step == "own loop" else f"{method} + {step}"


def tuned_label(method: str, step_rule: Any = None, batch_size: Any = None) -> str:
    """``<method> [batch b] + <rule> (tuned)``: one name for a tuned method's selected setting on every problem.

    The selected values differ from problem to problem; one name lets aggregates
    compare the tuned method across problems (the values are in the ``*_params`` columns).
    """
    rule = "" if step_rule in _OWN_LOOP or _missing(step_rule) else f" + {step_rule}"
    return f"{method}{_batch_text(batch_size)}{rule} (tuned)"


def _labels_of(row: Any, tuned: bool) -> tuple[str, str, str, str]:
    problem = problem_label(row.problem, row.problem_params, row.dim)
    if tuned:
        method, step = method_label(row.method, None, row.batch_size), step_label(row.step_rule)
        return problem, tuned_label(row.method, row.step_rule, row.batch_size), method, step
    method, step = method_label(row.method, row.method_params, row.batch_size), step_label(row.step_rule, row.step_params)
    return problem, solver_label(method, step), method, step


def label_frame(keys: "pd.DataFrame") -> "pd.DataFrame":
    """The label columns (``LABEL_COLUMNS``) of every row of a frame of key columns, same index.

    ``keys`` holds the columns of ``LABEL_KEYS`` that it has (the others count as
    unset) and, optionally, a boolean ``tuned`` (:func:`with_tuned`): a tuned row's
    solver is :func:`tuned_label`. Pure and vectorised: labels are computed once per
    distinct key and broadcast.
    """
    import pandas as pd

    present = [column for column in LABEL_KEYS + ["tuned"] if column in keys]
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys[present].astype(object)))
    firsts = pd.DataFrame(list(uniques), columns=present) if len(keys) else pd.DataFrame(columns=present)
    for column in LABEL_KEYS:
        if column not in firsts:
            firsts[column] = None
    tuned = firsts["tuned"].to_numpy(dtype=bool) if "tuned" in firsts else np.zeros(len(firsts), dtype=bool)
    table = np.array([_labels_of(row, flag) for row, flag in zip(firsts.itertuples(index=False), tuned)],
                     dtype=object).reshape(len(firsts), len(LABEL_COLUMNS))
    return pd.DataFrame({column: table[codes, j] for j, column in enumerate(LABEL_COLUMNS)}, index=keys.index)


# ---------------------------------------------------------------- tuned methods
_TARGET = ["problem", "problem_params", "dim", "method", "step_rule", "batch_size"]  # one tuned method on one problem


def with_tuned(runs: "pd.DataFrame") -> "pd.DataFrame":
    """``runs`` with a boolean ``tuned`` and ``copy_of`` (-1, or the row position a copy repeats); copies appended.

    The evaluation phase of a tuned method on a problem (``phase == "evaluation"``)
    holds the default setting (trial 0) and the selected trial k (when k > 0). The
    selected trial's runs are *tuned*: their solver is :func:`tuned_label`. Where the
    default setting won (only trial 0 was evaluated), its runs are the tuned method's
    too: they are repeated as tuned copies, so the tuned method has runs on every
    problem. Tables without ``phase`` come back with ``tuned`` False and no copies.
    """
    import pandas as pd

    runs = runs.reset_index(drop=True)
    tuned = np.zeros(len(runs), dtype=bool)
    copies = np.zeros(len(runs), dtype=bool)
    if "phase" in runs and "trial" in runs and len(runs):
        evaluation = (runs["phase"].astype(str) == "evaluation").to_numpy()
        trial = pd.to_numeric(runs["trial"], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
        group = pd.MultiIndex.from_frame(runs[[c for c in _TARGET if c in runs]].astype(str))
        selected = pd.Series(np.where(evaluation, trial, -1)).groupby(pd.factorize(group)[0]).transform("max").to_numpy()
        tuned = evaluation & (trial == selected) & (selected > 0)
        copies = evaluation & (selected == 0) & (trial == 0)
    out = runs.assign(tuned=tuned, copy_of=np.full(len(runs), -1, dtype=np.int64))
    if copies.any():
        repeated = out[copies].assign(tuned=True, copy_of=np.flatnonzero(copies))
        out = pd.concat([out, repeated], ignore_index=True)
    return out


# ---------------------------------------------------------------- the f_opt estimate
def f_opt_estimate(runs: "pd.DataFrame", trace: "pd.DataFrame | None" = None, by: str = "problem_label") -> "pd.Series":
    """Per value of ``runs[by]``: the best finite f of the finished runs (converged or budget), trace rows included.

    ``trace["run"]`` is the row position in ``runs`` of each trace row. Diverged,
    errored and timed-out runs do not count; NaN for a problem without a finished
    finite value. This is the one stand-in for an unknown ``f_opt``.
    """
    import pandas as pd

    finished = runs["status"].isin(FINISHED_STATUSES).to_numpy()
    f = runs["f"].to_numpy(dtype=float)
    best = np.where(finished & np.isfinite(f), f, np.inf)
    if trace is not None and len(trace):
        run = trace["run"].to_numpy(dtype=np.int64)
        values = trace["f"].to_numpy(dtype=float)
        np.minimum.at(best, run, np.where(finished[run] & np.isfinite(values), values, np.inf))
    best = pd.Series(np.where(np.isfinite(best), best, np.nan), index=runs.index)
    return best.groupby(runs[by].to_numpy(), sort=True).min()
