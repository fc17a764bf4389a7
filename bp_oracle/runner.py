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
        max_line_bytes: a longer response line is a flood, an ERROR.
    """

    def __init__(self, command: str, timeout: float = 30.0, cwd: Optional[str] = None,
                 max_line_bytes: int = MAX_LINE_BYTES):
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise StartError(f"cannot parse --impl {command!r}: {e}") from None
        if not self.argv:
            raise StartError("--impl is empty")
        self.timeout, self.cwd, self.max_line_bytes = timeout, cwd, max_line_bytes
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
            self.stderr.close()
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
        self.stderr.close()

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
        # chunks since the last newline, kept in a list: joining only once keeps a long line O(n)
        pending, size = [self._buffer] if self._buffer else [], len(self._buffer)
        self._buffer = b""
        newline = pending[0].find(b"\n") if pending else -1
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while newline < 0:
                if size > self.max_line_bytes:
                    self._fail(f"flooded stdout: over {self.max_line_bytes / 2**20:g} MiB without a newline")
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
                newline = chunk.find(b"\n")
                if newline >= 0:
                    newline += size
                pending.append(chunk)
                size += len(chunk)
        data = b"".join(pending)
        self._buffer = data[newline + 1:]
        return data[:newline]

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
