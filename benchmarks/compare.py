"""Speed of the harness against hand-written numpy, measured in one process.

Prints a table of medians (seconds) and ratios. Run: ``python benchmarks/compare.py``.
Every comparison is of the same arithmetic: the hand loops do the update and record
f every step, as ``ob.run`` does with ``record="all"``.
"""

from __future__ import annotations

import argparse
import datetime
import platform

import numpy as np

import optbench as ob

try:  # benchmarks/ is on the path when run as a script
    from timing import median_time, paired
except ImportError:  # imported as benchmarks.<module> (asv)
    from benchmarks.timing import median_time, paired

ITERATIONS = 1000


def hand_gd_quadratic(problem, X0, lr, iterations):
    """gd on 0.5 x.A.x - b.x with f recorded every step, on a (n_runs, dim) array."""
    A, b = problem.A, problem.b
    X = X0.copy()
    fs = np.empty((iterations + 1, X.shape[0]))
    for k in range(iterations + 1):
        AX = X @ A
        fs[k] = np.vecdot(X, 0.5 * AX - b)
        if k == iterations:
            break
        X = X - lr * (AX - b)
    return X, fs


def gd_rows():
    problem = ob.problems.create("quadratic", dim=10, condition=10.0)
    rule = {"name": "constant", "lr": 0.05}
    X1 = ob.run(problem, "gd", rule, seeds=1, max_iter=0).x
    X64 = ob.run(problem, "gd", rule, seeds=64, max_iter=0).x
    hand_1 = lambda: hand_gd_quadratic(problem, X1, 0.05, ITERATIONS)
    hand_64 = lambda: hand_gd_quadratic(problem, X64, 0.05, ITERATIONS)
    run_1 = lambda record: lambda: ob.run(problem, "gd", rule, seeds=1, max_iter=ITERATIONS, record=record)
    run_64 = lambda record: lambda: ob.run(problem, "gd", rule, seeds=64, max_iter=ITERATIONS, record=record)
    with_tables = lambda: (lambda r: (r.runs, r.trace))(run_1("all")())
    separate_64 = lambda: [ob.run(problem, "gd", rule, seeds=[s], max_iter=ITERATIONS) for s in range(64)]
    rows = [
        ("gd 10-D quadratic, 1 seed, record=log", *paired(run_1("log"), hand_1), "hand loop, 1 seed"),
        ("gd 10-D quadratic, 1 seed, record=all", *paired(run_1("all"), hand_1), "hand loop, 1 seed"),
        ("  same, building .runs and .trace", *paired(with_tables, hand_1), "hand loop, 1 seed"),
        ("gd, 64 seeds batched, record=log", *paired(run_64("log"), run_1("log")), "ob.run, 1 seed, record=log"),
        ("gd, 64 seeds batched, record=log", *paired(run_64("log"), hand_64), "hand loop on (64, 10)"),
        ("gd, 64 seeds batched, record=all", *paired(run_64("all"), hand_64), "hand loop on (64, 10)"),
        ("gd, 64 separate ob.run calls", *paired(separate_64, run_64("log"), repeat=3), "64 seeds batched"),
    ]
    return rows


def torch_adam_rows():
    """A whole ob.run of adam on 10-D Rosenbrock against torch.optim.Adam with autograd (1 seed, f every step)."""
    try:
        import torch
    except ImportError:
        print("(torch not installed: torch rows skipped)")
        return []
    torch.set_num_threads(1)
    problem = ob.problems.create("rosenbrock", dim=10)
    x0 = ob.run(problem, "adam", seeds=1, max_iter=0).x[0]

    def torch_adam():
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([x], lr=1e-3)
        fs = []
        for _ in range(ITERATIONS):
            optimizer.zero_grad()
            f = torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
            f.backward()
            optimizer.step()
            fs.append(f.item())
        return fs

    ours = lambda: ob.run(problem, "adam", {"name": "constant", "lr": 1e-3}, x0=x0, max_iter=ITERATIONS, record="all")
    return [("adam 10-D Rosenbrock, ob.run, record=all", *paired(ours, torch_adam, repeat=5), "torch.optim.Adam + autograd")]


def backprop_rows():
    """Forward + backward of MLP([2, 32, 32, 1]) on 256 samples: hand-written numpy, torch eager; 16 runs batched."""
    from bench_backprop import SIZES, hand_written  # this folder is on sys.path when run as a script

    from optbench.backprop import MLP

    rng = np.random.default_rng(0)
    net = MLP(SIZES, hidden="relu", output="sigmoid", loss="mse")
    X = rng.normal(size=(256, SIZES[0]))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    theta, thetas = net.init_params(rng), net.init_params(rng, n_runs=16)
    params = [a.copy() for Wb in net.unflatten(theta) for a in Wb]
    ours = lambda: net.loss_and_grad(theta, X, y)
    repeat = lambda fn, n=100: (lambda: [fn() for _ in range(n)])
    rows = [
        ("backprop [2,32,32,1], 256 samples (x100)", *paired(repeat(ours), repeat(lambda: hand_written(X, y[:, None], *params))),
         "hand-written numpy net (x100)"),
        ("backprop, 16 runs in one call (x20)", *paired(repeat(lambda: net.loss_and_grad(thetas, X, y), 20),
                                                        repeat(lambda: [net.loss_and_grad(t, X, y) for t in thetas], 20)),
         "16 single-run calls (x20)"),
    ]
    try:
        import torch
    except ImportError:
        return rows
    tensors = [torch.tensor(a, requires_grad=True) for a in params]
    tX, ty = torch.tensor(X), torch.tensor(y[:, None])

    def torch_step():
        W1, b1, W2, b2, W3, b3 = tensors
        h = torch.relu(tX @ W1 + b1)
        h = torch.relu(h @ W2 + b2)
        loss = torch.nn.functional.mse_loss(torch.sigmoid(h @ W3 + b3), ty)
        return loss.item(), torch.autograd.grad(loss, tensors)

    rows.append(("backprop [2,32,32,1], 256 samples (x100)", *paired(repeat(ours), repeat(torch_step)), "torch eager autograd (x100)"))
    return rows


EXTRA_ROWS = [torch_adam_rows, backprop_rows]  # producers of (label, ours, baseline, ratio, baseline label) rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    print(f"optbench {ob.__version__} on {platform.machine()} {platform.processor() or ''}, "
          f"Python {platform.python_version()}, numpy {np.__version__}, {datetime.date.today()}")
    rows = gd_rows()
    for producer in EXTRA_ROWS:
        rows += producer()
    width = max(len(r[0]) for r in rows)
    print(f"{'measured':<{width}}  {'median s':>9}  {'baseline':<28} {'median s':>9}  {'ratio':>7}")
    for label, ours, base, ratio, base_label in rows:
        print(f"{label:<{width}}  {ours:9.5f}  {base_label:<28} {base:9.5f}  {ratio:6.2f}x")
    print("ratio: median over repeats of (ours / baseline) timed alternately")


if __name__ == "__main__":
    main()
