"""Issue 11, paths and bad input (items 4 and 10): one line, exit status 2, nothing written; exit statuses.

Every case is the input the issue reports as giving a traceback (or writing
outside ``reports/``); each must now be a one-line error naming the file, key or
argument, with exit status 2 and no file written.
"""

from __future__ import annotations

import errno
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optbench.cli import main, slug
from conftest import suite_toml

SUITE = suite_toml(name="inputs", seeds=2, budget={"max_iter": 10}, problems=[{"name": "sphere", "dim": 2}],
                   methods=[{"name": "gd", "step_rule": {"name": "constant", "lr": 0.1}}])


@pytest.fixture
def here(tmp_path, monkeypatch):
    """An empty working directory: ``reports/`` would be created here."""
    work = tmp_path / "work" / "inner"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return work


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*")}


def run_exit_2(capsys, argv: list[str], *fragments: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("optbench: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    return err


# ---------------------------------------------------------------- item 4: the suite name is a label
@pytest.mark.parametrize("name", ["../../escaped", "/tmp/optbench-absolute-escape", ".", "..", "a\\u0000b", "x" * 300,
                                  "sub/dir"])
def test_a_suite_name_that_is_a_path_is_refused_and_nothing_is_written(here, capsys, name):
    suite = here / "s.toml"
    suite.write_text(SUITE.replace('name = "inputs"', f'name = "{name}"'))
    before = files_under(here.parent.parent)
    run_exit_2(capsys, ["run", str(suite)], "s.toml: name: the suite name is a label, not a path", "--out")
    assert files_under(here.parent.parent) == before
    assert not Path("/tmp/optbench-absolute-escape").exists()


def test_a_plain_label_becomes_one_folder_under_reports(here, capsys):
    (here / "s.toml").write_text(SUITE.replace('name = "inputs"', 'name = "my study: v2"'))
    assert main(["run", str(here / "s.toml"), "--no-report"]) == 0
    assert (here / "reports" / "my-study-v2" / "runs.parquet").is_file()
    assert [p.name for p in (here / "reports").iterdir()] == ["my-study-v2"]
    assert slug("../a b/..") == "a-b" and slug("...") == "suite"


# ---------------------------------------------------------------- item 10: bad suite files
BAD_SUITES = [
    (SUITE.replace("max_iter = 10", "max_iter = 10\ntol = nan"), ["budget.tol must be a number >= 0", "got nan"]),
    (SUITE.replace("max_iter = 10", "max_iter = 10\ntol = { grad = inf }"), ["budget.tol.grad", "inf"]),
    (SUITE.replace("lr = 0.1", "lr = inf"), ["methods[0].step_rule.lr must be a finite number, got inf"]),
    (SUITE.replace("lr = 0.1", "lr = [0.1, nan]"), ["methods[0].step_rule.lr[1]", "finite number"]),
    (SUITE.replace("max_iter = 10", "max_iter = 10\ntimeout = inf"), ["budget.timeout must be a number in (0, 2678400]", "got inf"]),
    (SUITE.replace("max_iter = 10", "max_iter = 10\ntimeout = 1e300"), ["budget.timeout must be a number in (0, 2678400]", "got 1e+300"]),
    (SUITE.replace("seeds = 2", "seeds = [18446744073709551615]"), ["seeds[0] must be a seed, an integer in [0, 2**63)", "got 18446744073709551615"]),
    (SUITE.replace("seeds = 2", "seeds = 3e6"), ["seeds must be a count of seeds from 1 to 10,000,000", "got 3000000.0"]),
    (SUITE.replace("seeds = 2", "seeds = 1000000000000"), ["seeds must be a count of seeds from 1 to 10,000,000", "got 1000000000000"]),
    (SUITE.replace("dim = 2", "dim = 1e9"), ["problems[0].dim", "expects int"]),
    (SUITE.replace("dim = 2", "dim = [" + ", ".join(map(str, range(2, 1002))) + "]").replace(
        "lr = 0.1", "lr = [" + ", ".join(f"{0.001 * k:.3f}" for k in range(1, 201)) + "]"),
     ["about 200,000 cells, more than the limit of 100,000", "--yes"]),
]


@pytest.mark.parametrize("text, fragments", BAD_SUITES)
def test_bad_suite_values_are_one_line_errors(here, capsys, text, fragments):
    (here / "s.toml").write_text(text)
    run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", str(here / "out")], "s.toml: ", *fragments)
    assert not (here / "out").exists()


def test_binary_and_deeply_nested_suite_files(here, capsys):
    (here / "binary.toml").write_bytes(bytes(range(256)) * 8)
    run_exit_2(capsys, ["run", str(here / "binary.toml")], "binary.toml: not a text (UTF-8) TOML file")
    (here / "nested.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    run_exit_2(capsys, ["run", str(here / "nested.toml")], "nested.toml: not a suite: arrays or tables are nested too deeply")
    assert not (here / "reports").exists()


def test_a_suite_too_large_for_memory_is_refused_with_its_estimate_unless_yes(here, capsys, monkeypatch):
    (here / "s.toml").write_text(SUITE.replace("dim = 2", "dim = 1000000000"))
    run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", str(here / "out")],
               "s.toml: problems[0].dim: dim 1,000,000,000 needs about 7.45 GiB per vector", "--yes")
    # 12 float64 arrays of 10^4 seeds x 10^6: 12 * 8 * 10^10 bytes = 894 GiB
    (here / "s.toml").write_text(SUITE.replace("dim = 2", "dim = 1000000").replace("seeds = 2", "seeds = 10000"))
    err = run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", str(here / "out")],
                     "suite 'inputs' is too large: its largest cell needs about 894 GiB of arrays", "--yes")
    assert "(1 cells)" in err and not (here / "out").exists()
    # --yes lifts the limit: the run starts (stopped here before it allocates anything)
    import optbench.driver as driver

    def stop_here(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "run_suite", stop_here)
    assert main(["run", str(here / "s.toml"), "--out", str(here / "out"), "--yes"]) == 130


# ---------------------------------------------------------------- item 10: bad --out, --jobs
def test_out_that_is_a_file_or_under_a_file_or_read_only(here, capsys):
    (here / "s.toml").write_text(SUITE)
    (here / "afile").write_text("x")
    run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", str(here / "afile")], "--out", "is a file; give a folder")
    run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", str(here / "afile" / "x")], "is under", "which is a file")
    run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", "/proc/optbench-test"], "cannot write results to '/proc/optbench-test'")
    assert (here / "afile").read_text() == "x"


def test_a_full_disk_is_one_line_and_says_how_to_resume(here, capsys, monkeypatch):
    (here / "s.toml").write_text(SUITE)
    import optbench.store as store

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store, "_write_temporary", full)
    run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", str(here / "out")],
               "No space left on device", "free some space", "rerun the same command to resume")


def test_jobs_far_above_the_core_count_warns(here, capsys):
    (here / "s.toml").write_text(SUITE)
    jobs = 4 * (os.cpu_count() or 1)
    assert main(["run", str(here / "s.toml"), "--out", str(here / "o"), "--executor", "processes",
                 "--jobs", str(jobs), "--no-report"]) == 0
    assert f"warning: --jobs {jobs} is more than the {os.cpu_count()} cores" in capsys.readouterr().err


# ---------------------------------------------------------------- item 10: closed stdout
def test_list_and_run_into_a_closed_pipe(here):
    listing = subprocess.run(f"{sys.executable} -m optbench.cli list | head -1", shell=True, capture_output=True,
                             text=True, timeout=120)
    assert listing.stdout.startswith("problems (") and listing.stderr == ""
    (here / "s.toml").write_text(SUITE)
    command = f"{sys.executable} -m optbench.cli run s.toml --out o | head -1; echo status ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300, cwd=here)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert done.stdout.splitlines()[-1] == "status 0"
    assert (here / "o" / "index.html").is_file()  # the report is written before anything is printed


# ---------------------------------------------------------------- exit statuses
FAILING = '''
import optbench as ob

@ob.register_method("test-input-raises")
class Raises(ob.Method):
    def direction(self, X, G, state, k):
        raise RuntimeError("planted")
'''


def test_exit_status_is_1_when_a_cell_failed_unless_allowed(here, capsys, scratch_registry_names):
    (here / "plugin.py").write_text(FAILING)
    (here / "s.toml").write_text(SUITE.replace('seeds = 2', 'seeds = 2\nplugins = ["plugin.py"]')
                                 + '[[methods]]\nname = "test-input-raises"\n')
    assert main(["run", str(here / "s.toml"), "--out", str(here / "o"), "--no-report"]) == 1
    assert "1 cell(s) failed (error or timeout); exit status 1" in capsys.readouterr().err
    assert main(["run", str(here / "s.toml"), "--out", str(here / "o"), "--no-report", "--allow-failures"]) == 0


def test_a_report_that_fails_leaves_the_results_a_one_line_error_and_exit_1(here, capsys, monkeypatch):
    report_module = importlib.import_module("optbench.report")  # not ob.report, the lazy function of that name

    def broken(*args, **kwargs):
        raise ValueError("Data has no positive values, and therefore cannot be log-scaled.")

    monkeypatch.setattr(report_module, "report", broken)
    (here / "s.toml").write_text(SUITE)
    assert main(["run", str(here / "s.toml"), "--out", str(here / "o")]) == 1
    err = capsys.readouterr().err
    assert "error: the report could not be written (ValueError: Data has no positive values" in err
    assert "Traceback" not in err and (here / "o" / "runs.parquet").is_file()


def test_a_problem_too_large_to_create_is_a_one_line_error(here, capsys, monkeypatch, scratch_registry_names):
    import optbench as ob

    @ob.register_problem("test-huge")
    class Huge(ob.Problem):
        """Allocates a dense dim x dim matrix when created (here: more memory than any machine has)."""
        def __init__(self, dim: int = 2):
            self.dim = dim
            self.matrix = np.zeros((dim, dim, 2**25))

        def value(self, X, batch=None):
            return np.sum(X * X, axis=1)

        def grad(self, X, batch=None):
            return 2 * X

    (here / "s.toml").write_text(SUITE.replace('name = "sphere"\ndim = 2', 'name = "test-huge"\ndim = 100000'))
    run_exit_2(capsys, ["run", str(here / "s.toml"), "--out", str(here / "out")],
               "s.toml: problems[0]: test-huge(dim=100000): creating it needs more memory than this machine has")
    assert not (here / "out").exists()


# ---------------------------------------------------------------- issue 23: one line for every bad input
import optbench as ob  # noqa: E402
from optbench.errors import ParameterError, PluginError  # noqa: E402

SPACE = {"step_rule.lr": {"log_uniform": [1e-3, 1.0]}}
API_CASES = [
    (lambda: ob.run("sphere", 5), "method must be a method name", "got 5"),
    (lambda: ob.run("sphere", None), "method must be a method name", "got None"),
    (lambda: ob.run("sphere", "gd", 0.1), "step_rule must be a step rule name", "got 0.1",
     "a learning rate goes inside the step rule, e.g. {'name': 'constant', 'lr': 0.1}"),
    (lambda: ob.register_method("weird")(42), "what register_method('weird') decorates must be a class", "got 42"),
    (lambda: ob.problems.create("quadratic", seed=-5), "problem 'quadratic': seed must be an integer >= 0 or None, got -5"),
    (lambda: ob.tune("sphere", "gd", space=SPACE, trials=0), "trials must be an integer >= 1, got 0"),
    (lambda: ob.tune("sphere", "gd", space={}), "space must be a non-empty table", "got {}"),
    (lambda: ob.tune("sphere", "gd", space={"step_rule.lr": {"log_uniform": [0, 1]}}),
     "step_rule.lr.log_uniform must be two finite numbers [a, b] with 0 < a < b, got [0, 1]"),
    (lambda: ob.run("sphere", "gd", x0=["a", "b"]), "x0 must be numbers of shape (2,) or (n_seeds, dim), got ['a', 'b']"),
    (lambda: ob.compare("nowhere-a", "nowhere-b", alpha=2.0), "alpha must be a number in (0, 1), got 2.0"),
    (lambda: ob.compare("nowhere-a", "nowhere-b", alpha=float("nan")), "alpha must be a number in (0, 1), got nan"),
]


@pytest.mark.parametrize("case", API_CASES)
def test_every_api_entry_point_names_the_parameter_the_value_and_the_choices(scratch_registry_names, case):
    call, *fragments = case
    with pytest.raises(ParameterError) as caught:
        call()
    text = str(caught.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize("alpha", ["0", "2", "nan", "-1"])
def test_compare_alpha_out_of_range_is_exit_2(here, capsys, alpha):
    run_exit_2(capsys, ["compare", "a", "b", "--alpha", alpha], f"alpha must be a number in (0, 1), got {float(alpha)}")


@pytest.mark.parametrize("code", ["sys.exit(0)", "sys.exit(3)", "raise SystemExit", "raise KeyboardInterrupt"])
def test_a_plugin_that_exits_at_import_is_exit_2_never_0(here, capsys, code):
    (here / "exits.py").write_text(f"import sys\n{code}\n")
    (here / "s.toml").write_text(SUITE)
    for argv in (["--plugin", "exits.py", "list"], ["--plugin", "exits.py", "run", "s.toml", "--out", "o"]):
        err = run_exit_2(capsys, argv, "plugin file", "exits.py", "failed to import")
        assert ("KeyboardInterrupt" if "Keyboard" in code else "SystemExit") in err
    assert not (here / "o").exists()


def test_a_plugin_calling_sys_exit_while_running_is_the_runs_error(scratch_registry_names, here):
    @ob.register_method("test-exits")
    class Exits(ob.Method):
        def direction(self, X, G, state, k):
            raise SystemExit(0)

    with pytest.raises(PluginError, match=r"method 'test-exits' raised SystemExit: 0 \(sys.exit\)"):
        ob.run("sphere", "test-exits", max_iter=3)


def test_ctrl_c_during_start_up_is_one_line_without_traceback(capsys, monkeypatch):
    import optbench.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err == "optbench: interrupted\n"


def test_a_folder_where_a_cell_file_belongs_is_named(here, capsys):
    (here / "s.toml").write_text(SUITE)
    assert main(["run", "s.toml", "--out", "o", "--no-report"]) == 0
    capsys.readouterr()
    cell = next((here / "o" / "cells").glob("*.stack.parquet"))
    cell.unlink()
    cell.mkdir()  # a folder where the stack file belongs
    assert main(["run", "s.toml", "--out", "o", "--no-report"]) == 2
    note, error = capsys.readouterr().err.splitlines()  # the damaged stack is noted, then the one-line error
    assert note.startswith("note: ") and cell.name in note and "Traceback" not in error
    assert error.startswith("optbench: error: ") and "Is a directory" in error and cell.name in error
    assert "remove or rename that folder" in error


def test_report_on_a_read_only_folder_names_it_and_does_not_say_resume(here, capsys, monkeypatch):
    report_module = importlib.import_module("optbench.report")  # not ob.report, the lazy function of that name

    def read_only(results, out=None, **options):  # what writing index.html into a read-only folder raises
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(results) / "index.html"))

    monkeypatch.setattr(report_module, "report", read_only)
    err = run_exit_2(capsys, ["report", "o"], "cannot write results to 'o': Permission denied (o/index.html)",
                     "choose a writable --out")
    assert "resume" not in err


def test_a_report_on_empty_tables_is_the_not_a_results_folder_line(here, capsys):
    import pyarrow.parquet as pq

    (here / "s.toml").write_text(SUITE)
    assert main(["run", "s.toml", "--out", "o", "--no-report"]) == 0
    capsys.readouterr()
    for name in ("runs", "trace", "hits"):
        table = pq.read_table(here / "o" / f"{name}.parquet")
        pq.write_table(table.slice(0, 0), here / "o" / f"{name}.parquet")
    (here / "o" / "manifest.jsonl").unlink()
    for argv in (["report", "o"], ["export", "o"], ["compare", "o", "o"]):
        run_exit_2(capsys, argv, "'o' is not a results folder: runs.parquet holds no runs")


def test_when_every_run_errors_the_leaderboard_does_not_say_f_opt_unknown(here, capsys, scratch_registry_names):
    (here / "plugin.py").write_text(FAILING)
    (here / "s.toml").write_text(SUITE.replace('seeds = 2', 'seeds = 2\nplugins = ["plugin.py"]')
                                 .replace('name = "gd"\nstep_rule = { name = "constant", lr = 0.1 }',
                                          'name = "test-input-raises"'))
    assert main(["run", "s.toml", "--out", "o", "--no-report"]) == 1
    out = capsys.readouterr().out
    assert "f_opt unknown" not in out and "sphere *" not in out
