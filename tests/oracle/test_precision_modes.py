"""Precision modes: manual_bp in float32, float16 and bfloat16 against the float64 reference,
each judged by its calibrated error model; a backprop that accumulates in float16 fails the
float32 sweep; the bfloat16 emulation rounds every operation; flagged cases are the ones the
model says a dtype cannot resolve."""

import ml_dtypes
import numpy as np
import pytest

import manual_bp as mb
from bp_oracle import cli
from bp_oracle.sweep import engine as V
from bp_oracle.sweep.precision import BFloat16Emulated, emulated_backprop_trace, in_dtype, round_to_bfloat16
from bp_oracle.tolerance import (PRECISION_MODELS, TOLERANCES, Tolerance, growth, tolerance_for,
                                    tolerance_for_case)

from bp_oracle.triangulation import blame
from broken_backprops import BROKEN, backprop_accumulating_in_float16

SEED = 0


@pytest.mark.slow
@pytest.mark.parametrize("dtype, cases", [("float32", 96), ("float16", 48), ("bfloat16", 48)])
def test_manual_bp_passes_the_sweep_in_each_precision(dtype, cases):
    summary = V.run_sweep(SEED, range(cases), V.SweepOptions(dtype=dtype))
    assert not summary.failures, [r.replay for r in summary.failures]
    judged = [r for r in summary.results if not r.beyond_dtype]
    assert len(judged) >= 0.9 * cases  # the flags leave most cases judged
    assert max(r.margin for r in judged) < 0.5  # and with room to spare


@pytest.mark.slow
def test_a_backprop_accumulating_in_float16_fails_the_float32_sweep():
    options = V.SweepOptions(dtype="float32", backprop=backprop_accumulating_in_float16)
    summary = V.run_sweep(SEED, range(48), options)
    assert len(summary.failures) >= 24, "float16 accumulation passed the float32 tolerance"
    for r in summary.failures:
        assert any(blame(w) == "candidate" for w in r.witnesses), r.side
        assert "is wrong" in r.side and "REFERENCE" not in r.side
    # the same variant is fine by the float16 tolerance: the float32 failures are its precision
    assert not V.run_sweep(SEED, range(24), V.SweepOptions("float16", backprop_accumulating_in_float16)).failures


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_every_broken_backprop_still_fails_the_float16_sweep(bug):
    # float16's tolerance is wide (its worst correct errors are), but not blind
    broken, _ = BROKEN[bug]
    assert V.run_sweep(3, range(48), V.SweepOptions("float16", broken)).failures, bug


@pytest.mark.slow
def test_cli_float32_passes_manual_bp_and_fails_float16_accumulation(capsys):
    assert cli.main(["verify", "--cases", "16", "--dtype", "float32", "--no-progress"]) == 0
    assert cli.main(["verify", "--cases", "16", "--dtype", "float32", "--no-progress", "--backprop",
                     "broken_backprops:backprop_accumulating_in_float16"]) == 1
    assert "DISAGREE" in capsys.readouterr().out


def test_bfloat16_emulation_rounds_the_result_of_every_operation():
    rng = np.random.default_rng(0)
    a = round_to_bfloat16(rng.normal(size=(4, 5))).view(BFloat16Emulated)
    b = round_to_bfloat16(rng.normal(size=(5, 3))).view(BFloat16Emulated)
    representable = lambda v: np.array_equal(np.asarray(v), round_to_bfloat16(v))  # noqa: E731
    for result in (a * 1.1, np.exp(a), a @ b, np.where(a > 0, a, 0.01 * a), a.mean(axis=0), np.tanh(a) + 1):
        assert isinstance(result, BFloat16Emulated) and result.dtype == np.float32
        assert representable(result)
    c = a.copy()
    c += 1e-3  # in place too
    assert representable(c) and not np.array_equal(np.asarray(c), np.asarray(a) + np.float32(1e-3))
    # a bfloat16 product is the float32 product rounded: one rounding, ties to even
    assert np.array_equal(np.asarray(a @ b), round_to_bfloat16(np.asarray(a) @ np.asarray(b)))
    assert round_to_bfloat16(np.float32(1 + 2 ** -8)) == 1.0 and ml_dtypes.finfo(ml_dtypes.bfloat16).nmant == 7


def test_the_emulated_driver_is_backprop_trace_on_ordinary_arrays():
    for index in range(8):
        case = V.sweep_case(SEED, index)
        for dtype in ("float64", "float32"):
            low, _ = in_dtype(case, dtype)
            ours, theirs = emulated_backprop_trace(*low), mb.backprop_trace(*low)
            assert np.allclose(ours.cost, theirs.cost, rtol=1e-6 if dtype == "float32" else 1e-14)
            for (gW, gb), (tW, tb) in zip(ours.grads, theirs.grads):
                assert np.array_equal(gW, tW) and np.array_equal(gb, tb), (index, dtype)
            for g, t in zip(ours.delta, theirs.delta):
                assert np.array_equal(g, t)


def test_bfloat16_mode_really_runs_in_bfloat16():
    case = V.sweep_case(SEED, 3)
    low, exact = in_dtype(case, "bfloat16")
    trace = emulated_backprop_trace(*low)
    for W, b in trace.grads:
        assert np.array_equal(np.asarray(W), round_to_bfloat16(W))
    plain32 = mb.backprop_trace(*in_dtype(case, "float32")[0])
    gap = max(np.max(np.abs(np.asarray(g.W, np.float64) - p.W)) for g, p in zip(trace.grads, plain32.grads))
    assert gap > 1e-4  # far from the float32 answer: the roundings happened


def test_the_tolerance_table_is_calibrated_at_least_ten_times_the_worst_error_seen():
    for dtype, model in PRECISION_MODELS.items():
        assert model.margin >= 10, dtype
        assert model.cases_measured >= 10_000, dtype
        assert model.unit_roundoff == float(ml_dtypes.finfo(
            ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)).eps) / 2
    # rtol grows with depth and width, and with κ near a saturated output
    small, big = tolerance_for_case("float32", 1, 2, 1), tolerance_for_case("float32", 5, 12, 8)
    assert big.rtol == small.rtol * growth(5, 12, 8) / growth(1, 2, 1)
    assert tolerance_for_case("float32", 1, 2, 1, kappa=1e3).rtol > 100 * small.rtol
    assert tolerance_for_case("float64", 5, 12, 8) == TOLERANCES["float64"]  # float64: the fixed policy
    assert isinstance(tolerance_for("bfloat16"), Tolerance) and tolerance_for(np.float16) == TOLERANCES["float16"]
    with pytest.raises(ValueError, match="no tolerance for dtype float8"):
        tolerance_for_case("float8", 1, 1, 1)


@pytest.mark.slow
def test_an_output_float16_cannot_resolve_is_flagged_and_only_its_forward_pass_judged():
    # seed 1 index 25: cross-entropy on a softmax whose other outputs underflow float16, so the
    # derived BP1's 1 − a_k (their sum) rounds to 0 and δ^L is −inf: beyond float16, not a bug
    [r] = V.verify_cases(1, [25], V.SweepOptions(dtype="float16"))
    assert r.saturated and r.beyond_dtype and r.ok
    assert {c.equation for c in r.judged} == {"forward"}
    assert any(not c.ok and not np.isfinite(c.comparison.got) for c in r.checks)  # judged, it would fail
    [wide] = V.verify_cases(1, [25], V.SweepOptions(dtype="float32"))
    assert not wide.beyond_dtype and wide.ok  # float32 resolves it, and passes


def test_a_kink_crossed_by_rounding_is_flagged():
    # seed 0 index 26 in bfloat16: a relu pre-activation within rounding of 0 lands on the other side
    [r] = V.verify_cases(SEED, [26], V.SweepOptions(dtype="bfloat16"))
    assert r.crossed_kink == [1] and r.beyond_dtype and r.ok
