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

The rules shared by every entry point live here too, each written once: seeds
(``check_seeds``), tolerances (``check_tol``), record modes (``check_record``), gap
targets (``TARGET``) and parameter paths (``parameter_path``); the budget parser
``Budget.parse`` (``optbench/engine/budget.py``) is built from them. A rule is told
*where* its value came from by a :class:`Where`: an argument (``seeds``) for
``ob.run``/``ob.tune``/``ob.compare``, a file and key path
(``quick.toml: methods[0].seeds``) for suite files. Messages differ only in that
location::

    seeds must be a count of seeds from 1 to 10,000,000 or ..., got 0
    quick.toml: seeds must be a count of seeds from 1 to 10,000,000 or ..., got 0

and an unknown name reads ``<location>: unknown <what> 'x'. Did you mean 'y'? Valid <what>s: ...``.
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from optbench.errors import ParameterError, TuningError, did_you_mean
from optbench.seeding import MAX_SEEDS

__all__ = ["Constraint", "Interval", "Options", "Pair", "ObjectSpec", "Declared", "COMMON", "check", "validate",
           "describe", "check_name", "message", "unknown", "Where", "check_seeds", "check_tol", "check_record",
           "parameter_path", "RECORD_MODES", "TOLERANCES", "TARGET", "PATH_TARGETS"]


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
    Messages write the ends with up to 15 significant digits (``2678400``, not ``2.6784e+06``).
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
            return f"{what} in {left}{self.low:.15g}, {self.high:.15g}{right}"
        if self.low is not None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.low:.15g}"
        if self.high is not None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.high:.15g}"
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


def unknown(what: str, value: Any, choices: Sequence[Any], valid: str = "Valid", hint: str = "") -> str:
    """The one shape of every unknown-name message: ``"unknown <what> 'x'. Did you mean 'y'? <valid>: a, b."``."""
    listing = ", ".join(map(str, choices)) or "(none)"
    return f"unknown {what} {value!r}.{did_you_mean(str(value), [str(c) for c in choices])} {valid}: {listing}.{hint}"


def check_name(value: Any, choices: Sequence[str], what: str) -> str:
    """A name among ``choices``, or a ParameterError naming the closest match and every choice."""
    if value not in choices:
        raise ParameterError(unknown(what, value, choices))
    return value


# ---------------------------------------------------------------- where a value came from
class Where:
    """Where a checked value came from: an argument (``Where("seeds")``) or a file and key path
    (``Where(file="quick.toml", error=SuiteError) / "methods" / 0 / "seeds"``), and the exception to raise.

    ``str(where)`` is the location every message starts with: ``seeds`` or ``quick.toml: methods[0].seeds``.
    A :class:`TuningError` also carries the keys (its ``path``).
    """

    def __init__(self, *keys: str | int, file: str = "", error: type[Exception] = ParameterError):
        self.keys, self.file, self.error_class = tuple(keys), file, error

    def __truediv__(self, key: str | int) -> "Where":
        return Where(*self.keys, key, file=self.file, error=self.error_class)

    @property
    def path(self) -> str:
        """The key path, ``methods[0].seeds`` (integer keys are array indices)."""
        text = ""
        for key in self.keys:
            text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
        return text

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.path) if part)

    def _raise(self, text: str) -> Exception:
        if issubclass(self.error_class, TuningError):
            return self.error_class(self.keys, text)
        return self.error_class(text)

    def error(self, text: str) -> Exception:
        """The exception ``"<location>: <text>"`` (``text`` alone at the root)."""
        return self._raise(f"{self}: {text}" if str(self) else text)

    def invalid(self, accepted: str, value: Any, choices: Sequence[str] = (), hint: str = "") -> Exception:
        """The exception ``"<location> must be <accepted>, got <value>"``, with the closest of ``choices`` for a string."""
        close = did_you_mean(value, list(choices)) if isinstance(value, str) and choices else ""
        text = message(self.path or "value", accepted, value, self.file) + (f"; {hint}" if hint else "")
        return self._raise(text + (f".{close}" if close else ""))

    def unknown(self, what: str, value: Any, choices: Sequence[Any], valid: str = "Valid", hint: str = "") -> Exception:
        """The exception ``"<location>: unknown <what> 'x'. Did you mean 'y'? <valid>: ..."``."""
        return self.error(unknown(what, value, choices, valid, hint))

    def check(self, value: Any, constraints: Sequence[Constraint | None]) -> Any:
        """``value`` if it satisfies one of ``constraints``, else :meth:`invalid`."""
        if not _accepts(constraints, value):
            raise self.invalid(describe(constraints), value)
        return value


# ---------------------------------------------------------------- the shared rules
RECORD_MODES = ("log", "all", "last")
TOLERANCES = ("grad", "f", "x", "f_gap")
TARGET = [Interval("real", 0, None, closed="neither")]  # a gap target f - f_opt
PATH_TARGETS = ("method", "step_rule")
SEEDS_ACCEPTED = f"a count of seeds from 1 to {MAX_SEEDS:,} or a non-empty list of distinct integers in [0, 2**63)"
RECORD_ACCEPTED = f"{', '.join(map(repr, RECORD_MODES))} or an integer >= 1 (every k iterations)"
TOL_ACCEPTED = f"a number >= 0 (gradient-norm tolerance) or a table of tolerances ({', '.join(TOLERANCES)})"
_NON_NEGATIVE = Interval("real", 0, None)


def check_seeds(value: Any, where: Where | None = None, start: int = 0) -> list[int]:
    """The seed rule: a count ``n`` (seeds ``start .. start + n - 1``) or a list of distinct integers in ``[0, 2**63)``."""
    where = where or Where("seeds")
    if _is_int(value):
        if not 1 <= value <= MAX_SEEDS:
            raise where.invalid(SEEDS_ACCEPTED, value)
        return list(range(start, start + int(value)))
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise where.invalid(SEEDS_ACCEPTED, value)
    seeds = list(value)
    if not seeds:
        raise where.invalid(SEEDS_ACCEPTED, value)
    for i, seed in enumerate(seeds):
        if not (_is_int(seed) and 0 <= seed < 2**63):
            raise (where / i).invalid("a seed, an integer in [0, 2**63)", seed)
    if len(set(map(int, seeds))) != len(seeds):
        repeated = sorted(seed for seed, count in Counter(map(int, seeds)).items() if count > 1)
        raise where.invalid(SEEDS_ACCEPTED, value, hint=f"seeds must not repeat ({', '.join(map(str, repeated[:5]))})")
    return [int(s) for s in seeds]


def check_tol(value: Any, where: Where | None = None) -> dict[str, float]:
    """Tolerances: a gradient-norm tolerance, or a table of ``grad``, ``f``, ``x``, ``f_gap``, each finite and >= 0."""
    where = where or Where("tol")
    if value is None:
        return {}
    if _is_real(value):
        if not _NON_NEGATIVE.satisfied(value):
            raise where.invalid(TOL_ACCEPTED, value)
        value = {"grad": value}
    if not isinstance(value, dict):
        raise where.invalid(TOL_ACCEPTED, value)
    for key, number in value.items():
        if key not in TOLERANCES:
            raise (where / key).unknown("tolerance", key, TOLERANCES, "Valid tolerances")
        (where / key).check(number, [_NON_NEGATIVE])
    return {key: float(number) for key, number in value.items()}


def check_record(value: Any, where: Where | None = None) -> str | int:
    """What is recorded: ``"log"``, ``"all"``, ``"last"`` or every ``k >= 1`` iterations."""
    if isinstance(value, str) and value in RECORD_MODES or _is_int(value) and value >= 1:
        return value
    raise (where or Where("record")).invalid(RECORD_ACCEPTED, value, RECORD_MODES)


def parameter_path(path: Any, valid: Mapping[str, Sequence[str] | None], owners: Mapping[str, str],
                   where: Where) -> tuple[str, str]:
    """``(target, parameter)`` of a parameter path ``"method.<parameter>"`` or ``"step_rule.<parameter>"``.

    ``valid``: the parameter names of the method and of the step rule (None when the
    method takes no step rule); ``owners``: their names, for messages. ``where``: the
    sweep or search space holding the path.
    """
    choices = [f"{target}.{name}" for target in PATH_TARGETS for name in (valid.get(target) or ())]
    if isinstance(path, str) and path in choices:
        target, _, name = path.partition(".")
        return target, name
    target = path.partition(".")[0] if isinstance(path, str) else ""
    hint = ""
    if target == "step_rule" and valid.get("step_rule") is None:
        hint = f" Method {owners.get('method')!r} takes no step rule."
    elif target not in PATH_TARGETS:
        close = "" if did_you_mean(str(path), choices) else did_you_mean(target, list(PATH_TARGETS))
        hint = f" A path starts with 'method.' or 'step_rule.'.{close}"
    raise where.unknown("parameter path", path, choices, "Valid parameter paths", hint)


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
