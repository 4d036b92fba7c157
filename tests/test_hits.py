"""Exact first hits (``engine/hits.py``): buffered blocks give the hits a full trace implies.

The truth is computed here from a trace recorded at every iteration, with numpy:
a run's best-so-far gap ``min_{j <= k} f_j - f_opt`` and, for each target of the
ladder, the first iteration where it is ``<= target`` (NaN never meets one). The
tracker sees every iteration whatever is recorded, so its hits -- iteration,
evaluations -- must be exactly these, whether it buffers iterations in blocks of
any size, or handles them one at a time (one run, uneven counters).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import optbench as ob
from optbench.engine import hits as hits_module
from optbench.engine import loop
from optbench.schema import target_ladder

KEY = ["lr", "seed"]


def _first_hits_from_trace(result, f_opt: float) -> list[tuple]:
    """(lr, seed, target, iteration, g_evals) of every first hit, from the full trace."""
    trace = result.trace.assign(lr=[p["lr"] for p in result.trace.step_params.map(json.loads)])
    rows = []
    for (lr, seed), run in trace.sort_values("iteration").groupby(KEY):
        gap = run.f.to_numpy() - f_opt
        best = np.fmin.accumulate(np.where(np.isnan(gap), np.inf, gap))
        for target in target_ladder():
            met = np.flatnonzero(best <= target)
            if len(met):
                row = run.iloc[met[0]]
                rows.append((lr, seed, float(target), int(row.iteration), int(row.g_evals)))
    return sorted(rows)


def _hits(result) -> list[tuple]:
    hits = result.hits.assign(lr=[p["lr"] for p in result.hits.step_params.map(json.loads)])
    return sorted((lr, seed, float(t), int(i), int(g)) for lr, seed, t, i, g in
                  hits[["lr", "seed", "target", "iteration", "g_evals"]].itertuples(index=False))


def _sweep(problem, **budget):
    lrs = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3]
    return ob.run(problem, "adam", "constant", seeds=4, record="all", sweep={"step_rule.lr": lrs},
                  **{"max_iter": 600, **budget})


def _check(problem, result):
    truth = _first_hits_from_trace(result, problem.f_opt)
    assert len(truth) > 50  # many runs meet many targets, at many different iterations
    assert _hits(result) == truth


@pytest.mark.parametrize("chunk", [1, 7, hits_module.CHUNK])
def test_buffered_hits_are_the_hits_of_the_full_trace(chunk, monkeypatch):
    monkeypatch.setattr(hits_module, "CHUNK", chunk)
    problem = ob.problems.create("quadratic", dim=8, condition=30.0)
    _check(problem, _sweep(problem))


def test_hits_one_iteration_at_a_time_are_the_same(monkeypatch):
    problem = ob.problems.create("quadratic", dim=8, condition=30.0)
    monkeypatch.setattr(loop.DescentLoop, "track_hits", lambda self, k, F, diverged: self.hits.update(
        k, F, self.active if diverged is None else self.active & ~diverged, self.counters, self.clock))
    _check(problem, _sweep(problem))


def test_runs_that_stop_at_different_iterations_keep_exact_hits():
    # a gradient tolerance stops each run at its own iteration: the buffer's mask changes under way
    problem = ob.problems.create("quadratic", dim=8, condition=30.0)
    result = _sweep(problem, tol={"grad": 1e-3}, max_iter=3000)
    assert result.runs.status.value_counts().get("converged", 0) >= 8
    assert result.runs.iterations.nunique() > 4
    _check(problem, result)


def test_diverging_runs_meet_no_target_after_they_diverge():
    problem = ob.problems.create("quadratic", dim=8, condition=30.0)
    result = ob.run(problem, "gd", "constant", seeds=3, record="all", max_iter=300,
                    sweep={"step_rule.lr": [0.01, 0.05, 0.5]})
    statuses = result.runs.assign(lr=[p["lr"] for p in result.runs.step_params.map(json.loads)])
    assert set(statuses[statuses.lr == 0.5].status) == {"diverged"}
    _check(problem, result)


def test_hit_times_never_pass_the_time_of_the_trace_row_after_them():
    problem = ob.problems.create("quadratic", dim=8, condition=30.0)
    result = _sweep(problem)
    trace = result.trace.assign(lr=[p["lr"] for p in result.trace.step_params.map(json.loads)])
    hits = result.hits.assign(lr=[p["lr"] for p in result.hits.step_params.map(json.loads)])
    merged = hits.merge(trace[KEY + ["iteration", "time"]], on=KEY + ["iteration"], suffixes=("_hit", "_trace"))
    assert len(merged) == len(hits) > 0
    # a hit is noted after the evaluation of its iteration and before that iteration's trace row is written
    assert (merged.time_hit <= merged.time_trace).all()
    assert (merged.time_hit > 0).all()


@pytest.mark.parametrize("seeds", [1, 3])
def test_a_gap_equal_to_a_target_meets_it(seeds):
    # sphere, gd, lr 0.25: x halves each step, f = 16 / 4^k exactly, so f_2 = 1.0 equals the ladder's target 1
    result = ob.run({"name": "sphere", "dim": 2}, "gd", {"name": "constant", "lr": 0.25}, x0=[4.0, 0.0],
                    seeds=seeds, max_iter=8)
    assert 1.0 in target_ladder()
    met_at_one = result.hits[result.hits.target == 1.0]
    assert met_at_one.iteration.tolist() == [2] * seeds
