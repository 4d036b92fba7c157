"""optbench: benchmark descent methods and step-size rules on batched objective problems.

    import optbench as ob
    res = ob.run("rosenbrock", "adam", {"name": "constant", "lr": 0.01}, seeds=16)
    res.runs, res.trace                          # pandas tables
    results = ob.run_suite("quick", out="reports/quick")
    ob.report(results, out="reports/quick")      # the self-contained index.html
"""

from importlib.metadata import PackageNotFoundError, version

from optbench.methods import Method
from optbench.problem import Problem, finite_difference_grad, gradient_error
from optbench.errors import ParameterError, PluginError, PluginWarning, RegistryError
from optbench.registry import (
    load_plugin,
    methods,
    problems,
    register_method,
    register_problem,
    register_step_rule,
    step_rules,
)
from optbench.constraints import Interval, Options, Pair
from optbench import catalog  # noqa: F401  (registers the built-ins; the registry imports no plugin module)
from optbench.engine.context import StepContext
from optbench.engine.own_loop import Oracle
from optbench.engine.result import RunResult
from optbench.engine.run import run
from optbench.steprules import StepRule

_LAZY = {  # heavy imports (pandas analysis, matplotlib, seaborn, dask) happen on first use
    "run_suite": ("optbench.driver", "run_suite"),
    "tune": ("optbench.tuning", "tune"),
    "report": ("optbench.report", "report"),
    "compare": ("optbench.report.comparison", "compare"),
    "query": ("optbench.sql", "query"),  # SQL (DuckDB) over a results folder's runs, trace and hits
    "analysis": ("optbench.analysis", None),
    "backprop": ("optbench.backprop", None),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = version("optbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = [
    "__version__",
    "problems",
    "methods",
    "step_rules",
    "register_problem",
    "register_method",
    "register_step_rule",
    "load_plugin",
    "Problem",
    "Method",
    "StepRule",
    "StepContext",
    "Oracle",
    "RunResult",
    "run",
    "run_suite",
    "tune",
    "report",
    "compare",
    "query",
    "analysis",
    "backprop",
    "finite_difference_grad",
    "gradient_error",
    "RegistryError",
    "ParameterError",
    "PluginWarning",
    "PluginError",
    "Interval",
    "Options",
    "Pair",
]
