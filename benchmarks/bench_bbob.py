"""Speed of the bbob functions' analytic gradients: value_and_grad against value alone.

Run as a script:  python benchmarks/bench_bbob.py

For each of the 24 bbob functions (instance 1) on X of shape (64, 40): the
median time of ``value(X)`` and of ``value_and_grad(X)`` (one pass for both),
and their ratio (the goal: within 3x, i.e. the gradient costs at most twice the
value). Times are medians over ``timeit.repeat``. The instances' constants are
made before timing. Importing this module does nothing heavy.

BLAS runs single-threaded here (OPENBLAS_NUM_THREADS=1 unless already set), as
in the other benchmark scripts.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import timeit  # noqa: E402

import numpy as np  # noqa: E402

RUNS, DIM = 64, 40


def paired_times(first, second, number=50, repeat=21):
    """Median seconds per call of ``first`` and ``second``, and the median ratio second / first, timed in turn."""
    first(), second()
    a, b = [], []
    for _ in range(repeat):
        a.append(timeit.timeit(first, number=number) / number)
        b.append(timeit.timeit(second, number=number) / number)
    a, b = np.array(a), np.array(b)
    return float(np.median(a)), float(np.median(b)), float(np.median(b / a))


def main():
    from optbench.objectives.bbob import BBOB, FUNCTION_NAMES

    X = np.random.default_rng(0).uniform(-5.0, 5.0, (RUNS, DIM))
    print(f"bbob, instance 1, X of shape ({RUNS}, {DIM}); median microseconds per call")
    print(f"{'f':>3} {'name':36} {'value':>9} {'value+grad':>11} {'ratio':>6}")
    ratios = []
    for function in range(1, 25):
        problem = BBOB(function=function, instance=1, dim=DIM)
        value, both, ratio = paired_times(lambda: problem.value(X), lambda: problem.value_and_grad(X))
        ratios.append(ratio)
        print(f"{function:>3} {FUNCTION_NAMES[function]:36} {1e6 * value:9.1f} {1e6 * both:11.1f} {ratio:6.2f}")
    print(f"ratio value_and_grad / value: median {np.median(ratios):.2f}, max {max(ratios):.2f} (goal <= 3)")


if __name__ == "__main__":
    main()
