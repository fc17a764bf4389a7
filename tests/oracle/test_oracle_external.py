"""`bp-oracle check` driving real programs: the two correct examples (Python and Node) pass;
every catalogued buggy implementation FAILs with the right root cause; programs that crash, hang,
flood or print garbage give ERRORs within the timeout, and the remaining cases go on."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bp_oracle.cli import main
from bp_oracle import ERROR, FAIL, PASS, SKIP, failure_lines, run_check
from bp_oracle.runner import StartError

EXAMPLES = Path(__file__).resolve().parents[2] / "scripts" / "examples"
PY = f"{sys.executable} {EXAMPLES}"


def _catalogue() -> dict:
    """What `buggy_backprop.py --list` prints, read by importing the file (no subprocess while
    pytest collects)."""
    spec = importlib.util.spec_from_file_location("_buggy_backprop_catalogue", EXAMPLES / "buggy_backprop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: entry["info"] for name, entry in module.BUGS.items()}


CATALOGUE = _catalogue()


def test_the_numpy_example_passes_through_the_cli_and_writes_json_and_junit(tmp_path, capsys):
    code = main(["check", "--impl", f"{PY}/numpy_backprop.py", "--suite", "quick",
                 "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "conforms" in out and "activation:softmax" in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["ok"] and doc["counts"][PASS] == len(doc["cases"])
    assert "<testsuite" in (tmp_path / "r.xml").read_text()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_example_passes():
    report = run_check(f"node {EXAMPLES}/backprop.js", "quick")
    assert report.ok and report.count(PASS) == len(report.results), failure_lines(report)


def test_the_other_relu_kink_convention_passes_with_a_note():
    report = run_check(f"{PY}/numpy_backprop.py --relu-prime-at-zero 1", "quick")
    assert report.ok, failure_lines(report)
    assert any("relu'(0) taken as 1" in r.verdict.message for r in report.results)


def test_a_grads_only_implementation_passes():
    assert run_check(f"{PY}/numpy_backprop.py --grads-only", "quick").ok


def _allowed_roots(bug: dict, case) -> set[str]:
    """The catalogue's equation; a wrong σ' of an activation that is also the output layer's is
    BP1 there (the catalogue says so in its description)."""
    allowed = {bug["equation"]}
    hidden = bug.get("needs", {}).get("hidden_activation")
    if hidden and case.net.activations[-1] == hidden:
        allowed.add("BP1")
    return allowed


# the bugs of the newer dimensions are run, suite by suite and blame by blame, in test_suite_power.py
POWERED = {"first_eight_examples_only", "activations_in_a_ring_of_5", "weight_gradient_in_one_16x16_tile",
           "naive_tanh", "naive_sigmoid", "naive_softplus", "softmax_without_max_shift",
           "log_likelihood_delta_from_argmax", "cross_entropy_targets_clipped", "textbook_bp1_cross_entropy",
           "answer_cached_by_architecture", "gradient_buffer_not_zeroed", "drift_after_40_requests",
           "regularisation_gradient_over_m", "deltas_over_m"}


def test_every_catalogued_bug_is_run_by_one_of_the_two_tests():
    from test_suite_power import POWER
    assert POWERED == set(POWER) and POWERED <= set(CATALOGUE)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(CATALOGUE) - POWERED))
def test_every_catalogued_bug_fails_with_the_right_root_cause(name):
    bug = CATALOGUE[name]
    flags = "--with-deltas" if bug["equation"] in ("BP1", "BP2") or bug.get("blame_needs_deltas") else ""
    if bug["equation"] == "forward":
        flags = "--with-forward"
    dtype = bug["needs"].get("dtype", "float64")  # a bug on a low-precision path is asked in that dtype
    report = run_check(f"{PY}/buggy_backprop.py --bug {name} {flags}", "quick", dtype=dtype)
    failed = report.by_outcome(FAIL)
    assert failed, f"{name} was not caught"
    wrong = [r for r in failed if r.verdict.root.equation not in _allowed_roots(bug, r.case)]
    assert not wrong, [r.verdict.root.line(r.case.id) for r in wrong[:3]]
    # shape errors are the only ERRORs a value bug may cause (reversed layers on unequal shapes),
    # and, where outputs underflow (pre-activations in the tails), a bug that divides by them
    assert all("wrong shape" in r.verdict.message or "must be a list" in r.verdict.message
               or ("edge:tails" in r.case.features and "not finite" in r.verdict.message)
               for r in report.by_outcome(ERROR))


MISBEHAVING = f"{PY}/misbehaving.py --mode"


@pytest.mark.slow
@pytest.mark.parametrize("mode, message", [
    ("crash", "crashed (exit code"),
    ("garbage", "not JSON"),
    ("wrong_id", "wrong id"),
    ("wrong_shape", "wrong shape"),
    ("null_number", "null where a number belongs"),
    ("nan", "non-finite number NaN"),
    ("early_exit", "exited early (code 0)"),
    ("error_response", "the implementation reported an error"),
])
def test_protocol_breakers_give_errors_with_a_clear_message(mode, message):
    report = run_check(f"{MISBEHAVING} {mode}", "quick", include=["depth:1"], timeout=10)
    assert report.results and report.count(ERROR) == len(report.results)
    assert all(message in r.verdict.message for r in report.results), report.results[0].verdict.message


@pytest.mark.slow
def test_a_hung_program_is_killed_at_the_timeout_and_the_suite_goes_on():
    report = run_check(f"{MISBEHAVING} hang", "quick", include=["depth:1", "batch:many"], timeout=0.5)
    n = len(report.results)
    # the suite went on past the first timeout (a fresh process for each case), and each case was
    # ended by its own timeout, as the runner reports it
    assert n >= 2 and [r.verdict.message for r in report.results] == ["timed out after 0.5 s without a response"] * n


@pytest.mark.slow
def test_a_flood_without_newline_is_cut_off_at_the_line_limit():
    report = run_check(f"{MISBEHAVING} flood --flood-mb 6", "quick", include=["depth:1"], timeout=20,
                       max_line_bytes=4 * 2**20)
    assert report.count(ERROR) == len(report.results)
    assert all("flooded stdout: over 4 MiB without a newline" in r.verdict.message for r in report.results)


@pytest.mark.slow
def test_a_crash_on_one_request_costs_only_that_case():
    report = run_check(f"{MISBEHAVING} crash_on_nth 2", "quick", include=["depth:1", "batch:many"], timeout=10)
    outcomes = [r.verdict.outcome for r in report.results]
    assert outcomes[1] == ERROR and outcomes.count(ERROR) == 1 and outcomes.count(PASS) == len(outcomes) - 1


@pytest.mark.slow
def test_stderr_noise_is_not_an_error_and_a_program_answering_only_unsupported_never_conforms():
    assert run_check(f"{MISBEHAVING} stderr_noise", "quick", include=["depth:1"]).ok
    report = run_check(f"{MISBEHAVING} unsupported", "quick", include=["depth:1"])
    assert report.count(SKIP) == len(report.results) > 0 and report.count(ERROR) == 0
    assert not report.ok and "--supports" in report.skip_problem and "--allow-skip" in report.skip_problem
    # accepting skips does not make a program that judged nothing conform
    report = run_check(f"{MISBEHAVING} unsupported", "quick", include=["depth:1"], allow_skip=True)
    assert report.skip_problem is None and report.judged == 0 and not report.ok
    assert any("nothing was judged" in line for line in failure_lines(report))


@pytest.mark.parametrize("argv, message", [
    (["check", "--impl", "/no/such/program"], "cannot start '/no/such/program'"),
    (["check", "--impl", "prog 'unclosed"], "cannot parse --impl"),
    (["check", "--impl", "true", "--suite", "huge"], "invalid choice: 'huge'"),
    (["check", "--impl", "true", "--timeout", "-1"], "expected a number > 0"),
    (["check", "--impl", "true", "--include", "nosuchfeature"], "unknown feature 'nosuchfeature'"),
    (["check", "--impl", "true", "--json", "/no/such/dir/r.json"], "does not exist"),
    (["check"], "the following arguments are required: --impl"),
])
def test_bad_usage_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_the_console_script_exits_1_on_a_crashing_program_without_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "bp_oracle.cli", "check", "--impl", f"{MISBEHAVING} crash",
                           "--suite", "quick", "--include", "depth:1", "--timeout", "5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "ERROR quick-" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_start_error_for_a_program_that_cannot_run():
    with pytest.raises(StartError, match="cannot start '/definitely/not/here': No such file or directory"):
        run_check("/definitely/not/here", "quick")


@pytest.mark.slow
def test_the_json_report_is_byte_identical_run_after_run(tmp_path):
    for name in ("a.json", "b.json"):
        assert main(["check", "--impl", f"{PY}/buggy_backprop.py --bug sum_for_mean", "--suite", "quick",
                     "--json", str(tmp_path / name)]) == 1
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
