"""The page of `bp-oracle check --html FILE` and `bp-oracle grade --html FILE`: the verdict, the
counts and the replay command; the coverage table (the JSON report's `coverage`, row for row);
each failing case in full (up to cases.FULL_CASES), the rest listed; ERRORs and SKIPs collapsed
by message; the notes, the cases not asked, and the passing ones summarised."""

from __future__ import annotations

from collections import defaultdict

from .. import __version__
from ..check import Report
from ..judge import ERROR, FAIL, PASS, SKIP
from ..report import OUTCOMES, feature_matrix
from .failing_cases import FailingCase, from_check, in_full
from .page import Raw, banner, document, esc, table, write
from .pictures import legend


def render(report: Report, command: str) -> str:
    """The whole page, as text (deterministic: the same run gives the same bytes)."""
    plan = report.plan
    counts = [("cases", len(report.results)), ("judged", report.judged)]
    counts += [(o, report.count(o)) for o in OUTCOMES] + [("not asked", len(report.not_asked))]
    problems = [p for p in (*report.problems, report.skip_problem, report.nothing_judged) if p]
    word = "CONFORMS" if report.ok else "DOES NOT CONFORM"
    body = [f"<h1>bp-oracle {esc(report.tool)}: {esc(report.implementation)}</h1>",
            banner(report.ok, word, report.summary(), counts, command, [f"Problem: {p}" for p in problems]),
            _contents(report)]
    body += _coverage(report)
    failing = [from_check(r, plan.dtype) for r in report.by_outcome(FAIL)]
    body += failures(failing)
    body += _collapsed(report, ERROR, "errors", "ERRORs (no answer that could be judged)")
    body += _collapsed(report, SKIP, "skips", "SKIPs (answered 'unsupported')")
    notes = [r for r in report.by_outcome(PASS) if r.verdict.message]
    if notes:
        body.append('<h2 id="notes">Notes on passing cases</h2>')
        body.append(table(["case", "note"], [(r.case.id, r.verdict.message) for r in notes], text_columns=2))
    if report.not_asked:
        body.append(f'<h2 id="not-asked">Not asked ({len(report.not_asked)}): beyond {esc(plan.dtype)}\'s resolution</h2>')
        body.append(table(["case", "why"], sorted(report.not_asked.items()), text_columns=2))
    passing = [r.case.id for r in report.by_outcome(PASS)]
    body.append(f'<h2 id="passing">Passing cases ({len(passing)})</h2>'
                f'<details><summary>their ids</summary><p class="muted">{esc(", ".join(passing)) or "none"}</p>'
                f'</details>')
    body.append(f'<p class="muted">bp-oracle {__version__}, protocol bp-oracle/1. Each case was judged tensor by '
                f'tensor against the float64 jax.grad reference: max|got − expected| ≤ rtol·max|expected| + atol '
                f'(docs/protocol.md).</p>')
    return document(f"bp-oracle {report.tool}: {'conforms' if report.ok else 'does not conform'}", body)


def write_page(report: Report, path: str, command: str) -> None:
    write(path, render(report, command))


def _contents(report: Report) -> str:
    links = [("coverage", "Coverage"), ("failures", f"Failing cases ({report.count(FAIL)})")]
    links += [(anchor, f"{title} ({report.count(o)})") for anchor, o, title in
              (("errors", ERROR, "ERRORs"), ("skips", SKIP, "SKIPs")) if report.count(o)]
    if report.not_asked:
        links.append(("not-asked", f"Not asked ({len(report.not_asked)})"))
    links.append(("passing", f"Passing cases ({report.count(PASS)})"))
    return "<nav><ul>" + "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in links) + "</ul></nav>"


def _coverage(report: Report) -> list[str]:
    """feature × judged / PASS / FAIL / ERROR / SKIP: what the verdict speaks for; the same
    numbers as the JSON report's coverage, plus the run's dtype (every case is in it)."""
    matrix = feature_matrix(report)
    rows = [(feature, counts["judged"], *(counts[o] for o in OUTCOMES)) for feature, counts in matrix.items()]
    rows.append((f"dtype:{report.plan.dtype}", report.judged, *(report.count(o) for o in OUTCOMES)))
    rows = [(*row, _status(*row[1:])) for row in rows]
    marks = lambda i: ({FAILING: "bad", UNJUDGED: "unjudged"}.get(rows[i][-1], ""),  # noqa: E731
                       {"feature": rows[i][0]})
    return ['<h2 id="coverage">Coverage</h2>',
            '<p class="muted">Each feature (activation, output, cost, regularisation, batch, depth and width classes, '
            'dtype) with the cases that cover it; judged = compared with the reference (PASS or FAIL). The verdict '
            'speaks only for what was judged: a feature "not judged" was never compared with the reference.</p>',
            table(["feature", "judged", *OUTCOMES, "status"], rows, row_attrs=marks, cls="coverage")]


FAILING, UNJUDGED = "✗ FAIL or ERROR", "not judged"


def _status(judged: int, passed: int, failed: int, errors: int, skipped: int) -> str:
    if failed or errors:
        return FAILING
    if not judged:
        return UNJUDGED
    return "✓ right" + (f" ({skipped} SKIP)" if skipped else "")


def failures(failing: list[FailingCase], anchor: str = "failures", title: str = "Failing cases") -> list[str]:
    """Each failing case in full (the first ones), the rest one line each."""
    out = [f'<h2 id="{esc(anchor)}">{esc(title)} ({len(failing)})</h2>']
    if not failing:
        return out + ["<p>None.</p>"]
    sections, shown = in_full(failing)
    out.append(legend())
    out += sections
    rest = failing[shown:]
    if rest:
        out.append(f'<h3 id="more-{esc(anchor)}">{len(rest)} more, listed</h3>')
        rows = [(Raw(f'<span id="case-{esc(c.ident)}">{esc(c.ident)}</span>'), c.root.equation if c.root else "",
                 c.root.layer or "" if c.root else "", c.headline) for c in rest]
        out.append(table(["case", "equation", "layer", "root cause"], rows, text_columns=4, cls="more"))
    return out


def _collapsed(report: Report, outcome: str, anchor: str, title: str) -> list[str]:
    """Cases of one outcome grouped by message (their own id taken out): one row per message."""
    results = report.by_outcome(outcome)
    if not results:
        return []
    groups: dict[str, list[str]] = defaultdict(list)
    for r in results:
        groups[r.verdict.message.replace(r.case.id, "{id}")].append(r.case.id)
    rows = [(message, len(ids), ", ".join(ids[:20]) + (" …" if len(ids) > 20 else "")) for message, ids in groups.items()]
    return [f'<h2 id="{anchor}">{esc(title)}: {len(results)}</h2>',
            table(["message", "cases", "ids"], rows, text_columns=1)]
