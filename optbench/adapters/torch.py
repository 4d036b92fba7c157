"""Any ``torch.optim.Optimizer`` class as an optbench method (extra ``[torch]``).

The update of iteration ``k``: the engine evaluates ``g_k = grad f(x_k)`` with
the problem's own float64 numpy gradient (no autograd); the adapter sets a new tensor
holding ``g_k`` as the parameter's ``.grad`` and calls ``optimizer.step()``; the
parameter after the step is ``x_{k+1}``. The learning rate is the optimizer's own
option (``lr``): the method takes no step rule.

How the runs of a batch are held, so that a run's numbers never depend on its batch
(``optbench.adapters.elementwise``): a batch runs as one float64 tensor ``(n_runs, dim)``
with one optimizer only when the optimizer is *known* elementwise -- torch.optim's
verified classes (``ELEMENTWISE_TORCH``, not with ``fused=True``), a class declaring
``optbench_elementwise = True``, or the option ``elementwise=True``; every other
optimizer holds one ``(dim,)`` tensor and one optimizer per run (always right, slower).
``ob.methods.verify_elementwise(cls, **options)`` checks a class before declaring it.
A per-run optimizer draws random numbers (Hutchinson's vectors) from its own torch
stream, seeded by ``StepContext.stream_seeds``: stream ``"method"`` of the problem's
key and the run's seed, so seeds differ even from one given ``x0`` and a seed draws
the same alone or batched (``optbench.adapters.hessian``).

Hessian-based optimizers (a ``hessian`` argument to ``step``: SophiaH, AdaHessian) get a
``.grad`` whose double backward is the problem's Hessian-vector product
(``StepContext.hvp``, charged as gradient evaluations).

Optimizers with ``eval()`` / ``train()`` modes (ScheduleFree): the gradient is taken at
the train-mode point ``y_k`` and the run is evaluated at the eval-mode point ``x_k``: the
iterate the engine records (f, hits, final f) is ``x_k``. An iteration costs one gradient
at ``y_k`` and one value at ``x_k`` (the engine's evaluation there, charged as a value).

Closures: an optimizer whose ``step(closure)`` requires one (``torch.optim.LBFGS``)
gets one per run. Its first call returns ``f(x_k)`` and ``g_k``, which the engine
already evaluated and charged; every further call evaluates the problem at the
run's current parameter on the same minibatch and is charged to that run
(``StepContext.evaluate``). A call refused for budget, or that returns a
non-finite value, ends that run's step (the engine then stops the run).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import typing
from typing import Any

import numpy as np

from optbench.adapters.elementwise import ELEMENTWISE_TORCH, is_elementwise, verify_elementwise
from optbench.adapters.torch_classes import has_eval_mode, needs_closure, needs_hessian, optimizer_path
from optbench.adapters.torch_classes import torch_module as _torch
from optbench.adapters.torch_steps import TorchState, step_batch
from optbench.errors import ParameterError, did_you_mean
from optbench.methods import Method
from optbench.registry import Param, register_method

__all__ = ["TorchOptimizer", "from_torch", "load_optimizer", "optimizer_options", "is_elementwise",
           "verify_elementwise", "ELEMENTWISE_TORCH"]

_EMPTY = inspect.Parameter.empty
_GIVEN: dict[str, type] = {}  # dotted path -> class passed to from_torch (classes not importable by path)
_OWN_ATTRIBUTES = frozenset({"optimizer", "options", "optimizer_class", "elementwise", "needs_closure"})


def _import_path(path: str) -> Any:
    """The object at a dotted path: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for depth, attribute in enumerate(parts[cut:]):
            if not hasattr(obj, attribute):
                where = ".".join(parts[: cut + depth])
                choices = [name for name in dir(obj) if not name.startswith("_")]
                raise ParameterError(f"method 'torch': optimizer {path!r} cannot be found: {where!r} has no attribute "
                                     f"{attribute!r}.{did_you_mean(attribute, choices)}{_optimizers_in(obj, where)}")
            obj = getattr(obj, attribute)
        return obj
    raise ParameterError(f"method 'torch': optimizer {path!r} cannot be imported: no module {parts[0]!r} "
                         f"(give an importable dotted path such as 'torch.optim.Adam' or 'pytorch_optimizer.Lion')")


def load_optimizer(path: Any) -> type:
    """The ``torch.optim.Optimizer`` subclass named by a dotted path; a one-line ParameterError otherwise."""
    if not isinstance(path, str) or "." not in path.strip("."):
        raise ParameterError(f"method 'torch': optimizer must be a dotted path such as 'torch.optim.Adam', got {path!r}")
    obj = _GIVEN.get(path)
    if obj is None:
        torch = _torch()
        obj = _import_path(path)
        if not (isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer)):
            kind = f"the class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
            module = importlib.import_module(getattr(obj, "__module__", None) or "torch.optim")
            raise ParameterError(f"method 'torch': optimizer {path!r} is {kind}, not a torch.optim.Optimizer "
                                 f"subclass.{_optimizers_in(module, module.__name__) or _optimizers_in(torch.optim, 'torch.optim')}")
    return obj


def _optimizers_in(obj: Any, where: str) -> str:
    """`` Optimizers in 'where': A, B.`` for the Optimizer subclasses that ``obj`` holds ('' when none or no torch)."""
    try:
        import torch
    except ImportError:
        return ""
    names = sorted(name for name, value in vars(obj).items() if not name.startswith("_") and isinstance(value, type)
                   and issubclass(value, torch.optim.Optimizer) and value is not torch.optim.Optimizer)
    return f" Optimizers in {where!r}: {', '.join(names)}." if names else ""


@functools.lru_cache(maxsize=None)
def optimizer_options(cls: type) -> dict[str, Param]:
    """The keyword options of ``cls.__init__`` after its first argument (the parameters), with defaults.

    Options whose default or type hint is a pair (``betas``, ``etas``) are typed
    ``tuple``, so that a suite file's ``betas = [0.8, 0.99]`` is one value, not a grid;
    other options are not type-checked here (the optimizer checks its values).
    """
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 -- unresolvable hints: fall back to the defaults
        hints = {}
    options = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[2:]:  # self, params
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        pair = isinstance(p.default, (tuple, list)) or typing.get_origin(hints.get(p.name)) in (tuple, list)
        options[p.name] = Param(p.name, p.default, tuple if pair else _EMPTY)
    return options


def _takes_any_keyword(cls: type) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def check_options(path: str, cls: type, options: dict[str, Any]) -> None:
    """Raise a one-line ParameterError for an option ``cls`` does not take, or a required one missing."""
    valid = optimizer_options(cls)
    listing = ", ".join(p.describe() for p in valid.values()) or "(none)"
    if not _takes_any_keyword(cls):
        for key in options:
            if key not in valid:
                raise ParameterError(f"method 'torch': optimizer {path!r} has no option {key!r}."
                                     f"{did_you_mean(key, list(valid))} Valid options: {listing}.")
    missing = [name for name, p in valid.items() if (p.required or _is_required_sentinel(p.default)) and name not in options]
    if missing:
        raise ParameterError(f"method 'torch': optimizer {path!r} needs option(s) {', '.join(map(repr, missing))}. "
                             f"Valid options: {listing}.")
    clashes = sorted(set(valid) & _OWN_ATTRIBUTES)
    if clashes:
        raise ParameterError(f"method 'torch': optimizer {path!r} has option(s) {clashes} whose names the adapter "
                             f"uses itself; it cannot be adapted")


def _is_required_sentinel(default: Any) -> bool:
    """torch's ``required`` marker (``lr=required`` in older optimizers)."""
    return type(default).__name__ == "_RequiredParameter"


# ---------------------------------------------------------------- the method
@register_method("torch")
class TorchOptimizer(Method):
    """Any torch.optim.Optimizer class (torch's own or a compatible third-party one) as a method.

    ``optimizer``: an importable dotted path (``"torch.optim.Adam"``,
    ``"pytorch_optimizer.Lion"``); every other parameter is one of the
    optimizer's own keyword options, validated against its ``__init__``. Update:
    ``.grad <- g_k`` (the problem's float64 gradient), ``optimizer.step()``,
    ``x_{k+1} <- the parameter``. The learning rate is the optimizer's ``lr``
    option: this method takes no step rule. Optimizers known elementwise step all
    runs as one ``(n_runs, dim)`` tensor, others one tensor per run (``elementwise``:
    True or False overrides the adapter's rule); LBFGS's closure evaluations and
    Hessian-vector products are charged; ScheduleFree runs are evaluated at their
    eval-mode point. Sweeps of the options run one value at a time.
    """

    updates_iterate = True
    batchable = ()
    default_step_rule = None
    tags = frozenset({"torch"})
    usage = ('[[methods]] name = "torch", optimizer = "torch.optim.Adam", lr = 0.01 (suite file); '
             'ob.methods.from_torch(torch.optim.Adam, lr=0.01) (Python)')

    def __new__(cls, optimizer: str | None = None, **options: Any) -> "TorchOptimizer":
        if cls is TorchOptimizer and optimizer is not None:
            cls = _specialized(load_optimizer(optimizer))
        return super().__new__(cls)

    def __init__(self, optimizer: str, elementwise: bool | None = None, **options: Any):
        self.optimizer_class = load_optimizer(optimizer)
        check_options(optimizer, self.optimizer_class, options)
        if elementwise not in (None, True, False):
            raise ParameterError(f"method 'torch': elementwise must be true, false or absent (the adapter decides), "
                                 f"got {elementwise!r}")
        self.optimizer, self.options = optimizer, dict(options)
        for name, p in optimizer_options(self.optimizer_class).items():
            setattr(self, name, options.get(name, p.default))
        _check_values(optimizer, self.optimizer_class, options)
        self.needs_closure = needs_closure(self.optimizer_class)
        self.given_elementwise = elementwise
        self.elementwise = is_elementwise(self.optimizer_class, self.options, elementwise)
        self.kind = _kind(self.optimizer_class)
        given = {} if elementwise is None else {"elementwise": elementwise}
        self._ob_spec = ("torch", {"optimizer": optimizer, **given, **options})

    @classmethod
    def parameters_for(cls, params: dict[str, Any]) -> dict[str, Param]:
        """The parameters of ``{"optimizer": path, **options}``: the path, ``elementwise`` and the optimizer's options."""
        if "optimizer" not in params:
            raise ParameterError("method 'torch' needs the parameter 'optimizer', a dotted path such as 'torch.optim.Adam'")
        path = params["optimizer"]
        optimizer_class = load_optimizer(path)
        options = {key: value for key, value in params.items() if key not in ("optimizer", "elementwise")}
        check_options(path, optimizer_class, options)
        given = {key: Param(key, _EMPTY, _EMPTY) for key in options}  # options taken by **kwargs
        return {"optimizer": Param("optimizer", _EMPTY, str), "elementwise": Param("elementwise", None, _EMPTY),
                **given, **optimizer_options(optimizer_class)}

    def __reduce__(self) -> tuple:
        return _rebuild, (self.optimizer, self.options, self.given_elementwise)

    def init(self, X: np.ndarray) -> TorchState:
        """The torch tensors of the batch, starting at ``X``, the optimizer(s) and the runs' random streams."""
        return TorchState(X, self.optimizer_class, self.options, self.elementwise, self.kind)

    def update(self, X: np.ndarray, G: np.ndarray, state: TorchState, k: int, ctx: Any) -> tuple[np.ndarray, TorchState]:
        """One ``optimizer.step()`` per optimizer (``optbench.adapters.torch_steps``); the parameters are ``X_next``."""
        return step_batch(state, X, G, k, ctx), state


def _kind(cls: type) -> str:
    """How ``cls`` steps: ``"closure"`` (LBFGS), ``"hessian"`` (SophiaH), ``"modes"`` (ScheduleFree) or ``"plain"``."""
    if needs_closure(cls):
        return "closure"
    if needs_hessian(cls):
        return "hessian"
    return "modes" if has_eval_mode(cls) else "plain"


def _check_values(path: str, cls: type, options: dict[str, Any]) -> None:
    """Build the optimizer once on a small tensor: its own checks of the option values, as one line."""
    torch = _torch()
    try:
        cls([torch.zeros(2, dtype=torch.float64, requires_grad=True)], **options)
    except Exception as exc:  # noqa: BLE001 -- any refusal of the options is the user's to fix
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParameterError(f"method 'torch': optimizer {path!r} refused the options {options}: {message}") from None


def _rebuild(path: str, options: dict[str, Any], elementwise: bool | None = None) -> TorchOptimizer:
    return TorchOptimizer(path, elementwise=elementwise, **options)


@functools.lru_cache(maxsize=None)
def _specialized(cls: type) -> type:
    """A subclass of TorchOptimizer whose signature lists ``cls``'s options (what sweeps and the registry read)."""
    options = optimizer_options(cls)
    keyword = inspect.Parameter.KEYWORD_ONLY

    def __init__(self, optimizer: str, elementwise: bool | None = None, **given: Any) -> None:
        TorchOptimizer.__init__(self, optimizer, elementwise, **given)

    __init__.__annotations__ = {}
    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("optimizer", keyword, default=optimizer_path(cls)),
         inspect.Parameter("elementwise", keyword, default=None)]
        + [inspect.Parameter(name, keyword, default=p.default) for name, p in options.items()])
    name = f"TorchOptimizer[{cls.__name__}]"
    return type(name, (TorchOptimizer,), {"__init__": __init__, "__module__": __name__, "__qualname__": name,
                                          "__doc__": TorchOptimizer.__doc__})


def from_torch(optimizer: type | str, **options: Any) -> TorchOptimizer:
    """The method that runs ``optimizer`` (a ``torch.optim.Optimizer`` subclass or its dotted path) with ``options``.

    ``ob.methods.from_torch(torch.optim.Adam, lr=0.01)`` is the method
    ``{"name": "torch", "optimizer": "torch.optim.Adam", "lr": 0.01}``; a class
    that is not importable by its path (defined in a notebook or a test) is
    remembered under ``module.QualifiedName`` for this process.
    """
    if isinstance(optimizer, type):
        torch = _torch()
        if not issubclass(optimizer, torch.optim.Optimizer):
            raise ParameterError(f"method 'torch': {optimizer_path(optimizer)!r} is not a torch.optim.Optimizer subclass")
        path = _public_path(optimizer)
        _GIVEN.setdefault(path, optimizer)
        if _GIVEN[path] is not optimizer:  # a class redefined under the same name (a re-run notebook cell)
            _GIVEN[path] = optimizer
    elif isinstance(optimizer, str):
        path = optimizer
    else:
        raise ParameterError(f"method 'torch': optimizer must be a torch.optim.Optimizer subclass or a dotted path, "
                             f"got {type(optimizer).__name__} {optimizer!r}")
    from optbench.registry import methods

    return methods.create("torch", optimizer=path, **options)


def _public_path(cls: type) -> str:
    """``torch.optim.Adam`` rather than ``torch.optim.adam.Adam`` when the shorter path names the same class."""
    path = optimizer_path(cls)
    module = cls.__module__.rsplit(".", 1)[0]
    if "." in cls.__module__:
        try:
            if getattr(importlib.import_module(module), cls.__qualname__, None) is cls:
                return f"{module}.{cls.__qualname__}"
        except ImportError:
            pass
    return path
