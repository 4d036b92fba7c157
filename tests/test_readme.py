"""Every ```python and ```bash block of README.md runs as written, alone.

Each python block runs by itself in a fresh interpreter, in a fresh working
directory, as a reader who pastes only that block would run it (so each block
makes its own imports). Bash blocks run one by one with ``bash -euo pipefail``
in a fresh directory. A block may be left out only by an explicit marker on the
line before its fence, ``<!-- readme-test: skip (reason) -->``; the reasons are
checked to be given, and the blocks so marked are listed here: the two set-up
commands, which make a fresh virtualenv and install into it (CI runs the test
command verbatim in ``.ci/run``; the other's ``optbench run quick`` is run below
in this environment).
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


def test_there_are_python_blocks_to_run():
    assert len([source for _, source, reason in blocks("python") if reason is None]) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("line, source", [(line, source) for line, source, reason in blocks("python") if reason is None],
                         ids=lambda value: f"line-{value}" if isinstance(value, int) else "")
def test_python_block_runs_alone(line, source, tmp_path):
    driver = f"import matplotlib\nmatplotlib.use('Agg')\nexec(compile({source!r}, 'README.md, block at line {line}', 'exec'), {{'__name__': '__main__'}})"
    done = subprocess.run([sys.executable, "-c", driver], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"README.md, python block at line {line}:\n{done.stderr[-3000:]}"


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
