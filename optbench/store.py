"""Results on disk: one Parquet file per finished stack (older folders: three per cell), written atomically; one writer per folder.

Layout of an output directory ``OUT``::

    OUT/.lock                       held (flock) by the one ``optbench run`` writing here; holds its PID
    OUT/cells/<key>.trace.parquet   the cell's trace rows
    OUT/cells/<key>.hits.parquet    the cell's first hits of the target ladder
    OUT/cells/<key>.runs.parquet    the cell's run rows -- written last: its presence means "finished"
    OUT/cells/<stack>.stack.parquet or, as a suite writes them: one file per stack (the cells that ran as
                                    one array), holding the runs, trace and hits rows of each of its
                                    cells (columns ``_key`` and ``_table`` say whose and which), written
                                    with one atomic write and one fsync; its presence means "finished"
    OUT/runs.parquet                every cell of the suite, consolidated in suite order
    OUT/trace.parquet, OUT/hits.parquet
    OUT/provenance.json             versions, git commit, machine, date, suite file and command line
    OUT/manifest.jsonl              the SHA-256 of every file above, appended at each write

Safety rules:

- Every file is written under a unique temporary name (``.<name>.<pid>.<random>.tmp``),
  flushed and ``fsync``-ed, then renamed with ``os.replace`` (and the folder fsynced).
- Each file of a cell records, as Parquet metadata (key ``optbench.check``), the
  id of the write it belongs to and the row counts of all three files. A cell is
  *sound* when its three files are readable, carry the same write id, have the
  recorded row counts and the table's columns; otherwise it is *damaged* and a
  resumed run computes it again (saying which and why).
- *Content integrity.* Every Parquet file is written with page checksums
  (verified on every read), and the SHA-256 of every file the store writes is
  appended to ``OUT/manifest.jsonl`` (one JSON line ``{"file", "sha256", "bytes"}``
  per write, fsynced) before the file is renamed into place. A file whose bytes
  match none of the digests recorded under its name is *damaged*: ``optbench
  check`` names it and says how a rerun rebuilds it (a cell: computed again; a
  consolidated table: rebuilt from the cells); resume computes such a cell again,
  and readers refuse such a table instead of reading it. A folder without a
  manifest (written before it existed) is verified by page checksums only.
- Consolidation writes the three tables and provenance under temporary names,
  then a marker ``consolidating.json`` listing them, then renames them all and
  removes the marker. A run that finds the marker finishes the renames first, and
  readers refuse a folder whose marker is present or whose tables carry different
  write ids, so a mismatched pair is never read.

Only the driver writes; workers return tables. Provenance is also stored as
Parquet key-value metadata (key ``optbench``), without the suite's text, which
``provenance.json`` holds once per folder.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import platform
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from optbench import schema as _tables
from optbench.arrow import texts
from optbench.errors import StoreError
from optbench.schema import FAILED_STATUSES, CellTables

if TYPE_CHECKING:  # the write path is pyarrow only: pandas is imported when a table is read or consolidated
    import pandas as pd

__all__ = ["Store", "StoreError", "FolderLock", "provenance", "read_results", "read_tables", "check_folder",
           "table_files", "folder_provenance", "folder_suite_text", "FAILED_STATUSES", "TABLES"]

METADATA_KEY = b"optbench"
CHECK_KEY = b"optbench.check"
MARKER = "consolidating.json"
LOCK_NAME = ".lock"
MANIFEST = "manifest.jsonl"
PROVENANCE = "provenance.json"
TABLES = ("runs", "trace", "hits")
STACK_SUFFIX = ".stack.parquet"
_STACK_COLUMNS = ("_key", "_table")
_REQUIRED = {"runs": ["cell", "seed", "status"], "trace": ["cell", "seed", "iteration"], "hits": ["cell", "seed", "target"]}


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


def _installed_version(package: str) -> str | None:
    """The version of an installed package, read from its metadata without importing it (the run path stays lean)."""
    module = sys.modules.get(package)
    if module is not None:
        return getattr(module, "__version__", None)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def provenance(suite_path: str | None = None, suite_text: str | None = None, command: list[str] | None = None) -> dict[str, Any]:
    """Where results come from: versions, git commit of optbench (if a git checkout), machine, date, suite."""
    import numpy

    import optbench

    return {
        "optbench": optbench.__version__,
        "git_commit": _git_commit(Path(optbench.__file__).resolve().parent),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "scipy": _installed_version("scipy"),
        "pandas": _installed_version("pandas"),
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


# ---------------------------------------------------------------- atomic files
def _temporary_name(path: Path) -> Path:
    """A name no other writer uses: ``.<name>.<pid>.<random>.tmp`` beside ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _folder_of(path: Path) -> Path:
    """The results folder a file belongs to: ``OUT`` for ``OUT/x`` and for ``OUT/cells/x``."""
    return path.parent.parent if path.parent.name == "cells" else path.parent


def _relative(path: Path) -> str:
    """How the manifest names a file: its path inside its results folder (``cells/k.runs.parquet``)."""
    return path.relative_to(_folder_of(path)).as_posix()


def _record(path: Path, data: bytes | memoryview) -> None:
    """Append the SHA-256 of ``data``, the content about to be renamed to ``path``, to the folder's manifest."""
    line = json.dumps({"file": _relative(path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    line = "\n" + line  # a manifest cut short mid-line (a crash, damage) must not swallow this entry
    handle = os.open(_folder_of(path) / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(handle, (line + "\n").encode())
        os.fsync(handle)
    finally:
        os.close(handle)


def _write_bytes(path: Path, data: bytes | memoryview, record: bool = True) -> Path:
    """Write ``data`` under a fresh temporary name beside ``path``, fsynced, its digest recorded; return that name."""
    temporary = _temporary_name(path)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if record:
            _record(path, data)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _write_temporary(frame: pd.DataFrame, path: Path, metadata: dict[str, Any] | None, check: dict[str, Any]) -> Path:
    """Write ``frame`` (with page checksums) under a fresh temporary name beside ``path``; return that name."""
    return _write_arrow_temporary(pa.Table.from_pandas(frame, preserve_index=False), path, metadata, check)


def _write_arrow_temporary(table: pa.Table, path: Path, metadata: dict[str, Any] | None, check: dict[str, Any]) -> Path:
    """Write the Arrow ``table`` (with page checksums) under a fresh temporary name beside ``path``, fsynced, its
    SHA-256 recorded in the folder's manifest; return that name.

    The suite's text is left out of the file's metadata: ``provenance.json`` holds it once per folder.
    """
    extra = {CHECK_KEY: json.dumps(check).encode()}
    if metadata is not None:
        kept = {key: value for key, value in metadata.items() if key != "suite_text"}
        extra[METADATA_KEY] = json.dumps(kept, default=str).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, write_page_checksum=True)
    return _write_bytes(path, memoryview(sink.getvalue()))


def _write_text(path: Path, text: str, record: bool = True) -> Path:
    return _write_bytes(path, text.encode("utf-8"), record)


# ---------------------------------------------------------------- content checks
_MANIFESTS: dict[Path, tuple[tuple[int, int, int], dict[str, set[str]]]] = {}


def _manifest(folder: Path) -> dict[str, set[str]] | None:
    """file -> every SHA-256 recorded for it in ``folder``'s manifest (None: no manifest). Unparsable lines are skipped."""
    path = folder / MANIFEST
    try:
        stat = path.stat()
    except OSError:
        return None
    stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    cached = _MANIFESTS.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    entries: dict[str, set[str]] = {}
    for line in path.read_bytes().splitlines():
        try:
            entry = json.loads(line)
            entries.setdefault(str(entry["file"]), set()).add(str(entry["sha256"]))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash: its file is then unverified, hence damaged
    _MANIFESTS[path] = (stamp, entries)
    return entries


def _content_problem(path: Path, data: bytes) -> str | None:
    """Why the bytes ``data`` of ``path`` are not what the store wrote there (None when they are, or cannot be told)."""
    entries = _manifest(_folder_of(path))
    if entries is None:
        return None  # a folder written before manifests: page checksums only
    recorded = entries.get(_relative(path))
    if not recorded:
        return f"no SHA-256 is recorded for it in {MANIFEST}"
    if hashlib.sha256(data).hexdigest() not in recorded:
        return f"its content differs from the SHA-256 recorded in {MANIFEST} when it was written (changed or flipped bytes)"
    return None


def recorded(folder: Path, name: str) -> bool:
    """Whether the store wrote ``name`` (a path inside ``folder``) at some point: it is in the manifest."""
    return name in (_manifest(Path(folder)) or {})


def rebuild_hint(name: str) -> str:
    """How a rerun rebuilds the damaged file ``name`` (a path inside the results folder)."""
    if name.startswith("cells/"):
        return "a rerun of the same suite with the same --out computes the cell again"
    return "a rerun of the same suite with the same --out rebuilds it from the cells"


def damaged_message(folder: Path, name: str, why: str) -> str:
    """The one line that names a damaged file, what is wrong, and whether a rerun can rebuild it."""
    return f"{name} in {str(folder)!r} is damaged: {why}; {rebuild_hint(name)}"


def _verified(path: Path) -> bytes:
    """The bytes of ``path``, checked against the manifest; :class:`StoreError` naming the file when damaged."""
    data = path.read_bytes()
    problem = _content_problem(path, data)
    if problem is not None:
        raise StoreError(damaged_message(_folder_of(path), _relative(path), problem))
    return data


def _parse(path: Path, data: bytes, **options: Any) -> pa.Table:
    """The Parquet table in ``data`` (read from ``path``), page checksums verified; StoreError when unreadable."""
    try:
        return pq.read_table(pa.BufferReader(data), page_checksum_verification=True, **options)
    except Exception as exc:  # noqa: BLE001 -- any failure to decode is damage
        raise StoreError(damaged_message(_folder_of(path), _relative(path), f"unreadable ({_short(exc)})")) from None


def _scan(path: Path, data: bytes) -> tuple[pa.Schema, int]:
    """(schema, rows) of the Parquet table in ``data``, every page decoded and its checksum verified, as :func:`_parse`
    does, but one column chunk at a time (a trace of millions of rows is never held whole); StoreError when unreadable."""
    try:
        reader = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
        for group in range(reader.num_row_groups):
            for column in reader.schema_arrow.names:
                reader.read_row_group(group, columns=[column])
        return reader.schema_arrow, reader.metadata.num_rows
    except Exception as exc:  # noqa: BLE001 -- any failure to decode is damage
        raise StoreError(damaged_message(_folder_of(path), _relative(path), f"unreadable ({_short(exc)})")) from None


def _check_of(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The ``optbench.check`` metadata and column names of a Parquet file (raises if unreadable)."""
    schema = pq.read_schema(path)
    return json.loads((schema.metadata or {}).get(CHECK_KEY, b"{}")), schema.names


def _read(path: Path) -> pd.DataFrame:
    """The table in ``path``, its content checked (manifest digest, page checksums): StoreError when damaged."""
    return _parse(path, _verified(path)).to_pandas()


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


# ---------------------------------------------------------------- the lock
class FolderLock:
    """An exclusive ``flock`` on ``OUT/.lock``, held while one run writes into ``OUT``.

    A second run on the same folder fails at once naming the holder's PID, or
    (``wait=True``) waits until the first one ends. The lock goes with the
    process: a killed run leaves no stale lock.
    """

    def __init__(self, out: str | Path, wait: bool = False, notify=None):
        self.path = Path(out) / LOCK_NAME
        self.wait, self.notify, self.handle = wait, notify, None

    def acquire(self) -> "FolderLock":
        import fcntl

        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.path.read_text(encoding="utf-8").strip() or "unknown"
            if not self.wait:
                handle.close()
                raise StoreError(
                    f"results folder {str(self.path.parent)!r} is in use by another optbench run (PID {holder}); "
                    f"wait for it to finish, or pass --wait to wait for it"
                ) from None
            if self.notify is not None:
                self.notify(f"waiting for the optbench run with PID {holder} to release {str(self.path.parent)!r}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the flock
            self.handle = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def prepare_folder(out: str | Path) -> Path:
    """Create ``out/cells`` or raise :class:`StoreError` saying why it cannot be a results folder."""
    out = Path(out)
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            what = "is a file" if parent == out else f"is under {str(parent)!r}, which is a file"
            raise StoreError(f"--out {str(out)!r} {what}; give a folder")
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
        probe = _write_text(out / "probe", "", record=False)
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"cannot write results to {str(out)!r}: {exc.strerror or exc}") from None
    return out


# ---------------------------------------------------------------- stack files
def _stack_table(cells: dict[str, tuple[CellTables, Any]]) -> tuple[pa.Table, dict[str, dict[str, int]]]:
    """One Arrow table of every cell's runs, trace and hits rows, tagged ``_key`` and ``_table``; rows per cell."""
    parts, rows = [], {}
    for key, (tables, _) in cells.items():
        rows[key] = {}
        for name, frame in zip(TABLES, tables):
            part = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
            part = part.replace_schema_metadata(None)
            n = part.num_rows
            part = part.append_column("_key", texts([key] * n))
            parts.append(part.append_column("_table", texts([name] * n)))
            rows[key][name] = n
    return pa.concat_tables(parts, promote_options="permissive"), rows


def _cell_part(table: pa.Table, key: str, name: str) -> pa.Table:
    """The ``name`` rows of cell ``key`` in a stack file's table, without the columns other tables or cells hold."""
    import pyarrow.compute as pc

    part = table.filter(pc.and_(pc.equal(table["_key"], key), pc.equal(table["_table"], name)))
    defined = _tables._COLUMNS[name]
    extra = [column for column in part.column_names if column not in _STACK_COLUMNS and column not in defined
             and part.num_rows and part[column].null_count < part.num_rows]
    keep = [column for column in defined if column in part.column_names] + extra
    return part.select(keep)


def _arrow(table: Any) -> pa.Table:
    """A table (Arrow, or a pandas frame: a failed or tuned cell's) as an Arrow table without schema metadata."""
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    return table.replace_schema_metadata(None)


def concat_frames(tables: list[Any]) -> "pd.DataFrame":
    """Cells' tables (Arrow or pandas) one after another as one pandas frame with the dtypes of ``DTYPES``.

    Concatenated in Arrow and converted once. Tables without columns are left out;
    the columns of empty tables (a failed cell's trace) still belong to the result.
    """
    tables = [_arrow(table) for table in tables if table.shape[1]]
    if not tables:
        import pandas as pd

        return pd.DataFrame()
    non_empty = [table for table in tables if table.num_rows] or tables[:1]
    joined = pa.concat_tables(non_empty, promote_options="permissive")
    for extra in tables:
        for column in extra.schema:
            if column.name not in joined.column_names:
                joined = joined.append_column(column, pa.nulls(joined.num_rows, column.type))
    return _tables.frame_of(joined)


# ---------------------------------------------------------------- the store
class Store:
    """The output directory of one suite: write finished cells, check them, consolidate."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.cells_dir = self.out / "cells"
        self._index: dict[str, tuple[Path, dict[str, Any]]] | None = None  # cell key -> (stack file, its check)
        self._broken: dict[str, str] = {}  # unreadable stack files -> why
        self._loaded: dict[Path, pa.Table] = {}

    # ------------------------------------------------------------ stacks
    def stack_path(self, stack: str) -> Path:
        return self.cells_dir / f"{stack}{STACK_SUFFIX}"

    def write_stack(self, stack: str, cells: dict[str, tuple[CellTables, Any]], metadata: dict[str, Any]) -> Path:
        """Write the finished cells of one stack (key -> (tables, description)) as one file: one atomic write, one fsync."""
        self.make_folders()
        table, rows = _stack_table(cells)
        check = {"write": uuid.uuid4().hex, "table": "stack", "cells": rows}
        meta = {**metadata, "cells": {key: description for key, (_, description) in cells.items()}}
        path = self.stack_path(stack)
        os.replace(_write_arrow_temporary(table, path, meta, check), path)
        _fsync_folder(self.cells_dir)
        self._index = None
        self._loaded.pop(path, None)
        return path

    def stack_index(self) -> dict[str, tuple[Path, dict[str, Any]]]:
        """Cell key -> (the newest stack file holding it, that file's check); unreadable files go to ``_broken``."""
        if self._index is None:
            self._index, self._broken = {}, {}
            files = sorted(self.cells_dir.glob(f"*{STACK_SUFFIX}"), key=lambda path: path.stat().st_mtime_ns)
            for path in files:
                try:
                    check, _ = _check_of(path)
                except Exception as exc:  # noqa: BLE001 -- any failure to read is damage
                    self._broken[path.name] = f"its file is unreadable ({_short(exc)})"
                    continue
                self._index.update((key, (path, check)) for key in check.get("cells", {}))
        return self._index

    @property
    def broken(self) -> dict[str, str]:
        """Stack files that cannot be read (file name -> why); their cells count as not finished."""
        self.stack_index()
        return dict(self._broken)

    def _stack_of(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        return self.stack_index().get(key) if self.cells_dir.is_dir() else None

    def _stack_file(self, path: Path) -> pa.Table:
        """The table of a stack file, its content checked (manifest digest, page checksums)."""
        if path not in self._loaded:
            self._loaded[path] = _parse(path, _verified(path))
        return self._loaded[path]

    def _stack_damage(self, key: str, n_rows: int | None) -> str | None:
        path, check = self._stack_of(key)
        try:
            names = pq.read_schema(path).names
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # noqa: BLE001 -- any failure to read is damage
            return f"its stack file {path.name} is unreadable ({_short(exc)})"
        missing = [column for table in TABLES for column in _REQUIRED[table] if column not in names]
        if missing:
            return f"its stack file {path.name} lacks the columns {', '.join(sorted(set(missing)))}"
        written = sum(sum(counts.values()) for counts in check["cells"].values())
        if rows != written:
            return f"its stack file {path.name} holds {rows} rows, {written} were written"
        if n_rows is not None and check["cells"][key]["runs"] != n_rows:
            return f"it holds {check['cells'][key]['runs']} runs, its seeds need {n_rows}"
        problem = _content_problem(path, path.read_bytes())
        if problem is not None:
            return f"its stack file {_relative(path)} is damaged: {problem}"
        return None

    def make_folders(self) -> None:
        """Create the results folder and its ``cells/`` folder (as needed)."""
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def path(self, key: str, table: str) -> Path:
        return self.cells_dir / f"{key}.{table}.parquet"

    def runs_path(self, key: str) -> Path:
        return self.path(key, "runs")

    def trace_path(self, key: str) -> Path:
        return self.path(key, "trace")

    def has(self, key: str) -> bool:
        """Whether the cell ``key`` finished (its runs file or a stack file holding it exists; see :meth:`damage`)."""
        return self.runs_path(key).is_file() or self._stack_of(key) is not None

    def damage(self, key: str, n_rows: int | None = None) -> str | None:
        """Why the finished cell ``key`` cannot be used (None when sound): a file unreadable, missing, cut short...

        ``n_rows``: the number of runs the cell must hold (its seeds), when known.
        """
        if not self.runs_path(key).is_file() and self._stack_of(key) is not None:
            return self._stack_damage(key, n_rows)
        checks = {}
        for table in TABLES:
            path = self.path(key, table)
            if not path.is_file():
                return f"its {table} file is missing"
            if path.stat().st_size == 0:
                return f"its {table} file is empty (0 bytes)"
            try:
                checks[table], names = _check_of(path)
                rows = pq.ParquetFile(path).metadata.num_rows
            except Exception as exc:  # noqa: BLE001 -- any failure to read is damage
                return f"its {table} file is unreadable ({_short(exc)})"
            missing = [column for column in _REQUIRED[table] if column not in names]
            if missing:
                return f"its {table} file lacks the columns {', '.join(missing)}"
            expected = checks[table].get("rows", {}).get(table)
            if expected is not None and rows != expected:
                return f"its {table} file holds {rows} rows, {expected} were written"
        writes = {table: check.get("write") for table, check in checks.items()}
        if len(set(writes.values())) != 1 or None in writes.values():
            return "its files come from different writes (" + ", ".join(f"{t} {w}" for t, w in writes.items()) + ")"
        if n_rows is not None and checks["runs"]["rows"]["runs"] != n_rows:
            return f"it holds {checks['runs']['rows']['runs']} runs, its seeds need {n_rows}"
        for table in TABLES:
            path = self.path(key, table)
            problem = _content_problem(path, path.read_bytes())
            if problem is not None:
                return f"its {table} file {_relative(path)} is damaged: {problem}"
        return None

    def scan(self, seeds_of: dict[str, int], retry_failed: bool = True) -> tuple[set[str], dict[str, str]]:
        """``(done, damaged)`` among the keys of ``seeds_of`` (key -> number of runs).

        ``done``: sound finished cells that need not run again (with ``retry_failed``, cells with an
        ``error`` or ``timeout`` run are not done). ``damaged``: key -> why it must run again.
        """
        done, damaged, adopted = set(), {}, set()
        adopt = _manifest(self.out) is None  # no manifest (older folder, or deleted): record the sound cells' digests
        for key, n_rows in seeds_of.items():
            if not self.has(key):
                continue
            reason = self.damage(key, n_rows)
            if reason is not None:
                damaged[key] = reason
                continue
            if retry_failed:
                status = self.read_cell_tables(key).runs["status"].tolist()
                if any(s in FAILED_STATUSES for s in status):
                    continue
            done.add(key)
            if adopt:
                adopted.update(self.cell_files(key))
        for path in sorted(adopted):
            _record(path, path.read_bytes())
        return done, damaged

    def cell_files(self, key: str) -> list[Path]:
        """The files holding the finished cell ``key``: its stack file, or its three per-cell files."""
        if not self.runs_path(key).is_file() and self._stack_of(key) is not None:
            return [self._stack_of(key)[0]]
        return [self.path(key, table) for table in TABLES]

    def write_cell(self, key: str, runs: pd.DataFrame, trace: pd.DataFrame, metadata: dict[str, Any] | None = None,
                   hits: pd.DataFrame | None = None) -> None:
        """Write one finished cell in the per-cell layout of folders from before stacks (three files: trace
        and hits first, runs last, the commit marker, each atomically); suites write stacks (:meth:`write_stack`)."""
        self.make_folders()
        if hits is None:
            hits = _tables.empty_table("hits")
        frames = {"trace": trace, "hits": hits, "runs": runs}
        check = {"write": uuid.uuid4().hex, "rows": {name: len(frame) for name, frame in frames.items()}}
        for name, frame in frames.items():
            temporary = _write_temporary(frame, self.path(key, name), metadata, {**check, "table": name})
            os.replace(temporary, self.path(key, name))
        _fsync_folder(self.cells_dir)

    def read_cell_tables(self, key: str) -> CellTables:
        """The finished cell ``key``'s tables as pandas frames (see :meth:`read_cell_arrow`)."""
        if not self.runs_path(key).is_file() and self._stack_of(key) is not None:
            return CellTables(*(_tables.frame_of(part) for part in self.read_cell_arrow(key)))
        hits = self.path(key, "hits")
        return CellTables(_read(self.runs_path(key)), _read(self.trace_path(key)),
                          _read(hits) if hits.is_file() else _tables.empty_table("hits"))

    def read_cell_arrow(self, key: str) -> CellTables:
        """The finished cell ``key``'s tables as Arrow tables, content checked (a cell of older folders without
        hits gets a hits table without columns)."""
        if not self.runs_path(key).is_file() and self._stack_of(key) is not None:
            table = self._stack_file(self._stack_of(key)[0])
            return CellTables(*(_cell_part(table, key, name) for name in TABLES))
        paths = [self.path(key, name) for name in TABLES]
        return CellTables(*(_parse(path, _verified(path)) if path.is_file() else pa.table({}) for path in paths))

    def clean_temporaries(self) -> int:
        """Remove temporary files left by killed writers (call while holding the folder's lock)."""
        stray = [*self.out.glob(".*.tmp"), *self.cells_dir.glob(".*.tmp")]
        for path in stray:
            path.unlink(missing_ok=True)
        return len(stray)

    def recover(self) -> bool:
        """Finish a consolidation that was interrupted between its renames; True when there was one."""
        marker = self.out / MARKER
        if not marker.is_file():
            return False
        try:
            pending = json.loads(marker.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError):
            pending = {}
        for temporary, final in pending.items():
            if (self.out / temporary).is_file():
                os.replace(self.out / temporary, self.out / final)
        _fsync_folder(self.out)
        marker.unlink()
        return True

    def consolidate_tables(self, keys: Iterable[str], metadata: dict[str, Any],
                           fresh: dict[str, CellTables] | None = None) -> CellTables:
        """Write every table under a temporary name, then a marker, then rename them all, then drop the marker.

        ``fresh``: tables of cells this run has just written (by key), used as they
        are instead of reading their files back; the other cells are read from disk.
        """
        parts: dict[str, list[Any]] = {name: [] for name in TABLES}
        fresh = fresh or {}
        for key in keys:
            if key in fresh or self.has(key):
                for name, table in zip(TABLES, fresh[key] if key in fresh else self.read_cell_arrow(key)):
                    parts[name].append(table)
        frames = {name: concat_frames(parts[name]) for name in TABLES}
        frames = {name: frame if len(frame.columns) else _tables.empty_table(name) for name, frame in frames.items()}
        self.out.mkdir(parents=True, exist_ok=True)
        self.recover()
        check = {"write": uuid.uuid4().hex, "rows": {name: len(frame) for name, frame in frames.items()}}
        written = {}
        try:
            for name, frame in frames.items():
                written[name + ".parquet"] = _write_temporary(frame, self.out / f"{name}.parquet", metadata,
                                                              {**check, "table": name})
            text = json.dumps(metadata, indent=2, default=str) + "\n"
            written["provenance.json"] = _write_text(self.out / "provenance.json", text)
            marker = {"write": check["write"], "files": {path.name: final for final, path in written.items()}}
            os.replace(_write_text(self.out / MARKER, json.dumps(marker), record=False), self.out / MARKER)
        except BaseException:
            for path in written.values():
                path.unlink(missing_ok=True)
            raise
        _fsync_folder(self.out)
        self.recover()
        return CellTables(*(frames[name] for name in TABLES))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

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


# ---------------------------------------------------------------- readers
def read_tables(out: str | Path, categorical: bool = False) -> tuple[CellTables, dict[str, Any]]:
    """``(CellTables(runs, trace, hits), provenance)`` of a consolidated output directory.

    Refuses (``StoreError``, naming the file) a folder whose consolidation was
    interrupted, whose tables come from different consolidations, or whose files
    are damaged (content unlike the digest recorded at write, a page checksum that
    fails, a table the store wrote that is gone). A folder written before hits were
    stored gives an empty hits table. ``categorical``: the key columns of the trace
    and hits (the same few strings on every row) come back as pandas categoricals,
    which takes a fraction of the memory (the report reads so).
    """
    out = Path(out)
    runs_file = out / "runs.parquet"
    if not runs_file.is_file():
        if recorded(out, runs_file.name):
            raise StoreError(damaged_message(out, runs_file.name, "the file is missing"))
        raise FileNotFoundError(not_results(out, NO_RESULTS))
    if (out / MARKER).is_file():
        raise StoreError(f"the consolidation of {str(out)!r} was interrupted; run the same `optbench run` again to finish it")
    missing = [f"{name}.parquet" for name in ("trace", "hits") if recorded(out, f"{name}.parquet")
               and not (out / f"{name}.parquet").is_file()]
    if missing:
        raise StoreError(damaged_message(out, missing[0], "the file is missing"))
    present = [name for name in TABLES if (out / f"{name}.parquet").is_file()]
    data = {name: (out / f"{name}.parquet").read_bytes() for name in present}
    frames = {name: _parse(out / f"{name}.parquet", data[name], read_dictionary=_key_columns(data[name], name, categorical))
              for name in present}
    writes = {name: json.loads((frames[name].schema.metadata or {}).get(CHECK_KEY, b"{}")).get("write") for name in present}
    if len(set(writes.values())) > 1:
        raise StoreError(f"the tables in {str(out)!r} come from different runs ({writes}); run `optbench run` again to rebuild them")
    for name in present:
        problem = _content_problem(out / f"{name}.parquet", data[name])
        if problem is not None:
            raise StoreError(damaged_message(out, f"{name}.parquet", problem))
    if "trace" not in frames:
        raise StoreError(f"the results in {str(out)!r} are incomplete: trace.parquet is missing")
    for name, frame in frames.items():
        _require_columns(out, name, frame)
    if frames["runs"].num_rows == 0:  # every suite has a run per cell and seed, failed ones included
        raise StoreError(not_results(out, "runs.parquet holds no runs"))
    meta = json.loads((frames["runs"].schema.metadata or {}).get(METADATA_KEY, b"{}"))
    meta = {**meta, **_provenance_file(out, strict=True)} if meta else _provenance_file(out, strict=True)
    hits = frames["hits"].to_pandas() if "hits" in frames else _tables.empty_table("hits")
    return CellTables(frames["runs"].to_pandas(), frames["trace"].to_pandas(), hits), meta


def _key_columns(data: bytes, name: str, categorical: bool) -> list[str] | None:
    """The key columns read as dictionaries (categoricals) from the trace and hits, when ``categorical``."""
    if not categorical or name == "runs":
        return None
    try:
        columns = pq.read_schema(pa.BufferReader(data)).names
    except Exception:  # noqa: BLE001 -- the full read names the damage
        return None
    return [column for column in _tables.KEY_COLUMNS if column in columns and _tables.DTYPES[column] == "str"]


def read_finished_cells(out: str | Path) -> tuple[CellTables, dict[str, Any]]:
    """The tables of the sound finished cells of a folder whose suite has not been consolidated (interrupted).

    Damaged cells are left out (``optbench check`` names them); provenance comes
    from ``provenance.json`` when a consolidation wrote one, else it is empty.
    """
    store = Store(out)
    if recorded(store.out, "runs.parquet"):  # consolidated once: the tables, not the cells, are the results
        raise StoreError(damaged_message(store.out, "runs.parquet", "the file is missing"))
    parts = [store.read_cell_tables(key) for key in _sound_cells(store)]
    tables = CellTables(*(_concat([getattr(part, name) for part in parts]) for name in CellTables._fields))
    return tables, _provenance_file(store.out)


def _sound_cells(store: Store) -> list[str]:
    """The keys of the sound finished cells of a folder (sorted); ``FileNotFoundError`` when there are none."""
    keys = sorted({path.name[: -len(".runs.parquet")] for path in (store.out / "cells").glob("*.runs.parquet")}
                  | set(store.stack_index() if store.cells_dir.is_dir() else ()))
    sound = [key for key in keys if store.damage(key) is None]
    if not sound:
        raise FileNotFoundError(not_results(store.out, NO_RESULTS))
    return sound


def table_files(out: str | Path) -> dict[str, list[Path]]:
    """The Parquet files that hold each table (``runs``, ``trace``, ``hits``) of a results folder, by the reading rules.

    A consolidated folder gives its three tables (refused, ``StoreError``, when its
    consolidation was interrupted or its tables come from different writes, as
    :func:`read_tables` refuses them); an interrupted suite gives the files of its
    sound finished cells (:func:`read_finished_cells`). A table a folder does not
    hold (hits of an old folder) gets no files. ``FileNotFoundError`` when ``out``
    is not a results folder.
    """
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"no results directory {str(out)!r}")
    if not (out / "runs.parquet").is_file():
        store = Store(out)
        if recorded(out, "runs.parquet"):  # consolidated once: the tables, not the cells, are the results
            raise StoreError(damaged_message(out, "runs.parquet", "the file is missing"))
        keys = _sound_cells(store)
        return {name: [store.path(key, name) for key in keys if store.path(key, name).is_file()] for name in TABLES}
    if (out / MARKER).is_file():
        raise StoreError(f"the consolidation of {str(out)!r} was interrupted; run the same `optbench run` again to finish it")
    files = {name: [out / f"{name}.parquet"] if (out / f"{name}.parquet").is_file() else [] for name in TABLES}
    try:
        writes = {name: _check_of(paths[0])[0].get("write") for name, paths in files.items() if paths}
    except Exception as exc:  # noqa: BLE001
        raise StoreError(f"cannot read the results in {str(out)!r} ({_short(exc)}); `optbench check {out}` tells more") from None
    if len(set(writes.values())) > 1:
        raise StoreError(f"the tables in {str(out)!r} come from different runs ({writes}); run `optbench run` again to rebuild them")
    _verify_consolidated(out)
    return files


def _verify_consolidated(out: Path) -> None:
    """StoreError naming the first damaged consolidated file (content, columns, a recorded file gone), else nothing."""
    for name in ("runs.parquet", "trace.parquet", "hits.parquet", PROVENANCE):
        path = out / name
        if not path.is_file():
            if recorded(out, name):
                raise StoreError(damaged_message(out, name, "the file is missing"))
            continue
        if name == PROVENANCE:
            _provenance_file(out, strict=True)
            continue
        data = path.read_bytes()
        schema, rows = _scan(path, data)  # page checksums, one column chunk in memory at a time
        _require_columns(out, name.split(".")[0], schema.empty_table())
        if name == "runs.parquet" and rows == 0:
            raise StoreError(not_results(out, "runs.parquet holds no runs"))
        problem = _content_problem(path, data)
        if problem is not None:
            raise StoreError(damaged_message(out, name, problem))


def folder_provenance(out: str | Path) -> dict[str, Any]:
    """The provenance of a results folder, as :func:`read_tables` (consolidated) or :func:`read_finished_cells` give it."""
    out = Path(out)
    if (out / "runs.parquet").is_file():
        metadata = pq.read_schema(out / "runs.parquet").metadata or {}
        return json.loads(metadata.get(METADATA_KEY, b"{}")) or _provenance_file(out)
    return _provenance_file(out)


def folder_suite_text(out: str | Path) -> str | None:
    """The text of the suite file a results folder was run from (kept once, in ``provenance.json``); None without one."""
    text = _provenance_file(Path(out)).get("suite_text") if Path(out).is_dir() else None
    return text if isinstance(text, str) else None


def _provenance_file(out: Path, strict: bool = False) -> dict[str, Any]:
    """``provenance.json`` of a folder ({} when absent; a note when unreadable).

    ``strict``: a provenance the store wrote that is now missing, changed or not a JSON object raises StoreError.
    """
    out = Path(out)
    path = out / PROVENANCE
    if not path.is_file():
        if strict and recorded(out, PROVENANCE):
            raise StoreError(damaged_message(out, PROVENANCE, "the file is missing"))
        return {}
    try:
        data = _verified(path) if strict else path.read_bytes()
        value = json.loads(data.decode("utf-8"))
        if not isinstance(value, dict):
            raise ValueError(f"a JSON {type(value).__name__}, not an object")
        return value
    except (ValueError, UnicodeDecodeError) as exc:
        if strict:
            raise StoreError(damaged_message(out, PROVENANCE, f"not readable JSON ({_short(exc)})")) from None
        return {"note": f"provenance.json could not be read: {exc}"}


def read_results(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``(runs, trace, provenance)`` of a consolidated output directory (see :func:`read_tables` for hits)."""
    tables, meta = read_tables(out)
    return tables.runs, tables.trace, meta


NO_RESULTS = "it holds no results: runs.parquet is missing and cells/ holds no finished cell (run `optbench run` first)"


def not_results(out: str | Path, why: str) -> str:
    """The one line every command gives for a folder that is not (or no longer) an optbench results folder."""
    return f"{str(out)!r} is not a results folder: {why}"


def _require_columns(out: Path, name: str, frame: pa.Table) -> None:
    """A table without the columns every version writes comes from a foreign or future tool: StoreError."""
    missing = [column for column in _REQUIRED[name] if column not in frame.column_names]
    if missing:
        raise StoreError(not_results(out, f"{name}.parquet lacks the column(s) {', '.join(missing)} "
                                          f"(written by another tool or another optbench version?)"))


def _consolidated_problems(out: Path) -> list[str]:
    """One line per damaged consolidated file (missing, changed, unreadable), then mismatches between the tables."""
    problems = []
    for name in ("runs.parquet", "trace.parquet", "hits.parquet", PROVENANCE):
        path = out / name
        if not path.is_file():
            if recorded(out, name):
                problems.append(damaged_message(out, name, "the file is missing"))
            continue
        try:
            if name == PROVENANCE:
                _provenance_file(out, strict=True)
            else:
                data = _verified(path)  # first: a table the store wrote, since changed, is damage, not foreign
                _require_columns(out, name.split(".")[0], _parse(path, data))  # another tool's table: exit 2
        except StoreError as exc:
            if str(exc).startswith(not_results(out, "")):
                raise
            problems.append(str(exc))
    if not problems and (out / "runs.parquet").is_file():
        try:
            read_tables(out)
        except (StoreError, OSError) as exc:
            problems.append(str(exc))
    return problems


def _missing_cell_files(out: Path, store: "Store", keys: list[str]) -> list[str]:
    """One line when the consolidated ``runs.parquet`` holds more runs than the files in ``cells/`` (one was deleted)."""
    try:
        consolidated = pq.ParquetFile(out / "runs.parquet").metadata.num_rows
    except Exception:  # noqa: BLE001 -- absent or damaged: _consolidated_problems names it
        return []
    index = store.stack_index()
    held = sum(index[key][1]["cells"][key]["runs"] if key in index and not store.runs_path(key).is_file()
               else pq.ParquetFile(store.runs_path(key)).metadata.num_rows for key in keys)
    if held >= consolidated:
        return []
    why = f"runs.parquet holds {consolidated} runs, the files in cells/ only {held} (a cell file was deleted)"
    return [f"cells/ in {str(out)!r} is damaged: {why}; a rerun of the same suite with the same --out computes the missing cells again"]


def check_folder(out: str | Path) -> tuple[int, dict[str, str], list[str]]:
    """Verify a results folder: ``(sound cells, damaged cells {key: why}, problems of the consolidated files)``.

    Every file's content is verified (digest recorded at write, page checksums),
    not only its metadata. Raises ``FileNotFoundError`` when ``out`` is not a
    results folder at all, ``StoreError`` when its tables come from another tool.
    """
    out = Path(out)
    store = Store(out)
    if not out.is_dir() or not any(p.exists() for p in (store.cells_dir, out / "runs.parquet", out / MANIFEST)):
        raise FileNotFoundError(not_results(out, NO_RESULTS))
    keys = []
    if store.cells_dir.is_dir():
        keys = sorted({path.name.split(".")[0] for path in store.cells_dir.glob("*.parquet")
                       if not path.name.endswith(STACK_SUFFIX)} | set(store.stack_index()))
    damaged = store.broken
    for key in keys:
        reason = store.damage(key) if store.has(key) else "its runs file is missing (the cell never finished)"
        if reason is not None:
            damaged[key] = reason
    problems = _consolidated_problems(out)
    if not problems and not damaged:
        problems += _missing_cell_files(out, store, keys)
    return len(keys) - (len(damaged) - len(store.broken)), damaged, problems


def describe_os_error(exc: OSError, out: str | Path, resume: bool = True) -> str:
    """One line for a failed write into ``out`` (full disk, read-only, permissions, a folder where a file belongs),
    naming the file; ``resume``: say that rerunning the command resumes (``optbench run``)."""
    hint = {errno.ENOSPC: "free some space", errno.EROFS: "choose a writable --out",
            errno.EACCES: "choose a writable --out", errno.EPERM: "choose a writable --out",
            errno.EISDIR: "remove or rename that folder"}.get(exc.errno, "")
    target = exc.filename2 if exc.filename2 is not None else exc.filename
    where = f" ({target})" if target is not None and str(target) != str(out) else ""
    tail = f"; {hint}, then rerun the same command to resume (finished cells are kept)" if hint and resume else (
        f"; {hint}" if hint else "")
    return f"cannot write results to {str(out)!r}: {exc.strerror or exc}{where}{tail}"

