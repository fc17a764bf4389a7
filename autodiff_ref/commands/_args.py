"""Argument types shared by the subcommands: each bad value is a one-line UsageError."""

from __future__ import annotations

import os


def _usage(message: str):
    from ..cli import UsageError
    return UsageError(message)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _usage(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise _usage(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _usage(f"expected an integer ≥ 0, got {text!r}") from None
    if value < 0:
        raise _usage(f"expected an integer ≥ 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _usage(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise _usage(f"expected a positive number, got {text!r}")
    return value


def output_file(text: str) -> str:
    """A path whose folder exists, so a long run does not end in 'cannot write'."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise _usage(f"cannot write {text!r}: folder {folder!r} does not exist")
    if os.path.isdir(text):
        raise _usage(f"cannot write {text!r}: it is a folder")
    return text
