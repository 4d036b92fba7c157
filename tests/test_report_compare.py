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
    with pytest.raises(ob.ParameterError, match=r"target must be a number > 0, got 0\.0"):
        ob.compare(base, base, tmp_path / "x", target=0.0)


RULE = '''
import numpy as np
import optbench as ob

WASTE = {waste}

@ob.register_step_rule("maybe-wasteful")
class MaybeWasteful(ob.StepRule):
    """A constant step lr; with WASTE, one line-search trial f(X + lr D) per iteration whose value is thrown away."""

    batchable = ("lr",)

    def __init__(self, lr=0.1):
        self.lr = lr

    def step(self, ctx, state):
        alpha = np.broadcast_to(np.asarray(self.lr, dtype=float), ctx.F.shape).copy()
        if WASTE:
            ctx.line(alpha)
        return alpha, state
'''

RULE_SUITE = '''
name = "compare-cost"
seeds = 8
plugins = ["rule.py"]
[budget]
max_iter = 40
record = "log"
[[problems]]
name = "sphere"
dim = 3
[[methods]]
name = "gd"
step_rule = {{ name = "maybe-wasteful", lr = 0.1 }}
[[methods]]
name = "gd"
step_rule = {{ name = "constant", lr = {lr} }}
'''


def _run_suite(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    out = folder / "results"
    done = subprocess.run([sys.executable, "-m", "optbench.cli", "run", str(folder / "suite.toml"), "--out", str(out),
                           "--no-report"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def cost_results(tmp_path_factory):
    """base: no waste, gd + constant(lr=0.1); new: one wasted trial per iteration, gd + constant(lr=0.05)."""
    tmp = tmp_path_factory.mktemp("compare-cost")
    base = _run_suite(tmp / "base", {"rule.py": RULE.format(waste=0), "suite.toml": RULE_SUITE.format(lr=0.1)})
    new = _run_suite(tmp / "new", {"rule.py": RULE.format(waste=1), "suite.toml": RULE_SUITE.format(lr=0.05)})
    return base, new


def test_compare_partial_overlap_exits_0_and_lists_the_others(cost_results, tmp_path, capsys):
    base, new = cost_results
    assert main(["compare", str(base), str(new), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("1 cells in common") and "only in base: 1, only in new: 1" in printed[0]
    assert len(printed) >= 3 and printed[-1].startswith("comparison:")
    only = ob.report.comparison.only_in_one(base, new)
    assert sorted(only["in"]) == ["base", "new"]
    assert only.set_index("in").loc["base", "solver"].endswith("constant(lr=0.1)")
    text = (tmp_path / "cmp" / "index.html").read_text()
    assert "Cells in one set only" in text and "constant(lr=0.05)" in text and "<img" in text


def test_compare_same_iterates_with_wasted_evaluations_is_not_unchanged(cost_results):
    base, new = cost_results
    row = compare_tables(base, new).iloc[0]
    assert row["solver"].startswith("gd + maybe-wasteful")
    b, n = (pd.read_parquet(d / "runs.parquet") for d in (base, new))
    b, n = (r[r["step_rule"] == "maybe-wasteful"].sort_values("seed").reset_index(drop=True) for r in (b, n))
    # same iterates: the final f and the iterations agree exactly, the f-evaluations do not
    assert (b["f"].to_numpy() == n["f"].to_numpy()).all() and (b["iterations"] == n["iterations"]).all()
    assert (n["f_evals"] > b["f_evals"]).all()
    assert row["gap_ratio"] == 1.0 and row["verdict"] == "worse"
    # every run reaches 1e-6 (gap 0.64^k |x0|^2): ERT = total evaluations to the first hit / 8, so the ratio is that
    # of the sums of evaluations at the first hit, read here from the engine's exact hits tables
    assert row["success_base"] == row["success_new"] == 1.0
    hit = [h[(np.isclose(h["target"], 1e-6)) & (h["step_rule"] == "maybe-wasteful")].sort_values("seed")
           for h in (pd.read_parquet(d / "hits.parquet") for d in (base, new))]
    assert (hit[0]["iteration"].to_numpy() == hit[1]["iteration"].to_numpy()).all()  # same iterates, same first hit
    spent = [(h["f_evals"] + h["g_evals"]).sum() for h in hit]
    assert row["cost_ratio"] == pytest.approx(spent[1] / spent[0], rel=1e-12) and row["cost_ratio"] > 1.5
    assert row["cost_p"] == pytest.approx(2 / 2 ** 8)  # 8 seeds, all costlier: the exact two-sided Wilcoxon minimum
    low, high = (float(v) for v in row["cost_interval"].strip("[]").split(","))
    assert 1.0 < low <= row["cost_ratio"] <= high


def test_compare_page_fits_1400_and_390_px_in_chromium(cost_results, tmp_path):
    from test_report import open_in_chromium

    base, new = cost_results
    page = ob.compare(base, new, tmp_path / "cmp")
    for width in (1400, 390):
        state = open_in_chromium(page, tmp_path / f"w{width}", width=width, interact=False,
                                 probes={"table_right": "document.querySelector('table.comparison')"
                                                        ".getBoundingClientRect().right"})
        assert state["errors"] == [] and all(image["complete"] and image["width"] > 0 for image in state["images"])
        assert state["scrollWidth"] == state["clientWidth"] <= width  # nothing scrolls sideways
        if width == 1400:
            assert state["table_right"] <= state["clientWidth"]  # the whole table is in view, no inner scrolling
