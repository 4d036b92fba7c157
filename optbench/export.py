"""Results in COCO's data format (for cocopp) and IOHprofiler's (for IOHanalyzer and iohinspector).

``export(results_dir, out, format="coco" | "ioh", gradient_cost=1)`` writes one folder per
solver under ``out``, named by its label (:func:`optbench.schema.solver_label`, a tuned method's
selected setting :func:`optbench.schema.tuned_label`; :func:`folder_name`), the label being the
algorithm's name in the files.

Evaluations. A run's runtime at an iterate is ``f_evals + gradient_cost * g_evals`` spent up to
and including the evaluation of that iterate (the engine's counters; a value-and-gradient call
is one gradient evaluation). The starting point is evaluation 1, as in COCO and IOHprofiler,
whatever its cost. ``gradient_cost`` is stated in every file's comments.

Gaps. ``f - f_opt``; where a problem has no known ``f_opt``, ``f_opt`` is estimated as the
best finite ``f`` of the finished runs of that problem (:func:`optbench.schema.f_opt_estimate`;
said in the comments).

First hits. With a ``hits`` table in the results (the engine's exact first hits of the target
ladder), a line is written at the exact evaluation where each target was first met, holding
that target (an upper bound of the gap there: the table records when, not how far) unless the
trace recorded that iterate. Without it, first hits are the first recorded iterates of the
trace that meet a target (upper bounds of the true runtimes). The comments say which.

Files, COCO (``format="coco"``; the layout of COCO's ``bbob`` logger, ``data_format = 'bbob-new2'``)::

    out/<solver>/bbobexp_f<id>.info            per function: one 3-line block per dimension
    out/<solver>/data_f<id>/bbobexp_f<id>_DIM<d>.dat    target-triggered lines (best gap crosses 10^(-k/5))
    out/<solver>/data_f<id>/bbobexp_f<id>_DIM<d>.tdat   time-triggered lines (evaluations cross 10^(k/20))

Data columns: evaluations | 0 (COCO's constraint evaluations) | best f - f_opt | f | best f.

Files, IOHprofiler (``format="ioh"``; IOHexperimenter's v0.3 json + dat layout)::

    out/<solver>/IOHprofiler_f<id>_<name>.json           meta data: function, algorithm, dimensions, runs
    out/<solver>/data_f<id>_<name>/IOHprofiler_f<id>_DIM<d>.dat  per run: "evaluations raw_y", then one
                                                          line per improvement of the best gap (raw_y)

Function ids. ``bbob`` problems keep their function and instance numbers. Any other problem
(its name and parameters other than ``dim``) has the stable id ``1000 + sha256(canonical spec)
mod 64000`` (the next free id if two problems of one export meet; iohinspector holds ids in 16 bits)
and instance 1 (every seed is a run on instance 1). cocopp's figures know the
function numbers of its own suites only (1-24 for bbob), so the COCO export numbers problems
that are not bbob's 1, 2, ... by label under suite ``bbob-boxed`` (``function_ids="cocopp"``, the
default for COCO; cocopp's figure titles then show bbob's names for those numbers: the .info
comment says which problem each number is, with its stable id). ``function_ids="stable"``
writes the stable ids (cocopp.load reads them; IOHanalyzer takes any id, and it is the
default for IOH). The json's ``function_name`` names the problem.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.errors import ParameterError, did_you_mean
from optbench.schema import FAILED_STATUSES, f_opt_estimate, label_frame, target_ladder, with_tuned
from optbench.seeding import canonical, key_hash

__all__ = ["FORMATS", "ExportError", "export", "run_events", "number_functions", "folder_name"]

FORMATS = ("coco", "ioh")
NUMBERINGS = ("auto", "stable", "cocopp")  # "auto": cocopp for coco, stable for ioh
PROBLEM_KEYS = ["problem", "problem_params", "dim"]
# target triggers of the .dat lines: COCO's 10^(k/5), wide enough for any gap
ID_BASE, ID_RANGE = 1000, 64000  # stable ids in [1000, 65000): iohinspector holds ids as 16-bit integers
_TRIGGERS = target_ladder(start=20.0, stop=-20.0, step=0.2)


class ExportError(ParameterError):
    """A result set or an option that cannot be exported; the message is one line (the CLI exits with status 2)."""


# ---------------------------------------------------------------- reading and preparing
def _read(results: str | Path):
    from optbench.store import read_tables
    from optbench.errors import StoreError
    try:
        tables, meta = read_tables(results)
    except (FileNotFoundError, StoreError) as exc:
        raise ExportError(str(exc)) from None
    # a tuned suite's tuning trials are not results to publish: the evaluation phase only
    runs, trace, hits = (frame[frame["phase"].astype(str) != "tuning"].reset_index(drop=True) if "phase" in frame else frame
                         for frame in tables)
    return runs, trace, hits, meta


def _check_options(format: str, gradient_cost: Any, function_ids: str) -> None:
    if function_ids not in NUMBERINGS:
        raise ExportError(f"function_ids must be one of {', '.join(NUMBERINGS)}, got {function_ids!r}."
                          f"{did_you_mean(str(function_ids), list(NUMBERINGS))}")
    if format not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {format!r}.{did_you_mean(str(format), list(FORMATS))}")
    if isinstance(gradient_cost, bool) or not isinstance(gradient_cost, (int, np.integer)) or gradient_cost < 1:
        raise ExportError(f"gradient_cost must be an integer >= 1 (evaluations charged per gradient), got {gradient_cost!r}")


def _with_ids(runs: pd.DataFrame) -> pd.DataFrame:
    """Finished runs with ``run`` (row id) and their ``solver`` label (:mod:`optbench.schema`, tuned copies included)."""
    runs = with_tuned(runs)  # a tuned method's selected setting: "<method> + <rule> (tuned)" on every problem
    runs["solver"] = label_frame(runs)["solver"].to_numpy(dtype=object)
    runs = runs.loc[~runs["status"].isin(FAILED_STATUSES)].reset_index(drop=True).copy()
    runs["batch_size"] = runs["batch_size"].astype("string").fillna("")
    runs["run"] = np.arange(len(runs))
    return runs


def _reference(runs: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """``f_ref`` per run: its ``f_opt``, or where unknown the one estimate, :func:`optbench.schema.f_opt_estimate`."""
    runs["problem_key"] = [canonical(list(row)) for row in runs[PROBLEM_KEYS].astype(str).itertuples(index=False)]
    estimate = f_opt_estimate(runs, _attach(runs, trace), by="problem_key")
    known = runs["f_opt"].notna().to_numpy()
    runs["f_ref"] = np.where(known, runs["f_opt"].to_numpy(dtype=float), runs["problem_key"].map(estimate).to_numpy(dtype=float))
    runs["f_opt_known"] = known
    return runs


def _attach(runs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` rows of finished runs, with their ``run`` id."""
    ids = runs[["cell", "seed", "run"]]
    return frame.merge(ids, on=["cell", "seed"], how="inner")


def _evaluations(frame: pd.DataFrame, gradient_cost: int) -> np.ndarray:
    evals = frame["f_evals"].to_numpy(dtype=np.int64) + gradient_cost * frame["g_evals"].to_numpy(dtype=np.int64)
    if "iteration" in frame:
        evals = np.where(frame["iteration"].to_numpy() == 0, 1, evals)  # the starting point is evaluation 1
    return np.maximum(evals, 1)


def run_events(runs: pd.DataFrame, trace: pd.DataFrame, hits: pd.DataFrame, gradient_cost: int = 1) -> pd.DataFrame:
    """Every known (run, evaluations, gap) of the finished runs, sorted, with the best gap so far.

    Sources: trace rows (``f - f_ref``), first hits (the target met, for runs with a known
    f_opt) and each run's final state (its total evaluations and final gap). ``best`` is the
    running minimum of ``gap`` along each run, ``kind`` 0 for trace and hits, 1 for the end.
    """
    f_ref = runs["f_ref"].to_numpy()
    parts = []
    trace = _attach(runs, trace)
    parts.append(pd.DataFrame({"run": trace["run"], "evals": _evaluations(trace, gradient_cost),
                               "gap": trace["f"].to_numpy(dtype=float) - f_ref[trace["run"]], "kind": 0}))
    if len(hits):
        hits = _attach(runs, hits)
        hits = hits.loc[runs["f_opt_known"].to_numpy()[hits["run"]] & ~hits["estimated"].astype(bool)]
        parts.append(pd.DataFrame({"run": hits["run"], "evals": _evaluations(hits, gradient_cost),
                                   "gap": hits["target"].to_numpy(dtype=float), "kind": 0}))
    parts.append(pd.DataFrame({"run": runs["run"], "evals": _evaluations(runs, gradient_cost),
                               "gap": runs["f"].to_numpy(dtype=float) - f_ref, "kind": 1}))
    events = pd.concat(parts, ignore_index=True)
    events["gap"] = events["gap"].fillna(np.inf)
    events = events.sort_values(["run", "evals", "kind"], kind="stable").reset_index(drop=True)
    events["best"] = events.groupby("run")["gap"].cummin()
    return events


# ---------------------------------------------------------------- function ids
def _params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _function_of(problem: str, params_text: str) -> tuple[int, int, str]:
    """(hashed id, instance, label) of a problem: bbob keeps its numbers, others get a stable hashed id."""
    params = _params(params_text)
    if problem == "bbob" and isinstance(params.get("function"), int):
        return params["function"], int(params.get("instance", 1)), f"bbob-f{params['function']}"
    spec = {k: v for k, v in params.items() if k != "dim"}
    fid = ID_BASE + int(key_hash(canonical([problem, spec]), 16), 16) % ID_RANGE
    inside = ",".join(f"{k}={canonical(v)}" for k, v in sorted(spec.items()))
    return fid, 1, f"{problem}({inside})" if inside else problem


def _stable_ids(found: dict[Any, tuple[int, int, str]]) -> dict[str, int]:
    """label -> id; a hashed id already taken moves to the next free one, labels taken in sorted order."""
    ids: dict[str, int] = {}
    taken = {fid for fid, _, label in found.values() if label.startswith("bbob-f")}
    for fid, _, label in sorted(found.values(), key=lambda item: item[2]):
        if label.startswith("bbob-f"):
            ids[label] = fid
            continue
        while fid in taken:
            fid = ID_BASE + (fid - ID_BASE + 1) % ID_RANGE
        taken.add(fid)
        ids[label] = fid
    return ids


def number_functions(runs: pd.DataFrame, numbering: str = "stable") -> pd.DataFrame:
    """Adds ``fid``, ``stable_id``, ``instance``, ``function_label`` and ``coco_suite`` to the runs.

    ``numbering="stable"``: every problem keeps its stable id. ``"cocopp"``: problems that are
    not bbob's are numbered 1, 2, ... in the order of their labels (at most 24), under COCO's
    suite name ``bbob-boxed``: cocopp's figures know function numbers 1-24 only, and that
    suite has no reference algorithm, so no "best 2009" is drawn beside problems that are not bbob's.
    """
    found = {key: _function_of(*key) for key in set(zip(runs["problem"], runs["problem_params"]))}
    stable = _stable_ids(found)
    others = sorted({label for _, _, label in found.values() if not label.startswith("bbob-f")})
    if numbering == "cocopp" and len(others) > 24:
        raise ExportError(f"cocopp numbering fits 24 functions and the results have {len(others)} that are not bbob's; "
                          "use function_ids 'stable' (cocopp.load reads them; cocopp's figures know ids 1-24 only)")
    compact = {label: i + 1 for i, label in enumerate(others)} if numbering == "cocopp" else {}
    keys = list(zip(runs["problem"], runs["problem_params"]))
    runs["stable_id"] = [stable[found[key][2]] for key in keys]
    runs["instance"] = [found[key][1] for key in keys]
    runs["function_label"] = [found[key][2] for key in keys]
    runs["fid"] = [compact.get(label, stable[label]) for label in runs["function_label"]]
    runs["coco_suite"] = ["bbob-boxed" if label in compact else "bbob" for label in runs["function_label"]]
    return runs


# ---------------------------------------------------------------- solvers
def folder_name(label: str) -> str:
    """The export folder of a solver label: `` + `` as ``-``, ``(`` as ``_``, ``)`` dropped, other characters
    outside ``A-Za-z0-9.=_+-`` as ``_`` (``gd + constant(lr=0.01)`` -> ``gd-constant_lr=0.01``)."""
    text = label.replace(" + ", "-").replace("(", "_").replace(")", "")
    return re.sub(r"[^A-Za-z0-9.=_+-]+", "_", text).strip("_")[:80] or "solver"


def _folders(runs: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """solver key -> (folder name, algorithm label); folder names are made unique with a short hash."""
    first = runs.drop_duplicates("solver")
    out, used = {}, set()
    for row in first.itertuples(index=False):
        label = row.solver
        folder = folder_name(label)
        if folder in used:
            folder = f"{folder[:70]}-{key_hash(row.solver, 8)}"
        used.add(folder)
        out[row.solver] = (folder, label)
    return out


# ---------------------------------------------------------------- which lines to write
def _selected(events: pd.DataFrame, trigger: np.ndarray) -> pd.DataFrame:
    """Rows that start or end a run, or whose ``trigger`` level rises along the run; duplicates dropped."""
    run = events["run"].to_numpy()
    first = np.r_[True, run[1:] != run[:-1]]
    last = np.r_[run[1:] != run[:-1], True]
    rises = np.r_[False, trigger[1:] > trigger[:-1]] & ~first
    keep = events.loc[first | last | rises]
    return keep.drop_duplicates(["run", "evals", "best"], keep="first")


def target_lines(events: pd.DataFrame) -> pd.DataFrame:
    """COCO's .dat lines: a line whenever the best gap meets a new target 10^(-k/5) (and first and last)."""
    ascending = _TRIGGERS[::-1]
    level = len(ascending) - np.searchsorted(ascending, events["best"].to_numpy(), side="left")
    return _selected(events, level)


def budget_lines(events: pd.DataFrame) -> pd.DataFrame:
    """COCO's .tdat lines: a line whenever the evaluations pass a new 10^(k/20) (and first and last)."""
    return _selected(events, np.floor(20 * np.log10(events["evals"].to_numpy(dtype=float)) + 1e-9))


def improvement_lines(events: pd.DataFrame) -> pd.DataFrame:
    """IOHprofiler's lines: the first evaluation and every strict improvement of the best gap."""
    best = events["best"].to_numpy()
    run = events["run"].to_numpy()
    first = np.r_[True, run[1:] != run[:-1]]
    better = np.r_[False, best[1:] < best[:-1]]
    return events.loc[first | (better & ~first)]


# ---------------------------------------------------------------- COCO
def _hits_source(runs: pd.DataFrame, hits_source: str) -> str:
    """Where the first hits of these runs come from (a problem without f_opt: always the trace)."""
    if bool(runs["f_opt_known"].all()):
        return hits_source
    return "derived from the trace against the estimated f_opt (first recorded iterate meeting each target)"


def _comment(runs: pd.DataFrame, gradient_cost: int, hits_source: str) -> str:
    """One comment line: solver, problem, evaluation count, source of the first hits and of f_opt."""
    row = runs.iloc[0]
    known = "known" if bool(runs["f_opt_known"].all()) else "estimated as the best finite f of the finished runs (schema.f_opt_estimate)"
    hits_source = _hits_source(runs, hits_source)
    return (f"% optbench export; solver {row.solver}; function {row.fid} = {row.function_label} "
            f"(stable id {row.stable_id}); evaluations = f_evals + {gradient_cost} x g_evals (gradient_cost = {gradient_cost}), "
            f"starting point = evaluation 1; first hits: {hits_source}; f_opt {known}")


def _coco_block(lines: pd.DataFrame, runs: pd.DataFrame, gradient_cost: int, header: str) -> str:
    """The text of a .dat or .tdat file: per run a % header, then evals | 0 | best gap | f | best f.

    Numbers carry 17 significant digits, so a line that holds a target reads back as that very target.
    """
    parts = []
    groups = dict(tuple(lines.groupby("run", sort=False)))
    for row in runs.itertuples(index=False):
        rows = groups[row.run]
        parts.append(f"% {header}, instance = {row.instance}, seed = {row.seed}\n")
        best = rows["best"].to_numpy()
        f = row.f_ref + best
        parts.extend(f"{e:d} 0 {b:+.16e} {v:+.16e} {v:+.16e}\n" for e, b, v in zip(rows["evals"].to_numpy(), best, f))
    return "".join(parts)


def _write_coco(folder: Path, algorithm: str, runs: pd.DataFrame, events: pd.DataFrame,
                gradient_cost: int, hits_source: str) -> int:
    """The .info, .dat and .tdat files of one solver; returns how many files were written."""
    header = (f"f evaluations (f_evals + {gradient_cost} x g_evals) | constraint evaluations (0) | "
              "best noise-free fitness - Fopt | measured fitness | best measured fitness")
    written = 0
    for fid, by_function in runs.groupby("fid", sort=True):
        (folder / f"data_f{fid}").mkdir(parents=True, exist_ok=True)
        info = []
        for dim, group in by_function.groupby("dim", sort=True):
            group = group.sort_values(["instance", "seed"], kind="stable")
            mine = events.loc[events["run"].isin(group["run"])]
            stem = f"data_f{fid}/bbobexp_f{fid}_DIM{dim}"
            (folder / f"{stem}.dat").write_text(_coco_block(target_lines(mine), group, gradient_cost, header))
            (folder / f"{stem}.tdat").write_text(_coco_block(budget_lines(mine), group, gradient_cost, header))
            final = mine.groupby("run").tail(1).set_index("run").loc[group["run"]]
            entries = ", ".join(f"{i}:{e}|{b:.1e}" for i, e, b in zip(group["instance"], final["evals"], final["best"]))
            info += [f"suite = '{group['coco_suite'].iloc[0]}', funcId = {fid}, DIM = {dim}, Precision = 1.000e-08, algId = '{algorithm}', "
                     "coco_version = 'optbench', logger = 'bbob', data_format = 'bbob-new2'",
                     _comment(group, gradient_cost, hits_source), f"{stem}.dat, {entries}"]
            written += 2
        (folder / f"bbobexp_f{fid}.info").write_text("\n".join(info) + "\n")
        written += 1
    return written


# ---------------------------------------------------------------- IOHprofiler
def _ioh_scenario(folder: Path, path: str, group: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """Write one dimension's .dat (per run: a header line, then ``evaluations raw_y`` lines); its json entry."""
    mine = events.loc[events["run"].isin(group["run"])]
    lines = dict(tuple(improvement_lines(mine).groupby("run", sort=False)))
    finals = mine.groupby("run").tail(1).set_index("run")
    text, entries = [], []
    for row in group.itertuples(index=False):
        rows = lines[row.run]
        text.append("evaluations raw_y\n")
        text.extend(f"{e:d} {b:.16e}\n" for e, b in zip(rows["evals"].to_numpy(), rows["best"].to_numpy()))
        best = rows.iloc[int(np.argmin(rows["best"].to_numpy()))]
        entries.append({"instance": int(row.instance), "evals": int(finals.loc[row.run, "evals"]),
                        "best": {"evals": int(best["evals"]), "y": float(best["best"]), "x": []}})
    (folder / path).write_text("".join(text))
    return {"dimension": int(group["dim"].iloc[0]), "path": path, "runs": entries}


def _write_ioh(folder: Path, algorithm: str, runs: pd.DataFrame, events: pd.DataFrame,
               gradient_cost: int, hits_source: str) -> int:
    """The .json and .dat files of one solver; returns how many files were written."""
    written = 0
    for fid, by_function in runs.groupby("fid", sort=True):
        label = by_function["function_label"].iloc[0]
        name = re.sub(r"[^A-Za-z0-9.=_+-]+", "_", label).strip("_")[:60] or "f"
        (folder / f"data_f{fid}_{name}").mkdir(parents=True, exist_ok=True)
        scenarios = []
        for dim, group in by_function.groupby("dim", sort=True):
            group = group.sort_values(["instance", "seed"], kind="stable")
            scenarios.append(_ioh_scenario(folder, f"data_f{fid}_{name}/IOHprofiler_f{fid}_DIM{dim}.dat", group, events))
            written += 1
        meta = {
            "version": "0.3.5", "suite": "bbob" if label.startswith("bbob-f") else "optbench",
            "function_id": int(fid), "function_name": label, "maximization": False,
            "algorithm": {"name": algorithm, "info": _comment(by_function, gradient_cost, hits_source)[2:]},
            "attributes": ["evaluations", "raw_y"],
            "experiment_attributes": [{"gradient_cost": str(gradient_cost)}, {"first_hits": _hits_source(by_function, hits_source)},
                                      {"raw_y": "best f - f_opt so far"}],
            "scenarios": scenarios,
        }
        (folder / f"IOHprofiler_f{fid}_{name}.json").write_text(json.dumps(meta, indent=1))
        written += 1
    return written


# ---------------------------------------------------------------- the entry point
def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"export folder {str(out)!r} exists and is not empty; choose another --out or remove it")


def export(results: str | Path, out: str | Path, format: str = "coco", gradient_cost: int = 1,
           function_ids: str = "auto") -> Path:
    """Write the result set in ``results`` (an ``optbench run`` folder) to ``out`` in COCO's or IOHprofiler's format.

    One folder per solver; evaluations are ``f_evals + gradient_cost * g_evals``; first hits
    from ``hits.parquet`` when the results have it, else from the trace. Returns ``out``.
    Raises :class:`ExportError` (one line) for a bad option, a missing or damaged result
    set, or a non-empty ``out``; nothing is written then.
    """
    _check_options(format, gradient_cost, function_ids)
    numbering = function_ids if function_ids != "auto" else ("cocopp" if format == "coco" else "stable")
    out = Path(out)
    _check_out(out)
    runs, trace, hits, _ = _read(results)
    runs = _with_ids(runs)
    if not len(runs):
        raise ExportError(f"no finished runs to export in {str(results)!r} (every run failed or the folder is empty)")
    runs = number_functions(_reference(runs, trace), numbering)
    hits_source = ("hits.parquet (exact first hits of the target ladder)" if len(hits)
                   else "derived from the trace (first recorded iterate meeting each target, an upper bound)")
    events = run_events(runs, trace, hits, int(gradient_cost))
    writer = _write_coco if format == "coco" else _write_ioh
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for solver, (folder, label) in _folders(runs).items():
        (staging / folder).mkdir(parents=True, exist_ok=True)
        writer(staging / folder, label.replace("'", '"'), runs.loc[runs["solver"] == solver], events,
               int(gradient_cost), hits_source)
    if out.exists():
        out.rmdir()
    staging.rename(out)
    return out
