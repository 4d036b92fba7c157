"""Cost of the per-step plugin checks: one seed of gd on a 10-D quadratic, 1,000 iterations.

Every step the loop hands X and G out read-only, checks the dtype of f, G, D and
alpha and that every step size is finite and >= 0. This script times
``ob.run`` on the one-seed benchmark and prints the median of ``--repeat``
runs (after a warm-up). To measure the overhead, run it on this checkout and on
the commit before the checks, paired, e.g.::

    git archive BASE | tar -x -C /tmp/base
    farm-bench -n 20 -- sh -c 'cd /tmp && PYTHONPATH=$NEW exec python $NEW/benchmarks/bench_guards.py >>/tmp/new.txt' \\
        --vs "sh -c 'cd /tmp && PYTHONPATH=/tmp/base exec python $NEW/benchmarks/bench_guards.py >>/tmp/base.txt'"

and compare the medians printed in the two files (their ratio, pair by pair).

Run: ``python benchmarks/bench_guards.py`` (``--repeat N``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import optbench as ob


def one_seed_ms(repeat: int) -> float:
    """Median CPU milliseconds of one ``ob.run`` (gd, constant step, quadratic dim 10, 1 seed, 1,000 iterations)."""
    problem = ob.problems.create("quadratic", dim=10)
    ob.run(problem, "gd", seeds=1, max_iter=1000)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.process_time()  # CPU seconds: robust to other processes sharing the cores
        ob.run(problem, "gd", seeds=1, max_iter=1000)
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    print(f"one seed, gd, quadratic dim 10, 1,000 iterations: {one_seed_ms(args.repeat):.3f} ms (median of {args.repeat}) "
          f"[{ob.__file__}]")
