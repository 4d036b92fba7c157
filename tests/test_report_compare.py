"""`optbench compare`: two results of one suite where one method changed; its cells change, the others do not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench.cli import main
from optbench.report.comparison import compare_tables

PLUGIN = '''
import optbench as ob

SCALE = {scale}

@ob.register_method("scaled-gd")
class ScaledGD(ob.Method):
    """Gradient descent with its direction scaled: D = -SCALE * g."""

    def direction(self, X, G, state, k):
        return -SCALE * G, state
'''

SUITE = '''
name = "compare-me"
seeds = 8
plugins = ["method.py"]
[budget]
max_iter = 30
record = "log"
[[problems]]
name = "sphere"
dim = 3
[[problems]]
name = "quadratic"
dim = 4
[[methods]]
name = "gd"
step_rule = {{ name = "constant", lr = 0.1 }}
[[methods]]
name = "scaled-gd"
step_rule = {{ name = "constant", lr = 0.1 }}
'''


def _run(folder: Path, scale: float) -> Path:
    folder.mkdir()
    (folder / "method.py").write_text(textwrap.dedent(PLUGIN.format(scale=scale)))
    (folder / "suite.toml").write_text(SUITE.format())
    out = folder / "results"
    done = subprocess.run([sys.executable, "-m", "optbench.cli", "run", str(folder / "suite.toml"), "--out", str(out),
                           "--no-report"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def two_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    return _run(tmp / "base", 1.0), _run(tmp / "new", 0.5)  # the change: scaled-gd takes half steps


def test_compare_marks_the_changed_method_and_only_it(two_results, tmp_path):
    base, new = two_results
    assert main(["compare", str(base), str(new), "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "index.html").read_text()
    assert "cells in common" in text
    table = compare_tables(base, new).set_index(["problem_label", "solver"])
    changed = table[table.index.get_level_values("solver").str.startswith("scaled-gd")]
    same = table[table.index.get_level_values("solver").str.startswith("gd +")]
    assert len(changed) == 2 and len(same) == 2
    assert (same["verdict"] == "unchanged").all()
    # half the step on the sphere f = ||x||^2: x_k = (1 - 2 lr s)^k x0, so the gap ratio new / base after k steps is
    # ((1 - 0.1) / (1 - 0.2))^(2 k) > 1 for every seed: worse, and 8 seeds of one sign give p = 2 / 2^8 before Holm
    assert (changed["verdict"] == "worse").all()
    runs = pd.read_parquet(base / "runs.parquet")
    k = int(runs.loc[runs["method"] == "scaled-gd", "iterations"].iloc[0])
    sphere = changed.loc[[i for i in changed.index if i[0].startswith("sphere")][0]]
    assert sphere["gap_ratio"] == pytest.approx((0.9 / 0.8) ** (2 * k), rel=1e-6)
    assert sphere["p_value"] == pytest.approx(2 / 2 ** 8)


def test_compare_same_results_is_all_unchanged(two_results):
    base, _ = two_results
    table = compare_tables(base, base)
    assert (table["verdict"] == "unchanged").all() and np.allclose(table["gap_ratio"].dropna(), 1.0)


def test_compare_bad_input_is_one_line(two_results, tmp_path, capsys):
    base, _ = two_results
    assert main(["compare", str(base), str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("optbench: error:") and "missing" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()
    with pytest.raises(ob.ParameterError, match="target must be a positive gap"):
        ob.compare(base, base, tmp_path / "x", target=0.0)
