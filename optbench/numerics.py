"""Batch-invariant elementary functions for per-run hyperparameters.

A hyperparameter is a Python scalar for one run and an array (one value per run) in
a sweep. numpy evaluates ``array ** k`` with SIMD kernels chosen at run time (AVX-512
or not), which are not correctly rounded and differ in the last bit from the scalar
``float ** k`` of the C library. A run alone and the same run in a sweep would then
differ. The functions here compute every element with the scalar C-library routine,
once per distinct value, so a value's bits never depend on the batch it is in, nor on
the CPU's SIMD features.
"""

from __future__ import annotations

import numpy as np


_SCALARS = (float, int)


def power(base, exponent):
    """``base ** exponent`` elementwise, each element as Python's scalar ``float ** float``.

    Either argument may be a scalar or an array (a per-run column or vector); the
    result has their broadcast shape, or is a Python float when both are scalars.
    """
    if base.__class__ in _SCALARS and exponent.__class__ in _SCALARS:  # the usual case, without numpy calls
        return float(base) ** float(exponent)
    if np.ndim(base) == 0 and np.ndim(exponent) == 0:
        return float(base) ** float(exponent)
    base, exponent = np.broadcast_arrays(np.asarray(base, dtype=float), np.asarray(exponent, dtype=float))
    pairs = np.stack([base.ravel(), exponent.ravel()], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    values = np.array([float(b) ** float(e) for b, e in unique], dtype=float)
    return values[inverse.ravel()].reshape(base.shape)
