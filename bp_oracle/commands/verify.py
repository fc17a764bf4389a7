"""`bp-oracle verify`: the main job. A seeded sweep of random networks, manual_bp (or another
backprop) against the padded jax.grad reference, in float64 or a lower precision; a table per
activation × cost with the worst error per depth; a replay line and a verdict per failure."""

from __future__ import annotations

import math
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..tolerance import DTYPES, PRECISION_MODELS, TOLERANCES
from ..errors import user_input
from ._args import non_negative_int, positive_int, usage_error

DEPTHS = range(1, 6)  # the depth columns of the table: the sweep draws depth 1..5


def add_parser(sub, help: str) -> None:
    p = sub.add_parser("verify", help=help)
    p.add_argument("--cases", type=positive_int, default=300, help="networks to check (default 300)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="sweep seed (default 0)")
    p.add_argument("--start", type=non_negative_int, default=0, help="first case index (default 0)")
    p.add_argument("--shard", type=_shard, metavar="K/N", help="check only the K-th of N equal slices of the cases")
    p.add_argument("--dtype", type=_dtypes, default=("float64",), metavar="DTYPE[,DTYPE…]",
                   help=f"run the backprop in {', '.join(DTYPES)} (comma-separated for several; default float64)")
    p.add_argument("--jobs", type=positive_int, default=1, help="processes (results identical to --jobs 1)")
    p.add_argument("--report", metavar="DIR", help="write summary.json, errors.png and depth_width.png into DIR")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="register your own activation or cost (bp_oracle.custom); every network then uses it")
    p.add_argument("--backprop", metavar="MODULE:FUNCTION",
                   help="check this backprop (net, params, x, y) → Trace or [(dW, db)] instead of manual_bp")
    p.add_argument("--replay", type=_replay, metavar="SEED:INDEX", help="check one case of a sweep, in detail")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run, uses_reference=True)


def _replay(text: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 2:
        raise usage_error(f"--replay takes SEED:INDEX, got {text!r}")
    return non_negative_int(parts[0]), non_negative_int(parts[1])


def _shard(text: str) -> tuple[int, int]:
    parts = text.split("/")
    if len(parts) != 2:
        raise usage_error(f"--shard takes K/N (1 ≤ K ≤ N), got {text!r}")
    k, n = positive_int(parts[0]), positive_int(parts[1])
    if k > n:
        raise usage_error(f"--shard takes K/N with 1 ≤ K ≤ N, got {text!r}")
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
    console = Console(highlight=False, width=max(Console().width, 132))
    if args.replay and len(args.dtype) > 1:
        raise usage_error("--replay takes one --dtype")
    if args.report:
        from ..sweep.report import require_matplotlib
        require_matplotlib()
        _report_folder(args.report)  # before the sweep: a long run must not end in "cannot write"
    from ..sweep.verify import SweepOptions, setup  # the sweep loads manual_bp: only here
    options = [SweepOptions(dtype, args.backprop, tuple(args.plugin)) for dtype in args.dtype]
    with user_input():
        focus = setup(options[0]).focus  # loads plugins and the backprop: a bad one is one line, exit 2
    checks = _derivative_checks(console, focus)
    if args.replay:
        return _replay_one(console, *args.replay, options[0]) or int(not all(c.ok for c in checks))
    todo = indices(args.start, args.cases, args.shard)
    summaries = []
    for opts in options:
        summaries.append(_sweep(console, args, opts, todo))
    if args.report:
        from ..sweep.report import write
        for path in write(args.report, summaries, todo.start, checks):
            console.print(f"wrote {path}")
    failed = any(s.failures for s in summaries) or not all(c.ok for c in checks)
    return 1 if failed else 0


def _derivative_checks(console, focus):
    if not focus:
        return []
    from ..custom import derivative_checks
    checks = derivative_checks(focus)
    for c in checks:
        console.print(f"{'ok  ' if c.ok else 'FAIL'} {c.describe()}")
    return checks


def _sweep(console, args, options, todo: range):
    from ..sweep.verify import run_sweep

    show_progress = not args.no_progress and sys.stderr.isatty()
    with Progress(TextColumn(f"verify {options.dtype}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=not show_progress) as progress:
        task = progress.add_task("verify", total=len(todo))
        summary = run_sweep(args.seed, todo, options, jobs=args.jobs, on_progress=lambda n: progress.advance(task, n))
    console.print(_table(summary, todo))
    for r in summary.failures:
        _print_failure(console, r)
    beyond = [r for r in summary.results if r.beyond_dtype]
    if beyond:
        console.print(f"{len(beyond)} networks beyond {options.dtype}'s resolution, BP1–BP4 not judged "
                      f"(a kink crossed by rounding, or an output a < smallest normal or within u of 1 "
                      f"under cross-entropy), e.g. {beyond[0].replay}")
    n, bad = len(summary.results), len(summary.failures)
    verdict = "agree" if not bad else f"{bad} DISAGREE"
    kinks = sum(r.near_kink for r in summary.results)
    console.print(f"{n} networks ({_span(todo)}), seed {args.seed}, {options.dtype}: {options.candidate_name} and "
                  f"jax.grad {verdict}; {kinks} within 1e-2 of a kink; "
                  f"{summary.rate:.0f} networks/s ({summary.seconds:.1f} s); tolerance: {_policy(options.dtype)}")
    return summary


def _span(todo: range) -> str:
    return f"indices {todo.start}–{todo.stop - 1}" if len(todo) else "no indices"


def _policy(dtype: str) -> str:
    if dtype == "float64":
        t = TOLERANCES["float64"]
        return f"max|got − ref| ≤ {t.rtol:g}·max|ref| + {t.atol:g} per tensor"
    m = PRECISION_MODELS[dtype]
    return f"rtol = {m.safety:g}·u·(L·(n+m) + κ), atol = {m.safety:g}·u·L·(n+m), u = 2^{round(math.log2(m.unit_roundoff))}"


def _table(summary, todo: range) -> Table:
    opts = summary.options
    t = Table(title=f"{opts.candidate_name} vs jax.grad, {opts.dtype}, seed {summary.seed}", title_justify="left")
    columns = ["activation", "cost", "cases", "failed", "kinks"]
    if opts.dtype != "float64":
        columns.append("beyond")
    columns += ["worst err", "tol", "err/tol"] + [f"L={L}" for L in DEPTHS]
    for col in columns:
        t.add_column(col, justify="left" if col in ("activation", "cost") else "right")
    for (act, cost), row in summary.table().items():
        w = row.worst.worst if row.worst else None
        cells = [act, cost, str(row.cases), str(row.failed) if not row.failed else f"[bold red]{row.failed}[/]",
                 str(row.kinks)]
        if opts.dtype != "float64":
            cells.append(str(row.beyond))
        if w is None or row.worst.error:
            cells += ["error", "", "inf"]
        else:
            c = w.comparison
            cells += [f"{c.error:.1e}", f"{c.bound:.1e}", f"{c.margin:.1e}"]
        cells += [f"{row.by_depth[L]:.0e}" if L in row.by_depth else "–" for L in DEPTHS]
        t.add_row(*cells)
    t.caption = ("err/tol: the worst tensor's error ÷ its tolerance (fails above 1); L=1…5: the worst err/tol "
                 "at each depth; kinks: networks within 1e-2 of a kink")
    return t


def _print_failure(console, r) -> None:
    console.print(f"FAIL seed {r.seed} index {r.index}: {r.net.to_dict()} m={r.m}")
    bad = [c for c in r.judged if not c.ok]
    for c in bad[:3]:
        console.print(f"  {c.describe()}")
    if len(bad) > 3:
        console.print(f"  … and {len(bad) - 3} more tensors")
    console.print(f"  verdict: {r.verdict}")
    console.print(f"  replay: {r.replay}")


def _replay_one(console, seed: int, index: int, options) -> int:
    from ..sweep.verify import verify_cases

    r = verify_cases(seed, [index], options)[0]
    console.print(f"case seed {seed} index {index}, {options.dtype}: {r.net.to_dict()} m={r.m}")
    console.print(f"  tolerance here: rtol {r.tolerance.rtol:.3g}, atol {r.tolerance.atol:.3g}")
    if r.near_kink:
        console.print("  near a kink: a pre-activation (or a weight under l1) within 1e-2 of it")
    if r.crossed_kink:
        console.print(f"  rounding crossed a kink at layer(s) {r.crossed_kink}: BP1–BP4 not judged")
    if r.saturated:
        console.print(f"  an output beyond {options.dtype}'s resolution under cross-entropy: BP1–BP4 not judged")
    if r.error:
        console.print(f"  FAIL {options.candidate_name} raised {r.error}")
    for c in r.checks:
        judged = c in r.judged
        console.print(f"  {'ok  ' if c.ok else 'FAIL' if judged else 'skip'} {c.describe()}")
    for w in r.witnesses:
        console.print(f"  witness: {w.describe(options.candidate_name)}")
    if not r.ok:
        console.print(f"  verdict: {r.verdict}")
    for line in _second_opinions(r, seed, index, options):
        console.print(f"  {line}")
    return 0 if r.ok else 1


def _second_opinions(r, seed: int, index: int, options) -> list[str]:
    """The plain (unpadded) reference on the same case, and for a failure the per-parameter
    finite differences of witnesses.py: both are slow (one compilation), so only on a replay."""
    import numpy as np

    from autodiff_ref.padded import padded_reference_traces
    from ..sweep.precision import in_dtype, run_candidate
    from autodiff_ref.reference import reference_trace
    from ..sweep.verify import _as_record, setup, sweep_case
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
