"""A learning-rate grid as one batch: ``ob.run(..., sweep=...)`` against a hand-written numpy Adam.

Adam on 10-D Rosenbrock, 20 learning rates x 30 seeds = 600 runs, 1,000 iterations.
The hand loop is the same arithmetic on one ``(600, 10)`` array with a per-row
learning rate (torch's Adam, f and gradient from the problem), with no recording;
``ob.run`` records with ``record="log"`` and tracks exact first hits. Both are
timed alternately in one process; the script prints medians and the median of the
paired ratios. Also: the same grid as 20 separate ``ob.run`` calls (the first
build's suites), and one seed of a hand loop against ``ob.run`` (``record="log"``).

Run: ``python benchmarks/bench_sweep.py`` (``--repeat N``).
"""

from __future__ import annotations

import argparse

import numpy as np

import optbench as ob

try:  # benchmarks/ is on the path when run as a script
    from timing import paired
except ImportError:  # imported as benchmarks.<module> (asv)
    from benchmarks.timing import paired

PROBLEM = {"name": "rosenbrock", "dim": 10}
LRS = np.logspace(-4, 0, 20)
SEEDS = 30
ITERATIONS = 1000


def hand_adam(problem, X0, lr_column, iterations, beta1=0.9, beta2=0.999, eps=1e-8):
    """torch.optim.Adam on a (n_runs, dim) array with one learning rate per row."""
    X = X0.copy()
    m, v = np.zeros_like(X), np.zeros_like(X)
    for k in range(iterations):
        F, G = problem.value_and_grad(X)
        t = k + 1
        m += (1.0 - beta1) * (G - m)
        v *= beta2
        v += (1.0 - beta2) * (G * G)
        denom = np.sqrt(v)
        denom *= 1.0 / (1.0 - beta2**t) ** 0.5
        denom += eps
        D = np.divide(m, denom, out=denom)
        D *= -1.0 / (1.0 - beta1**t)
        X = X + lr_column * D
    return X


def sweep_and_hand():
    """``ob.run`` of the grid as one sweep, and the hand loop on the same ``(600, 10)`` starting points."""
    problem = ob.problems.create(PROBLEM["name"], dim=PROBLEM["dim"])
    X0 = ob.run(problem, "adam", seeds=SEEDS, max_iter=0).x
    X_all = np.tile(X0, (len(LRS), 1))
    lr_column = np.repeat(LRS, SEEDS)[:, None]

    def swept():
        return ob.run(problem, "adam", "constant", seeds=SEEDS, max_iter=ITERATIONS, sweep={"step_rule.lr": LRS})

    def hand():
        return hand_adam(problem, X_all, lr_column, ITERATIONS)

    # the two compute the same iterates (the same arithmetic, in the same order)
    np.testing.assert_array_equal(swept().x, hand())
    return problem, X0, swept, hand


def sweep_ratio(repeat: int) -> None:
    """Print the sweep against the hand loop: medians and the median of the paired ratios (issue 25's target)."""
    _, _, swept, hand = sweep_and_hand()
    a, b, r = paired(swept, hand, repeat)
    print(f"sweep, 20 lr x 30 seeds, 1,000 it.: ob.run {a:.3f} s, hand numpy (600, 10) {b:.3f} s, "
          f"median ratio {r:.2f} (target <= 1.2)")


def main(repeat: int) -> None:
    sweep_ratio(repeat)
    problem, X0, swept, _ = sweep_and_hand()

    def one_by_one():
        for lr in LRS:
            ob.run(problem, "adam", {"name": "constant", "lr": float(lr)}, seeds=SEEDS, max_iter=ITERATIONS)

    c, _, r2 = paired(one_by_one, swept, max(3, repeat // 2))
    print(f"the same grid as 20 separate ob.run calls: {c:.3f} s, {r2:.2f}x the sweep")

    x1 = X0[:1]

    def single():
        return ob.run(problem, "adam", {"name": "constant", "lr": 1e-2}, x0=x1[0], max_iter=ITERATIONS)

    def hand_single():
        return hand_adam(problem, x1, 1e-2, ITERATIONS)

    a, b, r = paired(single, hand_single, repeat)
    print(f"one seed, record='log': ob.run {a * 1e3:.1f} ms, hand loop {b * 1e3:.1f} ms, ratio {r:.2f} (target <= 1.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    main(parser.parse_args().repeat)
