"""Step-size rules: schedules against torch's schedulers and closed forms, line-search conditions, batching."""

from __future__ import annotations

import numpy as np
import pytest

import optbench as ob
from optbench.errors import ParameterError
from test_methods import PROBLEMS, TestQuadratic, TestRosenbrock


class FakeContext:
    """A StepContext stand-in for calling a rule directly; counts the evaluations charged per run."""

    def __init__(self, problem, X, D, k=0):
        self.problem, self.X, self.D, self.k = problem, X, D, k
        self.F, self.G = problem.value(X), problem.grad(X)
        self.f_opt, self.batch = problem.f_opt, None
        self.n_runs = X.shape[0]
        self.active = np.ones(self.n_runs, dtype=bool)
        self.f_evals = np.zeros(self.n_runs, dtype=int)
        self.g_evals = np.zeros(self.n_runs, dtype=int)

    def line(self, alpha, need_grad=False, mask=None):
        charged = self.active if mask is None else mask & self.active
        X = self.X + np.asarray(alpha)[:, None] * self.D
        if need_grad:
            self.g_evals += charged
            return self.problem.value(X), self.problem.grad(X)
        self.f_evals += charged
        return self.problem.value(X)

    def reuse(self, mask):
        self.reused = mask.copy()


def random_points(problem, n=16, seed=0, scale=1.0):
    return 0.5 + scale * np.random.default_rng(seed).standard_normal((n, problem.dim))


# ---------------------------------------------------------------- schedules
def torch_schedule(scheduler_name, lr, steps, **options):
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = getattr(torch.optim.lr_scheduler, scheduler_name)(optimizer, **options)
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(values)


def our_schedule(rule, steps, n_runs=3):
    problem = PROBLEMS["quadratic"][0]
    X = np.zeros((n_runs, problem.dim))
    ctx = FakeContext(problem, X, -problem.grad(X))
    state = rule.init(n_runs)
    values = []
    for k in range(steps):
        ctx.k = k
        alpha, state = rule.step(ctx, state)
        assert alpha.shape == (n_runs,) and np.all(alpha == alpha[0])
        values.append(alpha[0])
    return np.array(values)


def test_exponential_matches_torch_exponential_lr():
    ours = our_schedule(ob.step_rules.create("exponential", lr=0.1, gamma=0.95), 60)
    np.testing.assert_allclose(ours, torch_schedule("ExponentialLR", 0.1, 60, gamma=0.95), rtol=1e-12)


def test_step_matches_torch_step_lr():
    ours = our_schedule(ob.step_rules.create("step", lr=0.1, step_size=7, gamma=0.5), 40)
    np.testing.assert_allclose(ours, torch_schedule("StepLR", 0.1, 40, step_size=7, gamma=0.5), rtol=1e-12)


def test_cosine_matches_torch_cosine_annealing():
    ours = our_schedule(ob.step_rules.create("cosine", lr=0.1, t_max=30, lr_min=0.01), 45)
    theirs = torch_schedule("CosineAnnealingLR", 0.1, 31, T_max=30, eta_min=0.01)
    np.testing.assert_allclose(ours[:31], theirs, rtol=1e-10)
    np.testing.assert_allclose(ours[31:], 0.01)


def test_cosine_warmup_is_linear_then_anneals():
    rule = ob.step_rules.create("cosine", lr=0.2, t_max=20, warmup=5)
    ours = our_schedule(rule, 25)
    np.testing.assert_allclose(ours[:5], 0.2 * np.arange(1, 6) / 5)
    np.testing.assert_allclose(ours[5:21], [0.2 * 0.5 * (1 + np.cos(np.pi * j / 15)) for j in range(16)])


def test_diminishing_is_lr_over_power_of_k():
    ours = our_schedule(ob.step_rules.create("diminishing", lr=0.5, decay=0.1, power=0.5), 30)
    np.testing.assert_allclose(ours, [0.5 / np.sqrt(1 + 0.1 * k) for k in range(30)], rtol=1e-14)


# ---------------------------------------------------------------- Polyak
def test_polyak_on_gd_is_gap_over_squared_gradient_norm():
    problem = PROBLEMS["quadratic"][0]
    X = random_points(problem)
    ctx = FakeContext(problem, X, -problem.grad(X))
    rule = ob.step_rules.create("polyak")
    alpha, _ = rule.step(ctx, rule.init(len(X)))
    expected = [(problem.value(x[None])[0] - problem.f_opt) / np.sum(problem.grad(x[None]) ** 2) for x in X]
    np.testing.assert_allclose(alpha, expected, rtol=1e-12)


def test_polyak_without_f_opt_is_a_clear_error_and_the_estimate_works():
    problem = PROBLEMS["logistic"][0]
    assert problem.f_opt is None
    with pytest.raises(ParameterError, match="f_opt.*estimate"):
        ob.run(problem, "gd", "polyak", x0=PROBLEMS["logistic"][1], max_iter=5)
    res = ob.run(problem, "gd", {"name": "polyak", "estimate": True, "gamma": 0.1}, x0=PROBLEMS["logistic"][1], max_iter=200)
    assert res.f[0] < problem.value(PROBLEMS["logistic"][1][None])[0]


# ---------------------------------------------------------------- line searches
def scaled_direction(G, seed=1):
    """A descent direction that is not -g: -g scaled per coordinate by positive factors."""
    return -G * np.random.default_rng(seed).uniform(0.2, 2.0, G.shape)


@pytest.mark.parametrize("warm_start", [False, True])
def test_armijo_accepts_only_sufficient_decrease(warm_start):
    problem = TestRosenbrock()
    rule = ob.step_rules.create("armijo", c=0.3, warm_start=warm_start)
    state = rule.init(16)
    X = random_points(problem)
    for k in range(10):
        G = problem.grad(X)
        D = scaled_direction(G, seed=k)
        ctx = FakeContext(problem, X, D, k)
        alpha, state = rule.step(ctx, state)
        slope = np.sum(G * D, axis=1)
        assert np.all(alpha > 0)
        assert np.all(problem.value(X + alpha[:, None] * D) <= ctx.F + 0.3 * alpha * slope)
        if not warm_start:
            # the step before the accepted one (alpha / shrink) was tried and failed
            backtracked = alpha < 1.0
            bigger = alpha[backtracked] / 0.5
            assert np.all(problem.value(X[backtracked] + bigger[:, None] * D[backtracked]) > ctx.F[backtracked] + 0.3 * bigger * slope[backtracked])
            # one f evaluation per trial: log2(1 / alpha) + 1
            np.testing.assert_array_equal(ctx.f_evals, np.round(np.log2(1.0 / alpha)).astype(int) + 1)
        X = X + alpha[:, None] * D


def test_wolfe_accepts_steps_that_satisfy_both_strong_wolfe_conditions():
    problem = TestRosenbrock()
    c1, c2 = 1e-4, 0.5
    rule = ob.step_rules.create("wolfe", c1=c1, c2=c2)
    state = rule.init(16)
    X = random_points(problem, scale=0.7)
    for k in range(10):
        G = problem.grad(X)
        D = scaled_direction(G, seed=k) / (1.0 + np.linalg.norm(G, axis=1, keepdims=True))
        ctx = FakeContext(problem, X, D, k)
        alpha, state = rule.step(ctx, state)
        assert np.all(state["failures"] == 0)
        slope = np.sum(G * D, axis=1)
        X_new = X + alpha[:, None] * D
        assert np.all(alpha > 0)
        assert np.all(problem.value(X_new) <= ctx.F + c1 * alpha * slope)
        assert np.all(np.abs(np.sum(problem.grad(X_new) * D, axis=1)) <= c2 * np.abs(slope))
        assert np.all(ctx.f_evals == 0) and np.all(ctx.g_evals >= 1)
        X = X_new


def test_exact_line_search_on_a_quadratic_gives_the_closed_form_step():
    problem = TestQuadratic()
    X = random_points(problem, n=8, scale=3.0)
    G = problem.grad(X)
    for D in (-G, scaled_direction(G)):
        ctx = FakeContext(problem, X, D)
        rule = ob.step_rules.create("exact")
        alpha, _ = rule.step(ctx, rule.init(len(X)))
        closed_form = -np.sum(G * D, axis=1) / np.einsum("ij,jk,ik->i", D, problem.A, D)
        np.testing.assert_allclose(alpha, closed_form, rtol=1e-6)


@pytest.mark.parametrize("variant", ["long", "short"])
def test_barzilai_borwein_on_a_quadratic_matches_its_formula(variant):
    problem = TestQuadratic()
    rule = ob.step_rules.create("barzilai-borwein", variant=variant, lr=0.01)
    state = rule.init(4)
    X = random_points(problem, n=4)
    X_previous = None
    for k in range(8):
        G = problem.grad(X)
        ctx = FakeContext(problem, X, -G, k)
        alpha, state = rule.step(ctx, state)
        if X_previous is None:
            np.testing.assert_array_equal(alpha, 0.01)
        else:
            s = X - X_previous
            As = s @ problem.A  # y = A s on a quadratic
            expected = np.sum(s * s, 1) / np.sum(s * As, 1) if variant == "long" else np.sum(s * As, 1) / np.sum(As * As, 1)
            np.testing.assert_allclose(alpha, expected, rtol=1e-8)
            eigenvalues = np.linalg.eigvalsh(problem.A)
            assert np.all((alpha >= 1 / eigenvalues.max() - 1e-12) & (alpha <= 1 / eigenvalues.min() + 1e-12))
        X_previous, X = X, X - alpha[:, None] * G


@pytest.mark.parametrize("rule_name", ["armijo", "wolfe", "exact"])
def test_non_descent_direction_takes_no_step_and_is_recorded(rule_name):
    problem = TestQuadratic()
    X = random_points(problem, n=4)
    G = problem.grad(X)
    D = -G.copy()
    D[1] = G[1]  # ascent for run 1
    ctx = FakeContext(problem, X, D)
    rule = ob.step_rules.create(rule_name)
    alpha, state = rule.step(ctx, rule.init(4))
    assert alpha[1] == 0.0 and np.all(alpha[[0, 2, 3]] > 0)
    np.testing.assert_array_equal(state["non_descent"], [0, 1, 0, 0])
    assert ctx.f_evals[1] == 0 and ctx.g_evals[1] == 0


def test_armijo_failure_within_max_backtracks_takes_no_step():
    problem = TestRosenbrock()
    X = random_points(problem, n=3)
    G = problem.grad(X)
    ctx = FakeContext(problem, X, -G)
    rule = ob.step_rules.create("armijo", lr=1e3, max_backtracks=2)
    alpha, state = rule.step(ctx, rule.init(3))
    np.testing.assert_array_equal(alpha, 0.0)
    np.testing.assert_array_equal(state["failures"], 1)
    np.testing.assert_array_equal(ctx.f_evals, 3)


# ---------------------------------------------------------------- batching and counting in the run loop
@pytest.mark.parametrize("step_rule", ["armijo", {"name": "wolfe", "c2": 0.5}, "exact", {"name": "barzilai-borwein"}])
def test_a_batch_of_32_runs_gives_each_run_the_trace_it_gets_alone(step_rule):
    problem = TestRosenbrock()
    X0 = random_points(problem, n=32, scale=0.5)
    batch = ob.run(problem, "gd", step_rule, seeds=32, x0=X0, max_iter=25, record="all").trace
    columns = ["iteration", "f_evals", "g_evals", "f", "grad_norm", "step_size"]
    for i in (0, 7, 31):
        alone = ob.run(problem, "gd", step_rule, seeds=[i], x0=X0[i : i + 1], max_iter=25, record="all").trace
        mine = batch[batch["seed"] == i].reset_index(drop=True)
        for column in columns:
            np.testing.assert_array_equal(mine[column].to_numpy(), alone[column].to_numpy(), err_msg=column)


def test_line_search_evaluations_are_charged_to_the_run():
    """f_evals of an armijo run = trials implied by its accepted steps (1 + log2(lr / alpha) each)."""
    problem = TestRosenbrock()
    X0 = random_points(problem, n=4, scale=0.5)
    res = ob.run(problem, "gd", "armijo", seeds=4, x0=X0, max_iter=30, record="all")
    for seed, trace in res.trace.groupby("seed"):
        steps = trace["step_size"].to_numpy()[:-1]
        trials = np.round(np.log2(1.0 / steps)).astype(int) + 1
        # a row at iteration k counts what was spent to reach x_k: the trials of iterations 0..k-1
        expected = np.concatenate([[0], np.cumsum(trials)])
        np.testing.assert_array_equal(trace["f_evals"].to_numpy(), expected)
        np.testing.assert_array_equal(trace["g_evals"].to_numpy(), np.arange(1, len(trace) + 1))


# ---------------------------------------------------------------- subgradient method
class L1(ob.Problem):
    """f(x) = ||x||_1, subgradient sign(x); f_opt = 0 at 0."""

    dim = 2
    f_opt = 0.0

    def value(self, X, batch=None):
        return np.abs(X).sum(axis=1)

    def grad(self, X, batch=None):
        return np.sign(X)


@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_subgradient_constant_step_stalls_at_a_distance_proportional_to_lr(lr):
    # every coordinate moves by exactly lr, so it ends oscillating between r and lr - r,
    # where r = x0_i mod lr: f stays between 0.75 lr and 2 lr forever.
    x0 = np.array([1.0 + 0.3 * lr, -2.0 - 0.45 * lr])
    res = ob.run(L1(), "gd", {"name": "constant", "lr": lr}, x0=x0, max_iter=2000 if lr == 0.1 else 4000, record="all")
    tail = res.trace["f"].to_numpy()[-200:]
    assert tail.min() >= 0.7 * lr
    assert tail.max() <= 2.0 * lr


def test_subgradient_diminishing_step_converges_where_constant_stalls():
    x0 = np.array([1.03, -2.045])
    constant = ob.run(L1(), "gd", {"name": "constant", "lr": 0.1}, x0=x0, max_iter=3000)
    diminishing = ob.run(L1(), "gd", {"name": "diminishing", "lr": 1.0, "decay": 1.0, "power": 1.0}, x0=x0, max_iter=3000)
    assert constant.f[0] >= 0.07
    assert diminishing.f[0] <= 2e-3
    longer = ob.run(L1(), "gd", {"name": "diminishing", "lr": 1.0}, x0=x0, max_iter=30000)
    assert longer.f[0] <= diminishing.f[0] / 5  # keeps converging, like 1/k


@pytest.mark.parametrize("name, params, fragment", [
    ("armijo", {"c": 1.5}, "c must be"),
    ("wolfe", {"c1": 0.9, "c2": 0.1}, "c1 < c2"),
    ("barzilai-borwein", {"variant": "longg"}, "long"),
    ("cosine", {"warmup": 2000}, "warmup"),
    ("diminishing", {"power": 2.0}, "power"),
])
def test_bad_parameters_are_clear_errors(name, params, fragment):
    with pytest.raises(ParameterError, match=fragment):
        ob.step_rules.create(name, **params)


def test_wolfe_does_not_charge_the_accepted_point_twice():
    """On the sphere from D = -g, the first trial a = 0.25 halves x and meets both Wolfe conditions
    (f drops to 1/4, |slope| to 1/2 of its start): one gradient evaluation per step, plus the first."""
    result = ob.run(("sphere", {"dim": 3}), "gd", {"name": "wolfe", "lr": 0.25}, seeds=4, max_iter=20, record="all")
    start = ob.run(("sphere", {"dim": 3}), "gd", seeds=4, max_iter=0).x
    np.testing.assert_allclose(result.x, start * 0.5**20, rtol=1e-15)
    assert result.runs["g_evals"].tolist() == [21] * 4 and result.runs["f_evals"].tolist() == [0] * 4
    assert result.trace.groupby("seed")["g_evals"].apply(list).tolist() == [list(range(1, 22))] * 4


class Ascent(ob.Method):
    """D = +g: never a descent direction (g.d = ||g||^2 > 0)."""

    def direction(self, X, G, state, k):
        return G.copy(), state


@pytest.mark.parametrize("rule", ["armijo", "wolfe", "exact"])
def test_line_search_fallbacks_are_recorded_in_the_runs_table(rule):
    """A non-descent direction takes no step, and every such step is counted in the runs table."""
    result = ob.run(("sphere", {"dim": 3}), Ascent(), rule, seeds=3, max_iter=7)
    start = ob.run(("sphere", {"dim": 3}), "gd", seeds=3, max_iter=0).x
    np.testing.assert_array_equal(result.x, start)
    assert result.runs["step_non_descent"].tolist() == [7, 7, 7]
    assert result.runs["f_evals"].tolist() == [0, 0, 0]  # no trial spent on a direction that cannot descend


def test_armijo_counters_count_backtracks():
    """Armijo from lr=1 (shrink 1/2) on the sphere with D = -g, so x + a D = (1 - 2a) x: a = 1 fails
    ((1-2a)^2 = 1), a = 1/2 passes and lands exactly on 0. From there g = 0, g.d = 0: no descent direction."""
    result = ob.run(("sphere", {"dim": 2}), "gd", {"name": "armijo", "lr": 1.0, "shrink": 0.5}, seeds=2, max_iter=5)
    assert result.x.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert result.runs["step_backtracks"].tolist() == [1, 1]
    assert result.runs["step_non_descent"].tolist() == [4, 4]
    assert result.runs["step_failures"].tolist() == [0, 0]
    assert result.runs["f_evals"].tolist() == [2, 2]
