"""A synthetic results folder in the store's format, as large as asked, written in seconds (no optimizer runs).

    write_results(folder, problems=20, solvers=20, seeds=250)   # 100,000 runs, ~2.8 M trace rows

Each run's gap decays geometrically from ``10^U(0, 2)`` at a rate drawn per run
(solvers differ by their median rate); about 3% of the runs diverge (their gap
grows). Iterations are recorded on a log grid of ``rows`` points up to 2,000
(``record="log"``-like). ``hits`` holds the first hit of every target of COCO's
ladder that a run's best-so-far gap reached. The three tables are written as
``runs.parquet``, ``trace.parquet`` and ``hits.parquet`` with the columns and
dtypes of :mod:`optbench.schema` and one consolidation's check metadata,
so ``optbench report`` / ``optbench query`` / ``optbench check`` read them as
any results folder.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from optbench.schema import empty_table, target_ladder
from optbench.store import CHECK_KEY, METADATA_KEY

FAMILIES = ("sphere", "quadratic", "rosenbrock", "ellipsoid")
DIMS = (2, 5, 10, 20, 40)
METHODS = ("gd", "momentum", "nesterov", "adam", "rmsprop")
RATES = (0.001, 0.003, 0.01, 0.03)


def _keys(problems: int, solvers: int) -> dict[str, list]:
    """The key columns of every cell (problem-major), as Python lists."""
    keys: dict[str, list] = {name: [] for name in ("cell", "problem", "problem_params", "dim", "method", "method_params",
                                                    "step_rule", "step_params")}
    for p in range(problems):
        # beyond the first 20 problems the dimensions grow by 50 per round: every problem distinct
        name, dim = FAMILIES[p % len(FAMILIES)], DIMS[(p // len(FAMILIES)) % len(DIMS)] + 50 * (p // (len(FAMILIES) * len(DIMS)))
        for s in range(solvers):
            rate = round(RATES[s % len(RATES)] * 1.5 ** (s // (len(RATES) * len(METHODS))), 12)  # every solver distinct
            values = (f"{p:04d}{s:04d}synthetic", name, json.dumps({"dim": dim}, separators=(",", ":")), dim,
                      METHODS[(s // len(RATES)) % len(METHODS)], "{}", "constant", json.dumps({"lr": rate}, separators=(",", ":")))
            for column, value in zip(keys, values):
                keys[column].append(value)
    return keys


def bbob_keys(functions: int = 24, instances: int = 15, dims: tuple[int, ...] = (2, 3, 5, 10, 20, 40)) -> dict[str, list]:
    """The key columns of the shipped bbob suite's cells (problems/bbob.toml: function x instance x dimension, one
    solver, L-BFGS-B), labelled as ``ob.run`` labels a bbob problem."""
    keys: dict[str, list] = {name: [] for name in ("cell", "problem", "problem_params", "dim", "method", "method_params",
                                                    "step_rule", "step_params")}
    for p, (function, instance, dim) in enumerate((f, i, d) for f in range(1, functions + 1)
                                                  for i in range(1, instances + 1) for d in dims):
        params = json.dumps({"dim": dim, "function": function, "instance": instance}, separators=(",", ":"))
        for column, value in zip(keys, (f"{p:06d}bbob", "bbob", params, dim, "l-bfgs-b", "{}", "none", "{}")):
            keys[column].append(value)
    return keys


def _table(name: str, columns: dict[str, np.ndarray], cells: np.ndarray, keys: dict[str, list], suite: str) -> pa.Table:
    """An Arrow table with the schema (and pandas metadata) of the store's ``name`` table."""
    schema = pa.Schema.from_pandas(empty_table(name), preserve_index=False)
    n = len(cells)
    arrays = []
    for field in schema:
        if field.name in keys:
            dictionary = pa.array(keys[field.name], type=field.type)
            arrays.append(dictionary.take(pa.array(cells, type=pa.int32())))
        elif field.name in columns:
            arrays.append(pa.array(columns[field.name], type=field.type))
        elif field.name == "suite":
            arrays.append(pa.array(np.full(n, suite, dtype=object), type=field.type))
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            arrays.append(pa.array(np.full(n, "", dtype=object), type=field.type))
        else:
            arrays.append(pa.nulls(n, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _trajectories(solver: np.ndarray, rows: int, rng: np.random.Generator):
    """(iterations grid, gap matrix runs x rows, diverged mask) of synthetic runs; ``solver``: each run's solver index."""
    n_runs = len(solver)
    grid = np.unique(np.round(np.geomspace(1, 2000, rows - 1)).astype(np.int64))
    grid = np.concatenate([[0], grid])
    decay = 10.0 ** (rng.normal(-2.5, 0.4, n_runs) + 0.05 * solver)  # log10 of the gap lost per iteration
    start = 10.0 ** rng.uniform(0.0, 2.0, n_runs)
    diverged = rng.random(n_runs) < 0.03
    exponent = np.where(diverged[:, None], 0.02, -decay[:, None]) * grid[None, :]
    gap = start[:, None] * 10.0 ** np.clip(exponent, -14.0, 30.0)
    return grid, gap, diverged


def write_results(folder: str | Path, problems: int = 20, solvers: int = 20, seeds: int = 250, rows: int = 30,
                  seed: int = 0, keys: dict[str, list] | None = None, chunk_runs: int = 2_000_000) -> Path:
    """Write a synthetic consolidated results folder of ``problems x solvers x seeds`` runs; return its path.

    ``keys``: the cells' key columns, problem-major (``bbob_keys()`` for the bbob suite's 2,160 problems and
    one solver: pass ``problems=2160, solvers=1``); by default ``problems x solvers`` synthetic cells.
    Runs are drawn and written in chunks of whole problems of about ``chunk_runs`` runs (the first chunk from
    ``default_rng(seed)``, chunk i > 0 from ``default_rng([seed, i])``), so a million runs fit in memory.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keys = keys if keys is not None else _keys(problems, solvers)
    if len(keys["cell"]) != problems * solvers:
        raise ValueError(f"keys hold {len(keys['cell'])} cells, not problems x solvers = {problems * solvers}")
    per_chunk = max(1, chunk_runs // (solvers * seeds))  # problems per chunk
    parts, counts = [], {"runs": 0, "trace": 0, "hits": 0}
    for i, first in enumerate(range(0, problems, per_chunk)):
        rng = np.random.default_rng(seed if i == 0 else [seed, i])
        cells = np.arange(first * solvers, min(problems, first + per_chunk) * solvers)
        tables = _chunk_tables(keys, cells, solvers, seeds, rows, rng)
        paths = {name: folder / f".{name}.part{i}.parquet" for name in tables}
        for name, table in tables.items():
            counts[name] += table.num_rows
            pq.write_table(table, paths[name])
        parts.append(paths)
    check = {"write": uuid.uuid4().hex, "rows": counts}
    provenance = {"suite_path": None, "note": f"synthetic: {problems} problems x {solvers} solvers x {seeds} seeds"}
    for name in counts:
        schema = pq.read_schema(parts[0][name])
        metadata = {**schema.metadata, CHECK_KEY: json.dumps({**check, "table": name}).encode(),
                    METADATA_KEY: json.dumps(provenance).encode()}
        with pq.ParquetWriter(folder / f"{name}.parquet", schema.with_metadata(metadata)) as writer:
            for paths in parts:
                writer.write_table(pq.read_table(paths[name]).replace_schema_metadata(metadata))
                paths[name].unlink()
    (folder / "provenance.json").write_text(json.dumps(provenance) + "\n")
    return folder


def _chunk_tables(keys: dict[str, list], cells: np.ndarray, solvers: int, seeds: int, rows: int,
                  rng: np.random.Generator) -> dict[str, pa.Table]:
    """The runs, trace and hits tables of the runs of ``cells`` (indices into ``keys``), ``seeds`` runs each."""
    n_cells, n_runs = len(cells), len(cells) * seeds
    run_cell = np.repeat(cells, seeds)
    grid, gap, diverged = _trajectories(run_cell % solvers, rows, rng)
    n_rows = len(grid)
    final = gap[:, -1]
    status = np.where(diverged, "diverged", np.where(final < 1e-8, "converged", "budget")).astype(object)
    run_seed = np.tile(np.arange(seeds, dtype=np.int64), n_cells)
    evals = grid + 1
    runs = {"seed": run_seed, "status": status, "f": final, "f_opt": np.zeros(n_runs), "f_gap": final,
            "iterations": np.full(n_runs, grid[-1]), "f_evals": np.zeros(n_runs, dtype=np.int64),
            "g_evals": np.full(n_runs, evals[-1]), "epochs": np.full(n_runs, np.nan), "time": np.full(n_runs, 1e-5 * grid[-1])}
    trace = {"seed": np.repeat(run_seed, n_rows), "iteration": np.tile(grid, n_runs), "f_evals": np.zeros(n_runs * n_rows, dtype=np.int64),
             "g_evals": np.tile(evals, n_runs), "epochs": np.full(n_runs * n_rows, np.nan), "time": np.tile(1e-5 * grid, n_runs),
             "f": gap.ravel(), "f_gap": gap.ravel(), "grad_norm": np.sqrt(gap).ravel(),
             "step_size": np.tile(np.r_[np.full(n_rows - 1, 0.01), np.nan], n_runs)}
    best = np.minimum.accumulate(gap, axis=1)
    hit_runs, hit_targets, hit_rows = [], [], []
    for target in target_ladder():
        reached = best[:, -1] <= target
        hit_runs.append(np.flatnonzero(reached))
        hit_targets.append(np.full(reached.sum(), target))
        hit_rows.append(np.argmax(best[reached] <= target, axis=1))
    order = np.lexsort((np.concatenate(hit_targets) * -1, np.concatenate(hit_runs)))
    hit_run, hit_row = np.concatenate(hit_runs)[order], np.concatenate(hit_rows)[order]
    hits = {"seed": run_seed[hit_run], "target": np.concatenate(hit_targets)[order], "iteration": grid[hit_row],
            "f_evals": np.zeros(len(hit_run), dtype=np.int64), "g_evals": evals[hit_row], "epochs": np.full(len(hit_run), np.nan),
            "time": 1e-5 * grid[hit_row], "estimated": np.zeros(len(hit_run), dtype=bool)}
    tables = {"runs": _table("runs", runs, run_cell, keys, "synthetic"),
              "trace": _table("trace", trace, np.repeat(run_cell, n_rows), keys, "synthetic"),
              "hits": _table("hits", hits, run_cell[hit_run], keys, "synthetic")}
    return tables
