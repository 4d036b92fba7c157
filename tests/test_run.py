import warnings

import numpy as np
import pandas as pd
import pytest

import optbench as ob
from optbench.errors import ParameterError
from optbench.schema import RUN_COLUMNS, TRACE_COLUMNS

from conftest import MeanSquares


def test_gd_constant_on_quadratic_matches_closed_form():
    """x_k = x* + (I - lr A)^k (x0 - x*), to 1e-12 at every iteration."""
    problem = ob.problems.create("quadratic", dim=6, condition=20.0, seed=3)
    lr = 0.05
    x0 = np.linspace(-1.0, 1.0, 6)
    result = ob.run(problem, "gd", {"name": "constant", "lr": lr}, x0=x0, max_iter=200, record="all")
    contraction = np.eye(6) - lr * problem.A
    power = np.eye(6)
    errors = []
    for k in range(201):
        x_closed = problem.x_opt + power @ (x0 - problem.x_opt)
        f_closed = 0.5 * x_closed @ problem.A @ x_closed - problem.b @ x_closed
        f_traced = result.trace.loc[result.trace["iteration"] == k, "f"].item()
        errors.append(abs(f_traced - f_closed) / max(1.0, abs(f_closed)))
        power = contraction @ power
    assert max(errors) < 1e-12
    x_final = problem.x_opt + np.linalg.matrix_power(contraction, 200) @ (x0 - problem.x_opt)
    np.testing.assert_allclose(result.x[0], x_final, rtol=1e-12, atol=1e-12)


def _trace_of(result, seed):
    columns = ["iteration", "f", "grad_norm", "step_size", "f_evals", "g_evals"]
    return result.trace.loc[result.trace["seed"] == seed, columns].reset_index(drop=True)


def test_64_seeds_batched_equal_each_seed_alone_bit_for_bit_on_sphere():
    """Sphere is elementwise (einsum row sums), so a run's numbers cannot depend on its batch."""
    batched = ob.run(("sphere", {"dim": 5}), "gd", ("constant", {"lr": 0.1}), seeds=64, max_iter=50)
    for seed in (0, 17, 63):
        alone = ob.run(("sphere", {"dim": 5}), "gd", ("constant", {"lr": 0.1}), seeds=[seed], max_iter=50)
        pd.testing.assert_frame_equal(_trace_of(batched, seed), _trace_of(alone, seed), check_exact=True)
        assert np.array_equal(batched.x[seed], alone.x[0])


def test_64_seeds_batched_equal_each_seed_alone_on_quadratic_to_1e_12():
    """The quadratic uses X @ A: BLAS may sum in another order for another batch size, so 1e-12 relative."""
    spec = ("quadratic", {"dim": 10, "condition": 50.0})
    batched = ob.run(spec, "gd", ("constant", {"lr": 0.02}), seeds=64, max_iter=100)
    for seed in (0, 31, 63):
        alone = ob.run(spec, "gd", ("constant", {"lr": 0.02}), seeds=[seed], max_iter=100)
        a, b = _trace_of(batched, seed), _trace_of(alone, seed)
        assert a["iteration"].tolist() == b["iteration"].tolist()
        np.testing.assert_allclose(a["f"], b["f"], rtol=1e-12)
        np.testing.assert_allclose(batched.x[seed], alone.x[0], rtol=1e-12)


def test_starting_points_depend_on_problem_and_seed_only():
    one = ob.run("sphere", "gd", seeds=[4], max_iter=0)
    other_method_rule = ob.run("sphere", "gd", {"name": "constant", "lr": 0.3}, seeds=[9, 4], max_iter=0)
    assert np.array_equal(one.x[0], other_method_rule.x[1])
    assert not np.array_equal(other_method_rule.x[0], other_method_rule.x[1])
    domain = ob.problems.create("sphere").domain
    assert np.all((one.x >= domain[:, 0]) & (one.x <= domain[:, 1]))


def test_divergence_is_marked_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ob.run("sphere", "gd", {"name": "constant", "lr": 10.0}, seeds=3, max_iter=10_000)
    assert result.status == ["diverged"] * 3
    # |1 - 2 lr| = 19 per step: f grows 361x per iteration, past 1e12 (1 + |f0|) within 6 iterations
    assert result.runs["iterations"].max() <= 8


def test_a_diverging_run_does_not_disturb_the_others():
    x0 = np.array([[1.0, 1.0], [1e200, 1e200], [-2.0, 0.5]])
    result = ob.run("sphere", "gd", {"name": "constant", "lr": 0.25}, seeds=3, x0=x0, max_iter=40)
    assert result.status == ["budget", "diverged", "budget"]
    alone = ob.run("sphere", "gd", {"name": "constant", "lr": 0.25}, seeds=1, x0=x0[2], max_iter=40)
    assert np.array_equal(result.x[2], alone.x[0])


def test_counts_time_and_columns():
    result = ob.run("quadratic", "gd", seeds=2, max_iter=30)
    assert list(result.runs.columns) == RUN_COLUMNS
    assert list(result.trace.columns) == TRACE_COLUMNS
    runs = result.runs
    assert (runs["iterations"] == 30).all() and (runs["g_evals"] == 31).all() and (runs["f_evals"] == 0).all()
    assert runs["epochs"].isna().all()  # not a finite sum
    assert (runs["time"] > 0).all()
    assert runs["f_gap"].tolist() == (runs["f"] - runs["f_opt"]).tolist()
    trace = result.trace
    assert trace.groupby("seed")["time"].apply(lambda t: t.is_monotonic_increasing).all()
    last = trace.groupby("seed").tail(1)
    assert last["iteration"].tolist() == [30, 30] and last["step_size"].isna().all()


def test_record_modes():
    log = ob.run("sphere", "gd", max_iter=1000).trace["iteration"].tolist()
    assert log[:5] == [0, 1, 2, 3, 4] and 1000 in log and 100 in log and 101 not in log and len(log) < 50
    every = ob.run("sphere", "gd", max_iter=95, record=10).trace["iteration"].tolist()
    assert every == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert ob.run("sphere", "gd", max_iter=20, record="all").trace["iteration"].tolist() == list(range(21))
    assert ob.run("sphere", "gd", max_iter=20, record="last").trace["iteration"].tolist() == [0, 20]
    with pytest.raises(ParameterError, match=r"record must be 'log', 'all', 'last' or an integer >= 1 \(every k iterations\), got 'sometimes'"):
        ob.run("sphere", "gd", record="sometimes")


def test_tolerances_stop_each_run_on_its_own():
    x0 = np.array([[1e-3, 0.0], [3.0, -4.0]])
    result = ob.run("sphere", "gd", {"name": "constant", "lr": 0.1}, seeds=2, x0=x0, tol=1e-6, max_iter=500)
    assert result.status == ["converged", "converged"]
    # ||g_k|| = 2 * 0.8^k ||x0||: the first k with 2 * 0.8^k ||x0|| <= 1e-6
    expected = [int(np.ceil(np.log(1e-6 / (2 * np.linalg.norm(x))) / np.log(0.8))) for x in x0]
    assert result.runs["iterations"].tolist() == expected
    gap = ob.run("sphere", "gd", {"name": "constant", "lr": 0.1}, x0=[1.0, 0.0], tol={"f_gap": 1e-4})
    assert gap.runs["iterations"].item() == int(np.ceil(np.log(1e-4) / np.log(0.64)))
    with pytest.raises(ParameterError, match="unknown tolerance 'gradient'. Did you mean 'grad'?"):
        ob.run("sphere", "gd", tol={"gradient": 1e-3})


def test_max_evals_budget():
    result = ob.run("sphere", "gd", max_iter=None, max_evals=25)
    assert result.runs["g_evals"].item() == 25 and result.runs["iterations"].item() == 24
    assert result.status == ["budget"]


def test_minibatch_epochs_sample_every_point_once_per_epoch(monkeypatch):
    problem = MeanSquares(dim=2, n_samples=10)
    seen = []
    original = MeanSquares.value_and_grad

    def spy(self, X, batch=None):
        if batch is not None:
            seen.append(batch.copy())
        return original(self, X, batch)

    monkeypatch.setattr(MeanSquares, "value_and_grad", spy)
    result = ob.run(problem, "gd", seeds=3, batch_size=4, max_epochs=2.0, max_iter=None)
    batches = np.concatenate(seen, axis=1)  # (n_runs, samples drawn)
    assert batches.shape[1] >= 20
    for run in batches:
        assert sorted(run[:10]) == list(range(10)) and sorted(run[10:20]) == list(range(10))
    assert not np.array_equal(batches[0, :10], batches[1, :10])  # each run its own permutation
    assert result.runs["epochs"].tolist() == [2.0] * 3
    # 10 samples, batches 4, 4, 2 per epoch: 6 steps in 2 epochs
    assert result.runs["iterations"].tolist() == [6] * 3


def test_minibatch_trace_records_the_full_objective():
    problem = MeanSquares(dim=2, n_samples=10)
    result = ob.run(problem, "gd", seeds=2, batch_size=3, max_iter=12, record="all")
    X_final = result.x
    np.testing.assert_array_equal(result.runs["f"].to_numpy(), problem.value(X_final))
    first = result.trace[result.trace["iteration"] == 0]
    np.testing.assert_array_equal(first["f"].to_numpy(), problem.value(np.stack([
        ob.run(problem, "gd", seeds=[s], max_iter=0).x[0] for s in (0, 1)])))


def test_input_errors_are_clear():
    with pytest.raises(ParameterError, match=r"x0 must have shape \(2,\) or \(n_seeds, dim\) = \(3, 2\), got \(3,\)"):
        ob.run("sphere", "gd", seeds=3, x0=[1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match=r"seeds must be a count of seeds from 1 to 10,000,000 or a non-empty list of distinct integers in \[0, 2\*\*63\), got 0"):
        ob.run("sphere", "gd", seeds=0)
    with pytest.raises(ParameterError, match=r"seeds must not repeat \(1\)"):
        ob.run("sphere", "gd", seeds=[1, 1])
    with pytest.raises(ParameterError, match="batch_size applies to finite-sum problems only, and 'sphere' is not one"):
        ob.run("sphere", "gd", batch_size=4)
    with pytest.raises(ParameterError, match="batch_size must be an integer from 1 to n_samples=10"):
        ob.run(MeanSquares(), "gd", batch_size=11)
    with pytest.raises(ParameterError, match="give a budget"):
        ob.run("sphere", "gd", max_iter=None)
    with pytest.raises(ParameterError, match="max_iter must be an integer >= 0, got 2.5"):
        ob.run("sphere", "gd", max_iter=2.5)


class FixedStepOwnLoop(ob.Method):
    """A method that owns its loop: x <- x - 0.25 g, through the counting oracle."""

    owns_loop = True

    def minimize(self, oracle, x0, max_iter, tol):
        x = x0
        for _ in range(max_iter):
            f, g = oracle.value_and_grad(x)
            oracle.value(x)  # a wasted value call, to check the counts
            x = x - 0.25 * g
            oracle.iteration(x)
        return "budget", x


def test_own_loop_methods_count_and_record_through_the_oracle():
    result = ob.run("sphere", FixedStepOwnLoop(), seeds=2, max_iter=5, record="all")
    # x_k = 0.5^k x0 on the sphere
    start = ob.run("sphere", "gd", seeds=2, max_iter=0).x
    np.testing.assert_allclose(result.x, start * 0.5**5, rtol=1e-15)
    assert result.runs["g_evals"].tolist() == [5, 5] and result.runs["f_evals"].tolist() == [5, 5]
    assert result.trace.groupby("seed")["iteration"].apply(list).tolist() == [list(range(6))] * 2
    with pytest.raises(ParameterError, match="computes its own steps .* takes no step rule"):
        ob.run("sphere", FixedStepOwnLoop(), "constant")


class BoundedAtInfinity(ob.Problem):
    """f = sum tanh(x)^2 stays finite as x runs off to infinity."""

    def __init__(self):
        self.dim = 2

    def value(self, X, batch=None):
        return np.sum(np.tanh(X) ** 2, axis=1)

    def grad(self, X, batch=None):
        return -np.ones_like(X) * 1e308  # pushes x to -inf in two steps


def test_non_finite_x_with_finite_f_is_diverged():
    result = ob.run(BoundedAtInfinity(), "gd", {"name": "constant", "lr": 10.0}, x0=[0.5, 0.5], max_iter=100)
    assert result.status == ["diverged"] and result.runs["iterations"].item() <= 16


def test_scipy_optimize_is_imported_only_when_needed():
    import subprocess
    import sys

    code = ("import sys, optbench as ob\n"
            "ob.run('rosenbrock', 'adam', seeds=2, max_iter=5)\n"
            "assert 'scipy.optimize' not in sys.modules, 'imported by a plain run'\n"
            "ob.run('rosenbrock', 'l-bfgs-b', seeds=1, max_iter=5)\n"
            "assert 'scipy.optimize' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_result_pickled_before_its_tables_are_read_keeps_them():
    # ob.run builds a one-part result's trace and hits columns on first read; pickling (joblib, multiprocessing)
    # must carry them: the same tables as the result read before pickling
    import pickle

    spec = dict(problem={"name": "quadratic", "dim": 4}, method="adam", step_rule={"name": "constant", "lr": 0.05},
                seeds=3, max_iter=200)
    unread = pickle.loads(pickle.dumps(ob.run(**spec)))
    read = ob.run(**spec)
    for table in ("runs", "trace", "hits"):
        a, b = getattr(unread, table), getattr(read, table)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a.drop(columns="time"), b.drop(columns="time"))
