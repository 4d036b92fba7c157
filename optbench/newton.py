"""Line-search Newton-CG (truncated Newton), batched over runs, on Hessian-vector products.

The method asks the engine for Hessian-vector products through ``ctx.hvp`` (it never
sees the problem), so each product is charged to the runs that asked for it: one
gradient evaluation when the problem's product is analytic (``hvp_exact``), two when
it is central differences of the gradient.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from optbench.constraints import Interval
from optbench.methods import Method
from optbench.registry import register_method
from optbench.steprules import Armijo

__all__ = ["NewtonCG", "truncated_cg"]


def truncated_cg(G: np.ndarray, hvp: Any, running: np.ndarray, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate solutions ``p`` of ``H p = -g``, one per row (Nocedal & Wright, Alg. 7.1, inner loop).

    ``z_0 = 0, r_0 = g, d_0 = -g``; for j = 0, 1, ...: if ``d_j.H d_j <= 0`` (negative
    curvature) stop with ``p = z_j`` (``p = -g`` when j = 0); ``a_j = r_j.r_j / d_j.H d_j``,
    ``z_{j+1} = z_j + a_j d_j``, ``r_{j+1} = r_j + a_j H d_j``; stop with ``p = z_{j+1}``
    when ``||r_{j+1}|| <= eps ||g||``, ``eps = min(0.5, sqrt(||g||))``; else
    ``d_{j+1} = -r_{j+1} + (r_{j+1}.r_{j+1} / r_j.r_j) d_j``. At most ``max_iter`` products.

    ``hvp(D, mask)`` gives ``H d`` for every row, charged to ``mask``; each row iterates
    until its own test stops it (masks, no loop over runs), and a stopped row is never
    charged again. Returns ``p`` and the number of products each row used.
    """
    g_norm = np.linalg.norm(G, axis=1)
    tolerance = np.minimum(0.5, np.sqrt(g_norm)) * g_norm
    Z, R, D = np.zeros_like(G), np.array(G, dtype=float), -np.asarray(G, dtype=float)
    rr = np.vecdot(R, R)
    running = running & (g_norm > 0)
    products = np.zeros(G.shape[0], dtype=np.int64)
    for j in range(max_iter):
        if not running.any():
            break
        HD = hvp(D, running)
        products += running
        curvature = np.vecdot(D, HD)
        negative = running & ~(curvature > 0)  # NaN counts as negative: stop
        if j == 0:
            Z[negative] = -G[negative]
        running = running & ~negative
        step = np.where(running, rr / np.where(running, curvature, 1.0), 0.0)[:, None]
        Z = np.where(running[:, None], Z + step * D, Z)
        R = np.where(running[:, None], R + step * HD, R)
        rr_next = np.vecdot(R, R)
        running = running & ~(np.sqrt(rr_next) <= tolerance)
        beta = np.where(running, rr_next / np.where(running, rr, 1.0), 0.0)[:, None]
        D = np.where(running[:, None], -R + beta * D, D)
        rr = rr_next
    return Z, products


@register_method("newton-cg")
class NewtonCG(Method):
    """Line-search Newton-CG (truncated Newton; Nocedal & Wright, Alg. 7.1), like scipy's ``Newton-CG``.

    Each iteration solves ``H(x_k) p = -g_k`` approximately by conjugate gradients on
    Hessian-vector products (``truncated_cg``: relative residual ``min(0.5, sqrt||g||)``,
    negative curvature stops it; at most ``max_cg`` products, default ``20 dim`` as scipy),
    then steps ``x_{k+1} = x_k + alpha p`` with ``alpha`` from backtracking with sufficient
    decrease from 1 (the ``armijo`` rule: ``f(x + a p) <= f(x) + c a g.p``, ``a <- shrink a``,
    at most ``max_backtracks`` times; no step when none is found). It computes its
    iterate itself, so it takes no step rule. Costs per iteration: one gradient, one
    charged product per CG step (one gradient evaluation each when the problem's product is
    analytic, two otherwise) and one value per line-search trial.
    """

    updates_iterate: ClassVar[bool] = True
    default_step_rule: ClassVar[Any] = None
    tags = frozenset({"second-order"})
    constraints = {"max_cg": [Interval("int", 1), None], "c": [Interval("real", 0, 1, closed="neither")],
                   "shrink": [Interval("real", 0, 1, closed="neither")], "max_backtracks": [Interval("int", 0)]}

    def __init__(self, max_cg: int | None = None, c: float = 1e-4, shrink: float = 0.5, max_backtracks: int = 30):
        self.max_cg, self.c, self.shrink, self.max_backtracks = max_cg, c, shrink, max_backtracks
        self._search = Armijo(lr=1.0, c=c, shrink=shrink, max_backtracks=max_backtracks)

    def init(self, X: np.ndarray) -> dict[str, Any]:
        """Line-search counters (``non_descent``, ``failures``, ``backtracks``) and ``cg_products``, per run."""
        return {"search": self._search.init(X.shape[0]), "cg_products": np.zeros(X.shape[0], dtype=np.int64)}

    def update(self, X: np.ndarray, G: np.ndarray, state: dict[str, Any], k: int, ctx: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """``p`` from truncated CG, then ``x + alpha p`` with the backtracking step ``alpha``."""
        max_cg = 20 * X.shape[1] if self.max_cg is None else self.max_cg
        with np.errstate(all="ignore"):
            P, products = truncated_cg(G, lambda D, mask: ctx.hvp(D, mask=mask), ctx.active, max_cg)
            state["cg_products"] += products
            ctx.D = P  # the direction the line search walks along (ctx.line)
            alpha, state["search"] = self._search.step(ctx, state["search"])
            return X + alpha[:, None] * P, state
