"""`bp-oracle verify [--cases N] [--seed S] [--replay SEED:INDEX]`: the main job."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..verify import CaseResult, run_sweep, verify_case


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="sweep random networks: manual_bp against jax.grad")
    p.add_argument("--cases", type=_positive_int, default=300, help="networks to check (default 300)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="sweep seed (default 0)")
    p.add_argument("--replay", type=_replay, metavar="SEED:INDEX", help="check one case of a sweep, in detail")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _positive_int(text: str) -> int:
    from ..cli import UsageError
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise UsageError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    from ..cli import UsageError
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"expected an integer ≥ 0, got {text!r}") from None
    if value < 0:
        raise UsageError(f"expected an integer ≥ 0, got {text!r}")
    return value


def _replay(text: str) -> tuple[int, int]:
    from ..cli import UsageError
    parts = text.split(":")
    if len(parts) != 2:
        raise UsageError(f"--replay takes SEED:INDEX, got {text!r}")
    return _non_negative_int(parts[0]), _non_negative_int(parts[1])


def run(args) -> int:
    console = Console(highlight=False, width=max(Console().width, 110))
    if args.replay:
        return _replay_one(console, *args.replay)
    show_progress = not args.no_progress and sys.stderr.isatty()
    with Progress(TextColumn("verify"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=not show_progress) as progress:
        task = progress.add_task("verify", total=args.cases)
        summary = run_sweep(args.seed, range(args.cases), on_result=lambda r: progress.advance(task))
    console.print(_table(summary, args.seed))
    for r in summary.failures:
        _print_failure(console, r)
    n, bad = len(summary.results), len(summary.failures)
    verdict = "agree" if not bad else f"{bad} DISAGREE"
    console.print(f"{n} networks, seed {args.seed}: manual_bp and jax.grad {verdict} "
                  f"(float64 tolerance: max|got − ref| ≤ 1e-9·max|ref| + 1e-12 per tensor)")
    return 0 if not bad else 1


def _table(summary, seed) -> Table:
    t = Table(title=f"manual_bp vs jax.grad, seed {seed}", title_justify="left")
    for col in ("activation", "cost", "cases", "failed", "worst error", "tolerance there", "error/tol"):
        t.add_column(col, justify="left" if col in ("activation", "cost") else "right")
    for (act, cost), row in summary.table().items():
        c = row.worst.comparison
        t.add_row(act, cost, str(row.cases), str(row.failed), f"{c.error:.2e}", f"{c.bound:.2e}",
                  f"{c.margin:.1e}")
    return t


def _print_failure(console, r: CaseResult) -> None:
    console.print(f"FAIL seed {r.seed} index {r.index}: {r.net.to_dict()} m={r.m}")
    for c in r.checks:
        if not c.ok:
            console.print(f"  {c.describe()}")
    console.print(f"  replay: {r.replay}")


def _replay_one(console, seed: int, index: int) -> int:
    r = verify_case(seed, index)
    console.print(f"case seed {seed} index {index}: {r.net.to_dict()} m={r.m}")
    for c in r.checks:
        console.print(f"  {'ok  ' if c.ok else 'FAIL'} {c.describe()}")
    return 0 if r.ok else 1
