"""`bp-oracle vectors --out DIR [--suite …]`: the suite as known-answer JSON files."""

from __future__ import annotations

from ._args import add_plan_arguments, plan_keywords


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("vectors", help=help,
                       description="Write manifest.json and one checksummed JSON file per case: the request, "
                                   "the expected z, a, δ, cost and gradients, tolerances per dtype, flags. "
                                   "Byte-identical from run to run for the same version, suite and seed.")
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
