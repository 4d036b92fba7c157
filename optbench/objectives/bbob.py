"""COCO's bbob suite: the 24 noiseless functions, with analytic gradients.

``bbob(function=f, instance=i, dim=d)`` is function ``f`` (1-24) of COCO's bbob
suite, instance ``i`` (any integer >= 1; COCO's standard ones are 1-15), in
dimension ``d`` (>= 2; COCO's are 2, 3, 5, 10, 20, 40). Values equal COCO's
reference implementation (``cocoex``, the numbbo/coco C code): the optimum
``x_opt``, the offset ``f_opt`` and the rotations come from COCO's legacy
pseudo-random generator with its seeding rules (``rseed = f + 10000 i``; f4 uses
the seed of f3, f18 that of f17), and the transformations are COCO's:

- ``T_osz(x) = sign(x) exp(u + 0.049 (sin(c1 u) + sin(c2 u)))``, ``u = log|x|``,
  ``(c1, c2) = (10, 7.9)`` for x > 0 and ``(5.5, 3.1)`` for x < 0; ``T_osz(0) = 0``.
- ``T_asy^beta(x)_i = x_i^(1 + beta i/(d-1) sqrt(x_i))`` for x_i > 0, else x_i.
- ``Lambda^alpha = diag(alpha^(i / (2 (d-1))))``, i = 0..d-1.
- ``f_pen(x) = sum_i max(0, |x_i| - 5)^2`` (the boundary penalty).
- ``R = rotation(rseed + 1000000)``, ``Q = rotation(rseed)``: Gram-Schmidt on a
  matrix of the generator's Gaussian numbers.

The domain is ``[-5, 5]^d`` (initial points uniform in it). ``grad`` is the
analytic gradient: the chain rule through every transformation (value and
gradient share one pass in ``value_and_grad``), and where f is not
differentiable one element of the subdifferential (or of the one-sided
derivatives): sign(0) = 0, the active branch of a max or min, 0 for the
derivative of ``|z|^(1/2)`` terms at z = 0, and ``T_osz'(0) = 1``.

``hvp`` (Hessian-vector products) is analytic for f1, f2, f3, f8-f12 and f15
(``HVP_FUNCTIONS``: second derivatives of T_osz and T_asy through the same chain),
central differences of the gradient for the others.

f7 (step ellipsoid) is piecewise constant but for its penalty and the term
``1e-4 |z_1|`` of its floor: the gradient returned is the exact one almost
everywhere, i.e. zero from the rounded ellipsoid, plus the gradients of the
penalty and of the floor term where it is active. It is not a surrogate: a
gradient method stalls on f7's plateaus, as the function intends. f7 is tagged
'nonsmooth'.

Katsuura (f23) and Weierstrass (f16) are differentiable almost everywhere but
vary on scales down to 2^-32 and 3^-11; their gradients are exact but only
meaningful over steps that small.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from optbench.objectives.testfunctions import rosenbrock_hvp
from optbench.problem import Problem
from optbench.registry import register_problem

__all__ = ["BBOB", "FUNCTION_NAMES", "HVP_FUNCTIONS", "bbob_unif", "bbob_gauss", "bbob_rotation", "bbob_xopt", "bbob_fopt"]


# ---------------------------------------------------------------- COCO's legacy generator
@lru_cache(maxsize=4096)
def bbob_unif(n: int, seed: int) -> tuple[float, ...]:
    """n uniform numbers in (0, 1) from COCO's legacy generator (Park-Miller with a 32-slot shuffle).

    Seeds below 1 become 1 (negative ones are negated first); the state after 40
    warm-up steps fills the shuffle table, and each number is ``rand / 2147483647``.
    """
    seed = max(abs(int(seed)), 1)
    table = [0] * 32
    for i in range(39, -1, -1):
        seed = _park_miller(seed)
        if i < 32:
            table[i] = seed
    current, out = table[0], []
    for _ in range(n):
        seed = _park_miller(seed)
        k = math.floor(current / 67108865)
        current, table[k] = table[k], seed
        out.append(current / 2.147483647e9 or 1e-99)
    return tuple(out)


def _park_miller(seed: int) -> int:
    """One step of ``seed <- 16807 seed mod (2^31 - 1)`` by Schrage's method, as COCO writes it."""
    tmp = math.floor(seed / 127773)
    seed = 16807 * (seed - tmp * 127773) - 2836 * tmp
    return seed + 2147483647 if seed < 0 else seed


def bbob_gauss(n: int, seed: int) -> np.ndarray:
    """n standard normal numbers: Box-Muller ``sqrt(-2 log u_i) cos(2 pi u_{n+i})`` on ``bbob_unif(2n, seed)``."""
    u = bbob_unif(2 * n, seed)
    g = [math.sqrt(-2.0 * math.log(u[i])) * math.cos(2.0 * math.pi * u[n + i]) for i in range(n)]
    return np.array([v if v != 0.0 else 1e-99 for v in g])


@lru_cache(maxsize=1024)
def _rotation_cached(seed: int, dim: int) -> np.ndarray:
    B = bbob_gauss(dim * dim, seed).reshape(dim, dim).T.copy()
    for i in range(dim):
        for j in range(i):
            B[:, i] -= _dot(B[:, i], B[:, j]) * B[:, j]
        B[:, i] /= math.sqrt(_dot(B[:, i], B[:, i]))
    B.setflags(write=False)
    return B


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum_k a_k b_k`` added left to right, as COCO's C loops do (so rotations agree to the last bits)."""
    return float(np.cumsum(a * b)[-1])


def _product(A: np.ndarray, D: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A diag(D) B`` with each entry summed left to right (COCO's order)."""
    return np.cumsum((A * D)[:, :, None] * B[None, :, :], axis=1)[:, -1, :]


def bbob_rotation(seed: int, dim: int) -> np.ndarray:
    """COCO's random orthogonal matrix: Gram-Schmidt on the columns of ``B[i, j] = g[j dim + i]``, g Gaussian."""
    return _rotation_cached(int(seed), int(dim))


def bbob_xopt(seed: int, dim: int) -> np.ndarray:
    """COCO's optimum: ``8 floor(1e4 u) / 1e4 - 4`` for u uniform (a 0 becomes -1e-5)."""
    x = np.array([8.0 * math.floor(1e4 * u) / 1e4 - 4.0 for u in bbob_unif(dim, seed)])
    x[x == 0.0] = -1e-5
    return x


def bbob_fopt(function: int, instance: int) -> float:
    """COCO's offset: ``round(100 g1 / g2, 2)`` of two Gaussian numbers, clipped to [-1000, 1000]."""
    rseed = {4: 3, 18: 17}.get(function, function) + 10000 * instance
    g1, g2 = bbob_gauss(1, rseed)[0], bbob_gauss(1, rseed + 1)[0]
    return min(1000.0, max(-1000.0, math.floor(100.0 * 100.0 * g1 / g2 + 0.5) / 100.0))


# ---------------------------------------------------------------- transformations and their derivatives
def _osz(X: np.ndarray, grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``T_osz`` elementwise and (if ``grad``) its derivative ``T_osz(x)/x (1 + 0.049 (c1 cos(c1 u) + c2 cos(c2
    u)))``.
    """
    pos = X > 0
    nonzero = X != 0
    u = np.log(np.where(nonzero, np.abs(X), 1.0))
    c1, c2 = np.where(pos, 10.0, 5.5), np.where(pos, 7.9, 3.1)
    T = np.sign(X) * np.exp(u + 0.049 * (np.sin(c1 * u) + np.sin(c2 * u)))
    if not grad:
        return T, None
    slope = 1.0 + 0.049 * (c1 * np.cos(c1 * u) + c2 * np.cos(c2 * u))
    return T, np.where(nonzero, T / np.where(nonzero, X, 1.0) * slope, 1.0)


def _asy(X: np.ndarray, beta: float, grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``T_asy^beta`` elementwise and (if ``grad``) its derivative ``y (e / x + log(x) a / (2 sqrt x))`` for x >
    0, else 1.
    """
    dim = X.shape[-1]
    a = beta * np.arange(dim) / (dim - 1.0)
    pos = X > 0
    xp = np.where(pos, X, 1.0)
    root = np.sqrt(xp)
    e = 1.0 + a * root
    Y = xp**e
    if not grad:
        return np.where(pos, Y, X), None
    dY = Y * (e / xp + np.log(xp) * a / (2.0 * root))
    return np.where(pos, Y, X), np.where(pos, dY, 1.0)


def _lambda(alpha: float, dim: int) -> np.ndarray:
    """The diagonal of ``Lambda^alpha``: ``sqrt(alpha)^(i / (d-1))``."""
    return math.sqrt(alpha) ** (np.arange(dim) / (dim - 1.0))


def _penalty(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f_pen(x) = sum max(0, |x_i| - 5)^2`` and its gradient ``2 max(0, |x_i| - 5) sign(x_i)``."""
    excess = np.maximum(np.abs(X) - 5.0, 0.0)
    return np.sum(excess * excess, axis=1), 2.0 * excess * np.sign(X)


def _rastrigin(Z: np.ndarray, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``10 (d - sum cos(2 pi z_i)) + sum z_i^2`` and (if ``grad``) its gradient ``20 pi sin(2 pi z) + 2 z``."""
    dim = Z.shape[1]
    angle = 2.0 * math.pi * Z
    f = 10.0 * (dim - np.sum(np.cos(angle), axis=1)) + np.sum(Z * Z, axis=1)
    return f, (20.0 * math.pi * np.sin(angle) + 2.0 * Z if grad else None)


def _ellipsoid(Z: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum w_i z_i^2`` and its gradient ``2 w z``."""
    WZ = weights * Z
    return np.sum(WZ * Z, axis=1), 2.0 * WZ


def _scalar_osz(y: np.ndarray, grad: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``T_osz`` on an objective value (f6, f21, f22) and its derivative."""
    return _osz(y, grad)


def _powers(dim: int) -> np.ndarray:
    return np.arange(dim) / (dim - 1.0)


# ---------------------------------------------------------------- the 24 functions
# Each ``_fN(c, X, grad)`` returns (f without f_opt, gradient or None); ``c`` holds
# the instance's constants made by ``_setup`` once per problem.

def _f1(c, X, grad):
    """f1 sphere: ``sum z_i^2``, z = x - x_opt."""
    Z = X - c.xopt
    return np.sum(Z * Z, axis=1), (2.0 * Z if grad else None)


def _f2(c, X, grad):
    """f2 separable ellipsoid: ``sum 10^(6 i/(d-1)) z_i^2``, z = T_osz(x - x_opt)."""
    Z, dZ = _osz(X - c.xopt, grad)
    f, G = _ellipsoid(Z, c.w6)
    return f, (G * dZ if grad else None)


def _f3(c, X, grad):
    """f3 Rastrigin: ``10 (d - sum cos(2 pi z_i)) + |z|^2``, z = Lambda^10 T_asy^0.2(T_osz(x - x_opt))."""
    T, dT = _osz(X - c.xopt, grad)
    A, dA = _asy(T, 0.2, grad)
    f, G = _rastrigin(c.lam10 * A, grad)
    return f, (G * c.lam10 * dA * dT if grad else None)


def _f4(c, X, grad):
    """f4 Bueche-Rastrigin: Rastrigin of ``z_i = s_i T_osz(x - x_opt)_i`` (s_i = sqrt(10)^(i/(d-1)), times 10 for
    even i where positive) + 100 f_pen(x).
    """
    T, dT = _osz(X - c.xopt, grad)
    scale = c.lam10 * np.where((T > 0) & c.even, 10.0, 1.0)
    f, G = _rastrigin(scale * T, grad)
    pen, dpen = _penalty(X)
    return f + 100.0 * pen, (G * scale * dT + 100.0 * dpen if grad else None)


def _f5(c, X, grad):
    """f5 linear slope: ``sum 5 |s_i| - s_i z_i``, s_i = sign(x_opt_i) 10^(i/(d-1)), z_i = x_i unless x_i x_opt_i
    >= 25 (then x_opt_i).
    """
    inside = X * c.xopt < 25.0
    Z = np.where(inside, X, c.xopt)
    f = np.sum(5.0 * np.abs(c.s) - c.s * Z, axis=1)
    return f, (np.where(inside, -c.s, 0.0) if grad else None)


def _f6(c, X, grad):
    """f6 attractive sector: ``T_osz(sum (s_i z_i)^2)^0.9``, z = R Lambda^10 Q (x - x_opt), s_i = 100 where z_i
    x_opt_i > 0, else 1.
    """
    Z = (X - c.xopt) @ c.M.T
    W = np.where(c.xopt * Z > 0, 1e4, 1.0)
    raw = np.sum(W * Z * Z, axis=1)
    T, dT = _scalar_osz(raw, grad)
    f = T**0.9
    if not grad:
        return f, None
    outer = np.where(T > 0, 0.9 * f / np.where(T > 0, T, 1.0) * dT, 0.0)
    return f, (outer[:, None] * 2.0 * W * Z) @ c.M


def _f7(c, X, grad):
    """f7 step ellipsoid: ``0.1 max(1e-4 |zh_1|, sum 100^(i/(d-1)) z_i^2) + f_pen(x)``,
    zh = Lambda^10 Q (x - x_opt), z = R round(zh).

    round is to integers where |zh_i| > 0.5, else to tenths; its derivative is taken as 0 (piecewise constant).
    """
    Zh = (X - c.xopt) @ c.LQ.T
    Zt = np.where(np.abs(Zh) > 0.5, np.floor(Zh + 0.5), np.floor(10.0 * Zh + 0.5) / 10.0)
    ell, _ = _ellipsoid(Zt @ c.R.T, c.w2)
    floor = 1e-4 * np.abs(Zh[:, 0])
    pen, dpen = _penalty(X)
    f = 0.1 * np.maximum(floor, ell) + pen
    if not grad:
        return f, None
    active = (floor > ell)[:, None]
    return f, dpen + active * (1e-5 * np.sign(Zh[:, :1])) * c.LQ[0]


def _rosenbrock(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_{i<d} 100 (z_i^2 - z_{i+1})^2 + (z_i - 1)^2`` and its gradient."""
    a, b = Z[:, :-1], Z[:, 1:]
    r = a * a - b
    f = 100.0 * np.sum(r * r, axis=1) + np.sum((a - 1.0) ** 2, axis=1)
    G = np.zeros_like(Z)
    G[:, :-1] = 400.0 * r * a + 2.0 * (a - 1.0)
    G[:, 1:] -= 200.0 * r
    return f, G


def _f8(c, X, grad):
    """f8 Rosenbrock: ``sum 100 (z_i^2 - z_{i+1})^2 + (z_i - 1)^2``, z = max(1, sqrt(d)/8) (x - x_opt) + 1."""
    f, G = _rosenbrock(c.scale * (X - c.xopt) + 1.0)
    return f, (c.scale * G if grad else None)


def _f9(c, X, grad):
    """f9 rotated Rosenbrock: Rosenbrock of ``z = max(1, sqrt(d)/8) Q x + 1/2``."""
    f, G = _rosenbrock(X @ c.sQ.T + 0.5)
    return f, (G @ c.sQ if grad else None)


def _f10(c, X, grad):
    """f10 ellipsoid: ``sum 10^(6 i/(d-1)) z_i^2``, z = T_osz(R (x - x_opt))."""
    T, dT = _osz((X - c.xopt) @ c.R.T, grad)
    f, G = _ellipsoid(T, c.w6)
    return f, ((G * dT) @ c.R if grad else None)


def _f11(c, X, grad):
    """f11 discus: ``10^6 z_1^2 + sum_{i>1} z_i^2``, z = T_osz(R (x - x_opt))."""
    T, dT = _osz((X - c.xopt) @ c.R.T, grad)
    f, G = _ellipsoid(T, c.discus)
    return f, ((G * dT) @ c.R if grad else None)


def _f12(c, X, grad):
    """f12 bent cigar: ``z_1^2 + 10^6 sum_{i>1} z_i^2``, z = R T_asy^0.5(R (x - x_opt))."""
    A, dA = _asy((X - c.xopt) @ c.R.T, 0.5, grad)
    f, G = _ellipsoid(A @ c.R.T, c.cigar)
    return f, (((G @ c.R) * dA) @ c.R if grad else None)


def _f13(c, X, grad):
    """f13 sharp ridge: ``z_1^2 + 100 sqrt(sum_{i>1} z_i^2)``, z = R Lambda^10 Q (x - x_opt)."""
    Z = (X - c.xopt) @ c.M.T
    ridge = np.sqrt(np.sum(Z[:, 1:] ** 2, axis=1))
    f = Z[:, 0] ** 2 + 100.0 * ridge
    if not grad:
        return f, None
    G = np.empty_like(Z)
    G[:, 0] = 2.0 * Z[:, 0]
    G[:, 1:] = 100.0 * Z[:, 1:] / np.where(ridge > 0, ridge, np.inf)[:, None]
    return f, G @ c.M


def _f14(c, X, grad):
    """f14 different powers: ``sqrt(sum |z_i|^(2 + 4 i/(d-1)))``, z = R (x - x_opt)."""
    Z = (X - c.xopt) @ c.R.T
    A = np.abs(Z)
    P = A**c.p
    f = np.sqrt(np.sum(P, axis=1))
    if not grad:
        return f, None
    dP = c.p * np.sign(Z) * A ** (c.p - 1.0)
    return f, (dP / np.where(f > 0, 2.0 * f, np.inf)[:, None]) @ c.R


def _f15(c, X, grad):
    """f15 rotated Rastrigin: Rastrigin of ``z = R Lambda^10 Q T_asy^0.2(T_osz(R (x - x_opt)))``."""
    T, dT = _osz((X - c.xopt) @ c.R.T, grad)
    A, dA = _asy(T, 0.2, grad)
    f, G = _rastrigin(A @ c.M.T, grad)
    return f, (((G @ c.M) * dA * dT) @ c.R if grad else None)


def _f16(c, X, grad):
    """f16 Weierstrass: ``10 (1/d sum_i sum_k 2^-k cos(2 pi 3^k (z_i + 1/2)) - f0)^3 + 10/d f_pen(x)``, k = 0..11,
    z = R Lambda^(1/100) Q T_osz(R (x - x_opt)), f0 the inner sum at z = 0.
    """
    T, dT = _osz((X - c.xopt) @ c.R.T, grad)
    Z = T @ c.M.T
    angle = 2.0 * math.pi * (Z[:, :, None] + 0.5) * c.bk
    S = np.sum(np.sum(np.cos(angle) * c.ak, axis=2), axis=1) / c.dim - c.f0
    pen, dpen = _penalty(X)
    f = 10.0 * S**3 + 10.0 / c.dim * pen
    if not grad:
        return f, None
    dZ = np.sum(np.sin(angle) * c.ak2pibk, axis=2) * (-30.0 / c.dim * S * S)[:, None]
    return f, ((dZ @ c.M) * dT) @ c.R + 10.0 / c.dim * dpen


def _f17(c, X, grad):
    """f17/f18 Schaffers F7: ``(1/(d-1) sum sqrt(s_i) (1 + sin^2(50 s_i^0.1)))^2 + 10 f_pen(x)``,
    s_i = sqrt(z_i^2 + z_{i+1}^2),
    z = Lambda^10 Q T_asy^0.5(R (x - x_opt)) (f18: Lambda^1000).
    """
    A, dA = _asy((X - c.xopt) @ c.R.T, 0.5, grad)
    Z = A @ c.LQ.T
    s = Z[:, :-1] ** 2 + Z[:, 1:] ** 2
    root = s**0.1
    term = s**0.25 * (1.0 + np.sin(50.0 * root) ** 2)
    mean = np.sum(term, axis=1) / (c.dim - 1.0)
    pen, dpen = _penalty(X)
    f = mean * mean + 10.0 * pen
    if not grad:
        return f, None
    safe = np.where(s > 0, s, 1.0)
    ds = np.where(s > 0, 0.25 * term / safe + 5.0 * safe**-0.65 * np.sin(100.0 * root), 0.0)
    ds *= (2.0 * mean / (c.dim - 1.0))[:, None]
    G = np.zeros_like(Z)
    G[:, :-1] = 2.0 * ds * Z[:, :-1]
    G[:, 1:] += 2.0 * ds * Z[:, 1:]
    return f, ((G @ c.LQ) * dA) @ c.R + 10.0 * dpen


def _f19(c, X, grad):
    """f19 Griewank-Rosenbrock: ``10/(d-1) sum (s_i/4000 - cos s_i) + 10``, s_i = 100 (z_i^2 - z_{i+1})^2 + (z_i - 1)^2,
    z = max(1, sqrt(d)/8) Q x + 1/2.
    """
    Z = X @ c.sQ.T + 0.5
    a, b = Z[:, :-1], Z[:, 1:]
    r = a * a - b
    s = 100.0 * r * r + (1.0 - a) ** 2
    f = 10.0 / (c.dim - 1.0) * np.sum(s / 4000.0 - np.cos(s), axis=1) + 10.0
    if not grad:
        return f, None
    ds = 10.0 / (c.dim - 1.0) * (1.0 / 4000.0 + np.sin(s))
    G = np.zeros_like(Z)
    G[:, :-1] = ds * (400.0 * r * a - 2.0 * (1.0 - a))
    G[:, 1:] -= ds * 200.0 * r
    return f, G @ c.sQ


def _f20(c, X, grad):
    """f20 Schwefel: ``0.01 (418.9828872724339 - 1/d sum z_i sin(sqrt|z_i|) + sum max(0, |z_i| - 500)^2)``,
    y = 2 sign(x_opt) x, w_i = y_i + (y_{i-1} - 2|x_opt_{i-1}|)/4 (w_1 = y_1),
    z = 100 (Lambda^10 (w - 2|x_opt|) + 2|x_opt|).
    """
    Y = 2.0 * c.sign * X
    W = Y.copy()
    W[:, 1:] += 0.25 * (Y[:, :-1] - c.two_abs[:-1])
    Z = 100.0 * (c.lam10 * (W - c.two_abs) + c.two_abs)
    A = np.abs(Z)
    root = np.sqrt(A)
    excess = np.maximum(A - 500.0, 0.0)
    f = 0.01 * (np.sum(excess * excess, axis=1) + 418.9828872724339 - np.sum(Z * np.sin(root), axis=1) / c.dim)
    if not grad:
        return f, None
    dZ = 0.01 * (2.0 * excess * np.sign(Z) - (np.sin(root) + 0.5 * root * np.cos(root)) / c.dim)
    dW = 100.0 * c.lam10 * dZ
    dY = dW.copy()
    dY[:, :-1] += 0.25 * dW[:, 1:]
    return f, 2.0 * c.sign * dY


def _f21(c, X, grad):
    """f21/f22 Gallagher: ``T_osz(10 - max_j w_j exp(-1/(2d) (Rx - y_j)' C_j (Rx - y_j)))^2 + f_pen(x)`` over 101
    (21) peaks.
    """
    S = (X @ c.R.T)[:, None, :] - c.xloc
    S *= c.root_scales  # in place: (n_runs, peaks, dim) temporaries dominate the cost
    q = np.einsum("npd,npd->np", S, S)
    peaks = c.heights * np.exp(-0.5 / c.dim * q)
    best = np.argmax(peaks, axis=1)
    rows = np.arange(X.shape[0])
    top = np.maximum(peaks[rows, best], 0.0)
    T, dT = _scalar_osz(10.0 - top, grad)
    pen, dpen = _penalty(X)
    f = T * T + pen
    if not grad:
        return f, None
    dtop = (top / c.dim)[:, None] * c.root_scales[best] * S[rows, best]
    return f, ((2.0 * T * dT)[:, None] * dtop) @ c.R + dpen


def _f23(c, X, grad):
    """f23 Katsuura: ``10/d^2 (prod_i (1 + i t_i)^(10/d^1.2) - 1) + f_pen(x)``,
    t_i = sum_{j=1}^{32} |2^j z_i - round(2^j z_i)| 2^-j,
    z = R Lambda^100 Q (x - x_opt).
    """
    Z = (X - c.xopt) @ c.M.T
    V = Z[:, :, None] * c.two_j
    frac = V - np.floor(V + 0.5)
    t = np.sum(np.abs(frac) / c.two_j, axis=2)
    factor = 1.0 + c.i1 * t
    P = np.prod(factor, axis=1) ** c.exponent
    pen, dpen = _penalty(X)
    f = 10.0 / c.dim**2 * (P - 1.0) + pen
    if not grad:
        return f, None
    dt = np.sum(np.sign(frac), axis=2)
    dZ = (10.0 / c.dim**2 * c.exponent * P)[:, None] * c.i1 * dt / factor
    return f, dZ @ c.M + dpen


def _f24(c, X, grad):
    """f24 Lunacek bi-Rastrigin: ``min(|xh - 2.5|^2, d + s |xh - mu1|^2) + 10 (d - sum cos(2 pi z_i)) + 1e4 f_pen(x)``,
    xh = 2 sign(x_opt) x, z = R Lambda^100 Q (xh - 2.5).
    """
    Xh = 2.0 * c.sign * X
    d0, d1 = Xh - 2.5, Xh - c.mu1
    s0 = np.sum(d0 * d0, axis=1)
    s1 = c.dim + c.s * np.sum(d1 * d1, axis=1)
    angle = 2.0 * math.pi * (d0 @ c.M.T)
    ras = 10.0 * (c.dim - np.sum(np.cos(angle), axis=1))
    pen, dpen = _penalty(X)
    f = np.minimum(s0, s1) + ras + 1e4 * pen
    if not grad:
        return f, None
    dbowl = np.where((s0 < s1)[:, None], 2.0 * d0, 2.0 * c.s * d1)
    dras = (20.0 * math.pi * np.sin(angle)) @ c.M
    return f, 2.0 * c.sign * (dbowl + dras) + 1e4 * dpen


# ---------------------------------------------------------------- Hessian-vector products
# ``_hN(c, X, V)``: exact products for the functions whose transformations are cheap to
# differentiate twice; the others use the base class's central differences of the gradient.
def _osz_curvature(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``T_osz``, ``T_osz'`` and ``T_osz'' = T (g'^2 + g'' - g') / x^2`` with ``T = sign(x) exp(g(u))``,
    ``u = log|x|``, ``g' = 1 + 0.049 (c1 cos(c1 u) + c2 cos(c2 u))``, ``g'' = -0.049 (c1^2 sin(c1 u) + c2^2 sin(c2 u))``
    (``T'(0) = 1``, ``T''(0) = 0``)."""
    T, dT = _osz(X)
    pos, nonzero = X > 0, X != 0
    u = np.log(np.where(nonzero, np.abs(X), 1.0))
    c1, c2 = np.where(pos, 10.0, 5.5), np.where(pos, 7.9, 3.1)
    g1 = 1.0 + 0.049 * (c1 * np.cos(c1 * u) + c2 * np.cos(c2 * u))
    g2 = -0.049 * (c1 * c1 * np.sin(c1 * u) + c2 * c2 * np.sin(c2 * u))
    safe = np.where(nonzero, X, 1.0)
    return T, dT, np.where(nonzero, T * (g1 * g1 + g2 - g1) / (safe * safe), 0.0)


def _osz_ellipsoid_curvature(Y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The diagonal Hessian of ``sum w_i T_osz(y_i)^2`` in y: ``2 w (T'^2 + T T'')``."""
    T, dT, d2T = _osz_curvature(Y)
    return 2.0 * weights * (dT * dT + T * d2T)


def _asy_curvature(X: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``T_asy^beta``, its derivative and ``T_asy'' = y (L'^2 + L'')`` for x > 0, with ``y = x^e``,
    ``e = 1 + a sqrt(x)``, ``L = e log x``, ``L' = e / x + a log(x) / (2 sqrt x)``,
    ``L'' = a / x^1.5 - e / x^2 - a log(x) / (4 x^1.5)``; ``(x, 1, 0)`` for x <= 0."""
    A, dA = _asy(X, beta)
    a = beta * np.arange(X.shape[-1]) / (X.shape[-1] - 1.0)
    pos = X > 0
    xp = np.where(pos, X, 1.0)
    root, log = np.sqrt(xp), np.log(xp)
    e = 1.0 + a * root
    d_log = e / xp + log * a / (2.0 * root)
    d2_log = a / (xp * root) - e / (xp * xp) - a * log / (4.0 * xp * root)
    return A, dA, np.where(pos, A * (d_log * d_log + d2_log), 0.0)


def _rastrigin_chain(Y: np.ndarray, M: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``J^T H_r J v + sum_i (M^T r')_i t''_i`` for ``z = M t(y)``, ``t = T_asy^0.2(T_osz(y))`` elementwise,
    ``r`` the Rastrigin sum (``r' = 20 pi sin(2 pi z) + 2 z``, ``r'' = 40 pi^2 cos(2 pi z) + 2``), ``v`` in y."""
    T, dT, d2T = _osz_curvature(Y)
    A, dA, d2A = _asy_curvature(T, 0.2)
    slope, curve = dA * dT, d2A * dT * dT + dA * d2T
    Z = A @ M.T
    r1, r2 = 20.0 * math.pi * np.sin(2.0 * math.pi * Z) + 2.0 * Z, 40.0 * math.pi**2 * np.cos(2.0 * math.pi * Z) + 2.0
    return ((r2 * ((slope * V) @ M.T)) @ M) * slope + (r1 @ M) * curve * V


def _h1(c, X, V):
    return 2.0 * V


def _h2(c, X, V):
    return _osz_ellipsoid_curvature(X - c.xopt, c.w6) * V


def _h3(c, X, V):
    """f3: the Rastrigin chain with ``M = Lambda^10`` (diagonal) at ``x - x_opt``."""
    return _rastrigin_chain(X - c.xopt, np.diag(c.lam10), V)


def _h12(c, X, V):
    """f12: ``z = R T_asy^0.5(y)``, ``y = R (x - x_opt)``: ``R^T [diag(A') R^T diag(2w) R diag(A') + diag((R^T 2 w z)
    A'')] R v``."""
    Y = (X - c.xopt) @ c.R.T
    A, dA, d2A = _asy_curvature(Y, 0.5)
    U = V @ c.R.T
    twice = 2.0 * c.cigar
    return ((((twice * ((dA * U) @ c.R.T)) @ c.R) * dA) + ((twice * (A @ c.R.T)) @ c.R) * d2A * U) @ c.R


def _h15(c, X, V):
    """f15: the Rastrigin chain with ``M = R Lambda^10 Q`` at ``R (x - x_opt)``, pulled back by R."""
    return _rastrigin_chain((X - c.xopt) @ c.R.T, c.M, V @ c.R.T) @ c.R


def _h8(c, X, V):
    """``scale^2 H_rosen(z) v``."""
    return c.scale * c.scale * rosenbrock_hvp(c.scale * (X - c.xopt) + 1.0, V)


def _h9(c, X, V):
    """``(sQ)^T H_rosen(z) (sQ) v``."""
    return rosenbrock_hvp(X @ c.sQ.T + 0.5, V @ c.sQ.T) @ c.sQ


def _h10(c, X, V):
    """``R^T diag(2 w (T'^2 + T T'')) R v`` at ``R (x - x_opt)``."""
    return (_osz_ellipsoid_curvature((X - c.xopt) @ c.R.T, c.w6) * (V @ c.R.T)) @ c.R


def _h11(c, X, V):
    return (_osz_ellipsoid_curvature((X - c.xopt) @ c.R.T, c.discus) * (V @ c.R.T)) @ c.R


#: function number -> its exact Hessian-vector product.
_HVPS = {1: _h1, 2: _h2, 3: _h3, 8: _h8, 9: _h9, 10: _h10, 11: _h11, 12: _h12, 15: _h15}


# ---------------------------------------------------------------- per-instance constants
def _setup(function: int, instance: int, dim: int) -> SimpleNamespace:
    """The constants of one (function, instance, dim): x_opt, f_opt, matrices, weights."""
    rseed = {4: 3, 18: 17}.get(function, function) + 10000 * instance
    c = SimpleNamespace(dim=dim, rseed=rseed, fopt=bbob_fopt(function, instance))
    c.xopt = bbob_xopt(rseed, dim)
    c.R, c.Q = bbob_rotation(rseed + 1000000, dim), bbob_rotation(rseed, dim)
    c.lam10, c.w6, c.w2 = _lambda(10.0, dim), 1e6 ** _powers(dim), 100.0 ** _powers(dim)
    c.M = _product(c.R, c.lam10, c.Q)
    c.x_opt = c.xopt
    _EXTRA.get(function, lambda c, f: None)(c, function)
    return c


def _extra_f4(c, function):
    c.xopt = c.xopt.copy()
    c.xopt[0::2] = np.abs(c.xopt[0::2])
    c.even = np.arange(c.dim) % 2 == 0
    c.x_opt = c.xopt


def _extra_f5(c, function):
    c.s = np.where(c.xopt > 0, 1.0, -1.0) * 10.0 ** _powers(c.dim)
    c.xopt = c.x_opt = 5.0 * np.sign(c.s)


def _extra_f7(c, function):
    c.LQ = _lambda(10.0, c.dim)[:, None] * c.Q


def _extra_f8(c, function):
    c.scale = max(1.0, math.sqrt(c.dim) / 8.0)
    c.xopt = c.x_opt = 0.75 * c.xopt


def _extra_f9(c, function):
    scale = max(1.0, math.sqrt(c.dim) / 8.0)
    c.sQ = scale * c.Q
    c.x_opt = c.Q.sum(axis=0) / (2.0 * scale)


def _extra_f11(c, function):
    c.discus = np.ones(c.dim)
    c.discus[0] = 1e6


def _extra_f12(c, function):
    c.xopt = c.x_opt = bbob_xopt(c.rseed + 1000000, c.dim)
    c.cigar = np.full(c.dim, 1e6)
    c.cigar[0] = 1.0


def _extra_f14(c, function):
    c.p = 2.0 + 4.0 * _powers(c.dim)


def _extra_f16(c, function):
    k = np.arange(12.0)
    c.ak, c.bk = 0.5**k, 3.0**k
    c.f0 = float(np.sum(c.ak * np.cos(2.0 * math.pi * c.bk * 0.5)))
    c.ak2pibk = c.ak * 2.0 * math.pi * c.bk
    c.M = _product(c.R, math.sqrt(0.01) ** _powers(c.dim), c.Q)


def _extra_f17(c, function):
    c.LQ = _lambda(10.0 if function == 17 else 1000.0, c.dim)[:, None] * c.Q


def _extra_f20(c, function):
    c.sign = np.where(np.array(bbob_unif(c.dim, c.rseed)) < 0.5, -1.0, 1.0)
    c.two_abs = np.full(c.dim, 4.2096874637)
    c.lam10 = _lambda(10.0, c.dim)
    c.x_opt = _schwefel_argmin(c)


def _schwefel_argmin(c) -> np.ndarray:
    """Invert f20's chain of transformations at z_i = argmax of z sin(sqrt z) (420.9687462...)."""
    z_star = 420.96874635998202
    W = c.two_abs + (z_star / 100.0 - c.two_abs) / c.lam10
    Y = np.empty(c.dim)
    Y[0] = W[0]
    for i in range(1, c.dim):
        Y[i] = W[i] - 0.25 * (Y[i - 1] - c.two_abs[i - 1])
    return c.sign * Y / 2.0


def _extra_f21(c, function):
    peaks, dim = (101, c.dim) if function == 21 else (21, c.dim)
    b, offset, first = (10.0, 5.0, math.sqrt(1000.0)) if peaks == 101 else (9.8, 4.9, 1000.0)
    c.R = bbob_rotation(c.rseed, dim)
    order = np.argsort(np.array(bbob_unif(peaks - 1, c.rseed)), kind="stable")
    condition = np.concatenate([[first], 1000.0 ** (order / (peaks - 2.0))])
    c.heights = np.concatenate([[10.0], np.arange(peaks - 1) / (peaks - 2.0) * 8.0 + 1.1])
    c.scales = np.empty((peaks, dim))
    for i in range(peaks):
        perm = np.argsort(np.array(bbob_unif(dim, c.rseed + 1000 * i)), kind="stable")
        c.scales[i] = condition[i] ** (perm / (dim - 1.0) - 0.5)
    Y = b * np.array(bbob_unif(dim * peaks, c.rseed)).reshape(peaks, dim) - offset
    Y[0] *= 0.8
    c.xloc = Y @ c.R.T
    c.root_scales = np.sqrt(c.scales)
    c.xopt = c.x_opt = Y[0].copy()


def _extra_f23(c, function):
    c.M = _product(c.R, _lambda(100.0, c.dim), c.Q)
    c.two_j = 2.0 ** np.arange(1, 33)
    c.i1 = np.arange(1.0, c.dim + 1.0)
    c.exponent = 10.0 / c.dim**1.2


def _extra_f24(c, function):
    c.sign = np.where(bbob_gauss(c.dim, c.rseed) < 0, -1.0, 1.0)
    c.x_opt = 1.25 * c.sign
    c.s = 1.0 - 0.5 / (math.sqrt(c.dim + 20.0) - 4.1)
    c.mu1 = -math.sqrt((2.5**2 - 1.0) / c.s)
    c.M = _product(c.R, _lambda(100.0, c.dim), c.Q)


_EXTRA = {
    4: _extra_f4, 5: _extra_f5, 7: _extra_f7, 8: _extra_f8, 9: _extra_f9, 11: _extra_f11,
    12: _extra_f12, 14: _extra_f14, 16: _extra_f16, 17: _extra_f17, 18: _extra_f17,
    19: _extra_f9, 20: _extra_f20, 21: _extra_f21, 22: _extra_f21, 23: _extra_f23, 24: _extra_f24,
}

# function number -> (evaluator, name, tags)
_SMOOTH_UNI, _SMOOTH_MULTI = frozenset({"smooth", "unimodal"}), frozenset({"smooth", "multimodal"})
_NONSMOOTH_UNI, _NONSMOOTH_MULTI = frozenset({"nonsmooth", "unimodal"}), frozenset({"nonsmooth", "multimodal"})
_FUNCTIONS = {
    1: (_f1, "sphere", frozenset({"convex", "smooth", "unimodal"})),
    2: (_f2, "separable ellipsoid", _SMOOTH_UNI),
    3: (_f3, "Rastrigin", _SMOOTH_MULTI),
    4: (_f4, "Bueche-Rastrigin", _NONSMOOTH_MULTI),
    5: (_f5, "linear slope", frozenset({"convex", "nonsmooth", "unimodal"})),
    6: (_f6, "attractive sector", _SMOOTH_UNI),
    7: (_f7, "step ellipsoid", _NONSMOOTH_UNI),
    8: (_f8, "Rosenbrock", _SMOOTH_UNI),
    9: (_f9, "rotated Rosenbrock", _SMOOTH_UNI),
    10: (_f10, "ellipsoid", _SMOOTH_UNI),
    11: (_f11, "discus", _SMOOTH_UNI),
    12: (_f12, "bent cigar", _SMOOTH_UNI),
    13: (_f13, "sharp ridge", frozenset({"convex", "nonsmooth", "unimodal"})),
    14: (_f14, "different powers", _NONSMOOTH_UNI),
    15: (_f15, "rotated Rastrigin", _SMOOTH_MULTI),
    16: (_f16, "Weierstrass", _NONSMOOTH_MULTI),
    17: (_f17, "Schaffer's F7", _NONSMOOTH_MULTI),
    18: (_f17, "Schaffer's F7, ill-conditioned", _NONSMOOTH_MULTI),
    19: (_f19, "composite Griewank-Rosenbrock F8F2", _SMOOTH_MULTI),
    20: (_f20, "Schwefel x sin(sqrt|x|)", _SMOOTH_MULTI),
    21: (_f21, "Gallagher's 101 peaks", _NONSMOOTH_MULTI),
    22: (_f21, "Gallagher's 21 peaks", _NONSMOOTH_MULTI),
    23: (_f23, "Katsuura", _NONSMOOTH_MULTI),
    24: (_f24, "Lunacek bi-Rastrigin", _NONSMOOTH_MULTI),
}
FUNCTION_NAMES = {number: name for number, (_, name, _) in _FUNCTIONS.items()}
#: The functions whose Hessian-vector products are analytic (the others: central differences).
HVP_FUNCTIONS = tuple(sorted(_HVPS))


@register_problem("bbob")
class BBOB(Problem):
    """COCO's bbob function ``function`` (1-24), instance ``instance`` (>= 1), in dimension ``dim`` (>= 2).

    f(x) = f_raw(transformed x) + f_opt exactly as COCO defines it (see the module
    docstring); ``x_opt`` and ``f_opt`` are COCO's, domain [-5, 5]^dim, tags per
    function (``FUNCTION_NAMES`` has the names). ``grad`` is analytic (f7: zero
    from the rounded part, see the module docstring).
    """

    tags: ClassVar[frozenset[str]] = frozenset({"smooth", "nonsmooth", "unimodal", "multimodal", "convex"})

    def __init__(self, function: int = 1, instance: int = 1, dim: int = 2):
        if isinstance(function, bool) or function not in _FUNCTIONS:
            raise ValueError(f"bbob function must be an integer in 1-24, got {function!r}")
        if isinstance(instance, bool) or not isinstance(instance, (int, np.integer)) or instance < 1:
            raise ValueError(f"bbob instance must be an integer >= 1 (COCO's standard: 1-15), got {instance!r}")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 2:
            raise ValueError(f"bbob dim must be an integer >= 2 (COCO's: 2, 3, 5, 10, 20, 40), got {dim!r}")
        self.function, self.instance, self.dim = int(function), int(instance), int(dim)
        self._evaluate, self.function_name, self.tags = _FUNCTIONS[self.function]
        self.f_opt = bbob_fopt(self.function, self.instance)
        self.domain = np.tile([-5.0, 5.0], (self.dim, 1))

    @cached_property
    def _c(self) -> SimpleNamespace:
        """The instance's constants, made on first use (a suite of 2160 problems validates quickly)."""
        return _setup(self.function, self.instance, self.dim)

    @property
    def x_opt(self) -> np.ndarray:
        """COCO's optimum of this instance, ``(dim,)``."""
        return np.array(self._c.x_opt, dtype=float)

    def value(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self._evaluate(self._c, np.asarray(X), False)[0] + self.f_opt

    def grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        return self.value_and_grad(X, batch)[1]

    def value_and_grad(self, X: np.ndarray, batch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            f, G = self._evaluate(self._c, np.asarray(X), True)
        return f + self.f_opt, G

    @property
    def hvp_exact(self) -> bool:  # type: ignore[override]
        """Analytic products for f1, f2, f3, f8-f12 and f15 (``HVP_FUNCTIONS``)."""
        return self.function in _HVPS

    def hvp(self, X: np.ndarray, V: np.ndarray, batch: np.ndarray | None = None) -> np.ndarray:
        """``H(x) v`` per row: exact for ``HVP_FUNCTIONS``, central differences of the gradient otherwise."""
        if self.function not in _HVPS:
            return super().hvp(X, V, batch)
        with np.errstate(all="ignore"):
            return _HVPS[self.function](self._c, np.asarray(X, dtype=float), np.asarray(V, dtype=float))
