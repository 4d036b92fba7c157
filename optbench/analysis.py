"""Summaries of result sets: leaderboard, fixed-target runtimes, ERT, ECDFs, profiles.

Every function takes the two tidy tables of a result set, ``runs`` (one row per
run) and ``trace`` (one row per run per recorded iteration), and returns a tidy
pandas DataFrame. Nothing here runs an optimizer.

Conventions, shared by every table and figure:

- A *solver* is a method with its parameters, its step rule with its parameters
  and its batch size (``"adam + constant(lr=0.01)"``); a *problem* is a problem
  with its parameters and dimension (``"quadratic(cond=100, dim=10)"``). Labels,
  the tuned label and the target ladder come from :mod:`optbench.schema`.
- Where a problem's ``f_opt`` is unknown (NaN), :func:`optbench.schema.f_opt_estimate`
  stands in (the best finite f of the finished runs, diverged ones excluded):
  ``f_gap = f - estimate``, and the column ``f_opt_estimated`` says so.
- Evaluation axes (``AXES``): ``iterations``; ``evaluations`` = f_evals + g_evals
  (line-search trials are charged, so a method spending ten evaluations per step
  is shown as it is); ``f_evals``; ``g_evals``; ``epochs``; ``time`` (seconds).
- A run's runtime to a target ``t`` is the value of the axis at the first
  recorded trace row where its best-so-far ``f_gap <= t``; infinite if never.
  With ``record="log"`` the trace holds log-spaced checkpoints, so a runtime is
  an upper bound, late by at most the checkpoint spacing (about 26 %).
  When the ``hits`` table (exact first hits recorded in the loop) is passed,
  runtimes to the targets of its ladder are exact; other targets use the trace.
- Gap tolerance: a gap at or below ``gap_tol`` (default ``1e-12 * max(1, |f_opt|)``
  per problem) counts as 0 for ranks, successes and tests, so round-off never
  picks a winner and a negative gap is never better than 0. Tables show gaps as computed.
- Common coverage: aggregates over problems (ECDFs, profiles, scores) use by
  default the largest block of solvers x problems in which every solver ran every
  problem (:func:`coverage`); the solvers and problems left out are named in the
  returned table's ``attrs["coverage"]``. ``coverage="each"`` averages each solver
  over the problems it ran, as asked.
- ERT (COCO's aRT) at a target = (evaluations spent by successful runs until they
  first hit it + all evaluations spent by unsuccessful runs) / number of
  successful runs; infinite when no run succeeds.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from optbench import schema
from optbench.errors import ParameterError, did_you_mean
__all__ = [
    "AXES",
    "AXIS_LABELS",
    "default_targets",
    "prepare",
    "prepare_indexed",
    "prepare_hits_indexed",
    "first_hits",
    "runtimes",
    "ert",
    "leaderboard",
    "runs_leaderboard",
    "failure_rates",
    "runtime_ecdf",
    "runtime_ecdf_groups",
    "convergence",
    "solve_costs",
    "performance_profile",
    "performance_score",
    "data_profile",
    "lr_sensitivity",
    "failures",
    "ranks",
    "tolerance",
    "coverage",
    "Coverage",
    "fair_axes",
    "fixed_budget",
    "budget_ecdf",
    "default_budgets",
    "prepare_hits",
    "final_gaps",
]

AXES = ("iterations", "evaluations", "f_evals", "g_evals", "epochs", "time")
AXIS_LABELS = {
    "iterations": "iterations",
    "evaluations": "evaluations (f + gradient calls)",
    "f_evals": "function evaluations",
    "g_evals": "gradient evaluations",
    "epochs": "epochs (passes over the data)",
    "time": "time (seconds)",
}
FINISHED = schema.FINISHED_STATUSES  # statuses whose final f enters medians
FAILED = schema.INFINITE_GAP_STATUSES  # statuses that count as an infinite final gap in ranks
LABELS = schema.LABEL_COLUMNS
default_targets = schema.target_ladder  # COCO's ladder 10^2 ... 10^-8 by 0.2: the one definition, in schema


def _check_axis(axis: str) -> str:
    if axis not in AXES:
        raise ParameterError(f"unknown axis {axis!r}.{did_you_mean(axis, list(AXES))} Valid axes: {', '.join(AXES)}")
    return axis


def _check_targets(targets: Iterable[float] | None) -> np.ndarray:
    if targets is None:
        values = default_targets()
    else:
        try:
            values = np.atleast_1d(np.asarray(targets, dtype=float)).ravel()
        except (TypeError, ValueError):
            raise ParameterError(f"targets must be a number or a list of numbers, got {targets!r}") from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ParameterError(f"targets must be a non-empty list of finite numbers, got {targets!r}")
    return np.sort(values)[::-1]  # descending: easiest first


# ---------------------------------------------------------------- labels and f_opt
_DEFAULTS = {"problem_params": "{}", "dim": 0, "method_params": "{}", "step_rule": "none", "step_params": "{}",
             "batch_size": None, "suite": "", "message": "", "phase": "", "trial": None}
_KEYS = schema.LABEL_KEYS  # the key columns that tell runs of different solvers or problems apart


def _fill_keys(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in ("problem", "method", "seed") if c not in frame]
    if missing:
        raise ParameterError(f"the {name} table lacks the column(s) {', '.join(missing)}; it needs at least problem, method and seed")
    frame = frame.copy(deep=False)  # copy-on-write: new columns never reach the caller's frame
    for column, default in _DEFAULTS.items():
        if column not in frame:
            frame[column] = pd.array([default] * len(frame), dtype="Int64") if column == "trial" else default
    return frame


def _key_codes(frame: pd.DataFrame) -> np.ndarray:
    """One integer per row, equal for rows with equal key columns (factorized column by column)."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for column in _KEYS:
        column_codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        codes = codes * (len(uniques) + 1) + (column_codes + 1)
        codes = pd.factorize(codes)[0].astype(np.int64)  # keep the radix small
    return codes


def _key_value(value: Any) -> Any:
    """A key column's value in one form whatever the table's dtype (``3``, ``3.0`` and ``"3"`` alike; NA as None)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _distinct_keys(frame: pd.DataFrame) -> tuple[np.ndarray, list[tuple]]:
    """(key code per row, the key of each code as a tuple of normalised values)."""
    codes = _key_codes(frame)
    n_keys = int(codes.max()) + 1 if len(codes) else 0
    first_rows = np.full(n_keys, len(frame), dtype=np.int64)
    np.minimum.at(first_rows, codes, np.arange(len(frame)))
    first = frame.iloc[first_rows][_KEYS]
    return codes, [tuple(_key_value(v) for v in row) for row in first.itertuples(index=False, name=None)]


def _labelled_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with the label columns (schema.label_frame), ``run`` ids, and tuned copies (schema.with_tuned)."""
    runs = schema.with_tuned(runs)
    labels = schema.label_frame(runs)
    for column in LABELS:
        runs[column] = labels[column].astype("str")  # one row per run: pandas' string dtype, as the other text columns
    duplicated = runs.duplicated(["problem_label", "solver", "seed"])
    if duplicated.any():
        example = runs.loc[duplicated, ["problem_label", "solver", "seed"]].iloc[0].tolist()
        raise ParameterError(f"the runs table has the same run twice (problem, solver, seed) = {example}; concatenate distinct runs only")
    runs["run"] = np.arange(len(runs), dtype=np.int64)
    return runs


def prepare(runs: pd.DataFrame, trace: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise a result set: label columns, ``evaluations``, ``f_gap`` with estimated ``f_opt`` where unknown.

    Returns copies of ``(runs, trace)`` with the columns ``problem_label``,
    ``solver``, ``method_label``, ``step_label``, ``run`` (an integer id per run),
    ``evaluations`` (f_evals + g_evals), ``iterations`` in the trace (its
    ``iteration``), ``f_opt_used`` and ``f_opt_estimated``. Idempotent.
    Labels are :func:`optbench.schema.label_frame`'s; a tuned method's selected runs
    are labelled ``<method> + <rule> (tuned)`` and, where the default setting won,
    its runs are repeated under that label (:func:`optbench.schema.with_tuned`: columns
    ``tuned`` and ``copy_of``), trace and hits rows included.
    The prepared trace is sorted by (run, iteration) and carries ``run``, ``seed``,
    ``dim`` and the label columns in place of the text key columns (``cell``,
    ``problem``, ``method``, ...): join ``runs`` on ``run`` for those. This keeps a
    trace of millions of rows small.
    """
    if "run" in runs and "f_opt_estimated" in runs and (trace is None or "run" in trace):
        return runs, (trace if trace is not None else _empty_trace(runs))
    runs = _prepare_runs(runs)
    trace = _empty_trace(runs) if trace is None or len(trace) == 0 else _prepared_trace(runs, trace)
    _fill_gaps(runs, trace)
    return runs, trace


def prepare_indexed(runs: pd.DataFrame, trace: pd.DataFrame, run: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`prepare` for a trace whose rows already know their run: ``run[i]`` is the row of ``runs`` trace row i belongs to
    (a position in ``runs`` as given, before tuned copies are appended).

    The same tables as ``prepare(runs, trace)`` (a reader that matched rows by
    their cell and seed, such as :func:`optbench.sql.read_prepared`, skips the
    matching by labels); ``trace`` may leave out the text key columns.
    """
    runs = _prepare_runs(runs)
    if len(trace) == 0:
        trace = _empty_trace(runs)
    else:
        trace = trace.drop(columns=[c for c in _KEYS + ["cell", "suite"] if c != "dim" and c in trace]).reset_index(drop=True)
        if "message" not in trace:  # as _fill_keys gives it
            trace["message"] = _DEFAULTS["message"]
        trace["run"] = runs["run"].to_numpy()[run]
        trace = _finish_trace(runs, _with_copies(runs, trace))
    _fill_gaps(runs, trace)
    return runs, trace


def _prepare_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs part of :func:`prepare`: key defaults, labels, the duplicate check, ``run`` and ``evaluations``."""
    runs = _fill_keys(runs, "runs")
    for column in ("status", "f", "f_opt", "f_gap", "iterations", "f_evals", "g_evals", "epochs", "time"):
        if column not in runs:
            runs[column] = "budget" if column == "status" else np.nan
    runs = _labelled_runs(runs)
    runs["evaluations"] = runs["f_evals"].fillna(0) + runs["g_evals"].fillna(0)
    return runs


def _finish_trace(runs: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """The trace part of :func:`prepare` once rows carry ``run`` (tuned copies included): sorted by (run, iteration),
    the run's labels, ``iterations``, ``evaluations`` = f_evals + g_evals and ``f_opt`` (the run's)."""
    run, iteration = trace["run"].to_numpy(), trace["iteration"].to_numpy()
    ordered = np.all((run[1:] > run[:-1]) | ((run[1:] == run[:-1]) & (iteration[1:] > iteration[:-1])))
    if not ordered:
        trace = trace.take(np.lexsort((iteration, run))).reset_index(drop=True)
    _label_rows(runs, trace)
    trace["iterations"] = trace["iteration"]
    trace["evaluations"] = trace["f_evals"].fillna(0) + trace["g_evals"].fillna(0)
    if "f_opt" not in trace:
        trace["f_opt"] = runs["f_opt"].to_numpy()[trace["run"].to_numpy()]
    return trace


def _prepared_trace(runs: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """The trace with ``run`` and labels, sorted by (run, iteration), its text key columns dropped (see :func:`prepare`)."""
    trace = _fill_keys(trace, "trace").reset_index(drop=True)
    _attach_runs(runs, trace, "trace")
    trace = trace.drop(columns=[c for c in _KEYS + ["cell", "suite"] if c != "dim" and c in trace])
    return _finish_trace(runs, _with_copies(runs, trace))


def _label_rows(runs: pd.DataFrame, frame: pd.DataFrame) -> None:
    """The label columns of ``frame``'s rows (found by ``run``) as categoricals, in place: each distinct label is
    stored once (a trace of millions of rows holds a small integer code per row), ordered as the text sorts."""
    run = frame["run"].to_numpy()
    for column in LABELS:
        codes, uniques = pd.factorize(runs[column], sort=True)
        frame[column] = pd.Categorical.from_codes(codes[run], categories=uniques, ordered=True)  # min, max, sort: as text


def _attach_runs(runs: pd.DataFrame, frame: pd.DataFrame, name: str) -> None:
    """Add ``run`` (the id of the run in ``runs`` it belongs to), in place.

    Rows are matched to runs by their key columns and seed (tuned copies are added
    afterwards by :func:`_with_copies`).
    """
    original = runs["copy_of"].to_numpy() < 0
    run_codes, run_keys = _distinct_keys(runs)
    index = {key: i for i, key in enumerate(run_keys)}
    codes, keys = _distinct_keys(frame)
    key_of_frame = np.array([index.get(key, -1) for key in keys], dtype=np.int64)
    seed_codes, seed_uniques = pd.factorize(np.concatenate([runs["seed"].to_numpy(dtype=np.int64), frame["seed"].to_numpy(dtype=np.int64)]))
    n_seeds = len(seed_uniques)
    run_key = (run_codes * n_seeds + seed_codes[:len(runs)])[original]
    frame_of_key = key_of_frame[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    frame_key = np.where(frame_of_key >= 0, frame_of_key * n_seeds + seed_codes[len(runs):], -1)
    found = pd.Index(run_key).get_indexer(frame_key)
    position = np.where(found >= 0, np.flatnonzero(original)[np.maximum(found, 0)], -1)
    orphans = found < 0
    if orphans.any():
        row = int(np.flatnonzero(orphans)[0])
        label = schema.label_frame(frame.iloc[[row]])
        example = [label["problem_label"].iloc[0], label["solver"].iloc[0], int(frame["seed"].iloc[row])]
        raise ParameterError(f"the {name} has rows for a run that the runs table lacks: {example}")
    frame["run"] = runs["run"].to_numpy()[position]


def _with_copies(runs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (rows with ``run`` ids) with the rows of every run that has a tuned copy repeated for the copy."""
    copy_of = runs["copy_of"].to_numpy()
    copies = np.flatnonzero(copy_of >= 0)
    if not len(copies) or not len(frame):
        return frame
    copy_for = np.full(len(runs), -1, dtype=np.int64)
    copy_for[copy_of[copies]] = copies
    target = copy_for[frame["run"].to_numpy()]
    extra = frame[target >= 0].copy()
    extra["run"] = target[target >= 0]
    return pd.concat([frame, extra], ignore_index=True)


def prepare_hits(runs: pd.DataFrame, hits: pd.DataFrame | None) -> pd.DataFrame | None:
    """The hits table reduced to ``run`` (ids into the prepared ``runs``), ``seed``, ``target`` and the axes.

    None when ``hits`` is None or empty. Idempotent: prepare it once and pass the
    result to every function that takes ``hits`` to save the matching work.
    """
    if hits is None or len(hits) == 0:
        return None
    if "run" in hits and "evaluations" in hits:
        return hits
    prepared = _fill_keys(hits, "hits").reset_index(drop=True)
    _attach_runs(runs, prepared, "hits table")
    return _hit_columns(_with_copies(runs, prepared))


def prepare_hits_indexed(runs: pd.DataFrame, hits: pd.DataFrame, run: np.ndarray) -> pd.DataFrame | None:
    """:func:`prepare_hits` for hits whose rows already know their run (``run[i]``: the row of the prepared ``runs``)."""
    if len(hits) == 0:
        return None
    prepared = hits.reset_index(drop=True)
    prepared["run"] = runs["run"].to_numpy()[run]
    return _hit_columns(_with_copies(runs, prepared))


def _hit_columns(prepared: pd.DataFrame) -> pd.DataFrame:
    """A hits table whose rows carry ``run``, reduced to ``run``, ``seed``, ``target`` and the axes."""
    if "iteration" in prepared:  # a reader may leave out the axes its caller does not read (optbench.sql.read_prepared)
        prepared["iterations"] = prepared["iteration"]
    prepared["evaluations"] = prepared["f_evals"].fillna(0) + prepared["g_evals"].fillna(0)
    return prepared[[c for c in ("run", "seed", "target") if c in prepared] + [axis for axis in AXES if axis in prepared]]


def tolerance(frame: pd.DataFrame, gap_tol: float | None = None) -> np.ndarray:
    """Gap tolerance per row of a prepared table: ``gap_tol`` if given, else ``1e-12 * max(1, |f_opt|)``.

    ``f_opt`` is the problem's known optimum or its estimate (``f_opt_used``).
    A gap ``<= tolerance`` counts as 0 (see :func:`tolerant`).
    """
    if gap_tol is not None:
        if not (isinstance(gap_tol, (int, float)) and math.isfinite(gap_tol) and gap_tol >= 0):
            raise ParameterError(f"gap_tol must be a finite number >= 0 (or None for 1e-12 * max(1, |f_opt|)), got {gap_tol!r}")
        return np.full(len(frame), float(gap_tol))
    f_opt = np.abs(frame["f_opt_used"].to_numpy(dtype=float)) if len(frame) else np.zeros(0)
    return 1e-12 * np.maximum(1.0, np.nan_to_num(f_opt, nan=1.0, posinf=1.0))


def tolerant(gap: np.ndarray, tol: np.ndarray | float) -> np.ndarray:
    """``0`` where ``gap <= tol`` (round-off and negative gaps), ``gap`` elsewhere (NaN stays NaN)."""
    gap = np.asarray(gap, dtype=float)
    return np.where(gap <= tol, 0.0, gap)


def _empty_trace(runs: pd.DataFrame) -> pd.DataFrame:
    columns = ["run", "iteration", "iterations", "evaluations", "f_evals", "g_evals", "epochs", "time", "f", "f_gap", "f_opt"]
    trace = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    for label in LABELS:
        trace[label] = pd.Series(dtype=object)
    trace["run"] = trace["run"].astype(np.int64)
    return trace


def _fill_gaps(runs: pd.DataFrame, trace: pd.DataFrame) -> None:
    """``f_opt_used`` per problem: the known ``f_opt``, else :func:`optbench.schema.f_opt_estimate`."""
    known = runs.groupby("problem_label")["f_opt"].first()  # first non-NaN
    estimated = known.isna()
    f_opt = known.copy()
    if estimated.any():
        f_opt = known.where(~estimated, schema.f_opt_estimate(runs, trace).reindex(known.index))
    run_f_opt = runs["problem_label"].map(f_opt).to_numpy(dtype=float)
    run_estimated = runs["problem_label"].map(estimated).to_numpy(dtype=bool)
    for frame, index in ((runs, slice(None)), (trace, trace["run"].to_numpy() if len(trace) else np.zeros(0, dtype=np.int64))):
        frame["f_opt_used"] = run_f_opt[index]
        frame["f_opt_estimated"] = run_estimated[index]
        recompute = frame["f_opt_estimated"].to_numpy() | frame["f_gap"].isna().to_numpy()
        if recompute.any():
            frame.loc[recompute, "f_gap"] = frame.loc[recompute, "f"] - frame.loc[recompute, "f_opt_used"]


def estimated_problems(runs: pd.DataFrame) -> list[str]:
    """Problems whose ``f_opt`` was estimated by the best value found (after :func:`prepare`)."""
    return sorted(runs.loc[runs["f_opt_estimated"], "problem_label"].unique())


# ---------------------------------------------------------------- first hits
def _best_so_far(trace: pd.DataFrame) -> np.ndarray:
    gap = trace["f_gap"].to_numpy(dtype=float)
    gap = np.where(np.isnan(gap), np.inf, gap)
    return pd.Series(gap).groupby(trace["run"].to_numpy(), sort=False).cummin().to_numpy()


def first_hits(runs: pd.DataFrame, trace: pd.DataFrame, targets: Iterable[float] | None = None,
               relative: bool = False, hits: pd.DataFrame | None = None,
               gap_tol: float | None = None) -> pd.DataFrame:
    """One row per run per target: whether the run's best-so-far ``f_gap`` reached it, and when, on every axis.

    ``relative=True`` scales each run's targets by its initial gap (first trace
    row), Moré and Wild's test ``f - f_opt <= t (f(x0) - f_opt)``. Axis columns
    (``iterations``, ``evaluations``, ...) hold the value at the first recorded
    row that meets the target, ``inf`` for a miss. Best-so-far gaps at or below
    the gap tolerance (:func:`tolerance`) count as 0. With ``hits`` (the engine's
    exact first hits), the targets of its ladder are taken from it, exactly, for
    every cell it covers whose ``f_opt`` is known; other targets and cells use the trace.
    """
    runs, trace = prepare(runs, trace)
    ladder = _check_targets(targets)
    hit, values = _hit_matrix(runs, trace, ladder, AXES, relative, hits, gap_tol)
    n_runs, n_targets = hit.shape
    run = np.repeat(runs["run"].to_numpy(), n_targets)
    out = pd.DataFrame({"run": run, "target": np.tile(ladder, n_runs), "hit": hit.ravel()})
    for axis in AXES:
        out[axis] = values[axis].ravel()
    meta = runs[["seed", "dim", "status", "evaluations", "f_opt_estimated"] + LABELS].rename(columns={"evaluations": "evaluations_spent"})
    for column in meta:
        out[column] = meta[column].to_numpy()[run]
    return out


CHUNK_ROWS = 500_000  # trace rows per pass of the first-hit computation (bounds its temporary arrays)


def _hit_matrix(runs: pd.DataFrame, trace: pd.DataFrame, ladder: np.ndarray, axes: Sequence[str], relative: bool,
                hits: pd.DataFrame | None, gap_tol: float | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(hit, {axis: value}) as (n_runs, n_targets) arrays for prepared tables and a descending ``ladder``."""
    n_runs, n_targets = len(runs), len(ladder)
    hit = np.zeros(n_runs * n_targets, dtype=bool)
    values = {axis: np.full(n_runs * n_targets, np.inf) for axis in axes}
    best = _best_so_far(trace)
    run_ids = trace["run"].to_numpy()
    new_run = np.r_[True, run_ids[1:] != run_ids[:-1]] if len(run_ids) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(new_run)
    cuts = np.unique(np.r_[0, starts[np.searchsorted(starts, np.arange(CHUNK_ROWS, len(run_ids), CHUNK_ROWS))], len(run_ids)])
    columns = {axis: trace[axis].to_numpy() for axis in axes}
    for a, b in zip(cuts[:-1], cuts[1:]):
        gap = tolerant(best[a:b], tolerance(trace.iloc[a:b], gap_tol))
        if relative:
            first = np.flatnonzero(new_run[a:b])
            scale = np.repeat(trace["f_gap"].to_numpy(dtype=float)[a:b][first], np.diff(np.r_[first, b - a]))
            with np.errstate(divide="ignore", invalid="ignore"):
                gap = np.where(scale > 0, gap / scale, np.where(gap <= 0, 0.0, np.inf))
        # level: how many targets the row meets (targets >= gap); non-decreasing along a run
        level = n_targets - np.searchsorted(ladder[::-1], gap, side="left")
        previous = np.where(new_run[a:b], 0, np.r_[0, level[:-1]])
        newly = level - previous  # targets first met at this row: indices previous .. level-1
        rows = np.repeat(np.arange(b - a), newly)
        target_index = np.arange(len(rows)) - np.repeat(np.cumsum(newly) - newly, newly) + np.repeat(previous, newly)
        position = run_ids[a:b][rows] * n_targets + target_index
        hit[position] = True
        for axis, column in columns.items():
            values[axis][position] = column[a:b][rows]
    if not relative:
        _use_hits(hit, values, runs, prepare_hits(runs, hits), ladder)
    return hit.reshape(n_runs, n_targets), {axis: v.reshape(n_runs, n_targets) for axis, v in values.items()}


def _use_hits(hit: np.ndarray, values: dict[str, np.ndarray], runs: pd.DataFrame, hits: pd.DataFrame | None,
              ladder: np.ndarray) -> None:
    """Overwrite ``hit`` and ``values`` (flat, run-major over ``ladder``) with exact first hits, in place.

    The hits rows are taken ``CHUNK_ROWS`` at a time (millions of rows: the index arrays stay small).
    """
    if hits is None:
        return
    n_targets = len(ladder)
    position = {float(value): i for i, value in reversed(list(enumerate(ladder)))}
    recorded = pd.unique(hits["target"].to_numpy(dtype=float))
    in_ladder = np.zeros(n_targets, dtype=bool)
    in_ladder[[position[float(v)] for v in recorded if float(v) in position]] = True  # one ladder: exact match
    row_run = hits["run"].to_numpy()
    cell = pd.factorize(pd.MultiIndex.from_arrays([runs["problem_label"], runs["solver"]]))[0]
    with_hits = np.zeros(int(cell.max(initial=-1)) + 1, dtype=bool)
    for a in range(0, len(hits), CHUNK_ROWS):
        with_hits[cell[row_run[a:a + CHUNK_ROWS]]] = True
    covered = with_hits[cell] & ~runs["f_opt_estimated"].to_numpy(dtype=bool)
    replace = (covered[:, None] & in_ladder[None, :]).ravel()
    hit[replace] = False
    for column in values.values():
        column[replace] = np.inf
    targets = hits["target"].to_numpy(dtype=float)
    for a in range(0, len(hits), CHUNK_ROWS):
        inverse, here = pd.factorize(targets[a:a + CHUNK_ROWS])
        nearest = np.array([position.get(float(value), -1) for value in here], dtype=np.int64)
        row_target = nearest[inverse]
        run = row_run[a:a + CHUNK_ROWS]
        keep = (row_target >= 0) & covered[run]
        at = run[keep] * n_targets + row_target[keep]
        hit[at] = True
        for axis, column in values.items():
            column[at] = hits[axis].iloc[a:a + CHUNK_ROWS].to_numpy(dtype=float)[keep] if axis in hits else np.nan


def runtimes(runs: pd.DataFrame, trace: pd.DataFrame, targets: Iterable[float] | None = None,
             axis: str = "evaluations", per_dimension: bool = True, hits: pd.DataFrame | None = None,
             gap_tol: float | None = None) -> pd.DataFrame:
    """Fixed-target runtimes on a target ladder (COCO's by default), one row per (run, target).

    ``runtime`` is the first-hit value on ``axis`` (inf for a miss), divided by the
    problem dimension when ``per_dimension`` (COCO's evaluations / dimension).
    """
    _check_axis(axis)
    hits = first_hits(runs, trace, targets, hits=hits, gap_tol=gap_tol)
    runtime = hits[axis].to_numpy(dtype=float)
    if per_dimension:
        dim = hits["dim"].to_numpy(dtype=float)
        runtime = runtime / np.where(dim > 0, dim, 1.0)
    hits["runtime"] = runtime
    hits["axis"] = axis
    return hits


def ert(runs: pd.DataFrame, trace: pd.DataFrame, targets: Iterable[float] | None = None,
        hits: pd.DataFrame | None = None, gap_tol: float | None = None) -> pd.DataFrame:
    """ERT (COCO's aRT) in evaluations per (problem, solver, target), with success counts."""
    return _ert_table(first_hits(runs, trace, targets, hits=hits, gap_tol=gap_tol))


def _ert_table(hits: pd.DataFrame) -> pd.DataFrame:
    """ERT per (problem, solver, target) from a :func:`first_hits` table."""
    spent = np.where(hits["hit"], hits["evaluations"], hits["evaluations_spent"])
    hits = hits.assign(spent=spent)
    table = hits.groupby(["problem_label", "solver", "target"], sort=False).agg(
        method_label=("method_label", "first"), step_label=("step_label", "first"),
        runs=("hit", "size"), successes=("hit", "sum"), evaluations=("spent", "sum"),
        f_opt_estimated=("f_opt_estimated", "first"),
    ).reset_index()
    with np.errstate(divide="ignore"):
        table["ert"] = np.where(table["successes"] > 0, table["evaluations"] / table["successes"].clip(lower=1), np.inf)
    table["success_rate"] = table["successes"] / table["runs"]
    return table


# ---------------------------------------------------------------- leaderboard
def success_name(target: float) -> str:
    """How a target is written in the leaderboard's ``success@<target>`` columns: 1e-06 -> '1e-6'."""
    return f"{target:.0e}".replace("e-0", "e-").replace("e+0", "e+")


def leaderboard(runs: pd.DataFrame, trace: pd.DataFrame | None = None,
                targets: Sequence[float] = (1e-2, 1e-4, 1e-6, 1e-8), target: float = 1e-6,
                hits: pd.DataFrame | None = None, gap_tol: float | None = None) -> pd.DataFrame:
    """One row per (problem, solver), sorted by problem then ``rank``: final gaps, ranks, rates, time and ERT.

    Columns: ``n_runs``, ``n_finished``; ``rank`` (1 = best; tied solvers share the best rank, 1, 1, 1, 4) of the
    solver on its problem, ordered by ``f_gap_median_all``'s tolerant value: the
    median final gap over **all** runs, where a diverged, errored or timed-out run
    counts as +inf and a gap at or below the gap tolerance counts as 0 (so a
    solver with more than half its runs failed ranks behind every solver with a
    finite median, and round-off never wins); ``f_gap_median_all`` (that median,
    gaps as computed); ``f_gap_median``, ``f_gap_q25``, ``f_gap_q75``: the
    quartiles over finished runs only (converged, stopped or budget); ``f_best`` (best f of
    any run, trace included); ``success@t`` for each ``t`` in ``targets`` (fraction
    of all runs whose tolerant best-so-far gap reached t); ``diverged_rate``,
    ``error_rate``, ``timeout_rate``; medians over successful runs of
    ``iterations_to_target``, ``evaluations_to_target``, ``epochs_to_target``,
    ``time_to_target`` at ``target``; ``ert`` (evaluations, inf if no run reached
    ``target``); ``f_opt_estimated``; ``gap_tol`` (the tolerance used).
    """
    runs, trace = prepare(runs, trace)
    hits = prepare_hits(runs, hits)
    ladder = sorted(set(float(t) for t in targets) | {float(target)}, reverse=True)
    first = first_hits(runs, trace, ladder, hits=hits, gap_tol=gap_tol)
    keys = ["problem_label", "solver"]
    table = runs_leaderboard(runs, gap_tol)
    table["f_best"] = pd.Series(_best_f(runs, trace), index=runs.index).groupby([runs[k] for k in keys]).min()
    rates = first.groupby(keys + ["target"])["hit"].mean().unstack("target")
    for t in targets:
        table[f"success@{success_name(t)}"] = rates[float(t)]
    failure_rates(table, runs)
    at_target = first[(first["target"] == float(target)) & first["hit"]]
    for axis in ("iterations", "evaluations", "epochs", "time"):
        table[f"{axis}_to_target"] = at_target.groupby(keys)[axis].median()
    table["ert"] = _ert_table(first[first["target"] == float(target)]).set_index(keys)["ert"]
    table["target"] = float(target)
    table = table.reset_index()
    return table.sort_values(["problem_label", "rank", "solver"], kind="stable", ignore_index=True)


def runs_leaderboard(runs: pd.DataFrame, gap_tol: float | None = None) -> pd.DataFrame:
    """The columns of :func:`leaderboard` that the prepared ``runs`` alone give, indexed by (problem_label, solver):
    labels, ``n_runs``, ``f_opt_estimated``, ``n_finished``, ``f_gap_median_all``, ``gap_tol``, ``rank`` and the
    quartiles of the final gap over finished runs."""
    keys = ["problem_label", "solver"]
    table = runs.groupby(keys, sort=True).agg(method_label=("method_label", "first"), step_label=("step_label", "first"),
                                              n_runs=("run", "size"), f_opt_estimated=("f_opt_estimated", "first"))
    finished = runs[runs["status"].isin(FINISHED)]
    table["n_finished"] = finished.groupby(keys).size().reindex(table.index, fill_value=0)
    _rank_columns(table, runs, gap_tol)
    quantiles = _quartiles(finished, keys, table.index)
    table["f_gap_median"], table["f_gap_q25"], table["f_gap_q75"] = quantiles[0.5], quantiles[0.25], quantiles[0.75]
    return table


def failure_rates(table: pd.DataFrame, runs: pd.DataFrame) -> None:
    """Add ``diverged_rate``, ``error_rate``, ``timeout_rate`` (fractions of the runs) to a leaderboard indexed by
    (problem_label, solver), in place."""
    for status in ("diverged", "error", "timeout"):
        table[f"{status}_rate"] = (runs["status"] == status).groupby([runs["problem_label"], runs["solver"]]).mean()


def _best_f(runs: pd.DataFrame, trace: pd.DataFrame) -> np.ndarray:
    """Per run, the smallest finite f of its final value and its trace (NaN when none is finite)."""
    best = runs["f"].to_numpy(dtype=float).copy()
    best[~np.isfinite(best)] = np.inf
    if len(trace):
        f = trace["f"].to_numpy(dtype=float)
        np.minimum.at(best, trace["run"].to_numpy(), np.where(np.isfinite(f), f, np.inf))
    return np.where(np.isfinite(best), best, np.nan)


def final_gaps(runs: pd.DataFrame, gap_tol: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per run of a prepared runs table: (final gap with failures as +inf, the same made tolerant).

    A run counts as failed (+inf) when its status is diverged, error or timeout,
    or its final gap is not a number.
    """
    gap = runs["f_gap"].to_numpy(dtype=float)
    failed = runs["status"].isin(FAILED).to_numpy() | np.isnan(gap)
    shown = np.where(failed, np.inf, gap)
    return shown, np.where(failed, np.inf, tolerant(gap, tolerance(runs, gap_tol)))


def _rank_columns(table: pd.DataFrame, runs: pd.DataFrame, gap_tol: float | None) -> None:
    """Add ``f_gap_median_all``, ``gap_tol`` and ``rank`` to a leaderboard indexed by (problem, solver), in place."""
    shown, ranked = final_gaps(runs, gap_tol)
    groups = [runs["problem_label"], runs["solver"]]
    table["f_gap_median_all"] = pd.Series(shown, index=runs.index).groupby(groups).median()
    table["gap_tol"] = pd.Series(tolerance(runs, gap_tol), index=runs.index).groupby(groups).first()
    value = pd.Series(ranked, index=runs.index).groupby(groups).median().reindex(table.index)
    table["rank"] = value.groupby(level="problem_label").rank(method="min")  # ties share the best rank: 1, 1, 1, 4


def _quartiles(frame: pd.DataFrame, keys, index: pd.Index) -> pd.DataFrame:
    """Quartiles of ``f_gap`` per group, float columns 0.25, 0.5, 0.75 aligned on ``index`` (NaN for empty groups)."""
    if len(frame) == 0:
        return pd.DataFrame(np.nan, index=index, columns=[0.25, 0.5, 0.75])
    quantiles = frame.groupby(keys)["f_gap"].quantile([0.25, 0.5, 0.75]).unstack()
    return quantiles.reindex(index=index, columns=[0.25, 0.5, 0.75]).astype(float)


def failures(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that diverged, errored or timed out, with their message."""
    runs, _ = prepare(runs, None)
    columns = ["problem_label", "solver", "seed", "status", "iterations", "evaluations", "f", "message"]
    bad = runs[runs["status"].isin(FAILED)]
    return bad[columns].sort_values(["status", "problem_label", "solver", "seed"]).reset_index(drop=True)


def ranks(board: pd.DataFrame, column: str = "rank") -> pd.DataFrame:
    """Solvers x problems matrix of ranks from a leaderboard (1 = best, ties share the best rank); blank (NaN) where a solver never ran.

    ``column="rank"`` takes the leaderboard's failure-aware ranks as they are;
    any other column is ranked within each problem (smaller is better, ties
    sharing the best rank, a NaN value of a solver that ran ranked last).
    """
    values = board.pivot(index="solver", columns="problem_label", values=column)
    if column == "rank":
        return values
    ran = board.pivot(index="solver", columns="problem_label", values="n_runs").notna()
    return values.rank(axis=0, method="min", na_option="bottom").where(ran)


# ---------------------------------------------------------------- common coverage
COVERAGE_MODES = ("common", "each")


class Coverage(NamedTuple):
    """Which solvers and problems an aggregate over problems compares.

    ``problems``: the problems used; ``solvers``: the solvers compared on them;
    ``left_out``: solvers left out, each labelled with its coverage
    (``"gd + polyak (5 of 6 problems)"``); ``left_out_problems``: problems of
    the result set not used; ``labels``: solver -> label, with the coverage
    appended for every solver that did not run every problem; ``n_problems``:
    problems in the result set; ``mode``: "common" or "each".
    """

    problems: list[str]
    solvers: list[str]
    left_out: list[str]
    left_out_problems: list[str]
    labels: dict[str, str]
    n_problems: int
    mode: str

    def note(self) -> str:
        """One sentence for a caption: what was compared, and what was left out."""
        text = f"{len(self.solvers)} solvers on {len(self.problems)} of {self.n_problems} problems"
        if self.mode == "each":
            return text + " (each solver averaged over the problems it ran)"
        if self.left_out:
            text += "; left out for partial coverage: " + "; ".join(self.left_out)
        if self.left_out_problems:
            text += "; problems not run by every compared solver: " + "; ".join(self.left_out_problems)
        return text


def coverage(runs: pd.DataFrame, mode: str = "common") -> Coverage:
    """The solvers x problems block an aggregate compares.

    ``mode="common"``: the largest block (solvers x problems, by number of cells;
    ties favour more solvers, then more problems) in which every solver ran every
    problem. Candidate problem sets are each solver's own set and the set all
    solvers share. ``mode="each"``: every solver on every problem it ran.
    """
    if mode not in COVERAGE_MODES:
        raise ParameterError(f"unknown coverage {mode!r}.{did_you_mean(str(mode), list(COVERAGE_MODES))} Valid: common, each")
    runs, _ = prepare(runs, None)
    pairs = runs[["problem_label", "solver"]].drop_duplicates()
    everything = sorted(pairs["problem_label"].unique())
    sets = {solver: frozenset(group) for solver, group in pairs.groupby("solver")["problem_label"]}
    n = len(everything)
    labels = {solver: solver if len(ran) == n else f"{solver} ({len(ran)} of {n} problems)" for solver, ran in sets.items()}
    if mode == "each" or not sets:
        return Coverage(everything, sorted(sets), [], [], labels, n, mode)
    candidates = set(sets.values()) | {frozenset.intersection(*sets.values())}

    def size(problems: frozenset) -> tuple:
        members = sum(problems <= ran for ran in sets.values())
        return (members * len(problems), members, len(problems), sorted(problems))

    chosen = max(candidates, key=size)
    solvers = sorted(s for s, ran in sets.items() if chosen <= ran and chosen)
    left_out = [labels[s] for s in sorted(sets) if s not in solvers]
    return Coverage(sorted(chosen), solvers, left_out, [p for p in everything if p not in chosen], labels, n, mode)


_cover = coverage  # for functions whose ``coverage`` argument shadows the name


def _restrict(table: pd.DataFrame, cover: Coverage) -> pd.DataFrame:
    """Rows of ``table`` inside the coverage block, with ``attrs["coverage"]`` set."""
    inside = table["problem_label"].isin(cover.problems) & table["solver"].isin(cover.solvers)
    table = table[inside.to_numpy()].reset_index(drop=True)
    table.attrs["coverage"] = cover
    return table


# ---------------------------------------------------------------- ECDF with bootstrap bands
def _ecdf_bands(curves: np.ndarray, run_problems: np.ndarray, bootstrap: int, rng: np.random.Generator,
                confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean curve over problems (each weighted equally) of the mean over its runs, and its bootstrap band.

    ``curves`` is (runs, grid). The band: percentile bootstrap, ``bootstrap``
    replicates resampling runs with replacement within each problem.
    """
    problems_here, problem_index = np.unique(run_problems, return_inverse=True)
    counts = np.bincount(problem_index)
    weights = 1.0 / (len(problems_here) * counts[problem_index])
    proportion = weights @ curves
    if not bootstrap:
        return proportion, proportion, proportion
    boot_weights = np.zeros((bootstrap, len(weights)))
    for p, m in enumerate(counts):
        members = np.flatnonzero(problem_index == p)
        picks = rng.integers(0, m, size=(bootstrap, m)) + (np.arange(bootstrap) * m)[:, None]
        draws = np.bincount(picks.ravel(), minlength=bootstrap * m).reshape(bootstrap, m)  # multinomial(m, 1/m)
        boot_weights[:, members] = draws / (len(problems_here) * m)
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(boot_weights @ curves, [alpha, 1 - alpha], axis=0)
    return proportion, lower, upper


def _check_band(bootstrap: int, confidence: float, points: int = 2) -> None:
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence}")
    if bootstrap < 0 or points < 2:
        raise ParameterError(f"bootstrap must be >= 0 and points >= 2, got {bootstrap}, {points}")


def runtime_ecdf(runs: pd.DataFrame, trace: pd.DataFrame, targets: Iterable[float] | None = None,
                 axis: str = "evaluations", per_dimension: bool = True, points: int = 200,
                 bootstrap: int = 200, confidence: float = 0.95, seed: int = 0, *,
                 coverage: str = "common", hits: pd.DataFrame | None = None,
                 gap_tol: float | None = None) -> pd.DataFrame:
    """ECDF per solver of fixed-target runtimes over (problem, target, seed), with bootstrap bands.

    ``proportion(x)`` = mean over problems (each weighted equally) of the mean over
    the solver's runs on that problem of the fraction of targets hit by runtime x.
    The band: percentile bootstrap (``bootstrap`` replicates) resampling runs with
    replacement within each problem; a run carries all of its target runtimes.
    Problems and solvers follow :func:`coverage` (``attrs["coverage"]`` says which).
    Returns ``solver, method_label, step_label, x, proportion, lower, upper, axis``
    on a log-spaced grid of ``points`` values of x (runtime per dimension).
    """
    _check_band(bootstrap, confidence, points)
    _check_axis(axis)
    runs, trace = prepare(runs, trace)
    times, budget = _runtimes_per_run(runs, trace, _check_targets(targets), axis, per_dimension, hits, gap_tol)
    return _ecdf_table(runs, times, budget, _cover(runs, coverage), axis, points, bootstrap, confidence, seed)


def runtime_ecdf_groups(runs: pd.DataFrame, trace: pd.DataFrame, groups: dict[str, Sequence[str]],
                        targets: Iterable[float] | None = None, axis: str = "evaluations", per_dimension: bool = True,
                        points: int = 200, *, coverage: str = "common", hits: pd.DataFrame | None = None,
                        gap_tol: float | None = None, bands: Sequence[str] = (), bootstrap: int = 200,
                        confidence: float = 0.95, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{title: runtime_ecdf(runs of the group's problems, bootstrap=0)}`` for ``groups`` (``{title: problem labels}``);
    the groups titled in ``bands`` get their bootstrap bands (``bootstrap``, ``confidence``, ``seed``) as well.

    A run's first hits do not depend on the other runs, so the (runs, targets)
    runtime matrix is computed once and sliced per group; each group's coverage
    and grid are its own, as :func:`runtime_ecdf` of the group alone gives them.
    """
    _check_band(bootstrap, confidence, points)
    _check_axis(axis)
    runs, trace = prepare(runs, trace)
    times, budget = _runtimes_per_run(runs, trace, _check_targets(targets), axis, per_dimension, hits, gap_tol)
    out = {}
    for title, labels in groups.items():
        keep = runs["problem_label"].isin(set(labels)).to_numpy()
        part = runs[keep].reset_index(drop=True)
        replicates = bootstrap if title in bands else 0
        out[title] = _ecdf_table(part, times[keep], budget[keep], _cover(part, coverage), axis, points, replicates,
                                 confidence, seed)
    return out


def _runtimes_per_run(runs: pd.DataFrame, trace: pd.DataFrame, ladder: np.ndarray, axis: str, per_dimension: bool,
                      hits: pd.DataFrame | None, gap_tol: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(runtime of each run to each target of ``ladder``: (runs, targets), inf when missed; each run's budget),
    both divided by the run's dimension when ``per_dimension``, for prepared tables."""
    _, values = _hit_matrix(runs, trace, ladder, [axis], False, prepare_hits(runs, hits), gap_tol)
    times, budget = values[axis], runs[axis].to_numpy(dtype=float)
    if per_dimension:
        dim = runs["dim"].to_numpy(dtype=float)
        scale = np.where(dim > 0, dim, 1.0)
        times, budget = times / scale[:, None], budget / scale
    return times, budget


def _ecdf_table(runs: pd.DataFrame, times: np.ndarray, budget: np.ndarray, cover: Coverage, axis: str, points: int,
                bootstrap: int, confidence: float, seed: int) -> pd.DataFrame:
    """:func:`runtime_ecdf`'s table from the runtimes per run (rows of ``runs``) and the coverage block."""
    inside = (runs["problem_label"].isin(cover.problems) & runs["solver"].isin(cover.solvers)).to_numpy()
    finite = times[inside][np.isfinite(times[inside])]
    candidates = np.r_[finite, budget[inside & np.isfinite(budget)]]
    positive = candidates[candidates > 0]
    low = positive.min() if positive.size else 1.0
    high = max(positive.max(), low * 10) if positive.size else 10.0
    grid = np.geomspace(low, high, points)
    rng = np.random.default_rng(seed)
    solvers, problems = runs["solver"].to_numpy(), runs["problem_label"].to_numpy()
    frames = []
    for solver in cover.solvers:
        mine = np.flatnonzero(inside & (solvers == solver))
        curves = _fraction_reached(times[mine], grid)
        proportion, lower, upper = _ecdf_bands(curves, problems[mine], bootstrap, rng, confidence)
        first = runs.iloc[mine[0]]
        frames.append(pd.DataFrame({
            "solver": solver, "method_label": first["method_label"], "step_label": first["step_label"],
            "x": grid, "proportion": proportion, "lower": lower, "upper": upper, "axis": axis,
        }))
    columns = ["solver", "method_label", "step_label", "x", "proportion", "lower", "upper", "axis"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    table.attrs["coverage"] = cover
    return table


def _fraction_reached(times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(runs, grid): the fraction of each run's targets with runtime <= x, for each x of an ascending ``grid``."""
    n_runs, n_targets = times.shape
    first_index = np.searchsorted(grid, times, side="left")  # first grid value >= runtime (len(grid): never)
    counts = np.bincount((np.arange(n_runs)[:, None] * (len(grid) + 1) + first_index).ravel(),
                         minlength=n_runs * (len(grid) + 1)).reshape(n_runs, len(grid) + 1)
    return np.cumsum(counts[:, :-1], axis=1) / n_targets


# ---------------------------------------------------------------- convergence curves
def _column_quantiles(matrix: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Linear-interpolated quantiles of each column, ignoring NaN (NaN where a column is empty), warning-free."""
    ordered = np.sort(matrix, axis=0)  # NaN sort last
    count = np.sum(~np.isnan(matrix), axis=0)
    out = []
    columns = np.arange(matrix.shape[1])
    for q in qs:
        position = q * np.maximum(count - 1, 0)
        below = np.floor(position).astype(int)
        above = np.minimum(below + 1, np.maximum(count - 1, 0))
        fraction = position - below
        low, high = ordered[below, columns], ordered[above, columns]
        with np.errstate(invalid="ignore"):
            value = np.where(fraction > 0, low + fraction * (high - low), low)
        out.append(np.where(count > 0, value, np.nan))
    return out


def _carry_forward(run_index: np.ndarray, n_runs: int, xs: np.ndarray, ys: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(n_runs, len(grid)): for each run and grid value g, ``ys`` at the run's last row with ``xs <= g`` (NaN if none).

    Rows belong to runs ``run_index`` (0 .. n_runs - 1), in any order. One
    searchsorted for all runs: each run's x is offset by its index times a span.
    """
    if len(xs) == 0 or len(grid) == 0:
        return np.full((n_runs, len(grid)), np.nan)
    span = (np.nanmax(np.abs(np.r_[xs, grid])) + 1.0) * 2.0
    order = np.lexsort((xs, run_index))
    keys, values, owners = (run_index * span + xs)[order], ys[order], run_index[order]
    queries = np.arange(n_runs)[:, None] * span + grid[None, :]
    position = np.searchsorted(keys, queries.ravel(), side="right") - 1
    valid = position >= 0
    owner = np.where(valid, owners[np.maximum(position, 0)], -1)
    same = valid & (owner == np.repeat(np.arange(n_runs), len(grid)))
    return np.where(same, values[np.maximum(position, 0)], np.nan).reshape(n_runs, len(grid))


def convergence(runs: pd.DataFrame, trace: pd.DataFrame, axis: str = "evaluations", points: int = 80,
                floor: float = 1e-16, running_best: bool = True) -> pd.DataFrame:
    """Median and interquartile range over seeds of the best-so-far ``f_gap`` on a common grid of ``axis``.

    ``running_best=False``: the gap at the iterate itself (the last one is the
    final gap the leaderboard ranks) instead of the best so far.
    Each run's best-so-far gap is a step function of ``axis``, carried forward
    (a run that stopped keeps its last value) onto a log-spaced grid of ``points``
    values shared by all solvers of a problem; a grid value before a run's first
    row is missing for that run. Gaps below ``floor`` are raised to it so that
    they can be drawn on a log scale. Errored runs (no trace) are absent.
    Returns ``problem_label, solver, method_label, step_label, x, median, q25, q75, runs``.
    """
    _check_axis(axis)
    runs, trace = prepare(runs, trace)
    trace = trace[np.isfinite(trace[axis].to_numpy(dtype=float))]
    columns = ["problem_label", "solver", "method_label", "step_label", "x", "median", "q25", "q75", "runs"]
    if len(trace) == 0:
        return pd.DataFrame(columns=columns)
    gap = np.maximum(_best_so_far(trace) if running_best else trace["f_gap"].to_numpy(dtype=float), floor)
    x_all = trace[axis].to_numpy(dtype=float)
    frames = []
    for problem, rows in trace.groupby("problem_label", sort=True).indices.items():
        x = x_all[rows]
        positive = x[x > 0]
        if positive.size == 0:
            grid = np.array([0.0])
        else:
            grid = np.unique(np.r_[0.0 if (x <= 0).any() else [], np.geomspace(positive.min(), positive.max(), points)])
        sub = trace.iloc[rows]
        for solver, local in sub.groupby("solver", sort=True).indices.items():
            index = rows[local]
            run_ids = trace["run"].to_numpy()[index]
            unique_runs, run_index = np.unique(run_ids, return_inverse=True)
            values = _carry_forward(run_index, len(unique_runs), x_all[index], gap[index], grid)
            median, q25, q75 = _column_quantiles(values, [0.5, 0.25, 0.75])
            first = sub.iloc[local[0]]
            frames.append(pd.DataFrame({
                "problem_label": problem, "solver": solver, "method_label": first["method_label"],
                "step_label": first["step_label"], "x": grid, "median": median, "q25": q25, "q75": q75,
                "runs": np.sum(~np.isnan(values), axis=0),
            }))
    table = pd.concat(frames, ignore_index=True)
    return table[table["runs"] > 0].reset_index(drop=True)


# ---------------------------------------------------------------- fixed budget
BUDGET_QUANTILES = {"gap_q10": 0.1, "gap_q25": 0.25, "gap_median": 0.5, "gap_q75": 0.75, "gap_q90": 0.9}


def default_budgets(dim: int, largest: float) -> np.ndarray:
    """IOHprofiler-style budgets ``dim * 10^j``, j = 0, 1, ..., up to the first one >= ``largest`` (at least one)."""
    base = float(max(int(dim), 1))
    count = 1
    while base * 10.0 ** (count - 1) < largest and count < 30:
        count += 1
    return base * 10.0 ** np.arange(count)


def _check_budgets(budgets: Iterable[float] | None) -> np.ndarray | None:
    if budgets is None:
        return None
    try:
        values = np.unique(np.atleast_1d(np.asarray(budgets, dtype=float)).ravel())
    except (TypeError, ValueError):
        raise ParameterError(f"budgets must be a list of numbers, got {budgets!r}") from None
    if values.size == 0 or not np.all(np.isfinite(values) & (values >= 0)):
        raise ParameterError(f"budgets must be a non-empty list of finite numbers >= 0, got {budgets!r}")
    return values


def _quantiles_inf(matrix: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Linear-interpolated quantiles of each column (numpy's default method) where values may be +inf.

    An interpolation between a finite value and +inf is +inf; NaN never occurs.
    """
    ordered = np.sort(matrix, axis=0)
    n = matrix.shape[0]
    out = []
    for q in qs:
        position = q * (n - 1)
        below = int(np.floor(position))
        above = min(below + 1, n - 1)
        low, high = ordered[below], ordered[above]
        fraction = position - below
        same = (low == high) | (fraction == 0)
        with np.errstate(invalid="ignore"):
            value = np.where(same, low, low + fraction * (np.where(same, low, high) - low))
        out.append(np.where(np.isinf(high) & ~same, np.inf, value))
    return out


def _gaps_at_budgets(runs: pd.DataFrame, trace: pd.DataFrame, budgets: np.ndarray | None, axis: str):
    """Per problem: (problem, run ids, budgets, best-so-far gap of each run at each budget, still running).

    The gap at budget B is the run's best-so-far gap at its last trace row with
    axis value <= B; +inf when it has none (no row yet, or no trace at all).
    A run is still running at B when its total on ``axis`` exceeds B.
    """
    x_all = trace[axis].to_numpy(dtype=float)
    gap = _best_so_far(trace)
    trace_run = trace["run"].to_numpy()
    total = runs[axis].to_numpy(dtype=float)
    problem_of_run = pd.factorize(runs["problem_label"], sort=True)[0]
    usable = np.flatnonzero(np.isfinite(x_all))
    by_problem = usable[np.argsort(problem_of_run[trace_run[usable]], kind="stable")]
    bounds = np.searchsorted(problem_of_run[trace_run[by_problem]], np.arange(problem_of_run.max(initial=-1) + 2))
    local = np.zeros(len(runs), dtype=np.int64)
    for code, (problem, members) in enumerate(runs.groupby("problem_label", sort=True).indices.items()):
        run_ids = runs["run"].to_numpy()[members]
        local[run_ids] = np.arange(len(run_ids))
        rows = by_problem[bounds[code]:bounds[code + 1]]
        grid = budgets
        if grid is None:
            largest = max(np.nanmax(total[run_ids], initial=0.0), np.max(x_all[rows], initial=0.0))
            grid = default_budgets(int(runs["dim"].to_numpy()[members[0]]), largest)
        values = _carry_forward(local[trace_run[rows]], len(run_ids), x_all[rows], gap[rows], grid)
        values = np.where(np.isnan(values), np.inf, values)
        running = total[run_ids][:, None] > grid[None, :]
        yield problem, run_ids, grid, values, running


def fixed_budget(runs: pd.DataFrame, trace: pd.DataFrame, budgets: Iterable[float] | None = None,
                 axis: str = "evaluations", *, gap_tol: float | None = None) -> pd.DataFrame:
    """Fixed-budget view (IOHprofiler): the best-so-far gap each solver reached at each budget.

    One row per (problem_label, solver, budget). A run's gap at budget B is its
    best-so-far ``f_gap`` at the last trace row whose ``axis`` value is <= B
    (+inf if it has none yet, or never recorded one: an errored run); the
    columns ``gap_q10, gap_q25, gap_median, gap_q75, gap_q90`` are its
    quantiles over the solver's runs (numpy's linear interpolation; +inf
    propagates), gaps as computed. ``running``: the fraction of runs whose total
    on ``axis`` exceeds B (still running there). ``budgets``: absolute values
    on ``axis`` for every problem, or None for ``dim * 10^j`` per problem, j = 0,
    1, ... up to the largest value any run reached. Also ``n_runs``, ``axis``,
    ``budget_per_dim`` (budget / dim), ``below_tol`` (fraction of runs whose gap
    is at or below the gap tolerance there, i.e. solved up to round-off).
    """
    _check_axis(axis)
    grid = _check_budgets(budgets)
    runs, trace = prepare(runs, trace)
    tol = tolerance(runs, gap_tol)
    frames = []
    for problem, run_ids, budget, gaps, running in _gaps_at_budgets(runs, trace, grid, axis):
        solvers = runs["solver"].to_numpy()[run_ids]
        for solver in np.unique(solvers):
            mine = solvers == solver
            first = runs.iloc[run_ids[mine][0]]
            table = {"problem_label": problem, "solver": solver, "method_label": first["method_label"],
                     "step_label": first["step_label"], "axis": axis, "budget": budget,
                     "budget_per_dim": budget / max(int(first["dim"]), 1), "n_runs": int(mine.sum())}
            for name, value in zip(BUDGET_QUANTILES, _quantiles_inf(gaps[mine], list(BUDGET_QUANTILES.values()))):
                table[name] = value
            table["running"] = running[mine].mean(axis=0)
            table["below_tol"] = (gaps[mine] <= tol[run_ids[mine]][:, None]).mean(axis=0)
            frames.append(pd.DataFrame(table))
    columns = ["problem_label", "solver", "method_label", "step_label", "axis", "budget", "budget_per_dim", "n_runs",
               *BUDGET_QUANTILES, "running", "below_tol"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def budget_ecdf(runs: pd.DataFrame, trace: pd.DataFrame, budgets: Iterable[float] | None = None,
                axis: str = "evaluations", targets: Iterable[float] | None = None, bootstrap: int = 200,
                confidence: float = 0.95, seed: int = 0, *, coverage: str = "common",
                gap_tol: float | None = None) -> pd.DataFrame:
    """Fixed-budget ECDF per solver: fraction of (problem, budget, seed) triples whose gap is <= each target.

    Gaps at budgets as in :func:`fixed_budget`, made tolerant (at or below the
    gap tolerance counts as 0). ``proportion(t)`` = mean over problems (each
    weighted equally) of the mean over the solver's runs there of the fraction
    of budgets at which the run's gap is <= t, for each target t of the ladder
    (COCO's by default). Bands: the same percentile bootstrap as
    :func:`runtime_ecdf` (runs resampled within problems). Problems and solvers
    follow :func:`coverage`. Returns ``solver, method_label, step_label, target,
    proportion, lower, upper, axis``, targets descending (easiest first).
    """
    _check_axis(axis)
    _check_band(bootstrap, confidence)
    ladder = _check_targets(targets)
    grid = _check_budgets(budgets)
    runs, trace = prepare(runs, trace)
    cover = _cover(runs, coverage)
    tol = tolerance(runs, gap_tol)
    curves, owners = [], []
    for problem, run_ids, _, gaps, _ in _gaps_at_budgets(runs, trace, grid, axis):
        if problem not in cover.problems:
            continue
        gaps = tolerant(gaps, tol[run_ids][:, None])
        curves.append((gaps[:, :, None] <= ladder[None, None, :]).mean(axis=1))  # (runs, targets)
        owners.append(run_ids)
    frames = []
    if curves:
        curves_all, run_ids = np.concatenate(curves), np.concatenate(owners)
        solvers, problems = runs["solver"].to_numpy()[run_ids], runs["problem_label"].to_numpy()[run_ids]
        rng = np.random.default_rng(seed)
        for solver in cover.solvers:
            mine = solvers == solver
            proportion, lower, upper = _ecdf_bands(curves_all[mine], problems[mine], bootstrap, rng, confidence)
            first = runs.iloc[run_ids[mine][0]]
            frames.append(pd.DataFrame({"solver": solver, "method_label": first["method_label"], "step_label": first["step_label"],
                                        "target": ladder, "proportion": proportion, "lower": lower, "upper": upper, "axis": axis}))
    columns = ["solver", "method_label", "step_label", "target", "proportion", "lower", "upper", "axis"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    table.attrs["coverage"] = cover
    return table


# ---------------------------------------------------------------- fair axes
def fair_axes(runs: pd.DataFrame, default: str = "evaluations") -> dict[str, str]:
    """The default axis per problem: ``"epochs"`` where full-batch and minibatch solvers meet, else ``default``.

    On a finite sum, a full-batch gradient costs n_samples sample gradients and
    a minibatch one batch_size; only epochs (sample gradients / n_samples) put
    them on one scale. Returns problem_label -> axis.
    """
    _check_axis(default)
    runs, _ = prepare(runs, None)
    minibatch = runs["batch_size"].notna() & (runs["batch_size"].astype("Float64").fillna(0) > 0)
    mixed = minibatch.groupby(runs["problem_label"]).agg(lambda m: bool(m.any() and not m.all()))
    return {problem: ("epochs" if is_mixed else default) for problem, is_mixed in mixed.items()}


# ---------------------------------------------------------------- profiles
def solve_costs(runs: pd.DataFrame, trace: pd.DataFrame, tau: float = 1e-3, axis: str = "auto", *,
                coverage: str = "common", gap_tol: float | None = None) -> pd.DataFrame:
    """Cost of each solver on each (problem, seed) to pass Moré and Wild's test ``f - f_opt <= tau (f(x0) - f_opt)``.

    One row per problem instance (problem, seed) and solver, ``cost`` = first-hit
    value on ``axis`` (inf if never; also inf for a solver that did not run that
    instance). Seeds start every solver from the same point (common random
    numbers), so (problem, seed) is one test problem of the profile. Problems
    and solvers follow :func:`coverage` (``attrs["coverage"]``); gaps at or below
    the gap tolerance count as 0. ``axis="auto"`` takes each problem's
    :func:`fair_axes` (epochs where full-batch and minibatch solvers meet, else
    evaluations); the ``axis`` column says which axis each cost is on.
    """
    if axis != "auto":
        _check_axis(axis)
    if not 0 < tau < 1:
        raise ParameterError(f"tau must be in (0, 1), got {tau}")
    runs, trace = prepare(runs, trace)
    cover = _cover(runs, coverage)
    hits = _restrict(first_hits(runs, trace, [tau], relative=True, gap_tol=gap_tol), cover)
    hits["instance"] = hits["problem_label"].astype(str) + " | seed " + hits["seed"].astype(str)
    axes = fair_axes(runs) if axis == "auto" else {p: axis for p in runs["problem_label"].unique()}
    hits["axis"] = hits["problem_label"].map(axes)
    hits["cost"] = np.choose(pd.Categorical(hits["axis"], categories=AXES).codes, [hits[a].to_numpy(dtype=float) for a in AXES]) \
        if len(hits) else np.zeros(0)
    costs = hits.pivot_table(index=["instance", "problem_label", "dim", "axis"], columns="solver", values="cost", aggfunc="first")
    costs = costs.fillna(np.inf).stack().rename("cost").reset_index()
    costs.attrs["coverage"] = cover
    costs.attrs["axes"] = {p: a for p, a in axes.items() if p in cover.problems}
    return costs


def _costs(runs: pd.DataFrame, trace: pd.DataFrame, tau: float, axis: str, coverage: str, gap_tol: float | None,
           costs: pd.DataFrame | None) -> pd.DataFrame:
    """``costs`` when the caller passes the :func:`solve_costs` table of the same arguments (computed once for the
    profiles and the score), else that table."""
    return costs if costs is not None else solve_costs(runs, trace, tau, axis, coverage=coverage, gap_tol=gap_tol)


def _fraction_solved(table: pd.DataFrame, column: str, grid: np.ndarray, cover: Coverage) -> pd.DataFrame:
    """Per solver, the fraction of its rows with ``column <= x`` at each x of ``grid`` (a profile's step function)."""
    frames = []
    for solver, group in table.groupby("solver", sort=True):
        values = np.sort(group[column].to_numpy())
        proportion = np.searchsorted(values, grid, side="right") / len(values)
        frames.append(pd.DataFrame({"solver": solver, column: grid, "proportion": proportion}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["solver", column, "proportion"])
    out.attrs["coverage"] = cover
    return out


def performance_profile(runs: pd.DataFrame, trace: pd.DataFrame, tau: float = 1e-3, axis: str = "auto",
                        max_ratio: float | None = None, points: int = 200, *, coverage: str = "common",
                        gap_tol: float | None = None, costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Dolan and Moré's performance profile: fraction of test problems a solver solves within ratio r of the best.

    ``ratio = cost / min over solvers of cost`` per test problem (inf when the
    solver fails; every solver failing leaves the problem unsolved for all).
    Returns ``solver, ratio, proportion`` on a log grid from 1 to ``max_ratio``
    (default: the largest finite ratio, at least 4), with r = 4 included.
    Coverage, gap tolerance and axis (``"auto"``: per problem) as in :func:`solve_costs` (``costs``: its
    table for these arguments, when already computed);
    ``attrs["axes"]`` says which axis each problem's costs are on.
    """
    costs = _costs(runs, trace, tau, axis, coverage, gap_tol, costs)
    ratios = _ratios(costs)
    finite = ratios["ratio"].to_numpy()[np.isfinite(ratios["ratio"].to_numpy())]
    top = max_ratio if max_ratio is not None else max(4.0, finite.max() * 1.05 if finite.size else 4.0)
    grid = np.unique(np.r_[np.geomspace(1.0, top, points), 4.0 if top >= 4 else []])
    out = _fraction_solved(ratios, "ratio", grid, costs.attrs["coverage"])
    out.attrs["axes"] = costs.attrs["axes"]
    return out


def _ratios(costs: pd.DataFrame) -> pd.DataFrame:
    best = costs.groupby("instance")["cost"].transform("min")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isfinite(costs["cost"]) & np.isfinite(best),
                         np.where(best > 0, costs["cost"] / np.where(best > 0, best, 1.0), np.where(costs["cost"] > 0, np.inf, 1.0)),
                         np.inf)
    return costs.assign(ratio=ratio)


def performance_score(runs: pd.DataFrame, trace: pd.DataFrame, tau: float = 1e-3, axis: str = "auto",
                      max_ratio: float = 4.0, *, coverage: str = "common", gap_tol: float | None = None,
                      costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """AlgoPerf-style score: area under the performance profile over r in [1, max_ratio], divided by max_ratio - 1.

    Exact for the step function: each test problem solved at ratio r <= max_ratio
    adds (max_ratio - r) / ((max_ratio - 1) * n_problems). 1 is best; a miss counts
    as infinite time. Returns ``solver, score, solved`` (fraction solved at any ratio).
    Coverage, gap tolerance and axis as in :func:`solve_costs` (``attrs["axes"]``; ``costs``: its table for these
    arguments, when already computed).
    """
    if not max_ratio > 1:
        raise ParameterError(f"max_ratio must be > 1, got {max_ratio}")
    costs = _costs(runs, trace, tau, axis, coverage, gap_tol, costs)
    ratios = _ratios(costs)
    rows = []
    for solver, group in ratios.groupby("solver", sort=True):
        r = group["ratio"].to_numpy()
        inside = r[r <= max_ratio]
        score = float(np.sum(max_ratio - inside) / ((max_ratio - 1) * len(r)))
        rows.append((solver, score, float(np.isfinite(r).mean())))
    table = pd.DataFrame(rows, columns=["solver", "score", "solved"]).sort_values("score", ascending=False, ignore_index=True)
    table.attrs["coverage"] = costs.attrs["coverage"]
    table.attrs["axes"] = costs.attrs["axes"]
    return table


def data_profile(runs: pd.DataFrame, trace: pd.DataFrame, tau: float = 1e-3, axis: str = "auto",
                 points: int = 200, *, coverage: str = "common", gap_tol: float | None = None,
                 costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Moré and Wild's data profile: fraction of test problems solved within a budget of kappa (dim + 1) units of ``axis``.

    ``d(kappa) = |{p : cost_p / (dim_p + 1) <= kappa}| / |P|`` (``dim + 1``
    evaluations make one simplex gradient). Returns ``solver, budget, proportion``.
    Coverage, gap tolerance and axis as in :func:`solve_costs` (``attrs["axes"]``; ``costs``: its table for these
    arguments, when already computed).
    """
    costs = _costs(runs, trace, tau, axis, coverage, gap_tol, costs)
    costs = costs.assign(budget=costs["cost"] / (costs["dim"].astype(float).clip(lower=0) + 1.0))
    finite = costs["budget"].to_numpy()[np.isfinite(costs["budget"].to_numpy())]
    positive = finite[finite > 0]
    low = positive.min() if positive.size else 0.1
    high = max(positive.max() * 1.05, low * 10) if positive.size else 10.0
    grid = np.unique(np.r_[0.0, np.geomspace(low, high, points)])
    out = _fraction_solved(costs, "budget", grid, costs.attrs["coverage"])
    out.attrs["axes"] = costs.attrs["axes"]
    return out


# ---------------------------------------------------------------- learning-rate sensitivity
def lr_sensitivity(runs: pd.DataFrame, parameter: str | None = None) -> pd.DataFrame:
    """Final ``f_gap`` against the swept step-rule parameter, per (problem, method, step rule).

    The swept parameter is ``parameter``, or else the numeric step-rule parameter
    that takes more than one value within a (problem, method, step rule) group
    (``lr`` first when several do). Medians and quartiles are over finished runs;
    ``diverged_rate`` counts the rest. Empty when nothing is swept.
    Returns ``problem_label, method_label, step_rule, parameter, value, median, q25, q75, diverged_rate, n_runs``.
    """
    runs, _ = prepare(runs, None)
    columns = ["problem_label", "method_label", "step_rule", "parameter", "value", "median", "q25", "q75", "diverged_rate", "n_runs"]
    texts = runs["step_params"]
    parsed = {text: json.loads(text) for text in pd.unique(texts) if isinstance(text, str) and text}  # few distinct texts
    params = pd.Series([parsed.get(text, {}) if isinstance(text, str) else {} for text in texts], index=runs.index, dtype=object)
    frames = []
    for (problem, method, rule), index in runs.groupby(["problem_label", "method_label", "step_rule"], sort=True).indices.items():
        group_params = params.iloc[index]
        names = sorted({k for p in group_params for k, v in p.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        swept = [n for n in names if len({p.get(n) for p in group_params}) > 1]
        if parameter is not None:
            swept = [parameter] if parameter in swept else []
        if not swept:
            continue
        name = "lr" if "lr" in swept else swept[0]
        sub = runs[["run", "status", "f_gap"]].iloc[index].assign(value=[p.get(name, np.nan) for p in group_params])
        sub = sub[sub["value"].notna()]
        finished = sub[sub["status"].isin(FINISHED)]
        table = sub.groupby("value").agg(n_runs=("run", "size"),
                                          diverged_rate=("status", lambda s: float((s == "diverged").mean())))
        stats = _quartiles(finished, "value", table.index)
        table["median"], table["q25"], table["q75"] = stats[0.5], stats[0.25], stats[0.75]
        table = table.reset_index().assign(problem_label=problem, method_label=method, step_rule=rule, parameter=name)
        frames.append(table[columns])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
