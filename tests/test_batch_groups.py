"""Suites: cells that differ only in batchable parameters run as one batch group, split back into cells."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

import optbench as ob
from optbench.suite import parse_suite
from conftest import suite_toml

GRID = suite_toml(name="grid", seeds=4, budget={"max_iter": 150}, problems=[{"name": "rosenbrock", "dim": [2, 5]}],
                  methods=[{"name": "adam", "betas": [[0.9, 0.999], [0.8, 0.99]],
                            "step_rule": [{"name": "constant", "lr": [1e-3, 1e-2, 1e-1]}, "armijo"]},
                           {"name": "momentum", "momentum": [0.5, 0.9], "step_rule": {"name": "constant", "lr": [1e-3, 1e-2]}}])


def _timeless(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["time"]).sort_values(["cell", "seed"] + (["iteration"] if "iteration" in frame else [])
                                                    + (["target"] if "target" in frame else [])).reset_index(drop=True)


def test_a_grid_suite_forms_batch_groups():
    suite = parse_suite(GRID)
    sizes = sorted(len(group) for group in suite.groups)
    # per dim: adam x 2 betas x 3 lrs = 6 (one group), adam x armijo x 2 betas = 2, momentum 2 x 2 = 4
    assert sizes == [2, 2, 4, 4, 6, 6]
    assert sorted(cell.key for group in suite.groups for cell in group) == sorted(cell.key for cell in suite.cells)


def test_grouped_execution_gives_the_tables_of_cells_run_one_by_one(tmp_path):
    suite = parse_suite(GRID)
    grouped = ob.run_suite(suite, out=tmp_path / "grouped", progress=False)
    alone = ob.run_suite(dataclasses.replace(suite, groups=tuple((c,) for c in suite.cells)), out=tmp_path / "alone",
                         progress=False)
    for table in ("runs", "trace", "hits"):
        a, b = _timeless(getattr(grouped, table)), _timeless(getattr(alone, table))
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b)


def test_resume_runs_only_the_missing_stack(tmp_path):
    from optbench.driver import stack_key, stacks_of

    suite = parse_suite(GRID)
    out = tmp_path / "out"
    first = ob.run_suite(suite, out=out, progress=False)
    stacks = stacks_of(suite)
    assert len(stacks) == 2  # one per problem instance (dim 2 and 5)
    assert sorted(p.name for p in (out / "cells").iterdir()) == sorted(f"{stack_key(s)}.stack.parquet" for s in stacks)
    missing = stack_key(stacks[1])
    (out / "cells" / f"{missing}.stack.parquet").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    second = ob.run_suite(suite, out=out, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    rewritten = {name.split(".")[0] for name in after if before.get(name) != after[name]}
    assert rewritten == {missing}
    assert second.cells_run == len(stacks[1]) and second.cells_skipped == len(stacks[0])
    pd.testing.assert_frame_equal(_timeless(first.runs), _timeless(second.runs))
    for table in ("trace", "hits"):
        pd.testing.assert_frame_equal(_timeless(getattr(first, table)), _timeless(getattr(second, table)))
