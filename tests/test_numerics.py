"""numerics.power: a per-run value's bits never depend on the batch it is in."""

from __future__ import annotations

import math

import numpy as np

from optbench.numerics import power


def test_each_element_is_the_c_library_scalar_power():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 1.0, size=(37, 1))
    for k in (1, 7, 150, 999):
        got = power(base, k)
        assert got.shape == (37, 1)
        assert [float(v) for v in got.ravel()] == [math.pow(float(b), k) for b in base.ravel()]


def test_an_element_alone_equals_the_same_element_in_a_batch():
    base = np.linspace(0.8, 0.999, 64)
    exponent = np.arange(64) * 3.5
    batch = power(base, exponent)
    alone = [power(float(b), float(e)) for b, e in zip(base, exponent)]
    assert batch.tolist() == alone


def test_scalars_give_a_python_float_and_shapes_broadcast():
    assert power(0.9, 2) == 0.9**2 and isinstance(power(0.9, 2), float)
    assert power(np.full((3, 1), 0.5), np.arange(4.0)).shape == (3, 4)
