"""Time and peak memory of the analysis of a 100,000-run result set (1,000 seeds x 100 cells).

    python benchmarks/bench_analysis.py [--seeds 1000] [--problems 10] [--solvers 10] [--repeat 3] [--report] [--plain-read]

Writes a synthetic result set to a temporary folder as Parquet (``runs``,
``trace`` with 29 log-spaced rows per run as ``record="log"`` gives for 1,000
iterations, and ``hits`` on COCO's ladder), then, for each repeat, starts a
fresh Python process that reads it and runs the analysis a report needs:
leaderboard (with hits), paired tests, Friedman, marks and headlines, runtime
ECDF, fixed-budget table and ECDF, performance profile; with ``--report`` also
``ob.report``. Each child prints its stage times and its peak resident memory
(``ru_maxrss``, reading the files included) and its resident memory after
reading; this script prints the medians and the ratios to the budgets of 30 s
and 1 GB. By default the tables are read lean (text key columns as
categoricals, pyarrow's buffers released as they are converted);
``--plain-read`` reads them with ``pd.read_parquet`` for comparison.
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

import numpy as np
import pandas as pd

# log-spaced checkpoints 0 .. 1000, 29 of them, as record="log" gives for max_iter=1000
ITERATIONS = np.r_[0, np.unique(np.round(np.geomspace(1, 1000, 31)).astype(int))]
ROWS_PER_RUN = len(ITERATIONS)


def _strings(values: np.ndarray) -> pd.arrays.StringArray:
    return pd.array(values.astype(object), dtype="str")


def result_set(seeds: int, problems: int, solvers: int, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Synthetic runs, trace and hits: gaps decay geometrically at a per-solver rate; 5 % of runs diverge."""
    cells = problems * solvers
    n = cells * seeds
    problem = np.repeat(np.arange(problems), solvers * seeds)
    solver = np.tile(np.repeat(np.arange(solvers), seeds), problems)
    seed = np.tile(np.arange(seeds), cells)
    dim = 2 + 2 * problem
    keys = {"cell": _strings(np.char.add("c", (problem * solvers + solver).astype(str))), "suite": _strings(np.full(n, "bench")),
            "problem": _strings(np.char.add("p", problem.astype(str))), "problem_params": _strings(np.full(n, "{}")),
            "dim": dim, "method": _strings(np.char.add("m", solver.astype(str))), "method_params": _strings(np.full(n, "{}")),
            "step_rule": _strings(np.full(n, "constant")), "step_params": _strings(np.full(n, '{"lr":0.01}')),
            "batch_size": pd.array(np.full(n, None), dtype="Int64")}
    iterations = ITERATIONS
    rate = 10.0 ** -rng.uniform(0.002, 0.02, size=(problems * solvers, 1))[problem * solvers + solver]
    start = 10.0 ** rng.uniform(0, 2, size=(n, 1))
    gaps = start * rate ** iterations[None, :] * 10.0 ** rng.normal(0, 0.1, size=(n, ROWS_PER_RUN))
    diverged = rng.random(n) < 0.05
    gaps[diverged, ROWS_PER_RUN // 2:] = 1e30
    status = np.where(diverged, "diverged", "budget")
    evals = iterations + 1
    runs = pd.DataFrame({**keys, "seed": seed, "status": _strings(status), "f": gaps[:, -1], "f_opt": 0.0,
                         "f_gap": gaps[:, -1], "iterations": np.where(diverged, iterations[ROWS_PER_RUN // 2], iterations[-1]),
                         "f_evals": 0, "g_evals": np.where(diverged, evals[ROWS_PER_RUN // 2], evals[-1]),
                         "epochs": np.nan, "time": 1.0, "message": _strings(np.full(n, ""))})
    rows = np.repeat(np.arange(n), ROWS_PER_RUN)
    trace = pd.DataFrame({k: v[rows] for k, v in keys.items()})
    trace["seed"] = seed[rows]
    trace["iteration"] = np.tile(iterations, n)
    trace["f_evals"] = 0
    trace["g_evals"] = np.tile(evals, n)
    trace["epochs"] = np.nan
    trace["time"] = trace["g_evals"] * 1e-3
    trace["f"] = trace["f_gap"] = gaps.ravel()
    trace["grad_norm"] = np.sqrt(gaps.ravel())
    trace["step_size"] = 0.01
    return {"runs": runs, "trace": trace, "hits": _hits(keys, seed, gaps, iterations, evals)}


def _hits(keys, seed, gaps, iterations, evals) -> pd.DataFrame:
    """First hit of each target of COCO's ladder at the recorded rows (the synthetic runs' exact hits)."""
    ladder = 10.0 ** np.round(2 - 0.2 * np.arange(51), 10)
    best = np.minimum.accumulate(gaps, axis=1)
    first = (best[:, :, None] <= ladder[None, None, :]).argmax(axis=1)  # (runs, targets)
    reached = best[:, -1, None] <= ladder[None, :]
    run, target = np.nonzero(reached)
    row = first[run, target]
    frame = pd.DataFrame({k: v[run] for k, v in keys.items()})
    frame["seed"], frame["target"], frame["iteration"] = seed[run], ladder[target], iterations[row]
    frame["f_evals"], frame["g_evals"], frame["epochs"] = 0, evals[row], np.nan
    frame["time"], frame["estimated"] = evals[row] * 1e-3, False
    return frame


KEY_TEXT = ["cell", "suite", "problem", "problem_params", "method", "method_params", "step_rule", "step_params", "status"]


def read(path: Path, plain: bool) -> pd.DataFrame:
    """A table as ``pd.read_parquet`` gives it (``plain``), or lean: text keys as categoricals, arrow buffers freed as converted."""
    if plain:
        return pd.read_parquet(path)
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    table = pq.read_table(path, read_dictionary=[c for c in KEY_TEXT if c in names], memory_map=True)
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def child(folder: Path, with_report: bool, plain: bool) -> None:
    """Read the result set and run every analysis step; print JSON with stage times and peak memory."""
    import resource

    import pyarrow as pa

    from optbench import analysis, stats

    if not plain:
        pa.set_memory_pool(pa.system_memory_pool())  # freed arrow buffers go back to malloc, not a private pool

    times: dict[str, float] = {}
    started = last = time.perf_counter()
    cpu_started = time.process_time()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        times[name] = now - last
        last = now

    runs, trace, hits = (read(folder / f"{name}.parquet", plain) for name in ("runs", "trace", "hits"))
    lap("read parquet")
    loaded_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loaded = _rss_mb()
    runs, trace = analysis.prepare(runs, trace)
    hits = analysis.prepare_hits(runs, hits)
    lap("prepare (runs, trace, hits)")
    board = analysis.leaderboard(runs, trace, hits=hits)
    lap("leaderboard (hits)")
    tests = stats.pairwise(runs)
    lap("pairwise tests")
    result = stats.friedman(board)
    stats.headlines(board, tests, result)
    lap("friedman, marks, headlines")
    analysis.runtime_ecdf(runs, trace, hits=hits)
    lap("runtime ECDF (hits)")
    analysis.fixed_budget(runs, trace)
    analysis.budget_ecdf(runs, trace)
    lap("fixed budget + ECDF")
    analysis.performance_profile(runs, trace)
    lap("performance profile")
    if with_report:
        import optbench as ob

        with tempfile.TemporaryDirectory() as out:
            ob.report((runs, trace), out)
        lap("ob.report")
    times["total"] = time.perf_counter() - started
    times["total CPU (user + system)"] = time.process_time() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB on Linux
    print(json.dumps({"times": times, "peak_mb": peak, "loaded_mb": loaded, "loaded_peak_mb": loaded_peak,
                      "runs": len(runs), "trace": len(trace), "hits": len(hits)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--problems", type=int, default=10)
    parser.add_argument("--solvers", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--report", action="store_true", help="also time ob.report")
    parser.add_argument("--plain-read", action="store_true", help="read with pd.read_parquet instead of the lean reader")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.report, args.plain_read)
        return
    with tempfile.TemporaryDirectory() as folder:
        tables = result_set(args.seeds, args.problems, args.solvers, np.random.default_rng(0))
        for name, frame in tables.items():
            frame.to_parquet(Path(folder) / f"{name}.parquet")
        del tables
        outputs = []
        for _ in range(args.repeat):
            command = [sys.executable, __file__, "--child", folder] + (["--report"] if args.report else []) \
                + (["--plain-read"] if args.plain_read else [])
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            outputs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first = outputs[0]
    print(f"result set: {first['runs']} runs, {first['trace']} trace rows, {first['hits']} hits; {args.repeat} fresh processes")
    for stage in first["times"]:
        print(f"  {stage:<28} {statistics.median(o['times'][stage] for o in outputs):7.2f} s")
    total = statistics.median(o["times"]["total"] for o in outputs)
    cpu = statistics.median(o["times"]["total CPU (user + system)"] for o in outputs)
    print(f"median CPU time {cpu:.2f} s (wall time exceeds it when the machine is shared)")
    peak = statistics.median(o["peak_mb"] for o in outputs)
    loaded = statistics.median(o["loaded_mb"] for o in outputs)
    print(f"resident after reading the tables {loaded:.0f} MB (peak while reading "
          f"{statistics.median(o['loaded_peak_mb'] for o in outputs):.0f} MB); the analysis adds {peak - loaded:.0f} MB at its peak")
    print(f"median total {total:.2f} s (ratio to the 30 s budget {total / 30:.2f}); "
          f"median peak memory {peak:.0f} MB (ratio to 1 GB {peak / 1024:.2f})")


if __name__ == "__main__":
    main()
