"""The cell: its canonical description, its key, and what it needs of its problem.

A cell is one problem instance x one method (with its parameters) x one step rule
(with its parameters) x one batch size; its key is a hash of its canonical
description. ``incompatibility`` is the one place that decides whether a cell can
run at all (a step rule that needs ``f_opt``, a minibatch on a problem that is
not a finite sum, a step rule given to a method that owns its loop, ...): ``ob.run``
raises its message, and suite files leave such combinations out with it. Its parts
``step_rule_incompatibility`` and ``budget_incompatibility`` answer alone where a
suite file knows only the method or only the problem (and say so at the key path),
and ``default_step_rule`` is the one rule for the step rule a method gets unnamed.
"""

from __future__ import annotations

from typing import Any

from optbench.problem import Problem
from optbench.registry import spec_of
from optbench.seeding import canonical, key_hash

__all__ = ["describe", "incompatibility", "step_rule_incompatibility", "budget_incompatibility", "requirements",
           "problem_key", "takes_step_rule", "default_step_rule"]


def takes_step_rule(method: Any) -> bool:
    """Whether a method (instance or class) moves by ``alpha * D`` with a step rule.

    Methods that own their loop (scipy's, ``owns_loop``) or compute the next iterate
    themselves (``updates_iterate``, e.g. torch optimizers) take none.
    """
    return not (getattr(method, "owns_loop", False) or getattr(method, "updates_iterate", False))


def default_step_rule(method: Any) -> dict[str, Any] | None:
    """The step rule a method (instance or class) runs with when none is named: its ``default_step_rule``
    as a ``{"name": ..., **params}`` spec, or None when it takes no step rule."""
    if not takes_step_rule(method):
        return None
    default = method.default_step_rule
    return {"name": default} if isinstance(default, str) else dict(default)


def describe(problem: Problem, method: Any, step_rule: Any, batch_size: int | None) -> dict[str, Any]:
    """The canonical description of a cell, with its key under ``"cell"``."""
    problem_name, problem_params = spec_of(problem)
    method_name, method_params = spec_of(method)
    step_name, step_params = spec_of(step_rule) if step_rule is not None else ("none", {})
    description = {
        "problem": problem_name,
        "problem_params": canonical(problem_params),
        "dim": int(problem.dim),
        "method": method_name,
        "method_params": canonical(method_params),
        "step_rule": step_name,
        "step_params": canonical(step_params),
        "batch_size": batch_size,
    }
    description["cell"] = key_hash(canonical(description))
    return description


def problem_key(description: dict[str, Any]) -> str:
    """The text that seeds a problem's random streams (starting points, minibatches, noise)."""
    return canonical([description["problem"], description["problem_params"]])


def requirements(obj: Any) -> tuple[str, ...]:
    """What a method or step rule declares it needs of the problem (``requires``; e.g. ``("f_opt",)``)."""
    requires = getattr(obj, "requires", ())
    if not requires and getattr(obj, "needs_f_opt", False):  # the first build's spelling
        requires = ("f_opt",)
    return tuple(requires)


def _name(obj: Any) -> str:
    """The registered name of an instance, a class or a spec (a name or a ``{"name": ...}`` dict)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return str(obj.get("name"))
    if isinstance(obj, type):
        return getattr(obj, "name", None) or obj.__qualname__
    return spec_of(obj)[0]


def step_rule_incompatibility(method: Any, step_rule: Any) -> str | None:
    """Why ``method`` cannot run with ``step_rule`` (None: no step rule), or None; either may be a class or a spec."""
    if not takes_step_rule(method) and step_rule is not None:
        return f"method {_name(method)!r} computes its own steps and takes no step rule; got step rule {_name(step_rule)!r}"
    if takes_step_rule(method) and step_rule is None:
        return f"method {_name(method)!r} needs a step rule"
    return None


def budget_incompatibility(problem: Problem, max_epochs: float | None = None,
                           tol: dict[str, float] | None = None) -> str | None:
    """Why a budget does not apply to ``problem`` (epochs without a finite sum, ``f_gap`` without f_opt), or None."""
    if max_epochs is not None and problem.n_samples is None:
        return f"max_epochs applies to finite-sum problems only, and {_name(problem)!r} is not one"
    if tol and "f_gap" in tol and problem.f_opt is None:
        return f"tol 'f_gap' needs the problem's f_opt, and {_name(problem)!r} has none"
    return None


def incompatibility(problem: Problem, method: Any, step_rule: Any, batch_size: int | None = None,
                    max_epochs: float | None = None, tol: dict[str, float] | None = None) -> str | None:
    """Why this cell cannot run (one sentence), or None when it can."""
    owns_loop = getattr(method, "owns_loop", False)
    rule_problem = step_rule_incompatibility(method, step_rule)
    if rule_problem:
        return rule_problem
    finite_sum = problem.n_samples is not None
    if batch_size is not None and not finite_sum:
        return f"batch_size applies to finite-sum problems only, and {_name(problem)!r} is not one (no n_samples)"
    budget_problem = budget_incompatibility(problem, max_epochs, tol)
    if budget_problem:
        return budget_problem
    if batch_size is not None and owns_loop:
        return f"method {_name(method)!r} runs its own full-batch loop and takes no batch_size"
    for obj, kind in ((method, "method"), (step_rule, "step rule")):
        if obj is not None and "f_opt" in requirements(obj) and problem.f_opt is None:
            hint = " (use polyak with estimate = true, which estimates it)" if _name(obj) == "polyak" else ""
            return f"the {_name(obj)} {kind} needs the problem's optimal value f_opt, and {_name(problem)!r} has none{hint}"
    return None
