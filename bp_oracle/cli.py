"""The `bp-oracle` command line: parse, dispatch, and turn every error into one line.

Exit codes: 0 agreement / success; 1 a disagreement (a check failed); 2 bad usage or bad input;
3 an internal error of the oracle itself (a bug to report: one line, and its traceback with
`--debug`). Each subcommand lives in `bp_oracle/commands/` with an `add_parser` and a `run`.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from . import __version__
from .errors import UsageError

EXIT_OK, EXIT_DISAGREE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage; one line is enough
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of subcommand `chosen` (the others by name and help only,
    so their modules, and what they import, stay unloaded)."""
    from .commands import COMMANDS, load

    parser = _Parser(prog="bp-oracle", description="Backprop's four equations by hand, proven equal to jax.grad.")
    parser.add_argument("--version", action="version", version=f"bp-oracle {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an internal error, print its traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help in COMMANDS.items():
        if name == chosen:
            load(name).add_parser(sub, help)
        else:
            sub.add_parser(name, help=help)
    return parser


def _chosen(argv: list[str]) -> str | None:
    from .commands import COMMANDS

    return next((a for a in argv if a in COMMANDS), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv  # taken anywhere on the line, before or after the subcommand
    argv = [a for a in argv if a != "--debug"]
    try:
        parser = build_parser(_chosen(argv))
        args = parser.parse_args(argv)
        args.command_line = ["bp-oracle", *argv]  # as given (for a report to show), whoever called main
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "uses_reference", False):
            # jax's compilation cache: the command line is ours to configure (a library call never
            # is), and only for the commands that load jax at all (train and diagnose do not)
            from autodiff_ref.cache import enable_persistent_cache

            from . import answer_cache

            enable_persistent_cache()
            answer_cache.enable()  # and the reference's answers to the suites asked before
        return int(args.run(args))
    except UsageError as e:
        print(f"bp-oracle: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bp-oracle: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # noqa: BLE001  (a bug of ours: one line; the traceback with --debug)
        if debug:
            traceback.print_exc()
        print(f"bp-oracle: internal error: {type(e).__name__}: {e} (a bug in bp-oracle: please report it"
              f"{'' if debug else '; --debug prints the traceback'})", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
