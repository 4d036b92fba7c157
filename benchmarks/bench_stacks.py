"""The targets of issue 25 (stacked execution), measured in one run, with the machine's load.

1. The BenchOpt matrix (benchmarks/matrix.toml: 8 problems x 10 methods x 10 seeds x 1,000 it.) as a whole
   process, `optbench run ... --no-report`, against `benchmarks/hand_matrix.py` (the vectorised numpy floor),
   median of interleaved pairs (target <= 1.2x); and the number of files it writes (target <= 40).
2. One seed, gd + constant, 10-D quadratic, 1,000 iterations: `ob.run` against a hand loop calling the same
   problem's `value_and_grad` (target <= 1.5x), median of interleaved pairs in this process.
3. The sweep: Adam, 20 learning rates x 30 seeds on 10-D Rosenbrock, 1,000 it., one ``ob.run(..., sweep=...)``
   against the same arithmetic written by hand on one ``(600, 10)`` array (``bench_sweep.py``; target <= 1.2x).
4. Start-up: a process that imports optbench and loads the matrix suite against one that imports numpy alone
   (CPU seconds, medians), and whether that imported pandas or scipy (the lean run path imports neither before
   its first result; the optima the suite needs come from the on-disk cache after the first run).
5. Shared calls in a stack: six cells with Armijo line searches on 10-D Rosenbrock (10 seeds, 1,000 it.) as one
   stack against the same cells run one by one (CPU seconds, medians), with the objective's value calls
   counted (a stack's step-rule group evaluates every backtracking row's trial in one call); and how many
   ``direction`` calls one iteration of the matrix's Rosenbrock stack makes for its 10 methods (momentum and
   nesterov share one: a family batch).

The bbob test bed with Adam (1,800 problems x 10 seeds, target: under half of 3 min 18 s) takes about a
minute and is timed as a whole command: ``farm-bench`` or ``time optbench run benchmarks/bbob_timing.toml
--executor processes --no-report`` (README, "Performance").

Run: ``python benchmarks/bench_stacks.py [--repeat 5]``. The machine is shared: read the load line.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.bench_stacks (asv's discovery)
    from bench_matrix import timed
    from bench_sweep import sweep_ratio
except ImportError:
    from benchmarks.bench_matrix import timed
    from benchmarks.bench_sweep import sweep_ratio

HERE = Path(__file__).resolve().parent


def cpu_timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, from the operating system's accounting of the child) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def matrix(repeat: int) -> None:
    hand = [sys.executable, str(HERE / "hand_matrix.py")]
    pairs, files = [], 0
    with tempfile.TemporaryDirectory() as folder:
        for i in range(repeat + 1):
            out = Path(folder) / f"run{i}"
            ours = [sys.executable, "-m", "optbench.cli", "run", str(HERE / "matrix.toml"), "--no-report", "--force",
                    "--out", str(out)]
            (a_wall, a_cpu), (b_wall, b_cpu) = cpu_timed(ours), cpu_timed(hand)
            files = sum(1 for path in out.rglob("*") if path.is_file())
            if i:  # the first pair warms the caches (and the on-disk cache of solved optima)
                pairs.append((a_wall, b_wall, a_wall / b_wall, a_cpu, b_cpu, a_cpu / b_cpu))
    a, b, r, a_cpu, b_cpu, r_cpu = np.median(np.array(pairs), axis=0)
    print(f"matrix 8 x 10 x 10 seeds x 1,000 it.: optbench run {a:.2f} s, numpy floor {b:.2f} s, "
          f"median ratio {r:.2f} (target <= 1.2); CPU {a_cpu:.2f} s vs {b_cpu:.2f} s, ratio {r_cpu:.2f}; "
          f"files written {files} (target <= 40)")


STARTUP = """
import sys, optbench
from optbench.suite import load_suite
load_suite(sys.argv[1])
heavy = [name for name in ("pandas", "scipy", "matplotlib") if name in sys.modules]
print("imported: " + (", ".join(heavy) or "none of pandas, scipy, matplotlib"))
"""


def startup(repeat: int) -> None:
    ours = [sys.executable, "-c", STARTUP, str(HERE / "matrix.toml")]
    bare = [sys.executable, "-c", "import numpy"]
    pairs = [(cpu_timed(ours)[1], cpu_timed(bare)[1]) for _ in range(max(5, repeat))]
    a, b = np.median(np.array(pairs), axis=0)
    said = subprocess.run(ours, capture_output=True, text=True, check=True).stdout.strip()
    print(f"start-up, import optbench + load the matrix suite: {a:.3f} CPU s, python + numpy alone {b:.3f} CPU s; "
          f"{said}")


def one_seed(repeat: int) -> None:
    import optbench as ob

    problem = ob.problems.create("quadratic", dim=10)

    def hand() -> None:
        X = problem.initial_point(np.random.default_rng(0), 1)
        for _ in range(1000):
            _, G = problem.value_and_grad(X)
            X = X - 1e-3 * G

    def ours() -> None:
        ob.run(problem, "gd", {"name": "constant", "lr": 1e-3}, seeds=1, max_iter=1000)

    ours(), hand()
    pairs = []
    for _ in range(max(5, 4 * repeat)):
        started = time.perf_counter()
        ours()
        middle = time.perf_counter()
        hand()
        pairs.append((middle - started, time.perf_counter() - middle))
    a, b = np.median(np.array(pairs), axis=0)
    ratio = np.median([x / y for x, y in pairs])
    print(f"one seed, gd, 10-D quadratic, 1,000 it.: ob.run {a * 1e3:.1f} ms, hand loop {b * 1e3:.1f} ms, "
          f"median ratio {ratio:.2f} (target <= 1.5)")


LINE_CELLS = [("gd", "armijo"), ("nesterov", "armijo"), ("adam", "armijo"), ("sign-gd", "armijo"),
              ("momentum", "armijo"), ("adamw", "armijo")]


def _counting_rosenbrock():
    import optbench as ob

    class Counting(ob.Problem):
        """10-D Rosenbrock counting its value-only calls (line-search trials)."""

        rowwise_exact = True

        def __init__(self):
            self.inner = ob.problems.create("rosenbrock", dim=10)
            self.dim, self.f_opt, self.calls = 10, 0.0, 0

        def initial_point(self, rng, n_runs):
            return self.inner.initial_point(rng, n_runs)

        def value(self, X, batch=None):
            self.calls += 1
            return self.inner.value(X)

        def value_and_grad(self, X, batch=None):
            return self.inner.value_and_grad(X)

    return Counting()


def shared_calls(repeat: int) -> None:
    import optbench as ob
    from optbench.engine.run import run_group
    from optbench.engine.sweep import batch_groups

    problem = _counting_rosenbrock()
    specs = [{"problem": problem, "method": m, "step_rule": r, "seeds": 10, "max_iter": 1000, "record": "log"}
             for m, r in LINE_CELLS]
    stack_times, alone_times = [], []
    for _ in range(max(3, repeat)):
        started = time.process_time()
        problem.calls = 0
        run_group(specs)
        stack_calls = problem.calls
        middle = time.process_time()
        problem.calls = 0
        for spec in specs:
            ob.run(**spec)
        alone_calls = problem.calls
        stack_times.append(middle - started)
        alone_times.append(time.process_time() - middle)
    a, b = np.median(stack_times), np.median(alone_times)
    print(f"6 Armijo cells, 10-D Rosenbrock, 10 seeds x 1,000 it.: one stack {a:.2f} CPU s, one by one {b:.2f} CPU s "
          f"({b / a:.1f}x); trial calls {stack_calls} in the stack, {alone_calls} one by one")
    methods = ["gd", "momentum", "nesterov", "sign-gd", "adagrad", "rmsprop", "adadelta", "adam", "adamax", "lion"]
    pairs = [(ob.methods.create(name), ob.step_rules.create("constant")) for name in methods]
    print(f"matrix: {len(methods)} methods of a problem make {len(batch_groups(pairs))} direction calls per iteration")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("load:", os.getloadavg())
    one_seed(args.repeat)
    sweep_ratio(max(7, args.repeat))
    startup(args.repeat)
    shared_calls(args.repeat)
    matrix(args.repeat)
    print("load:", os.getloadavg())
