"""One judging model for check and verify: a sweep's failing network gets check's verdict (root
cause, equation, layer, hint), and check gets verify's finite-difference witness (--witness)."""

import json
import sys
from pathlib import Path

import pytest

import manual_bp as mb
from bp_oracle import FAIL, check_implementation, failure_lines
from bp_oracle.report import to_json, to_junit
from bp_oracle.sweep import engine as V
from bp_oracle.triangulation import blame

from broken_backprops import BROKEN

ROOT = Path(__file__).resolve().parents[2]


def _grads(broken):
    return lambda *case: broken(*case).grads


@pytest.mark.parametrize("bug, hint", [("sum_for_mean_in_bp3", "sum instead of mean"),
                                       ("l2_on_biases", "L2 applied to the biases")])
def test_a_sweeps_failures_name_the_root_cause_and_the_hint_check_gives(bug, hint):
    broken, equation = BROKEN[bug]
    summary = V.run_sweep(0, range(24), V.SweepOptions(backprop=broken))
    assert summary.failures
    swept = [r for r in summary.failures if r.verdict.root.hint == hint]
    assert swept and {r.verdict.root.equation for r in summary.failures} == {equation}
    # the same words as check's, for the same kind of bug
    report = check_implementation(_grads(broken), "quick", include=["batch:many"])
    assert any(f"hint: {hint}" in line for line in failure_lines(report))
    assert any(f"hint: {hint}" in line for r in swept for line in r.verdict.failure_lines(r.id))


@pytest.mark.slow
def test_a_sweeps_failure_prints_its_root_cause_hint_and_witness_verdict(run_cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bug.py").write_text("from broken_backprops import BROKEN\nbackprop = BROKEN['sum_for_mean_in_bp3'][0]\n")
    code, out, _ = run_cli("verify", "--cases", "8", "--no-progress", "--backprop", "bug.py:backprop",
                           "--max-failures", "1", "--report", tmp_path / "out")
    assert code == 1
    block = out[out.index("FAIL seed 0"):].splitlines()[:5]
    assert "BP3 at layer" in block[1] and "hint: sum instead of mean" in block[1], block
    assert any(line.startswith("  verdict: finite differences side with jax.grad") for line in block), block
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    roots = [f for s in doc["sweeps"] for failure in s["failures"] for f in failure["judge"]["findings"]
             if f["root_cause"]]
    assert roots and all(r["equation"] == "BP3" for r in roots)
    assert any(r["hint"] == "sum instead of mean" for r in roots)
    # the same shape as check's JSON report gives a case's verdict
    failure = doc["sweeps"][0]["failures"][0]["judge"]
    assert failure["outcome"] == "FAIL" and failure["side"] and failure["witnesses"]


def test_a_correct_sweep_has_no_verdicts_to_give():
    summary = V.run_sweep(0, range(16))
    assert not summary.failures and all(r.verdict is None for r in summary.results)


@pytest.mark.slow
def test_check_with_witness_says_which_side_is_wrong_everywhere_it_reports():
    broken, _ = BROKEN["sigma_prime_of_a_in_bp2"]
    report = check_implementation(_grads(broken), "quick", include=["depth:deep"], witness=True)
    failed = report.by_outcome(FAIL)
    assert failed
    for r in failed:
        blamed = {blame(w) for w in r.verdict.witnesses}
        assert r.verdict.witnesses and "reference" not in blamed, r.verdict.side
    assert any("the implementation is wrong" in r.verdict.side for r in failed)
    lines = failure_lines(report)
    assert any(line.strip().startswith("witness: ") for line in lines)
    assert any("verdict: finite differences side with jax.grad" in line for line in lines)
    entry = next(c for c in to_json(report)["cases"] if c["outcome"] == FAIL)
    assert entry["side"] and entry["witnesses"]
    failure = to_junit(report).getroot().find("testsuite/testcase/failure")
    assert "verdict: finite differences side with jax.grad" in failure.text


def test_check_without_witness_asks_no_finite_differences():
    broken, _ = BROKEN["sigma_prime_of_a_in_bp2"]
    report = check_implementation(_grads(broken), "quick", include=["depth:deep"])
    assert report.by_outcome(FAIL) and all(not r.verdict.witnesses and not r.verdict.side
                                           for r in report.results)
    assert not any("witness" in line for line in failure_lines(report))


def test_witness_on_a_conforming_implementation_changes_nothing():
    report = check_implementation(mb.backprop, "quick", include=["depth:deep"], witness=True)
    assert report.ok and all(not r.verdict.witnesses for r in report.results)


def test_the_check_command_takes_witness(run_cli):
    program = f"{sys.executable} {ROOT / 'scripts' / 'examples' / 'buggy_backprop.py'} --bug sum_for_mean"
    code, out, _ = run_cli("check", "--impl", program, "--suite", "quick", "--include", "depth:1", "--witness",
                           "--max-failures", "1")
    assert code == 1
    assert "verdict: finite differences side with jax.grad: the implementation is wrong" in out, out


@pytest.mark.slow
def test_the_pages_of_check_and_verify_draw_a_failure_from_the_same_verdict():
    from bp_oracle.html_report.check_page import render as check_page
    from bp_oracle.sweep.verify_page import render as verify_page

    broken, _ = BROKEN["l2_on_biases"]
    summary = V.run_sweep(0, range(8), V.SweepOptions(backprop=broken))
    page = verify_page([summary], "bp-oracle verify", False, ["8 networks"])
    assert "L2 applied to the biases" in page  # the root cause's hint, as check's page shows it
    assert "verdict: finite differences side with jax.grad" in page and "replay: bp-oracle verify" in page
    report = check_implementation(_grads(broken), "quick", include=["batch:many"], witness=True)
    page = check_page(report, "bp-oracle check --witness")
    assert "L2 applied to the biases" in page and "verdict: finite differences side with jax.grad" in page


def test_the_pytest_fixture_takes_witness_and_its_message_says_which_side():
    from bp_oracle.pytest_plugin import BpOracle

    broken, _ = BROKEN["sum_for_mean_in_bp3"]
    with pytest.raises(AssertionError) as e:
        BpOracle().check(_grads(broken), include=["depth:1"], witness=True)
    assert "hint: sum instead of mean" in str(e.value)
    assert "verdict: finite differences side with jax.grad: the implementation is wrong" in str(e.value)


def test_grade_with_witness_says_which_side_is_wrong(run_cli, tmp_path):
    from bp_oracle.vectors import load_vectors, write_vectors

    broken, _ = BROKEN["sum_for_mean_in_bp3"]
    write_vectors(str(tmp_path / "v"), "quick", 0, include=["depth:1"])
    with open(tmp_path / "r.jsonl", "w") as f:
        for case, _, _ in load_vectors(str(tmp_path / "v")):
            grads = broken(case.net, case.params, case.x, case.y).grads
            f.write(json.dumps({"id": case.id, "grads": [{"W": W.tolist(), "b": b.tolist()} for W, b in grads]}) + "\n")
    code, out, _ = run_cli("grade", "--vectors", tmp_path / "v", "--results", tmp_path / "r.jsonl", "--witness")
    assert code == 1 and "hint: sum instead of mean" in out
    assert "verdict: finite differences side with jax.grad: the implementation is wrong" in out


def test_verify_json_report_has_checks_shape_and_the_same_bytes_run_to_run(run_cli, tmp_path, monkeypatch):
    from bp_oracle.report import to_json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bug.py").write_text("from broken_backprops import BROKEN\nbackprop = BROKEN['sum_for_mean_in_bp3'][0]\n")
    code, _, _ = run_cli("verify", "--cases", "6", "--no-progress", "--backprop", "bug.py:backprop",
                         "--json", tmp_path / "one.json")
    assert code == 1
    doc = json.loads((tmp_path / "one.json").read_text())
    check = to_json(check_implementation(_grads(BROKEN["sum_for_mean_in_bp3"][0]), "quick", include=["depth:1"]))
    shared = {"tool", "implementation", "seed", "dtype", "ok", "judged", "counts", "problems", "cases"}
    assert shared <= set(doc) and shared <= set(check)
    assert doc["ok"] is False and doc["counts"]["FAIL"] == sum(c["outcome"] == "FAIL" for c in doc["cases"]) >= 1
    failing = next(c for c in doc["cases"] if c["outcome"] == "FAIL")
    example = next(c for c in check["cases"] if c["outcome"] == "FAIL")
    assert set(example) - {"features"} <= set(failing)  # a case's fields, as check writes them
    assert any(f["root_cause"] and f["hint"] == "sum instead of mean" for f in failing["findings"])
    assert failing["replay"].startswith("bp-oracle verify --replay 0:")
    code, _, _ = run_cli("verify", "--cases", "6", "--no-progress", "--backprop", "bug.py:backprop",
                         "--json", tmp_path / "two.json")
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
