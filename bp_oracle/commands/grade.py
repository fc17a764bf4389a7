"""`bp-oracle grade --vectors DIR --results FILE`: judge responses offline, same verdicts as check."""

from __future__ import annotations

from rich.console import Console

from ._args import output_file


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("grade", help=help,
                       description="Judge RESULTS (one bp-oracle/1 response per line, any order) against "
                                   "the vectors in DIR. Exit 0: conforms; 1: a FAIL, ERROR, stray line or SKIP not accepted; "
                                   "2: bad input; 3: an internal error of bp-oracle.")
    p.add_argument("--vectors", required=True, metavar="DIR")
    p.add_argument("--results", required=True, metavar="FILE")
    p.add_argument("--allow-skip", action="store_true",
                   help="accept SKIPs (answers 'unsupported'); otherwise any SKIP fails, as in check")
    p.add_argument("--json", type=output_file, metavar="REPORT")
    p.add_argument("--junit", type=output_file, metavar="FILE")
    p.set_defaults(run=run, uses_reference=True)


def run(args) -> int:
    from ..report import render_console, write_json, write_junit
    from ..errors import user_input
    from ..vectors import grade

    with user_input():  # a vector or results file that is missing, malformed or tampered with
        report, _ = grade(args.vectors, args.results, allow_skip=args.allow_skip)
    console = Console(highlight=False, width=max(Console().width, 120))
    render_console(report, console)  # stray lines are the report's problems: console, JSON, JUnit agree
    if args.json:
        write_json(report, args.json)
    if args.junit:
        write_junit(report, args.junit)
    return report.exit_code
