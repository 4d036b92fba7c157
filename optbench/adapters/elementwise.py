"""When the torch adapter may hold all runs of a batch in one ``(n_runs, dim)`` tensor.

A batch shares one optimizer only when its update is known to be elementwise
(each coordinate's step depends on that coordinate's history alone, and the
optimizer keeps no tensor-wide scalar such as a norm, D-Adaptation's ``d`` or a
switch): then row ``i`` of the batch steps exactly as run ``i`` would alone.
Known means one of, in this order:

1. the user's option ``elementwise=True`` (or ``False``);
2. a class attribute ``optbench_elementwise = True`` (or ``False``);
3. ``ELEMENTWISE_TORCH``: torch.optim's classes verified elementwise (tests/test_adapters_torch.py
   steps each batched and per run and compares bit for bit), except with ``fused=True``: torch's
   fused CPU kernels round a coordinate differently by its place in the SIMD vector (Adam:
   |dx| ~ 1e-16 after 60 steps), so those run per run.

Everything else (every third-party class not declaring itself, optimizers that need a
closure) runs one tensor and one optimizer per run, which is always right, only slower.
``verify_elementwise(cls, **options)`` is the check a class author runs before declaring.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np

from optbench.adapters.torch_classes import needs_closure, needs_hessian, optimizer_path, torch_module

__all__ = ["ELEMENTWISE_TORCH", "is_elementwise", "verify_elementwise", "ElementwiseCheck"]

ELEMENTWISE_TORCH = ("SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD")
PER_RUN_OPTIONS = {"fused": True}  # options under which a table class still runs per run (see above)
CHECK_STEPS, CHECK_ROWS, CHECK_DIM = 60, 4, 6  # verify_elementwise's batch (a tensor-wide scalar may act late)


def is_elementwise(cls: type, options: dict[str, Any], given: bool | None = None) -> bool:
    """Whether ``cls`` with ``options`` may step a whole batch as one tensor (the rule in the module text)."""
    if given is not None:
        return bool(given)
    if needs_closure(cls):
        return False
    declared = getattr(cls, "optbench_elementwise", None)
    if declared is not None:
        return bool(declared)
    torch = torch_module()
    if not any(cls is getattr(torch.optim, name, None) for name in ELEMENTWISE_TORCH):
        return False
    return not any(options.get(key) == value for key, value in PER_RUN_OPTIONS.items())


@dataclasses.dataclass
class ElementwiseCheck:
    """What ``verify_elementwise`` found: ``elementwise`` is True when nothing differs."""

    optimizer: str
    options: dict[str, Any]
    steps: int
    differences: list[str]

    @property
    def elementwise(self) -> bool:
        return not self.differences

    def __str__(self) -> str:
        head = f"{self.optimizer}({', '.join(f'{k}={v!r}' for k, v in self.options.items())}), {self.steps} steps"
        if self.elementwise:
            return f"{head}: elementwise (each row of the batch stepped exactly as alone)"
        return "\n".join([f"{head}: NOT elementwise:", *(f"  - {line}" for line in self.differences)])


def _problem(rows: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Start points and centres ``c``: rows of standard normals scaled by 1, 1e-3, 1e3, 10, ..."""
    rng = np.random.default_rng(20240601)
    scales = np.array([1.0, 1e-3, 1e3, 10.0, 0.1, 1e2])[np.arange(rows) % 6][:, None]
    return rng.standard_normal((rows, dim)) * scales, rng.standard_normal((rows, dim)) * scales


class _Trajectory:
    """One optimizer on one tensor, stepped on ``f(x) = 0.5 ||x - c||^2`` (``g = x - c``, ``H = I``) by autograd."""

    def __init__(self, cls: type, options: dict[str, Any], x0: np.ndarray, centre: np.ndarray):
        torch = self.torch = torch_module()
        self.param = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        self.centre = torch.tensor(centre, dtype=torch.float64)
        self.optimizer = cls([self.param], **options)
        self.hessian = needs_hessian(cls)
        self.rng_state = torch.Generator().manual_seed(0).get_state()

    def step(self) -> None:
        torch = self.torch
        with torch.enable_grad():
            loss = 0.5 * ((self.param - self.centre) ** 2).sum()
            (grad,) = torch.autograd.grad(loss, [self.param], create_graph=self.hessian)
        self.param.grad = grad if self.hessian else grad.detach()
        with torch.random.fork_rng(devices=[]):  # every trajectory draws from the same stream
            torch.set_rng_state(self.rng_state)
            self.optimizer.step()
            self.rng_state = torch.get_rng_state()

    def scalars(self) -> dict[str, Any]:
        """``param_group[key]`` and ``state[key]`` values that are not tensors of the parameter's shape."""
        found = {f"param_groups[0][{key!r}]": value for key, value in self.optimizer.param_groups[0].items() if key != "params"}
        for key, value in self.optimizer.state.get(self.param, {}).items():
            if not (isinstance(value, self.torch.Tensor) and value.shape == self.param.shape):
                found[f"state[{key!r}]"] = value
        return found

    def tensors(self) -> dict[str, np.ndarray]:
        """The parameter and the ``state`` tensors of its shape, as numpy."""
        found = {"parameter": self.param.detach().numpy()}
        for key, value in self.optimizer.state.get(self.param, {}).items():
            if isinstance(value, self.torch.Tensor) and value.shape == self.param.shape:
                found[f"state[{key!r}]"] = value.detach().numpy()
        return found


def _plain(value: Any) -> Any:
    """A 0-d or 1-element tensor as a float; other values as they are."""
    if hasattr(value, "detach") and value.numel() == 1:
        return float(value.detach().reshape(()).item())
    return value


def _shown(value: Any) -> str:
    """A value for a message: numbers as they are, tensors by their shape."""
    value = _plain(value)
    return f"a tensor of shape {tuple(value.shape)}" if hasattr(value, "shape") else repr(value)


def _same(a: Any, b: Any) -> bool:
    a, b = _plain(a), _plain(b)
    if hasattr(a, "detach") or hasattr(b, "detach"):
        return hasattr(a, "shape") and hasattr(b, "shape") and a.shape == b.shape and bool((a == b).all())
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return a == b or (a != a and b != b)  # NaN equals NaN here
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 -- values that cannot be compared are taken as different
        return False


def _compare(batched: _Trajectory, alone: list[_Trajectory], step: int, seen: set[str]) -> list[str]:
    """Differences at ``step`` between the batch and the rows stepped alone (each key reported once)."""
    found = []
    for key, value in batched.tensors().items():
        rows = np.stack([trajectory.tensors().get(key, np.full(value.shape[1:], np.nan)) for trajectory in alone])
        if key not in seen and not np.array_equal(value, rows):
            seen.add(key)
            worst = np.nanmax(np.abs(value - rows) / np.maximum(np.abs(rows), 1e-300))
            found.append(f"{key} differs from the rows stepped alone from step {step} (max relative difference {worst:.3g})")
    for key, value in batched.scalars().items():
        row_values = [trajectory.scalars().get(key) for trajectory in alone]
        differ = [i for i, row_value in enumerate(row_values) if not _same(value, row_value)]
        if key not in seen and differ:
            seen.add(key)
            found.append(f"{key} is {_shown(value)} for the batch but {_shown(row_values[differ[0]])} for row "
                         f"{differ[0]} alone (step {step}): a tensor-wide quantity")
    return found


def verify_elementwise(cls: type, /, **options: Any) -> ElementwiseCheck:
    """Step ``cls(**options)`` on a ``(4, 6)`` batch and on each row alone; report what differs.

    The problem is ``f(x) = 0.5 ||x - c||^2`` per row (gradient ``x - c``, Hessian ``I``), rows
    scaled by 1, 1e-3, 1e3, 10 (so tensor-wide norms and scalars show), ``CHECK_STEPS = 60`` steps,
    every stream of torch's random numbers started alike. Compared bit for bit after every step:
    the parameter and the state tensors of its shape (row ``i`` of the batch against row ``i``
    alone), and every ``param_groups`` value and state scalar (D-Adaptation's ``d``, a step
    counter, a switch) of the batch against each row's own.
    """
    name, steps, rows, dim = optimizer_path(cls), CHECK_STEPS, CHECK_ROWS, CHECK_DIM
    if needs_closure(cls):
        return ElementwiseCheck(name, options, 0, ["step() needs a closure: such optimizers always run one per run"])
    X0, centres = _problem(rows, dim)
    try:
        batched = _Trajectory(cls, options, X0, centres)
        alone = [_Trajectory(cls, options, X0[i], centres[i]) for i in range(rows)]
        differences, seen = [], set()
        for step in range(1, steps + 1):
            for trajectory in [batched, *alone]:
                trajectory.step()
            differences += _compare(batched, alone, step, seen)
    except Exception as exc:  # noqa: BLE001 -- an optimizer that cannot step this batch is not elementwise
        return ElementwiseCheck(name, options, steps, [f"stepping raised {type(exc).__name__}: {str(exc).strip()[:200]}"])
    if np.array_equal(batched.param.detach().numpy(), X0):
        differences.append("the parameters did not move (no evidence either way): give options that make it step")
    return ElementwiseCheck(name, options, steps, differences)
