"""A random search as one batch: 20 trials x 3 tuning seeds against one cell of 60 seeds.

Adam on 10-D Rosenbrock, 1,000 iterations, ``record="log"``. The search is what
``ob.tune`` and a tuned suite run in their tuning phase: the default setting
(trial 0) and 20 log-uniform learning rates in [1e-5, 1], each on the tuning seeds
10**6, 10**6 + 1, 10**6 + 2, as one batch group (``run_group``), 63 runs. The
baseline is one ``ob.run`` cell of 60 seeds. Both are timed alternately in one
process; the script prints their medians and the median of the paired ratios
(the issue asks for a ratio within 2x). Also: the whole ``ob.tune`` (search,
selection, then the selected and the default setting on 60 evaluation seeds)
against the same cell, and the search run trial by trial (21 ``ob.run`` calls).

Run: ``python benchmarks/bench_tuning.py`` (``--repeat N``).
"""

from __future__ import annotations

import argparse

import optbench as ob
from optbench import tuning
from optbench.engine.run import run_group

try:  # benchmarks/ is on the path when run as a script
    from timing import paired
except ImportError:  # imported as benchmarks.<module> (asv)
    from benchmarks.timing import paired

PROBLEM = {"name": "rosenbrock", "dim": 10}
SPACE = {"step_rule.lr": {"log_uniform": [1e-5, 1.0]}}
TRIALS, TUNING_SEEDS, CELL_SEEDS, ITERATIONS = 20, 3, 60, 1000


def search_specs() -> list[dict]:
    """The ``run_group`` specs of the search: what ``ob.tune`` runs in its tuning phase."""
    protocol = tuning.Protocol(trials=TRIALS, seeds=tuple(range(10**6, 10**6 + TUNING_SEEDS)))
    space = tuning.check_space(SPACE, "adam", "constant")
    settings = tuning.settings_of({"name": "adam"}, {"name": "constant"}, space, protocol)
    assert len(settings) == TRIALS + 1
    return [{"problem": PROBLEM, "method": m, "step_rule": s, "seeds": list(protocol.seeds), "max_iter": ITERATIONS}
            for m, s in settings]


def main(repeat: int) -> None:
    specs = search_specs()
    cell = lambda: ob.run(PROBLEM, "adam", seeds=CELL_SEEDS, max_iter=ITERATIONS)
    search = lambda: run_group(specs)
    a, b, ratio = paired(search, cell, repeat)
    print(f"search, {TRIALS} trials + default x {TUNING_SEEDS} seeds as one batch: median {a:.3f} s")
    print(f"one cell of {CELL_SEEDS} seeds:                              median {b:.3f} s")
    print(f"ratio search / cell: {ratio:.2f}x (target: within 2x)")
    whole = lambda: ob.tune(PROBLEM, "adam", space=SPACE, trials=TRIALS, seeds=TUNING_SEEDS, eval_seeds=CELL_SEEDS,
                            max_iter=ITERATIONS)
    a, b, ratio = paired(whole, cell, max(1, repeat // 2))
    print(f"ob.tune (search + selected and default on {CELL_SEEDS} seeds): median {a:.3f} s, {ratio:.2f}x the cell")
    one_by_one = lambda: [ob.run(**spec) for spec in specs]
    a, b, ratio = paired(one_by_one, search, max(1, repeat // 2))
    print(f"the search trial by trial (21 ob.run calls): median {a:.3f} s, {ratio:.2f}x the batched search")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    main(parser.parse_args().repeat)
