"""optbench: benchmark descent methods and step-size rules on batched objective problems.

    import optbench as ob
    res = ob.run("rosenbrock", "adam", {"name": "constant", "lr": 0.01}, seeds=16)
    res.runs, res.trace
"""

from importlib.metadata import PackageNotFoundError, version

from optbench.methods import Method
from optbench.problem import Problem, finite_difference_grad, gradient_error
from optbench.registry import (
    ParameterError,
    PluginWarning,
    RegistryError,
    load_plugin,
    methods,
    problems,
    register_method,
    register_problem,
    register_step_rule,
    step_rules,
)
from optbench.run import Oracle, RunResult, StepContext, run
from optbench.steprules import StepRule

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
    "finite_difference_grad",
    "gradient_error",
    "RegistryError",
    "ParameterError",
    "PluginWarning",
]
