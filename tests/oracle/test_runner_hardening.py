"""Issue #12, every failure bounded and readable: a program that cannot start is one line and
exit 2; a program that stops answering is given up on after a few timeouts; any positive finite
timeout works; a chatty stderr costs a bounded tail; no child of the program survives the run; and
the line format forgives blank lines, BOMs and x- extension fields at any depth, while a line that
is not the response costs one case, not every later one."""

import os
import select
import shlex
import signal
import sys
from pathlib import Path

import pytest

from bp_oracle import ERROR, PASS, run_check
from bp_oracle.protocol import ProtocolError, parse_line, parse_response
from bp_oracle.runner import StartError

EXAMPLES = Path(__file__).resolve().parents[2] / "scripts" / "examples"
PY = shlex.quote(sys.executable)
GOOD = f"{PY} {shlex.quote(str(EXAMPLES / 'numpy_backprop.py'))}"
MISBEHAVING = f"{PY} {shlex.quote(str(EXAMPLES / 'misbehaving.py'))} --mode"
PROC = Path("/proc/self/fd").is_dir()


# --- 1. a program that dies at start-up cannot start: one line, exit 2 ----------------------------

def test_a_missing_script_is_cannot_start_in_one_line_with_its_stderr(tmp_path, run_cli):
    missing = tmp_path / "missing.py"
    code, out, err = run_cli("check", "--impl", f"{PY} {missing}", "--suite", "quick", "--include", "depth:1",
                             "--timeout", "5")
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert "cannot start" in err and str(missing) in err and "can't open file" in err, err
    # seen as the exit it is (code 2, before reading), on each of the three starts, not waited out
    assert "on 3 starts in a row it exited (code 2) before reading the request" in err, err
    assert "timed out" not in err and "ERROR" not in out and "Traceback" not in out + err


@pytest.mark.slow
def test_a_program_that_exits_before_reading_its_first_request_cannot_start():
    with pytest.raises(StartError) as err:
        run_check(f"{MISBEHAVING} die_at_start", "quick", include=["depth:1"], timeout=5)
    message = str(err.value)
    assert "cannot start" in message and "die_at_start" in message and "exited (code 3)" in message
    assert "misbehaving: cannot load my weights" in message and "\n" not in message


# --- 2. consecutive timeouts: give up, one line, never "conforms" ---------------------------------

@pytest.mark.slow
def test_a_program_that_never_answers_is_given_up_on_after_three_timeouts():
    from bp_oracle.runner import GaveUp

    with pytest.raises(GaveUp) as err:
        run_check(f"{MISBEHAVING} hang", "quick", include=["depth:2"], timeout=0.5)
    report = err.value.report
    # three requests asked, each ended by its own timeout, then no more
    assert [r.verdict.outcome for r in report.results] == [ERROR] * 3 and not report.ok
    assert [r.verdict.message for r in report.results] == ["timed out after 0.5 s without a response"] * 3
    ids = ", ".join(r.case.id for r in report.results)
    assert f"3 requests in a row got no answer within 0.5 s ({ids})" in str(err.value)
    assert "--timeout" in str(err.value)


class FakeClock:
    """A clock that jumps `step` seconds each time it is read, and counts its readings."""

    def __init__(self, step: float):
        self.step, self.readings = step, 0

    def __call__(self) -> float:
        self.readings += 1
        return self.readings * self.step


def test_a_request_times_out_when_the_runners_own_clock_passes_the_deadline():
    # a 60 s timeout on a clock that jumps 40 s a reading: over on its third reading (start, the
    # write, the check after it), whatever the real time; the program is killed and forgotten
    from bp_oracle.runner import Implementation, ImplementationError

    clock = FakeClock(40.0)
    impl = Implementation(f"{MISBEHAVING} hang", timeout=60, clock=clock)
    try:
        with pytest.raises(ImplementationError) as err:
            impl.ask('{"id": "t-1"}')
    finally:
        impl.close()
    assert err.value.timed_out and not err.value.before_reading
    assert err.value.what == "timed out after 60 s without a response"
    assert impl.proc is None and 3 <= clock.readings <= 6, clock.readings


@pytest.mark.slow
def test_giving_up_is_one_line_on_stderr_and_exit_1_and_the_reports_asked_for_say_so(run_cli, tmp_path):
    html, junit = tmp_path / "r.html", tmp_path / "r.xml"
    code, out, err = run_cli("check", "--impl", f"{MISBEHAVING} hang", "--suite", "quick",
                             "--include", "depth:2", "--timeout", "0.5", "--html", html, "--junit", junit)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "gave up" in err and "raise --timeout" in err, err
    assert "conforms" not in out + err and PASS not in out
    assert "DOES NOT CONFORM" in html.read_text() and "gave up" in html.read_text()
    assert 'name="the run as a whole"' in junit.read_text() and "gave up" in junit.read_text()


# --- 3. any positive finite timeout ------------------------------------------------------------

@pytest.mark.parametrize("timeout", ["1e9", "1e300"])
def test_a_huge_timeout_is_accepted(timeout, run_cli):
    code, out, err = run_cli("check", "--impl", GOOD, "--suite", "quick", "--include", "depth:1",
                             "--timeout", timeout)
    assert code == 0 and "conforms" in out, out + err


# --- 4. stderr: a bounded tail, still quoted ------------------------------------------------------

def _open_regular_files() -> dict:
    """(fd, inode) → size of every regular file this process holds open."""
    held = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            st = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o100000:
            held[(fd, st.st_ino)] = st.st_size
    return held


@pytest.mark.slow
@pytest.mark.skipif(not PROC, reason="needs /proc")
def test_a_flood_of_stderr_keeps_only_a_bounded_tail_that_is_still_quoted():
    before = _open_regular_files()
    grown = []

    def measure(result):
        now = _open_regular_files()
        grown.append(sum(size for key, size in now.items() if key not in before))

    report = run_check(f"{MISBEHAVING} crash_on_nth 3 --stderr-mb 4", "quick", include=["depth:1"],
                       timeout=20, on_result=measure)
    outcomes = [r.verdict.outcome for r in report.results]
    assert outcomes[:3] == [PASS, PASS, ERROR], [r.verdict.message for r in report.results]
    message = report.results[2].verdict.message
    assert "crashed (exit code 1)" in message and "crashing on request 3" in message
    assert len(message) < 2000
    assert max(grown) < 2**20, f"the oracle holds {max(grown)} bytes of the program's stderr on disk"


# --- 5. no child of the program survives ---------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie is dead, waiting for init to reap it


def _survivors(pid_file: Path) -> list[int]:
    """The pids in `pid_file` still alive once every one of them has had its SIGKILL delivered: a
    pidfd becomes readable when its process exits, so this waits for the event, not for a time
    (the 60 s is a guard against hanging the suite, not a bound under test)."""
    pids = [int(p) for p in pid_file.read_text().split()]
    assert pids, "the program did not fork"
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # gone already
        try:
            select.select([fd], [], [], 60)
        finally:
            os.close(fd)
    return [p for p in pids if _alive(p)]


@pytest.fixture
def pid_file(tmp_path):
    """Where the program writes its children's pids; any still alive afterwards is killed, so a
    failing test leaks no sleeper."""
    path = tmp_path / "children"
    yield path
    for pid in (int(p) for p in path.read_text().split()) if path.exists() else ():
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not PROC, reason="needs /proc")
def test_a_forked_child_holding_stdout_does_not_survive_the_run(pid_file):
    report = run_check(f"{MISBEHAVING} slow 0 --fork-child {pid_file}", "quick", include=["depth:1"], timeout=10)
    assert report.ok and report.count(PASS) == len(report.results)
    assert _survivors(pid_file) == []


@pytest.mark.slow
@pytest.mark.skipif(not PROC, reason="needs /proc")
def test_a_crash_is_seen_while_a_child_holds_stdout_and_the_child_is_ended(pid_file):
    report = run_check(f"{MISBEHAVING} crash_on_nth 2 --fork-child {pid_file}", "quick",
                       include=["depth:1"], timeout=3)
    messages = [r.verdict.message for r in report.results]
    assert [r.verdict.outcome for r in report.results][:2] == [PASS, ERROR], messages
    assert "crashed (exit code 1)" in messages[1] and "crashing on request 2" in messages[1], messages
    # the exit was noticed though the child kept stdout open (no EOF): not waited out to the timeout
    assert not any("timed out" in m for m in messages), messages
    assert len(pid_file.read_text().split()) >= 2  # the first process, and the one after the crash
    assert _survivors(pid_file) == []


# --- 6. line format: blank lines, BOMs, x- fields; a stray line costs one case ----------------------

def test_blank_lines_boms_crlf_and_nested_extension_fields_pass():
    report = run_check(f"{MISBEHAVING} lenient_format", "quick", include=["depth:1"], timeout=10)
    assert report.ok and report.count(PASS) == len(report.results) >= 2, \
        [r.verdict.message for r in report.results]


@pytest.mark.slow
def test_a_stray_line_costs_its_case_and_a_fresh_process_answers_the_next():
    report = run_check(f"{MISBEHAVING} stray_line 2", "quick", include=["depth:1"], timeout=10)
    outcomes = [r.verdict.outcome for r in report.results]
    assert outcomes[:3] == [PASS, ERROR, PASS], [r.verdict.message for r in report.results]
    assert "not JSON" in report.results[1].verdict.message
    assert not any("wrong id" in r.verdict.message for r in report.results)


@pytest.mark.slow
def test_a_start_up_banner_is_one_error_per_case_not_a_cascade_of_wrong_ids():
    report = run_check(f"{MISBEHAVING} stray_line 1", "quick", include=["depth:1"], timeout=10)
    # every fresh process writes its banner first: each case is an ERROR for that, none for an id
    assert report.count(ERROR) == len(report.results)
    assert all("not JSON" in r.verdict.message for r in report.results)


def _net():
    import manual_bp as mb
    return mb.Network([3, 4, 2], ["tanh", "sigmoid"], "quadratic")


def _grads():
    return [{"W": [[0.0] * 3] * 4, "b": [0.0] * 4}, {"W": [[0.0] * 4] * 2, "b": [0.0] * 2}]


def test_extension_fields_are_ignored_at_any_depth_and_other_unknown_fields_are_not():
    grads = _grads()
    grads[0]["x-norm"] = {"W": 1.0, "x-more": {"anything": [None]}}
    obj = {"id": "t-1", "grads": grads, "x-time": {"nested": True}}
    assert parse_response(obj, "t-1", _net(), 2).kind == "grads"
    grads = _grads()
    grads[1]["norm"] = 1.0
    with pytest.raises(ProtocolError, match="exactly W and b.*norm"):
        parse_response({"id": "t-1", "grads": grads}, "t-1", _net(), 2)
    assert parse_response({"id": "t-1", "unsupported": "no", "x-why": 1}, "t-1", _net(), 2).kind == "unsupported"
    with pytest.raises(ProtocolError, match="unknown field"):
        parse_response({"id": "t-1", "unsupported": "no", "why": 1}, "t-1", _net(), 2)


def test_a_bom_before_a_response_is_skipped():
    assert parse_line(b'\xef\xbb\xbf{"id": "t-1"}\r\n') == {"id": "t-1"}
    assert parse_line('\ufeff {"id": "t-1"}') == {"id": "t-1"}
    with pytest.raises(ProtocolError, match="empty response line"):
        parse_line(b"\xef\xbb\xbf\r\n")
