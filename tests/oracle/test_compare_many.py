"""compare_many (every tensor of a network judged in one pass) gives exactly compare's answers:
the worst entry, its index, got and expected there, the bound and the verdict, with NaN and ±inf
anywhere, scalars, vectors, matrices; shape mismatches raise as compare does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bp_oracle.tolerance import Tolerance, compare, compare_many

TOL = Tolerance(1e-9, 1e-12)
SPECIAL = [0.0, -0.0, 1e-300, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300]


@st.composite
def tensor_pairs(draw):
    pairs = []
    for _ in range(draw(st.integers(1, 6))):
        shape = draw(st.sampled_from([(), (1,), (3,), (2, 3), (4, 1), (1, 5)]))
        size = int(np.prod(shape))
        expected = np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=size, max_size=size)), float).reshape(shape)
        got = expected.copy()
        for _ in range(draw(st.integers(0, 3))):
            if size:
                flat = got.reshape(-1)
                flat[draw(st.integers(0, size - 1))] = draw(st.sampled_from(SPECIAL + [draw(st.floats(-1e3, 1e3))]))
        pairs.append((got, expected))
    return pairs


@given(tensor_pairs())
def test_compare_many_is_compare_tensor_by_tensor(pairs):
    one_by_one = [compare(g, e, TOL) for g, e in pairs]
    together = compare_many(pairs, TOL)
    assert len(together) == len(one_by_one)
    for a, b in zip(together, one_by_one):
        assert (a.ok, a.index) == (b.ok, b.index)
        for x, y in ((a.error, b.error), (a.bound, b.bound), (a.got, b.got), (a.expected, b.expected)):
            assert x == y or (np.isnan(x) and np.isnan(y))


def test_the_first_non_finite_entry_is_the_worst_and_never_within_tolerance():
    got = np.array([[1.0, np.nan], [np.inf, 2.0]])
    (c,) = compare_many([(got, np.ones((2, 2)))], TOL)
    assert c.index == (0, 1) and c.error == np.inf and not c.ok and np.isnan(c.got)


def test_a_shape_mismatch_raises_and_an_empty_tensor_passes():
    with pytest.raises(ValueError, match="does not match"):
        compare_many([(np.ones(3), np.ones(3)), (np.ones((2, 2)), np.ones((2, 3)))], TOL)
    (c,) = compare_many([(np.ones((0, 3)), np.ones((0, 3)))], TOL)
    assert c.ok and c.index == ()
