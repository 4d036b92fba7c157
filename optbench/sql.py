"""SQL over a results folder: DuckDB views ``runs``, ``trace`` and ``hits`` over its Parquet files.

    import optbench as ob
    ob.query("reports/quick", "SELECT problem, method, median(f_gap) FROM runs GROUP BY ALL")   # a pandas DataFrame

The views read the files the store's reading rules choose (:func:`optbench.store.table_files`):
a consolidated folder's three tables, or the sound finished cells of an interrupted suite.
DuckDB reads them lazily (only the columns and row groups a query needs, out of core), so a
query over millions of trace rows takes a fraction of the memory of loading the tables.
The columns are those of :mod:`optbench.schema`; a table a folder does not hold
(``hits`` of an old folder) is an empty view with its columns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from optbench.errors import QueryError

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = ["connect", "query", "write_query", "read_prepared", "OUTPUT_FORMATS"]

OUTPUT_FORMATS = (".csv", ".parquet")


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def connect(results: str | Path) -> "duckdb.DuckDBPyConnection":
    """An in-memory DuckDB connection with the views ``runs``, ``trace`` and ``hits`` of the folder ``results``.

    Raises ``FileNotFoundError`` (not a results folder) or ``StoreError`` (a folder the
    store refuses to read) before anything is queried.
    """
    import duckdb

    from optbench.schema import empty_table
    from optbench.store import table_files

    files = table_files(results)
    connection = duckdb.connect()
    # give memory back to the system after each query's tasks (the default keeps up to 128 MiB cached per thread,
    # on top of the tables a reader converts to pandas)
    connection.execute("SET allocator_flush_threshold = '16MiB'; SET allocator_bulk_deallocation_flush_threshold = '16MiB'")
    if _unconsolidated_stacks(results):  # an interrupted suite's stack files hold all three tables: read them once
        from optbench.store import read_finished_cells

        tables, _ = read_finished_cells(results)
        for name, frame in zip(files, tables):
            connection.from_df(frame).create(name)
        return connection
    for name, paths in files.items():
        if paths:
            listing = "[" + ", ".join(_literal(str(path)) for path in paths) + "]"
            connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({listing}, union_by_name = true)")
        else:
            connection.from_df(empty_table(name)).create(name)
    return connection


def _unconsolidated_stacks(results: str | Path) -> bool:
    """Whether ``results`` is an interrupted suite's folder (no consolidated tables) with stack files."""
    from optbench.store import STACK_SUFFIX

    folder = Path(results)
    return not (folder / "runs.parquet").is_file() and any((folder / "cells").glob(f"*{STACK_SUFFIX}"))


def _relation(connection: "duckdb.DuckDBPyConnection", sql: str) -> "duckdb.DuckDBPyRelation":
    """The result of ``sql`` as a lazy relation; ``QueryError`` (one line) when it cannot run or returns no rows."""
    import duckdb

    if not isinstance(sql, str) or not sql.strip():
        raise QueryError("the SQL query is empty; give a SELECT over the views runs, trace and hits")
    try:
        relation = connection.sql(sql)
    except duckdb.Error as exc:
        raise QueryError(f"the SQL query cannot run: {_first_line(exc)}") from None
    if relation is None:
        raise QueryError("the SQL is not a query that returns rows; give a SELECT over the views runs, trace and hits")
    return relation


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _fetch(relation: "duckdb.DuckDBPyRelation", limit: int | None = None) -> "pd.DataFrame":
    import duckdb

    try:
        return (relation if limit is None else relation.limit(limit)).df()
    except duckdb.Error as exc:  # errors found while running (a failed cast, a division by zero)
        raise QueryError(f"the SQL query cannot run: {_first_line(exc)}") from None


def query(results: str | Path, sql: str, limit: int | None = None) -> "pd.DataFrame":
    """Run ``sql`` over the views ``runs``, ``trace`` and ``hits`` of the results folder ``results``; a pandas DataFrame.

    ``limit``: at most this many rows (all when None). Raises ``QueryError`` for SQL
    that cannot run, ``FileNotFoundError`` / ``StoreError`` for a folder that cannot be read.
    """
    connection = connect(results)
    try:
        return _fetch(_relation(connection, sql), limit)
    finally:
        connection.close()


def write_query(results: str | Path, sql: str, out: str | Path) -> Path:
    """Run ``sql`` (see :func:`query`) and write its rows to ``out``: ``.csv`` or ``.parquet``, by the suffix.

    DuckDB writes the rows as it computes them (out of core), under a temporary name
    renamed to ``out`` when complete: on any error nothing is written.
    """
    import duckdb

    out = Path(out)
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise QueryError(f"--out {str(out)!r}: unknown format {out.suffix or '(no suffix)'!r}; "
                         f"valid: {', '.join(OUTPUT_FORMATS)}")
    if not out.parent.is_dir():
        raise QueryError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist")
    connection = connect(results)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        relation = _relation(connection, sql)
        try:
            if out.suffix.lower() == ".csv":
                relation.write_csv(str(temporary))
            else:
                relation.write_parquet(str(temporary))
        except duckdb.Error as exc:
            raise QueryError(f"the SQL query cannot run: {_first_line(exc)}") from None
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
        connection.close()
    return out


# ---------------------------------------------------------------- the analysis' reader
def _arrow(relation: "duckdb.DuckDBPyRelation") -> "pa.Table":
    """All rows of ``relation`` as one Arrow table (``to_arrow_table`` since DuckDB 1.4, ``fetch_arrow_table`` before)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()


def _frame(table: "pa.Table") -> "pd.DataFrame":
    """An Arrow table as pandas, each known column at the dtype of :mod:`optbench.schema` (nullable Int64, str)."""
    return _typed(table.to_pandas(split_blocks=True, self_destruct=True))


def _typed(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Each known column of ``frame`` at the dtype of :mod:`optbench.schema` (nullable Int64, str), in place."""
    from optbench.schema import DTYPES

    for column in frame.columns:
        if DTYPES.get(column) in ("Int64", "str") and str(frame[column].dtype) != DTYPES[column]:
            frame[column] = frame[column].astype(DTYPES[column])
    return frame


def _run_ids(runs: "pd.DataFrame", cell: "pa.ChunkedArray", seed: "pa.ChunkedArray", name: str) -> "np.ndarray":
    """The row of ``runs`` each (cell, seed) of a trace or hits table belongs to; ``ParameterError`` for orphans."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from optbench.errors import ParameterError
    run_cells, cells = pd.factorize(runs["cell"].to_numpy(dtype=object))
    cell_code = pc.index_in(cell, value_set=pa.array(cells, type=pa.string())).fill_null(-1).to_numpy().astype(np.int64)
    seeds = seed.to_numpy()
    seed_codes, seed_values = pd.factorize(np.concatenate([runs["seed"].to_numpy(dtype=np.int64), seeds]))
    run_key = pd.Index(run_cells.astype(np.int64) * len(seed_values) + seed_codes[:len(runs)])
    if not run_key.is_unique:
        from optbench.analysis import prepare

        prepare(runs)  # raises the duplicate-run error, naming the run
    key = np.where(cell_code >= 0, cell_code * len(seed_values) + seed_codes[len(runs):], -1)
    position = run_key.get_indexer(key)
    if (position < 0).any():
        row = int(np.flatnonzero(position < 0)[0])
        raise ParameterError(f"the {name} has rows for a run that the runs table lacks: cell {cell[row].as_py()!r}, "
                             f"seed {int(seeds[row])}")
    return position


BATCH_ROWS = 1 << 17  # rows per Arrow batch streamed out of DuckDB (bounds the memory of one batch in flight)


def _read_indexed(connection: "duckdb.DuckDBPyConnection", runs: "pd.DataFrame", name: str,
                  columns: list[str] | None = None, keep_seed: bool = True) -> tuple["pd.DataFrame", "np.ndarray"]:
    """A trace or hits view (only ``columns`` besides cell and seed, all when None) and its rows' run positions.

    ``seed`` is read to find each row's run, and kept as a column when ``keep_seed``.

    Streamed in batches of ``BATCH_ROWS`` rows, each copied out of DuckDB's buffers and
    matched to its runs before the next is read: the memory held is the pandas
    table, not also the whole Arrow result (DuckDB keeps the buffers of a fetched
    result until its connection closes).
    """
    import numpy as np

    from optbench.schema import DTYPES, KEY_COLUMNS

    keep = [c for c in connection.table(name).columns if c != "cell" and (columns is None or c in columns or c == "seed")]
    relation = connection.sql(f"SELECT cell, {', '.join(_identifier(c) for c in keep)} FROM {name}")
    reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    parts: dict[str, list] = {column: [] for column in keep if column != "seed" or keep_seed}
    positions = []
    stored = [c for c in keep if c != "seed" or keep_seed]
    for batch in reader(BATCH_ROWS):
        positions.append(_run_ids(runs, batch.column("cell"), batch.column("seed"), name if name == "trace" else "hits table"))
        for column in stored:
            parts[column].append(_copied(batch.column(column)))
    frame = _frame_of_parts(parts, relation, stored)
    for column in set(frame.columns) & set(KEY_COLUMNS):  # the same few strings on every row: categoricals (read_tables)
        if DTYPES[column] == "str":
            frame[column] = frame[column].astype("category")
    return frame, (np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64))


def _copied(array: "pa.Array") -> "np.ndarray | pd.Series":
    """An Arrow array out of DuckDB's buffers: a numpy copy for numbers without nulls, else pandas' conversion."""
    import numpy as np
    import pyarrow as pa

    kind = array.type
    if array.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return np.array(array.to_numpy(zero_copy_only=False), copy=True)
    return array.to_pandas()


def _frame_of_parts(parts: dict[str, list], relation: "duckdb.DuckDBPyRelation", keep: list[str]) -> "pd.DataFrame":
    """The pandas table of the batches' columns, each column joined then its parts dropped, at the schema's dtypes."""
    import numpy as np
    import pandas as pd

    if not next(iter(parts.values()), []):  # no rows: the empty result, with its columns and dtypes
        return _frame(_arrow(relation.limit(0)).drop_columns(["cell"]))
    data = {}
    for column in keep:
        pieces = parts.pop(column)
        if all(isinstance(piece, np.ndarray) for piece in pieces):
            data[column] = np.concatenate(pieces)
        else:
            data[column] = pd.concat([pd.Series(piece) for piece in pieces], ignore_index=True)
        del pieces
    return _typed(pd.DataFrame(data, copy=False))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_prepared(results: str | Path, unused: Mapping[str, Iterable[str]] | None = None
                  ) -> tuple["pd.DataFrame", "pd.DataFrame", "pd.DataFrame | None", dict]:
    """``(runs, trace, hits, provenance)`` of a results folder, prepared as :func:`optbench.analysis.prepare` and
    :func:`~optbench.analysis.prepare_hits` prepare the store's tables -- the same values, with less memory and time.

    DuckDB reads the files the store's reading rules choose, only the columns the
    analysis keeps (not the text key columns of the trace and hits: their rows
    find their run by cell and seed, as integers); the runs table keeps its labels,
    one per run. ``hits`` is None when the folder holds none. ``unused``:
    ``{"trace": columns, "hits": columns}`` of the prepared tables the caller will not
    read (the report's, :func:`optbench.report.data.report_unused`), left out -- not
    read at all where the preparation does not need them.
    """
    from optbench import analysis
    from optbench.store import folder_provenance

    skip = {name: set((unused or {}).get(name, ())) for name in ("trace", "hits")}
    connection = connect(results)
    try:
        runs = _frame(_arrow(connection.sql("SELECT * FROM runs")))
        drop = set(analysis._KEYS + ["cell", "suite"]) - {"dim"} | (skip["trace"] & {"dim", "seed"})
        trace, trace_run = _read_indexed(connection, runs, "trace", [c for c in connection.table("trace").columns if c not in drop],
                                         keep_seed="seed" not in skip["trace"])
        wanted = [c for c in ("target", "iteration", "f_evals", "g_evals", "epochs", "time")  # f + g evals make evaluations
                  if c in ("target", "f_evals", "g_evals") or {"iteration": "iterations"}.get(c, c) not in skip["hits"]]
        hits, hit_run = _read_indexed(connection, runs, "hits", wanted, keep_seed="seed" not in skip["hits"])
    finally:
        connection.close()
        _release_arrow_memory()
    runs, trace = analysis.prepare_indexed(runs, trace, trace_run)
    hits = analysis.prepare_hits_indexed(runs, hits, hit_run)
    trace = trace.drop(columns=[c for c in skip["trace"] if c in trace])
    hits = hits.drop(columns=[c for c in skip["hits"] if c in hits]) if hits is not None else None
    return runs, trace, hits, folder_provenance(results)


def _release_arrow_memory() -> None:
    """Give the memory Arrow's pool kept from the tables already converted to pandas back to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
