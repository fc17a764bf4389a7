"""Argument types shared by the subcommands: each bad value is a one-line UsageError."""

from __future__ import annotations

import math
import os


def usage_error(message: str):
    from ..errors import UsageError
    return UsageError(message)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise usage_error(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise usage_error(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise usage_error(f"expected an integer ≥ 0, got {text!r}") from None
    if value < 0:
        raise usage_error(f"expected an integer ≥ 0, got {text!r}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise usage_error(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise usage_error(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise usage_error(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise usage_error(f"expected a number ≥ 0, got {text!r}")
    return value


def output_file(text: str) -> str:
    """A path whose folder exists, so a long run does not end in 'cannot write'."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise usage_error(f"cannot write {text!r}: folder {folder!r} does not exist")
    if os.path.isdir(text):
        raise usage_error(f"cannot write {text!r}: it is a folder")
    return text
