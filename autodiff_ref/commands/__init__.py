"""The subcommands of `bp-oracle`, one module each."""

from . import verify

COMMANDS = [verify]
