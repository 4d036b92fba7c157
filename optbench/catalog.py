"""The catalogue of built-ins: importing it registers every built-in problem, method and step rule.

``optbench/__init__.py`` imports it once, after the registries exist; the registry
itself imports no plugin module (it is a leaf), as in Nevergrad's ``optimizerlib``.
"""

from optbench import baselines, methods, newton, objectives, steprules  # noqa: F401
from optbench import adapters  # noqa: F401  (the "torch" method; torch itself is imported on first use)
