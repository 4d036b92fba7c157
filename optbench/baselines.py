"""scipy.optimize.minimize methods as optbench methods that own their loop.

Each run is one call of ``scipy.optimize.minimize`` from that run's start. f and
gradients go through the run's counting oracle (``optbench.Oracle``), so
evaluation counts are ours, not scipy's ``nit``/``nfev``; scipy's callback calls
``oracle.iteration(x)``, which records the trace. Gradient methods ask for f and
the gradient together (``jac=True``: one gradient evaluation per call).

Budget: ``max_iter`` is scipy's ``maxiter``; ``max_evals`` is enforced by the
oracle wrapper, which stops scipy when the budget is spent and returns the best
point seen (status ``budget``); it is also passed as ``maxfun``/``maxfev`` where
scipy has one. Tolerances: ``tol["grad"]`` becomes ``gtol``, ``tol["f"]`` the
method's f tolerance, ``tol["x"]`` its x tolerance, and ``tol["f_gap"]`` stops the
run at the first iteration with ``f - f_opt <= tol``; scipy's defaults otherwise.

Outcome: ``converged`` only when optbench's own tolerance is met: ``tol["f_gap"]``
reached (checked in the callback) or, with ``tol["grad"]``, a final gradient
norm (2-norm, as optbench's loop measures it) at or below it. An iteration or
evaluation limit is ``budget``; a non-finite f is ``diverged``. Any other end --
scipy's ``success`` under its own tolerances, BFGS's "precision loss", a failed
line search -- is ``stopped``, with scipy's message in the runs table's
``message``: the method ended on its own criterion, and how good its point is
shows in ``f_gap`` and the targets. ``error`` stays reserved for code that raised.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from optbench.methods import Method
from optbench.registry import register_method

__all__ = ["ScipyMethod", "LBFGSB", "BFGS", "CG", "NewtonCG", "NelderMead", "Powell"]


class _BudgetSpent(Exception):
    """Raised from inside scipy when the run's evaluation budget is spent."""


class _TargetReached(Exception):
    """Raised from the callback when ``f - f_opt <= tol["f_gap"]``."""


class ScipyMethod(Method):
    """Base class: one ``scipy.optimize.minimize(method=scipy_name)`` call per run."""

    owns_loop: ClassVar[bool] = True
    default_step_rule: ClassVar[Any] = None
    scipy_name: ClassVar[str] = ""
    uses_gradient: ClassVar[bool] = True
    # option names for: max evaluations, gradient tolerance, f tolerance, x tolerance
    option_names: ClassVar[dict[str, str]] = {}

    def options(self, max_iter: int | None, max_evals: int | None, tol: dict[str, float]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if max_iter is not None:
            options["maxiter"] = int(max_iter)
        if max_evals is not None and "evals" in self.option_names:
            options[self.option_names["evals"]] = int(max_evals)
        for key in ("grad", "f", "x"):
            if key in tol and key in self.option_names:
                options[self.option_names[key]] = tol[key]
        return options

    def extra(self, oracle: Any) -> dict[str, Any]:
        """More keyword arguments for ``scipy.optimize.minimize`` (Newton-CG's Hessian)."""
        return {}

    def minimize(self, oracle: Any, x0: np.ndarray, max_iter: int | None, tol: dict[str, float] | None = None) -> tuple[str, np.ndarray]:
        import scipy.optimize  # lazily: only scipy baselines need it
        tol = dict(tol or {})
        f_opt = oracle.problem.f_opt
        target = None if "f_gap" not in tol or f_opt is None else f_opt + tol["f_gap"]

        def guard() -> None:
            if oracle.exhausted:
                raise _BudgetSpent

        if self.uses_gradient:
            def fun(x):
                guard()
                return oracle.value_and_grad(x)
        else:
            def fun(x):
                guard()
                return oracle.value(x)

        def callback(intermediate_result):
            oracle.iteration(intermediate_result.x)
            if target is not None and intermediate_result.fun <= target:
                raise _TargetReached

        kwargs = {"method": self.scipy_name, "callback": callback, "options": self.options(max_iter, oracle.max_evals, tol)}
        if self.uses_gradient:
            kwargs["jac"] = True
        kwargs.update(self.extra(oracle))
        try:
            result = scipy.optimize.minimize(fun, np.asarray(x0, dtype=float), **kwargs)
        except _BudgetSpent:
            return "budget", _best(oracle, x0)
        except _TargetReached:
            return "converged", _best(oracle, x0)
        return _status(result, tol), np.asarray(result.x, dtype=float), str(result.message)


def _best(oracle: Any, x0: np.ndarray) -> np.ndarray:
    return np.array(oracle.best_x if oracle.best_x is not None else x0, dtype=float)


def _status(result: Any, tol: dict[str, float]) -> str:
    """diverged, budget, converged (optbench's gradient tolerance met at the end) or stopped (scipy's own criterion)."""
    if not np.isfinite(result.fun) or not np.all(np.isfinite(result.x)):
        return "diverged"
    jac = getattr(result, "jac", None)
    if "grad" in tol and jac is not None and np.all(np.isfinite(jac)) and np.linalg.norm(jac) <= tol["grad"]:
        return "converged"
    message = str(result.message).lower()
    if not result.success and ("maximum number" in message or "exceeds limit" in message or "max" in message and "reached" in message):
        return "budget"
    if not result.success and "nan" in message:
        return "diverged"
    return "stopped"  # scipy's own tolerances, or no further progress possible (precision loss, line search)


@register_method("l-bfgs-b")
class LBFGSB(ScipyMethod):
    """L-BFGS-B (``scipy.optimize.minimize(method="L-BFGS-B")``): limited-memory BFGS, no bounds here.

    ``x_{k+1} = x_k - a_k H_k g_k`` with ``H_k`` from the last ``maxcor`` pairs ``(s, y)``
    and ``a_k`` from a Moré-Thuente line search.
    """

    scipy_name = "L-BFGS-B"
    option_names = {"evals": "maxfun", "grad": "gtol", "f": "ftol"}

    def __init__(self, maxcor: int = 10):
        if not (isinstance(maxcor, int) and maxcor >= 1):
            raise ValueError(f"maxcor must be an integer >= 1, got {maxcor!r}")
        self.maxcor = maxcor

    def options(self, max_iter, max_evals, tol):
        return {**super().options(max_iter, max_evals, tol), "maxcor": self.maxcor}


@register_method("bfgs")
class BFGS(ScipyMethod):
    """BFGS (``method="BFGS"``): ``x_{k+1} = x_k - a_k H_k g_k``, ``H`` updated from ``(s, y)``, Wolfe line search."""

    scipy_name = "BFGS"
    option_names = {"grad": "gtol", "x": "xrtol"}


@register_method("cg")
class CG(ScipyMethod):
    """Nonlinear conjugate gradient, Polak-Ribière (``method="CG"``): ``d_k = -g_k + beta_k d_{k-1}``."""

    scipy_name = "CG"
    option_names = {"grad": "gtol"}


@register_method("scipy-newton-cg")
class NewtonCG(ScipyMethod):
    """Truncated Newton (``method="Newton-CG"``): solve ``H d = -g`` by conjugate gradients.

    (optbench's own batched truncated Newton, on the problems' ``hvp``, is ``newton-cg``.)

    Uses the problem's ``hessp(X, P)`` (batched Hessian-vector products) when it has
    one; otherwise scipy's forward differences of the gradient,
    ``H p ~ (g(x + e p) - g(x)) / e``, whose gradient calls go through the oracle and
    are counted as gradient evaluations. A problem's own ``hessp`` calls are not counted.
    """

    scipy_name = "Newton-CG"
    option_names = {"x": "xtol"}

    def extra(self, oracle):
        hessp = getattr(oracle.problem, "hessp", None)
        if hessp is None:
            return {}
        return {"hessp": lambda x, p: np.asarray(hessp(np.asarray(x)[None], np.asarray(p)[None]))[0]}


@register_method("nelder-mead")
class NelderMead(ScipyMethod):
    """Nelder-Mead simplex (``method="Nelder-Mead"``): reflections, expansions, contractions, shrinks; f only."""

    scipy_name = "Nelder-Mead"
    uses_gradient = False
    option_names = {"evals": "maxfev", "f": "fatol", "x": "xatol"}

    def __init__(self, adaptive: bool = False):
        self.adaptive = adaptive

    def options(self, max_iter, max_evals, tol):
        return {**super().options(max_iter, max_evals, tol), "adaptive": self.adaptive}


@register_method("powell")
class Powell(ScipyMethod):
    """Powell's conjugate direction method (``method="Powell"``): line minimisations along a direction set; f only."""

    scipy_name = "Powell"
    uses_gradient = False
    option_names = {"evals": "maxfev", "f": "ftol", "x": "xtol"}
