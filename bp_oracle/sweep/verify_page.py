"""The page of `bp-oracle verify --html FILE`: the verdict and the command; per dtype the summary
table by activation × cost × depth; the error plots of `--report`; each failing network drawn as
its layers with a heatmap of every wrong tensor (the first ones; the rest listed with their
replay lines); the networks the backprop raised on or SKIPped."""

from __future__ import annotations

import base64
from typing import Sequence

from .. import __version__
from ..html_report.failing_cases import FailingCase, from_verdict
from ..html_report.check_page import failures
from ..html_report.page import banner, document, esc, table, write
from .figures import TABLE_CAPTION, plot_png, table_rows
from .engine import SweptNetwork, Summary


def failing_case(r: SweptNetwork) -> FailingCase:
    """A failing network of the sweep as the report shows it: the judge's verdict, as check's page
    shows one, with the witnesses' verdict and the replay line beside it."""
    return from_verdict(r.id, r.net, r.m, r.options.dtype, r.tolerance, r.verdict, r.options.candidate_name,
                        r.wrong, [f"replay: {r.replay}"])


def render(summaries: Sequence[Summary], command: str, ok: bool, lines: Sequence[str], derivative_checks=(),
           allow_skip: bool = False, plots: dict[str, bytes] | None = None) -> str:
    """The whole page. `ok` and `lines` are the run's verdict and summary lines, as the console
    printed them, so the page can never say other than the exit code; `plots` the PNGs already
    drawn by --report (by name: errors, depth_width), the others are drawn here."""
    n = sum(len(s.results) for s in summaries)
    skips = sum(len(s.skips) for s in summaries)
    counts = [("networks", n), ("judged", n - skips), ("FAIL", sum(len(s.failures) for s in summaries)),
              ("SKIP", skips), ("beyond dtype", sum(r.beyond_dtype for s in summaries for r in s.results)),
              ("near a kink", sum(r.near_kink for s in summaries for r in s.results))]
    who = summaries[0].options.candidate_name if summaries else "manual_bp"
    body = [f"<h1>bp-oracle verify: {esc(who)} against jax.grad</h1>",
            banner(ok, "AGREES" if ok else "DISAGREES", lines[0] if lines else "", counts, command, lines[1:])]
    if derivative_checks:
        body.append('<h2 id="derivatives">Plugin derivatives against jax.grad</h2>')
        body.append(table(["derivative", "verdict"], [(c.name, ("ok: " if c.ok else "FAIL: ") + c.describe())
                                                     for c in derivative_checks], text_columns=2,
                          row_attrs=lambda i: ("" if derivative_checks[i].ok else "bad", {})))
    for s in summaries:
        columns, rows = table_rows(s)
        body.append(f'<h2 id="table-{esc(s.options.dtype)}">{esc(s.options.candidate_name)} vs jax.grad, '
                    f'{esc(s.options.dtype)}, seed {s.seed}: by activation × cost × depth</h2>')
        body.append(table(columns, [cells for cells, _ in rows], text_columns=2, cls="sweep",
                          row_attrs=lambda i, rows=rows: ("bad" if rows[i][1] else "", {})))
        body.append(f'<p class="muted">{esc(TABLE_CAPTION)}; a network counts once in the row of each activation it '
                    f'uses.</p>')
    body.append('<h2 id="plots">Errors against the tolerance</h2>')
    for which, alt in (("errors", "normwise errors per dtype, and error ÷ tolerance per network against the line at 1"),
                       ("depth_width", "normwise error and error ÷ tolerance against depth and against width")):
        png = (plots or {}).get(which) or plot_png(which, summaries)
        data = base64.b64encode(png).decode("ascii")
        body.append(f'<p><img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{data}"></p>')
    for s in summaries:
        failing = [r for r in s.failures if r.error is None]
        body += [f'<div class="sweep-failures" data-dtype="{esc(s.options.dtype)}">',
                 *failures([failing_case(r) for r in failing], f"failures-{s.options.dtype}",
                           f"Failing networks, {s.options.dtype}"), "</div>"]
        raised = [r for r in s.failures if r.error is not None]
        if raised:
            body.append(f'<h2 id="raised-{esc(s.options.dtype)}">{esc(s.options.candidate_name)} raised '
                        f'({len(raised)})</h2>')
            body.append(table(["network", "error", "replay"], [(f"{r.seed}:{r.index}", r.error, r.replay)
                                                               for r in raised], text_columns=3))
        if s.skips:
            state = "accepted with --allow-skip" if allow_skip else "not accepted without --allow-skip"
            body.append(f'<h2 id="skips-{esc(s.options.dtype)}">SKIPs ({len(s.skips)}, {state})</h2>')
            body.append(table(["network", "NotImplementedError", "replay"],
                              [(f"{r.seed}:{r.index}", r.skipped, r.replay) for r in s.skips], text_columns=3))
    body.append(f'<p class="muted">bp-oracle {__version__}. Every network was judged tensor by tensor against the '
                f'float64 jax.grad reference (docs/verify.md).</p>')
    return document(f"bp-oracle verify: {'agrees' if ok else 'disagrees'}", body)


def write_page(path: str, summaries: Sequence[Summary], command: str, ok: bool, lines: Sequence[str],
               derivative_checks=(), allow_skip: bool = False, plots: dict[str, bytes] | None = None) -> None:
    write(path, render(summaries, command, ok, lines, derivative_checks, allow_skip, plots))
