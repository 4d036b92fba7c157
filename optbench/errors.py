"""The exception classes of optbench, and the one helper that suggests a closest match.

- ``RegistryError``: an unknown name, or a name claimed twice.
- ``ParameterError``: a parameter that a class does not take, or of the wrong type or value.
- ``SuiteError``: a suite file that cannot run (names the file, the key path, the valid choices).
- ``PluginError``: plugin code broke the contract at run time (a direction, gradient or
  step size of the wrong shape or value, an input written in place); recorded as the
  cell's ``error`` with a message naming the plugin.
- ``PluginWarning``: a plugin could not be imported; the rest of the registry still works.
- ``QueryError``: SQL over a results folder (``optbench query``) that cannot run, or an output it cannot write.
- ``TuningError``: a wrong tuning key or search space (``path``: the key path below the block).
- ``StoreError``: a results folder that cannot be used as asked (busy, not a folder, not
  writable, damaged); its message names the file and how to rebuild it.
"""

from __future__ import annotations

import difflib
from typing import Sequence

__all__ = ["RegistryError", "ParameterError", "SuiteError", "PluginError", "PluginWarning", "QueryError", "StoreError", "TuningError",
           "closest", "did_you_mean"]


class RegistryError(LookupError):
    """An unknown name, or a name claimed twice."""


class ParameterError(ValueError):
    """A parameter that a class does not take, or of the wrong type or value."""


class SuiteError(ValueError):
    """A suite file that cannot run: names the file, the key path, and the valid choices."""


class PluginError(RuntimeError):
    """Plugin code returned something that breaks the contract (shape, value, in-place writes)."""


class StoreError(Exception):
    """A results folder that cannot be used as asked (busy, not a folder, not writable, damaged)."""


class PluginWarning(UserWarning):
    """A plugin could not be imported; the rest of the registry still works."""


class QueryError(ValueError):
    """SQL over a results folder that cannot run (a syntax error, an unknown column), or an output it cannot write."""


def closest(name: str, choices: list[str]) -> str | None:
    """The closest match of ``name`` among ``choices`` (difflib), or None."""
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return found[0] if found else None


def did_you_mean(name: str, choices: list[str]) -> str:
    """`` Did you mean 'x'?`` when a close match exists, else ``""``."""
    match = closest(name, choices)
    return f" Did you mean {match!r}?" if match else ""


class TuningError(ParameterError):
    """A wrong tuning key or search space; ``path`` is the key path below the block (for suite messages)."""

    def __init__(self, path: Sequence[str | int], message: str):
        super().__init__(message)
        self.path = tuple(path)
