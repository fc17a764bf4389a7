"""`bp-oracle verify`: the main job. A seeded sweep of random networks, manual_bp (or another
backprop) against the padded jax.grad reference, in float64 or a lower precision; a table per
activation × cost with the worst error per depth; a replay line and a verdict per failure."""

from __future__ import annotations

import math

from ..tolerance import DTYPES, PRECISION_MODELS, TOLERANCES
from ..triangulation import describe as describe_witness
from ..errors import user_input
from ._args import (add_html_argument, add_output_arguments, command_help, exit_codes, non_negative_int, output_file,
                    output_for, positive_int, usage_error)

SHARD_RULE = ("--shard takes K/N with 1 ≤ K ≤ N, K counted from 1: in a GitHub Actions matrix "
              "K = strategy.job-index + 1 and N = strategy.job-total (docs/ci.md)")
LIST_ALL = "--max-failures 0 prints them all; --junit FILE or --report DIR lists every network"
EXIT_CODES = exit_codes(ok="agreement: every network judged agrees with jax.grad (and a plugin's derivatives "
                           "match); SKIPs only with --allow-skip",
                        disagree="a disagreement (a network FAILs, the backprop raised, a plugin's derivative does "
                                 "not match), SKIPs without --allow-skip, or nothing judged",
                        usage="bad usage or bad input (a bad --shard, --dtype or --cases; a plugin or --backprop "
                              "that cannot be loaded; a report folder that cannot be written)")


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("verify", help=help, **command_help(
        "Sweep seeded random networks: manual_bp (or --backprop yours) against the float64 jax.grad reference, "
        "tensor by tensor. Output: a table per activation × cost, the summary line, then the first --max-failures "
        "failures in full, each with its verdict and a replay line; progress goes to stderr only. docs/verify.md: "
        "how it works; docs/ci.md: sharding it over CI jobs.", EXIT_CODES))
    p.add_argument("--cases", type=positive_int, default=300, help="networks to check (default 300)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="sweep seed (default 0)")
    p.add_argument("--start", type=non_negative_int, default=0, help="first case index (default 0)")
    p.add_argument("--shard", type=_shard, metavar="K/N",
                   help="check only the K-th of N equal slices of the cases, K counted from 1 (1 ≤ K ≤ N)")
    p.add_argument("--dtype", type=_dtypes, default=("float64",), metavar="DTYPE[,DTYPE…]",
                   help=f"run the backprop in {', '.join(DTYPES)} (comma-separated for several; default float64)")
    p.add_argument("--jobs", type=positive_int, default=1, help="processes (results identical to --jobs 1)")
    p.add_argument("--report", metavar="DIR", help="write summary.json, errors.png and depth_width.png into DIR")
    p.add_argument("--junit", type=output_file, metavar="FILE",
                   help="write JUnit XML: one testcase per network, a failure with its verdict and replay line")
    p.add_argument("--json", type=output_file, metavar="REPORT",
                   help="write the JSON report, in check's shape: one case per network, its verdict and replay line")
    add_html_argument(p)
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="register your own activation or cost (bp_oracle.custom); every network then uses it")
    p.add_argument("--backprop", metavar="MODULE:FUNCTION",
                   help="check this backprop (net, params, x, y) → Trace or [(dW, db)] instead of manual_bp; "
                        "raising NotImplementedError on a network is a SKIP there")
    p.add_argument("--allow-skip", action="store_true",
                   help="accept SKIPs (networks the backprop raised NotImplementedError on); otherwise they fail")
    p.add_argument("--replay", type=_replay, metavar="SEED:INDEX", help="check one case of a sweep, in detail")
    add_output_arguments(p, "--junit FILE")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress on stderr (a bar on a terminal; otherwise a line every few seconds)")
    p.set_defaults(run=run, uses_reference=True)


def _replay(text: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 2:
        raise usage_error(f"--replay takes SEED:INDEX, got {text!r}")
    return non_negative_int(parts[0]), non_negative_int(parts[1])


def _shard(text: str) -> tuple[int, int]:
    parts = text.split("/")
    if len(parts) != 2:
        raise usage_error(f"--shard: expected K/N, e.g. 1/4, got {text!r} ({SHARD_RULE})")
    try:
        k, n = (int(part) for part in parts)
    except ValueError:
        raise usage_error(f"--shard: K and N must be integers, got {text!r} ({SHARD_RULE})") from None
    if n < 1:
        raise usage_error(f"--shard: N must be at least 1, got {text} ({SHARD_RULE})")
    if not 1 <= k <= n:
        raise usage_error(f"--shard: K must be between 1 and {n}, got {text} ({SHARD_RULE})")
    return k, n


def _dtypes(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(","))
    for name in names:
        if name not in DTYPES:
            raise usage_error(f"unknown dtype {name!r}; known: {', '.join(DTYPES)}")
    if len(set(names)) != len(names):
        raise usage_error(f"--dtype names a dtype twice: {text!r}")
    return names


def _report_folder(path: str) -> None:
    from pathlib import Path
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise usage_error(f"cannot write the report to {path!r}: {e.strerror or e}") from None


def indices(start: int, cases: int, shard: tuple[int, int] | None) -> range:
    """The case indices a run checks: [start, start + cases), or shard K of N contiguous slices."""
    if shard is None:
        return range(start, start + cases)
    k, n = shard
    lo, hi = start + cases * (k - 1) // n, start + cases * k // n
    return range(lo, hi)


def run(args) -> int:
    out = output_for(args, min_width=132)
    if args.replay and len(args.dtype) > 1:
        raise usage_error("--replay takes one --dtype")
    if args.replay and args.junit:
        raise usage_error("--junit writes a sweep's networks: not with --replay")
    if args.replay and args.html:
        raise usage_error("--html writes a sweep's networks: not with --replay")
    if args.replay and args.json:
        raise usage_error("--json writes a sweep's networks: not with --replay")
    if args.report or args.html:
        from ..sweep.figures import require_matplotlib
        with user_input():  # the plots need matplotlib (the `plots` extra): one line, exit 2
            require_matplotlib()
    if args.report:
        _report_folder(args.report)  # before the sweep: a long run must not end in "cannot write"
    from ..sweep.engine import SweepOptions, setup  # the sweep loads manual_bp: only here
    options = [SweepOptions(dtype, args.backprop, tuple(args.plugin)) for dtype in args.dtype]
    with user_input():
        focus = setup(options[0]).focus  # loads plugins and the backprop: a bad one is one line, exit 2
    checks, annotations = _derivative_checks(out, focus)
    if args.replay:
        code = _replay_one(out, *args.replay, options[0], allow_skip=args.allow_skip)
        out.annotate_items(annotations, LIST_ALL, "bp-oracle verify")
        return code or int(not all(c.ok for c in checks))
    todo = indices(args.start, args.cases, args.shard)
    summaries, failed, lines = [], not all(c.ok for c in checks), []
    from ..sweep.collector import collector_tuned_for_sweeping
    with collector_tuned_for_sweeping():  # the command line owns its process (collector.py: 12–16 % of a sweep)
        for opts in options:
            summary, items, line = _sweep(out, args, opts, todo)
            summaries.append(summary)
            annotations += items
            failed |= bool(items)
            lines.append(line)
    plots = {}  # the PNGs --report drew, for the page to embed instead of drawing them again
    if args.report:
        from ..sweep.figures import write
        for path in write(args.report, summaries, todo.start, checks):
            out.line(f"wrote {path}")
            if path.suffix == ".png":
                plots[path.stem] = path.read_bytes()
    if args.html:
        import shlex

        from ..sweep.verify_page import write_page
        command = shlex.join(args.command_line)
        write_page(args.html, summaries, command, not failed, lines, checks, args.allow_skip, plots)
        out.line(f"HTML report: {args.html}")
    if args.json:
        from ..sweep.figures import write_report_json
        write_report_json(args.json, summaries, checks, allow_skip=args.allow_skip)
        out.line(f"wrote {args.json}")
    if args.junit:
        from ..sweep.figures import write_junit
        write_junit(args.junit, summaries, checks, allow_skip=args.allow_skip, html=args.html)
        out.line(f"wrote {args.junit}")
    out.annotate_items(annotations, LIST_ALL, "bp-oracle verify")
    return 1 if failed else 0


def _derivative_checks(out, focus):
    """A plugin's derivatives against jax.grad, printed; with an annotation item per failing one."""
    if not focus:
        return [], []
    from ..custom import derivative_checks
    from ..report import Item
    checks = derivative_checks(focus)
    items = []
    for c in checks:
        out.line(f"{'ok  ' if c.ok else 'FAIL'} {c.describe()}")
        if not c.ok:
            items.append(Item([f"FAIL {c.describe()}"], title=f"bp-oracle verify: derivative of {c.name}",
                              message=c.describe()))
    return checks, items


def _sweep(out, args, options, todo: range):
    """One sweep: its table, its summary line, its failures (capped) and SKIPs; returns the summary,
    what fails the run, as items to annotate (empty: it passes), and the summary line."""
    from ..report import Item, ProgressReporter
    from ..sweep.engine import run_sweep

    with ProgressReporter(f"verify {options.dtype}", len(todo), enabled=not args.no_progress) as progress:
        summary = run_sweep(args.seed, todo, options, jobs=args.jobs, on_progress=progress.advance)
    out.print(_table(summary, todo))
    who = options.candidate_name
    n, bad, skips = len(summary.results), len(summary.failures), summary.skips
    judged = n - len(skips)
    verdict = ("agree" if not bad else f"{bad} DISAGREE") if judged or not n else "judged on no network"
    skipped = ""
    if skips:
        skipped = (f"{len(skips)} SKIP ({who} raised NotImplementedError; "
                   f"{'accepted with --allow-skip' if args.allow_skip else 'not accepted without --allow-skip'}), "
                   f"{judged} judged; ")
    kinks = sum(r.near_kink for r in summary.results)
    headline = (f"{n} networks ({_span(todo)}), seed {args.seed}, {options.dtype}: {who} and "
                f"jax.grad {verdict}; {skipped}{kinks} within 1e-2 of a kink; "
                f"{summary.rate:.0f} networks/s ({summary.seconds:.1f} s); tolerance: {_policy(options.dtype)}")
    out.line(headline)
    failing = out.items([_failure_item(r) for r in summary.failures], "failures", LIST_ALL)
    out.items([Item([f"SKIP seed {r.seed} index {r.index}: {who} raised NotImplementedError: {r.skipped}"],
                    key=r.skipped, ident=f"{r.seed}:{r.index}") for r in skips], "SKIPs", LIST_ALL)
    for what, text in summary.run_failures(args.allow_skip):
        out.line(f"SKIP {text}" if what == "SKIPs not accepted" else text)
        failing.append(Item([text], title=f"bp-oracle verify {options.dtype}: {what}", message=text))
    beyond = [r for r in summary.results if r.beyond_dtype]
    if beyond:
        out.line(f"{len(beyond)} networks beyond {options.dtype}'s resolution, BP1–BP4 not judged "
                 f"(a kink crossed by rounding, or an output a < smallest normal or within u of 1 "
                 f"under cross-entropy), e.g. {beyond[0].replay}")
    return summary, failing, headline


def _failure_item(r):
    """A failing network as printed: its head line, up to 3 wrong tensors, the verdict, the replay line."""
    from ..report import Item

    lines = [f"FAIL seed {r.seed} index {r.index}: {r.net.to_dict()} m={r.m}"]
    root = r.verdict.root
    if root is not None:  # the judge's root cause, its hint, and what follows from it, as check prints them
        lines += ["  " + line.removeprefix("FAIL ") for line in r.verdict.failure_lines(r.id)]
    lines += [f"  verdict: {r.side}", f"  replay: {r.replay}"]
    message = "; ".join(([root.line(r.id)] if root else []) + [f"verdict: {r.side}", f"replay: {r.replay}"])
    return Item(lines, key=None if r.error is None else f"raised {r.error}", ident=f"{r.seed}:{r.index}",
                title=f"bp-oracle verify {r.options.dtype}: FAIL {r.seed}:{r.index}", message=message)


def _span(todo: range) -> str:
    return f"indices {todo.start}–{todo.stop - 1}" if len(todo) else "no indices"


def _policy(dtype: str) -> str:
    if dtype == "float64":
        t = TOLERANCES["float64"]
        return f"max|got − ref| ≤ {t.rtol:g}·max|ref| + {t.atol:g} per tensor"
    m = PRECISION_MODELS[dtype]
    return f"rtol = {m.safety:g}·u·(L·(n+m) + κ), atol = {m.safety:g}·u·L·(n+m), u = 2^{round(math.log2(m.unit_roundoff))}"


def _table(summary, todo: range):
    from rich.table import Table

    from ..sweep.figures import TABLE_CAPTION, table_rows

    opts = summary.options
    t = Table(title=f"{opts.candidate_name} vs jax.grad, {opts.dtype}, seed {summary.seed}", title_justify="left")
    columns, rows = table_rows(summary)
    for col in columns:
        t.add_column(col, justify="left" if col in ("activation", "cost") else "right")
    failed = columns.index("failed")
    for cells, bad in rows:
        cells = list(cells)
        if bad:
            cells[failed] = f"[bold red]{cells[failed]}[/]"
        t.add_row(*cells)
    t.caption = TABLE_CAPTION
    return t


def _replay_one(out, seed: int, index: int, options, allow_skip: bool = False) -> int:
    from ..sweep.engine import verify_cases

    r = verify_cases(seed, [index], options)[0]
    out.line(f"case seed {seed} index {index}, {options.dtype}: {r.net.to_dict()} m={r.m}")
    out.line(f"  tolerance here: rtol {r.tolerance.rtol:.3g}, atol {r.tolerance.atol:.3g}")
    if r.near_kink:
        out.line("  near a kink: a pre-activation (or a weight under l1) within 1e-2 of it")
    if r.crossed_kink:
        out.line(f"  rounding crossed a kink at layer(s) {r.crossed_kink}: BP1–BP4 not judged")
    if r.saturated:
        out.line(f"  an output beyond {options.dtype}'s resolution under cross-entropy: BP1–BP4 not judged")
    if r.error:
        out.line(f"  FAIL {options.candidate_name} raised {r.error}")
    if r.skipped is not None:
        out.line(f"  SKIP {options.candidate_name} raised NotImplementedError: {r.skipped}"
                 f"{' (accepted with --allow-skip)' if allow_skip else ' (not accepted without --allow-skip)'}")
        return 0 if allow_skip else 1
    for c in r.checks:
        judged = c in r.judged
        out.line(f"  {'ok  ' if c.ok else 'FAIL' if judged else 'skip'} {c.describe()}")
    for w in r.witnesses:
        out.line(f"  witness: {describe_witness(w, options.candidate_name)}")
    if not r.ok:
        for line in r.verdict.failure_lines(r.id) if r.verdict.root else []:
            out.line("  " + line.removeprefix("FAIL ").replace(f"{r.id}: ", "root cause: ", 1))
        out.line(f"  verdict: {r.side}")
    for line in _second_opinions(r, seed, index, options):
        out.line(f"  {line}")
    return 0 if r.ok else 1


def _second_opinions(r, seed: int, index: int, options) -> list[str]:
    """The plain (unpadded) reference on the same case, and for a failure the per-parameter
    finite differences of witnesses.py: both are slow (one compilation), so only on a replay."""
    import numpy as np

    from autodiff_ref.padded import padded_reference_traces
    from ..sweep.precision import in_dtype, run_candidate
    from autodiff_ref.reference import reference_trace
    from ..sweep.engine import _as_record, setup, sweep_case
    from autodiff_ref.witnesses import finite_difference_gradients

    run = setup(options)
    case = sweep_case(seed, index, run.focus)
    low, exact = in_dtype(case, options.dtype)
    plain, padded = reference_trace(*exact), padded_reference_traces([exact])[0]
    gap = max(float(np.max(np.abs(p - q))) / max(float(np.max(np.abs(q))), 1e-300)
              for (pW, pb), (qW, qb) in zip(padded.grads, plain.grads) for p, q in ((pW, qW), (pb, qb)))
    lines = [f"plain reference (reference.py) vs padded: gradients agree to {gap:.1e} relative"]
    if not r.ok and r.error is None and r.net.num_params <= 2000:
        fd = finite_difference_gradients(*exact)
        got = _as_record(run_candidate(run.candidate, low, options.dtype)).grads
        lines.append(f"finite differences on every parameter (step {fd.step:.1e}, Richardson), largest gaps per tensor:")
        for l, ((fW, fb), (eW, eb), (qW, qb), (gW, gb)) in enumerate(
                zip(fd.grads, fd.error_estimate, plain.grads, got), start=1):
            for name, f, e, q, g in (("dC/dW", fW, eW, qW, gW), ("dC/db", fb, eb, qb, gb)):
                with np.errstate(all="ignore"):
                    to_got = float(np.max(np.abs(f - np.asarray(g, dtype=np.float64))))
                lines.append(f"  {name} at layer {l}: |FD − jax.grad| {float(np.max(np.abs(f - q))):.1e}, "
                             f"|FD − {options.candidate_name}| {to_got:.1e}, FD error estimate {float(np.max(e)):.1e}")
    return lines
