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


TOLS = [Tolerance(1e-9, 1e-12), Tolerance(2e-4, 1e-6), Tolerance(0.0, 0.0), Tolerance(1e-3, 0.0)]


@given(tensor_pairs(), st.data())
def test_one_tolerance_a_pair_is_compare_with_that_tolerance(pairs, data):
    """A block of networks judged at once: each pair keeps its own network's tolerance."""
    tols = [data.draw(st.sampled_from(TOLS)) for _ in pairs]
    together = compare_many(pairs, tols)
    for a, b in zip(together, [compare(g, e, t) for (g, e), t in zip(pairs, tols)]):
        assert (a.ok, a.index, a.bound) == (b.ok, b.index, b.bound)
        for x, y in ((a.error, b.error), (a.got, b.got), (a.expected, b.expected)):
            assert x == y or (np.isnan(x) and np.isnan(y))


def test_tolerances_must_be_one_a_pair():
    with pytest.raises(ValueError, match="2 tolerances for 1 pairs"):
        compare_many([(np.ones(2), np.ones(2))], [TOL, TOL])


def test_the_first_non_finite_entry_is_the_worst_and_never_within_tolerance():
    got = np.array([[1.0, np.nan], [np.inf, 2.0]])
    (c,) = compare_many([(got, np.ones((2, 2)))], TOL)
    assert c.index == (0, 1) and c.error == np.inf and not c.ok and np.isnan(c.got)


def test_a_shape_mismatch_raises_and_an_empty_tensor_passes():
    with pytest.raises(ValueError, match="does not match"):
        compare_many([(np.ones(3), np.ones(3)), (np.ones((2, 2)), np.ones((2, 3)))], TOL)
    (c,) = compare_many([(np.ones((0, 3)), np.ones((0, 3)))], TOL)
    assert c.ok and c.index == ()


def test_a_blocks_agreements_are_each_networks_agreement():
    """agreements (a sweep's block in one pass) gives each network exactly agreement's checks, with
    a candidate answer that is off in one tensor of one network and one whose cost is NaN."""
    import manual_bp as mb
    from autodiff_ref.padded import padded_reference_traces
    from bp_oracle.agreement import agreement, agreements
    from bp_oracle.sweep.engine import sweep_case

    cases = [sweep_case(5, i) for i in range(12)]
    refs = padded_reference_traces(cases)
    got = [mb.backprop_trace(*c) for c in cases]
    got[3].grads[0].W[0, 0] += 1e-2
    got[7] = got[7]._replace(cost=float("nan"))
    tols = [TOLS[i % 2] for i in range(12)]
    block = agreements(list(zip(got, refs, tols)))
    one_by_one = [agreement(g, r, t) for g, r, t in zip(got, refs, tols)]
    assert repr(block) == repr(one_by_one)  # repr: the NaN cost's got is nan on both sides
    assert [k for k, checks in enumerate(block) if not all(c.ok for c in checks)] == [3, 7]
