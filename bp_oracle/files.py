"""Writing a file so that no reader ever sees half of it (a CI artifact upload, a second process
loading kept answers): into a temporary file beside it, then renamed over it."""

from __future__ import annotations

import os
import tempfile
from typing import BinaryIO, Callable


def write_atomically(path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace `path` with what `write(f)` writes to the open binary file `f`. The file
    is readable by everyone (0644), as a plainly written one would be under the usual umask: a
    report for a web server, answers shipped in an installed package. On any error nothing is left
    behind and the error is raised."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bp-oracle-", suffix=os.path.splitext(str(path))[1], dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from another user
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
