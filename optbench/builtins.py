"""Imports every module that registers built-in problems, methods and step rules."""

from optbench import methods, objectives, steprules  # noqa: F401
