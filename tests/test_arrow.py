"""Arrow arrays from numpy buffers (optbench/arrow.py) against pyarrow's own conversion."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from optbench.arrow import numbers, texts


@pytest.mark.parametrize("values", [
    np.array([1.5, np.nan, -np.inf, 3.0]), np.arange(5, dtype=np.int64), np.array([True, False, True] * 5),
    np.arange(4, dtype=np.int32), np.zeros(0), np.array([], dtype=bool), np.arange(10.0)[::3],
])
def test_numbers_equal_pyarrow_array(values):
    ours, theirs = numbers(values), pa.array(values)
    assert ours.type == theirs.type and len(ours) == len(theirs) and ours.null_count == 0
    assert ours.to_pylist() == theirs.to_pylist() or np.array_equal(ours.to_numpy(zero_copy_only=False),
                                                                    theirs.to_numpy(zero_copy_only=False), equal_nan=True)


def test_validity_marks_nulls_as_pyarrow_does():
    values, valid = np.array([4, 0, 6, 0, 8, 9, 10, 11, 12], dtype=np.int64), np.array([1, 0, 1, 0, 1, 1, 1, 1, 1], bool)
    assert numbers(values, valid).equals(pa.array([4, None, 6, None, 8, 9, 10, 11, 12], pa.int64()))


def test_texts_equal_pyarrow_strings():
    words = ["", "a", "héllo", "日本", "x" * 300]
    assert texts(words).equals(pa.array(words, pa.string()))
    assert texts([]).equals(pa.array([], pa.string()))
    assert texts(words).take(numbers(np.array([4, 0, 2]))).to_pylist() == [words[4], words[0], words[2]]


def test_other_dtypes_go_to_pyarrow():
    values = np.array(["a", None], dtype=object)
    assert numbers(values).equals(pa.array(values))
