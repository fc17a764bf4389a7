"""`bp-oracle check --impl "CMD ARGS"`: the conformance oracle for a backprop in any language."""

from __future__ import annotations

import sys

from ._args import (add_html_argument, add_output_arguments, add_plan_arguments, command_help, exit_codes,
                    output_file, output_for, plan_keywords, positive_float, write_reports)

EXIT_CODES = exit_codes(ok="conforms: every case asked was judged and right (SKIPs only where accepted)",
                        disagree="does not conform: a FAIL or ERROR, a SKIP not accepted, nothing judged, or the "
                                 "program stopped answering (gave up after repeated timeouts)",
                        usage="bad usage, or CMD cannot be started (not found, or it dies before reading a request)")


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("check", help=help, **command_help(
        "Drive CMD over JSON Lines (protocol bp-oracle/1, docs/protocol.md) and judge its gradients equation by "
        "equation. Output: the coverage table, the summary line, then the first --max-failures failures in "
        "full; progress goes to stderr only. docs/ci.md: running it in CI.", EXIT_CODES))
    p.add_argument("--impl", required=True, metavar="CMD", help="the command to run, e.g. \"./mybp --oracle\"")
    add_plan_arguments(p)
    p.add_argument("--timeout", type=positive_float, default=30.0, metavar="SECONDS",
                   help="per request; a command that takes longer is killed and restarted (default 30)")
    p.add_argument("--include", action="append", default=[], metavar="FEATURE",
                   help="only cases with this feature (repeatable), e.g. softmax, cost:quadratic, batch:many")
    p.add_argument("--exclude", action="append", default=[], metavar="FEATURE", help="drop cases with this feature")
    p.add_argument("--json", type=output_file, metavar="REPORT", help="write the report as JSON")
    p.add_argument("--junit", type=output_file, metavar="FILE", help="write JUnit XML for CI")
    add_html_argument(p)
    add_output_arguments(p, "--json REPORT")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress on stderr (a bar on a terminal; otherwise a line every few seconds)")
    p.set_defaults(run=run, uses_reference=True)


def run(args) -> int:
    from ..errors import UsageError, user_input
    from ..check import plan_of, run_check, selected_cases
    from ..report import ProgressReporter, render_console
    from ..runner import GaveUp, StartError

    plan = plan_keywords(args)
    with user_input():  # an unknown --include/--exclude/--supports feature
        cases = selected_cases(plan_of(args.suite, args.seed, args.include, args.exclude, **plan))
    if not cases:
        raise UsageError("no case has every --include feature without an --exclude one")
    if getattr(args, "seed_was_random", False):
        print(f"seed {args.seed} (drawn at random); replay: {replay(args)}", file=sys.stderr)
    out = output_for(args)
    with ProgressReporter("check", len(cases), enabled=not args.no_progress) as progress:
        gave_up = None
        try:
            report = run_check(args.impl, args.suite, args.seed, args.timeout, args.include, args.exclude,
                               on_result=lambda r: progress.advance(), on_start=progress.reset_total, **plan)
        except StartError as e:  # not found, or it dies at start-up: one line, exit 2
            raise UsageError(str(e)) from None
        except GaveUp as e:  # it stopped answering: one line, a non-zero verdict (exit 1)
            gave_up, report = str(e), e.report
    if gave_up is not None:
        print(f"bp-oracle: {gave_up}", file=sys.stderr)
        if out.annotate:
            from ..report import annotation
            print(annotation("bp-oracle check: gave up", gave_up), flush=True)
        if report is not None:  # the files asked for still come, with the cases judged so far
            report.problems.append(gave_up)
            write_reports(report, args, out, replay(args))
        return 1
    render_console(report, out)
    write_reports(report, args, out, replay(args))
    return report.exit_code


def replay(args) -> str:
    """The command that asks the same cases and judges them the same way (a drawn seed written out)."""
    import shlex

    parts = ["bp-oracle check", "--impl", shlex.quote(args.impl), "--suite", args.suite, "--seed", str(args.seed)]
    if args.dtype != "float64":
        parts += ["--dtype", args.dtype]
    if args.supports:
        parts += ["--supports", ",".join(args.supports)]
    parts += [f"--include {shlex.quote(f)}" for f in args.include] + [f"--exclude {shlex.quote(f)}" for f in args.exclude]
    if args.allow_skip:
        parts.append("--allow-skip")
    if args.rtol is not None:
        parts += ["--rtol", repr(args.rtol), "--atol", repr(args.atol)]
    if args.witness:
        parts.append("--witness")
    if args.timeout != 30.0:
        parts += ["--timeout", f"{args.timeout:g}"]
    return " ".join(parts)
