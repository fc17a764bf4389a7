"""The one error the command line reports as the user's: bad arguments or bad input (exit 2).

Anything else that escapes a command is a bug of ours, reported as an internal error (exit 3),
with its traceback behind `--debug`. Code that reads what a user gave (a spec, a file, a plugin)
wraps that reading in `user_input(...)`, which turns the ValueError/TypeError of a check into a
UsageError naming what was being read.
"""

from __future__ import annotations

from contextlib import contextmanager


class UsageError(Exception):
    """Bad arguments or bad input: reported in one line, exit 2."""


@contextmanager
def user_input(what: str | None = None):
    """Inside, a ValueError or TypeError is the user's input failing a check: a UsageError."""
    try:
        yield
    except UsageError:
        raise
    except (ValueError, TypeError) as e:
        raise UsageError(f"{what}: {e}" if what else str(e)) from e
