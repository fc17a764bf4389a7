"""Drive an implementation under test: a long-lived process spoken to in JSON Lines.

The process is started once and reused. When it crashes, hangs past the timeout, floods its
stdout or exits early, that request is an ERROR, the process is killed (its whole process
group) and a fresh one is started for the next request. Its stderr goes to a file, so a chatty
program can never block on a full pipe; the last lines are quoted when it dies.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import tempfile
import time
from typing import Optional

MAX_LINE_BYTES = 64 * 1024 * 1024  # a response longer than this is a flood, not an answer


class StartError(Exception):
    """The command cannot be started at all (not found, not executable): exit 2."""


class ImplementationError(Exception):
    """This request got no usable line: crash, timeout, flood or early exit."""


class Implementation:
    """A running implementation under test.

    Arguments:
        command: the command line, split like a shell would (no shell is run).
        timeout: seconds allowed per request.
        cwd: working directory for the process.
    """

    def __init__(self, command: str, timeout: float = 30.0, cwd: Optional[str] = None):
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise StartError(f"cannot parse --impl {command!r}: {e}") from None
        if not self.argv:
            raise StartError("--impl is empty")
        self.timeout, self.cwd = timeout, cwd
        self.proc: Optional[subprocess.Popen] = None
        self.stderr = tempfile.TemporaryFile()
        self.restarts = 0
        self._buffer = b""

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.stderr, cwd=self.cwd, start_new_session=True)
        except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as e:
            raise StartError(f"cannot start {self.argv[0]!r}: {e.strerror or e}") from None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._buffer = b""

    def close(self) -> None:
        """Close stdin (EOF asks the program to exit), then make sure it is gone."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._kill()
        self._cleanup()

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole group: a shell's children too
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _cleanup(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc = None

    def restart(self) -> None:
        if self.proc is not None:
            self._kill()
            self._cleanup()
        self.restarts += 1
        self.start()

    def stderr_tail(self, n: int = 3) -> str:
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - 4096))
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()[-n:]
        return " | ".join(line.strip() for line in lines)

    # --- one request --------------------------------------------------------------------------

    def ask(self, line: str) -> bytes:
        """Send one request line; return the response line, or raise ImplementationError (after
        which the process has been killed and restarted)."""
        if self.proc is None:
            self.start()
        try:
            self.proc.stdin.write(line.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._fail("exited before reading the request")
        return self._read_line()

    def _read_line(self) -> bytes:
        deadline = time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                newline = self._buffer.find(b"\n")
                if newline >= 0:
                    line, self._buffer = self._buffer[:newline], self._buffer[newline + 1:]
                    return line
                if len(self._buffer) > MAX_LINE_BYTES:
                    self._fail(f"flooded stdout: over {MAX_LINE_BYTES // 2**20} MiB without a newline")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._fail(f"timed out after {self.timeout:g} s without a response")
                if not sel.select(timeout=remaining):
                    continue
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:  # EOF: the process closed stdout, i.e. it is exiting
                    self._fail(self._exit_description())
                self._buffer += chunk

    def _exit_description(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "closed its stdout without answering"
        if code < 0:
            what = f"was killed by signal {signal.Signals(-code).name}"
        elif code == 0:
            what = "exited early (code 0) without answering"
        else:
            what = f"crashed (exit code {code})"
        tail = self.stderr_tail()
        return what + (f"; stderr: {tail}" if tail else "")

    def _fail(self, message: str):
        try:
            self.restart()
        except StartError as e:
            raise ImplementationError(f"{message}; and it could not be restarted: {e}") from None
        raise ImplementationError(message)
