"""A check's report in three forms: a console matrix, a JSON document, JUnit XML for CI."""

from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

from .check import Report, failure_lines
from .judge import ERROR, FAIL, PASS, SKIP

OUTCOMES = (PASS, FAIL, ERROR, SKIP)


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


def render_console(report: Report, console) -> None:
    from rich.table import Table

    table = Table(title=f"bp-oracle check: {report.implementation}", title_justify="left")
    table.add_column("feature")
    table.add_column("judged", justify="right")
    for o in OUTCOMES:
        table.add_column(o, justify="right")
    for feature, counts in feature_matrix(report).items():
        cells = [str(counts["judged"])] + [str(counts[o]) if counts[o] else "·" for o in OUTCOMES]
        style = "red" if counts[FAIL] or counts[ERROR] else None
        table.add_row(feature, *cells, style=style)
    console.print(table)
    notes = [f"note {r.case.id}: {r.verdict.message}" for r in report.results
             if r.verdict.outcome == PASS and r.verdict.message]
    skips = [f"SKIP {r.case.id}: {r.verdict.message}" for r in report.by_outcome(SKIP)]
    for line in failure_lines(report) + skips + notes:
        console.print(line, markup=False, highlight=False)
    console.print(summary_line(report), markup=False, highlight=False)


def to_json(report: Report) -> dict:
    cases = []
    for r in report.results:
        # no timings here, so the same implementation, suite and seed give a byte-identical report
        entry = {"id": r.case.id, "outcome": r.verdict.outcome, "network": r.case.net.to_dict(),
                 "m": r.case.m, "features": list(r.case.features)}
        if r.tolerance is not None:
            entry["tolerance"] = {"rtol": r.tolerance.rtol, "atol": r.tolerance.atol}
        if r.verdict.message:
            entry["message"] = r.verdict.message
        if r.verdict.findings:
            entry["findings"] = [{
                "root_cause": f.root, "equation": f.equation, "layer": f.check.layer,
                "quantity": f.check.quantity, "index": list(f.check.comparison.index),
                "got": f.check.comparison.got, "expected": f.check.comparison.expected,
                "error": f.check.comparison.error, "tolerance": f.check.comparison.bound,
                "inferred": f.inferred, "hint": f.hint, "line": f.line(r.case.id),
            } for f in r.verdict.findings]
        cases.append(entry)
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


def to_junit(report: Report) -> ET.ElementTree:
    """One <testcase> per case; FAIL → <failure>, ERROR → <error>, SKIP → <skipped>."""
    extra = len(report.problems) + bool(report.skip_problem)
    suite = ET.Element("testsuite", name=f"bp-oracle.{report.suite}", tests=str(len(report.results) + extra),
                       failures=str(report.count(FAIL)), errors=str(report.count(ERROR) + extra),
                       skipped=str(report.count(SKIP)),
                       time=f"{sum(r.seconds for r in report.results):.3f}", hostname=platform.node())
    props = ET.SubElement(suite, "properties")
    for name, value in (("implementation", report.implementation), ("seed", str(report.seed)),
                        ("dtype", report.plan.dtype), ("judged", str(report.judged)), ("ok", str(report.ok).lower())):
        ET.SubElement(props, "property", name=name, value=value)
    for problem in report.problems + ([report.skip_problem] if report.skip_problem else []):
        # what fails the run outside any case is a failing test of its own, so JUnit agrees with the exit code
        node = ET.SubElement(suite, "testcase", classname=f"bp-oracle.{report.suite}", name="the run as a whole")
        ET.SubElement(node, "error", message=problem, type="ERROR")
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"bp-oracle.{report.suite}",
                             name=f"{r.case.id} {' '.join(r.case.net.activations)} {r.case.net.cost} m={r.case.m}",
                             time=f"{r.seconds:.3f}")
        v = r.verdict
        if v.outcome == FAIL:
            root = v.root
            node = ET.SubElement(case, "failure", message=root.line(r.case.id), type=root.equation)
            node.text = "\n".join(f.line(r.case.id) + ("" if f.root else "  [follows from the root cause]")
                                  for f in v.findings)
        elif v.outcome == ERROR:
            ET.SubElement(case, "error", message=v.message, type="ERROR")
        elif v.outcome == SKIP:
            ET.SubElement(case, "skipped", message=v.message)
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    return tree


def write_junit(report: Report, path: str) -> None:
    to_junit(report).write(path, encoding="utf-8", xml_declaration=True)
