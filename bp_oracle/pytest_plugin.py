"""A pytest plugin: the `bp_oracle` fixture, for checking a backprop from another project's suite.

    def test_my_backprop(bp_oracle):
        bp_oracle.check(my_backprop)                     # a Python fn(net, params, x, y)
        bp_oracle.check(my_backprop, dtype="float32", supports="sigmoid,tanh,quadratic")

    def test_my_c_backprop(bp_oracle):
        bp_oracle.check_command("./build/mybp --oracle")  # any language, protocol bp-oracle/1

Installed with bp-oracle (entry point `pytest11`); `--bp-oracle-suite` picks the suite (default
quick). A check that does not conform fails the test with its summary and its first failures (20,
identical ERRORs collapsed). `--bp-oracle-html DIR` writes each check's HTML report into DIR (one
page per check, named after the test; the failure message and the test's `user_properties` name
it), for a CI job to keep as an artifact. A check that passes while leaving cases out (SKIPs accepted with
`allow_skip=True`, or cases its dtype cannot judge, not asked) says so: in the test's
`user_properties` (pytest's JUnit XML shows them) and in a "bp-oracle" section of the terminal
summary, so a green test never hides what it did not check. jax is imported only when a check
runs, so projects that never use the fixture pay nothing.
"""

from __future__ import annotations

import pytest

PROPERTY = "bp-oracle"  # the user_properties key of what a passing check left out
MAX_FAILURES = 20  # failures in an AssertionError's message before "… and K more"


def left_out(report) -> str | None:
    """What a conforming report did not judge, in one line, or None when it judged every case."""
    from .judge import SKIP

    parts = []
    skips = report.by_outcome(SKIP)
    if skips:
        ids = ", ".join(r.case.id for r in skips[:5]) + (", …" if len(skips) > 5 else "")
        reasons = sorted({r.verdict.message for r in skips})
        why = "; ".join(reasons[:3]) + ("; …" if len(reasons) > 3 else "")
        parts.append(f"{len(skips)} SKIP accepted ({ids}: {why})")
    if report.not_asked:
        ids = list(report.not_asked)
        parts.append(f"{len(ids)} case(s) {report.plan.dtype} cannot judge not asked "
                     f"({', '.join(ids[:5])}{', …' if len(ids) > 5 else ''})")
    if not parts:
        return None
    return f"{report.judged} of {len(report.results) + len(report.not_asked)} cases judged; " + "; ".join(parts)


def failure_message(what: str, report, max_failures: int = MAX_FAILURES) -> str:
    """`what` does not conform: the summary, then the first failures (collapsed), then '… and K more'."""
    from .report import collapse, cap, failure_items, more_line, shown_lines

    items, run = failure_items(report)
    shown, hidden = cap(collapse(items), max_failures)
    lines = [f"{what} does not conform: {report.summary()}"]
    lines += [text for item in shown for text in shown_lines(item)]
    if hidden:
        lines.append(more_line(hidden, "failures", "bp_oracle.check_implementation(...) returns the whole report"))
    lines += [item.lines[0] for item in run]
    return "\n".join(lines)


class BpOracle:
    """What the fixture gives a test: checks that raise AssertionError naming each root cause."""

    def __init__(self, suite: str = "quick", seed: int = 0, node=None, html_dir: str | None = None):
        self.suite, self.seed, self.node, self.html_dir = suite, seed, node, html_dir
        self.pages = 0

    def check(self, fn, suite: str | None = None, *, dtype: str = "float64", supports=None,
              allow_skip: bool = False, include=(), exclude=(), rtol: float | None = None,
              atol: float | None = None, seed: int | None = None, witness: bool = False):
        """Judge a Python backprop `fn(net, params, x, y)`; returns the report when it conforms.

        dtype, supports, allow_skip, include, exclude, rtol, atol, witness: as
        `check_implementation` (and `bp-oracle check`): the precision it is judged at, the features
        it declares, whether SKIPs (NotImplementedError) are accepted, which cases, a tolerance
        override, the finite-difference witness on each FAIL."""
        from .check import check_implementation

        report = check_implementation(fn, suite or self.suite, self.seed if seed is None else seed, include, exclude,
                                      dtype=dtype, supports=supports, allow_skip=allow_skip, rtol=rtol, atol=atol,
                                      witness=witness)
        return self._verdict("backprop", report)

    def check_command(self, command: str, suite: str | None = None, timeout: float = 30.0, **kwargs):
        """Judge an external program over the protocol; returns the report when it conforms.
        Keyword arguments: seed, include, exclude and those of `check` (dtype, supports, …)."""
        from .check import run_check

        kwargs.setdefault("seed", self.seed)
        report = run_check(command, suite=suite or self.suite, timeout=timeout, **kwargs)
        return self._verdict(command, report)

    def _verdict(self, what: str, report):
        page = self._page(report)
        if not report.ok:
            raise AssertionError(failure_message(what, report) + (f"\nHTML report: {page}" if page else ""))
        note = left_out(report)
        if note is not None and self.node is not None:
            self.node.user_properties.append((PROPERTY, f"{what}: {note}"))
        return report


    def _page(self, report) -> str | None:
        """The check's HTML report written into html_dir (made if missing), or None."""
        if not self.html_dir:
            return None
        import os
        import re

        from .html_report.check_page import write_page

        self.pages += 1
        test = self.node.nodeid if self.node is not None else "check"
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test).strip("_")[:150] + (f"-{self.pages}" if self.pages > 1 else "")
        os.makedirs(self.html_dir, exist_ok=True)
        path = os.path.join(self.html_dir, name + ".html")
        write_page(report, path, f"pytest {test}")
        if self.node is not None:
            self.node.user_properties.append(("bp-oracle-html", path))
        return path


def pytest_addoption(parser):
    group = parser.getgroup("bp-oracle")
    group.addoption("--bp-oracle-suite", default="quick", choices=["quick", "default", "full"],
                    help="suite used by the bp_oracle fixture (default quick)")
    group.addoption("--bp-oracle-html", default=None, metavar="DIR",
                    help="write each bp_oracle check's HTML report into DIR (one page per check)")


@pytest.fixture
def bp_oracle(request) -> BpOracle:
    return BpOracle(suite=request.config.getoption("--bp-oracle-suite"), node=request.node,
                    html_dir=request.config.getoption("--bp-oracle-html"))


class _LeftOut:
    """Gathers what passing checks left out from the test reports (under pytest-xdist the workers
    send their reports, user_properties included, to the process that prints the summary)."""

    def __init__(self):
        self.notes: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.notes += [(report.nodeid, value) for key, value in report.user_properties if key == PROPERTY]

    def pytest_terminal_summary(self, terminalreporter):
        if self.notes:
            terminalreporter.write_sep("-", "bp-oracle: passed, but not every case was judged")
            for nodeid, note in self.notes:
                terminalreporter.write_line(f"{nodeid}: {note}")


def pytest_configure(config):
    config.pluginmanager.register(_LeftOut(), "bp-oracle-left-out")
