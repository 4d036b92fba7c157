"""Imports every module that registers built-in problems, methods and step rules."""

from optbench import baselines, methods, objectives, steprules  # noqa: F401
from optbench import adapters  # noqa: F401  (the "torch" method; torch itself is imported on first use)
