"""Random streams that depend only on what a run is, never on what it is batched with.

Each run gets its own ``numpy.random.Generator`` from a ``SeedSequence`` whose
entropy is a hash of a text key (the problem's description, plus the batch size
for minibatch order) and the run's seed. Every method on a problem therefore
starts the same seed from the same point and sees the same minibatches (common
random numbers), and a run's numbers are the same alone or among 64 others.
``stream_seeds`` gives the same streams as integers, to seed another library's
generator (torch's, for the random numbers a torch optimizer draws).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

MAX_SEEDS = 10_000_000  # seeds of one run or suite; sizes below this are checked by `optbench run` (--yes)

__all__ = ["canonical", "key_hash", "run_generators", "stream_seeds"]


def canonical(obj: Any) -> str:
    """A stable text form of a JSON-like object (sorted keys, numpy scalars as Python numbers)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


def key_hash(text: str, length: int = 16) -> str:
    """A short hex digest of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _words(text: str) -> list[int]:
    digest = hashlib.sha256(text.encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def run_generators(stream: str, key: str, seeds: list[int]) -> list[np.random.Generator]:
    """One generator per seed for the named ``stream`` (``"x0"``, ``"batch"``, ``"noise"``) of ``key``."""
    words = _words(f"{stream}|{key}")
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence([*words, int(seed)]))) for seed in seeds]


def stream_seeds(stream: str, key: str, seeds: list[int]) -> np.ndarray:
    """``(n_seeds,)`` int64: per seed, an integer in ``[0, 2**63)`` for the named ``stream`` of ``key``.

    The integer is the first 64-bit word of the run's ``SeedSequence`` (the one
    ``run_generators(stream, key, seeds)`` starts from) shifted right by one bit: a seed
    for a generator that is not numpy's (``torch.manual_seed``).
    """
    words = _words(f"{stream}|{key}")
    state = [int(np.random.SeedSequence([*words, int(seed)]).generate_state(1, np.uint64)[0]) >> 1 for seed in seeds]
    return np.array(state, dtype=np.int64)
