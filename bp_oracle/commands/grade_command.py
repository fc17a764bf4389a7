"""`bp-oracle grade --vectors DIR --results FILE`: judge responses offline, same verdicts as check."""

from __future__ import annotations

from ._args import add_html_argument, add_output_arguments, command_help, exit_codes, output_file, output_for, write_reports

EXIT_CODES = exit_codes(ok="conforms: every case of the vectors was answered, judged and right (SKIPs only with "
                           "--allow-skip)",
                        disagree="does not conform: a FAIL, an ERROR (a case with no response among them), a stray "
                                 "line (not JSON, an unknown or repeated id), a SKIP not accepted, or nothing judged",
                        usage="bad usage or bad input: a vector folder or results file that is missing, malformed "
                              "or tampered with")


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("grade", help=help, **command_help(
        "Judge RESULTS (one bp-oracle/1 response per line, any order) against the vectors in DIR: the same "
        "verdicts, report and output as check. docs/ci.md: grading in CI.", EXIT_CODES))
    p.add_argument("--vectors", required=True, metavar="DIR")
    p.add_argument("--results", required=True, metavar="FILE")
    p.add_argument("--allow-skip", action="store_true",
                   help="accept SKIPs (answers 'unsupported'); otherwise any SKIP fails, as in check")
    p.add_argument("--witness", action="store_true",
                   help="for each FAIL, central differences of the cost along each wrong δ or gradient say "
                        "which side is wrong, as in check and verify (slower: compiles once per network shape)")
    p.add_argument("--json", type=output_file, metavar="REPORT")
    p.add_argument("--junit", type=output_file, metavar="FILE")
    add_html_argument(p)
    add_output_arguments(p, "--json REPORT")
    p.set_defaults(run=run, uses_reference=True)


def run(args) -> int:
    from ..check import add_witnesses
    from ..errors import user_input
    from ..report import render_console
    from ..vectors import grade

    with user_input():  # a vector or results file that is missing, malformed or tampered with
        report, _ = grade(args.vectors, args.results, allow_skip=args.allow_skip)
    if args.witness:
        add_witnesses(report)
    out = output_for(args)
    render_console(report, out)  # stray lines are the report's problems: console, JSON, JUnit, HTML agree
    write_reports(report, args, out, replay(args))
    return report.exit_code


def replay(args) -> str:
    import shlex

    parts = ["bp-oracle grade", "--vectors", shlex.quote(args.vectors), "--results", shlex.quote(args.results)]
    return " ".join(parts + (["--allow-skip"] if args.allow_skip else []) + (["--witness"] if args.witness else []))
