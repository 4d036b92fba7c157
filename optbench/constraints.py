"""Declared parameter constraints and the one validator (in the manner of scikit-learn's ``_param_validation``).

A class declares what each parameter accepts::

    constraints = {"lr": [Interval("real", 0, None, closed="neither")],
                   "max_lr": [Interval("real", 0, None, closed="neither"), None]}

and ``validate(params, constraints, owner)`` checks every given value against its
list (a value is valid when it satisfies any constraint of the list; ``None`` in a
list accepts None). Every failure has one shape::

    step rule 'armijo': shrink must be a number in (0, 1), got 1.5

The registries validate declared constraints before they create an instance, so
``ob.run``, ``reg.create`` and suite files give the same message; ``ob.run``
checks its own arguments with ``check``.
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from optbench.errors import ParameterError, did_you_mean

__all__ = ["Constraint", "Interval", "Options", "Pair", "ObjectSpec", "Declared", "COMMON", "check", "validate",
           "describe", "check_name", "message"]


class Constraint(abc.ABC):
    """Abstract: a rule a value must satisfy, ``satisfied(value)``, and a description for messages (``str``)."""

    @abc.abstractmethod
    def satisfied(self, value: Any) -> bool:
        """Whether ``value`` meets the rule."""

    @abc.abstractmethod
    def __str__(self) -> str:
        """What the rule accepts, e.g. ``"a number > 0"``."""


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval(Constraint):
    """A finite number (``kind="real"``) or an integer (``kind="int"``) between ``low`` and ``high``.

    ``closed``: which ends belong to the interval, ``"both"``, ``"left"``, ``"right"`` or
    ``"neither"``; ``None`` for an end means unbounded. NaN and infinities never satisfy it.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def satisfied(self, value: Any) -> bool:
        if not (_is_int(value) if self.kind == "int" else _is_real(value)):
            return False
        if not math.isfinite(value):
            return False
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if left else value > self.low):
            return False
        return self.high is None or (value <= self.high if right else value < self.high)

    def __str__(self) -> str:
        what = "an integer" if self.kind == "int" else "a number"
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("both", "left") else "("
            right = "]" if self.closed in ("both", "right") else ")"
            return f"{what} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.high:g}"
        return f"a finite {'integer' if self.kind == 'int' else 'number'}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values."""

    options: tuple[Any, ...]

    def satisfied(self, value: Any) -> bool:
        return any(type(value) is type(option) and value == option for option in self.options)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(option) for option in self.options)


@dataclass(frozen=True)
class Pair(Constraint):
    """A pair ``(a, b)`` (list or tuple) whose items satisfy ``first`` and ``second``, with ``a < b`` when ``ordered``."""

    first: Constraint
    second: Constraint
    ordered: bool = False

    def satisfied(self, value: Any) -> bool:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            return False
        a, b = value
        return self.first.satisfied(a) and self.second.satisfied(b) and (not self.ordered or a <= b)

    def __str__(self) -> str:
        order = " with the first <= the second" if self.ordered else ""
        return f"a pair ({self.first}, {self.second}){order}"


@dataclass(frozen=True)
class ObjectSpec(Constraint):
    """How a problem, method or step rule is given: a name, a ``{"name": ...}`` dict, a ``(name, params)``
    pair, or an instance (an object with a method among ``needs``, e.g. ``direction``)."""

    kind: str
    needs: tuple[str, ...]

    def satisfied(self, value: Any) -> bool:
        if isinstance(value, (str, dict)):
            return True
        if isinstance(value, tuple):
            return len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict)
        return not isinstance(value, type) and any(callable(getattr(value, need, None)) for need in self.needs)

    def __str__(self) -> str:
        return (f"a {self.kind} name (`optbench list` shows them), a {{'name': ..., **params}} dict, "
                f"a (name, params) pair or a {self.kind} instance")


# Parameters many classes share, checked by the registries when a class declares nothing for them.
COMMON: dict[str, list[Constraint | None]] = {
    "seed": [Interval("int", 0, None), None],
}


def describe(constraints: Sequence[Constraint | None]) -> str:
    """``"a number > 0 or None"``: what a list of constraints accepts."""
    return " or ".join("None" if c is None else str(c) for c in constraints)


def _accepts(constraints: Iterable[Constraint | None], value: Any) -> bool:
    return any(value is None if c is None else c.satisfied(value) for c in constraints)


def message(name: str, accepted: str, value: Any, owner: str = "") -> str:
    """The one shape of every bad-value message: ``"<owner>: <name> must be <accepted>, got <value>"``."""
    prefix = f"{owner}: " if owner else ""
    shown = repr(value)
    return f"{prefix}{name} must be {accepted}, got {shown if len(shown) <= 200 else shown[:200] + '...'}"


def check(value: Any, constraints: Sequence[Constraint | None], name: str, owner: str = "", hint: str = "") -> Any:
    """``value`` if it satisfies one of ``constraints``, else a ParameterError of the one shape (``hint`` appended)."""
    if not _accepts(constraints, value):
        raise ParameterError(message(name, describe(constraints), value, owner) + (f"; {hint}" if hint else ""))
    return value


def validate(params: Mapping[str, Any], constraints: Mapping[str, Sequence[Constraint | None]], owner: str) -> None:
    """Check every given parameter that has declared constraints (unknown names are the registry's to refuse)."""
    for name, value in params.items():
        if name in constraints:
            check(value, constraints[name], name, owner)


def check_name(value: Any, choices: Sequence[str], what: str) -> str:
    """A name among ``choices``, or a ParameterError naming the closest match and every choice."""
    if value not in choices:
        raise ParameterError(f"unknown {what} {value!r}.{did_you_mean(str(value), list(choices))} "
                             f"Valid: {', '.join(map(str, choices))}")
    return value


class Declared:
    """A base for classes that declare ``constraints = {param: [Constraint | None, ...]}``.

    Every ``__init__`` of a subclass validates the arguments it is given against the
    declared constraints first (defaults are trusted), so an instance made by a
    registry, by ``ob.run`` or directly is checked by the same rule with the same
    message, ``"<kind> '<name>': <param> must be ..., got ..."``.
    """

    kind: ClassVar[str] = "object"
    constraints: ClassVar[dict[str, list]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_validates", False):
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def checked(self, *args: Any, **kw: Any) -> None:
            try:
                given = signature.bind(self, *args, **kw).arguments
            except TypeError:
                given = {}
            owner = f"{type(self).kind} {getattr(type(self), 'name', '') or type(self).__name__!r}"
            validate({k: v for k, v in list(given.items())[1:]}, type(self).constraints, owner)
            init(self, *args, **kw)

        checked._validates = True
        cls.__init__ = checked
