"""One run alone: the descent loop with its quiet iterations fused into one call.

Most iterations of a single run change nothing but the iterate: ``f`` is inside the
divergence bounds and above the run's next target, nothing is recorded, no budget
but the iteration count applies and no tolerance is set. ``SingleRunLoop`` does such
an iteration in one Python frame -- evaluate (the problem's 1-D call), the method's
direction, the step rule's step size, the move -- through the same stages and checks
as ``DescentLoop`` (``evaluate``, ``direction``, ``step_size``, ``move``), and hands
every other iteration, or the rest of one that turns out not to be quiet, to
``DescentLoop.proceed``. Every 16th iteration is a full one (``x`` is screened then,
as in ``DescentLoop.screen``). The numbers are the staged loop's, bit for bit (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.engine.loop import FLOAT, _INF, DescentLoop

__all__ = ["SingleRunLoop"]

_DOT, _EMPTY, _FLOAT64 = np.dot, np.empty, np.float64


class SingleRunLoop(DescentLoop):
    """``DescentLoop`` for ``n_runs == 1``; ``run`` takes the fused path when ``fusable``."""

    def fusable(self) -> bool:
        """A full-batch run with a step rule, a problem with a 1-D call, and only an iteration budget."""
        return (self.single and self.sampler is None and self.step_rule is not None and self.evaluator.flat
                and self.evaluator.usual and self.iterations_only and not self.tol)

    def quiet_limits(self) -> tuple[float, float, float, float]:
        """``(low, high, f_opt, threshold)``: ``f`` is quiet (``DescentLoop.quiet``) when ``low <= f <= high`` and
        not ``f - f_opt <= threshold``."""
        (low, high), hits = self.quiet_band, self.hits
        return (low, high, 0.0, -_INF) if hits is None else (low, high, hits.f_opt, hits.threshold.item())

    def hit(self, k: int, F: np.ndarray) -> tuple[float, float, float, float]:
        """Iteration ``k`` met a target (``f`` inside the bounds): note it as ``DescentLoop.track_hits`` does for
        one run; the new ``quiet_limits``."""
        self.hits.update(k, F, self.active, self.counters, self.clock)
        return self.quiet_limits()

    def checked_one(self, f: Any, G: np.ndarray) -> float:
        """A 1-D call's value and gradient that are not the usual float64 pair, checked as ``DescentLoop.evaluate``
        checks them (a PluginError); the value as a float."""
        F = _EMPTY(1)
        F[0] = f
        self.check_evaluation(F, G)
        return F.item()

    def fused(self, method_state: Any, step_state: Any) -> Any:
        """The loop; the final step-rule state. Quiet iterations here (recorded ones and first hits too, as ``proceed``
        does them), the others through ``iterate``/``proceed``. The evaluations of iterations ``paid .. k`` made
        here are charged (``settle``) before anything reads the counters."""
        value_and_grad, proceed, ctx, last = self.problem.value_and_grad, self.proceed, self.ctx, self.max_iter
        direction, step, wants, settle = self.method.direction, self.step_rule.step, self.recorder.wants, self.evaluator.charge_flat
        row_shape, X_shape, alpha_shape = self.X_shape[1:], self.X_shape, self.alpha_shape
        finished, method_state, step_state = self.iterate(0, method_state, step_state)
        low, high, f_opt, threshold = self.quiet_limits()
        k = paid = 1
        X = self.X
        x = X[0]  # the iterate's row: X = x[None], both read-only
        while not finished:
            if k >= last or ctx.reused is not None:
                settle(k - paid)
                finished, method_state, step_state = self.iterate(k, method_state, step_state)
            else:
                f, g = value_and_grad(x)
                G = g[None]
                if type(f) is not _FLOAT64 or g.shape != row_shape or g.dtype is not FLOAT:  # as DescentLoop.evaluate
                    f = self.checked_one(f, G)
                G.setflags(write=False)
                ctx.k, ctx.X, ctx.f_one, ctx.G = k, X, f, G  # ctx.F: built from f_one when read
                if low <= f <= high and (k & 15 or _DOT(x, x) < _INF):  # inside the bounds, x finite every 16th step
                    if f - f_opt <= threshold:
                        settle(k + 1 - paid)
                        paid, (low, high, f_opt, threshold) = k + 1, self.hit(k, ctx.F)
                    recording = wants(k)
                    if recording:
                        settle(k + 1 - paid)
                        paid, spent, elapsed = k + 1, self.counters(None), self.elapsed()
                    result = direction(X, G, method_state, k)
                    D = result[0] if type(result) is tuple and len(result) == 2 else None
                    if type(D) is not np.ndarray or D.shape != X_shape or D.dtype is not FLOAT:
                        result = self.checked_direction(result)
                    D, method_state = result
                    ctx.D = D
                    result = step(ctx, step_state)
                    alpha = result[0] if type(result) is tuple and len(result) == 2 else None
                    if type(alpha) is not np.ndarray or alpha.shape != alpha_shape or alpha.dtype is not FLOAT or not (
                            0.0 <= alpha.item() < _INF):
                        result = self.checked_step(result)
                    alpha, step_state = result
                    if recording:
                        self.recorder.record(k, None, X, ctx.F, G, alpha, *spent, elapsed)
                    x = x + alpha.item() * D[0]  # DescentLoop.move for one run
                    x.setflags(write=False)
                    self.X = X = x[None]
                    k += 1
                    continue
                settle(k + 1 - paid)
                finished, method_state, step_state = proceed(k, ctx.F, G, None, method_state, step_state)
            low, high, f_opt, threshold = self.quiet_limits()
            k = paid = k + 1
            X = self.X
            x = X[0]
        settle(k - paid)
        return step_state
