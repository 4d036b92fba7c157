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

from optbench.engine.loop import FLOAT, METHOD, PROBLEM, STEP_RULE, _INF, DescentLoop

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

    def fused(self, method_state: Any, step_state: Any, stage: list) -> Any:
        """The loop; the final step-rule state. Quiet iterations here (recorded ones and first hits too, as ``proceed``
        does them), the others through ``iterate``/``proceed``. Evaluations made here are charged (``settle``) before
        anything reads the counters; ``ctx.F`` is built from ``ctx.f_one`` when read (``StepContext.F``)."""
        value_and_grad, proceed, ctx, last = self.problem.value_and_grad, self.proceed, self.ctx, self.max_iter
        direction, step, wants, settle = self.method.direction, self.step_rule.step, self.recorder.wants, self.evaluator.charge_flat
        row_shape, X_shape, alpha_shape = self.X_shape[1:], self.X_shape, self.alpha_shape
        finished, method_state, step_state = self.iterate(0, method_state, step_state)
        low, high, f_opt, threshold = self.quiet_limits()
        k, calls, X = 1, 0, self.X
        x = X[0]  # the iterate's row: X = x[None], both read-only
        while not finished:
            if k >= last or ctx.reused is not None:
                calls = settle(calls)
                finished, method_state, step_state = self.iterate(k, method_state, step_state)
            else:
                stage[0] = PROBLEM
                f, g = value_and_grad(x)
                calls += 1
                G = g[None]
                if type(f) is not _FLOAT64 or g.shape != row_shape or g.dtype is not FLOAT:  # as DescentLoop.evaluate
                    F = _EMPTY(1)
                    F[0] = f
                    self.check_evaluation(F, G)
                    f = F.item()
                G.setflags(write=False)
                ctx.k, ctx.X, ctx.F, ctx.f_one, ctx.G = k, X, None, f, G
                if low <= f <= high and (k & 15 or _DOT(x, x) < _INF):  # inside the bounds, x finite every 16th step
                    if f - f_opt <= threshold:
                        calls, (low, high, f_opt, threshold) = settle(calls), self.hit(k, ctx.F)
                    recording = wants(k)
                    if recording:
                        calls, spent, elapsed = settle(calls), self.counters(None), self.elapsed()
                    stage[0] = METHOD
                    result = direction(X, G, method_state, k)
                    D = result[0] if type(result) is tuple and len(result) == 2 else None
                    if type(D) is not np.ndarray or D.shape != X_shape or D.dtype is not FLOAT:
                        result = self.checked_direction(result)
                    D, method_state = result
                    ctx.D, stage[0] = D, STEP_RULE
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
                calls = settle(calls)
                finished, method_state, step_state = proceed(k, ctx.F, G, None, method_state, step_state)
            low, high, f_opt, threshold = self.quiet_limits()
            k, X = k + 1, self.X
            x = X[0]
        settle(calls)
        return step_state
