"""`bp-oracle vectors --out DIR [--suite …]`: the suite as known-answer JSON files."""

from __future__ import annotations

from ._args import add_plan_arguments, command_help, exit_codes, plan_keywords

EXIT_CODES = exit_codes(ok="the vectors were written", disagree="not used: vectors judges nothing",
                        usage="bad usage or bad input (an --out that is not a folder, an unknown feature or dtype)")


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("vectors", help=help, **command_help(
        "Write manifest.json and one checksummed JSON file per case: the request, the expected z, a, δ, cost and "
        "gradients, tolerances per dtype, flags. Byte-identical from run to run for the same version, suite and "
        "seed. docs/ci.md: grading offline in CI.", EXIT_CODES))
    p.add_argument("--out", required=True, metavar="DIR")
    add_plan_arguments(p, judging=False)
    p.set_defaults(run=run, uses_reference=True)


def run(args) -> int:
    from ..errors import user_input
    from ..vectors import write_vectors

    with user_input():  # an --out that is not a folder
        manifest = write_vectors(args.out, args.suite, args.seed, **plan_keywords(args))
    print(f"wrote the {args.suite!r} suite (seed {args.seed}, {args.dtype}) to {manifest.parent}/ (index: {manifest.name})")
    return 0
