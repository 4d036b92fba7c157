"""Shared fixtures: small problems defined here, independent of the built-in suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import optbench as ob


class MeanSquares(ob.Problem):
    """Finite sum ``f(x) = (1/n) sum_i ||x - a_i||^2``; minimiser the mean of the a_i."""

    tags = frozenset({"convex", "smooth", "finite-sum"})

    def __init__(self, dim: int = 3, n_samples: int = 10, seed: int = 0):
        self.dim, self.n_samples, self.seed = dim, n_samples, seed
        self.points = np.random.default_rng(seed).standard_normal((n_samples, dim))
        self.x_opt = self.points.mean(axis=0)
        self.f_opt = float(np.mean(np.sum((self.points - self.x_opt) ** 2, axis=1)))

    def value(self, X, batch=None):
        if batch is None:
            diff = X[:, None, :] - self.points[None, :, :]
        else:
            diff = X[:, None, :] - self.points[batch]
        return np.mean(np.sum(diff**2, axis=2), axis=1)

    def grad(self, X, batch=None):
        points = self.points[None] if batch is None else self.points[batch]
        return 2.0 * (X - points.mean(axis=1))


@pytest.fixture(autouse=True, scope="session")
def optimum_cache(tmp_path_factory):
    """Solved optima (``optbench.objectives.optimum``) go to a temporary folder, never the user's cache."""
    from optbench.objectives.optimum import CACHE_ENV

    folder = tmp_path_factory.mktemp("optimum-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))  # subprocesses inherit it
        yield folder


@pytest.fixture
def mean_squares():
    return MeanSquares()


@pytest.fixture
def scratch_registry_names():
    """Names registered by a test are removed afterwards."""
    before = {reg: set(reg.names()) for reg in (ob.problems, ob.methods, ob.step_rules)}
    yield
    for reg, names in before.items():
        for name in set(reg.names()) - names:
            reg.unregister(name)


# ---------------------------------------------------------------- suite files
def _toml(value) -> str:
    """A value as inline TOML: strings quoted, lists ``[a, b]``, tables ``{ key = value }`` (keys with a dot quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _key(key: str) -> str:
    return f'"{key}"' if "." in key else key


def _table(header: str, entries: dict) -> list[str]:
    return [header] + [f"{_key(key)} = {_toml(value)}" for key, value in entries.items()]


GD_CONSTANT = {"name": "gd", "step_rule": {"name": "constant", "lr": [0.1, 0.01]}}


def suite_toml(name: str = "t", seeds=3, budget: dict | None = None, problems=({"name": "sphere", "dim": [2, 3]},),
               methods=(GD_CONSTANT,), tuning: dict | None = None, **top) -> str:
    """The text of a suite file, one key a line (tests edit it with ``str.replace``)::

        name = "t"
        seeds = 3
        [budget]
        max_iter = 20
        [[problems]]
        name = "sphere"
        dim = [2, 3]
        [[methods]]
        name = "gd"
        step_rule = { name = "constant", lr = [0.1, 0.01] }

    ``budget``: the ``[budget]`` table (default ``{"max_iter": 20}``); ``problems``, ``methods``:
    one dict per ``[[problems]]`` / ``[[methods]]`` table; ``tuning``: a ``[tuning]`` table, written
    last; ``top``: further top-level keys (``description``, ``plugins``), written after ``seeds``.
    """
    lines = [f"name = {_toml(name)}", f"seeds = {_toml(seeds)}"] + [f"{key} = {_toml(v)}" for key, v in top.items()]
    lines += _table("[budget]", {"max_iter": 20} if budget is None else budget)
    for problem in problems:
        lines += _table("[[problems]]", problem)
    for method in methods:
        lines += _table("[[methods]]", method)
    if tuning is not None:
        lines += _table("[tuning]", tuning)
    return "\n" + "\n".join(lines) + "\n"


@pytest.fixture
def write_suite(tmp_path):
    """``write_suite(text=None, file="s.toml", **suite_toml arguments)``: the path of a suite file in ``tmp_path``."""

    def write(text: str | None = None, file: str = "s.toml", **arguments) -> Path:
        path = tmp_path / file
        path.write_text(suite_toml(**arguments) if text is None else text)
        return path

    return write
