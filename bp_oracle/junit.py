"""JUnit XML, the one writer every command's report goes through (check, grade, verify).

A command turns its results into `Suite`s of `Case`s; this module counts them and writes the XML
CI systems read: one <testsuite> per suite, one <testcase> per case, FAIL → <failure>, ERROR →
<error>, SKIP → <skipped>. What fails a run outside any case is a failing case of its own ("the
run as a whole"), so the XML always agrees with the exit code.
"""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .judge import ERROR, FAIL, SKIP

WHOLE_RUN = "the run as a whole"


@dataclass
class Case:
    """One <testcase>: its outcome, and for anything but a PASS the message and the full text."""

    name: str
    outcome: str  # PASS, FAIL, ERROR or SKIP
    message: str = ""
    text: str | None = None
    kind: str = ""  # the element's `type`: the root cause's equation, DISAGREE, ERROR, …
    seconds: float | None = None


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)
    properties: list[tuple[str, str]] = field(default_factory=list)
    seconds: float | None = None


def whole_run(message: str, kind: str = "ERROR") -> Case:
    """What fails the run outside any case, as a failing case of its own."""
    return Case(WHOLE_RUN, ERROR, message, kind=kind)


def tree(suites: list[Suite]) -> ET.ElementTree:
    root = ET.Element("testsuites")
    for suite in suites:
        count = lambda outcome: str(sum(c.outcome == outcome for c in suite.cases))  # noqa: E731
        attrs = {"name": suite.name, "tests": str(len(suite.cases)), "failures": count(FAIL),
                 "errors": count(ERROR), "skipped": count(SKIP)}
        if suite.seconds is not None:
            attrs["time"] = f"{suite.seconds:.3f}"
        node = ET.SubElement(root, "testsuite", attrs, hostname=platform.node())
        if suite.properties:
            props = ET.SubElement(node, "properties")
            for name, value in suite.properties:
                ET.SubElement(props, "property", name=name, value=value)
        for case in suite.cases:
            attrs = {"classname": suite.name, "name": case.name}
            if case.seconds is not None:
                attrs["time"] = f"{case.seconds:.3f}"
            element = ET.SubElement(node, "testcase", attrs)
            if case.outcome == SKIP:
                ET.SubElement(element, "skipped", message=case.message)
            elif case.outcome in (FAIL, ERROR):
                child = ET.SubElement(element, "failure" if case.outcome == FAIL else "error",
                                      message=case.message, type=case.kind or case.outcome)
                if case.text is not None:
                    child.text = case.text
    result = ET.ElementTree(root)
    ET.indent(result)
    return result


def write(path: str, suites: list[Suite]) -> None:
    tree(suites).write(path, encoding="utf-8", xml_declaration=True)
