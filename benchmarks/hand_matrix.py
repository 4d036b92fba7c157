"""The runs of benchmarks/matrix.toml written by hand: one numpy loop per (problem, method), 10 seeds as a (10, dim) array.

The problems' values and gradients come from optbench (the same arithmetic for both
sides); the updates are torch.optim's rules with torch's default learning rates,
hand-vectorised; f is kept at every iteration. No storage, no tables: this is the
floor that the harness is measured against (benchmarks/bench_matrix.py).
"""

from __future__ import annotations

import numpy as np

import optbench as ob

PROBLEMS = [("sphere", {"dim": 10}), ("rosenbrock", {"dim": 10}), ("rastrigin", {"dim": 10}), ("ackley", {"dim": 10}),
            ("griewank", {"dim": 10}), ("styblinski-tang", {"dim": 10}), ("quadratic", {"dim": 10}),
            ("logistic-regression", {})]
SEEDS, ITERATIONS = 10, 1000


def gd(G, s, t):
    return -0.01 * G


def momentum(G, s, t, mu=0.9):
    s["b"] = G.copy() if t == 1 else mu * s["b"] + G
    return -0.01 * s["b"]


def nesterov(G, s, t, mu=0.9):
    s["b"] = G.copy() if t == 1 else mu * s["b"] + G
    return -0.01 * (G + mu * s["b"])


def sign_gd(G, s, t):
    return -0.01 * np.sign(G)


def adagrad(G, s, t):
    s["v"] = s.get("v", 0.0) + G * G
    return -0.01 * G / (np.sqrt(s["v"]) + 1e-10)


def rmsprop(G, s, t, a=0.99):
    s["v"] = a * s.get("v", 0.0) + (1 - a) * G * G
    return -0.01 * G / (np.sqrt(s["v"]) + 1e-8)


def adadelta(G, s, t, rho=0.9, eps=1e-6):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * G * G
    delta = np.sqrt(s.get("u", 0.0) + eps) / np.sqrt(s["v"] + eps) * G
    s["u"] = rho * s.get("u", 0.0) + (1 - rho) * delta * delta
    return -1.0 * delta


def adam(G, s, t, b1=0.9, b2=0.999):
    s["m"] = s.get("m", 0.0) + (1 - b1) * (G - s.get("m", 0.0))
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * G * G
    return -0.001 * (s["m"] / (1 - b1**t)) / (np.sqrt(s["v"]) / np.sqrt(1 - b2**t) + 1e-8)


def adamax(G, s, t, b1=0.9, b2=0.999):
    s["m"] = s.get("m", 0.0) + (1 - b1) * (G - s.get("m", 0.0))
    s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(G) + 1e-8)
    return -0.002 * s["m"] / s["u"] / (1 - b1**t)


def lion(G, s, t, b1=0.9, b2=0.99):
    m = s.get("m", np.zeros_like(G))
    step = -1e-4 * np.sign(m + (1 - b1) * (G - m))
    s["m"] = m + (1 - b2) * (G - m)
    return step


METHODS = [gd, momentum, nesterov, sign_gd, adagrad, rmsprop, adadelta, adam, adamax, lion]


def main() -> None:
    finals = []
    with np.errstate(all="ignore"):
        for name, params in PROBLEMS:
            problem = ob.problems.create(name, **params)
            rngs = [np.random.default_rng(seed) for seed in range(SEEDS)]
            X0 = np.stack([problem.initial_point(rng, 1)[0] for rng in rngs])
            for update in METHODS:
                X, state, fs = X0.copy(), {}, np.empty((ITERATIONS + 1, SEEDS))
                for k in range(ITERATIONS + 1):
                    F, G = problem.value_and_grad(X)
                    fs[k] = F
                    if k < ITERATIONS:
                        X = X + update(G, state, k + 1)
                finals.append(fs[-1])
    print(f"{len(finals) * SEEDS} runs, median final f {np.nanmedian(np.concatenate(finals)):.4g}")


if __name__ == "__main__":
    main()
