"""The torch side of one batch: tensors sharing numpy memory, the optimizer(s), and one iteration's step.

Per iteration ``k`` (``step_batch``), for each optimizer (the whole batch, or one run):

- plain: ``.grad <- g_k`` (a new tensor each step, as ``loss.backward()`` after
  ``zero_grad()`` gives: some optimizers keep a reference to last step's gradient);
  ``optimizer.step()``;
- closure (LBFGS): ``optimizer.step(closure)``, the closure's further evaluations charged;
- Hessian (SophiaH, AdaHessian): ``.grad <-`` a tensor equal to ``g_k`` whose backward is
  ``z -> H(x_k) z`` (``optbench.adapters.hessian``);
- eval/train modes (ScheduleFree): ``optimizer.train()`` moves the parameter to ``y_k``;
  ``g(y_k)`` is evaluated and charged, and the engine's evaluation at ``x_k`` (which only
  served to record ``f(x_k)``) is charged as a value; ``.grad <- g(y_k)``; ``step()``;
  ``optimizer.eval()`` moves the parameter to ``x_{k+1}``, the iterate returned.

A per-run optimizer steps with torch's generator set to its run's own stream, seeded at
the first step from ``ctx.stream_seeds`` (``optbench.adapters.hessian``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.adapters.hessian import gradient_with_hvp, hvp_product, initial_streams, run_stream
from optbench.adapters.torch_classes import torch_module

__all__ = ["TorchState", "step_batch"]


class _Stopped(Exception):
    """A closure evaluation was refused for budget or returned a non-finite value: the run's step ends."""


class TorchState:
    """Parameters and gradients of a batch as numpy memory shared with torch tensors, and the optimizer(s).

    ``values`` ``(n_runs, dim)`` is the parameters' memory (torch steps it in
    place). Elementwise: one tensor and one optimizer; otherwise one ``(dim,)`` row
    tensor, one optimizer and one random stream per run (``streams``, made at the
    first step). ``kind`` is ``"plain"``, ``"closure"``, ``"hessian"`` or ``"modes"``.
    """

    def __init__(self, X: np.ndarray, cls: type, options: dict[str, Any], elementwise: bool, kind: str):
        torch = torch_module()
        self.values = np.array(X, dtype=np.float64)
        self.elementwise, self.kind = elementwise, kind
        self.params, self.optimizers = [], []
        for values in [self.values] if elementwise else self.values:
            param = torch.from_numpy(values).requires_grad_(True)
            param.grad = torch.zeros_like(param)
            self.params.append(param)
            self.optimizers.append(cls([param], **options))
        self.streams: list | None = None  # per-run torch generator states, from the first step's context
        self.points = np.empty_like(self.values) if kind == "closure" else None


def _closure(state: TorchState, i: int, ctx: Any) -> Any:
    """Run ``i``'s closure: ``f(x_k)`` as evaluated by the engine first, then charged evaluations at its parameter."""
    torch = torch_module()
    first = [True]
    mask = np.zeros(state.values.shape[0], dtype=bool)
    mask[i] = True

    def closure() -> Any:
        if first[0]:
            first[0] = False
            return torch.tensor(float(ctx.F[i]), dtype=torch.float64)
        np.copyto(state.points, ctx.X)
        state.points[i] = state.values[i]
        F, G = ctx.evaluate(state.points, True, mask)
        if not np.isfinite(F[i]):
            raise _Stopped
        state.params[i].grad = _tensor(G[i])
        return torch.tensor(float(F[i]), dtype=torch.float64)

    return closure


def _tensor(array: np.ndarray) -> Any:
    """A new float64 tensor holding a copy of ``array``."""
    return torch_module().from_numpy(np.array(array, dtype=np.float64))


def _gradient_at_train_points(state: TorchState, runs: list, ctx: Any) -> np.ndarray:
    """``optimizer.train()`` for ``runs``; ``g(y_k)`` charged; the engine's evaluation at ``x_k`` charged as a value."""
    for j in runs:
        state.optimizers[j].train()
    ctx.value_only()
    _, G = ctx.evaluate(state.values, True)
    return G


def _step_one(state: TorchState, j: int, rows: Any, G: np.ndarray, X: np.ndarray, ctx: Any) -> None:
    """Step optimizer ``j``, which holds ``rows`` of the batch (a run index, or ``slice(None)``)."""
    optimizer = state.optimizers[j]
    if state.kind == "hessian":
        state.params[j].grad = gradient_with_hvp(state.params[j], G[rows], hvp_product(ctx, X, rows))
        optimizer.step()
        return
    state.params[j].grad = _tensor(G[rows])
    if state.kind == "closure":
        try:
            optimizer.step(_closure(state, rows, ctx))
        except _Stopped:
            pass
        return
    optimizer.step()
    if state.kind == "modes":
        optimizer.eval()


def step_batch(state: TorchState, X: np.ndarray, G: np.ndarray, k: int, ctx: Any) -> np.ndarray:
    """One iteration of every active run (the module text); returns ``X_next`` (the parameters' memory)."""
    if state.elementwise:
        pairs = [(0, slice(None))]
    else:
        pairs = [(int(i), int(i)) for i in np.flatnonzero(ctx.active)]
    if state.kind == "modes" and k > 0:  # at k = 0 the point y_0 = x_0 was evaluated already
        G = _gradient_at_train_points(state, [j for j, _ in pairs], ctx)
    if not state.elementwise and state.streams is None:
        state.streams = initial_streams(ctx, X)
    for j, rows in pairs:
        if state.elementwise:
            _step_one(state, j, rows, G, X, ctx)
            continue
        with run_stream(state.streams, j):
            _step_one(state, j, rows, G, X, ctx)
    return state.values
