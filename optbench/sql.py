"""SQL over a results folder: DuckDB views ``runs``, ``trace`` and ``hits`` over its Parquet files.

    import optbench as ob
    ob.query("reports/quick", "SELECT problem, method, median(f_gap) FROM runs GROUP BY ALL")   # a pandas DataFrame

The views read the files the store's reading rules choose (:func:`optbench.store.table_files`):
a consolidated folder's three tables, or the sound finished cells of an interrupted suite.
DuckDB reads them lazily (only the columns and row groups a query needs, out of core), so a
query over millions of trace rows takes a fraction of the memory of loading the tables.
The columns are those of :mod:`optbench.engine.tables`; a table a folder does not hold
(``hits`` of an old folder) is an empty view with its columns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from optbench.errors import QueryError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = ["connect", "query", "write_query", "OUTPUT_FORMATS"]

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

    from optbench.engine.tables import empty_table
    from optbench.store import table_files

    files = table_files(results)
    connection = duckdb.connect()
    for name, paths in files.items():
        if paths:
            listing = "[" + ", ".join(_literal(str(path)) for path in paths) + "]"
            connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({listing}, union_by_name = true)")
        else:
            connection.from_df(empty_table(name)).create(name)
    return connection


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
