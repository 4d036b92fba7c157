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

from optbench.engine.loop import FLOAT, _INF, DescentLoop, _call, _exit_error, _raise_if_read_only
from optbench.errors import PluginError

__all__ = ["SingleRunLoop"]

_DOT = np.dot
_PROBLEM, _METHOD, _STEP_RULE = range(3)  # the stage of a quiet iteration, to name a failing plugin


class SingleRunLoop(DescentLoop):
    """``DescentLoop`` for ``n_runs == 1``; ``run`` takes the fused path when ``fusable``."""

    def fusable(self) -> bool:
        """A full-batch run with a step rule, a problem with a 1-D call, and only an iteration budget."""
        return (self.single and self.sampler is None and self.step_rule is not None and self.evaluator.flat
                and self.evaluator.usual and self.iterations_only and not self.tol)

    def run(self) -> tuple[np.ndarray, dict[str, Any]]:
        if not self.fusable():
            return super().run()
        method_state = _call(self.method, "method", self.method.init, self.X)
        step_state = _call(self.step_rule, "step rule", self.step_rule.init, 1)
        step_state = self.fused(method_state, step_state)
        return self.X, self.outcome(step_state)

    def quiet_limits(self) -> tuple[float, float, float, float]:
        """``(low, high, f_opt, threshold)``: ``f`` is quiet (``DescentLoop.quiet``) when ``low <= f <= high`` and
        not ``f - f_opt <= threshold``."""
        (low, high), hits = self.quiet_band, self.hits
        return (low, high, 0.0, -_INF) if hits is None else (low, high, hits.f_opt, hits.threshold.item())

    def fused(self, method_state: Any, step_state: Any) -> Any:
        """The loop; the final step-rule state. Quiet iterations here (recorded ones too, as ``proceed`` records
        them), the others (the first, the last, or found not quiet once evaluated) through ``iterate``/``proceed``."""
        evaluate, proceed, full, ctx, last = self.evaluator.flat_gradient, self.proceed, self.iterate, self.ctx, self.max_iter
        direction, step, wants = self.method.direction, self.step_rule.step, self.recorder.wants
        X_shape, alpha_shape = self.X_shape, self.alpha_shape
        low, high, f_opt, threshold = self.quiet_limits()
        k, stage = 0, _PROBLEM
        try:
            while True:
                if k == 0 or k >= last or ctx.reused is not None:
                    finished, method_state, step_state = full(k, method_state, step_state)
                else:
                    X, stage = self.X, _PROBLEM
                    F, G = evaluate(X)
                    if G.shape != X_shape or G.dtype is not FLOAT:
                        self.check_evaluation(F, G)
                    G.setflags(write=False)
                    f = F.item()  # quiet, and x finite on every 16th step (x.x overflowing takes the long way)
                    if not (low <= f <= high) or f - f_opt <= threshold or not (k & 15 or _DOT(X[0], X[0]) < _INF):
                        finished, method_state, step_state = proceed(k, F, G, None, method_state, step_state)
                    else:
                        recording = wants(k)
                        if recording:
                            spent, elapsed = self.counters(None), self.elapsed()
                        ctx.k, ctx.X, ctx.F, ctx.G, stage = k, X, F, G, _METHOD
                        result = direction(X, G, method_state, k)
                        if not (type(result) is tuple and len(result) == 2 and type(result[0]) is np.ndarray
                                and result[0].shape == X_shape and result[0].dtype is FLOAT):
                            result = self.checked_direction(result)
                        D, method_state = result
                        ctx.D, stage = D, _STEP_RULE
                        result = step(ctx, step_state)
                        alpha = result[0] if type(result) is tuple and len(result) == 2 else None
                        if not (type(alpha) is np.ndarray and alpha.shape == alpha_shape and alpha.dtype is FLOAT
                                and 0.0 <= alpha.item() < _INF):
                            alpha, step_state = self.checked_step(result)
                        else:
                            step_state = result[1]
                        if recording:
                            self.recorder.record(k, None, X, F, G, alpha, *spent, elapsed)
                        X_next = (X[0] + alpha.item() * D[0])[None]  # DescentLoop.move for one run
                        X_next.setflags(write=False)
                        self.X = X_next
                        k += 1
                        continue
                if finished:
                    return step_state
                low, high, f_opt, threshold = self.quiet_limits()
                k += 1
        except PluginError:
            raise
        except ValueError as exc:  # a plugin writing into its read-only input
            _raise_if_read_only(*self.plugins[stage], exc)
            raise
        except SystemExit as exc:
            raise _exit_error(*self.plugins[stage], exc) from None

    @property
    def plugins(self) -> tuple[tuple[Any, str], ...]:
        """The plugin called at each stage (``_PROBLEM``, ``_METHOD``, ``_STEP_RULE``), as messages name it."""
        return (self.problem, "problem"), (self.method, "method"), (self.step_rule, "step rule")
