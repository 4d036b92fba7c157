"""Every ```python and ```bash block of README.md runs as written.

Python blocks run in order in one interpreter and one namespace (a reader
follows the README top to bottom: a later block may use ``ob`` imported by an
earlier one), in a fresh working directory. Bash blocks run one by one with
``bash -euo pipefail`` in that directory. A block may be left out only by an
explicit marker on the line before its fence,
``<!-- readme-test: skip (reason) -->``; the reasons are checked to be given,
and the blocks so marked are listed here: the two set-up commands, which make a
fresh virtualenv and install into it (CI runs the test command verbatim in
``.ci/run``; the other's ``optbench run quick`` is run below in this
environment).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SKIP = re.compile(r"<!-- readme-test: skip \((.+?)\) -->\s*$")


def blocks(language: str) -> list[tuple[int, str, str | None]]:
    """(line, source, skip reason or None) of every fenced block in ``language``."""
    text = README.read_text()
    out = []
    for match in FENCE.finditer(text):
        if match.group(1) != language:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.match(before.strip())
        out.append((text[: match.start()].count("\n") + 1, match.group(2), skip.group(1) if skip else None))
    return out


def _env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}


def test_skipped_blocks_are_the_documented_ones():
    skipped = [(line, source) for language in ("python", "bash") for line, source, reason in blocks(language) if reason]
    assert all(reason.strip() for language in ("python", "bash") for _, _, reason in blocks(language) if reason)
    assert [source.strip() for _, source in skipped] == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && optbench run quick",
        'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest',
    ]


@pytest.mark.slow
def test_python_blocks_run_in_order(tmp_path):
    runnable = [(line, source) for line, source, reason in blocks("python") if reason is None]
    assert len(runnable) >= 5
    driver = ["import matplotlib", "matplotlib.use('Agg')", "namespace = {'__name__': '__main__'}"]
    for line, source in runnable:
        driver.append(f"exec(compile({source!r}, 'README.md, block at line {line}', 'exec'), namespace)")
    done = subprocess.run([sys.executable, "-c", "\n".join(driver)], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("line, source", [(line, source) for line, source, reason in blocks("bash") if reason is None])
def test_bash_block_runs(line, source, tmp_path):
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", source], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"README.md, bash block at line {line}:\n{done.stderr[-3000:]}"


@pytest.mark.slow
def test_the_default_suite_command_runs_here(tmp_path):
    """The set-up block's command after the install: ``optbench run quick`` (results and report in --out)."""
    done = subprocess.run([sys.executable, "-m", "optbench.cli", "run", "quick", "--out", str(tmp_path / "quick")],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "quick" / "index.html").stat().st_size > 100_000
