"""The torch adapter's cost: ``ob.run`` with ``from_torch(torch.optim.Adam)`` against torch's own loops.

Adam (lr = 1e-3) on 10-D Rosenbrock, 64 seeds, 500 iterations, three ways:

- adapter: ``ob.run(problem, ob.methods.from_torch(torch.optim.Adam, lr=1e-3), seeds=64)``
  with ``record="log"`` and exact first hits (the engine evaluates f and the gradient);
- one torch loop: one ``(64, 10)`` float64 tensor, one optimizer, the gradient from
  the problem in numpy (``problem.grad``) copied into ``.grad`` each step, no recording;
- 64 torch loops: one ``(10,)`` tensor and one optimizer per seed, each stepped
  with its own numpy gradient, as a user without batching would write it.

The adapter and each baseline are timed alternately in one process (``--repeat``
times); the script prints the median times and the median of the paired ratios.
Targets (issue 17): adapter / one loop <= 3, 64 loops / adapter >= 20.

Run: ``python benchmarks/bench_torch_adapter.py`` (``--repeat N``, ``--iterations N``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import optbench as ob

try:  # benchmarks/ is on the path when run as a script
    from timing import paired
except ImportError:  # imported as benchmarks.<module> (asv)
    from benchmarks.timing import paired

SEEDS = 64
DIM = 10
LR = 1e-3


def one_torch_loop(problem, X0: np.ndarray, iterations: int) -> np.ndarray:
    """All seeds as one (64, 10) tensor: grad from numpy, ``optimizer.step()``."""
    values = X0.copy()
    param = torch.from_numpy(values).requires_grad_(True)
    optimizer = torch.optim.Adam([param], lr=LR)
    for _ in range(iterations):
        param.grad = torch.from_numpy(problem.grad(values))
        optimizer.step()
    return values


def separate_torch_loops(problem, X0: np.ndarray, iterations: int) -> np.ndarray:
    """One (10,) tensor and one optimizer per seed, one loop after another."""
    finals = []
    for x0 in X0:
        values = x0[None].copy()
        param = torch.from_numpy(values[0]).requires_grad_(True)
        optimizer = torch.optim.Adam([param], lr=LR)
        for _ in range(iterations):
            param.grad = torch.from_numpy(problem.grad(values)[0])
            optimizer.step()
        finals.append(values[0])
    return np.array(finals)


def main(repeat: int, iterations: int) -> None:
    problem = ob.problems.create("rosenbrock", dim=DIM)
    method = ob.methods.from_torch(torch.optim.Adam, lr=LR)
    X0 = ob.run(problem, "adam", seeds=SEEDS, max_iter=0).x

    def adapter():
        return ob.run(problem, method, seeds=SEEDS, max_iter=iterations, record="log").x

    # the three compute the same iterates (the adapter's gradient comes with f, same numbers)
    assert np.array_equal(adapter(), one_torch_loop(problem, X0, iterations))
    assert np.array_equal(adapter(), separate_torch_loops(problem, X0, iterations))

    print(f"torch.optim.Adam(lr={LR}) on {DIM}-D Rosenbrock, {SEEDS} seeds, {iterations} iterations, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; medians of {repeat} paired timings")
    ours, one, ratio = paired(adapter, lambda: one_torch_loop(problem, X0, iterations), repeat)
    print(f"  adapter (ob.run, record='log', hits)    {ours * 1e3:9.1f} ms   {ours / iterations * 1e6:7.1f} us/iteration")
    print(f"  one torch loop on a (64, 10) tensor    {one * 1e3:9.1f} ms   {one / iterations * 1e6:7.1f} us/iteration")
    print(f"  ratio adapter / one loop               {ratio:9.2f}x    (target <= 3)")
    repeat_separate = max(1, repeat // 3)
    ours, separate, ratio = paired(adapter, lambda: separate_torch_loops(problem, X0, iterations), repeat_separate)
    print(f"  64 separate torch loops                {separate * 1e3:9.1f} ms   (medians of {repeat_separate})")
    print(f"  speed-up adapter vs 64 loops           {1 / ratio:9.1f}x    (target >= 20)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()
    main(args.repeat, args.iterations)
