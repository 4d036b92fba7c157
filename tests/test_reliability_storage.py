"""Issue 11, storage (items 1-3): one writer per folder, damaged cells found and rerun, no mismatched tables.

Each test sets up the failure the issue describes (two runs on one folder, a
truncated / empty / garbage / missing / foreign cell file, a kill between the
renames of consolidation) and checks the outcome against an undamaged run of the
same suite, computed independently in memory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from optbench.cli import main
from optbench.driver import run_suite
from optbench.store import MARKER, Store, _temporary_name, check_folder, read_tables
from optbench.errors import StoreError
from conftest import suite_toml

SUITE = suite_toml(name="storage", seeds=3, budget={"max_iter": 25}, problems=[{"name": "sphere", "dim": [3, 4]}],
                   methods=[{"name": "gd", "step_rule": {"name": "constant", "lr": 0.1}}])

SLEEPY_PLUGIN = '''
import time
import optbench as ob

@ob.register_method("test-sleepy-gd")
class SleepyGD(ob.Method):
    """Gradient descent that sleeps 0.2 s per iteration: a cell that lasts (12 s) while other runs start."""
    def direction(self, X, G, state, k):
        time.sleep(0.2)
        return -G, state
'''

SLOW = suite_toml(name="slowstore", seeds=2, plugins=["sleepy.py"], budget={"max_iter": 60},
                  problems=[{"name": "sphere", "dim": 3}],
                  methods=[{"name": "test-sleepy-gd", "step_rule": {"name": "constant", "lr": 0.1}}])


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["time"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished results folder and, independently, the same suite computed in memory."""
    folder = tmp_path_factory.mktemp("finished")
    (folder / "storage.toml").write_text(SUITE)
    stored = run_suite(folder / "storage.toml", folder / "out", "serial")
    memory = run_suite(folder / "storage.toml", None, "serial")
    return folder, stored, memory


@pytest.fixture
def copy(finished, tmp_path):
    folder, stored, memory = finished
    shutil.copytree(folder / "out", tmp_path / "out")
    (tmp_path / "storage.toml").write_text(SUITE)
    return tmp_path, stored, memory


# ---------------------------------------------------------------- item 1: two runs on one folder
def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_real_runs_on_one_folder_second_refuses_naming_the_pid_or_waits(tmp_path):
    (tmp_path / "slow.toml").write_text(SLOW)
    (tmp_path / "sleepy.py").write_text(SLEEPY_PLUGIN)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "optbench.cli", "run", str(tmp_path / "slow.toml"), "--out", str(out), "--no-report"]
    first = _start(command)
    try:
        deadline = time.monotonic() + 60
        while not (out / ".lock").is_file() or not (out / ".lock").read_text().strip():
            assert time.monotonic() < deadline and first.poll() is None, "the first run never took the lock"
            time.sleep(0.02)
        second, waiter = _start(command), _start(command + ["--wait"])  # both while the first one runs
        _, refused = second.communicate(timeout=60)
        assert first.poll() is None, "the first run must still be running when the second one gives up"
        assert first.wait(120) == 0, first.stderr.read()
        waited_out, waited_err = waiter.communicate(timeout=120)
    finally:
        for process in (first, locals().get("second"), locals().get("waiter")):
            if process is not None and process.poll() is None:
                process.kill()
    assert second.returncode == 2, refused
    assert f"is in use by another optbench run (PID {first.pid})" in refused
    assert "--wait" in refused and "Traceback" not in refused
    assert waiter.returncode == 0, waited_err
    assert "waiting for the optbench run with PID" in waited_err
    assert "(0 run, 1 already done" in waited_out  # it waited, then found every cell finished
    sound, damaged, problems = check_folder(out)
    assert (sound, damaged, problems) == (1, {}, [])
    assert not list(out.rglob("*.tmp"))


def test_temporary_names_are_unique_per_writer(tmp_path):
    names = {_temporary_name(tmp_path / "cells" / "k.runs.parquet") for _ in range(1000)}
    assert len(names) == 1000
    assert all(name.name.startswith(".k.runs.parquet.") and name.name.endswith(".tmp") for name in names)
    assert all(f".{os.getpid()}." in name.name for name in names)


def test_every_file_is_fsynced_before_its_rename(tmp_path, monkeypatch, finished):
    _, stored, _ = finished
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", Path(b).name)), real_replace(a, b))[1])
    Store(tmp_path / "out").write_cell("k", stored.runs, stored.trace, {})
    renames = [event for event in events if event != "fsync"]
    assert [name for _, name in renames] == ["k.trace.parquet", "k.hits.parquet", "k.runs.parquet"]
    for index, event in enumerate(events):
        if event != "fsync":
            assert events[index - 1] == "fsync"  # the file's data reached the disk before its name did


# ---------------------------------------------------------------- item 2: damaged cells
def _damage(path: Path, kind: str, other: Path) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif kind == "missing":
        path.unlink()
    elif kind == "foreign":  # a complete, readable file from another cell's write
        shutil.copyfile(other, path)


DAMAGE = ["truncated", "empty", "garbage", "missing", "foreign"]
WHY = {"truncated": "unreadable", "empty": "unreadable", "garbage": "unreadable"}


def _stack_file(store: Store, cell) -> Path:
    return store.stack_index()[cell.key][0]


@pytest.mark.parametrize("kind", DAMAGE)
def test_resume_reruns_a_damaged_stack_and_says_which_and_why(copy, kind):
    folder, stored, memory = copy
    store = Store(folder / "out")
    victim_cell, other_cell = stored.suite.cells  # two problems: two stacks, one cell each
    victim, other = _stack_file(store, victim_cell), _stack_file(store, other_cell)
    assert victim != other
    _damage(victim, kind, other)
    _, damaged, _ = check_folder(folder / "out")
    if kind in WHY:
        assert list(damaged) == [victim.name] and WHY[kind] in damaged[victim.name]
    elif kind == "foreign":  # readable, but not the bytes the store wrote there (the manifest's SHA-256)
        [why] = damaged.values()  # the copied file holds the other cell: that cell is named, through the victim file
        assert "SHA-256" in why and victim.name in why
    else:  # the victim's cells are simply not finished
        assert damaged == {}

    notes = []
    before = other.stat().st_mtime_ns
    resumed = run_suite(folder / "storage.toml", folder / "out", "serial", notify=notes.append)
    if kind == "foreign":  # the copy stands in for the other cell's newer file: both cells run again
        assert resumed.cells_run == 2 and resumed.cells_skipped == 0
    else:
        assert resumed.cells_run == 1 and resumed.cells_skipped == 1
        assert other.stat().st_mtime_ns == before  # the sound stack was not written again
    if kind in WHY:
        assert len(notes) == 1 and victim.name in notes[0] and "is damaged" in notes[0] and WHY[kind] in notes[0]
    pd.testing.assert_frame_equal(without_time(resumed.runs), without_time(memory.runs), check_exact=True)
    pd.testing.assert_frame_equal(without_time(resumed.trace), without_time(memory.trace), check_exact=True)
    assert check_folder(folder / "out") == (2, {}, [])


def test_a_cell_with_too_few_runs_for_its_seeds_is_damaged(copy):
    folder, stored, _ = copy
    store = Store(folder / "out")
    cell = stored.suite.cells[0]
    runs, trace, hits = store.read_cell_tables(cell.key)
    from optbench.schema import CellTables

    store.write_stack("short", {cell.key: (CellTables(runs.iloc[:2], trace, hits), {})}, {})  # 2 runs, 3 seeds
    done, damaged = store.scan({cell.key: 3})
    assert done == set() and "holds 2 runs, its seeds need 3" in damaged[cell.key]


def test_check_command_reports_damaged_cells_and_exit_status(copy, capsys):
    folder, stored, _ = copy
    out = folder / "out"
    assert main(["check", str(out)]) == 0
    assert "ok: 2 sound cell(s), 0 damaged" in capsys.readouterr().out
    path = _stack_file(Store(out), stored.suite.cells[1])
    path.write_bytes(b"PAR1 not parquet")
    assert main(["check", str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"damaged: cell {path.name}: its file is unreadable" in printed
    assert main(["check", str(folder / "nowhere")]) == 2
    assert "is not a results folder" in capsys.readouterr().err


# ---------------------------------------------------------------- item 3: consolidation
def test_a_kill_between_the_renames_of_consolidation_never_gives_a_mismatched_pair(copy, monkeypatch):
    folder, stored, memory = copy
    out = folder / "out"
    old = read_tables(out)[0]
    suite_text = SUITE.replace("max_iter = 25", "max_iter = 26")  # new cells: new consolidated tables
    (folder / "storage.toml").write_text(suite_text)
    real_replace = os.replace
    renamed = []

    def dies_after_the_first_table(source, target):
        if Path(target).parent == out and Path(target).suffix == ".parquet":
            if renamed:
                raise KeyboardInterrupt  # the process is stopped between the two renames
            renamed.append(target)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", dies_after_the_first_table)
    with pytest.raises(KeyboardInterrupt):
        run_suite(folder / "storage.toml", out, "serial")
    monkeypatch.setattr(os, "replace", real_replace)
    assert (out / MARKER).is_file()
    # the crash left one new table renamed and the other not: exactly the mismatched pair of the issue
    assert pq.read_table(out / "runs.parquet").column("iterations").to_pandas().max() == 26
    assert pq.read_table(out / "trace.parquet").column("iteration").to_pandas().max() == 25
    with pytest.raises(StoreError, match="consolidation .* was interrupted; run the same `optbench run` again"):
        read_tables(out)
    again = run_suite(folder / "storage.toml", out, "serial")
    assert again.cells_run == 0 and not (out / MARKER).exists()
    tables, _ = read_tables(out)
    assert set(tables.runs["cell"]) == set(tables.trace["cell"]) == {c.description["cell"] for c in again.suite.cells}
    assert old.runs["iterations"].max() == old.trace["iteration"].max() == 25
    assert tables.runs["iterations"].max() == tables.trace["iteration"].max() == 26  # one budget in every table


def test_tables_from_different_consolidations_are_refused(copy, tmp_path):
    folder, _, _ = copy
    other = tmp_path / "other"
    (folder / "storage.toml").write_text(SUITE.replace("seeds = 3", "seeds = 2"))
    run_suite(folder / "storage.toml", other, "serial")
    shutil.copyfile(other / "trace.parquet", folder / "out" / "trace.parquet")  # the old, non-atomic failure
    with pytest.raises(StoreError, match="come from different runs"):
        read_tables(folder / "out")
    # check names the foreign file itself: its bytes are not those the store wrote there
    assert check_folder(folder / "out")[2][0].startswith(f"trace.parquet in {str(folder / 'out')!r} is damaged")


# ---------------------------------------------------------------- issue 23: content integrity
def flip_a_data_bit(path: Path, column: str | None = None) -> None:
    """Flip one bit in the last byte of a data page (the end of a column chunk), leaving the footer intact."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    index = names.index(column) if column else max(range(meta.num_columns),
                                                     key=lambda i: meta.row_group(0).column(i).total_compressed_size)
    chunk = meta.row_group(0).column(index)
    assert meta.num_rows > 0 and chunk.data_page_offset > 0
    at = chunk.data_page_offset + chunk.total_compressed_size - 1
    if chunk.dictionary_page_offset is not None:
        at = chunk.dictionary_page_offset + chunk.total_compressed_size - 1
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


KINDS = ["cells/stack", "runs", "trace", "hits"]  # a stack file holds its cells' runs, trace and hits


@pytest.mark.parametrize("kind", KINDS)
def test_one_flipped_bit_in_a_data_page_of_every_table_is_named_and_rebuilt(copy, kind, capsys):
    folder, stored, memory = copy
    out, store = folder / "out", Store(folder / "out")
    victim = stored.suite.cells[0].key
    table = kind.split("/")[-1]
    path = store.stack_index()[victim][0] if kind.startswith("cells/") else out / f"{table}.parquet"
    name = path.relative_to(out).as_posix()
    flip_a_data_bit(path, "f" if table in ("trace", "stack") else None)
    assert main(["check", str(out)]) == 1
    printed = capsys.readouterr().out
    assert name in printed and "is damaged" in printed
    assert ("computes the cell again" if kind.startswith("cells/") else "rebuilds it from the cells") in printed
    if not kind.startswith("cells/"):  # the report refuses the damaged table, naming it, exit 2
        assert main(["report", str(out), "--out", str(folder / "html")]) == 2
        error = capsys.readouterr().err
        assert f"{name} in {str(out)!r} is damaged" in error and "Traceback" not in error
        assert not (folder / "html" / "index.html").exists()
    resumed = run_suite(folder / "storage.toml", out, "serial")
    assert resumed.cells_run == (1 if kind.startswith("cells/") else 0)
    pd.testing.assert_frame_equal(without_time(resumed.runs), without_time(memory.runs), check_exact=True)
    pd.testing.assert_frame_equal(without_time(resumed.trace), without_time(memory.trace), check_exact=True)
    assert check_folder(out) == (2, {}, [])
    tables, _ = read_tables(out)
    pd.testing.assert_frame_equal(without_time(tables.trace), without_time(memory.trace), check_exact=True)


def test_page_checksums_catch_a_flipped_bit_even_without_the_manifest(copy):
    folder, _, _ = copy
    out = folder / "out"
    (out / "manifest.jsonl").unlink()  # a folder from before the manifest: page checksums still hold
    flip_a_data_bit(out / "trace.parquet", "f")
    with pytest.raises(StoreError, match=r"trace.parquet in .* is damaged: unreadable"):
        read_tables(out)


@pytest.mark.parametrize("name", ["hits.parquet", "trace.parquet", "provenance.json"])
def test_a_deleted_final_file_is_detected_and_rebuilt(copy, name, capsys):
    folder, _, memory = copy
    out = folder / "out"
    (out / name).unlink()
    assert main(["check", str(out)]) == 1
    assert f"damaged: {name} in {str(out)!r} is damaged: the file is missing" in capsys.readouterr().out
    with pytest.raises(StoreError, match=f"{name} in .* is damaged: the file is missing"):
        read_tables(out)
    resumed = run_suite(folder / "storage.toml", out, "serial")
    assert resumed.cells_run == 0 and check_folder(out) == (2, {}, [])
    pd.testing.assert_frame_equal(without_time(read_tables(out)[0].hits), without_time(memory.hits), check_exact=True)


def test_garbage_provenance_is_detected(copy, capsys):
    folder, _, _ = copy
    out = folder / "out"
    (out / "provenance.json").write_bytes(os.urandom(300))
    assert main(["check", str(out)]) == 1
    assert f"provenance.json in {str(out)!r} is damaged" in capsys.readouterr().out
    assert main(["report", str(out), "--out", str(folder / "html")]) == 2
    assert "provenance.json" in capsys.readouterr().err


def test_report_does_not_read_the_cells_of_a_consolidated_folder_whose_runs_table_is_gone(copy, capsys):
    folder, _, _ = copy
    out = folder / "out"
    (out / "runs.parquet").unlink()
    assert main(["report", str(out), "--out", str(folder / "html")]) == 2
    assert f"runs.parquet in {str(out)!r} is damaged: the file is missing" in capsys.readouterr().err
    assert not (folder / "html" / "index.html").exists()


def test_the_suite_text_is_stored_once_per_folder(tmp_path):
    description = "x" * 200_000
    (tmp_path / "big.toml").write_text(f'description = "{description}"\n' + SUITE)
    run_suite(tmp_path / "big.toml", tmp_path / "out", "serial")
    out = tmp_path / "out"
    holders = [path for path in out.rglob("*") if path.is_file() and description.encode() in path.read_bytes()]
    assert holders == [out / "provenance.json"]
    assert description in read_tables(out)[1]["suite_text"]


def test_a_foreign_or_future_folder_gets_one_exit_2_line_from_every_command(copy, capsys):
    folder, _, _ = copy
    out = folder / "out"
    runs = pq.read_table(out / "runs.parquet")
    pq.write_table(runs.drop_columns(["status"]), out / "runs.parquet")  # a table without a column we need
    (out / "manifest.jsonl").unlink()  # as another tool would leave it
    shutil.rmtree(out / "cells")
    for command in (["check", str(out)], ["report", str(out), "--out", str(folder / "html")],
                    ["export", str(out), "--out", str(folder / "exported")],
                    ["compare", str(out), str(out), "--out", str(folder / "cmp")]):
        assert main(command) == 2, command
        error = capsys.readouterr().err.strip()
        assert error == (f"optbench: error: {str(out)!r} is not a results folder: runs.parquet lacks the column(s) "
                         f"status (written by another tool or another optbench version?)"), command


def test_an_empty_folder_gets_the_same_exit_2_line_from_every_command(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    lines = set()
    for command in (["check", str(empty)], ["report", str(empty), "--out", str(tmp_path / "html")],
                    ["export", str(empty), "--out", str(tmp_path / "exported")],
                    ["compare", str(empty), str(empty), "--out", str(tmp_path / "cmp")]):
        assert main(command) == 2, command
        lines.add(capsys.readouterr().err)
    assert lines == {f"optbench: error: {str(empty)!r} is not a results folder: it holds no results: runs.parquet is "
                     f"missing and cells/ holds no finished cell (run `optbench run` first)\n"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty"]  # nothing written
