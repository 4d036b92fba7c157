"""How long the HTML report of a large result set takes, and where the time goes.

    /work/venv/bin/python benchmarks/bench_report.py [--rows 200000] [--repeat 3]

Builds a result set with ``ob.run`` (sphere and quadratic, gd + constant at five
learning rates, one of them diverging, ``record="all"``) of about ``--rows``
trace rows, then times ``ob.report`` on it (median of ``--repeat`` runs, the
first one included: matplotlib's font and mathtext caches are warm after it) and
on a tenth of it, and prints the median per stage, the ratio to the 20-second
budget and the ratio of the two sizes (how the report scales with trace rows).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pandas as pd

import optbench as ob
from optbench.report import report


def result_set(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    problems = [{"name": "sphere", "dim": 2}, {"name": "sphere", "dim": 10}, {"name": "quadratic", "dim": 5}, {"name": "quadratic", "dim": 20}]
    lrs = (0.01, 0.03, 0.1, 0.3, 1.2)  # 1.2 diverges on the sphere
    seeds = 10
    per_cell = max(rows // (len(problems) * len(lrs) * seeds), 10)
    while True:  # diverging cells stop early: grow the budget until the trace has enough rows
        results = [ob.run(problem, "gd", {"name": "constant", "lr": lr}, seeds=seeds, max_iter=per_cell - 1, record="all")
                   for problem in problems for lr in lrs]
        trace = pd.concat([r.trace for r in results], ignore_index=True)
        if len(trace) >= rows:
            return pd.concat([r.runs for r in results], ignore_index=True), trace
        per_cell = int(per_cell * rows / len(trace)) + 1


def measure_report(runs: pd.DataFrame, trace: pd.DataFrame, repeat: int) -> tuple[float, dict[str, float]]:
    totals, stages = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):
            timings: dict[str, float] = {}
            started = time.perf_counter()
            report((runs, trace), folder, timings=timings)
            totals.append(time.perf_counter() - started)
            stages.append(timings)
    return statistics.median(totals), {k: statistics.median(s[k] for s in stages) for k in stages[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs, trace = result_set(args.rows)
    print(f"result set: {len(runs)} runs, {len(trace)} trace rows, {runs['cell'].nunique()} cells")
    big, stages = measure_report(runs, trace, args.repeat)
    small_runs = runs[runs["seed"] == 0]
    small_trace = trace[trace["seed"] == 0]
    small, _ = measure_report(small_runs, small_trace, args.repeat)
    print(f"report, {len(trace)} trace rows: median {big:.2f} s over {args.repeat} runs")
    for stage, seconds in stages.items():
        print(f"  {stage:<22} {seconds:6.2f} s  ({seconds / big:5.1%})")
    print(f"ratio to the 20 s budget: {big / 20:.2f}")
    print(f"report, {len(small_trace)} trace rows (one seed): median {small:.2f} s; "
          f"ratio {big / small:.2f} for {len(trace) / len(small_trace):.0f}x the rows")


if __name__ == "__main__":
    main()
