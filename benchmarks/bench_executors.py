"""Executor speed: processes vs serial on a CPU-bound suite, per-cell overhead, `optbench run quick`.

    python benchmarks/bench_executors.py [--repeat 3] [--jobs 2] [--skip-dask] [--skip-quick]

Prints medians over ``--repeat`` runs (timeit.repeat, number=1) and their ratios.
Wall times include starting the workers, as a user sees them. BLAS is limited to
one thread in every process (set before numpy is imported), so that serial uses
one core and the comparison measures the executor, not OpenBLAS's threading.
"""

from __future__ import annotations

import argparse
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

from optbench.driver import run_suite
from optbench.suite import parse_suite

CPU_BOUND = '''
name = "cpu-bound"
seeds = 16
[budget]
max_iter = 12000
record = "last"
[[problems]]
name = "quadratic"
dim = 200
condition = [10.0, 100.0]
[[methods]]
name = "gd"
step_rule = { name = "constant", lr = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.012] }
[[methods]]
name = "momentum"
step_rule = { name = "constant", lr = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.012] }
'''

TRIVIAL = '''
name = "trivial"
seeds = 1
[budget]
max_iter = 1
record = "last"
[[problems]]
name = "sphere"
dim = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
[[methods]]
name = "gd"
step_rule = { name = "constant", lr = [0.1, 0.2, 0.3, 0.4] }
'''


def median_time(function, repeat: int) -> float:
    return statistics.median(timeit.repeat(function, number=1, repeat=repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-quick", action="store_true")
    options = parser.parse_args()
    print(f"{os.cpu_count()} cores, jobs={options.jobs}, median of {options.repeat}")

    cpu = parse_suite(CPU_BOUND, "cpu-bound.toml")
    if not options.skip_cpu:
        cpu_bound(cpu, options)
    per_cell_overhead(options)
    if not options.skip_quick:
        run_quick(options)


def cpu_bound(cpu, options) -> None:
    serial = median_time(lambda: run_suite(cpu, None, "serial"), options.repeat)
    processes = median_time(lambda: run_suite(cpu, None, "processes", jobs=options.jobs), options.repeat)
    print(f"CPU-bound suite ({len(cpu.cells)} cells x 16 seeds, {serial / len(cpu.cells):.2f} s per cell): serial {serial:.2f} s, processes {processes:.2f} s, "
          f"speed-up serial/processes = {serial / processes:.2f}x")


def per_cell_overhead(options) -> None:
    trivial = parse_suite(TRIVIAL, "trivial.toml")
    n = len(trivial.cells)
    executors = ["serial", "processes"] + ([] if options.skip_dask else ["dask"])
    base = None
    for executor in executors:
        wall = median_time(lambda: run_suite(trivial, None, executor, jobs=options.jobs), options.repeat)
        work = run_suite(trivial, None, "serial").runs["time"].sum()
        base = base if base is not None else wall
        print(f"trivial suite ({n} cells), {executor:<9}: {wall:.2f} s in all, {1e3 * (wall - work) / n:.1f} ms overhead "
              f"per cell (start-up included), {wall / base:.1f}x serial")


def run_quick(options) -> None:
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "optbench.cli", "run", "quick", "--out", str(Path(folder) / "quick"),
                   "--executor", "processes", "--jobs", str(options.jobs), "--force"]
        outcome = {}
        times = timeit.repeat(lambda: outcome.update(done=subprocess.run(command, capture_output=True, text=True, timeout=600)),
                              number=1, repeat=1)
        if outcome["done"].returncode != 0:
            print(f"`optbench run quick` failed: {outcome['done'].stderr.strip()[:300]}")
        else:
            print(f"`optbench run quick --executor processes` (report included if optbench.report exists): {times[0]:.1f} s wall")


if __name__ == "__main__":
    main()
