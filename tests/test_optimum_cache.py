"""Optima solved on first read and kept on disk (optbench/objectives/optimum.py), checked against scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq, minimize

import optbench as ob
from optbench.objectives import optimum
from optbench.objectives.convex import LogisticRegression


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh disk cache and an empty memory cache."""
    monkeypatch.setenv(optimum.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(optimum, "_MEMORY", {})
    return tmp_path


def _refuse(*args, **kwargs):
    raise AssertionError("solved again instead of reading the cache")


def test_f_opt_is_solved_on_first_read_and_matches_an_independent_scipy_solve(cache, monkeypatch):
    problem = ob.problems.create("logistic-regression", l2=0.01)
    assert "_lazy_optimum" not in problem.__dict__  # nothing solved at creation
    assert list(cache.glob("optimum/*.json")) == []

    def loss(x):
        F, G = problem.value_and_grad(x[None])
        return F[0], G[0]

    truth = minimize(loss, np.zeros(problem.dim), jac=True, method="BFGS", options={"gtol": 1e-11})
    assert problem.f_opt == pytest.approx(truth.fun, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(problem.x_opt, truth.x, atol=1e-6)
    assert len(list(cache.glob("optimum/*.json"))) == 1


def test_a_second_process_reads_the_same_bits_from_disk(cache, monkeypatch):
    first = LogisticRegression(seed=3)
    f_opt, x_opt = first.f_opt, first.x_opt.copy()
    monkeypatch.setattr(optimum, "_MEMORY", {})  # a new process: memory empty, disk kept
    monkeypatch.setattr(LogisticRegression, "_solve", _refuse)
    again = LogisticRegression(seed=3)
    assert again.f_opt == f_opt and np.array_equal(again.x_opt, x_opt)  # bit for bit
    other = LogisticRegression(seed=4)  # other data: another key, solved
    with pytest.raises(AssertionError, match="solved again"):
        other.f_opt


def test_separable_data_keeps_its_infimum_and_no_minimiser(cache, monkeypatch):
    problem = LogisticRegression(separable=True)
    assert problem.f_opt == 0.0 and problem.x_opt is None
    monkeypatch.setattr(optimum, "_MEMORY", {})
    again = LogisticRegression(separable=True)
    assert again.f_opt == 0.0 and again.x_opt is None


def test_a_damaged_or_foreign_cache_file_is_solved_again(cache, monkeypatch):
    problem = LogisticRegression(seed=5)
    f_opt = problem.f_opt
    (path,) = cache.glob("optimum/*.json")
    path.write_text("{not json")
    monkeypatch.setattr(optimum, "_MEMORY", {})
    assert LogisticRegression(seed=5).f_opt == f_opt
    stored = json.loads(path.read_text())
    stored["key"], stored["f_opt"] = "another problem", 123.0
    path.write_text(json.dumps(stored))
    monkeypatch.setattr(optimum, "_MEMORY", {})
    assert LogisticRegression(seed=5).f_opt == f_opt


def test_an_empty_cache_variable_keeps_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv(optimum.CACHE_ENV, "")
    monkeypatch.setattr(optimum, "_MEMORY", {})
    assert optimum.cache_folder() is None
    assert LogisticRegression(seed=6).f_opt > 0
    assert list(tmp_path.rglob("*.json")) == []


def test_styblinski_tang_minimiser_is_kept_and_is_the_root_of_its_derivative(cache, monkeypatch):
    root = brentq(lambda t: 4 * t**3 - 32 * t + 5, -4.0, -2.0, xtol=1e-15, rtol=1e-15)
    problem = ob.problems.create("styblinski-tang", dim=3)
    np.testing.assert_array_equal(problem.x_opt, np.full(3, root))
    assert problem.f_opt == pytest.approx(3 * 0.5 * (root**4 - 16 * root**2 + 5 * root), rel=1e-15)
    monkeypatch.setattr(optimum, "_MEMORY", {})
    monkeypatch.setattr(type(problem), "minimisers", _refuse)
    again = ob.problems.create("styblinski-tang", dim=3)
    assert again.f_opt == problem.f_opt and np.array_equal(again.x_opt, problem.x_opt)


def test_assigning_f_opt_sets_it_without_a_solve(monkeypatch):
    monkeypatch.setattr(LogisticRegression, "_solve", _refuse)
    problem = LogisticRegression(seed=7)
    problem.f_opt = 0.25
    assert problem.f_opt == 0.25
