"""Seeded synthetic data sets, pure numpy, each returning ``(X, y)``.

Every generator takes ``seed`` and draws from ``numpy.random.default_rng(seed)``
only, so the same arguments always give the same arrays. Features are float64;
class labels are integers (``0``/``1`` for binary sets, ``0..k-1`` for blobs),
as in scikit-learn's ``make_*`` functions.

- ``house_prices``: regression; standardised features like area, rooms, age and
  distance to the centre; ``y = 3 + X.w_true + noise * N(0, 1)`` (price in 100k).
- ``sparse_regression``: regression with only ``n_informative`` non-zero
  coefficients (for the lasso).
- ``linear_classification``: two Gaussian classes on either side of a random
  hyperplane; ``separable=True`` removes the points inside a margin, otherwise
  the classes overlap and a fraction ``flip`` of labels is flipped.
- ``moons``, ``circles``, ``spirals``, ``blobs``: 2-D sets for neural networks.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HOUSE_FEATURES",
    "house_prices",
    "house_price_coefficients",
    "sparse_regression",
    "linear_classification",
    "moons",
    "circles",
    "spirals",
    "blobs",
]

# Named features of the house-price set, in column order; further columns are "feature_<k>".
HOUSE_FEATURES = ("area", "rooms", "age", "distance_to_centre", "floor", "garden", "school_score", "noise_level")
# True coefficients (price in 100k per standard deviation of each feature).
_HOUSE_COEFFICIENTS = (0.9, 0.35, -0.3, -0.6, 0.1, 0.2, 0.25, -0.15)
HOUSE_INTERCEPT = 3.0


def _check(n_samples: int, noise: float, minimum: int = 1) -> None:
    if not isinstance(n_samples, (int, np.integer)) or n_samples < minimum:
        raise ValueError(f"n_samples must be an integer >= {minimum}, got {n_samples!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")


def _standardise(X: np.ndarray) -> np.ndarray:
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def house_price_coefficients(n_features: int) -> np.ndarray:
    """The true coefficients of ``house_prices``: the named ones, then ``0.1 / k`` for extra feature k."""
    extra = [0.1 / k for k in range(1, max(0, n_features - len(_HOUSE_COEFFICIENTS)) + 1)]
    return np.array((list(_HOUSE_COEFFICIENTS) + extra)[:n_features])


def house_prices(n_samples: int = 200, n_features: int = 4, noise: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A house-price regression set ``(X, y)``, ``X`` of shape ``(n_samples, n_features)``.

    Raw features: area ~ lognormal (m^2), rooms ~ area/30 + Poisson noise, age ~
    uniform(0, 100) years, distance to centre ~ exponential(5 km), floor ~ Poisson,
    garden ~ Bernoulli, school score ~ normal, noise level ~ decreasing with distance;
    beyond the eight named features, standard normal columns. Each column is
    standardised (mean 0, std 1). Target:
    ``y = 3 + X.w_true + noise * N(0, 1)`` with ``w_true = house_price_coefficients(n_features)``.
    """
    _check(n_samples, noise, minimum=2)
    if not isinstance(n_features, (int, np.integer)) or n_features < 1:
        raise ValueError(f"n_features must be an integer >= 1, got {n_features!r}")
    rng = np.random.default_rng(seed)
    n = n_samples
    area = rng.lognormal(mean=np.log(90.0), sigma=0.35, size=n)
    rooms = np.maximum(1, np.round(area / 30.0) + rng.poisson(0.5, n) - 0.5)
    age = rng.uniform(0.0, 100.0, n)
    distance = rng.exponential(5.0, n)
    floor = rng.poisson(2.0, n).astype(float)
    garden = (rng.random(n) < 0.4).astype(float)
    school = rng.normal(0.0, 1.0, n)
    noise_level = 60.0 - 2.0 * distance + rng.normal(0.0, 5.0, n)
    columns = [area, rooms, age, distance, floor, garden, school, noise_level]
    extra = max(0, n_features - len(columns))
    raw = np.column_stack(columns + [rng.standard_normal(n) for _ in range(extra)])[:, :n_features]
    X = _standardise(raw)
    y = HOUSE_INTERCEPT + X @ house_price_coefficients(n_features) + noise * rng.standard_normal(n)
    return X, y


def sparse_regression(
    n_samples: int = 100, n_features: int = 20, n_informative: int = 5, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features; ``y = 1 + X.w_true + noise * N(0, 1)`` with ``n_informative`` non-zero coefficients.

    The informative columns are the first ``n_informative``; their coefficients
    alternate in sign with magnitudes from 1 down to 0.5.
    """
    _check(n_samples, noise, minimum=2)
    if not 1 <= n_informative <= n_features:
        raise ValueError(f"n_informative must be between 1 and n_features={n_features}, got {n_informative}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    w = np.zeros(n_features)
    signs = np.where(np.arange(n_informative) % 2 == 0, 1.0, -1.0)
    w[:n_informative] = signs * np.linspace(1.0, 0.5, n_informative)
    y = 1.0 + X @ w + noise * rng.standard_normal(n_samples)
    return X, y


def linear_classification(
    n_samples: int = 200,
    n_features: int = 5,
    separable: bool = False,
    flip: float = 0.1,
    margin: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two classes ``y in {0, 1}`` split by a random hyperplane ``u.x = 0`` (``u`` a unit vector).

    Points are standard normal, shifted by ``+-0.75 u`` according to their class.
    ``separable=True``: points with ``|u.x| < margin`` are redrawn, so the classes are
    separated by a slab of width ``2 * margin`` and ``flip`` is ignored.
    ``separable=False``: a fraction ``flip`` of the labels is flipped (the classes overlap).
    """
    _check(n_samples, 0.0, minimum=2)
    if not 0 <= flip < 0.5:
        raise ValueError(f"flip must be in [0, 0.5), got {flip!r}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(n_features)
    u /= np.linalg.norm(u)
    y = np.arange(n_samples) % 2  # balanced classes
    y = rng.permutation(y)
    sign = 2.0 * y - 1.0
    X = rng.standard_normal((n_samples, n_features)) + 0.75 * sign[:, None] * u
    if separable:
        bad = sign * (X @ u) < margin
        while bad.any():
            X[bad] = rng.standard_normal((int(bad.sum()), n_features)) + 0.75 * sign[bad, None] * u
            bad = sign * (X @ u) < margin
    elif flip > 0:
        flipped = rng.permutation(n_samples)[: int(round(flip * n_samples))]
        y = y.copy()
        y[flipped] = 1 - y[flipped]
    return X, y.astype(np.int64)


def moons(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), plus ``noise * N(0, I)``.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 0.5 - sin t)``; ``t`` evenly spaced in [0, pi].
    """
    _check(n_samples, noise, minimum=2)
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    X = np.vstack([
        np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
        np.column_stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)]),
    ])
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def circles(n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 of radius 1, class 1 of radius ``factor`` (0 < factor < 1), plus noise."""
    _check(n_samples, noise, minimum=2)
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
    X = np.vstack([
        np.column_stack([np.cos(t_outer), np.sin(t_outer)]),
        factor * np.column_stack([np.cos(t_inner), np.sin(t_inner)]),
    ])
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def spirals(n_samples: int = 200, noise: float = 0.05, turns: float = 1.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved Archimedean spirals: class k at ``r (cos(theta + k pi), sin(theta + k pi))``.

    ``theta = 2 pi turns * r`` with ``r`` evenly spaced in (0, 1]; plus ``noise * N(0, I)``.
    """
    _check(n_samples, noise, minimum=2)
    if not turns > 0:
        raise ValueError(f"turns must be > 0, got {turns!r}")
    rng = np.random.default_rng(seed)
    sizes = (n_samples // 2, n_samples - n_samples // 2)
    parts, labels = [], []
    for label, size in enumerate(sizes):
        r = np.linspace(1.0 / size, 1.0, size)
        theta = 2 * np.pi * turns * r + label * np.pi
        parts.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
        labels.append(np.full(size, label, dtype=np.int64))
    X = np.vstack(parts) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate(labels)
    order = rng.permutation(n_samples)
    return X[order], y[order]


def blobs(
    n_samples: int = 200, n_classes: int = 3, n_features: int = 2, std: float = 1.0, spread: float = 5.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters: centres uniform in ``[-spread, spread]^n_features``, each class ``N(centre, std^2 I)``.

    Class sizes differ by at most one; labels ``0..n_classes-1``.
    """
    _check(n_samples, std, minimum=n_classes)
    if n_classes < 1 or n_features < 1:
        raise ValueError(f"n_classes and n_features must be >= 1, got {n_classes} and {n_features}")
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-spread, spread, (n_classes, n_features))
    y = np.arange(n_samples) % n_classes
    X = centres[y] + std * rng.standard_normal((n_samples, n_features))
    order = rng.permutation(n_samples)
    return X[order], y[order].astype(np.int64)
