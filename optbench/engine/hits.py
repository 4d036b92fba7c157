"""Exact first hits of targets: every run's best-so-far gap against the target ladder, at every iteration.

``HitTracker`` follows every run's best-so-far gap ``b_k = min_{j <= k} f(x_j) - f_opt``
at every iteration, whatever is recorded, and notes for each target ``t`` of the
ladder the first iteration with ``b_k <= t``, with the evaluations, epochs and time
spent to reach it. Fixed-target runtimes read from it are exact, not bounded by
the recorded checkpoints.

Two ways in, one answer. ``update`` handles one iteration at once. ``note`` buffers
an iteration's ``f`` (with the counters and clock reading of that moment) into a
preallocated ``(CHUNK, n_runs)`` block, and ``flush`` finds the hits of the whole
block with a few array operations: a many-run batch pays a row copy per iteration
instead of a dozen numpy calls. The hits, their iterations, counters and times are
the same either way (tested).
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from optbench.engine.trace import expand_blocks

__all__ = ["HitTracker", "BufferedClock", "hits_from_trace", "CHUNK"]

# iterations buffered before their hits are worked out
CHUNK = 64


class HitTracker:
    """Exact first hits of ``targets`` (a descending ladder of gaps) by each run's best-so-far gap.

    Each run keeps the next target it has not met (``threshold``); the best-so-far
    gap meets a new target exactly when the current gap does, so one comparison a
    step finds every new hit, and ``searchsorted`` counts how many targets it met.
    ``threshold`` and ``reached`` are current once ``flush`` has run (``update`` and
    ``frame`` flush first).
    """

    def __init__(self, f_opt: float, targets: np.ndarray, n_runs: int, n_samples: int | None):
        self.f_opt = float(f_opt)
        self.targets = np.asarray(targets, dtype=float)
        self.negated = -self.targets  # ascending, for searchsorted
        self.next_threshold = np.append(self.targets, -np.inf)
        self.threshold = np.full(n_runs, self.targets[0])  # the next target of each run
        self.reached = np.zeros(n_runs, dtype=np.int64)  # how many targets each run has met
        self.n_samples = n_samples
        self.blocks: list[tuple] = []
        self.n_runs = n_runs
        self.filled = 0  # buffered iterations
        self.buffer = self.mask = self.clock = None

    def update(self, k: int, F: np.ndarray, mask: np.ndarray, counters: Callable, clock: Callable[[], float]) -> None:
        """Iteration ``k`` evaluated ``F`` for the runs in ``mask``; note the targets they meet first here.

        ``counters(runs)`` gives the runs' (f_evals, g_evals, samples) and ``clock()`` the time, read only on a hit.
        """
        if self.filled:
            self.flush()
        if len(F) == 1 and not F.item() - self.f_opt <= self.threshold.item():  # one run: no numpy call
            return
        gap = F - self.f_opt
        new = gap <= self.threshold  # False for NaN
        if not new.any():
            return
        new &= mask
        if not new.any():
            return
        runs = np.flatnonzero(new)
        met = np.searchsorted(self.negated, -gap[runs], side="right")
        f_evals, g_evals, samples = counters(runs)
        seconds = clock()
        seconds = seconds if np.ndim(seconds) == 0 else seconds[runs]  # a stack: one time per run
        self.blocks.append((k, runs, self.reached[runs].copy(), met, f_evals, g_evals, samples, seconds))
        self.reached[runs] = met
        self.threshold[runs] = self.next_threshold[met]

    def note(self, k: int, F: np.ndarray, mask: np.ndarray, g_evals: int, samples: int, clock: "BufferedClock") -> None:
        """Buffer iteration ``k``: ``F`` for the runs in ``mask``, every run having spent ``g_evals`` gradient
        evaluations (no value-only ones) and ``samples`` data points, ``clock`` read now (``BufferedClock``).
        The block is worked out when it is full, when ``mask`` changes, or when asked (``flush``)."""
        if mask is not self.mask or self.filled == CHUNK or clock is not self.clock:
            self.flush()
            self.mask = mask
            if clock is not self.clock:
                self._allocate(clock)
        i = self.filled
        self.buffer[i] = F
        self.iterations[i], self.g_evals[i], self.samples[i] = k, g_evals, samples
        clock.read(self.readings[i])
        self.filled = i + 1

    def _allocate(self, clock: "BufferedClock") -> None:
        self.clock = clock
        self.buffer = np.empty((CHUNK, self.n_runs))
        self.iterations = np.empty(CHUNK, dtype=np.int64)
        self.g_evals = np.empty(CHUNK, dtype=np.int64)
        self.samples = np.empty(CHUNK, dtype=np.int64)
        self.readings = np.empty((CHUNK, clock.width))

    def flush(self) -> None:
        """Work out the hits of the buffered iterations (all with the same ``mask``), as ``update`` would have.

        A run whose lowest gap in the block meets targets ``reached .. met - 1`` (``met`` counts the targets
        ``>=`` that gap) meets each such target ``t`` first at the block's first row with ``gap <= t`` (NaN never
        does); each (run, target) pair is one hit."""
        m, self.filled = self.filled, 0
        if not m:
            return
        lowest = np.fmin.reduce(self.buffer[:m], axis=0) - self.f_opt  # NaN only where every row is NaN
        runs = np.flatnonzero((lowest <= self.threshold) & self.mask)
        if not len(runs):
            return
        reached = self.reached[runs]
        met = np.searchsorted(self.negated, -lowest[runs], side="right")
        new = met - reached  # >= 1: the lowest gap meets the run's next target
        pair_runs = np.repeat(runs, new)
        pair_targets = np.arange(len(pair_runs)) - np.repeat(np.cumsum(new) - new - reached, new)
        rows = np.argmax(self.buffer[:m, pair_runs] - self.f_opt <= self.targets[pair_targets], axis=0)
        self.blocks.append((self.iterations[rows], pair_runs, pair_targets, pair_targets + 1, 0, self.g_evals[rows],
                            self.samples[rows] if self.n_samples else None,
                            self.clock.times(self.readings[rows], pair_runs)))
        self.reached[runs] = met
        self.threshold[runs] = self.next_threshold[met]

    def frame(self) -> dict[str, np.ndarray]:
        """One row per run per target met: run, target, iteration, f_evals, g_evals, epochs, time."""
        self.flush()
        return _expand_hits(self.blocks, self.targets, self.n_samples)


class BufferedClock(Protocol):
    """How a loop's clock is read into a buffer row and turned into per-run times later (``HitTracker.note``).

    ``width`` numbers per reading; ``read(row)`` fills a row now; ``times(readings, runs)`` gives each
    ``runs[i]``'s seconds at ``readings[i]``. Loops provide one (``engine/loop.py``'s ``BatchClock``,
    ``engine/stack.py``'s ``StackClock``).
    """

    width: int

    def read(self, row: np.ndarray) -> None: ...

    def times(self, readings: np.ndarray, runs: np.ndarray) -> np.ndarray: ...


def _expand_hits(blocks: list[tuple], targets: np.ndarray, n_samples: int | None) -> dict[str, np.ndarray]:
    names = ("run", "target", "iteration", "f_evals", "g_evals", "epochs", "time")
    if not blocks:
        empty = {name: np.zeros(0, dtype=np.int64) for name in names}
        return {**empty, "target": np.zeros(0), "epochs": np.zeros(0), "time": np.zeros(0)}
    runs = np.concatenate([b[1] for b in blocks])
    first = np.concatenate([b[2] for b in blocks])
    last = np.concatenate([b[3] for b in blocks])
    counts = last - first

    sizes = np.array([len(b[1]) for b in blocks])

    def per_run(position, dtype):
        return expand_blocks([b[position] for b in blocks], sizes, dtype)

    rows = np.repeat(np.arange(len(runs)), counts)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    columns = {
        "run": runs[rows],
        "target": targets[first[rows] + offsets],
        "iteration": per_run(0, np.int64)[rows],
        "f_evals": per_run(4, np.int64)[rows],
        "g_evals": per_run(5, np.int64)[rows],
        "epochs": (per_run(6, np.int64)[rows] / n_samples) if n_samples else np.full(len(rows), np.nan),
        "time": per_run(7, float)[rows],
    }
    order = np.lexsort((-columns["target"], columns["run"]))
    return {name: values[order] for name, values in columns.items()}


def hits_from_trace(trace: dict[str, np.ndarray], f_opt: float, targets: np.ndarray, n_samples: int | None) -> dict[str, np.ndarray]:
    """First hits read off recorded rows (``trace`` sorted by run and iteration, as ``Recorder.frame``).

    Exact when every iteration is recorded (own-loop methods record each one);
    otherwise each hit is the first recorded row that meets the target.
    """
    blocks = []
    if trace:
        runs = trace["run"]
        starts = np.flatnonzero(np.r_[True, runs[1:] != runs[:-1]])
        ends = np.r_[starts[1:], len(runs)]
        for start, end in zip(starts, ends):
            gap = trace["f"][start:end] - f_opt
            best = np.fmin.accumulate(np.where(np.isnan(gap), np.inf, gap))
            met = np.searchsorted(-targets, -best, side="right")  # targets met by each row
            previous = np.r_[0, met[:-1]]
            for row in np.flatnonzero(met > previous):
                i = start + row
                samples = None if not n_samples else int(round(trace["epochs"][i] * n_samples))
                blocks.append((int(trace["iteration"][i]), runs[i : i + 1], previous[row : row + 1], met[row : row + 1],
                               trace["f_evals"][i], trace["g_evals"][i], samples, float(trace["time"][i])))
    return _expand_hits(blocks, np.asarray(targets, dtype=float), n_samples)
