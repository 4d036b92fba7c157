"""Hessian-vector products and random streams for torch optimizers run by the adapter.

Hessians. Optimizers such as pytorch_optimizer's SophiaH and AdaHessian expect
``loss.backward(create_graph=True)`` and then differentiate the gradient:
``torch.autograd.grad(p.grad, p, grad_outputs=z)`` is ``H z`` (Hutchinson's
estimate of the Hessian diagonal is ``z * H z``). The adapter's gradient has no
graph (the problem's gradient is numpy), so it gives them ``p.grad`` as the
output of an autograd function whose value is ``g_k`` and whose backward is the
problem's Hessian-vector product at ``x_k``: ``z -> H(x_k) z`` through
``StepContext.hvp`` (charged as one gradient evaluation when the problem's
product is analytic, two when it is central differences of the gradient).

Random streams. Each run's optimizer draws its random numbers (Hutchinson's
``z``, random projections) from torch's global generator set to the run's own
state while it steps; the state starts at ``torch.manual_seed(s)`` with ``s`` the
run's ``StepContext.stream_seeds`` entry: stream ``"method"`` of the problem's key
and the run's seed (``optbench.seeding.stream_seeds("method", key, [seed])``). A run's
draws are then the same alone, in any batch or stack; two seeds draw different
numbers even from the same ``x0``; every method on the problem sees the same stream
for a seed (common random numbers, as for starting points). A context without
stream seeds (built outside the engine) falls back to ``stream_seed(x_0)``, a hash of
the run's starting point.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from typing import Any, Callable, Iterator

import numpy as np

from optbench.adapters.torch_classes import torch_module

__all__ = ["stream_seed", "initial_streams", "run_stream", "gradient_with_hvp", "hvp_product"]


def stream_seed(x0: np.ndarray) -> int:
    """The torch seed of a run starting at ``x0``: the first 8 bytes of SHA-256 of its float64 bytes, < 2**63."""
    digest = hashlib.sha256(np.ascontiguousarray(x0, dtype=np.float64).tobytes()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def initial_streams(ctx: Any, X0: np.ndarray) -> list:
    """Each run's torch generator state after ``torch.manual_seed(ctx.stream_seeds[i])``
    (``stream_seed(X0[i])`` when the context has no stream seeds)."""
    torch = torch_module()
    seeds = getattr(ctx, "stream_seeds", None)
    if seeds is None:
        seeds = [stream_seed(x0) for x0 in X0]
    return [torch.Generator().manual_seed(int(seed)).get_state() for seed in seeds]


@contextlib.contextmanager
def run_stream(states: list, i: int) -> Iterator[None]:
    """Torch's global generator holds run ``i``'s state inside the block; the state advances in ``states[i]``."""
    torch = torch_module()
    outside = torch.get_rng_state()
    torch.set_rng_state(states[i])
    try:
        yield
    finally:
        states[i] = torch.get_rng_state()
        torch.set_rng_state(outside)


@functools.lru_cache(maxsize=None)
def _gradient_function() -> type:
    torch = torch_module()

    class GradientWithHvp(torch.autograd.Function):
        """Forward: the gradient ``g`` as given. Backward of ``z``: ``product(z) = H z`` (to the parameter)."""

        @staticmethod
        def forward(fctx: Any, param: Any, gradient: Any, product: Callable) -> Any:
            fctx.product = product
            return gradient.clone()

        @staticmethod
        def backward(fctx: Any, z: Any) -> tuple:
            hz = fctx.product(z.detach().numpy())
            return torch.as_tensor(hz, dtype=z.dtype).reshape(z.shape), None, None

    return GradientWithHvp


def gradient_with_hvp(param: Any, gradient: np.ndarray, product: Callable[[np.ndarray], np.ndarray]) -> Any:
    """A tensor equal to ``gradient`` whose vector-Jacobian product with ``z`` (to ``param``) is ``product(z)``."""
    torch = torch_module()
    with torch.enable_grad():
        return _gradient_function().apply(param, torch.from_numpy(np.array(gradient, dtype=np.float64)), product)


def hvp_product(ctx: Any, X: np.ndarray, rows: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``z -> H(x) z`` for ``rows`` of ``X`` (a run index, or ``slice(None)`` for the whole batch), via ``ctx.hvp``."""
    mask = np.zeros(X.shape[0], dtype=bool)
    mask[rows] = True

    def product(z: np.ndarray) -> np.ndarray:
        V = np.zeros_like(X)
        V[rows] = z
        return ctx.hvp(V, X, mask)[rows]

    return product
