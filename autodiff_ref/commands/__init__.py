"""The subcommands of `bp-oracle`, one module each."""

from . import check, grade, vectors, verify

COMMANDS = [verify, check, vectors, grade]
