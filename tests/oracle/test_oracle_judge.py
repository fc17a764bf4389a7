"""The oracle's judge, through its Python API: correct code passes every case; each broken
backprop FAILs with the right equation as root cause and, where it has one, its signature; a
derivative convention at a kink is accepted; malformed answers are ERRORs, never crashes."""

import numpy as np
import pytest

import manual_bp as mb
from bp_oracle import ERROR, FAIL, PASS, SKIP, check_implementation, failure_lines
from bp_oracle.check import assert_backprop_correct
from bp_oracle.report import to_json, to_junit

from broken_backprops import BROKEN, backprop_with


def as_response(trace, with_deltas):
    return {"grads": trace.grads, "deltas": trace.delta} if with_deltas else trace.grads


def test_manual_bp_passes_every_case_of_the_quick_suite():
    report = check_implementation(mb.backprop, "quick")
    assert report.ok and report.count(PASS) == len(report.results) >= 25


def test_a_full_trace_response_is_judged_on_every_field_and_passes():
    def full(net, params, x, y):
        t = mb.backprop_trace(net, params, x, y)
        return {"grads": t.grads, "cost": t.cost, "z": t.z, "a": t.a, "deltas": t.delta}
    assert check_implementation(full, "quick").ok


@pytest.mark.parametrize("with_deltas", [False, True], ids=["grads-only", "with-deltas"])
@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_every_broken_backprop_fails_with_its_equation_as_root_cause(bug, with_deltas):
    broken, equation = BROKEN[bug]
    report = check_implementation(lambda *case: as_response(broken(*case), with_deltas), "quick")
    failed = report.by_outcome(FAIL)
    assert failed and not report.ok
    roots = {r.verdict.root.equation for r in failed}
    assert roots == {equation}, failure_lines(report)[:4]


@pytest.mark.parametrize("bug, hint", [
    ("sum_for_mean_in_bp3", "sum instead of mean"),
    ("sigma_prime_missing_in_bp1", "∇_a C"),
    ("missing_transpose_in_bp4", "transpose"),
    ("l2_on_biases", "L2 applied to the biases"),
    ("cross_entropy_delta_with_extra_sigma_prime", "extra ⊙ σ'"),
])
def test_known_bug_signatures_are_named_in_a_hint(bug, hint):
    broken, _ = BROKEN[bug]
    report = check_implementation(lambda *case: broken(*case).grads, "quick")
    hints = [r.verdict.root.hint or "" for r in report.by_outcome(FAIL)]
    assert hints and any(hint in h for h in hints), hints


def _relu_prime_at_zero(value):
    def hidden_error(W, d, z, sigma):
        if sigma.name == "relu":
            return (d @ W) * np.where(z > 0, 1.0, np.where(z == 0, value, 0.0))
        return (d @ W) * sigma.prime(z)
    return lambda *case: backprop_with(*case, backpropagate_error=hidden_error).grads


@pytest.mark.parametrize("value", [1.0, 0.5, 0.0])
def test_any_subgradient_of_relu_at_its_kink_is_accepted_and_named(value):
    report = check_implementation(_relu_prime_at_zero(value), "quick", include=["edge:kink"])
    assert report.ok, failure_lines(report)
    notes = [r.verdict.message for r in report.results if r.verdict.message]
    if value:
        assert any(f"relu'(0) taken as {value:g}, a subgradient in [0, 1]" in n for n in notes), notes


@pytest.mark.parametrize("value", [1.5, -0.5, 2.0])
def test_a_slope_at_the_kink_outside_the_subgradients_fails(value):
    report = check_implementation(_relu_prime_at_zero(value), "quick", include=["edge:kink"])
    assert report.count(FAIL) >= 1


def test_mixed_subgradients_in_one_network_are_judged_exactly():
    def backprop(relu, leaky):
        def fn(net, params, x, y):
            def hidden_error(W, d, z, sigma):
                prime = sigma.prime(z)
                if sigma.name in ("relu", "leaky_relu"):
                    prime = np.where(z == 0, relu if sigma.name == "relu" else leaky, prime)
                return (d @ W) * prime
            t = backprop_with(net, params, x, y, backpropagate_error=hidden_error)
            return {"grads": t.grads, "deltas": t.delta}
        return fn
    # a relu unit using 1 and a leaky unit using 0.01 in the same network: both right
    report = check_implementation(backprop(1.0, 0.01), "quick", include=["edge:kink_mixed"])
    assert len(report.results) == 1 and report.ok, failure_lines(report)
    message = report.results[0].verdict.message
    assert "relu'(0) taken as 1" in message and "leaky_relu'(0) taken as 0.01" in message
    # one of them outside its subgradients: a FAIL, blamed on BP2 where that unit's δ is made
    report = check_implementation(backprop(1.0, 0.001), "quick", include=["edge:kink_mixed"])
    assert report.count(FAIL) == 1 and report.results[0].verdict.root.equation == "BP2"


def test_a_relative_error_of_1e_7_in_one_layer_fails_on_bp4_at_that_layer():
    def off(net, params, x, y):
        grads = [mb.Layer(W.copy(), b.copy()) for W, b in mb.backprop(net, params, x, y)]
        grads[0].W[...] *= 1 + 1e-7
        return grads
    report = check_implementation(off, "quick")
    roots = {(r.verdict.root.equation, r.verdict.root.check.layer) for r in report.by_outcome(FAIL)}
    assert roots == {("BP4", 1)}


@pytest.mark.parametrize("answer, message", [
    (lambda g: [g[0]], "grads must be a list of"),
    (lambda g: [mb.Layer(W.T, b) for W, b in g], "wrong shape"),
    (lambda g: {"grads": [{"W": W.tolist(), "b": [None] * len(b)} for W, b in g]}, "null"),
    (lambda g: {"grads": [{"W": (W * np.nan).tolist(), "b": b.tolist()} for W, b in g]}, "non-finite"),
    (lambda g: {"grads": g, "delta": []}, "unknown field(s) delta"),
    (lambda g: "not a list", "must return a list"),
])
def test_malformed_answers_are_errors_with_a_message(answer, message):
    report = check_implementation(lambda *case: answer(mb.backprop(*case)), "quick",
                                  include=["depth:deep"], exclude=["layers:square"])
    assert report.count(ERROR) == len(report.results) >= 1
    assert all(message in r.verdict.message for r in report.results), report.results[0].verdict.message


def test_not_implemented_is_a_skip_and_other_exceptions_are_errors():
    def partial(net, params, x, y):
        if "softmax" in net.activations:
            raise NotImplementedError("softmax not implemented")
        if net.cost == "log_likelihood":
            raise RuntimeError("boom")
        return mb.backprop(net, params, x, y)
    report = check_implementation(partial, "quick")
    assert report.count(SKIP) >= 1 and report.count(ERROR) >= 1 and not report.ok
    assert any("raised RuntimeError: boom" in r.verdict.message for r in report.by_outcome(ERROR))


def test_assert_backprop_correct_raises_naming_the_root_cause():
    broken, _ = BROKEN["sigma_prime_of_a_in_bp2"]
    with pytest.raises(AssertionError, match="BP2 at layer"):
        assert_backprop_correct(lambda *case: broken(*case).grads, "quick")
    assert assert_backprop_correct(mb.backprop, "quick").ok


def test_reports_as_json_and_junit_carry_every_case_and_the_root_cause():
    broken, _ = BROKEN["sum_for_mean_in_bp3"]
    report = check_implementation(lambda *case: broken(*case).grads, "quick")
    doc = to_json(report)
    assert doc["counts"]["FAIL"] == report.count(FAIL) and len(doc["cases"]) == len(report.results)
    root = next(f for c in doc["cases"] if c["outcome"] == FAIL for f in c["findings"] if f["root_cause"])
    assert root["equation"] == "BP3" and "sum instead of mean" in root["hint"]
    suite = to_junit(report).getroot().find("testsuite")
    assert int(suite.get("failures")) == report.count(FAIL) and int(suite.get("tests")) == len(report.results)
    assert len(suite.findall("testcase/failure")) == report.count(FAIL)


def test_include_and_exclude_select_by_feature_and_reject_unknown_names():
    only_softmax = check_implementation(mb.backprop, "quick", include=["softmax"])
    assert only_softmax.results and all("activation:softmax" in r.case.features for r in only_softmax.results)
    no_softmax = check_implementation(mb.backprop, "quick", exclude=["softmax"])
    assert len(only_softmax.results) + len(no_softmax.results) == len(check_implementation(mb.backprop, "quick").results)
    with pytest.raises(ValueError, match="unknown feature 'softmaxx'"):
        check_implementation(mb.backprop, "quick", include=["softmaxx"])


def test_the_pytest_fixture_checks_a_python_backprop(bp_oracle):
    assert bp_oracle.check(mb.backprop).ok
    broken, _ = BROKEN["sum_for_mean_in_bp3"]
    with pytest.raises(AssertionError, match="BP3"):
        bp_oracle.check(lambda *case: broken(*case).grads)
