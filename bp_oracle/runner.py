"""Drive an implementation under test: a long-lived process spoken to in JSON Lines.

The process is started once and reused. When it crashes, hangs past the timeout, floods its
stdout or exits early, that request is an ERROR, the process is killed (its whole process
group) and a fresh one is started for the next request. Every wait is bounded: the request is
written and the answer read against one deadline, and a process that has exited is noticed even
while a child of it still holds its stdout. Only a bounded tail of its stderr is kept (read as it
comes, so a chatty program never blocks on a full pipe); it is quoted when the process dies. At
close, and at every kill, the whole process group ends, so no child of the program outlives it.

The line format is forgiving where it costs nothing: blank lines, and a UTF-8 BOM at the start of
the stream or of a line, are skipped before a response.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import struct
import subprocess
import time
from collections import deque
from typing import Callable, Optional

MAX_LINE_BYTES = 64 * 1024 * 1024  # a response longer than this is a flood, not an answer
STDERR_TAIL_BYTES = 64 * 1024      # the last bytes of the program's stderr kept for quoting
POLL_S = 0.2                       # a silent program is checked this often for having exited
EXIT_WAIT_S = 2.0                  # how long a closing or dying program is given to exit
STARTUP_ATTEMPTS = 3               # starts that all exit before reading the first request: "cannot start"
MAX_CONSECUTIVE_TIMEOUTS = 3       # timeouts in a row after which a run gives up
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


class StartError(Exception):
    """The command cannot be started (not found, not executable), or it dies at start-up: exit 2."""


class ImplementationError(Exception):
    """This request got no usable line: crash, timeout, flood or early exit.

    `what` says what happened, `stderr` is the tail of the program's stderr (may be empty),
    `timed_out` is true for no answer within the timeout, and `before_reading` for a process that
    exited without reading any of the request (it died at start-up).
    """

    def __init__(self, what: str, stderr: str = "", *, timed_out: bool = False, before_reading: bool = False):
        super().__init__(what + (f"; stderr: {stderr}" if stderr else ""))
        self.what, self.stderr = what, stderr
        self.timed_out, self.before_reading = timed_out, before_reading


class GaveUp(Exception):
    """The run stopped before the end of the suite (the program stopped answering): a non-zero
    verdict, never "conforms". `report` holds the cases judged so far."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


def _content(line: bytes) -> Optional[bytes]:
    """The line without surrounding whitespace and leading BOMs; None for a blank line."""
    text = line.strip()
    while text.startswith(_BOM):
        text = text[len(_BOM):].lstrip()
    return text or None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class Implementation:
    """A running implementation under test.

    Arguments:
        command: the command line, split like a shell would (no shell is run).
        timeout: seconds allowed per request (any positive finite number).
        cwd: working directory for the process.
        max_line_bytes: a longer response line is a flood, an ERROR.
        clock: what every deadline is measured by, in seconds (a test passes a fake one).
    """

    def __init__(self, command: str, timeout: float = 30.0, cwd: Optional[str] = None,
                 max_line_bytes: int = MAX_LINE_BYTES, clock: Callable[[], float] = time.monotonic):
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise StartError(f"cannot parse --impl {command!r}: {e}") from None
        if not self.argv:
            raise StartError("--impl is empty")
        self.timeout, self.cwd, self.max_line_bytes, self.clock = timeout, cwd, max_line_bytes, clock
        self.proc: Optional[subprocess.Popen] = None
        self.restarts = 0
        self._starts = 0
        self._lines: deque[bytes] = deque()  # complete, non-blank stdout lines not yet taken
        self._held = 0                       # their bytes
        self._pending = bytearray()          # stdout bytes after the last newline
        self._stderr_tail = bytearray()
        self._stderr_open = False

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._lines.clear()
        self._held = 0
        self._pending = bytearray()
        self._stderr_tail = bytearray()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=self.cwd, start_new_session=True)
        except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as e:
            raise StartError(f"cannot start {self.argv[0]!r}: {e.strerror or e}") from None
        if self._starts:
            self.restarts += 1
        self._starts += 1
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)
        self._stderr_open = True

    def close(self) -> None:
        """Close stdin (EOF asks the program to exit), give it a moment, then end its group."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        self._wait_exited(EXIT_WAIT_S)
        self.kill()

    def kill(self) -> None:
        """End the process and its whole group (any child it left behind too), and forget it."""
        if self.proc is None:
            return
        self._kill_group()
        self._drain_stderr(0.5)
        self._reap()
        self._cleanup()

    def restart(self) -> None:
        self.kill()
        self.start()

    def _kill_group(self) -> None:
        # The group id is the leader's pid (start_new_session), reserved while the leader is
        # unreaped or any member lives, so this reaches the leader and every child left in it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self) -> Optional[int]:
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def _cleanup(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        self._stderr_open = False
        self.proc = None

    def _exited(self) -> bool:
        """Whether the process has exited, without reaping it (so its group id stays reserved)."""
        if self.proc.returncode is not None:
            return True
        if hasattr(os, "waitid"):
            try:
                return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                pass
        return self.proc.poll() is not None

    def _wait_exited(self, seconds: float) -> bool:
        """Wait up to `seconds` for the process to exit, reading its stderr meanwhile (a dying
        program may be writing a long traceback)."""
        deadline = self.clock() + seconds
        while not self._exited():
            if self.clock() >= deadline:
                return False
            self._read_stderr()
            time.sleep(0.01)
        return True

    # --- stderr: a bounded tail ---------------------------------------------------------------

    def _read_stderr(self) -> None:
        """Read one chunk of what stderr has now into the tail (noting EOF)."""
        if not self._stderr_open:
            return
        try:
            chunk = os.read(self.proc.stderr.fileno(), 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._stderr_open = False
            return
        tail = self._stderr_tail
        tail += chunk
        if len(tail) > STDERR_TAIL_BYTES:
            del tail[:len(tail) - STDERR_TAIL_BYTES]

    def _drain_stderr(self, seconds: float) -> None:
        """Read stderr until EOF (every writer gone) or `seconds` have passed."""
        deadline = self.clock() + seconds
        with selectors.DefaultSelector() as sel:
            if self._stderr_open:
                sel.register(self.proc.stderr.fileno(), selectors.EVENT_READ)
            while self._stderr_open:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return
                if sel.select(timeout=remaining):
                    self._read_stderr()

    def stderr_tail(self, n: int = 3, max_chars: int = 1000) -> str:
        """The last `n` non-empty lines of stderr, on one line."""
        lines = [line.strip() for line in self._stderr_tail.decode("utf-8", "replace").splitlines()]
        text = " | ".join([line for line in lines if line][-n:])
        return text if len(text) <= max_chars else "…" + text[-max_chars:]

    # --- one request --------------------------------------------------------------------------

    def ask(self, line: str) -> bytes:
        """Send one request line; return the next non-blank response line (without BOM), or raise
        ImplementationError (after which the process is gone; the next ask starts a fresh one)."""
        if self.proc is None:
            self.start()
        data = memoryview(line.encode("utf-8") + b"\n")
        deadline = self.clock() + self.timeout
        sent, eof = 0, False
        stdin_fd, stdout_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(stdin_fd, selectors.EVENT_WRITE, "in")
            sel.register(stdout_fd, selectors.EVENT_READ, "out")
            if self._stderr_open:
                sel.register(self.proc.stderr.fileno(), selectors.EVENT_READ, "err")
            while True:
                if sent == len(data) and self._lines:
                    answer = self._lines.popleft()
                    self._held -= len(answer)
                    return answer
                if eof:
                    self._fail_exit(sent, len(data))
                mib = f"{self.max_line_bytes / 2**20:g} MiB"
                if len(self._pending) > self.max_line_bytes:
                    self._fail(f"flooded stdout: over {mib} without a newline")
                if self._held > self.max_line_bytes:
                    self._fail(f"flooded stdout: over {mib} of lines before reading the request")
                remaining = deadline - self.clock()
                if remaining <= 0:
                    if sent < len(data):
                        self._fail(f"timed out after {self.timeout:g} s without reading the request", timed_out=True)
                    self._fail(f"timed out after {self.timeout:g} s without a response", timed_out=True)
                # short slices: a huge timeout never reaches select, and an exit is noticed even
                # while a child of the program holds its stdout open (no EOF then)
                events = sel.select(timeout=min(remaining, POLL_S))
                if not events:
                    if self._exited():
                        self._read_stdout_now()
                        eof = True
                    continue
                for key, _ in events:
                    if key.data == "in":
                        try:
                            sent += os.write(stdin_fd, data[sent:sent + _CHUNK])
                        except BlockingIOError:
                            pass
                        except OSError:  # EPIPE: it closed its stdin, i.e. it is exiting
                            eof = True
                        if sent == len(data) or eof:
                            sel.unregister(stdin_fd)
                    elif key.data == "out":
                        if not self._read_stdout():
                            sel.unregister(stdout_fd)
                            eof = True
                    else:
                        self._read_stderr()
                        if not self._stderr_open:
                            sel.unregister(key.fd)

    def _read_stdout(self) -> bool:
        """Read one chunk of stdout into lines; False at EOF."""
        try:
            chunk = os.read(self.proc.stdout.fileno(), _CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            self._pending += chunk
            return True
        complete = [bytes(self._pending) + parts[0], *parts[1:-1]]
        self._pending = bytearray(parts[-1])
        for line in complete:
            text = _content(line)
            if text is not None:
                self._lines.append(text)
                self._held += len(text)
        return True

    def _read_stdout_now(self, max_bytes: int = 4 * _CHUNK) -> None:
        """What an exited process left in its stdout (bounded: a child may still be writing)."""
        before = self._held + len(self._pending)
        while self._held + len(self._pending) - before < max_bytes:
            size = self._held + len(self._pending)
            if not self._read_stdout() or self._held + len(self._pending) == size:
                return

    def _unread_stdin(self) -> Optional[int]:
        """Bytes written to its stdin that nobody read (None where the system cannot tell)."""
        try:
            import fcntl
            import termios
            raw = fcntl.ioctl(self.proc.stdin.fileno(), termios.FIONREAD, b"\0\0\0\0")
            return struct.unpack("i", raw)[0]
        except (ImportError, AttributeError, OSError, ValueError):
            return None

    def _fail_exit(self, sent: int, size: int):
        """Stdout ended, stdin broke or the process exited: say how it ended, with its stderr."""
        exited = self._wait_exited(EXIT_WAIT_S)
        unread = self._unread_stdin()
        before_reading = exited and (sent == 0 or unread == sent)
        self._kill_group()  # a child left behind, or the process itself if it has not exited
        self._drain_stderr(0.5)
        code = self._reap()
        tail = self.stderr_tail()
        self._cleanup()
        if not exited or code is None:
            what = ("stopped reading its stdin without reading the request" if sent < size
                    else "closed its stdout without answering")
        elif code < 0:
            what = f"was killed by signal {_signal_name(-code)}"
        elif before_reading:
            what = f"exited (code {code}) before reading the request"
        elif code == 0:
            what = "exited early (code 0) without answering"
        else:
            what = f"crashed (exit code {code})"
        raise ImplementationError(what, tail, before_reading=before_reading)

    def _fail(self, message: str, timed_out: bool = False):
        self.kill()
        raise ImplementationError(message, timed_out=timed_out)
