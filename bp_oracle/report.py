"""A check's report in three forms: a console matrix, a JSON document, JUnit XML for CI; and what
every judging command (check, grade, verify) prints its failures with.

Printing for CI (issue #12): the summary comes first, then the first `max_failures` failures in
full, identical ERROR messages collapsed into one, then "… and K more" with how to see them; off
a terminal, failure lines go out with plain `print` (a pipe or a CI log gets each on one line,
so `grep ^FAIL` works) and rich consoles are given a very wide width; under GitHub Actions (or
`--annotations github`) each root cause is also one `::error` workflow command; progress goes to
stderr only: a rich bar with an ETA on a terminal, otherwise a plain line every few seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from . import junit
from .check import Report
from .judge import ERROR, FAIL, PASS, SKIP

OUTCOMES = (PASS, FAIL, ERROR, SKIP)
DEFAULT_MAX_FAILURES = 20  # failures printed in full before "… and K more"; 0: all of them
PROGRESS_INTERVAL = 5.0  # seconds between two plain progress lines (a non-terminal stderr); ≥ 2
WIDE = 100_000  # a rich console's width off a terminal: nothing it prints is wrapped
SAMPLE_IDS = 5  # ids named in "… and K more like it (ids …)"


# --- failures as printed: items, collapsed and capped ------------------------------------------


@dataclass
class Item:
    """One failure (or skip, or note) as printed: `lines` in full, the first its head.

    key: items with the same key (not None) say the same thing about different cases: they are
        collapsed into the first, with "… and N more like it (ids …)".
    ident: the case it is about, named in that line.
    title, message: its GitHub Actions annotation (no annotation without a title).
    """

    lines: list[str]
    key: str | None = None
    ident: str = ""
    title: str = ""
    message: str = ""
    cases: int = 1  # how many cases it stands for (more once collapsed)
    others: list[str] = field(default_factory=list)  # the ids collapsed into it


def collapse(items: Iterable[Item]) -> list[Item]:
    """Items with the same key merged into the first of them, in the order they first appear."""
    out: list[Item] = []
    first: dict[str, Item] = {}
    for item in items:
        if item.key is not None and item.key in first:
            head = first[item.key]
            head.cases += item.cases
            head.others.append(item.ident)
            continue
        item = Item(list(item.lines), item.key, item.ident, item.title, item.message, item.cases, list(item.others))
        if item.key is not None:
            first[item.key] = item
        out.append(item)
    return out


def _like_it(item: Item) -> str:
    ids = ", ".join(item.others[:SAMPLE_IDS]) + (", …" if len(item.others) > SAMPLE_IDS else "")
    return f"… and {len(item.others)} more like it (ids {ids})"


def shown_lines(item: Item) -> list[str]:
    """The item's lines, and for a collapsed one the line that counts the others."""
    return item.lines + ([f"     {_like_it(item)}"] if item.others else [])


def cap(items: Sequence[Item], limit: int) -> tuple[list[Item], int]:
    """The first `limit` items (all for limit 0), and how many cases the others stand for."""
    if limit <= 0 or len(items) <= limit:
        return list(items), 0
    return list(items[:limit]), sum(i.cases for i in items[limit:])


def more_line(hidden: int, noun: str, hint: str) -> str:
    return f"… and {hidden} more {noun} not shown ({hint})"


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does (%, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property (title=…): also ':' and ','."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(title: str, message: str, level: str = "error") -> str:
    """One GitHub Actions workflow command line: `::error title=…::message`."""
    return f"::{level} title={escape_property(title)}::{escape_data(message)}"


def annotations_on(choice: str | None = "auto") -> bool:
    """Whether to print annotations: `github`, or `auto` inside GitHub Actions (GITHUB_ACTIONS=true)."""
    if choice in (None, "auto"):
        return os.environ.get("GITHUB_ACTIONS", "").lower() == "true"
    return choice == "github"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Output:
    """A command's stdout: a rich console for tables, plain lines a pipe can grep, capped and
    collapsed failures, and GitHub Actions annotations.

    max_failures: items printed in full per list (0: all); annotations: auto, github or none.
    """

    def __init__(self, max_failures: int = DEFAULT_MAX_FAILURES, annotations: str | None = "auto",
                 min_width: int = 120, console=None):
        from rich.console import Console

        self.tty = _isatty(sys.stdout) if console is None else console.is_terminal
        self.max_failures = max_failures
        self.annotate = annotations_on(annotations)
        # no file given: rich writes to whatever sys.stdout is at print time (pytest's capture too)
        if console is None:
            console = Console(highlight=False, width=max(Console().width, min_width) if self.tty else WIDE)
        self.console = console

    def print(self, renderable) -> None:
        """A rich renderable (a table)."""
        self.console.print(renderable)

    def line(self, text: str) -> None:
        """One line as it is: plain print off a terminal, never wrapped nor marked up."""
        if self.tty:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.console.file, flush=True)  # sys.stdout at this moment, unless given a file

    def items(self, items: Iterable[Item], noun: str, hint: str) -> list[Item]:
        """Print items collapsed and capped, then "… and K more {noun} not shown ({hint})";
        returns the collapsed list (to annotate)."""
        merged = collapse(items)
        shown, hidden = cap(merged, self.max_failures)
        for item in shown:
            for text in shown_lines(item):
                self.line(text)
        if hidden:
            self.line(more_line(hidden, noun, hint))
        return merged

    def annotate_items(self, items: Iterable[Item], hint: str, title: str = "bp-oracle") -> None:
        """Each item with a title as one `::error` line on stdout, capped like the failures."""
        if not self.annotate:
            return
        merged = [i for i in items if i.title]
        shown, hidden = cap(merged, self.max_failures)
        for item in shown:
            message = item.message + (f" ({_like_it(item)})" if item.others else "")
            print(annotation(item.title, message), file=self.console.file, flush=True)
        if hidden:
            print(annotation(title, more_line(hidden, "root causes", hint), level="notice"), file=self.console.file,
                  flush=True)


# --- progress, on stderr only --------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class ProgressReporter:
    """Progress of `total` steps on stderr, never stdout: on a terminal a rich bar with the time
    elapsed and remaining; otherwise (a pipe, a CI log) a plain line at most every `interval`
    seconds with the count, the rate and the ETA. A context manager; `advance(n)` after n steps."""

    def __init__(self, label: str, total: int, enabled: bool = True, stream=None,
                 interval: float | None = None, clock=time.monotonic):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = sys.stderr if stream is None else stream
        self.interval = PROGRESS_INTERVAL if interval is None else interval
        self.clock = clock
        self.done = 0
        self._bar = self._task = None

    def __enter__(self):
        self.start = self._last = self.clock()
        if self.enabled and _isatty(self.stream):
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("eta"), TimeRemainingColumn(), console=Console(file=self.stream))
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False

    def reset_total(self, total: int) -> None:
        """The number of steps, once known better (e.g. after cases a dtype cannot judge are left out)."""
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.advance(self._task, n)
            return
        now = self.clock()
        if now - self._last >= self.interval and self.done < self.total:
            self._last = now
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = _duration((self.total - self.done) / rate) if rate > 0 else "?"
        percent = 100 * self.done / self.total if self.total else 100
        return (f"{self.label}: {self.done}/{self.total} ({percent:.0f} %), {rate:.1f}/s, "
                f"{_duration(elapsed)} elapsed, ETA {eta}")


# --- a check's report ----------------------------------------------------------------------------


def feature_matrix(report: Report) -> dict[str, Counter]:
    """feature → Counter of outcomes over the cases that cover it, and how many were judged
    (compared with the reference: PASS or FAIL): the coverage of what the verdict speaks for."""
    matrix: dict[str, Counter] = defaultdict(Counter)
    for r in report.results:
        for f in r.case.features:
            matrix[f][r.verdict.outcome] += 1
            matrix[f]["judged"] += r.verdict.outcome in (PASS, FAIL)
    return dict(sorted(matrix.items()))


def summary_line(report: Report) -> str:
    return report.summary()


LIST_ALL = "--max-failures 0 prints them all; --json REPORT lists every case"


def failure_items(report: Report) -> tuple[list[Item], list[Item]]:
    """What fails the run, as `failure_lines` says it (root causes first, each FAIL with what
    follows from it, then ERRORs and problems), as items: those about cases or lines (capped,
    identical ERROR messages collapsed), and those about the run as a whole (always printed)."""
    tool = f"bp-oracle {report.tool}"
    items = []
    for r in report.by_outcome(FAIL):
        root = r.verdict.root
        lines = r.verdict.failure_lines(r.case.id)
        lines += [f"     {line}" for line in r.verdict.witness_lines("the implementation")]
        items.append(Item(lines, ident=r.case.id, title=f"{tool}: FAIL {r.case.id}", message=root.line(r.case.id)))
    for r in report.by_outcome(ERROR):
        message = r.verdict.message
        # the same message but for the case's own id (a wrong id, say) is the same message
        items.append(Item([f"ERROR {r.case.id}: {message}"], key="ERROR " + message.replace(r.case.id, "{id}"),
                          ident=r.case.id, title=f"{tool}: ERROR {r.case.id}", message=message))
    items += [Item([f"ERROR {p}"], title=f"{tool}: ERROR", message=p) for p in report.problems]
    run = []
    if report.skip_problem:
        run.append(Item([f"SKIP {report.skip_problem}"], title=f"{tool}: SKIPs not accepted",
                        message=report.skip_problem))
    if report.nothing_judged:
        run.append(Item([report.nothing_judged], title=f"{tool}: nothing judged", message=report.nothing_judged))
    return items, run


def _case_notes(report: Report) -> tuple[list[Item], list[Item]]:
    skips = [Item([f"SKIP {r.case.id}: {r.verdict.message}"], key=r.verdict.message.replace(r.case.id, "{id}"),
                  ident=r.case.id) for r in report.by_outcome(SKIP)]
    notes = [Item([f"note {r.case.id}: {r.verdict.message}"], key=r.verdict.message.replace(r.case.id, "{id}"),
                  ident=r.case.id) for r in report.results if r.verdict.outcome == PASS and r.verdict.message]
    return skips, notes


def render_console(report: Report, out: Output | None = None) -> None:
    """The coverage table, the summary line, then the failures (capped, collapsed), the run's own
    problems, the SKIPs and notes, and the annotations when they are on."""
    from rich.table import Table

    out = out if isinstance(out, Output) else Output(console=out)  # a rich Console, as before, or None
    table = Table(title=f"bp-oracle check: {report.implementation}", title_justify="left")
    table.add_column("feature")
    table.add_column("judged", justify="right")
    for o in OUTCOMES:
        table.add_column(o, justify="right")
    for feature, counts in feature_matrix(report).items():
        cells = [str(counts["judged"])] + [str(counts[o]) if counts[o] else "·" for o in OUTCOMES]
        style = "red" if counts[FAIL] or counts[ERROR] else None
        table.add_row(feature, *cells, style=style)
    out.print(table)
    out.line(summary_line(report))
    items, run = failure_items(report)
    merged = out.items(items, "failures", LIST_ALL)
    for item in run:
        out.line(item.lines[0])
    skips, notes = _case_notes(report)
    out.items(skips, "SKIPs", LIST_ALL)
    out.items(notes, "notes", LIST_ALL)
    out.annotate_items(merged + run, LIST_ALL, f"bp-oracle {report.tool}")


def to_json(report: Report) -> dict:
    cases = []
    for r in report.results:
        # no timings here, so the same implementation, suite and seed give a byte-identical report
        cases.append({**r.to_json(), "features": list(r.case.features)})
    plan = report.plan
    return {
        "tool": f"bp-oracle {report.tool}", "protocol": "bp-oracle/1", "implementation": report.implementation,
        "suite": report.suite, "seed": report.seed, "dtype": plan.dtype,
        "supports": list(plan.supports) if plan.supports is not None else None, "allow_skip": plan.allow_skip,
        "tolerance_override": {"rtol": plan.rtol, "atol": plan.atol} if plan.override else None,
        "ok": report.ok, "judged": report.judged,
        "counts": {o: report.count(o) for o in OUTCOMES},
        "coverage": {f: {"judged": c["judged"], **{o: c[o] for o in OUTCOMES}} for f, c in feature_matrix(report).items()},
        "not_asked": dict(sorted(report.not_asked.items())),
        "problems": list(report.problems) + ([report.skip_problem] if report.skip_problem else []),
        "cases": cases,
    }


def write_json(report: Report, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_json(report), f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")


def junit_suite(report: Report, html: str | None = None) -> junit.Suite:
    """One <testcase> per case; FAIL → <failure> (its findings, witnesses if asked), ERROR →
    <error>, SKIP → <skipped>; the HTML report, if one was written, named as the property `html_report`."""
    name = f"bp-oracle.{report.suite}"
    props = [("implementation", report.implementation), ("seed", str(report.seed)), ("dtype", report.plan.dtype),
             ("judged", str(report.judged)), ("ok", str(report.ok).lower()), *((("html_report", html),) if html else ())]
    cases = [junit.whole_run(p) for p in report.problems + ([report.skip_problem] if report.skip_problem else [])]
    for r in report.results:
        v, title = r.verdict, f"{r.case.id} {' '.join(r.case.net.activations)} {r.case.net.cost} m={r.case.m}"
        case = junit.Case(title, v.outcome, v.message, seconds=r.seconds)
        if v.outcome == FAIL:
            case.message, case.kind = v.root.line(r.case.id), v.root.equation
            case.text = "\n".join([f.line(r.case.id) + ("" if f.root else "  [follows from the root cause]")
                                   for f in v.findings] + v.witness_lines("the implementation"))
        cases.append(case)
    return junit.Suite(name, cases, props, sum(r.seconds for r in report.results))


def to_junit(report: Report, html: str | None = None) -> ET.ElementTree:
    return junit.tree([junit_suite(report, html)])


def write_junit(report: Report, path: str, html: str | None = None) -> None:
    junit.write(path, [junit_suite(report, html)])
