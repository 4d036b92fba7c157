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

from optbench.constraints import Declared, Interval, Pair
from optbench.numerics import power
from optbench.registry import register_method

__all__ = [
    "Method", "GD", "Momentum", "Nesterov", "SignGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW",
    "AMSGrad", "Adamax", "NAdam", "RAdam", "Rprop", "Lion",
]


class Method(Declared):
    """Base class of descent methods.

    Implement ``init(X) -> state`` and ``direction(X, G, state, k) -> (D, state)``.
    A method that owns its loop (scipy's) sets ``owns_loop = True`` and implements
    ``minimize(oracle, x0, max_iter, tol) -> (status, x)`` instead; it takes no
    step rule. ``oracle`` (``optbench.Oracle``) counts every f and gradient
    call of one run, and its ``iteration(x)`` records the trace; ``status`` is
    ``"converged"`` (optbench's tolerance met), ``"stopped"`` (the method's own
    criterion; return ``(status, x, message)`` to say why), ``"budget"`` or ``"diverged"``.

    A method that computes the next iterate itself (its learning rate inside, as a
    ``torch.optim`` optimizer) sets ``updates_iterate = True`` and implements
    ``update(X, G, state, k, ctx) -> (X_next, state)`` instead of ``direction``; it
    takes no step rule, and ``ctx.evaluate(X, need_grad=True, mask=None)`` gives it
    further charged evaluations (closures); ``ctx.hvp(V, X=None, mask=None)`` gives
    charged Hessian-vector products (``newton-cg`` in ``optbench.newton``).

    ``batchable`` names the parameters that only change numbers: the engine may
    set each of them to one value per run, an ``(n_runs, 1)`` column (a pair such
    as ``betas`` becomes a pair of columns), so that a learning-rate or momentum
    grid runs as one batch. Code that uses them must work elementwise on such a
    column (``_any(self.weight_decay)``, not ``if self.weight_decay:``).
    A plugin that declares nothing is still correct: its values run one by one.

    ``batch_family`` and ``batch_flags`` let related methods share one batch: methods of
    one family (``nesterov`` is ``momentum`` with a flag; ``adamw``, ``amsgrad`` and
    ``nadam`` are ``adam`` with flags) that differ only in batchable parameters and in the boolean
    attributes named by ``batch_flags`` run as one batched instance, each flag then an
    ``(n_runs, 1)`` boolean column that selects each run's own arithmetic (``np.where``),
    so a run's numbers are those it has alone.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "method"
    batchable: ClassVar[tuple[str, ...]] = ()
    batch_family: ClassVar[str | None] = None
    batch_flags: ClassVar[tuple[str, ...]] = ()
    tags: ClassVar[frozenset[str]] = frozenset()
    owns_loop: ClassVar[bool] = False
    updates_iterate: ClassVar[bool] = False
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

    batchable = ("weight_decay",)
    constraints = {"weight_decay": [Interval("real", 0, None)]}

    def __init__(self, weight_decay: float = 0.0):
        self.weight_decay = weight_decay

    def direction(self, X, G, state, k):
        weight_decay = self.weight_decay
        if weight_decay.__class__ is float and weight_decay == 0.0:  # the usual case, without a call
            return np.negative(G), state
        return np.negative(_with_decay(G, X, weight_decay)), state


# ---------------------------------------------------------------- helpers
NON_NEGATIVE = [Interval("real", 0, None)]
FRACTION = [Interval("real", 0, 1, closed="left")]  # [0, 1)
BETAS = [Pair(Interval("real", 0, 1, closed="left"), Interval("real", 0, 1, closed="left"))]

def _any(value: Any) -> bool:
    """Whether a hyperparameter (a scalar, or one value per run) is non-zero anywhere; fast for scalars."""
    if value.__class__ is float or isinstance(value, (int, float)):
        return value != 0
    return bool(np.any(value))


def _flag(value: Any) -> bool | np.ndarray:
    """A ``batch_flags`` attribute: True, False, or an ``(n_runs, 1)`` boolean column (runs of a family batch)."""
    return value if isinstance(value, np.ndarray) else bool(value)


def _true_rows(flag: np.ndarray) -> list[slice]:
    """The runs of consecutive True rows of an ``(n_runs, 1)`` boolean column, as slices (a family batch
    lays its cells' rows out one after another, so a flag is True on a few blocks)."""
    padded = np.concatenate(([False], np.ravel(flag), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1]).tolist()
    return [slice(start, stop) for start, stop in zip(edges[::2], edges[1::2])]


def _on_rows(value: Any, rows: slice) -> Any:
    """A hyperparameter on ``rows``: a per-run column sliced (a view), a scalar as it is."""
    return value[rows] if isinstance(value, np.ndarray) else value


def _with_decay(G: np.ndarray, X: np.ndarray, weight_decay: float) -> np.ndarray:
    """``g + weight_decay * x`` (torch's coupled L2 weight decay), a new array (``g`` itself without decay)."""
    if weight_decay.__class__ is float and weight_decay == 0.0:  # the usual case, without a call
        return G
    if _any(weight_decay):
        return G + weight_decay * X
    return G


class _Betas:
    """``beta1`` and ``beta2`` read from ``betas``, so that a swept pair of columns reaches the arithmetic."""

    betas: Any

    @property
    def beta1(self) -> Any:
        return self.betas[0]

    @property
    def beta2(self) -> Any:
        return self.betas[1]


def _update_moments(state: dict, G: np.ndarray, beta1: float, beta2: float) -> tuple[np.ndarray, np.ndarray]:
    """Adam's moment estimates, in place and in torch's arithmetic order:
    ``m <- m + (1 - beta1) (g - m)`` (torch's ``lerp``), ``v <- beta2 v + (1 - beta2) g^2``."""
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg += (1.0 - beta1) * (G - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * (G * G)
    return exp_avg, exp_avg_sq


# ---------------------------------------------------------------- SGD family
@register_method("momentum")
class Momentum(Method):
    """Heavy ball, as ``torch.optim.SGD(momentum=..., dampening=...)``.

    ``g' = g + weight_decay * x``; ``b_1 = g'`` at the first step, then
    ``b_k = momentum * b_{k-1} + (1 - dampening) * g'``; ``D = -b_k``
    (``D = -(g' + momentum * b_k)`` for runs with the ``nesterov`` flag, see ``nesterov``).
    torch's SGD has momentum 0 by default; here the default is 0.9.
    """

    batchable = ("momentum", "dampening", "weight_decay")
    batch_family, batch_flags = "momentum", ("nesterov",)
    constraints = {"momentum": FRACTION, "dampening": [Interval("real", 0, 1)], "weight_decay": NON_NEGATIVE}

    def __init__(self, momentum: float = 0.9, dampening: float = 0.0, weight_decay: float = 0.0):
        self.momentum, self.dampening, self.weight_decay = momentum, dampening, weight_decay
        self.nesterov = False  # a batch flag, not a parameter: the method "nesterov" sets it

    def init(self, X):
        return {"buffer": np.zeros_like(X)}

    def _buffer(self, X, G, state, k):
        G = _with_decay(G, X, self.weight_decay)
        buffer = state["buffer"]
        if k == 0:
            np.copyto(buffer, G)
        else:
            buffer *= self.momentum
            buffer += (1.0 - self.dampening) * G if _any(self.dampening) else G
        return G, buffer

    def direction(self, X, G, state, k):
        G, buffer = self._buffer(X, G, state, k)
        nesterov = _flag(self.nesterov)
        if nesterov is False:
            return np.negative(buffer), state
        D = self.momentum * buffer
        D += G
        np.negative(D, out=D)
        if nesterov is True:
            return D, state
        return np.where(nesterov, D, np.negative(buffer)), state


@register_method("nesterov")
class Nesterov(Momentum):
    """Nesterov momentum, as ``torch.optim.SGD(momentum=..., nesterov=True)``.

    ``g' = g + weight_decay * x``; ``b_1 = g'``, then ``b_k = momentum * b_{k-1} + g'``;
    ``D = -(g' + momentum * b_k)``. (torch requires dampening 0 with Nesterov.)
    """

    batchable = ("momentum", "weight_decay")
    constraints = {"momentum": [Interval("real", 0, 1, closed="neither")], "weight_decay": NON_NEGATIVE}

    def __init__(self, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(momentum=momentum, dampening=0.0, weight_decay=weight_decay)
        self.nesterov = True  # momentum's direction with the flag (so nesterov and momentum cells share a batch)


@register_method("sign-gd")
class SignGD(Method):
    """Sign gradient descent: ``D = -sign(g + weight_decay * x)`` (each coordinate moves by alpha)."""

    batchable = ("weight_decay",)
    constraints = {"weight_decay": NON_NEGATIVE}

    def __init__(self, weight_decay: float = 0.0):
        self.weight_decay = weight_decay

    def direction(self, X, G, state, k):
        D = np.sign(_with_decay(G, X, self.weight_decay))
        np.negative(D, out=D)
        return D, state


# ---------------------------------------------------------------- adaptive (per-coordinate) methods
@register_method("adagrad")
class Adagrad(Method):
    """Adagrad, as ``torch.optim.Adagrad``.

    ``g' = g + weight_decay * x``; ``s_k = s_{k-1} + g'^2`` with ``s_0 = initial_accumulator_value``;
    ``D = -g' / (sqrt(s_k) + eps) / (1 + k * lr_decay)`` (``k`` from 0).
    """

    default_step_rule = {"name": "constant", "lr": 0.01}
    batchable = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    constraints = {"lr_decay": NON_NEGATIVE, "weight_decay": NON_NEGATIVE, "initial_accumulator_value": NON_NEGATIVE,
                   "eps": NON_NEGATIVE}

    def __init__(self, lr_decay: float = 0.0, weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        self.lr_decay, self.weight_decay = lr_decay, weight_decay
        self.initial_accumulator_value, self.eps = initial_accumulator_value, eps

    def init(self, X):
        total = np.zeros_like(X)
        total += self.initial_accumulator_value  # a scalar or one value per run
        return {"sum": total}

    def direction(self, X, G, state, k):
        G = _with_decay(G, X, self.weight_decay)
        total = state["sum"]
        total += G * G
        std = np.sqrt(total)
        std += self.eps
        D = np.divide(G, std, out=std)
        D *= -1.0 / (1.0 + k * self.lr_decay)
        return D, state


@register_method("rmsprop")
class RMSprop(Method):
    """RMSprop, as ``torch.optim.RMSprop`` (plain or centered, optional momentum).

    ``g' = g + weight_decay * x``; ``v_k = alpha v_{k-1} + (1 - alpha) g'^2`` (``v_0 = 0``);
    centered: ``m_k = m_{k-1} + (1 - alpha)(g' - m_{k-1})`` and ``r = sqrt(v_k - m_k^2) + eps``,
    else ``r = sqrt(v_k) + eps``. Without momentum ``D = -g'/r``; with it
    ``b_k = momentum b_{k-1} + g'/r`` (``b_0 = 0``) and ``D = -b_k``.
    """

    default_step_rule = {"name": "constant", "lr": 0.01}
    batchable = ("alpha", "eps", "weight_decay", "momentum")
    constraints = {"alpha": FRACTION, "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE, "momentum": FRACTION}

    def __init__(self, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        self.alpha, self.eps, self.weight_decay, self.momentum, self.centered = alpha, eps, weight_decay, momentum, centered

    def init(self, X):
        state = {"square_avg": np.zeros_like(X)}
        if self.centered:
            state["grad_avg"] = np.zeros_like(X)
        if np.any(self.momentum > 0):  # runs with momentum 0 keep buffer = g'/r, the plain update
            state["buffer"] = np.zeros_like(X)
        return state

    def direction(self, X, G, state, k):
        G = _with_decay(G, X, self.weight_decay)
        square_avg = state["square_avg"]
        square_avg *= self.alpha
        square_avg += (1.0 - self.alpha) * (G * G)
        if self.centered:
            grad_avg = state["grad_avg"]
            grad_avg += (1.0 - self.alpha) * (G - grad_avg)
            avg = square_avg - grad_avg * grad_avg
            np.sqrt(avg, out=avg)
        else:
            avg = np.sqrt(square_avg)
        avg += self.eps
        if "buffer" in state:
            buffer = state["buffer"]
            buffer *= self.momentum
            buffer += G / avg
            return np.negative(buffer), state
        D = np.divide(G, avg, out=avg)
        np.negative(D, out=D)
        return D, state


@register_method("adadelta")
class Adadelta(Method):
    """Adadelta, as ``torch.optim.Adadelta``.

    ``g' = g + weight_decay * x``; ``v_k = rho v_{k-1} + (1 - rho) g'^2``;
    ``delta = sqrt(u_{k-1} + eps) / sqrt(v_k + eps) * g'``;
    ``u_k = rho u_{k-1} + (1 - rho) delta^2`` (``v_0 = u_0 = 0``); ``D = -delta``.
    torch accumulates ``delta`` before it multiplies by ``lr``, so the step rule's
    ``alpha`` plays torch's ``lr`` exactly (torch's default lr is 1.0).
    """

    default_step_rule = {"name": "constant", "lr": 1.0}
    batchable = ("rho", "eps", "weight_decay")
    constraints = {"rho": [Interval("real", 0, 1)], "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE}

    def __init__(self, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0):
        self.rho, self.eps, self.weight_decay = rho, eps, weight_decay

    def init(self, X):
        return {"square_avg": np.zeros_like(X), "acc_delta": np.zeros_like(X)}

    def direction(self, X, G, state, k):
        G = _with_decay(G, X, self.weight_decay)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= self.rho
        square_avg += (1.0 - self.rho) * (G * G)
        std = np.sqrt(square_avg + self.eps)
        delta = np.sqrt(acc_delta + self.eps)
        delta /= std
        delta *= G
        acc_delta *= self.rho
        acc_delta += (1.0 - self.rho) * (delta * delta)
        np.negative(delta, out=delta)
        return delta, state


@register_method("adam")
class Adam(_Betas, Method):
    """Adam, as ``torch.optim.Adam`` (``t = k + 1``).

    ``g' = g + weight_decay * x`` (coupled L2 decay, torch's Adam);
    ``m_t = m_{t-1} + (1 - beta1)(g' - m_{t-1})``; ``v_t = beta2 v_{t-1} + (1 - beta2) g'^2``
    (``m_0 = v_0 = 0``); with ``amsgrad``, ``v_max_t = max(v_max_{t-1}, v_t)`` replaces ``v_t``
    below; ``D = -(m_t / (1 - beta1^t)) / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)``.
    With ``decoupled_weight_decay`` (AdamW) the decay is not added to ``g`` but to the
    direction, ``D -= weight_decay * x``: torch multiplies ``x`` by ``1 - lr * weight_decay``
    before the Adam step, and ``x + lr * (-weight_decay * x + D_adam)`` is the same update.
    With the ``nadam`` flag (the method ``nadam``) ``D`` is NAdam's (see ``nadam``).
    """

    default_step_rule = {"name": "constant", "lr": 0.001}
    batchable = ("betas", "eps", "weight_decay")
    batch_family, batch_flags = "adam", ("amsgrad", "decoupled_weight_decay", "nadam")
    constraints = {"betas": BETAS, "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE}
    # Not parameters: the method "nadam" sets the flag and its momentum_decay, so that nadam
    # cells batch with adam's; adam's rows carry nadam's default (one scalar when nadam's is too).
    nadam: Any = False
    momentum_decay: Any = 4e-3

    def __init__(
        self,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay
        self.amsgrad, self.decoupled_weight_decay = amsgrad, decoupled_weight_decay

    def init(self, X):
        state = {"exp_avg": np.zeros_like(X), "exp_avg_sq": np.zeros_like(X)}
        if np.any(self.amsgrad):
            state["max_exp_avg_sq"] = np.zeros_like(X)
        if self.nadam is not False and np.any(self.nadam):
            # P_t: a scalar while beta1 and momentum_decay are (every run's t-th step is at one k)
            state["mu_product"] = 1.0
            if self.nadam is not True:  # a family batch: the blocks of rows that take NAdam's arithmetic
                state["nadam_rows"] = _true_rows(self.nadam)
        return state

    def direction(self, X, G, state, k):
        """Per-run flags (a family batch) select each run's arithmetic: ``np.where`` for the decay and
        ``amsgrad``; NAdam's arithmetic replaces Adam's on the blocks of rows whose ``nadam`` flag is set."""
        t = k + 1
        decoupled, amsgrad = _flag(self.decoupled_weight_decay), _flag(self.amsgrad)
        if decoupled is False:
            G = _with_decay(G, X, self.weight_decay)
        elif decoupled is not True and _any(self.weight_decay):  # rows without decay keep g itself, as alone
            G = np.where(~decoupled & (self.weight_decay != 0), G + self.weight_decay * X, G)
        exp_avg, exp_avg_sq = _update_moments(state, G, self.beta1, self.beta2)
        nadam = self.nadam
        if nadam is True:
            D = self._nadam_direction(G, exp_avg, exp_avg_sq, self._momentum_schedule(state, t))
        else:
            second = exp_avg_sq
            if amsgrad is not False:
                second = state["max_exp_avg_sq"]
                np.maximum(second, exp_avg_sq, out=second)
                if amsgrad is not True:
                    second = np.where(amsgrad, second, exp_avg_sq)
            denom = np.sqrt(second)
            denom *= 1.0 / power(1.0 - power(self.beta2, t), 0.5)
            denom += self.eps
            D = np.divide(exp_avg, denom, out=denom)
            D *= -1.0 / (1.0 - power(self.beta1, t))
            if nadam is not False:  # a family batch with nadam runs (a column): their rows get NAdam's instead
                schedule = self._momentum_schedule(state, t)
                for rows in state["nadam_rows"]:
                    D[rows] = self._nadam_direction(G, exp_avg, exp_avg_sq, schedule, rows)
        if decoupled is not False and _any(self.weight_decay):
            if decoupled is True:
                D -= self.weight_decay * X
            else:
                D = np.where(decoupled & (self.weight_decay != 0), D - self.weight_decay * X, D)
        return D, state

    def _momentum_schedule(self, state, t):
        """NAdam's ``(mu_t, mu_{t+1}, P_t, 1 - beta2^t)``, scalars or per-run columns; ``P_t`` kept in ``state``."""
        beta1, momentum_decay = self.beta1, self.momentum_decay
        mu = beta1 * (1.0 - 0.5 * power(0.96, t * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * power(0.96, (t + 1) * momentum_decay))
        mu_product = state["mu_product"] * mu
        state["mu_product"] = mu_product
        return mu, mu_next, mu_product, 1.0 - power(self.beta2, t)

    def _nadam_direction(self, G, exp_avg, exp_avg_sq, schedule, rows=None):
        """NAdam's ``D`` before decoupled decay (equations in ``nadam``) on ``rows`` (a slice of a family
        batch, views; all rows when None); ``schedule`` from ``_momentum_schedule``."""
        mu, mu_next, mu_product, bias2 = schedule
        eps = self.eps
        if rows is not None:
            G, exp_avg, exp_avg_sq = G[rows], exp_avg[rows], exp_avg_sq[rows]
            if mu.__class__ is not float or bias2.__class__ is not float or eps.__class__ is not float:
                mu, mu_next, mu_product, bias2, eps = (_on_rows(v, rows) for v in (mu, mu_next, mu_product, bias2, eps))
        denom = exp_avg_sq / bias2
        np.sqrt(denom, out=denom)
        denom += eps
        D = (-(1.0 - mu) / (1.0 - mu_product)) * (G / denom)
        D += (-mu_next / (1.0 - mu_product * mu_next)) * (exp_avg / denom)
        return D


@register_method("adamw")
class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay (default 0.01).

    ``D = D_adam - weight_decay * x``, so ``x + lr * D`` is torch's
    ``x (1 - lr * weight_decay)`` followed by the Adam step (see ``adam``).
    """

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01, amsgrad: bool = False):
        super().__init__(betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, decoupled_weight_decay=True)


@register_method("amsgrad")
class AMSGrad(Adam):
    """AMSGrad, as ``torch.optim.Adam(amsgrad=True)``: Adam with ``v_max_t = max(v_max_{t-1}, v_t)``."""

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False):
        super().__init__(betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=True, decoupled_weight_decay=decoupled_weight_decay)


@register_method("adamax")
class Adamax(_Betas, Method):
    """Adamax, as ``torch.optim.Adamax`` (``t = k + 1``).

    ``g' = g + weight_decay * x``; ``m_t = m_{t-1} + (1 - beta1)(g' - m_{t-1})``;
    ``u_t = max(beta2 u_{t-1}, |g'| + eps)`` (``m_0 = u_0 = 0``);
    ``D = -(m_t / u_t) / (1 - beta1^t)``.
    """

    default_step_rule = {"name": "constant", "lr": 0.002}
    batchable = ("betas", "eps", "weight_decay")
    constraints = {"betas": BETAS, "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE}

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def init(self, X):
        return {"exp_avg": np.zeros_like(X), "exp_inf": np.zeros_like(X)}

    def direction(self, X, G, state, k):
        G = _with_decay(G, X, self.weight_decay)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg += (1.0 - self.beta1) * (G - exp_avg)
        exp_inf *= self.beta2
        bound = np.abs(G)
        bound += self.eps
        np.maximum(exp_inf, bound, out=exp_inf)
        D = np.divide(exp_avg, exp_inf, out=bound)
        D *= -1.0 / (1.0 - power(self.beta1, k + 1))
        return D, state


@register_method("nadam")
class NAdam(Adam):
    """NAdam, as ``torch.optim.NAdam`` (``t = k + 1``), with its momentum schedule.

    ``mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))``, ``P_t = mu_1 ... mu_t``;
    ``g' = g + weight_decay * x`` (or decoupled, see ``adamw``);
    ``m_t = m_{t-1} + (1 - beta1)(g' - m_{t-1})``; ``v_t = beta2 v_{t-1} + (1 - beta2) g'^2``;
    ``r = sqrt(v_t / (1 - beta2^t)) + eps``;
    ``D = -[(1 - mu_t) / (1 - P_t)] g'/r - [mu_{t+1} / (1 - P_t mu_{t+1})] m_t/r``.
    Computed by ``adam``'s ``direction`` with the ``nadam`` flag, so nadam cells share a batch with adam's.
    """

    default_step_rule = {"name": "constant", "lr": 0.002}
    batchable = ("betas", "eps", "weight_decay", "momentum_decay")
    constraints = {"betas": BETAS, "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE, "momentum_decay": NON_NEGATIVE}

    def __init__(
        self,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
    ):
        super().__init__(betas=betas, eps=eps, weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay)
        self.momentum_decay, self.nadam = momentum_decay, True


@register_method("radam")
class RAdam(_Betas, Method):
    """RAdam, as ``torch.optim.RAdam`` (``t = k + 1``).

    ``m_t``, ``v_t`` as in Adam; ``rho_inf = 2/(1 - beta2) - 1``,
    ``rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)``. When ``rho_t > 5``:
    ``D = -(m_t/(1 - beta1^t)) * sqrt(1 - beta2^t)/(sqrt(v_t) + eps) * sqrt((rho_t-4)(rho_t-2)rho_inf / ((rho_inf-4)(rho_inf-2)rho_t))``,
    otherwise ``D = -m_t/(1 - beta1^t)`` (un-adapted momentum step).
    Weight decay coupled (``g' = g + weight_decay * x``) or decoupled (``D -= weight_decay * x``).
    """

    default_step_rule = {"name": "constant", "lr": 0.001}
    batchable = ("betas", "eps", "weight_decay")
    constraints = {"betas": BETAS, "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE}

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False):
        self.betas, self.eps, self.weight_decay, self.decoupled_weight_decay = tuple(betas), eps, weight_decay, decoupled_weight_decay

    def init(self, X):
        return {"exp_avg": np.zeros_like(X), "exp_avg_sq": np.zeros_like(X)}

    def direction(self, X, G, state, k):
        t = k + 1
        if not self.decoupled_weight_decay:
            G = _with_decay(G, X, self.weight_decay)
        exp_avg, exp_avg_sq = _update_moments(state, G, self.beta1, self.beta2)
        bias_correction1 = 1.0 - power(self.beta1, t)
        bias_correction2 = 1.0 - power(self.beta2, t)
        rho_inf = 2.0 / (1.0 - self.beta2) - 1.0
        rho_t = rho_inf - 2.0 * t * power(self.beta2, t) / bias_correction2
        D = exp_avg / bias_correction1
        rectified = rho_t > 5.0  # per run when beta2 is
        if np.any(rectified):
            ratio = (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
            rect = np.sqrt(np.where(rectified, ratio, 1.0))
            denom = np.sqrt(exp_avg_sq)
            denom += self.eps
            adapted = D * (np.sqrt(bias_correction2) / denom)
            adapted *= rect
            D = np.where(rectified, adapted, D)
        np.negative(D, out=D)
        if self.decoupled_weight_decay and _any(self.weight_decay):
            D -= self.weight_decay * X
        return D, state


@register_method("rprop")
class Rprop(Method):
    """Rprop, as ``torch.optim.Rprop``, with step sizes relative to the learning rate.

    Each coordinate keeps a factor ``s`` (``s_0 = 1``) and the previous gradient ``p``
    (``p_0 = 0``): where ``g p > 0``, ``s *= eta_plus``; where ``g p < 0``, ``s *= eta_minus``
    and that coordinate's ``g`` is set to 0 (no move; ``p`` becomes 0); ``s`` is clipped
    to ``step_bounds``; ``D = -sign(g) * s``; ``p = g``.
    torch keeps absolute step sizes ``lr * s``; here ``alpha * D`` gives the same move
    with ``alpha = lr`` from ``constant(lr)``. torch clips the absolute step to
    ``step_sizes = (a, b)``: pass ``step_bounds = (a / lr, b / lr)``. The defaults,
    ``(1e-4, 5000)``, are torch's ``(1e-6, 50)`` at torch's default lr 0.01.
    """

    default_step_rule = {"name": "constant", "lr": 0.01}
    batchable = ("etas", "step_bounds")
    constraints = {"etas": [Pair(Interval("real", 0, 1, closed="neither"), Interval("real", 1, None, closed="neither"))],
                   "step_bounds": [Pair(Interval("real", 0, None), Interval("real", 0, None), ordered=True)]}

    def __init__(self, etas: tuple[float, float] = (0.5, 1.2), step_bounds: tuple[float, float] = (1e-4, 5000.0)):
        self.etas, self.step_bounds = tuple(etas), tuple(step_bounds)

    def init(self, X):
        return {"prev": np.zeros_like(X), "factor": np.ones_like(X)}

    def direction(self, X, G, state, k):
        eta_minus, eta_plus = self.etas
        prev, factor = state["prev"], state["factor"]
        product = G * prev
        grew, shrank = product > 0, product < 0
        multiplier = np.where(grew, eta_plus, np.where(shrank, eta_minus, 1.0))
        factor *= multiplier
        np.clip(factor, self.step_bounds[0], self.step_bounds[1], out=factor)
        G = np.where(shrank, 0.0, G)
        np.copyto(prev, G)
        D = np.sign(G)
        D *= factor
        np.negative(D, out=D)
        return D, state


@register_method("lion")
class Lion(_Betas, Method):
    """Lion (Chen et al., 2023): sign of an interpolated momentum, decoupled weight decay.

    ``c = m_{k-1} + (1 - beta1)(g - m_{k-1})``; ``D = -(sign(c) + weight_decay * x)``;
    ``m_k = m_{k-1} + (1 - beta2)(g - m_{k-1})`` (``m_0 = 0``).
    """

    default_step_rule = {"name": "constant", "lr": 1e-4}
    batchable = ("betas", "weight_decay")
    constraints = {"betas": BETAS, "weight_decay": NON_NEGATIVE}

    def __init__(self, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0):
        self.betas, self.weight_decay = tuple(betas), weight_decay

    def init(self, X):
        return {"exp_avg": np.zeros_like(X)}

    def direction(self, X, G, state, k):
        exp_avg = state["exp_avg"]
        D = G - exp_avg
        D *= 1.0 - self.beta1
        D += exp_avg
        np.sign(D, out=D)
        if _any(self.weight_decay):
            D += self.weight_decay * X
        np.negative(D, out=D)
        exp_avg += (1.0 - self.beta2) * (G - exp_avg)
        return D, state
