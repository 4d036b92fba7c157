"""Hyperparameters as a batch axis: a sweep equals its cells run one by one, and matches torch.optim."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench.engine.sweep import batch_groups
from optbench.errors import ParameterError

TIMELESS = ["time"]

# every built-in method with a batchable parameter to sweep (two values) and a constant step
METHOD_SWEEPS = {
    "gd": {"method.weight_decay": [0.0, 0.01]},
    "momentum": {"method.momentum": [0.5, 0.9], "method.dampening": [0.0, 0.2]},
    "nesterov": {"method.momentum": [0.5, 0.9]},
    "sign-gd": {"method.weight_decay": [0.0, 0.01]},
    "adagrad": {"method.eps": [1e-10, 1e-6], "method.initial_accumulator_value": [0.0, 0.1]},
    "rmsprop": {"method.alpha": [0.9, 0.99], "method.momentum": [0.0, 0.5]},
    "adadelta": {"method.rho": [0.8, 0.9]},
    "adam": {"method.betas": [(0.9, 0.999), (0.8, 0.99)]},
    "adamw": {"method.weight_decay": [0.0, 0.05]},
    "amsgrad": {"method.betas": [(0.9, 0.999), (0.8, 0.99)]},
    "adamax": {"method.betas": [(0.9, 0.999), (0.8, 0.99)]},
    "nadam": {"method.momentum_decay": [4e-3, 1e-2]},
    "radam": {"method.betas": [(0.9, 0.999), (0.8, 0.9)]},
    "rprop": {"method.etas": [(0.5, 1.2), (0.4, 1.1)]},
    "lion": {"method.betas": [(0.9, 0.99), (0.8, 0.9)]},
}
RULE_SWEEPS = {
    "constant": {"step_rule.lr": [1e-3, 3e-3, 1e-2]},
    "diminishing": {"step_rule.lr": [1e-3, 1e-2], "step_rule.power": [0.5, 1.0]},
    "exponential": {"step_rule.gamma": [0.99, 0.999]},
    "step": {"step_rule.lr": [1e-3, 1e-2]},
    "cosine": {"step_rule.lr": [1e-3, 1e-2], "step_rule.lr_min": [0.0, 1e-4]},
    "polyak": {"step_rule.gamma": [0.5, 1.0]},
    "armijo": {"step_rule.c": [1e-4, 0.1], "step_rule.shrink": [0.5, 0.3]},
    "wolfe": {"step_rule.c2": [0.9, 0.5], "step_rule.lr": [1.0, 0.1]},
    "exact": {"step_rule.lr": [1.0, 0.1]},
    "barzilai-borwein": {"step_rule.lr": [1e-3, 1e-4]},
}


def one_by_one(problem, method, rule, sweep, **kwargs):
    """The same configurations run as separate ob.run calls (no sweep), concatenated."""
    results = []
    paths = list(sweep)
    import itertools

    for values in itertools.product(*(sweep[p] for p in paths)):
        m, r = dict(method), dict(rule)
        for path, value in zip(paths, values):
            target, name = path.split(".")
            (m if target == "method" else r)[name] = value
        results.append(ob.run(problem, m, r, **kwargs))
    return results


def assert_same_tables(swept, alone, exact=True):
    for table in ("runs", "trace", "hits"):
        ours = getattr(swept, table).drop(columns=TIMELESS, errors="ignore").reset_index(drop=True)
        theirs = pd.concat([getattr(r, table) for r in alone], ignore_index=True).drop(columns=TIMELESS, errors="ignore")
        assert list(ours.columns) == list(theirs.columns)
        assert len(ours) == len(theirs) > 0 or table == "hits"
        for column in ours.columns:
            a, b = ours[column].to_numpy(), theirs[column].to_numpy()
            if exact or a.dtype.kind not in "f":
                np.testing.assert_array_equal(a, b, err_msg=f"{table}.{column}")
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=f"{table}.{column}")


@pytest.mark.parametrize("method", sorted(METHOD_SWEEPS))
def test_a_method_sweep_equals_its_cells_bit_for_bit(method):
    sweep = METHOD_SWEEPS[method]
    rule = {"name": "constant", "lr": 1e-3}
    problem = {"name": "rosenbrock", "dim": 4}
    kwargs = dict(seeds=3, max_iter=150, record="log")
    swept = ob.run(problem, method, rule, sweep=sweep, **kwargs)
    assert len(swept.cells) == np.prod([len(v) for v in sweep.values()])
    assert_same_tables(swept, one_by_one(problem, {"name": method}, rule, sweep, **kwargs))


@pytest.mark.parametrize("rule", sorted(RULE_SWEEPS))
@pytest.mark.parametrize("problem", [{"name": "rosenbrock", "dim": 3}, {"name": "sphere", "dim": 5}], ids=["rosenbrock", "sphere"])
def test_a_step_rule_sweep_equals_its_cells_bit_for_bit(rule, problem):
    sweep = RULE_SWEEPS[rule]
    kwargs = dict(seeds=4, max_iter=120, record="all")
    swept = ob.run(problem, "gd", {"name": rule}, sweep=sweep, **kwargs)
    assert_same_tables(swept, one_by_one(problem, {"name": "gd"}, {"name": rule}, sweep, **kwargs))


@pytest.mark.parametrize("rule", ["armijo", "wolfe", "constant"])
def test_a_sweep_on_a_blas_problem_agrees_to_rounding(rule):
    sweep = RULE_SWEEPS[rule]
    problem = {"name": "quadratic", "dim": 8, "condition": 100.0}
    kwargs = dict(seeds=5, max_iter=80, record="log")
    swept = ob.run(problem, "momentum", {"name": rule}, sweep=sweep, **kwargs)
    assert_same_tables(swept, one_by_one(problem, {"name": "momentum"}, {"name": rule}, sweep, **kwargs), exact=False)


def test_the_runs_table_gives_each_run_its_own_parameters():
    lrs = np.logspace(-4, -1, 4)
    res = ob.run("sphere", "gd", "constant", seeds=3, max_iter=10, sweep={"step_rule.lr": lrs})
    assert len(res.runs) == 12 and res.runs["cell"].nunique() == 4
    got = res.runs.groupby("cell", sort=False)["step_params"].first().tolist()
    assert got == [f'{{"lr":{float(lr)!r}}}' for lr in lrs]
    assert res.runs["seed"].tolist() == [0, 1, 2] * 4


def test_sweeps_run_as_one_batch_group_when_batchable():
    pairs = [(ob.methods.create("adam", betas=b), ob.step_rules.create("constant", lr=lr))
             for b in [(0.9, 0.999), (0.8, 0.99)] for lr in [0.1, 0.01]]
    assert batch_groups(pairs) == [[0, 1, 2, 3]]
    # amsgrad is a batch flag (a per-run boolean column): one group
    pairs = [(ob.methods.create("adam", amsgrad=a), ob.step_rules.create("constant")) for a in (False, True)]
    assert batch_groups(pairs) == [[0, 1]]
    # rmsprop's centered is a structural switch, not a number nor a flag: two groups
    pairs = [(ob.methods.create("rmsprop", centered=c), ob.step_rules.create("constant")) for c in (False, True)]
    assert batch_groups(pairs) == [[0], [1]]


def test_a_plugin_without_batchable_parameters_is_swept_one_by_one():
    class Scaled(ob.Method):
        """D = -scale * g, a plugin that declares nothing batchable."""

        def __init__(self, scale: float = 1.0):
            self.scale = float(scale)  # a float conversion would fail on a column: it must never get one

        def direction(self, X, G, state, k):
            return -self.scale * G, state

    ob.register_method("scaled-test")(Scaled)
    try:
        scales = [0.5, 1.0, 2.0]
        res = ob.run({"name": "sphere", "dim": 3}, "scaled-test", {"name": "constant", "lr": 0.1}, seeds=2, max_iter=5, x0=np.ones(3),
                     sweep={"method.scale": scales})
        assert len(res.cells) == 3
        # closed form on the sphere f = sum x^2 (grad 2x): x_k = (1 - 0.2 scale)^k x_0
        for i, scale in enumerate(scales):
            np.testing.assert_allclose(res.x[2 * i], (1 - 0.2 * scale) ** 5 * np.ones(3), rtol=1e-14)
    finally:
        ob.methods.unregister("scaled-test")


def _torch_rosenbrock(torch, x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def _torch_final(torch, x0, optimizer, lr, steps, **options):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, optimizer)([x], lr=lr, **options)
    for _ in range(steps):
        opt.zero_grad()
        _torch_rosenbrock(torch, x).backward()
        opt.step()
    return x.detach().numpy()


@pytest.mark.parametrize("method, path, values, optimizer, option, lr", [
    ("momentum", "method.momentum", [0.3, 0.6, 0.9], "SGD", "momentum", 5e-4),
    ("adam", "method.betas", [(0.9, 0.999), (0.8, 0.99), (0.85, 0.995)], "Adam", "betas", 0.01),
    ("rmsprop", "method.alpha", [0.99, 0.999], "RMSprop", "alpha", 0.005),
])
def test_a_swept_method_parameter_matches_torch_for_each_value(method, path, values, optimizer, option, lr):
    torch = pytest.importorskip("torch")
    x0 = np.array([-1.2, 1.0, 0.5, -0.3])
    res = ob.run({"name": "rosenbrock", "dim": 4}, method, {"name": "constant", "lr": lr}, x0=x0, max_iter=200,
                 sweep={path: values})
    for i, value in enumerate(values):
        theirs = _torch_final(torch, x0, optimizer, lr, 200, **{option: value})
        assert np.linalg.norm(theirs - x0) > 1e-3
        np.testing.assert_allclose(res.x[i], theirs, rtol=1e-9, atol=1e-12)


def test_sweep_errors_name_the_key_and_the_choices():
    with pytest.raises(ParameterError, match=r"sweep: unknown parameter path 'method.lr'\..* Valid parameter paths: method.betas, .*step_rule.lr\.$"):
        ob.run("sphere", "adam", sweep={"method.lr": [0.1]})
    with pytest.raises(ParameterError, match=r"sweep: unknown parameter path 'stepr.lr'\. Did you mean 'step_rule.lr'\?"):
        ob.run("sphere", "adam", sweep={"stepr.lr": [0.1]})
    with pytest.raises(ParameterError, match=r"sweep.step_rule.lr must be a non-empty list or array of values, got \[\]"):
        ob.run("sphere", "adam", sweep={"step_rule.lr": []})
    with pytest.raises(ParameterError, match=r"step rule .constant.: lr must be a number > 0, got -1"):
        ob.run("sphere", "gd", "constant", sweep={"step_rule.lr": [0.1, -1.0]})


# ---------------------------------------------------------------- exact first hits
def _first_hits_from_full_trace(trace, targets):
    """Independent: best-so-far gap per run from a record='all' trace, first row meeting each target."""
    rows = []
    for seed, group in trace.groupby("seed", sort=True):
        best = np.minimum.accumulate(group["f_gap"].to_numpy())
        for target in targets:
            hit = np.flatnonzero(best <= target)
            if len(hit):
                row = group.iloc[hit[0]]
                rows.append((seed, target, row["iteration"], row["f_evals"], row["g_evals"]))
    return rows


@pytest.mark.parametrize("method, rule", [("gd", {"name": "armijo"}), ("adam", {"name": "constant", "lr": 0.05}),
                                          ("momentum", {"name": "wolfe"})])
def test_hits_of_a_log_run_equal_first_hits_of_an_all_run(method, rule):
    from optbench.schema import target_ladder

    kwargs = dict(seeds=4, max_iter=1000)
    log = ob.run({"name": "rosenbrock", "dim": 2}, method, rule, record="log", **kwargs)
    full = ob.run({"name": "rosenbrock", "dim": 2}, method, rule, record="all", **kwargs)
    expected = _first_hits_from_full_trace(full.trace, target_ladder())
    got = [tuple(r) for r in log.hits[["seed", "target", "iteration", "f_evals", "g_evals"]].itertuples(index=False)]
    assert len(expected) > 20
    assert got == expected
    assert len(log.trace) < len(full.trace)  # the log run did not record every iteration


def test_hits_are_empty_without_f_opt_and_marked_nowhere_as_exact():
    res = ob.run("mlp-xor", "adam", seeds=2, max_iter=20)
    assert len(res.hits) == 0 and list(res.hits.columns)[-1] == "estimated"


# ---------------------------------------------------------------- exact budgets
@pytest.mark.parametrize("rule", sorted(RULE_SWEEPS))
def test_max_evals_is_never_exceeded(rule):
    res = ob.run({"name": "quadratic", "dim": 4}, "gd", {"name": rule}, seeds=6, max_iter=None, max_evals=100)
    spent = res.runs["f_evals"] + res.runs["g_evals"]
    assert (res.runs["status"] == "budget").all()
    assert spent.max() <= 100 and spent.min() >= 95  # used, never exceeded
    assert (res.trace["f_evals"] + res.trace["g_evals"]).max() <= 100


def test_a_budget_cut_line_search_stops_at_its_last_accepted_point():
    res = ob.run({"name": "rosenbrock", "dim": 2}, "gd", "armijo", seeds=3, max_iter=None, max_evals=100, record="all")
    for seed, group in res.trace.groupby("seed"):
        last = group.iloc[-1]
        run = res.runs[res.runs["seed"] == seed].iloc[0]
        assert run["f"] == last["f"] and run["status"] == "budget"
        assert np.all(np.diff(group["f"].to_numpy()) <= 0)  # Armijo only accepts decrease
