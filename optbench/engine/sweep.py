"""Hyperparameters as a batch axis: sweeps, batch groups, and the batched instance.

A method or step rule declares the parameters that only change numbers
(``batchable = ("lr", ...)``). Cells that differ only in those run together as one
array: the engine builds one *batched instance* whose batchable attributes hold one
value per run, an ``(n_runs, 1)`` column for a method (so ``buffer *= self.momentum``
serves a scalar and a column alike) and an ``(n_runs,)`` vector for a step rule
(one step size per run); a pair such as ``betas`` becomes a pair of those. Every
per-run value is first validated as a scalar by creating the instance that a cell
run alone would create, so validation is never weakened by batching. A plugin that
declares nothing is still correct: its cells run one by one.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, Sequence

import numpy as np

from optbench.constraints import PATH_TARGETS, Where, parameter_path
from optbench.registry import parameters_of, spec_of

__all__ = ["SWEEP_TARGETS", "sweep_configs", "batch_groups", "batched_instance", "groupable", "family_of"]

SWEEP_TARGETS = PATH_TARGETS


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists (what the registries validate)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _check_path(path: Any, objects: dict[str, Any]) -> tuple[str, str]:
    """``(target, parameter)`` of a sweep key (the one parameter-path rule, ``constraints.parameter_path``)."""
    valid = {target: None if obj is None else list(parameters_of(type(obj))) for target, obj in objects.items()}
    owners = {target: spec_of(obj)[0] for target, obj in objects.items() if obj is not None}
    return parameter_path(path, valid, owners, Where("sweep"))


def sweep_configs(method: Any, step_rule: Any, sweep: dict[str, Sequence[Any]] | None) -> list[dict[str, dict[str, Any]]]:
    """The product of the sweeps: one ``{"method": params, "step_rule": params}`` per configuration.

    ``params`` are the instances' own parameters with the swept values set; the
    first sweep key varies slowest. No sweep gives one configuration.
    """
    base = {"method": spec_of(method)[1], "step_rule": spec_of(step_rule)[1] if step_rule is not None else None}
    if not sweep:
        return [base]
    if not isinstance(sweep, dict):
        raise Where("sweep").invalid("a dict from 'method.<parameter>' or 'step_rule.<parameter>' to values", sweep)
    axes = []
    for path, values in sweep.items():
        target, name = _check_path(path, {"method": method, "step_rule": step_rule})
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise (Where("sweep") / path).invalid("a non-empty list or array of values", values)
        axes.append([(target, name, _plain(v)) for v in values])
    configs = []
    for combination in itertools.product(*axes):
        config = {"method": dict(base["method"]), "step_rule": None if base["step_rule"] is None else dict(base["step_rule"])}
        for target, name, value in combination:
            config[target][name] = value
        configs.append(config)
    return configs


def _differing(instances: Sequence[Any]) -> set[str]:
    """The parameters (and ``batch_flags``) whose values differ among ``instances`` (one class, or one family)."""
    names = set()
    candidates = dict.fromkeys(name for obj in instances for name in parameters_of(type(obj)))
    candidates.update(dict.fromkeys(getattr(type(instances[0]), "batch_flags", ())))
    for name in candidates:
        first = getattr(instances[0], name, None)
        if any(not _equal(getattr(other, name, None), first) for other in instances[1:]):
            names.add(name)
    return names


_PLAIN = (int, float, bool, str, type(None))


def _equal(a: Any, b: Any) -> bool:
    """Parameter values are equal (arrays elementwise; NaN is never equal)."""
    if type(a) in _PLAIN and type(b) in _PLAIN:  # the usual case, without numpy
        return a == b
    if type(a) is tuple and type(b) is tuple and all(type(v) in _PLAIN for v in (*a, *b)):
        return a == b
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except Exception:  # noqa: BLE001 -- incomparable values are different
        return a is b


def _numeric(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_numeric(v) for v in value)
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def family_of(obj: Any) -> type | None:
    """The class that declares ``obj``'s ``batch_family``, when ``obj``'s class adds no code to it but
    ``__init__`` (``nesterov`` to ``momentum``, ``adamw`` to ``adam``): such classes compute with the
    family's own ``init``/``direction``, their differences held in ``batch_flags``."""
    mro = type(obj).__mro__
    base = next((cls for cls in mro if "batch_family" in vars(cls)), None)
    if base is None or getattr(base, "batch_family", None) is None:
        return None
    for cls in mro[: mro.index(base)]:
        if any(callable(value) and name != "__init__" for name, value in vars(cls).items()):
            return None
    return base


def groupable(a: Any, b: Any) -> bool:
    """Same class and name (or one ``batch_family``), differing only in batchable parameters whose values are
    numbers (or pairs of numbers) and in ``batch_flags`` (booleans)."""
    if a is None or b is None:
        return a is b
    if type(a) is not type(b) or spec_of(a)[0] != spec_of(b)[0]:
        family = family_of(a)
        if family is None or family is not family_of(b):
            return False
    differing = _differing([a, b])
    flags = set(getattr(type(a), "batch_flags", ()))
    if not differing <= set(getattr(type(a), "batchable", ())) | set(getattr(type(b), "batchable", ())) | flags:
        return False
    return all(isinstance(getattr(a, name), bool) and isinstance(getattr(b, name), bool) if name in flags
               else _numeric(getattr(a, name)) and _numeric(getattr(b, name)) for name in differing)


def batch_groups(pairs: Sequence[tuple[Any, Any]]) -> list[list[int]]:
    """Indices of ``(method, step_rule)`` pairs grouped so that each group differs only in batchable parameters."""
    groups: list[list[int]] = []
    for index, (method, step_rule) in enumerate(pairs):
        for group in groups:
            method_0, step_0 = pairs[group[0]]
            if groupable(method_0, method) and groupable(step_0, step_rule):
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


def _per_run(values: list[Any], repeats: int, column: bool) -> Any:
    """One value per run: a column ``(n, 1)`` (methods) or a vector ``(n,)`` (step rules); pairs stay pairs;
    booleans (``batch_flags``) stay booleans."""
    if isinstance(values[0], (tuple, list)):
        return tuple(_per_run([v[i] for v in values], repeats, column) for i in range(len(values[0])))
    flags = all(isinstance(v, bool) for v in values)
    vector = np.repeat(np.asarray(values, dtype=bool if flags else float), repeats)
    return vector[:, None] if column else vector


def batched_instance(instances: Sequence[Any], repeats: int, column: bool) -> Any:
    """One instance whose batchable attributes hold per-run values (each instance's value ``repeats`` times).

    With a single instance (or none differing) the instance itself is returned.
    """
    if len(instances) == 1:
        return instances[0]
    differing = _differing(instances)
    if not differing:
        return instances[0]
    clone = copy.copy(instances[0])
    for name in sorted(differing):
        setattr(clone, name, _per_run([getattr(obj, name) for obj in instances], repeats, column))
    return clone
