"""Speed of optbench.backprop against a hand-written numpy net and PyTorch.

Run as a script:  python benchmarks/bench_backprop.py

(a) forward + backward of MLP([2, 32, 32, 1]) (relu, sigmoid + mse) on 256
    samples, one run, float64: optbench vs a minimal hand-written numpy
    version of the same net vs PyTorch eager autograd (if importable);
(b) 16 runs in one batched call vs 16 separate single-run calls, on the full
    batch (256 samples) and with a minibatch of 32 samples per run.

Each comparison interleaves its contestants (A, B, A, B, ...) in `repeat`
rounds of `timeit`, and reports median times and the median of the per-round
ratios, which is robust to a machine whose speed drifts. Importing this
module does nothing heavy.
"""

import sys
import timeit

import numpy as np
from scipy.special import expit

SIZES = [2, 32, 32, 1]
N = 256
RUNS = 16


def compare(fns, number, repeat=21):
    """Median seconds per call of each function, and per-round times."""
    for fn in fns:
        fn()  # warm up
    rounds = np.array([[timeit.timeit(fn, number=number) / number for fn in fns]
                       for _ in range(repeat)])
    return np.median(rounds, axis=0), rounds


def hand_written(X, y, W1, b1, W2, b2, W3, b3):
    """Minimal numpy forward/backward of [2, 32, 32, 1], relu, sigmoid + mse."""
    z1 = X @ W1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ W2 + b2
    h2 = np.maximum(z2, 0)
    z3 = h2 @ W3 + b3
    p = expit(z3)
    r = p - y
    loss = np.mean(r * r)
    dz3 = (2 / r.size) * r * p * (1 - p)
    gW3, gb3 = h2.T @ dz3, dz3.sum(0)
    dz2 = (dz3 @ W3.T) * (z2 > 0)
    gW2, gb2 = h1.T @ dz2, dz2.sum(0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    gW1, gb1 = X.T @ dz1, dz1.sum(0)
    return loss, (gW1, gb1, gW2, gb2, gW3, gb3)


def main():
    from optbench.backprop import MLP

    rng = np.random.default_rng(0)
    net = MLP(SIZES, hidden="relu", output="sigmoid", loss="mse")
    X = rng.normal(size=(N, SIZES[0]))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    theta = net.init_params(rng)
    thetas = net.init_params(rng, n_runs=RUNS)
    params = [a.copy() for Wb in net.unflatten(theta) for a in Wb]
    y2 = y[:, None]

    # Both compute the same numbers.
    l_ob, g_ob = net.loss_and_grad(theta, X, y)
    l_hw, g_hw = hand_written(X, y2, *params)
    assert np.isclose(l_ob, l_hw)
    assert np.allclose(g_ob, np.concatenate([g.ravel() for g in g_hw]))

    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"(a) forward+backward, sizes {SIZES}, relu, sigmoid+mse, "
          f"{N} samples, 1 run, float64")
    ours = lambda: net.loss_and_grad(theta, X, y)
    (t_ob, t_hw), r = compare([ours, lambda: hand_written(X, y2, *params)], 1000)
    print(f"    optbench.backprop      {t_ob * 1e6:8.1f} us")
    print(f"    hand-written numpy     {t_hw * 1e6:8.1f} us")
    print(f"    optbench / hand-written = {np.median(r[:, 0] / r[:, 1]):.2f}"
          "  (goal <= 1.3)")

    try:
        import torch
    except ImportError:
        print("    torch not importable: skipped")
    else:
        tp = [torch.tensor(a, requires_grad=True) for a in params]
        tX, ty = torch.tensor(X), torch.tensor(y2)

        def torch_step():
            W1, b1, W2, b2, W3, b3 = tp
            h = torch.relu(tX @ W1 + b1)
            h = torch.relu(h @ W2 + b2)
            p = torch.sigmoid(h @ W3 + b3)
            loss = torch.nn.functional.mse_loss(p, ty)
            return loss.item(), torch.autograd.grad(loss, tp)

        default_threads = torch.get_num_threads()
        for threads in sorted({default_threads, 1}, reverse=True):
            torch.set_num_threads(threads)
            (t_ob, t_pt), r = compare([ours, torch_step], 300)
            print(f"    torch {torch.__version__} eager autograd, {threads} thread(s): "
                  f"{t_pt * 1e6:8.1f} us; torch / optbench = "
                  f"{np.median(r[:, 1] / r[:, 0]):.2f}  (goal >= 3)")
        torch.set_num_threads(default_threads)

    print(f"(b) {RUNS} runs: one batched call vs {RUNS} single-run calls")
    idx = rng.integers(0, N, (RUNS, 32))
    cases = {
        f"full batch, {N} samples": (
            lambda: net.loss_and_grad(thetas, X, y),
            lambda: [net.loss_and_grad(t, X, y) for t in thetas]),
        "minibatch of 32 per run": (
            lambda: net.loss_and_grad(thetas, X, y, idx=idx),
            lambda: [net.loss_and_grad(t, X, y, idx=i) for t, i in zip(thetas, idx)]),
    }
    for label, (batched, separate) in cases.items():
        (t_b, t_s), r = compare([batched, separate], 50)
        print(f"    {label}: batched {t_b * 1e6:7.0f} us, separate "
              f"{t_s * 1e6:7.0f} us, speed-up {np.median(r[:, 1] / r[:, 0]):.2f}x"
              "  (goal >= 6)")


if __name__ == "__main__":
    main()
