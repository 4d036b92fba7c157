"""Timers shared by the benchmark scripts: medians, and paired ratios timed alternately.

Alternating the two commands keeps a shared, noisy machine's load changes out of
the ratio; the scripts quote medians and the median of the paired ratios.
"""

from __future__ import annotations

import timeit

import numpy as np


def median_time(fn, repeat: int = 7, number: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` timings of ``number`` calls."""
    return float(np.median(timeit.repeat(fn, repeat=repeat, number=number))) / number


def paired(ours, baseline, repeat: int = 9) -> tuple[float, float, float]:
    """Median times of ``ours`` and ``baseline`` timed alternately, and the median of the paired ratios."""
    ours(), baseline()  # warm up
    times = []
    for _ in range(repeat):
        a = timeit.timeit(ours, number=1)
        b = timeit.timeit(baseline, number=1)
        times.append((a, b, a / b))
    a, b, r = np.median(np.array(times), axis=0)
    return float(a), float(b), float(r)
