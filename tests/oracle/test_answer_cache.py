"""The reference's answers kept on disk (bp_oracle/answer_cache.py): loaded bit for bit as
computed, keyed by every input byte, a damaged file recomputed, and no file written by the
Python API unless asked."""

from __future__ import annotations

import numpy as np
import pytest

from bp_oracle import answer_cache
from bp_oracle.expected import expected_for_cases
from bp_oracle.suites import build_suite


@pytest.fixture
def cases():
    return [c for c in build_suite("quick", 0) if c.net.L <= 2][:6]


@pytest.fixture
def kept_in(tmp_path, monkeypatch):
    monkeypatch.setenv(answer_cache.ENV, str(tmp_path))
    return tmp_path


def _same(first, second) -> bool:
    for e, f in zip(first, second):
        tensors = [*e.z, *e.a, *e.delta, *(t for layer in e.grads for t in layer)]
        others = [*f.z, *f.a, *f.delta, *(t for layer in f.grads for t in layer)]
        if e.cost != f.cost or not all(np.array_equal(s, t) and s.shape == t.shape for s, t in zip(tensors, others)):
            return False
    return True


def test_kept_answers_load_bit_for_bit_as_computed(cases, kept_in, monkeypatch):
    computed = expected_for_cases(cases)
    (file,) = kept_in.glob("*.npy")
    loaded = answer_cache.load(cases)
    assert loaded is not None and _same(computed, loaded)
    monkeypatch.setattr("bp_oracle.expected.padded_reference_traces", None)  # jax is not asked again
    monkeypatch.setattr("bp_oracle.expected.reference_trace", None)
    assert _same(computed, expected_for_cases(cases))


def test_other_inputs_are_another_file_and_a_damaged_file_is_computed_again(cases, kept_in):
    expected_for_cases(cases)
    changed = [cases[0].__class__(**{**cases[0].__dict__, "x": cases[0].x + 2.0**-40})] + cases[1:]
    assert answer_cache.load(changed) is None  # one input bit apart: not these answers
    (file,) = kept_in.glob("*.npy")
    file.write_bytes(file.read_bytes()[:-8])  # cut short
    assert answer_cache.load(cases) is None
    again = expected_for_cases(cases)
    assert answer_cache.load(cases) is not None and _same(again, answer_cache.load(cases))
    file.write_bytes(b"not a numpy file")
    assert answer_cache.load(cases) is None


def test_off_keeps_nothing_and_the_api_writes_no_file_unless_asked(cases, tmp_path, monkeypatch):
    monkeypatch.setenv(answer_cache.ENV, "off")
    assert answer_cache.folder() is None
    monkeypatch.delenv(answer_cache.ENV)
    monkeypatch.setattr(answer_cache, "_enabled", None)  # as in a user's process: nothing enabled it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected_for_cases(cases)
    assert answer_cache.folder() is None and not list(tmp_path.rglob("*.npy"))
    answer_cache.enable()  # what the command line does
    assert answer_cache.folder() == tmp_path / "bp-oracle" / "answers"
