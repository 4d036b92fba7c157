"""Step-size rules.

A rule gives one step size per run: ``init(n_runs) -> state`` and
``step(ctx, state) -> (alpha, state)`` with ``alpha`` of shape ``(n_runs,)``.
``ctx`` (see ``optbench.StepContext``) carries the iteration ``k``, ``X``,
the values ``F``, the gradient ``G``, the direction ``D``, the problem's ``f_opt``,
the minibatch, the mask of ``active`` runs, and ``line(alpha, need_grad=False,
mask=None)`` which evaluates ``f(X + alpha * D)`` on the same minibatch and
charges the evaluations to the runs in ``mask``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from optbench.constraints import Declared, Interval, Options
from optbench.numerics import power
from optbench.registry import register_step_rule

__all__ = [
    "StepRule", "Constant", "Diminishing", "Exponential", "StepDecay", "Cosine", "Polyak",
    "Armijo", "Wolfe", "Exact", "BarzilaiBorwein",
]


class StepRule(Declared):
    """Base class of step-size rules: ``init(n_runs)`` and ``step(ctx, state) -> (alpha, state)``."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "step rule"
    tags: ClassVar[frozenset[str]] = frozenset()
    # Keys of the state dict that count per-run events (fallbacks, failed searches, trials):
    # ob.run copies them into the runs table as columns step_<name>.
    counters: ClassVar[tuple[str, ...]] = ()
    # Parameters that only change numbers: the engine may set each to one value per run, an
    # (n_runs,) vector, so a learning-rate grid runs as one batch. Code must work elementwise on it.
    batchable: ClassVar[tuple[str, ...]] = ()
    # What the rule needs of the problem, checked once per cell by the engine (e.g. ("f_opt",)).
    requires: tuple[str, ...] = ()

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

    batchable = ("lr",)
    constraints = {"lr": [Interval("real", 0, None, closed="neither")]}

    def __init__(self, lr: float = 0.01):
        self.lr = lr

    def init(self, n_runs):
        return np.full(n_runs, self.lr, dtype=float)

    def step(self, ctx, state):
        return state, state


# ---------------------------------------------------------------- helpers
def _slope(ctx: Any) -> np.ndarray:
    """Directional derivative ``g.d`` per run."""
    return np.vecdot(ctx.G, ctx.D)


def _counters(n_runs: int, *names: str) -> dict[str, np.ndarray]:
    return {name: np.zeros(n_runs, dtype=np.int64) for name in names}


# ---------------------------------------------------------------- schedules
@register_step_rule("diminishing")
class Diminishing(StepRule):
    """A diminishing step: ``alpha_k = lr / (1 + decay * k)^power`` (``k`` from 0).

    ``power=1`` is the classical ``1/k`` rule, ``power=0.5`` the ``1/sqrt(k)`` rule:
    both are not summable, and the first is square-summable, the conditions under
    which the subgradient method converges (Boyd, EE364b).
    """

    batchable = ("lr", "decay", "power")
    constraints = {"lr": [Interval("real", 0, None, closed="neither")], "decay": [Interval("real", 0, None)], "power": [Interval("real", 0, 1, closed="right")]}

    def __init__(self, lr: float = 0.1, decay: float = 1.0, power: float = 1.0):
        self.lr, self.decay, self.power = lr, decay, power

    def step(self, ctx, state):
        return np.full(ctx.n_runs, self.lr / power(1.0 + self.decay * ctx.k, self.power), dtype=float), state


@register_step_rule("exponential")
class Exponential(StepRule):
    """Exponential decay: ``alpha_k = lr * gamma^k`` (torch's ExponentialLR)."""

    batchable = ("lr", "gamma")
    constraints = {"lr": [Interval("real", 0, None, closed="neither")], "gamma": [Interval("real", 0, 1, closed="right")]}

    def __init__(self, lr: float = 0.01, gamma: float = 0.99):
        self.lr, self.gamma = lr, gamma

    def step(self, ctx, state):
        return np.full(ctx.n_runs, self.lr * power(self.gamma, ctx.k), dtype=float), state


@register_step_rule("step")
class StepDecay(StepRule):
    """Step decay: ``alpha_k = lr * gamma^floor(k / step_size)`` (torch's StepLR)."""

    batchable = ("lr", "gamma")
    constraints = {"lr": [Interval("real", 0, None, closed="neither")], "step_size": [Interval("int", 1)], "gamma": [Interval("real", 0, 1, closed="right")]}

    def __init__(self, lr: float = 0.01, step_size: int = 100, gamma: float = 0.1):
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def step(self, ctx, state):
        return np.full(ctx.n_runs, self.lr * power(self.gamma, ctx.k // self.step_size), dtype=float), state


@register_step_rule("cosine")
class Cosine(StepRule):
    """Cosine annealing with optional linear warm-up.

    During warm-up (``k < warmup``): ``alpha_k = lr * (k + 1) / warmup``. Then, with
    ``j = min(k - warmup, T)`` and ``T = t_max - warmup``:
    ``alpha_k = lr_min + (lr - lr_min) * (1 + cos(pi * j / T)) / 2``, and ``lr_min``
    after ``t_max`` iterations.
    """

    batchable = ("lr", "lr_min")
    constraints = {"lr": [Interval("real", 0, None, closed="neither")], "t_max": [Interval("int", 1)], "lr_min": [Interval("real", 0, None)], "warmup": [Interval("int", 0)]}

    def __init__(self, lr: float = 0.01, t_max: int = 1000, lr_min: float = 0.0, warmup: int = 0):
        if not lr_min <= lr:
            raise ValueError(f"lr_min must be in [0, lr={lr}], got {lr_min!r}")
        if not warmup < t_max:
            raise ValueError(f"warmup must be an integer in [0, t_max={t_max}), got {warmup!r}")
        self.lr, self.t_max, self.lr_min, self.warmup = lr, t_max, lr_min, warmup

    def value(self, k: int) -> float:
        if k < self.warmup:
            return self.lr * (k + 1) / self.warmup
        period = self.t_max - self.warmup
        j = min(k - self.warmup, period)
        return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1.0 + np.cos(np.pi * j / period))

    def step(self, ctx, state):
        return np.full(ctx.n_runs, self.value(ctx.k), dtype=float), state


# ---------------------------------------------------------------- Polyak
@register_step_rule("polyak")
class Polyak(StepRule):
    """Polyak's step: the step at which the first-order model reaches the optimal value.

    ``alpha_k = (f(x_k) - f_target) / (-g.d)``, which for ``d = -g`` is Polyak's
    ``(f - f*) / ||g||^2``, capped at ``max_lr`` when given. ``f_target`` is the
    problem's ``f_opt``; with ``estimate=True`` it is instead
    ``min_{j<=k} f(x_j) - gamma / (k + 1)`` (Boyd's estimated-optimum variant;
    see also Hazan & Kakade 2019), which needs no ``f_opt``.
    Where ``g.d >= 0`` or ``f <= f_target`` the step is 0 (the ``fallbacks``
    counter of the state goes up).
    """

    counters = ('fallbacks',)
    batchable = ("max_lr", "gamma")
    constraints = {"max_lr": [Interval("real", 0, None, closed="neither"), None], "gamma": [Interval("real", 0, None, closed="neither")]}

    @property
    def requires(self) -> tuple[str, ...]:
        """``("f_opt",)`` unless ``estimate``: the engine refuses (and suites leave out) problems without it."""
        return () if self.estimate else ("f_opt",)

    def __init__(self, max_lr: float | None = None, estimate: bool = False, gamma: float = 1.0):
        self.max_lr, self.estimate, self.gamma = max_lr, estimate, gamma

    def init(self, n_runs):
        return {"f_best": np.full(n_runs, np.inf), **_counters(n_runs, "fallbacks")}

    def step(self, ctx, state):
        if self.estimate:
            np.fmin(state["f_best"], ctx.F, out=state["f_best"])
            target = state["f_best"] - self.gamma / (ctx.k + 1)
        else:
            target = ctx.f_opt  # the engine checked that the problem has one (``requires``)
        decrease = -_slope(ctx)
        gap = ctx.F - target
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = gap / np.where(decrease > 0, decrease, 1.0)
        valid = (decrease > 0) & (gap > 0) & np.isfinite(ratio)
        alpha = np.where(valid, ratio, 0.0)
        if self.max_lr is not None:
            np.minimum(alpha, self.max_lr, out=alpha)
        state["fallbacks"] += ~valid & ctx.active
        return alpha, state


# ---------------------------------------------------------------- line searches
@register_step_rule("armijo")
class Armijo(StepRule):
    """Backtracking line search with sufficient decrease (Nocedal & Wright, Alg. 3.1).

    Start from ``lr`` (or, with ``warm_start``, from ``grow`` times the run's previous
    accepted step) and multiply by ``shrink`` until ``f(x + a d) <= f(x) + c a g.d``,
    at most ``max_backtracks`` times. Runs are searched together; each run stops
    (and stops being charged) as soon as its condition holds.
    Fallbacks, counted per run in the state: a direction with ``g.d >= 0`` (not a
    descent direction) takes no step (``alpha = 0``, no evaluation, ``non_descent``);
    a run that found no acceptable step within ``max_backtracks`` takes no step
    (``alpha = 0``, ``failures``). ``backtracks`` counts the shrinks.
    """

    counters = ('non_descent', 'failures', 'backtracks')
    batchable = ("lr", "c", "shrink", "grow")
    constraints = {"lr": [Interval("real", 0, None, closed="neither")], "c": [Interval("real", 0, 1, closed="neither")], "shrink": [Interval("real", 0, 1, closed="neither")], "max_backtracks": [Interval("int", 0)],
                   "grow": [Interval("real", 1)]}

    def __init__(self, lr: float = 1.0, c: float = 1e-4, shrink: float = 0.5, max_backtracks: int = 30,
                 warm_start: bool = False, grow: float = 2.0):
        self.lr, self.c, self.shrink, self.max_backtracks = lr, c, shrink, max_backtracks
        self.warm_start, self.grow = warm_start, grow

    def init(self, n_runs):
        return {"previous": np.full(n_runs, self.lr, dtype=float), **_counters(n_runs, "non_descent", "failures", "backtracks")}

    def step(self, ctx, state):
        slope = _slope(ctx)
        descent = slope < 0  # False for NaN
        start = state["previous"] * self.grow if self.warm_start else np.full(ctx.n_runs, self.lr, dtype=float)
        alpha = np.where(descent, start, 0.0)
        need = descent & ctx.active
        trials = 0
        with np.errstate(all="ignore"):
            while need.any() and trials <= self.max_backtracks:
                F_trial = ctx.line(alpha, mask=need)
                accepted = F_trial <= ctx.F + self.c * alpha * slope
                need &= ~accepted
                alpha = np.where(need, alpha * self.shrink, alpha)
                trials += 1
                state["backtracks"] += need & (trials <= self.max_backtracks)
        alpha[need] = 0.0
        state["failures"] += need
        state["non_descent"] += ~descent & ctx.active
        moved = ctx.active & descent & ~need
        state["previous"] = np.where(moved, alpha, state["previous"])
        return alpha, state


@register_step_rule("wolfe")
class Wolfe(StepRule):
    """Strong Wolfe line search: bracketing then zoom (Nocedal & Wright, Alg. 3.5 and 3.6).

    Finds ``a`` with ``f(x + a d) <= f(x) + c1 a g.d`` and ``|g(x + a d).d| <= c2 |g.d|``.
    Bracketing starts at ``lr`` and multiplies by ``expand`` (up to ``max_lr``); zoom
    takes the safeguarded cubic interpolation of the bracket ends (bisection when the
    cubic step is not well inside the bracket). Every trial evaluates f and its
    gradient (one gradient evaluation, charged to the runs still searching).
    Fallbacks, counted per run in the state: ``g.d >= 0`` takes no step
    (``non_descent``); a search that runs out of ``max_evals`` trials takes the best
    point it has that satisfies sufficient decrease (possibly 0; ``failures``).
    """

    counters = ('non_descent', 'failures', 'trials')
    batchable = ("lr", "c1", "c2", "expand", "max_lr")
    constraints = {"lr": [Interval("real", 0, None, closed="neither")], "c1": [Interval("real", 0, 1, closed="neither")], "c2": [Interval("real", 0, 1, closed="neither")], "expand": [Interval("real", 1, None, closed="neither")],
                   "max_lr": [Interval("real", 0, None, closed="neither")], "max_evals": [Interval("int", 1)]}

    def __init__(self, lr: float = 1.0, c1: float = 1e-4, c2: float = 0.9, expand: float = 2.0,
                 max_lr: float = 1e10, max_evals: int = 30):
        if not c1 < c2:
            raise ValueError(f"need 0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")
        self.lr, self.c1, self.c2, self.expand, self.max_lr, self.max_evals = lr, c1, c2, expand, max_lr, max_evals

    def init(self, n_runs):
        return _counters(n_runs, "non_descent", "failures", "trials")

    @staticmethod
    def _interpolate(lo, hi, f_lo, f_hi, d_lo, d_hi):
        """Minimiser of the cubic through both ends (N&W eq. 3.59), bisection when unsafe."""
        width = hi - lo
        d1 = d_lo + d_hi - 3.0 * (f_lo - f_hi) / (lo - hi)
        d2 = np.sign(width) * np.sqrt(d1 * d1 - d_lo * d_hi)
        cubic = hi - width * (d_hi + d2 - d1) / (d_hi - d_lo + 2.0 * d2)
        low, high = np.minimum(lo, hi), np.maximum(lo, hi)
        margin = 0.1 * np.abs(width)
        safe = np.isfinite(cubic) & (cubic >= low + margin) & (cubic <= high - margin)
        return np.where(safe, cubic, 0.5 * (lo + hi))

    def step(self, ctx, state):
        s = _WolfeSearch(ctx, self.lr, self.expand, self.max_lr)
        curvature_bound = -self.c2 * s.slope0
        accepted_total = np.zeros(ctx.n_runs, dtype=bool)
        evals = 0
        with np.errstate(all="ignore"):
            while not s.done.all() and evals < self.max_evals:
                searching = ~s.done
                bracketing, in_zoom = searching & ~s.zooming, searching & s.zooming
                trial = np.where(in_zoom, self._interpolate(s.lo, s.hi, s.f_lo, s.f_hi, s.d_lo, s.d_hi), s.a_next)
                F_t, G_t = ctx.line(trial, need_grad=True, mask=searching)
                d_t = np.vecdot(G_t, ctx.D)
                state["trials"] += searching
                evals += 1
                sufficient = F_t <= s.F0 + self.c1 * trial * s.slope0  # False for NaN
                curvature = np.abs(d_t) <= curvature_bound
                accepted = s.bracket(bracketing, trial, F_t, d_t, sufficient, curvature)
                accepted |= s.zoom(in_zoom, trial, F_t, d_t, sufficient, curvature)
                s.alpha[accepted] = trial[accepted]
                s.done |= accepted
                accepted_total |= accepted
        if ctx.batch is None:
            ctx.reuse(accepted_total)  # f and grad at the accepted point are known: not charged again
        unfinished = ~s.done
        # best point known to satisfy sufficient decrease: lo in zoom, the last extension while bracketing
        s.alpha[unfinished] = np.where(s.zooming, s.lo, s.a_prev)[unfinished]
        state["failures"] += unfinished
        state["non_descent"] += ~s.descent & ctx.active
        return s.alpha, state


class _WolfeSearch:
    """The per-run state of a strong-Wolfe search: the last trial (``a_prev``), the bracket
    ``[lo, hi]`` with values ``f`` and slopes ``d``, and which runs are zooming or done."""

    def __init__(self, ctx: Any, lr: Any, expand: Any, max_lr: Any):
        n = ctx.n_runs
        self.F0, self.slope0 = ctx.F, _slope(ctx)
        self.descent = self.slope0 < 0
        self.alpha = np.zeros(n)
        self.done = ~(self.descent & ctx.active)
        self.zooming = np.zeros(n, dtype=bool)
        self.first = np.ones(n, dtype=bool)
        self.a_prev, self.f_prev, self.d_prev = np.zeros(n), self.F0.copy(), self.slope0.copy()
        self.a_next = np.full(n, lr, dtype=float)
        self.expand, self.max_lr = np.full(n, expand, dtype=float), np.full(n, max_lr, dtype=float)
        self.lo, self.f_lo, self.d_lo = np.zeros(n), self.F0.copy(), self.slope0.copy()
        self.hi, self.f_hi, self.d_hi = np.zeros(n), self.F0.copy(), self.slope0.copy()

    def bracket(self, bracketing, trial, F_t, d_t, sufficient, curvature) -> np.ndarray:
        """Nocedal & Wright Alg. 3.5 for the bracketing runs; the runs that accept ``trial``."""
        to_hi = bracketing & (~sufficient | (~self.first & (F_t >= self.f_prev)))
        rest = bracketing & ~to_hi
        accept = rest & curvature
        to_rev = rest & ~curvature & (d_t >= 0)
        extend = rest & ~curvature & (d_t < 0)
        at_max = extend & (trial >= self.max_lr)
        accept |= at_max
        extend &= ~at_max
        for mask, (l, fl, dl), (h, fh, dh) in (
            (to_hi, (self.a_prev, self.f_prev, self.d_prev), (trial, F_t, d_t)),
            (to_rev, (trial, F_t, d_t), (self.a_prev, self.f_prev, self.d_prev)),
        ):
            self.lo[mask], self.f_lo[mask], self.d_lo[mask] = l[mask], fl[mask], dl[mask]
            self.hi[mask], self.f_hi[mask], self.d_hi[mask] = h[mask], fh[mask], dh[mask]
        self.zooming |= to_hi | to_rev
        self.a_prev[extend], self.f_prev[extend], self.d_prev[extend] = trial[extend], F_t[extend], d_t[extend]
        self.a_next[extend] = np.minimum(trial[extend] * self.expand[extend], self.max_lr[extend])
        self.first &= ~bracketing
        return accept

    def zoom(self, in_zoom, trial, F_t, d_t, sufficient, curvature) -> np.ndarray:
        """Nocedal & Wright Alg. 3.6 for the zooming runs; the runs that accept ``trial``."""
        z_hi = in_zoom & (~sufficient | (F_t >= self.f_lo))
        z_rest = in_zoom & ~z_hi
        accept = z_rest & curvature
        move = z_rest & ~curvature
        flip = move & (d_t * (self.hi - self.lo) >= 0)
        self.hi[z_hi], self.f_hi[z_hi], self.d_hi[z_hi] = trial[z_hi], F_t[z_hi], d_t[z_hi]
        self.hi[flip], self.f_hi[flip], self.d_hi[flip] = self.lo[flip], self.f_lo[flip], self.d_lo[flip]
        self.lo[move], self.f_lo[move], self.d_lo[move] = trial[move], F_t[move], d_t[move]
        return accept


@register_step_rule("exact")
class Exact(StepRule):
    """Exact line search: ``alpha = argmin_{a >= 0} f(x + a d)``, to a relative ``xtol``.

    For every run at once: bracket the minimiser by doubling from ``lr`` while f
    decreases (at most ``max_expand`` times), then golden-section search inside the
    bracket until its width is below ``xtol`` times its upper end; the step is the
    best point evaluated. Assumes ``f`` is unimodal along the line (exact on convex
    problems). Each trial is one value evaluation, charged to the runs still searching.
    ``g.d >= 0`` takes no step (``non_descent`` counter).
    """

    counters = ('non_descent', 'trials')
    batchable = ("lr", "xtol")
    constraints = {"lr": [Interval("real", 0, None, closed="neither")], "xtol": [Interval("real", 0, 1, closed="neither")], "max_expand": [Interval("int", 0)], "max_evals": [Interval("int", 2)]}

    def __init__(self, lr: float = 1.0, xtol: float = 1e-10, max_expand: int = 60, max_evals: int = 200):
        self.lr, self.xtol, self.max_expand, self.max_evals = lr, xtol, max_expand, max_evals

    def init(self, n_runs):
        return _counters(n_runs, "non_descent", "trials")

    def step(self, ctx, state):
        descent = _slope(ctx) < 0
        live = descent & ctx.active
        search = _BestOnLine(ctx, state)
        with np.errstate(all="ignore"):
            low, high, evals = self._bracket(search, live, ctx.F)
            # runs whose first trial did not decrease f: the minimiser is in [0, lr]
            self._golden_section(search, live, low, high, evals)
        state["non_descent"] += ~descent & ctx.active
        return search.best_a, state

    def _bracket(self, search: "_BestOnLine", live: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """``[low, high]`` around the minimiser, by doubling from ``lr`` while f decreases."""
        n = live.shape[0]
        low, mid = np.zeros(n), np.full(n, self.lr, dtype=float)
        f_mid = search.evaluate(mid, live)
        high = mid.copy()
        growing = live & (f_mid < F)
        evals, expansions = 1, 0
        while growing.any() and expansions < self.max_expand and evals < self.max_evals:
            trial = 2.0 * mid
            f_trial = search.evaluate(trial, growing)
            evals += 1
            expansions += 1
            still = growing & (f_trial < f_mid)
            low = np.where(still, mid, low)
            high = np.where(growing, trial, high)
            mid = np.where(still, trial, mid)
            f_mid = np.where(still, f_trial, f_mid)
            growing = still
        return low, high, evals

    def _golden_section(self, search: "_BestOnLine", live: np.ndarray, low: np.ndarray, high: np.ndarray, evals: int) -> None:
        """Shrink ``[low, high]`` by the golden ratio until its width is below ``xtol * high``."""
        ratio = (np.sqrt(5.0) - 1.0) / 2.0
        c, d = high - ratio * (high - low), low + ratio * (high - low)
        searching = live.copy()
        f_c = search.evaluate(c, searching)
        f_d = search.evaluate(d, searching)
        evals += 2
        while evals < self.max_evals:
            searching &= (high - low) > self.xtol * high
            if not searching.any():
                break
            left = f_c <= f_d  # the minimiser is in [low, d]
            high = np.where(searching & left, d, high)
            low = np.where(searching & ~left, c, low)
            new_c, new_d = high - ratio * (high - low), low + ratio * (high - low)
            trial = np.where(left, new_c, new_d)
            f_trial = search.evaluate(trial, searching)
            evals += 1
            d_next = np.where(left, c, new_d)
            f_d_next = np.where(left, f_c, f_trial)
            c_next = np.where(left, new_c, d)
            f_c_next = np.where(left, f_trial, f_d)
            c, d = np.where(searching, c_next, c), np.where(searching, d_next, d)
            f_c, f_d = np.where(searching, f_c_next, f_c), np.where(searching, f_d_next, f_d)


class _BestOnLine:
    """The trials of an exact line search: each charged to its mask, the best step seen per run kept."""

    def __init__(self, ctx: Any, state: dict[str, Any]):
        self.ctx, self.state = ctx, state
        self.best_a = np.zeros(ctx.n_runs)
        self.best_f = np.where(np.isnan(ctx.F), np.inf, ctx.F)

    def evaluate(self, a: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``f(x + a d)`` for the runs in ``mask`` (NaN read as +inf)."""
        F = self.ctx.line(a, mask=mask)
        self.state["trials"] += mask & self.ctx.active
        better = mask & (F < self.best_f)
        self.best_a[better], self.best_f[better] = a[better], F[better]
        return np.where(np.isnan(F), np.inf, F)


@register_step_rule("barzilai-borwein")
class BarzilaiBorwein(StepRule):
    """Barzilai-Borwein steps from the last move ``s = x_k - x_{k-1}`` and ``y = g_k - g_{k-1}``.

    ``variant="long"`` (BB1): ``alpha_k = s.s / s.y``; ``"short"`` (BB2): ``s.y / y.y``.
    The first step is ``lr``. Safeguards: where ``s.y <= 0`` (no positive curvature
    along ``s``) or the ratio is not finite, the run keeps its previous step
    (``fallbacks`` counter); every step is clipped to ``[min_lr, max_lr]``.
    Meant for ``gd`` (``d = -g``), where it is a quasi-Newton scaling.
    """

    counters = ('fallbacks',)
    batchable = ("lr", "min_lr", "max_lr")
    constraints = {"variant": [Options(("long", "short"))], "lr": [Interval("real", 0, None, closed="neither")], "min_lr": [Interval("real", 0, None, closed="neither")], "max_lr": [Interval("real", 0, None, closed="neither")]}

    def __init__(self, variant: Literal["long", "short"] = "long", lr: float = 1e-3, min_lr: float = 1e-10, max_lr: float = 1e10):
        if not min_lr <= lr <= max_lr:
            raise ValueError(f"need min_lr <= lr <= max_lr, got {min_lr}, {lr}, {max_lr}")
        self.variant, self.lr, self.min_lr, self.max_lr = variant, lr, min_lr, max_lr

    def init(self, n_runs):
        return {"X": None, "G": None, "alpha": np.full(n_runs, self.lr, dtype=float), **_counters(n_runs, "fallbacks")}

    def step(self, ctx, state):
        if state["X"] is not None:
            s, y = ctx.X - state["X"], ctx.G - state["G"]
            sy = np.vecdot(s, y)
            with np.errstate(all="ignore"):
                if self.variant == "long":
                    ratio = np.vecdot(s, s) / sy
                else:
                    ratio = sy / np.vecdot(y, y)
            valid = (sy > 0) & np.isfinite(ratio)
            state["fallbacks"] += ~valid & ctx.active
            state["alpha"] = np.clip(np.where(valid, ratio, state["alpha"]), self.min_lr, self.max_lr)
        state["X"], state["G"] = ctx.X, ctx.G
        return state["alpha"].copy(), state
