"""Build time, peak memory and size of the report of a result set as large as the full suite's.

    python benchmarks/bench_report_scale.py [--problems 20] [--solvers 21] [--seeds 20] [--repeat 1]

The full suite's leaderboard has about 420 rows (20 problems x 21 solvers) of
20 seeds each. Running it takes hours, so this builds a *synthetic* result set
of that shape with ``ob.run`` (sphere, quadratic and rosenbrock instances of
growing dimension; gd, momentum, nesterov, adam at several constant steps and
gd with armijo / polyak; 2000 iterations, ``record="log"``; some cells
diverge), caches it in ``--cache``, then times ``ob.report`` in a child
process (``ru_maxrss`` of the child is its peak resident memory) and prints the
median time per stage, the CPU time, the peak memory and the size of ``index.html``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOLVERS = [("gd", {"name": "constant", "lr": lr}) for lr in (0.001, 0.01, 0.1, 0.4, 1.2)] + [
    ("momentum", {"name": "constant", "lr": lr}) for lr in (0.001, 0.01, 0.1)] + [
    ("nesterov", {"name": "constant", "lr": lr}) for lr in (0.001, 0.01, 0.1)] + [
    ("adam", {"name": "constant", "lr": lr}) for lr in (0.001, 0.01, 0.1, 0.3)] + [
    ("gd", "armijo"), ("gd", "polyak"), ("adagrad", None), ("rmsprop", None), ("adamw", None), ("gd", "barzilai-borwein"),
    ("adam", "armijo"), ("nadam", None), ("radam", None)]


def problems(n: int) -> list[dict]:
    families = [{"name": "sphere"}, {"name": "quadratic", "condition": 100.0}, {"name": "rosenbrock"}]
    return [{**families[i % 3], "dim": 2 + 3 * (i // 3)} for i in range(n)]


def build(folder: Path, n_problems: int, n_solvers: int, seeds: int) -> None:
    import pandas as pd

    import optbench as ob

    runs, trace = [], []
    for problem in problems(n_problems):
        for method, rule in SOLVERS[:n_solvers]:
            result = ob.run(problem, method, rule, seeds=seeds, max_iter=2000, record="log")
            runs.append(result.runs)
            trace.append(result.trace)
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(runs, ignore_index=True).to_parquet(folder / "runs.parquet")
    pd.concat(trace, ignore_index=True).to_parquet(folder / "trace.parquet")


CHILD = """
import json, resource, sys, time
from optbench.report import report
timings = {}
started = time.perf_counter()
path = report(sys.argv[1], sys.argv[2], timings=timings)
timings["total"] = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"timings": timings, "maxrss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "html_mb": path.stat().st_size / 1e6}))
"""


def measure(folder: Path, repeat: int) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as target:
        for _ in range(repeat):
            done = subprocess.run([sys.executable, "-c", CHILD, str(folder), target], capture_output=True, text=True, check=True)
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=20)
    parser.add_argument("--solvers", type=int, default=21)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "optbench-report-scale")
    args = parser.parse_args()
    folder = args.cache / f"p{args.problems}-s{args.solvers}-n{args.seeds}"
    if not (folder / "runs.parquet").is_file():
        started = time.perf_counter()
        build(folder, args.problems, args.solvers, args.seeds)
        print(f"result set built in {time.perf_counter() - started:.0f} s: {folder}")
    import pandas as pd

    runs = pd.read_parquet(folder / "runs.parquet")
    trace_rows = len(pd.read_parquet(folder / "trace.parquet", columns=["seed"]))
    print(f"result set: {len(runs)} runs, {trace_rows} trace rows, {runs.groupby(['problem', 'dim']).ngroups} problems, "
          f"{runs.groupby(['method', 'step_rule', 'step_params']).ngroups} solvers, "
          f"{int(runs['status'].isin(['diverged', 'error', 'timeout']).sum())} failed runs")
    results = measure(folder, args.repeat)
    stages = {k: statistics.median(r["timings"][k] for r in results) for k in results[0]["timings"]}
    print("report build, median of", args.repeat, "run(s):", ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    print(f"CPU time of the report process: {statistics.median(r['cpu_s'] for r in results):.0f} s (wall time above depends "
          "on what else the machine runs)")
    print(f"peak resident memory of the report process: {statistics.median(r['maxrss_mb'] for r in results):.0f} MB; "
          f"index.html: {statistics.median(r['html_mb'] for r in results):.1f} MB")


if __name__ == "__main__":
    main()
