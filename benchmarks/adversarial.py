"""An adversarial catalogue: bad inputs (API and command line) and injected storage faults.

Bad inputs: every entry point is called with bad values, one parameter at a
time. An input is *clean* when it is refused with one of optbench's errors
(``ParameterError``, ``RegistryError``, ``SuiteError``, ``PluginError``,
``StoreError``, and ``ValueError`` for direct problem calls) whose message is one
line, or — on the command line — exits 2 with one line on stderr and no
traceback; a value that is in fact valid may also run (counted apart). Any other
exception (``AttributeError``, ``KeyError``, ``TypeError``...), a traceback, or a
bad value accepted silently where it must be refused is a failure, printed.

Faults: a finished results folder (two stack files) is damaged file by file (one
flipped bit in a data page, in the footer, random bit flips anywhere, truncation,
a byte cut or appended, a zeroed block, deletion, garbage, an empty file, a sound
file of the same folder copied over it); a fault *survives* when ``optbench check`` then exits 1 naming the file
(or, for a fault that loses nothing, 0), ``optbench report`` refuses a damaged
consolidated table, and resuming rebuilds results equal, bit for bit, to the same
suite computed in memory, after which ``check`` exits 0.

Run: ``python benchmarks/adversarial.py`` (prints the counts and every failure).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

import optbench as ob
from optbench.cli import main
from optbench.errors import ParameterError, PluginError, RegistryError, StoreError, SuiteError

CLEAN = (ParameterError, RegistryError, SuiteError, PluginError, StoreError)
BIG = 10**30
BAD = [None, -1, 0, -0.5, math.nan, math.inf, -math.inf, "x", "", [], {}, (), object(), True, 1j, BIG, [1, "a"],
       {"name": 3}, np.array([1.0, 2.0]), b"\x00"]
SUITE = 'name = "adv"\nseeds = 2\n[budget]\nmax_iter = 20\n[[problems]]\nname = "sphere"\ndim = [3, 4]\n[[methods]]\nname = "gd"\nstep_rule = { name = "constant", lr = [0.1, 0.3] }\n'


def _api_calls():
    """(label, call, must_refuse): ob.run, registries, tune, compare, problem calls, with one bad value each."""
    run_params = {"problem": "sphere", "method": "gd", "step_rule": None}
    for name in ("problem", "method", "step_rule", "seeds", "x0", "max_iter", "max_evals", "max_epochs", "batch_size",
                 "tol", "record"):
        for value in BAD:
            if name == "step_rule" and value is None:
                continue  # the default step rule
            if name in ("x0", "max_evals", "max_epochs", "batch_size", "tol") and value is None:
                continue  # None is these parameters' default
            if name in ("max_iter",) and value is None:
                continue
            if name in ("max_iter", "max_evals", "max_epochs") and value is BIG:
                continue  # valid, and would run (almost) forever
            valid = (name in ("max_iter", "tol") and type(value) is int and value == 0) or (
                name == "tol" and type(value) is dict and not value) or (name in ("tol", "record") and value is BIG)  # 0 iterations, no tolerance, a huge tolerance or record interval
            kwargs = {"max_iter": 5}
            if name in run_params:
                args = {**run_params, name: value}
                call = lambda a=args, k=kwargs: ob.run(a["problem"], a["method"], a["step_rule"], **k)
            else:
                call = lambda n=name, v=value, k=kwargs: ob.run("sphere", "gd", **{**k, n: v})
            yield f"ob.run({name}={value!r})", call, not isinstance(value, np.ndarray) and not valid
    for problem in ("sphere", "quadratic", "rosenbrock", "logistic-regression"):
        for param in ob.problems.parameters(problem):
            for value in BAD:
                yield (f"problems.create({problem!r}, {param}={value!r})",
                       lambda p=problem, n=param, v=value: ob.problems.create(p, **{n: v}), False)
    for rule in ("constant", "armijo", "exponential"):
        for param in ob.step_rules.parameters(rule):
            for value in BAD:
                yield (f"step_rules.create({rule!r}, {param}={value!r})",
                       lambda r=rule, n=param, v=value: ob.step_rules.create(r, **{n: v}), False)
    space = {"step_rule.lr": {"log_uniform": [1e-3, 1.0]}}
    for name in ("trials", "seeds", "criterion", "protocol", "target", "seed"):
        for value in BAD:
            if name == "trials" and value is BIG:
                continue  # valid, and would tune (almost) forever
            yield f"ob.tune({name}={value!r})", lambda n=name, v=value: ob.tune("sphere", "gd", space=space, max_iter=3,
                                                                               **{n: v}), False
    for value in BAD:
        yield f"ob.tune(space={value!r})", lambda v=value: ob.tune("sphere", "gd", space=v, max_iter=3), True
        yield f"ob.compare(alpha={value!r})", lambda v=value: ob.compare("nowhere", "nowhere", alpha=v), True
        yield f"register_method('adv')({value!r})", lambda v=value: ob.register_method("adv-weird")(v), True
        yield (f"sphere.value(width 5) with {value!r}",
               lambda: ob.problems.create("sphere", dim=2).value(np.zeros((3, 5))), True)


def check_inputs() -> tuple[int, int, list[str]]:
    clean = accepted = 0
    failures = []
    for label, call, must_refuse in _api_calls():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
        except CLEAN + (ValueError,) as exc:
            if "\n" in str(exc):
                failures.append(f"{label}: a message of several lines: {str(exc)[:120]!r}")
            else:
                clean += 1
            continue
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:160]}")
            continue
        if must_refuse:
            failures.append(f"{label}: accepted")
        else:
            accepted += 1
    return clean, accepted, failures


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
    return code, err.getvalue()


def check_cli(folder: Path) -> tuple[int, list[str]]:
    (folder / "s.toml").write_text(SUITE)
    cases = []
    for option in ("--jobs", "--timeout", "--executor", "--scheduler"):
        for value in ("0", "-1", "nan", "inf", "x", ""):
            cases.append(["run", str(folder / "s.toml"), "--out", str(folder / "o-bad"), option, value])
    for option in ("--target", "--tau", "--bootstrap", "--axis"):
        for value in ("0", "-1", "nan", "x"):
            cases.append(["report", str(folder / "nowhere"), option, value])
    for value in ("0", "2", "nan", "-1", "x"):
        cases.append(["compare", str(folder / "a"), str(folder / "b"), "--alpha", value])
    for fmt in ("x", "", "COCO "):
        cases.append(["export", str(folder / "nowhere"), "--format", fmt])
    for path in (folder / "nowhere", folder / "s.toml", Path("/proc"), folder):
        cases += [["check", str(path)], ["report", str(path)], ["export", str(path)]]
    for text in ("x", "[[", "seeds = -1", "name = 3", "[[problems]]\nname = 'nope'", "\x00\x01"):
        (folder / "bad.toml").write_text(text)
        cases.append(["run", str(folder / "bad.toml"), "--out", str(folder / "o-bad")])
    for code in ("import sys; sys.exit(0)", "import sys; sys.exit(3)", "raise KeyboardInterrupt", "1/0", "syntax error("):
        (folder / "plugin.py").write_text(code)
        cases += [["--plugin", str(folder / "plugin.py"), "list"],
                  ["--plugin", str(folder / "plugin.py"), "run", str(folder / "s.toml"), "--out", str(folder / "o-bad")]]
    failures = []
    for argv in cases:
        code, err = _cli(argv)
        if code != 2 or "Traceback" in err or len(err.strip().splitlines()) != 1:
            failures.append(f"optbench {' '.join(argv)}: exit {code}, stderr {err.strip()[:160]!r}")
    return len(cases) - len(failures), failures


# ---------------------------------------------------------------- faults
def _flip_data_page(path: Path, rng: random.Random) -> None:
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(0).column(rng.randrange(meta.num_columns))
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + column.total_compressed_size - 1] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def _flip_anywhere(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def _flip_at(path: Path, rng: random.Random, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[max(at, -len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def _zero_block(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    start = rng.randrange(max(1, len(data) - 4096))
    data[start : start + 4096] = bytes(len(data[start : start + 4096]))
    path.write_bytes(bytes(data))


def _swap(path: Path, rng: random.Random) -> None:
    """Overwrite ``path`` with a sound file of the same folder (another stack file, another table...)."""
    others = sorted(p for p in path.parent.iterdir() if p.is_file() and p != path and p.name != ".lock")
    same_kind = [p for p in others if p.suffix == path.suffix] or others
    path.write_bytes(rng.choice(same_kind).read_bytes())


FAULTS = {
    "flip a data-page bit": _flip_data_page,
    "flip a random bit": _flip_anywhere,
    "flip another random bit": _flip_anywhere,
    "flip a bit in the last 64 bytes (a Parquet footer)": lambda path, rng: _flip_at(path, rng, -rng.randrange(1, 65)),
    "truncate": lambda path, rng: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
    "cut the last byte": lambda path, rng: path.write_bytes(path.read_bytes()[:-1]),
    "append a byte": lambda path, rng: path.write_bytes(path.read_bytes() + b"\n"),
    "zero a 4 KiB block": _zero_block,
    "replaced by another results file": _swap,
    "delete": lambda path, rng: path.unlink(),
    "garbage": lambda path, rng: path.write_bytes(os.urandom(max(1, path.stat().st_size))),
    "empty": lambda path, rng: path.write_bytes(b""),
}


def _without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in ("time",) if c in frame]).reset_index(drop=True)


def check_faults(folder: Path) -> tuple[int, list[str]]:
    (folder / "s.toml").write_text(SUITE)
    memory = ob.run_suite(folder / "s.toml", None, "serial")
    ob.run_suite(folder / "s.toml", folder / "pristine", "serial")
    files = sorted(p.relative_to(folder / "pristine") for p in (folder / "pristine").rglob("*")
                   if p.is_file() and p.name not in (".lock", "index.html"))
    rng, survived, failures = random.Random(23), 0, []
    for name in files:
        for fault, damage in FAULTS.items():
            if fault == "flip a data-page bit" and name.suffix != ".parquet":
                continue
            out = folder / "victim"
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(folder / "pristine", out)
            damage(out / name, rng)
            problem = _fault_outcome(folder, out, name, memory)
            if problem is None:
                survived += 1
            else:
                failures.append(f"{fault} in {name}: {problem}")
    return survived, failures


def _fault_outcome(folder: Path, out: Path, name: Path, memory) -> str | None:
    code, err = _cli(["check", str(out)])
    lost_nothing = name.name == "manifest.jsonl"
    if code not in ((0, 1) if lost_nothing else (1,)):
        return f"check exit {code} {err.strip()[:120]!r}"
    if not str(name).startswith("cells/") and name.name != "manifest.jsonl":
        code, err = _cli(["report", str(out), "--out", str(folder / "html")])
        if code != 2 or "Traceback" in err:
            return f"report exit {code} {err.strip()[:120]!r}"
    try:
        resumed = ob.run_suite(folder / "s.toml", out, "serial", progress=False)
    except Exception as exc:  # noqa: BLE001
        return f"resume raised {type(exc).__name__}: {exc}"
    for table in ("runs", "trace", "hits"):
        try:
            pd.testing.assert_frame_equal(_without_time(getattr(resumed, table)), _without_time(getattr(memory, table)),
                                          check_exact=True)
        except AssertionError as exc:
            return f"resumed {table} differs: {str(exc).splitlines()[0]}"
    code, err = _cli(["check", str(out)])
    return None if code == 0 else f"check after resume exit {code} {err.strip()[:120]!r}"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        survived, fault_failures = check_faults(Path(scratch))
        print(f"faults: {survived} survived, {len(fault_failures)} failures, of {survived + len(fault_failures)}",
              *("FAIL " + line for line in fault_failures), sep="\n", flush=True)
        cli_clean, cli_failures = check_cli(Path(scratch))
        print(f"command line: {cli_clean} refused cleanly, {len(cli_failures)} failures",
              *("FAIL " + line for line in cli_failures), sep="\n", flush=True)
        clean, accepted, api_failures = check_inputs()
    for line in api_failures:
        print("FAIL", line)
    total_inputs = clean + accepted + len(api_failures) + cli_clean + len(cli_failures)
    print(f"bad inputs: {clean + cli_clean} refused cleanly, {accepted} valid values accepted, "
          f"{len(api_failures) + len(cli_failures)} failures, of {total_inputs}")
    sys.exit(1 if api_failures or cli_failures or fault_failures else 0)
