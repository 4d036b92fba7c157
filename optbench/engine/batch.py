"""Many runs descending together: the descent loop with its quiet iterations fused into one frame.

A quiet iteration of a batch (or a stack) is one where the screen finds nothing to
look at (``max f`` inside the bounds; on every 16th step also ``min f`` and every
``x`` finite), every run is still active and the budget is a count of iterations.
``BatchLoop`` does it in one frame -- evaluate, note the first hits
(``HitTracker.note``), record, the method's direction, the step rule's step sizes,
the move -- with the checks of ``DescentLoop.evaluate``, ``direction``, ``step_size``
and ``move``, and hands every other iteration, or the rest of one whose screen finds
something, to ``DescentLoop.proceed``. The numbers are the staged loop's, bit for bit
(tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optbench.engine.loop import FLOAT, _DOT, _INF, _MAX, _MIN, DescentLoop

__all__ = ["BatchLoop"]

_FINITE = np.isfinite


class BatchLoop(DescentLoop):
    """``DescentLoop`` for ``n_runs > 1`` (a batch, or a stack: ``StackLoop``); ``run`` takes ``fused`` when it can."""

    def fusable(self) -> bool:
        """Full-batch runs with a step rule, one problem call per iteration, and only an iteration budget."""
        return (not self.single and self.sampler is None and self.step_rule is not None and self.evaluator.usual
                and self.iterations_only and not self.tol)

    def fused(self, method_state: Any, step_state: Any) -> Any:
        """The loop; the final step-rule state. Quiet iterations here, the others through ``iterate``/``proceed``."""
        hits, ctx, last, gradient = self.hits, self.ctx, self.max_iter, self.evaluator.gradient
        direction, step, wants = self.method.direction, self.step_rule.step, self.recorder.wants
        X_shape, alpha_shape = self.X_shape, self.alpha_shape
        finished, method_state, step_state = self.iterate(0, method_state, step_state)
        k = 1
        while not finished:
            if k >= last or ctx.reused is not None or not self.all_active:
                finished, method_state, step_state = self.iterate(k, method_state, step_state)
                k += 1
                continue
            X, active = self.X, self.active
            F, G = gradient(X, None, active)
            if F.shape != alpha_shape or G.shape != X_shape or F.dtype is not FLOAT or G.dtype is not FLOAT:
                self.check_evaluation(F, G)
            G.setflags(write=False)
            lower_max, upper_min = self.quiet_band  # DescentLoop.screen's first test, and its every-16th one
            if not _MAX(F) <= upper_min or not (k & 15 or (_MIN(F) >= lower_max and _FINITE(X).all())):
                finished, method_state, step_state = self.proceed(k, F, G, None, method_state, step_state)
                k += 1
                continue
            if hits is not None:
                self.track_hits(k, F, None)
            recording = wants(k)
            if recording:
                spent, elapsed = self.counters(None), self.elapsed()
            ctx.k, ctx.X, ctx.F, ctx.G, ctx.batch, ctx.active = k, X, F, G, None, active
            result = direction(X, G, method_state, k)
            D = result[0] if type(result) is tuple and len(result) == 2 else None
            if type(D) is not np.ndarray or D.shape != X_shape or D.dtype is not FLOAT:
                result = self.checked_direction(result)
            D, method_state = result
            ctx.D = D
            result = step(ctx, step_state)
            alpha = result[0] if type(result) is tuple and len(result) == 2 else None
            if type(alpha) is not np.ndarray or alpha.shape != alpha_shape or alpha.dtype is not FLOAT or not (
                    _MIN(alpha) >= 0.0 and _DOT(alpha, alpha) < _INF):  # DescentLoop.step_size, every run active
                result = self.checked_step(result)
            alpha, step_state = result
            if recording:
                self.recorder.record(k, None, X, F, G, alpha, *spent, elapsed)
            if alpha is not self.alpha_seen:  # DescentLoop.move, every run active
                self.alpha_seen, self.alpha_column = alpha, alpha[:, None]
            X_next = X + self.alpha_column * D
            X_next.setflags(write=False)
            self.X = X_next
            k += 1
        return step_state
