"""Imports every module that registers built-in problems, methods and step rules."""

from optbench import baselines, methods, objectives, steprules  # noqa: F401
