"""Descent directions.

A method turns the gradient into a direction: ``init(X) -> state`` and
``direction(X, G, state, k) -> (D, state)``; the run loop then moves
``X_next = X + alpha * D`` with ``alpha`` from the step rule (``k`` counts
iterations from 0). All arrays are batches ``(n_runs, dim)``, and every update
is elementwise, so runs never mix. Update rules follow ``torch.optim`` with its
defaults; the learning rate is the step rule's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from optbench.registry import register_method

__all__ = ["Method", "GD"]


class Method:
    """Base class of descent methods.

    Implement ``init(X) -> state`` and ``direction(X, G, state, k) -> (D, state)``.
    A method that owns its loop (scipy's) sets ``owns_loop = True`` and implements
    ``minimize(oracle, x0, max_iter, tol) -> (status, x)`` instead; it takes no
    step rule. ``oracle`` (``optbench.run.Oracle``) counts every f and gradient
    call of one run, and its ``iteration(x)`` records the trace; ``status`` is
    ``"converged"``, ``"budget"`` or ``"diverged"``.
    """

    name: ClassVar[str] = ""
    tags: ClassVar[frozenset[str]] = frozenset()
    owns_loop: ClassVar[bool] = False
    default_step_rule: ClassVar[Any] = {"name": "constant", "lr": 0.01}

    def init(self, X: np.ndarray) -> Any:
        """The state before the first step (None when the method keeps none)."""
        return None

    def direction(self, X: np.ndarray, G: np.ndarray, state: Any, k: int) -> tuple[np.ndarray, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement direction(X, G, state, k)")

    def __repr__(self) -> str:
        from optbench.registry import spec_of

        name, params = spec_of(self)
        return f"<method {name}({', '.join(f'{k}={v!r}' for k, v in params.items())})>"


@register_method("gd")
class GD(Method):
    """Gradient (or subgradient) descent: ``D = -(g + weight_decay * x)``.

    With a finite-sum problem, ``batch_size=None`` is batch gradient descent,
    ``batch_size=B`` mini-batch and ``batch_size=1`` stochastic gradient descent
    (``ob.run(..., batch_size=B)``). Matches ``torch.optim.SGD`` without momentum.
    """

    def __init__(self, weight_decay: float = 0.0):
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.weight_decay = weight_decay

    def direction(self, X, G, state, k):
        if self.weight_decay:
            G = G + self.weight_decay * X
        return np.negative(G), state
