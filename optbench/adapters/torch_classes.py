"""What the torch adapter reads off an optimizer class: torch itself, closures, Hessians, eval/train modes.

Kept apart from the method (``optbench.adapters.torch``) so that the elementwise
check and the Hessian support can use them without importing the method.
"""

from __future__ import annotations

import inspect
from typing import Any

from optbench.errors import ParameterError

__all__ = ["torch_module", "optimizer_path", "needs_closure", "needs_hessian", "has_eval_mode"]


def torch_module() -> Any:
    """``torch``, or a one-line ParameterError saying which extra installs it."""
    try:
        import torch
    except ImportError:
        raise ParameterError("method 'torch' needs PyTorch: pip install 'optbench[torch]'") from None
    return torch


def optimizer_path(cls: type) -> str:
    """The dotted path of a class, ``module.QualifiedName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def needs_closure(cls: type) -> bool:
    """Whether ``cls.step`` requires a closure (``torch.optim.LBFGS``)."""
    closure = inspect.signature(cls.step).parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def needs_hessian(cls: type) -> bool:
    """Whether ``cls`` asks for Hessian-vector products through the gradient's graph.

    Declared by a class attribute ``optbench_hessian`` (True or False), else read off
    ``step``'s signature: a ``hessian`` argument marks the optimizers that otherwise
    take ``loss.backward(create_graph=True)`` (pytorch_optimizer's SophiaH, AdaHessian).
    """
    declared = getattr(cls, "optbench_hessian", None)
    if declared is not None:
        return bool(declared)
    return "hessian" in inspect.signature(cls.step).parameters


def has_eval_mode(cls: type) -> bool:
    """Whether ``cls`` has ``eval()`` and ``train()`` methods (ScheduleFree optimizers, SPlus)."""
    return callable(getattr(cls, "eval", None)) and callable(getattr(cls, "train", None))
