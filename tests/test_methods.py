"""Descent methods: parity with torch.optim iterate for iterate, and the batch contract.

Test objectives are defined here (as ob.Problem subclasses and as torch functions)
so that these tests do not depend on the built-in objectives.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import optbench as ob
from optbench.errors import ParameterError
N_STEPS = 200
RTOL = 1e-8


# ---------------------------------------------------------------- test objectives
class TestQuadratic(ob.Problem):
    """f(x) = 0.5 x.A.x - b.x with a fixed SPD A (condition about 20)."""

    __test__ = False

    def __init__(self, dim: int = 5, seed: int = 1):
        rng = np.random.default_rng(seed)
        Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.dim = dim
        self.A = (Q * np.linspace(1.0, 20.0, dim)) @ Q.T
        self.A = 0.5 * (self.A + self.A.T)
        self.b = rng.standard_normal(dim)
        self.x_opt = np.linalg.solve(self.A, self.b)
        self.f_opt = float(-0.5 * self.b @ self.x_opt)

    def value(self, X, batch=None):
        return 0.5 * np.einsum("ij,jk,ik->i", X, self.A, X) - X @ self.b

    def grad(self, X, batch=None):
        return X @ self.A - self.b

    def torch_value(self, x):
        import torch

        A, b = torch.tensor(self.A), torch.tensor(self.b)
        return 0.5 * x @ (A @ x) - b @ x


class TestRosenbrock(ob.Problem):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2."""

    __test__ = False
    f_opt = 0.0

    def __init__(self, dim: int = 4):
        self.dim = dim

    def value(self, X, batch=None):
        return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2, axis=1)

    def grad(self, X, batch=None):
        G = np.zeros_like(X)
        inner = X[:, 1:] - X[:, :-1] ** 2
        G[:, :-1] = -400.0 * X[:, :-1] * inner - 2.0 * (1.0 - X[:, :-1])
        G[:, 1:] += 200.0 * inner
        return G

    def torch_value(self, x):
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


class TestLogistic(ob.Problem):
    """Mean logistic loss log(1 + exp(-y a.x)) on fixed random data, labels +-1 (a finite sum)."""

    __test__ = False

    def __init__(self, dim: int = 3, n_samples: int = 30, seed: int = 2):
        rng = np.random.default_rng(seed)
        self.dim, self.n_samples = dim, n_samples
        self.features = rng.standard_normal((n_samples, dim))
        self.labels = np.where(rng.random(n_samples) < 0.5, -1.0, 1.0)

    def _data(self, batch):
        if batch is None:
            return self.features[None], self.labels[None]
        return self.features[batch], self.labels[batch]

    def value(self, X, batch=None):
        features, labels = self._data(batch)
        margins = labels * np.einsum("rnd,rd->rn", features, X)
        return np.mean(np.logaddexp(0.0, -margins), axis=1)

    def grad(self, X, batch=None):
        features, labels = self._data(batch)
        margins = labels * np.einsum("rnd,rd->rn", features, X)
        weights = -labels * 0.5 * (1.0 - np.tanh(0.5 * margins))  # -y * sigmoid(-margin)
        return np.einsum("rn,rnd->rd", weights, features) / features.shape[1]

    def torch_value(self, x):
        import torch

        features, labels = torch.tensor(self.features), torch.tensor(self.labels)
        return torch.nn.functional.softplus(-labels * (features @ x)).mean()


PROBLEMS = {
    "quadratic": (TestQuadratic(), np.array([1.0, -2.0, 0.5, 3.0, -1.0])),
    "rosenbrock": (TestRosenbrock(), np.array([-1.2, 1.0, -0.5, 0.8])),
    "logistic": (TestLogistic(), np.array([0.5, -0.3, 1.0])),
}


def test_test_objectives_gradients_match_finite_differences():
    for problem, x0 in PROBLEMS.values():
        X = np.stack([x0, x0 + 0.3])
        assert np.all(ob.gradient_error(problem, X) < 1e-6)


# ---------------------------------------------------------------- torch reference
def torch_iterates(problem, x0, optimizer_name, lr, options, steps=N_STEPS):
    torch = pytest.importorskip("torch")
    # NAdam keeps its momentum product in torch's default scalar dtype; float64 here, as ours.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _torch_iterates(torch, problem, x0, optimizer_name, lr, options, steps)
    finally:
        torch.set_default_dtype(previous)


def _torch_iterates(torch, problem, x0, optimizer_name, lr, options, steps):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, optimizer_name)([x], lr=lr, **options)
    iterates = []
    for _ in range(steps):
        optimizer.zero_grad()
        problem.torch_value(x).backward()
        optimizer.step()
        iterates.append(x.detach().numpy().copy())
    return np.array(iterates)


def our_iterates(problem, x0, method, lr, steps=N_STEPS):
    """Drive init/direction directly: x_{k+1} = x_k + lr * D_k."""
    X = x0[None, :].copy()
    state = method.init(X)
    iterates = []
    for k in range(steps):
        D, state = method.direction(X, problem.grad(X), state, k)
        X = X + lr * D
        iterates.append(X[0].copy())
    return np.array(iterates)


def assert_iterates_close(ours, theirs, rtol=RTOL):
    assert np.all(np.isfinite(theirs))
    scale = np.maximum(np.linalg.norm(theirs, axis=1), 1.0)
    error = np.linalg.norm(ours - theirs, axis=1) / scale
    worst = int(np.argmax(error))
    assert error.max() <= rtol, f"iterate {worst}: relative error {error[worst]:.3g} > {rtol}"


# (our method name, our params, torch optimizer, torch options)
CASES = [
    ("gd", {}, "SGD", {}),
    ("gd", {"weight_decay": 0.1}, "SGD", {"weight_decay": 0.1}),
    ("momentum", {}, "SGD", {"momentum": 0.9}),
    ("momentum", {"momentum": 0.5, "dampening": 0.3, "weight_decay": 0.05}, "SGD",
     {"momentum": 0.5, "dampening": 0.3, "weight_decay": 0.05}),
    ("nesterov", {}, "SGD", {"momentum": 0.9, "nesterov": True}),
    ("nesterov", {"momentum": 0.7, "weight_decay": 0.05}, "SGD", {"momentum": 0.7, "nesterov": True, "weight_decay": 0.05}),
    ("adagrad", {}, "Adagrad", {}),
    ("adagrad", {"lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1, "eps": 1e-8}, "Adagrad",
     {"lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("rmsprop", {}, "RMSprop", {}),
    ("rmsprop", {"centered": True}, "RMSprop", {"centered": True}),
    ("rmsprop", {"centered": True, "momentum": 0.8, "weight_decay": 0.05}, "RMSprop",
     {"centered": True, "momentum": 0.8, "weight_decay": 0.05}),
    ("rmsprop", {"eps": 1e-6, "weight_decay": 0.05}, "RMSprop", {"eps": 1e-6, "weight_decay": 0.05}),
    ("rmsprop", {"momentum": 0.5}, "RMSprop", {"momentum": 0.5}),
    ("adadelta", {}, "Adadelta", {}),
    ("adadelta", {"rho": 0.8, "eps": 1e-5, "weight_decay": 0.05}, "Adadelta", {"rho": 0.8, "eps": 1e-5, "weight_decay": 0.05}),
    ("adam", {}, "Adam", {}),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}, "Adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    ("adam", {"weight_decay": 0.05, "decoupled_weight_decay": True}, "Adam", {"weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("adamw", {}, "AdamW", {}),
    ("adamw", {"weight_decay": 0.1, "amsgrad": True}, "AdamW", {"weight_decay": 0.1, "amsgrad": True}),
    ("amsgrad", {}, "Adam", {"amsgrad": True}),
    ("amsgrad", {"weight_decay": 0.05}, "Adam", {"amsgrad": True, "weight_decay": 0.05}),
    ("adamax", {}, "Adamax", {}),
    ("adamax", {"betas": (0.8, 0.99), "weight_decay": 0.05}, "Adamax", {"betas": (0.8, 0.99), "weight_decay": 0.05}),
    ("nadam", {}, "NAdam", {}),
    ("nadam", {"momentum_decay": 0.01, "weight_decay": 0.05}, "NAdam", {"momentum_decay": 0.01, "weight_decay": 0.05}),
    ("nadam", {"weight_decay": 0.05, "decoupled_weight_decay": True}, "NAdam", {"weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("radam", {}, "RAdam", {}),
    ("radam", {"weight_decay": 0.05}, "RAdam", {"weight_decay": 0.05}),
    ("radam", {"weight_decay": 0.05, "decoupled_weight_decay": True}, "RAdam", {"weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("rprop", {}, "Rprop", {}),
    ("rprop", {"etas": (0.4, 1.1), "step_bounds": (1e-3 / 0.01, 0.5 / 0.01)}, "Rprop",
     {"etas": (0.4, 1.1), "step_sizes": (1e-3, 0.5)}),
]

# Learning rates per method and problem. With a constant rate, adaptive and
# momentum methods end in an oscillation around the optimum where rounding
# differences (torch's fused multiply-adds) grow exponentially; these rates keep
# 200 steps out of that regime, where a faithful implementation agrees to ~1e-15.
LR = {"quadratic": 0.02, "rosenbrock": 5e-4, "logistic": 0.1}
LR_BY_METHOD = {
    "adagrad": {"quadratic": 0.05, "rosenbrock": 0.01, "logistic": 0.05},
    "rmsprop": {"quadratic": 0.005, "rosenbrock": 0.005, "logistic": 0.01},
    "adadelta": {"quadratic": 0.2, "rosenbrock": 0.2, "logistic": 1.0},
    "adam": {"quadratic": 0.05, "rosenbrock": 0.01, "logistic": 0.05},
    "adamax": {"quadratic": 0.05, "rosenbrock": 0.01, "logistic": 0.05},
    "nadam": {"quadratic": 0.02, "rosenbrock": 0.01, "logistic": 0.05},
    "radam": {"quadratic": 0.05, "rosenbrock": 0.002, "logistic": 0.05},
    "rprop": {"quadratic": 0.01, "rosenbrock": 0.01, "logistic": 0.01},
}
LR_BY_METHOD["adamw"] = LR_BY_METHOD["amsgrad"] = LR_BY_METHOD["adam"]


def learning_rate(name, problem_name):
    return LR_BY_METHOD.get(name, LR)[problem_name]


def _case_id(case):
    name, params = case[0], case[1]
    return name + ("-" + "-".join(sorted(params)) if params else "")


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_iterates_match_torch(problem_name, case):
    name, params, torch_name, torch_options = case
    problem, x0 = PROBLEMS[problem_name]
    lr = learning_rate(name, problem_name)
    theirs = torch_iterates(problem, x0, torch_name, lr, torch_options)
    ours = our_iterates(problem, x0, ob.methods.create(name, **params), lr)
    # the iterates moved (a method that did nothing would trivially "agree" with itself)
    assert np.linalg.norm(theirs[-1] - x0) > 1e-3
    assert_iterates_close(ours, theirs)


@pytest.mark.parametrize("name, params, torch_name, torch_options", [
    ("adam", {}, "Adam", {}),
    ("rmsprop", {"centered": True}, "RMSprop", {"centered": True}),
    ("nesterov", {}, "SGD", {"momentum": 0.9, "nesterov": True}),
])
def test_run_loop_reproduces_torch(name, params, torch_name, torch_options):
    """Through ob.run: final iterate and every recorded f agree with torch.optim."""
    torch = pytest.importorskip("torch")
    problem, x0 = PROBLEMS["rosenbrock"]
    lr = learning_rate(name, "rosenbrock")
    res = ob.run(problem, {"name": name, **params}, {"name": "constant", "lr": lr}, x0=x0, max_iter=N_STEPS, record="all")
    theirs = torch_iterates(problem, x0, torch_name, lr, torch_options)
    assert_iterates_close(res.x, theirs[-1:])
    f_torch = [float(problem.torch_value(torch.tensor(x))) for x in theirs[:-1]]
    f_ours = res.trace["f"].to_numpy()[1:N_STEPS]
    np.testing.assert_allclose(f_ours, f_torch, rtol=1e-7, atol=1e-12)


def test_lion_matches_its_update_rule_written_out():
    """Lion has no torch implementation: compare with the paper's update written per coordinate."""
    problem, x0 = PROBLEMS["rosenbrock"]
    lr, beta1, beta2, decay = 1e-3, 0.9, 0.99, 0.1
    x, m = x0.copy(), np.zeros_like(x0)
    expected = []
    for _ in range(50):
        g = problem.grad(x[None])[0]
        update = [np.sign(beta1 * mi + (1 - beta1) * gi) for mi, gi in zip(m, g)]
        x = np.array([xi - lr * (ui + decay * xi) for xi, ui in zip(x, update)])
        m = beta2 * m + (1 - beta2) * g
        expected.append(x.copy())
    ours = our_iterates(problem, x0, ob.methods.create("lion", weight_decay=decay), lr, steps=50)
    assert_iterates_close(ours, np.array(expected), rtol=1e-12)


def test_sign_gd_moves_every_coordinate_by_the_step():
    problem, x0 = PROBLEMS["quadratic"]
    method = ob.methods.create("sign-gd")
    G = problem.grad(x0[None])
    D, _ = method.direction(x0[None], G, method.init(x0[None]), 0)
    np.testing.assert_array_equal(np.abs(D), 1.0)
    np.testing.assert_array_equal(np.sign(D), -np.sign(G))


# ---------------------------------------------------------------- batch contract
@pytest.mark.parametrize("name", sorted(set(ob.methods.names()) & {
    "gd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "amsgrad",
    "adamax", "nadam", "radam", "rprop", "lion", "sign-gd"}))
def test_runs_never_mix(name):
    """A run's directions are the same alone and inside a batch of 8 (elementwise state)."""
    problem, _ = PROBLEMS["rosenbrock"]
    rng = np.random.default_rng(0)
    X = 1.0 + 0.3 * rng.standard_normal((8, problem.dim))
    method = ob.methods.create(name)
    batch_state, alone_states = method.init(X), [method.init(X[i : i + 1]) for i in range(8)]
    for k in range(20):
        G = problem.grad(X)
        D, batch_state = method.direction(X, G, batch_state, k)
        for i in range(8):
            D_i, alone_states[i] = method.direction(X[i : i + 1], G[i : i + 1], alone_states[i], k)
            np.testing.assert_array_equal(D[i], D_i[0])
        X = X + 1e-4 * D


def test_default_step_rules_are_torch_learning_rates():
    expected = {"adam": 1e-3, "adamw": 1e-3, "amsgrad": 1e-3, "adagrad": 1e-2, "rmsprop": 1e-2, "adadelta": 1.0,
                "rprop": 1e-2, "adamax": 2e-3, "nadam": 2e-3, "radam": 1e-3, "lion": 1e-4}
    for name, lr in expected.items():
        assert ob.methods.get(name).default_step_rule == {"name": "constant", "lr": lr}


@pytest.mark.parametrize("name, params, fragment", [
    ("adam", {"betas": (0.9, 1.0)}, "method 'adam': betas must be a pair (a number in [0, 1), a number in [0, 1)), got (0.9, 1.0)"),
    ("momentum", {"momentum": -0.1}, "momentum"),
    ("rmsprop", {"alpha": 1.5}, "alpha"),
    ("rprop", {"etas": (1.5, 1.2)}, "method 'rprop': etas must be a pair (a number in (0, 1), a number > 1)"),
    ("nesterov", {"momentum": 0.0}, "momentum"),
    ("adagrad", {"eps": -1.0}, "method 'adagrad': eps must be a number >= 0, got -1.0"),
    ("adamw", {"weight_decay": float("inf")}, "method 'adamw': weight_decay must be a number >= 0, got inf"),
])
def test_bad_hyperparameters_are_clear_errors(name, params, fragment):
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        ob.methods.create(name, **params)


def test_unknown_parameter_names_the_valid_ones():
    with pytest.raises(ParameterError, match="betas"):
        ob.methods.create("adam", beta=(0.9, 0.99))


# ---------------------------------------------------------------- batch / mini-batch / stochastic gd
@pytest.mark.parametrize("batch_size", [1, 7, 10])
def test_minibatches_visit_every_sample_once_per_epoch(batch_size):
    """gd with batch_size=B: in each epoch every run sees every sample exactly once, each run its own order."""
    problem = TestLogistic(n_samples=30)
    seen = []

    class Spy(TestLogistic):
        def value_and_grad(self, X, batch=None):
            if batch is not None and X.shape[0] == 4:
                seen.append(np.array(batch))
            return super().value_and_grad(X, batch)

    spy = Spy(n_samples=30)
    epochs = 3
    steps_per_epoch = -(-problem.n_samples // batch_size)
    ob.run(spy, "gd", {"name": "constant", "lr": 0.1}, seeds=4, max_iter=epochs * steps_per_epoch - 1, batch_size=batch_size, record="last")
    batches = seen[: epochs * steps_per_epoch]
    assert len(batches) == epochs * steps_per_epoch
    orders = []
    for epoch in range(epochs):
        order = np.concatenate(batches[epoch * steps_per_epoch : (epoch + 1) * steps_per_epoch], axis=1)
        assert order.shape == (4, problem.n_samples)
        for run in range(4):
            np.testing.assert_array_equal(np.sort(order[run]), np.arange(problem.n_samples))
        orders.append(order)
    if batch_size < problem.n_samples:
        # each run its own permutation, and a new one each epoch
        assert not np.array_equal(orders[0][0], orders[0][1])
        assert not np.array_equal(orders[0][0], orders[1][0])


def test_full_batch_gd_is_gradient_descent_on_the_mean():
    problem, x0 = PROBLEMS["logistic"]
    res = ob.run(problem, "gd", {"name": "constant", "lr": 0.5}, x0=x0, max_iter=30, record="last")
    x = x0.copy()
    for _ in range(30):
        x = x - 0.5 * problem.grad(x[None])[0]
    np.testing.assert_allclose(res.x[0], x, rtol=1e-12)
