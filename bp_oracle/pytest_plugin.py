"""A pytest plugin: the `bp_oracle` fixture, for checking a backprop from another project's suite.

    def test_my_backprop(bp_oracle):
        bp_oracle.check(my_backprop)                     # a Python fn(net, params, x, y)

    def test_my_c_backprop(bp_oracle):
        bp_oracle.check_command("./build/mybp --oracle")  # any language, protocol bp-oracle/1

Installed with bp-oracle (entry point `pytest11`); `--bp-oracle-suite` picks the suite (default
quick). jax is imported only when a check runs, so projects that never use the fixture pay nothing.
"""

from __future__ import annotations

import pytest


class BpOracle:
    """What the fixture gives a test: checks that raise AssertionError naming each root cause."""

    def __init__(self, suite: str = "quick", seed: int = 0):
        self.suite, self.seed = suite, seed

    def check(self, fn, suite: str | None = None, **kwargs):
        """Judge a Python backprop; returns the report when it conforms."""
        from .check import assert_backprop_correct
        return assert_backprop_correct(fn, suite=suite or self.suite, seed=self.seed, **kwargs)

    def check_command(self, command: str, suite: str | None = None, timeout: float = 30.0, **kwargs):
        """Judge an external program over the protocol; returns the report when it conforms."""
        from .check import failure_lines, run_check
        report = run_check(command, suite=suite or self.suite, seed=self.seed, timeout=timeout, **kwargs)
        if not report.ok:
            raise AssertionError(f"{command} does not conform:\n" + "\n".join(failure_lines(report)))
        return report


def pytest_addoption(parser):
    group = parser.getgroup("bp-oracle")
    group.addoption("--bp-oracle-suite", default="quick", choices=["quick", "default", "full"],
                    help="suite used by the bp_oracle fixture (default quick)")


@pytest.fixture
def bp_oracle(request) -> BpOracle:
    return BpOracle(suite=request.config.getoption("--bp-oracle-suite"))
