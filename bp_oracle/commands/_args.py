"""Argument types shared by the subcommands: each bad value is a one-line UsageError."""

from __future__ import annotations

import math
import os


def usage_error(message: str):
    from ..errors import UsageError
    return UsageError(message)


def _int_at_least(text: str, low: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise usage_error(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer ≥ 0")


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise usage_error(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise usage_error(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise usage_error(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise usage_error(f"expected a number ≥ 0, got {text!r}")
    return value


def seed(text: str) -> int | str:
    """An integer ≥ 0, or `random`: a fresh seed drawn for this run (printed with its replay)."""
    return "random" if text == "random" else non_negative_int(text)


def fresh_seed() -> int:
    import secrets

    return secrets.randbelow(2**31)


def feature_list(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise usage_error(f"expected feature names separated by commas, got {text!r}")
    return names


def dtype(text: str) -> str:
    from ..dtypes import DTYPES

    if text not in DTYPES:
        raise usage_error(f"unknown dtype {text!r}; known: {', '.join(DTYPES)}")
    return text


def add_plan_arguments(p, *, judging: bool = True) -> None:
    """The arguments that say which cases are asked, in which dtype, about what the implementation
    supports (check, vectors) and how they are judged (check)."""
    p.add_argument("--suite", choices=["quick", "default", "full"], default="default")
    p.add_argument("--seed", type=seed, default=0, metavar="N|random",
                   help="the suite's seed (default 0); 'random' draws a fresh one and prints it with the "
                        "replay command, so a published suite cannot be answered from a table")
    p.add_argument("--dtype", type=dtype, default="float64",
                   help="the type of every number of a request, and the precision it is judged at: float64's "
                        "tolerance, or the calibrated error model of float32/float16/bfloat16 per case (default float64)")
    p.add_argument("--supports", type=feature_list, metavar="FEATURE[,FEATURE…]",
                   help="what the implementation supports (activations, costs, l2, l1: the names --include takes): "
                        "every case is drawn inside it, and a SKIP there fails")
    if judging:
        p.add_argument("--allow-skip", action="store_true",
                       help="accept SKIPs (answers 'unsupported'); without --supports any SKIP otherwise fails")
        p.add_argument("--rtol", type=non_negative_float, help="judge every case by this rtol (with --atol) instead "
                                                              "of its own tolerance; the report says it was overridden")
        p.add_argument("--atol", type=non_negative_float, help="see --rtol")
        p.add_argument("--witness", action="store_true",
                       help="for each FAIL, central differences of the cost along each wrong δ or gradient say "
                            "which side is wrong, as verify does (slower: compiles once per network shape)")


def plan_keywords(args) -> dict:
    """The `bp_oracle.check.Plan` keywords of parsed plan arguments; a random seed is drawn here."""
    if args.seed == "random":
        args.seed = fresh_seed()
        args.seed_was_random = True
    if (getattr(args, "rtol", None) is None) != (getattr(args, "atol", None) is None):
        raise usage_error("--rtol and --atol go together")
    keywords = {"dtype": args.dtype, "supports": args.supports}
    if hasattr(args, "allow_skip"):
        keywords.update(allow_skip=args.allow_skip, rtol=args.rtol, atol=args.atol, witness=args.witness)
    return keywords


def output_file(text: str) -> str:
    """A path whose folder exists, so a long run does not end in 'cannot write'."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise usage_error(f"cannot write {text!r}: folder {folder!r} does not exist")
    if os.path.isdir(text):
        raise usage_error(f"cannot write {text!r}: it is a folder")
    return text


# --- what every judging command prints with (check, grade, verify) -----------------------------

DEFAULT_MAX_FAILURES = 20  # bp_oracle.report.DEFAULT_MAX_FAILURES (report.py loads jax: not here)


def add_output_arguments(p, lists_all: str) -> None:
    """--max-failures and --annotations; `lists_all` names the option that writes every case."""
    p.add_argument("--max-failures", type=non_negative_int, default=DEFAULT_MAX_FAILURES, metavar="N",
                   help=f"print the first N failures in full, then '… and K more' (default {DEFAULT_MAX_FAILURES}; "
                        f"0: all of them; {lists_all} lists every case); identical ERROR messages are printed once")
    p.add_argument("--annotations", choices=("auto", "github", "none"), default="auto",
                   help="GitHub Actions annotations: each root cause also as one '::error' line on stdout "
                        "(auto: when GITHUB_ACTIONS=true, as on GitHub's runners; default auto)")


def add_html_argument(p) -> None:
    p.add_argument("--html", type=output_file, metavar="FILE",
                   help="write a self-contained HTML report: the verdict, the coverage table, and each failing case "
                        "drawn as its layers with a heatmap of every wrong tensor (no network access needed to view)")


def write_reports(report, args, out, replay: str) -> None:
    """The files a check or grade was asked for: JSON, HTML, then JUnit (which names the HTML);
    the console names the HTML file."""
    from ..report import write_json, write_junit

    if args.json:
        write_json(report, args.json)
    if args.html:
        from ..html_report.check_page import write_page
        write_page(report, args.html, replay)
        out.line(f"HTML report: {args.html}")
    if args.junit:
        write_junit(report, args.junit, html=args.html)


def output_for(args, min_width: int = 120):
    """The `bp_oracle.report.Output` the parsed --max-failures and --annotations ask for."""
    from ..report import Output

    return Output(getattr(args, "max_failures", DEFAULT_MAX_FAILURES), getattr(args, "annotations", "auto"),
                  min_width=min_width)


def command_help(description: str, codes: dict[int, str]) -> dict:
    """The keywords of `sub.add_parser` for a command's description and its exit codes (the
    epilog of `bp-oracle COMMAND --help`): `codes` maps 0, 1, 2, 3 to what each means for it."""
    import argparse
    import textwrap

    wrap = lambda text, **kw: textwrap.fill(" ".join(text.split()), width=100, **kw)  # noqa: E731
    lines = ["exit codes:"] + [wrap(codes[code], initial_indent=f"  {code}  ", subsequent_indent="     ")
                               for code in sorted(codes)]
    return dict(description=wrap(description), epilog="\n".join(lines),
                formatter_class=argparse.RawDescriptionHelpFormatter)


def exit_codes(ok: str, disagree: str, usage: str = "bad usage or bad input (one line on stderr)") -> dict[int, str]:
    return {0: ok, 1: disagree, 2: usage, 3: "an internal error of bp-oracle (a bug: one line; --debug prints "
                                              "the traceback)"}
