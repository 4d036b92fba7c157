"""The README's asv journey: `asv run --python=same --set-commit-hash=...` saves results and `asv publish` graphs them.

`asv run --python=same --quick` alone saves nothing, so the dashboard would be empty; this runs the
documented commands (restricted to one speed and one quality benchmark, one repeat) against a
temporary copy of asv.conf.json whose results and HTML go to a temporary folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ["asv_bbob.TimeBBOBInstance.time_create_dim40", "asv_quality.track_gap_gd_armijo_quadratic_cond1e3"]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def _config(tmp: Path) -> Path:
    text = re.sub(r"^\s*//.*$", "", (ROOT / "asv.conf.json").read_text(), flags=re.M)
    config = json.loads(text)
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    config.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp / "results"),
                  html_dir=str(tmp / "html"), env_dir=str(tmp / "env"),
                  branches=[branch] if branch != "HEAD" else config["branches"])  # the commit must be on a graphed branch
    path = tmp / "asv.conf.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.slow
def test_asv_run_saves_results_and_publish_draws_them(tmp_path):
    asv = shutil.which("asv")
    assert asv is not None, "asv is not installed (pip install asv; it is in the 'test' extra)"
    config = _config(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}  # asv machine writes ~/.asv-machine.json
    run = lambda *args: subprocess.run([asv, *args, "--config", str(config)], cwd=tmp_path, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=1200)
    assert run("machine", "--yes").returncode == 0
    done = run("run", "--python=same", f"--set-commit-hash={_git('rev-parse', 'HEAD')}",
               "--bench", "|".join(re.escape(b) for b in BENCHMARKS), "-a", "repeat=1", "-a", "number=1")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert list((tmp_path / "results").glob("*/*.json")), "asv run saved no results"
    published = run("publish")
    assert published.returncode == 0, published.stderr[-2000:]
    for name in BENCHMARKS:
        graphs = list((tmp_path / "html" / "graphs").rglob(f"{name}.json"))  # per machine/branch, and the summary
        assert graphs, f"asv publish drew no graph of {name}"
        for graph in graphs:
            values = [v for _, value in json.loads(graph.read_text())  # [revision, value or [value per parameter]]
                      for v in (value if isinstance(value, list) else [value]) if v is not None]
            assert len(values) >= 1 and all(math.isfinite(float(v)) for v in values), (graph, values)
