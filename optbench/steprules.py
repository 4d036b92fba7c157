"""Step-size rules.

A rule gives one step size per run: ``init(n_runs) -> state`` and
``step(ctx, state) -> (alpha, state)`` with ``alpha`` of shape ``(n_runs,)``.
``ctx`` (see ``optbench.run.StepContext``) carries the iteration ``k``, ``X``,
the values ``F``, the gradient ``G``, the direction ``D``, the problem's ``f_opt``,
the minibatch, the mask of ``active`` runs, and ``line(alpha, need_grad=False,
mask=None)`` which evaluates ``f(X + alpha * D)`` on the same minibatch and
charges the evaluations to the runs in ``mask``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from optbench.registry import register_step_rule

__all__ = ["StepRule", "Constant"]


class StepRule:
    """Base class of step-size rules: ``init(n_runs)`` and ``step(ctx, state) -> (alpha, state)``."""

    name: ClassVar[str] = ""
    tags: ClassVar[frozenset[str]] = frozenset()

    def init(self, n_runs: int) -> Any:
        return None

    def step(self, ctx: Any, state: Any) -> tuple[np.ndarray, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement step(ctx, state)")

    def __repr__(self) -> str:
        from optbench.registry import spec_of

        name, params = spec_of(self)
        return f"<step rule {name}({', '.join(f'{k}={v!r}' for k, v in params.items())})>"


@register_step_rule("constant")
class Constant(StepRule):
    """A constant step: ``alpha_k = lr``."""

    def __init__(self, lr: float = 0.01):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.lr = lr

    def init(self, n_runs):
        return np.full(n_runs, float(self.lr))

    def step(self, ctx, state):
        return state, state
