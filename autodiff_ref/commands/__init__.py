"""The subcommands of `bp-oracle`, one module each."""

from . import check, diagnose, grade, train, vectors, verify

COMMANDS = [verify, check, vectors, grade, train, diagnose]
