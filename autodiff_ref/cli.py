"""The `bp-oracle` command line: parse, dispatch, and turn every error into one line.

Exit codes: 0 agreement / success; 1 a disagreement (a check failed); 2 bad usage or bad input;
3 an internal error of the oracle itself (a bug to report: still one line, never a traceback).
Each subcommand lives in `autodiff_ref/commands/` with an `add_parser` and a `run`.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_DISAGREE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or bad input: reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage; one line is enough
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    from .commands import COMMANDS

    parser = _Parser(prog="bp-oracle", description="Backprop's four equations by hand, proven equal to jax.grad.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        from .cache import enable_persistent_cache

        enable_persistent_cache()
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return int(args.run(args))
    except UsageError as e:
        print(f"bp-oracle: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError) as e:  # bad input caught by the spec's checks
        print(f"bp-oracle: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bp-oracle: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # noqa: BLE001  (a bug of ours: one line, never a traceback)
        print(f"bp-oracle: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
