"""Registries of problems, methods and step rules, and how plugins join them.

A registry maps a name to a class. Classes join it in three ways:

- a decorator, ``@ob.register_method("my-method")`` (built-ins use it too);
- an installed package that declares an entry point in one of the groups
  ``optbench.problems``, ``optbench.methods``, ``optbench.step_rules``
  (discovered lazily, the first time a registry is asked for a name);
- a local Python file, ``ob.load_plugin("path/to/plugin.py")`` or
  ``optbench --plugin path/to/plugin.py``, whose decorators run on import.

Parameters are the keyword arguments of the class's ``__init__``; their defaults
and type hints are the registry's documentation and validation.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Literal, Union, get_args, get_origin

__all__ = [
    "Registry",
    "problems",
    "methods",
    "step_rules",
    "register_problem",
    "register_method",
    "register_step_rule",
    "load_plugin",
    "resolve",
    "spec_of",
]


from optbench.constraints import COMMON, ObjectSpec, check, message, unknown  # noqa: E402
from optbench.errors import ParameterError, PluginWarning, RegistryError, did_you_mean  # noqa: E402


# ---------------------------------------------------------------- parameters
_MISSING = inspect.Parameter.empty


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` fits the type hint (the subset of typing we use)."""
    if annotation is _MISSING or annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return any(type(value) is type(choice) and value == choice for choice in get_args(annotation))
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in get_args(annotation))
    if annotation is type(None) or annotation is None:
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is bool:
        return isinstance(value, bool)
    if origin in (list, tuple, typing.Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = get_args(annotation)
        if not args:
            return True
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    annotation: Any

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> str:
        text = f"{self.name}: {_type_name(self.annotation)}" if self.annotation is not _MISSING else self.name
        return text if self.required else f"{text} = {self.default!r}"


@functools.lru_cache(maxsize=None)
def parameters_of(cls: type) -> dict[str, Param]:
    """The keyword parameters of ``cls.__init__`` with defaults and resolved hints (cached per class)."""
    init = cls.__init__
    if init is object.__init__:
        return {}
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # unresolved forward references: fall back to raw hints
        hints = getattr(init, "__annotations__", {})
    params = {}
    for name, p in inspect.signature(init).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        params[name] = Param(name, p.default, hints.get(name, _MISSING))
    return params


# ---------------------------------------------------------------- registry
@dataclass
class Entry:
    """A registered name: its class, or (declared, not yet imported) ``cls`` None and ``target`` ``"module:Class"``."""

    name: str
    cls: type | None
    source: str
    target: str | None = None


@dataclass(eq=False)
class Registry:
    """Names to classes for one kind of object (problem, method or step rule)."""

    kind: str  # "problem", "method", "step rule"
    group: str  # entry-point group
    _entries: dict[str, Entry] = field(default_factory=dict)
    _loaded_entry_points: bool = False
    plugin_errors: dict[str, str] = field(default_factory=dict)

    # -- registration
    def register(self, name: str, cls: type, source: str | None = None) -> type:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        source = source or f"{cls.__module__}.{cls.__qualname__}"
        previous = self._entries.get(name)
        if previous is not None and previous.source != source and (previous.cls is None or not _same_class(previous.cls, cls)):
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice: by {previous.source} and by {source}. "
                f"Rename one of them."
            )
        cls.name = name
        self._entries[name] = Entry(name, cls, source)
        return cls

    def declare(self, name: str, target: str) -> None:
        """Register ``name`` lazily: ``target`` (``"package.module:Class"``) is imported on first use of the name.

        The module's own decorator then registers the class under the same name; a
        target that is not where the decorator says (another module or class) is a
        RegistryError on first use. Declaring a name already registered from the same
        place is harmless.
        """
        module, _, qualname = target.partition(":")
        source = f"{module}.{qualname}"
        previous = self._entries.get(name)
        if previous is not None:
            if previous.source != source:
                raise RegistryError(f"{self.kind} {name!r} is registered twice: by {previous.source} and by {source}. "
                                    f"Rename one of them.")
            return
        self._entries[name] = Entry(name, None, source, target)

    def _class(self, entry: Entry) -> type:
        """The class of ``entry``, importing its module when it was declared lazily (:meth:`declare`)."""
        if entry.cls is not None:
            return entry.cls
        module, _, qualname = entry.target.partition(":")
        cls = getattr(importlib.import_module(module), qualname, None)
        registered = self._entries.get(entry.name)
        if cls is None or registered is None or registered.cls is not cls:
            raise RegistryError(f"{self.kind} {entry.name!r} is declared as {entry.target}, but importing {module} "
                                f"did not register that class under this name")
        return cls

    def decorator(self, name: str) -> Callable[[type], type]:
        def wrap(cls: type) -> type:
            if not isinstance(cls, type):
                raise ParameterError(message(f"what register_{self.kind.replace(' ', '_')}({name!r}) decorates",
                                             f"a class (a {self.kind} class)", cls))
            source = _PLUGIN_SOURCE.get(cls.__module__) or f"{cls.__module__}.{cls.__qualname__}"
            return self.register(name, cls, source)

        return wrap

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            source = f"entry point {ep.name!r} = {ep.value} (package {dist.name if dist else 'unknown'})"
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:  # a broken plugin must not break the registry
                message = f"{type(exc).__name__}: {exc}"
                self.plugin_errors[ep.name] = message
                warnings.warn(
                    f"optbench: the {self.kind} plugin entry point {ep.name!r} ({ep.value}) failed to import "
                    f"and was skipped: {message}",
                    PluginWarning,
                    stacklevel=3,
                )
                continue
            if isinstance(obj, type):
                registered = self._entries.get(ep.name)
                if registered is not None and registered.cls is None:
                    self._class(registered)  # a declared built-in: its own module decides
                    registered = self._entries.get(ep.name)
                if registered is not None and registered.cls is obj:
                    continue  # the module's own decorator registered it already
                self.register(ep.name, obj, source)
            # a module or function entry point registers through its decorators on import

    # -- queries
    def names(self) -> list[str]:
        """Every registered name (built-ins and plugins), sorted."""
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def get(self, name: str) -> type:
        """The class registered under ``name``."""
        self._load_entry_points()
        if not isinstance(name, str):
            raise RegistryError(f"a {self.kind} name must be a string, got {type(name).__name__} {name!r}")
        entry = self._entries.get(name)
        if entry is None:
            raise RegistryError(unknown(self.kind, name, sorted(self._entries), f"Registered {self.kind}s"))
        return self._class(entry)

    def source(self, name: str) -> str:
        self.get(name)
        return self._entries[name].source

    def parameters(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Param]:
        """``name``'s parameters; a class whose parameters depend on the given ones (the ``torch`` method's
        optimizer options) answers through its ``parameters_for(params)`` classmethod."""
        cls = self.get(name)
        if params is not None and hasattr(cls, "parameters_for"):
            return dict(cls.parameters_for(params))
        return dict(parameters_of(cls))

    def validate(self, name: str, params: dict[str, Any]) -> None:
        """Raise ParameterError unless ``params`` fit ``name``'s parameters."""
        valid = self.parameters(name, params)

        def listing() -> str:  # worded only for an error
            return ", ".join(p.describe() for p in valid.values()) or "(none)"

        for key, value in params.items():
            if key not in valid:
                raise ParameterError(
                    f"{self.kind} {name!r} has no parameter {key!r}.{did_you_mean(key, list(valid))} "
                    f"Valid parameters: {listing()}."
                )
            p = valid[key]
            if not _matches(value, p.annotation):
                raise ParameterError(
                    f"{self.kind} {name!r}: parameter {key!r} expects {_type_name(p.annotation)}, "
                    f"got {type(value).__name__} {value!r}. Valid parameters: {listing()}."
                )
            if key in COMMON and key not in getattr(self.get(name), "constraints", {}):
                check(value, COMMON[key], key, f"{self.kind} {name!r}")
        missing = [p.name for p in valid.values() if p.required and p.name not in params]
        if missing:
            raise ParameterError(
                f"{self.kind} {name!r} needs parameter(s) {', '.join(map(repr, missing))}. Valid parameters: {listing()}."
            )

    def create(self, name: str, **params: Any) -> Any:
        """An instance of ``name`` with validated ``params``."""
        cls = self.get(name)
        self.validate(name, params)
        try:
            obj = cls(**params)
        except ParameterError:
            raise
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"{self.kind} {name!r}: {exc}") from exc
        except OverflowError as exc:  # e.g. dim=10**30 (a MemoryError is the caller's to word)
            given = ", ".join(f"{key}={value!r}" for key, value in params.items())
            raise ParameterError(f"{self.kind} {name!r}: parameters {given} are too large ({exc or type(exc).__name__})") from exc
        obj._ob_spec = (name, dict(params))
        return obj

    def describe(self, name: str) -> dict[str, Any]:
        """Parameters with defaults and types, tags, documentation and source of ``name``."""
        cls = self.get(name)
        doc = inspect.getdoc(cls) or ""
        params = {
            p.name: {
                "default": None if p.required else p.default,
                "required": p.required,
                "type": _type_name(p.annotation) if p.annotation is not _MISSING else "any",
            }
            for p in parameters_of(cls).values()
        }
        info = {
            "name": name,
            "kind": self.kind,
            "summary": doc.split("\n\n")[0].replace("\n", " "),
            "doc": doc,
            "params": params,
            "tags": sorted(getattr(cls, "tags", ()) or ()),
            "source": self._entries[name].source,
        }
        for attribute in ("f_opt_known", "dims", "owns_loop", "updates_iterate", "default_step_rule", "usage"):
            if hasattr(cls, attribute):
                info[attribute] = getattr(cls, attribute)
        return info

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests and notebooks)."""
        self._entries.pop(name, None)


def _same_class(a: type, b: type) -> bool:
    """Re-running a notebook cell or re-loading a plugin file redefines the same class."""
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


problems = Registry("problem", "optbench.problems")
methods = Registry("method", "optbench.methods")
step_rules = Registry("step rule", "optbench.step_rules")


def register_problem(name: str) -> Callable[[type], type]:
    """Class decorator: register a Problem subclass under ``name``."""
    return problems.decorator(name)


def register_method(name: str) -> Callable[[type], type]:
    """Class decorator: register a Method subclass under ``name``."""
    return methods.decorator(name)


def register_step_rule(name: str) -> Callable[[type], type]:
    """Class decorator: register a StepRule subclass under ``name``."""
    return step_rules.decorator(name)


# ---------------------------------------------------------------- plugins
_PLUGIN_SOURCE: dict[str, str] = {}  # module name -> "file /abs/path.py"


def load_plugin(path: str | Path) -> types.ModuleType:
    """Import a local plugin file; its ``register_*`` decorators add to the registries.

    Loading the same file twice is harmless (it re-registers the same classes).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"plugin file {str(path)!r} does not exist")
    if path.suffix != ".py":
        raise ValueError(f"plugin file {str(path)!r} must be a Python file ending in .py")
    module_name = "optbench_plugin_" + "".join(c if c.isalnum() else "_" for c in str(path))
    _PLUGIN_SOURCE[module_name] = f"file {path}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except RegistryError:
        sys.modules.pop(module_name, None)
        raise
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # a plugin never ends the process (exit 0 included)
        sys.modules.pop(module_name, None)
        raise ImportError(f"plugin file {str(path)!r} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


# ---------------------------------------------------------------- specs
Spec = Union[str, dict, tuple, Any]


def resolve(registry: Registry, spec: Spec) -> Any:
    """An instance from a name, a ``{"name": ..., **params}`` dict, a ``(name, params)`` pair or an instance."""
    if isinstance(spec, str):
        return registry.create(spec)
    if isinstance(spec, dict):
        if "name" not in spec:
            raise ParameterError(f"a {registry.kind} given as a dict needs a 'name' key, got keys {sorted(spec)}")
        params = {k: v for k, v in spec.items() if k != "name"}
        return registry.create(spec["name"], **params)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        return registry.create(spec[0], **spec[1])
    if isinstance(spec, type):
        raise ParameterError(
            f"a {registry.kind} must be a name, a dict or an instance; got the class {spec.__name__} "
            f"(create an instance: {spec.__name__}(...))"
        )
    number = isinstance(spec, (int, float)) and not isinstance(spec, bool) and registry.kind == "step rule"
    hint = f"a learning rate goes inside the step rule, e.g. {{'name': 'constant', 'lr': {spec!r}}}" if number else ""
    return check(spec, [ObjectSpec(registry.kind, _NEEDS[registry.kind])], registry.kind.replace(" ", "_"), hint=hint)


_NEEDS = {"problem": ("value", "grad"), "method": ("direction", "update"), "step rule": ("step",)}


def spec_of(obj: Any) -> tuple[str, dict[str, Any]]:
    """(name, params) of an instance: as created by a registry, or read back from its attributes."""
    spec = getattr(obj, "_ob_spec", None)
    if spec is not None:
        return spec[0], dict(spec[1])
    name = getattr(type(obj), "name", None) or type(obj).__qualname__
    params = {}
    for p in parameters_of(type(obj)).values():
        if hasattr(obj, p.name):
            params[p.name] = getattr(obj, p.name)
    return name, params
