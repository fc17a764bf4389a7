"""The reference's answers kept on disk (bp_oracle/answer_cache.py): loaded bit for bit as
computed, keyed by every input byte, a damaged file recomputed, and no file written by the
Python API unless asked; and the answers shipped with the package are the reference's own."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bp_oracle import answer_cache
from bp_oracle.expected import expected_for_cases, reference_answers
from bp_oracle.suites import build_suite, in_dtype

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "the shipped answers are stale: run `python scripts/package_answers.py` and commit bp_oracle/answers/"


@pytest.fixture
def cases(tmp_path, monkeypatch):
    """A few quick-suite cases, with nothing shipped (so that these tests see the kept files only)."""
    monkeypatch.setattr(answer_cache, "PACKAGED", tmp_path / "nothing-shipped")
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


@pytest.mark.slow
def test_kept_answers_load_bit_for_bit_as_computed(cases, kept_in, monkeypatch):
    computed = expected_for_cases(cases)
    (file,) = kept_in.glob("*.npy")
    loaded = answer_cache.load(cases)
    assert loaded is not None and _same(computed, loaded)
    monkeypatch.setattr("bp_oracle.expected.padded_reference_traces", None)  # jax is not asked again
    monkeypatch.setattr("bp_oracle.expected.reference_trace", None)
    assert _same(computed, expected_for_cases(cases))


@pytest.mark.slow
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


@pytest.mark.slow
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


# --- the answers shipped with the package --------------------------------------------------------


def _shipped_cases() -> list:
    spec = importlib.util.spec_from_file_location("package_answers", ROOT / "scripts" / "package_answers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script.shipped_cases()


def _tensors(record) -> list:
    return [*record.z, *record.a, *record.delta, np.array(record.cost), *(t for layer in record.grads for t in layer)]


def differences(cases, loaded, fresh) -> list[str]:
    """Where shipped answers differ from the reference's, beyond what another jax or NumPy version
    may round differently (1e-12 of the tensor's largest entry)."""
    found = []
    for case, shipped, computed in zip(cases, loaded, fresh):
        for k, (s, c) in enumerate(zip(_tensors(shipped), _tensors(computed))):
            scale = max(float(np.max(np.abs(c), initial=0.0)), np.finfo(float).tiny)
            if s.shape != c.shape or not np.all(np.abs(s - c) <= 1e-12 * scale):
                found.append(f"{case.id} tensor {k}")
    return found


@pytest.mark.slow
def test_the_shipped_answers_are_the_references_own(monkeypatch):
    """Every shipped answer recomputed by the reference now (the quick suite in float64 and float32)."""
    cases = _shipped_cases()
    assert answer_cache.packaged_file().exists(), REGENERATE
    loaded = answer_cache.load(cases)
    assert loaded is not None, REGENERATE
    monkeypatch.setenv(answer_cache.ENV, "off")
    assert answer_cache.load(cases) is None  # off: nothing kept and nothing shipped is read
    bad = differences(cases, loaded, reference_answers(cases))
    assert not bad, f"{REGENERATE} ({len(bad)} tensors differ, first: {bad[0]})"


def test_a_wrong_shipped_answer_is_caught(tmp_path, monkeypatch):
    """Negative control for the test above: one entry of one shipped answer moved by 1e-9."""
    cases = [c for c in build_suite("quick", 0) if c.net.L <= 2][:3]
    with np.load(answer_cache.packaged_file(), allow_pickle=False) as shipped:
        arrays = {name: shipped[name] for name in shipped.files}
    arrays[answer_cache.case_digest(cases[1])][-1] += 1e-9
    monkeypatch.setattr(answer_cache, "PACKAGED", tmp_path)
    np.savez(answer_cache.packaged_file(), **arrays)
    fresh = reference_answers(cases)
    last = len(_tensors(fresh[1])) - 1  # the flat array's last entry is ∂C/∂b^L's
    assert differences(cases, answer_cache.load(cases), fresh) == [f"{cases[1].id} tensor {last}"]


def test_a_plans_subset_and_its_float32_cases_load_without_jax(monkeypatch):
    monkeypatch.delenv(answer_cache.ENV, raising=False)
    monkeypatch.setattr(answer_cache, "_enabled", None)  # the API's default: no folder, only what ships
    monkeypatch.setattr("bp_oracle.expected.padded_reference_traces", None)  # jax is not asked
    monkeypatch.setattr("bp_oracle.expected.reference_trace", None)
    quick = build_suite("quick", 0)
    for subset in (quick[5:9], in_dtype(quick, "float32")[::7]):
        assert answer_cache.load(subset) is not None
        assert len(expected_for_cases(subset)) == len(subset)
    assert answer_cache.load(build_suite("quick", 1)[:3]) is None  # another seed is not shipped


def test_a_damaged_shipped_file_is_no_answer(tmp_path, monkeypatch):
    cases = build_suite("quick", 0)[:4]
    monkeypatch.setattr(answer_cache, "PACKAGED", tmp_path)
    monkeypatch.setattr(answer_cache, "_enabled", None)
    monkeypatch.delenv(answer_cache.ENV, raising=False)
    target = answer_cache.packaged_file()
    target.write_bytes(b"PK not really a zip")
    assert answer_cache.load(cases) is None
    with zipfile.ZipFile(target, "w") as z:  # a member that is no .npy
        z.writestr(answer_cache.case_digest(cases[0]) + ".npy", b"junk")
    assert answer_cache.load(cases) is None
    np.savez(target, **{answer_cache.case_digest(c): np.zeros(3) for c in cases})  # wrong lengths
    assert answer_cache.load(cases) is None


def test_answers_swapped_between_two_cases_of_equal_total_length_are_no_answer(tmp_path, monkeypatch):
    """Each case's shipped array must be exactly its own length: two cases' answers exchanged keep
    the total and would otherwise be read shifted."""
    quick = build_suite("quick", 0)
    size = {c.id: sum(int(np.prod(s)) for s in answer_cache._shapes(c)) for c in quick}
    cases = [quick[0], next(c for c in quick if size[c.id] != size[quick[0].id])]
    with np.load(answer_cache.packaged_file(), allow_pickle=False) as shipped:
        arrays = {name: shipped[name] for name in shipped.files}
    first, second = (answer_cache.case_digest(c) for c in cases)
    arrays[first], arrays[second] = arrays[second], arrays[first]
    monkeypatch.setattr(answer_cache, "PACKAGED", tmp_path)
    np.savez(answer_cache.packaged_file(), **arrays)
    assert answer_cache.load(cases) is None


def test_a_replaced_activation_is_computed_not_looked_up(monkeypatch):
    """tanh registered anew (here: the same numbers from another function) is another computation
    under the same digest: neither shipped nor kept answers may stand in for it."""
    from autodiff_ref import reference

    quick = build_suite("quick", 0)
    with_tanh = [c for c in quick if "tanh" in c.net.activations][:2]
    without = [c for c in quick if "tanh" not in c.net.activations][:2]
    assert with_tanh and without and answer_cache.load(with_tanh) is not None
    monkeypatch.setitem(reference.JAX_ACTIVATIONS, "tanh", lambda z: __import__("jax").numpy.tanh(z))
    assert answer_cache.load(with_tanh) is None
    assert answer_cache.load(without) is not None  # the other networks are still the shipped computation
