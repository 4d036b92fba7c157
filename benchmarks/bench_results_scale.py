"""Peak memory and time of reading, querying and reporting a large synthetic results folder (100,000 runs by default).

    python benchmarks/bench_results_scale.py [--problems 20] [--solvers 20] [--seeds 250] [--skip-report]

Writes (once, cached in ``--cache``) a synthetic folder in the store's format
(``synthetic_results.write_results``: 20 problems x 20 solvers x 250 seeds =
100,000 runs, 2.8 M trace rows, ~4.5 M hits), then measures, each in a fresh child
process (``VmHWM`` is its peak resident memory), in this one run:

- ``read, pandas``: the reading before DuckDB -- ``store.read_tables`` then ``analysis.prepare`` / ``prepare_hits``;
- ``read, duckdb``: ``optbench.sql.read_prepared`` (what the report reads with now; the same tables);
- ``query, duckdb``: a leaderboard-like SQL query (gap quartiles per problem x solver, divergence counts,
  hits at 1e-6, best f) with ``ob.query``, straight from the Parquet files;
- ``optbench report``: the whole report, against the issue's targets (<= 1 GiB, <= 60 s).

It prints the median of ``--repeat`` runs per measurement, the ratios duckdb/pandas,
and the machine's load average (other processes slow a 2-core machine down).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the children import this checkout's optbench (``python -c`` puts only the working directory on sys.path: run from
# elsewhere, they imported the installed package instead)
CHILD_ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
PRELUDE = "import json, sys, time\nfolder = sys.argv[1]\nstarted = time.perf_counter()\n"
# VmHWM: this process's peak resident memory (ru_maxrss would count the parent's memory at the fork)
REPORT = ("\nhwm = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
          "print(json.dumps({'seconds': time.perf_counter() - started, 'peak_mib': hwm / 1024}))\n")
CHILDREN = {
    "read, pandas": "from optbench import analysis, store\n"
                    "tables, _ = store.read_tables(folder, categorical=True)\n"
                    "runs, trace = analysis.prepare(tables.runs, tables.trace)\n"
                    "hits = analysis.prepare_hits(runs, tables.hits)",
    "read, duckdb": "from optbench.sql import read_prepared\nruns, trace, hits, _ = read_prepared(folder)",
    "query, duckdb": "import optbench as ob\nob.query(folder, '''\n"
                     "WITH final AS (SELECT problem, problem_params, method, step_params, "
                     "quantile_cont(f_gap, [0.25, 0.5, 0.75]) FILTER (status IN ('converged', 'budget')) AS gap_quartiles,"
                     " count(*) FILTER (status = 'diverged') AS diverged, min(f) AS best_f FROM runs GROUP BY ALL),\n"
                     "reached AS (SELECT problem, problem_params, method, step_params, count(*) AS hits_1e6 FROM hits "
                     "WHERE target = 1e-6 GROUP BY ALL)\n"
                     "SELECT * FROM final LEFT JOIN reached USING (problem, problem_params, method, step_params)''')",
    "optbench report": "from optbench.report import report\nreport(folder, sys.argv[2], bootstrap=200)",
}


def measure(name: str, folder: Path, repeat: int) -> dict[str, float]:
    """Median seconds and peak MiB of the child ``name`` over ``repeat`` fresh processes."""
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-c", PRELUDE + CHILDREN[name] + REPORT, str(folder), out],
                                  capture_output=True, text=True, env=CHILD_ENV)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in results) for key in ("seconds", "peak_mib")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=20)
    parser.add_argument("--solvers", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-report", action="store_true", help="measure the reading and the query only")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "optbench-results-scale")
    args = parser.parse_args()
    folder = args.cache / f"p{args.problems}-s{args.solvers}-n{args.seeds}"
    if not (folder / "runs.parquet").is_file():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from synthetic_results import "
                        "write_results; write_results(sys.argv[2], *map(int, sys.argv[3:]))", str(Path(__file__).parent),
                        str(folder), str(args.problems), str(args.solvers), str(args.seeds)], check=True, env=CHILD_ENV)
        print(f"synthetic results written in {time.perf_counter() - started:.0f} s: {folder}")
    import optbench as ob

    sizes = ob.query(folder, "SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM trace) AS trace, "
                             "(SELECT count(*) FROM hits) AS hits").iloc[0]
    print(f"results: {sizes['runs']:,} runs, {sizes['trace']:,} trace rows, {sizes['hits']:,} hits; "
          f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    names = [name for name in CHILDREN if not (args.skip_report and name == "optbench report")]
    found = {name: measure(name, folder, args.repeat) for name in names}
    for name, value in found.items():
        print(f"{name:<16} {value['seconds']:7.1f} s  {value['peak_mib']:7.0f} MiB peak (median of {args.repeat})")
    old, new = found["read, pandas"], found["read, duckdb"]
    print(f"reading, duckdb / pandas: time x{new['seconds'] / old['seconds']:.2f}, peak memory x{new['peak_mib'] / old['peak_mib']:.2f}")
    if "optbench report" in found:
        value = found["optbench report"]
        verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
        print(f"targets of optbench report: <= 1024 MiB {verdict(value['peak_mib'] <= 1024)} ({value['peak_mib']:.0f}), "
              f"<= 60 s {verdict(value['seconds'] <= 60)} ({value['seconds']:.0f})")
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
