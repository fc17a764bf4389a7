"""The conformance oracle: suites, the protocol bp-oracle/1, the judge, vectors and reports."""

from .check import (Report, assert_backprop_correct, check_implementation, failure_lines,
                    run_check)
from .judge import ERROR, FAIL, PASS, SKIP

__all__ = ["ERROR", "FAIL", "PASS", "Report", "SKIP", "assert_backprop_correct",
           "check_implementation", "failure_lines", "run_check"]
