"""Speed of one method step on a (64, 100) batch, against the same update written as plain numpy.

Run: python benchmarks/bench_methods.py
Prints, for every method, the median time of ``direction`` + ``X + alpha * D`` and the
ratio to a straightforward numpy function of the same update (target: <= 2x), and the
time of one Armijo step (direction -g) on a (64, 100) quadratic.
"""

from __future__ import annotations

import timeit

import numpy as np

import optbench as ob
from optbench.objectives.convex import Quadratic

N_RUNS, DIM = 64, 100
rng = np.random.default_rng(0)
X0 = rng.standard_normal((N_RUNS, DIM))
G0 = rng.standard_normal((N_RUNS, DIM))
LR = np.full((N_RUNS, 1), 1e-3)  # per-run step sizes, as the run loop applies them


def plain_gd(X, G, s, t):
    return X - LR * G


def plain_momentum(X, G, s, t):
    s["b"] = 0.9 * s["b"] + G
    return X - LR * s["b"]


def plain_nesterov(X, G, s, t):
    s["b"] = 0.9 * s["b"] + G
    return X - LR * (G + 0.9 * s["b"])


def plain_sign(X, G, s, t):
    return X - LR * np.sign(G)


def plain_adagrad(X, G, s, t):
    s["s"] = s["s"] + G * G
    return X - LR * G / (np.sqrt(s["s"]) + 1e-10)


def plain_rmsprop(X, G, s, t):
    s["v"] = 0.99 * s["v"] + 0.01 * G * G
    return X - LR * G / (np.sqrt(s["v"]) + 1e-8)


def plain_adadelta(X, G, s, t):
    s["v"] = 0.9 * s["v"] + 0.1 * G * G
    delta = np.sqrt(s["u"] + 1e-6) / np.sqrt(s["v"] + 1e-6) * G
    s["u"] = 0.9 * s["u"] + 0.1 * delta * delta
    return X - LR * delta


def plain_adam(X, G, s, t, amsgrad=False, decay=0.0):
    s["m"] = 0.9 * s["m"] + 0.1 * G
    s["v"] = 0.999 * s["v"] + 0.001 * G * G
    v = s["v"]
    if amsgrad:
        s["vmax"] = np.maximum(s["vmax"], v)
        v = s["vmax"]
    return X * (1 - LR * decay) - LR / (1 - 0.9**t) * s["m"] / (np.sqrt(v) / np.sqrt(1 - 0.999**t) + 1e-8)


def plain_adamax(X, G, s, t):
    s["m"] = 0.9 * s["m"] + 0.1 * G
    s["u"] = np.maximum(0.999 * s["u"], np.abs(G) + 1e-8)
    return X - LR / (1 - 0.9**t) * s["m"] / s["u"]


def plain_nadam(X, G, s, t):
    mu = 0.9 * (1 - 0.5 * 0.96 ** (t * 0.004))
    mu_next = 0.9 * (1 - 0.5 * 0.96 ** ((t + 1) * 0.004))
    s["p"] = s.get("p", 1.0) * mu
    s["m"] = 0.9 * s["m"] + 0.1 * G
    s["v"] = 0.999 * s["v"] + 0.001 * G * G
    denom = np.sqrt(s["v"] / (1 - 0.999**t)) + 1e-8
    return X - LR * (1 - mu) / (1 - s["p"]) * G / denom - LR * mu_next / (1 - s["p"] * mu_next) * s["m"] / denom


def plain_radam(X, G, s, t):
    s["m"] = 0.9 * s["m"] + 0.1 * G
    s["v"] = 0.999 * s["v"] + 0.001 * G * G
    rho_inf = 2 / 0.001 - 1
    rho = rho_inf - 2 * t * 0.999**t / (1 - 0.999**t)
    m_hat = s["m"] / (1 - 0.9**t)
    if rho > 5:
        rect = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        return X - LR * m_hat * np.sqrt(1 - 0.999**t) / (np.sqrt(s["v"]) + 1e-8) * rect
    return X - LR * m_hat


def plain_rprop(X, G, s, t):
    product = G * s["prev"]
    s["f"] = np.clip(s["f"] * np.where(product > 0, 1.2, np.where(product < 0, 0.5, 1.0)), 1e-4, 5000)
    G = np.where(product < 0, 0.0, G)
    s["prev"] = G
    return X - LR * np.sign(G) * s["f"]


def plain_lion(X, G, s, t):
    update = np.sign(0.9 * s["m"] + 0.1 * G)
    s["m"] = 0.99 * s["m"] + 0.01 * G
    return X - LR * update


PLAIN = {
    "gd": plain_gd, "momentum": plain_momentum, "nesterov": plain_nesterov, "sign-gd": plain_sign,
    "adagrad": plain_adagrad, "rmsprop": plain_rmsprop, "adadelta": plain_adadelta, "adam": plain_adam,
    "adamw": lambda X, G, s, t: plain_adam(X, G, s, t, decay=0.01),
    "amsgrad": lambda X, G, s, t: plain_adam(X, G, s, t, amsgrad=True),
    "adamax": plain_adamax, "nadam": plain_nadam, "radam": plain_radam, "rprop": plain_rprop, "lion": plain_lion,
}


def plain_state():
    zeros = lambda: np.zeros((N_RUNS, DIM))  # noqa: E731
    return {"b": zeros(), "s": zeros(), "v": zeros(), "u": zeros(), "m": zeros(), "vmax": zeros(),
            "prev": zeros(), "f": np.ones((N_RUNS, DIM))}


def median_time(fn, number=200, repeat=15):
    return float(np.median(timeit.repeat(fn, number=number, repeat=repeat)) / number)


def bench_methods():
    print(f"one step on a ({N_RUNS}, {DIM}) batch: direction + X + alpha * D   (median of {15} x 200)")
    print(f"{'method':<10} {'optbench':>12} {'plain numpy':>12} {'ratio':>7}")
    ratios = {}
    for name in sorted(PLAIN):
        method = ob.methods.create(name)
        state = method.init(X0)
        counter = {"k": 10}
        alpha = np.full(N_RUNS, 1e-3)

        def ours():
            D, _ = method.direction(X0, G0, state, counter["k"])
            return X0 + alpha[:, None] * D

        plain = PLAIN[name]
        s = plain_state()

        def theirs():
            return plain(X0, G0, s, 11)

        t_ours, t_plain = median_time(ours), median_time(theirs)
        ratios[name] = t_ours / t_plain
        print(f"{name:<10} {t_ours * 1e6:>10.1f}us {t_plain * 1e6:>10.1f}us {ratios[name]:>7.2f}")
    print(f"worst ratio: {max(ratios.values()):.2f} ({max(ratios, key=ratios.get)})")


def bench_armijo():
    from optbench.engine.context import Evaluator, StepContext

    problem = Quadratic(dim=DIM, condition=100.0, seed=0)
    loop = Evaluator(problem, N_RUNS, None, None)
    ctx = StepContext(problem.f_opt, loop)
    F, G = problem.value_and_grad(X0)
    ctx.k, ctx.X, ctx.F, ctx.G, ctx.D, ctx.active = 0, X0, F, G, -G, np.ones(N_RUNS, dtype=bool)
    rule = ob.step_rules.create("armijo")
    state = rule.init(N_RUNS)
    t_step = median_time(lambda: rule.step(ctx, state), number=20)
    t_eval = median_time(lambda: problem.value(X0), number=200)
    trials = loop.f_evals.sum() / (N_RUNS * 20 * 15 + 0.0)
    print(f"armijo step on a ({N_RUNS}, {DIM}) quadratic (condition 100): {t_step * 1e6:.1f}us; "
          f"one batched f evaluation {t_eval * 1e6:.1f}us; ratio {t_step / t_eval:.1f} "
          f"(about {trials:.1f} trials per run per step)")


if __name__ == "__main__":
    bench_methods()
    bench_armijo()
