"""Optima computed on first use and kept on disk: ``f_opt`` and ``x_opt`` of problems whose optimum is solved for.

A problem that mixes in :class:`LazyOptimum` computes ``(x_opt, f_opt)`` with its
``solve_optimum()`` the first time either attribute is read, not when it is
created: loading a suite, or running a problem whose f_opt no rule needs before
the run starts, pays nothing for it. When the problem gives an ``optimum_key()``
(a text that fixes the optimum: the class, a solver version, the parameters or a
digest of the data), the answer is also kept on disk, one small JSON file per key
in the folder :func:`cache_folder` names, so the next process reads it instead of
solving again (logistic regression's trust-exact and ``linprog`` solves, the
``brentq`` roots of Styblinski-Tang's minimiser). Floats are stored by their
``repr``, which reads back to the same bits.

The folder is ``$OPTBENCH_CACHE`` when that variable is set (an empty value turns
the disk cache off), else ``$XDG_CACHE_HOME/optbench``, else ``~/.cache/optbench``;
an unwritable folder or a damaged file is ignored (the optimum is solved again).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["CACHE_ENV", "cache_folder", "cached_optimum", "LazyOptimum", "data_digest"]

CACHE_ENV = "OPTBENCH_CACHE"
_FOLDER = "optimum"
_MEMORY: dict[str, tuple[Any, float]] = {}  # key -> (x_opt, f_opt), for this process

Optimum = tuple["np.ndarray | None", float]


def cache_folder() -> Path | None:
    """Where optima are kept: ``$OPTBENCH_CACHE``, else ``$XDG_CACHE_HOME/optbench``, else ``~/.cache/optbench``
    (None when ``OPTBENCH_CACHE`` is set but empty: no disk cache)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "optbench"


def _path(key: str) -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    return folder / _FOLDER / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def _read(path: Path, key: str) -> Optimum | None:
    """The optimum stored for ``key`` at ``path``; None when absent, unreadable or stored for another key."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored["key"] != key:
            return None
        x_opt = None if stored["x_opt"] is None else np.asarray(stored["x_opt"], dtype=float)
        return x_opt, float(stored["f_opt"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, key: str, optimum: Optimum) -> None:
    """Store ``optimum`` atomically (a temporary name, then a rename); a folder that cannot be written is skipped."""
    x_opt, f_opt = optimum
    text = json.dumps({"key": key, "f_opt": f_opt, "x_opt": None if x_opt is None else np.asarray(x_opt).tolist()})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


def cached_optimum(key: str, solve: Callable[[], Optimum]) -> Optimum:
    """``solve()`` -- ``(x_opt or None, f_opt)`` -- for ``key``, from this process's memory or the disk cache when
    found there, else solved and stored. Copies are returned (callers may not change the cached arrays)."""
    found = _MEMORY.get(key)
    if found is None:
        path = _path(key)
        found = None if path is None else _read(path, key)
        if found is None:
            x_opt, f_opt = solve()
            found = (None if x_opt is None else np.asarray(x_opt, dtype=float), float(f_opt))
            if path is not None:
                _write(path, key, found)
        _MEMORY[key] = found
    x_opt, f_opt = found
    return (None if x_opt is None else x_opt.copy()), f_opt


class LazyOptimum:
    """Mixin for problems: ``x_opt`` and ``f_opt`` come from ``solve_optimum()`` on first read (cached by key).

    A subclass implements ``solve_optimum() -> (x_opt or None, f_opt)`` and, to keep
    the answer on disk, ``optimum_key() -> str`` (None: memory of this instance only).
    Assigning ``f_opt`` or ``x_opt`` before either is read sets that value and solves nothing (the other one
    is then None until assigned).
    """

    def solve_optimum(self) -> Optimum:
        raise NotImplementedError(f"{type(self).__name__} must implement solve_optimum() -> (x_opt, f_opt)")

    def optimum_key(self) -> str | None:
        return None

    def _optimum(self) -> list:
        known = self.__dict__.get("_lazy_optimum")
        if known is None:
            key = self.optimum_key()
            known = list(self.solve_optimum() if key is None else cached_optimum(key, self.solve_optimum))
            self.__dict__["_lazy_optimum"] = known
        return known

    def _set_optimum_part(self, index: int, value: Any) -> None:
        known = self.__dict__.setdefault("_lazy_optimum", [None, None])
        known[index] = value

    @property
    def x_opt(self) -> np.ndarray | None:
        return self._optimum()[0]

    @x_opt.setter
    def x_opt(self, value: np.ndarray | None) -> None:
        self._set_optimum_part(0, value)

    @property
    def f_opt(self) -> float | None:
        return self._optimum()[1]

    @f_opt.setter
    def f_opt(self, value: float | None) -> None:
        self._set_optimum_part(1, value)


def data_digest(*arrays: np.ndarray) -> str:
    """A SHA-256 of arrays' shapes and bytes: the part of an optimum's key that says which data it was solved on."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
