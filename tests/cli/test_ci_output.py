"""Issue #12, CI ergonomics and output: failures capped with the summary first, identical ERRORs
collapsed, lines a pipe can grep, progress on stderr only, verify's JUnit and SKIPs, exit codes in
every --help, --shard errors naming the flag, GitHub Actions annotations, and the pytest fixture
saying what a passing check left out."""

from __future__ import annotations

import io
import re
import shlex
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import manual_bp as mb
from bp_oracle import report as R
from bp_oracle.commands import COMMANDS
from bp_oracle.pytest_plugin import PROPERTY
from plugin_files import registered, write_plugins

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "scripts" / "examples"
PY = shlex.quote(sys.executable)
GOOD = f"{PY} {shlex.quote(str(EXAMPLES / 'numpy_backprop.py'))}"
MISBEHAVING = f"{PY} {shlex.quote(str(EXAMPLES / 'misbehaving.py'))} --mode"
DEPTH_1 = ("--suite", "quick", "--include", "depth:1")  # 4 cases

ZEROS = textwrap.dedent("""
    import json, sys
    for line in sys.stdin:  # every gradient 0: every case FAILs
        req = json.loads(line)
        grads = [{"W": [[0.0] * len(row) for row in p["W"]], "b": [0.0] * len(p["b"])} for p in req["params"]]
        print(json.dumps({"id": req["id"], "grads": grads}), flush=True)
""")

NO_L1 = textwrap.dedent("""
    import manual_bp as mb

    def backprop(net, params, x, y):
        if net.l1 > 0:
            raise NotImplementedError("no l1 here")
        return mb.backprop_trace(net, params, x, y)

    def never(net, params, x, y):
        raise NotImplementedError("nothing here")
""")


@pytest.fixture(autouse=True)
def not_on_github(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)  # annotations only where a test asks


@pytest.fixture
def zeros(tmp_path) -> str:
    path = tmp_path / "zeros.py"
    path.write_text(ZEROS)
    return f"{PY} {shlex.quote(str(path))}"


@pytest.fixture
def no_l1(tmp_path) -> Path:
    path = tmp_path / "no_l1.py"
    path.write_text(NO_L1)
    return path


@pytest.fixture
def swish_wrong(tmp_path):
    """docs/verify.md's plugin with the product rule forgotten, registered for this test only, with
    the other plugins of tests/plugin_files.py (test_custom_functions.py's registry: one padded
    compilation for both)."""
    with registered(write_plugins(tmp_path)) as paths:
        yield paths["swish_wrong.py"]


def fail_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("FAIL ")]


# --- 1. capped: the summary first, N failures in full, then "… and K more" ----------------------


@pytest.mark.slow
def test_verify_with_a_wrong_derivative_prints_a_bounded_report_summary_first(run_cli, swish_wrong):
    code, out, err = run_cli("verify", "--cases", "40", "--no-progress", "--plugin", swish_wrong, "--max-failures", "3")
    assert code == 1, err
    lines = out.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("40 networks (indices 0–39)"))
    bad = int(re.search(r"(\d+) DISAGREE", lines[summary])[1])
    heads = [i for i, line in enumerate(lines) if line.startswith("FAIL seed")]
    assert len(heads) == 3 and summary < heads[0], out
    assert bad > 30 and f"… and {bad - 3} more failures not shown (--max-failures 0 prints them all; " \
                          f"--junit FILE or --report DIR lists every network)" in lines
    assert len(lines) < 80  # it was ~310 lines for 40 networks, ~2,300 for the default 300
    assert sum("replay: bp-oracle verify --replay" in line for line in lines) == 3


def test_check_caps_at_max_failures_and_0_prints_them_all(run_cli, zeros):
    code, out, _ = run_cli("check", "--impl", zeros, *DEPTH_1, "--max-failures", "2")
    assert code == 1 and len(fail_lines(out)) == 2
    lines = out.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("check: 4 cases"))
    assert summary < lines.index(fail_lines(out)[0])
    assert ("… and 2 more failures not shown (--max-failures 0 prints them all; --json REPORT lists every case)"
            in lines)
    code, out, _ = run_cli("check", "--impl", zeros, *DEPTH_1, "--max-failures", "0")
    assert code == 1 and len(fail_lines(out)) == 4 and "more failures not shown" not in out
    assert R.DEFAULT_MAX_FAILURES == 20


# --- 2. identical ERRORs collapsed ----------------------------------------------------------------


def test_identical_errors_are_printed_once_with_a_count_and_the_first_ids(run_cli):
    code, out, _ = run_cli("check", "--impl", f"{MISBEHAVING} error_response", *DEPTH_1)
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("ERROR ")]
    assert errors == ["ERROR quick-0019: the implementation reported an error: misbehaving: refusing every request"]
    assert "     … and 3 more like it (ids quick-0021, quick-0023, quick-0025)" in out.splitlines()


def test_collapse_counts_every_case_and_names_the_first_few():
    items = [R.Item([f"ERROR c{i}: boom"], key="boom", ident=f"c{i}") for i in range(180)]
    items.insert(1, R.Item(["ERROR other: different"], key="different", ident="other"))
    merged = R.collapse(items)
    assert [m.cases for m in merged] == [180, 1]
    assert R.shown_lines(merged[0]) == ["ERROR c0: boom", "     … and 179 more like it (ids c1, c2, c3, c4, c5, …)"]
    shown, hidden = R.cap(merged, 1)
    assert len(shown) == 1 and hidden == 1


# --- 3. pipes and CI logs: one line per failure, progress on stderr only --------------------------


def test_off_a_terminal_a_fail_line_keeps_its_expected_on_the_same_line(run_cli, zeros):
    code, out, _ = run_cli("check", "--impl", zeros, *DEPTH_1)
    lines = fail_lines(out)
    assert code == 1 and len(lines) == 4
    assert all(" got " in line and ", expected " in line and "> tolerance" in line for line in lines)
    assert max(map(len, lines)) > 120  # longer than the old wrap, still one line


def test_plain_progress_lines_are_at_least_the_interval_apart_with_count_rate_and_eta():
    now = [0.0]
    stream = io.StringIO()
    with R.ProgressReporter("check", 100, stream=stream, interval=2.0, clock=lambda: now[0]) as progress:
        for _ in range(99):
            now[0] += 0.25
            progress.advance()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 12  # at 2 s, 4 s, … 24 s of 24.75 s
    assert lines[0] == "check: 8/100 (8 %), 4.0/s, 2s elapsed, ETA 23s"
    assert R.PROGRESS_INTERVAL >= 2


@pytest.mark.slow
def test_progress_goes_to_stderr_never_stdout(run_cli, monkeypatch):
    monkeypatch.setattr(R, "PROGRESS_INTERVAL", 0.0)
    code, out, err = run_cli("check", "--impl", GOOD, *DEPTH_1)
    assert code == 0 and "conforms" in out
    assert "ETA" in err and "ETA" not in out and "check: 1/4 (25 %)" in err
    code, out, err = run_cli("verify", "--cases", "4")
    assert code == 0 and "ETA" not in out and err == ""  # one block of 4: no line before the end
    code, out, err = run_cli("check", "--impl", GOOD, *DEPTH_1, "--no-progress")
    assert code == 0 and err == ""


def test_on_a_terminal_the_bar_shows_the_time_remaining():
    from rich.progress import TimeRemainingColumn

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    with R.ProgressReporter("verify float64", 10, stream=Terminal()) as progress:
        progress.advance(3)
        assert any(isinstance(c, TimeRemainingColumn) for c in progress._bar.columns)


# --- 4. verify --junit; exit codes in every --help ------------------------------------------------


@pytest.mark.slow
def test_verify_junit_has_a_testcase_per_network_and_failures_with_verdict_and_replay(run_cli, swish_wrong,
                                                                                       tmp_path):
    junit = tmp_path / "verify.xml"
    code, out, _ = run_cli("verify", "--cases", "6", "--no-progress", "--plugin", swish_wrong, "--junit", junit)
    assert code == 1
    suites = {s.get("name"): s for s in ET.parse(junit).getroot()}
    assert set(suites) == {"bp-oracle.verify.derivatives", "bp-oracle.verify.float64"}
    cases = suites["bp-oracle.verify.float64"].findall("testcase")
    assert len(cases) == 6 and cases[0].get("name").startswith("0:0 ")
    failures = [c.find("failure") for c in cases if c.find("failure") is not None]
    assert len(failures) == int(suites["bp-oracle.verify.float64"].get("failures")) >= 5
    assert all("verdict: finite differences side with jax.grad" in f.text and
               "replay: bp-oracle verify --replay 0:" in f.text for f in failures)
    assert suites["bp-oracle.verify.derivatives"].find("testcase/failure") is not None


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_help_text_ends_with_exit_codes_0_to_3(command, capsys):
    from bp_oracle import cli

    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    codes = text[text.index("exit codes:"):].splitlines()
    assert [line[:5] for line in codes[1:] if line[2:3].isdigit()] == ["  0  ", "  1  ", "  2  ", "  3  "], text
    assert "internal error" in text[text.index("  3  "):]


# --- 5. --shard: errors name the flag -------------------------------------------------------------


@pytest.mark.parametrize("shard, message", [
    ("0/4", "--shard: K must be between 1 and 4, got 0/4"),
    ("5/4", "--shard: K must be between 1 and 4, got 5/4"),
    ("1/0", "--shard: N must be at least 1, got 1/0"),
    ("a/4", "--shard: K and N must be integers, got 'a/4'"),
    ("4", "--shard: expected K/N, e.g. 1/4, got '4'"),
])
def test_shard_errors_name_the_flag_and_the_1_based_rule(shard, message, run_cli):
    code, out, err = run_cli("verify", "--shard", shard)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert "strategy.job-index + 1" in err and "docs/ci.md" in err


# --- 6. GitHub Actions annotations ----------------------------------------------------------------


def test_annotations_escape_as_github_says():
    assert R.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert R.escape_property("check: a, b") == "check%3A a%2C b"
    assert R.annotation("t: x", "m: 1%\n2") == "::error title=t%3A x::m: 1%25%0A2"


def test_annotations_on_github_one_per_root_cause_capped_and_off_with_none(run_cli, zeros, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, _ = run_cli("check", "--impl", zeros, *DEPTH_1, "--max-failures", "3")
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert code == 1 and len(errors) == 3
    assert errors[0].startswith("::error title=bp-oracle check%3A FAIL quick-0019::quick-0019: BP1 at layer 1")
    assert "::notice title=bp-oracle check::… and 1 more root causes not shown" in out
    code, out, _ = run_cli("check", "--impl", zeros, *DEPTH_1, "--annotations", "none")
    assert code == 1 and "::error" not in out
    monkeypatch.delenv("GITHUB_ACTIONS")
    code, out, _ = run_cli("check", "--impl", f"{MISBEHAVING} error_response", *DEPTH_1, "--annotations", "github")
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert errors[0] == ("::error title=bp-oracle check%3A ERROR quick-0019::the implementation reported an error: "
                         "misbehaving: refusing every request (… and 3 more like it (ids quick-0021, quick-0023, "
                         "quick-0025))")
    assert errors[1] == ("::error title=bp-oracle check%3A nothing judged::nothing was judged: no case got an answer "
                         "that could be compared with the reference")


@pytest.mark.slow
def test_verify_annotates_each_failing_network_with_its_replay(run_cli, swish_wrong):
    code, out, _ = run_cli("verify", "--cases", "6", "--no-progress", "--plugin", swish_wrong, "--annotations",
                           "github", "--max-failures", "2")
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert code == 1 and len(errors) == 2
    assert errors[0].startswith("::error title=bp-oracle verify%3A derivative of swish_wrong::")
    assert errors[1].startswith("::error title=bp-oracle verify float64%3A FAIL 0%3A0::") and \
        "replay: bp-oracle verify --replay 0:0 --plugin" in errors[1]


# --- 7. verify --backprop: NotImplementedError is a SKIP; --allow-skip ---------------------------


def test_verify_counts_not_implemented_as_skip_failing_without_allow_skip(run_cli, no_l1, tmp_path):
    argv = ["verify", "--cases", "24", "--no-progress", "--backprop", f"{no_l1}:backprop"]
    code, out, _ = run_cli(*argv)
    skips = int(re.search(r"; (\d+) SKIP \(", out)[1])
    assert code == 1 and 0 < skips < 24 and "DISAGREE" not in out and "agree" in out
    assert f"SKIP {skips} network(s) were SKIPped" in out and "--allow-skip" in out
    assert re.search(r"^SKIP seed 0 index \d+: .*raised NotImplementedError: no l1 here$", out, re.M)
    code, out, _ = run_cli(*argv, "--allow-skip", "--junit", tmp_path / "v.xml")
    assert code == 0 and f"{skips} SKIP (" in out and "accepted with --allow-skip" in out
    suite = ET.parse(tmp_path / "v.xml").getroot()[0]
    assert suite.get("skipped") == str(skips) and suite.get("failures") == "0" and suite.get("errors") == "0"
    code, out, _ = run_cli("verify", "--cases", "4", "--no-progress", "--backprop", f"{no_l1}:never", "--allow-skip")
    assert code == 1 and "nothing was judged" in out


# --- 8. the pytest fixture: what a passing check left out, and the pass-through keywords ----------


def _no_l1(net, params, x, y):
    if net.l1 > 0:
        raise NotImplementedError("no l1 here")
    return mb.backprop(net, params, x, y)


def test_the_fixture_records_skips_accepted_and_cases_not_asked(bp_oracle, request):
    report = bp_oracle.check(_no_l1, include=["depth:1"], allow_skip=True)
    assert report.ok and report.count("SKIP") == 2
    with pytest.raises(AssertionError, match="--allow-skip"):
        bp_oracle.check(_no_l1, include=["depth:1"])
    report = bp_oracle.check(mb.backprop, include=["depth:1"], dtype="float16", supports=None)
    assert report.plan.dtype == "float16" and report.not_asked
    notes = [value for key, value in request.node.user_properties if key == PROPERTY]
    assert len(notes) == 2
    assert notes[0] == ("backprop: 2 of 4 cases judged; 2 SKIP accepted (quick-0023, quick-0025: unsupported: "
                        "no l1 here)")
    assert "case(s) float16 cannot judge not asked" in notes[1]
    request.node.user_properties.clear()  # shown: not in this project's own terminal summary as well


FIXTURE_USER = textwrap.dedent("""
    from autodiff_ref.cache import enable_persistent_cache
    import manual_bp as mb

    enable_persistent_cache()

    def no_l1(net, params, x, y):
        if net.l1 > 0:
            raise NotImplementedError("no l1 here")
        return mb.backprop(net, params, x, y)

    def test_partly(bp_oracle):
        bp_oracle.check(no_l1, include=["depth:1"], allow_skip=True)

    def test_fully(bp_oracle):
        bp_oracle.check(mb.backprop, include=["depth:1"])
""")


def test_a_pytest_run_says_which_passing_checks_left_cases_out(pytester):
    # a user's own pytest session (in this process: the plugin is installed, as for them)
    pytester.makepyfile(test_user=FIXTURE_USER)
    done = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "test_user.py", "--junitxml", "junit.xml")
    stdout = done.stdout.str()
    assert done.ret == 0, stdout[-3000:] + done.stderr.str()[-3000:]
    assert "bp-oracle: passed, but not every case was judged" in stdout
    assert "test_user.py::test_partly: backprop: 2 of 4 cases judged; 2 SKIP accepted" in stdout
    assert "test_fully" not in stdout.split("not every case was judged")[1]
    assert '<property name="bp-oracle" value="backprop: 2 of 4 cases judged' in (pytester.path / "junit.xml").read_text()
