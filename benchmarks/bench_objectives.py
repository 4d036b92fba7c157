"""Speed of the batched test functions against plain numpy expressions of the same formulas.

Run as a script:  python benchmarks/bench_objectives.py

For rosenbrock and rastrigin on X of shape (64, 100): value, gradient and
value_and_grad through optbench vs a minimal numpy expression written here.
Also the full-batch and minibatch (B = 32) value_and_grad of linear-regression
and logistic-regression for 64 runs. Times are medians over `timeit.repeat`;
ratios are optbench / plain (the goal: within 2x). Importing this module does
nothing heavy.

BLAS runs single-threaded here (OPENBLAS_NUM_THREADS=1 unless already set): on a
shared 2-core machine a multi-threaded BLAS oversubscribes the cores and makes the
small matrix products of the finite sums 10-100x slower and erratic.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import timeit  # noqa: E402

import numpy as np  # noqa: E402

RUNS, DIM = 64, 100


def median_time(fn, number=200, repeat=15):
    fn()
    return float(np.median(timeit.repeat(fn, number=number, repeat=repeat))) / number


def plain_rosenbrock_value(X):
    return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2, axis=1)


def plain_rosenbrock_grad(X):
    G = np.zeros_like(X)
    G[:, :-1] = -400.0 * X[:, :-1] * (X[:, 1:] - X[:, :-1] ** 2) - 2.0 * (1.0 - X[:, :-1])
    G[:, 1:] += 200.0 * (X[:, 1:] - X[:, :-1] ** 2)
    return G


def plain_rastrigin_value(X):
    return 10.0 * X.shape[1] + np.sum(X**2 - 10.0 * np.cos(2 * np.pi * X), axis=1)


def plain_rastrigin_grad(X):
    return 2.0 * X + 20.0 * np.pi * np.sin(2 * np.pi * X)


def main():
    import optbench as ob

    X = np.random.default_rng(0).uniform(-2, 2, (RUNS, DIM))
    print(f"X of shape ({RUNS}, {DIM}); median seconds per call; ratio = optbench / plain numpy")
    plain = {
        "rosenbrock": (plain_rosenbrock_value, plain_rosenbrock_grad),
        "rastrigin": (plain_rastrigin_value, plain_rastrigin_grad),
    }
    for name, (value, grad) in plain.items():
        problem = ob.problems.create(name, dim=DIM)
        np.testing.assert_allclose(problem.value(X), value(X), rtol=1e-12)
        np.testing.assert_allclose(problem.grad(X), grad(X), rtol=1e-12, atol=1e-9)
        rows = [
            ("value", lambda: problem.value(X), lambda: value(X)),
            ("grad", lambda: problem.grad(X), lambda: grad(X)),
            ("value_and_grad", lambda: problem.value_and_grad(X), lambda: (value(X), grad(X))),
        ]
        for label, ours, theirs in rows:
            t_ours, t_plain = median_time(ours), median_time(theirs)
            print(f"  {name:<11} {label:<15} optbench {t_ours * 1e6:8.1f} us   plain {t_plain * 1e6:8.1f} us   "
                  f"ratio {t_ours / t_plain:5.2f}")

    rng = np.random.default_rng(1)
    for name in ("linear-regression", "logistic-regression"):
        problem = ob.problems.create(name, n_samples=1000, n_features=20)
        W = rng.standard_normal((RUNS, problem.dim))
        batch = rng.integers(0, problem.n_samples, (RUNS, 32))
        t_full = median_time(lambda: problem.value_and_grad(W), number=50)
        t_mini = median_time(lambda: problem.value_and_grad(W, batch), number=50)
        one = W[:1]
        t_single = median_time(lambda: problem.value_and_grad(one), number=50)
        print(f"  {name:<20} n=1000, 64 runs: full batch {t_full * 1e6:8.1f} us "
              f"({t_full / t_single:5.1f}x one run's {t_single * 1e6:.1f} us); minibatch B=32 {t_mini * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
