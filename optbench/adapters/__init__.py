"""Third-party optimizers as optbench methods.

``optbench.adapters.torch`` runs any ``torch.optim.Optimizer`` class (torch's own
or a compatible third-party one, e.g. ``pytorch_optimizer.Lion``) as the method
``"torch"``; ``ob.methods.from_torch(OptimizerClass, **options)`` builds one from
Python; ``ob.methods.verify_elementwise(OptimizerClass, **options)`` checks whether
a class may step a whole batch as one tensor. Importing this package registers the
method without importing torch; torch is imported the first time such a method is
created (extra ``[torch]``).
"""

from __future__ import annotations

from optbench.adapters import torch as _torch_adapter  # noqa: F401  (registers the "torch" method)
from optbench.adapters.elementwise import ElementwiseCheck, verify_elementwise
from optbench.adapters.torch import TorchOptimizer, from_torch
from optbench.registry import methods

methods.from_torch = from_torch  # ob.methods.from_torch(cls, **options)
methods.verify_elementwise = verify_elementwise  # ob.methods.verify_elementwise(cls, **options)

__all__ = ["TorchOptimizer", "from_torch", "verify_elementwise", "ElementwiseCheck"]
