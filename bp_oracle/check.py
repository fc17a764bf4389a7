"""Run a suite against an implementation and collect the verdicts into a report.

Two ways in, one judge: `run_check` drives an external command over the protocol;
`check_implementation` calls a Python function directly (its answers go through the same
parsing, so a Python user gets the same errors a C user would).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Optional

import numpy as np

from .tolerance import tolerance_for
from .expected import Expected, expected_for_cases
from .judge import ERROR, FAIL, PASS, SKIP, Verdict, judge
from .protocol import NotTheResponse, ProtocolError, Response, dumps, encode_request, parse_line, parse_response
from .runner import (MAX_CONSECUTIVE_TIMEOUTS, MAX_LINE_BYTES, STARTUP_ATTEMPTS, GaveUp, Implementation,
                     ImplementationError, StartError)
from .suites import OracleCase, build_suite, select


@dataclass
class CaseResult:
    case: OracleCase
    verdict: Verdict
    seconds: float = 0.0


@dataclass
class Report:
    suite: str
    seed: int
    implementation: str
    results: list[CaseResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(r.verdict.outcome == outcome for r in self.results)

    @property
    def ok(self) -> bool:
        """Nothing FAILed or ERRORed (SKIPs are allowed: an implementation may not support everything)."""
        return not any(r.verdict.outcome in (FAIL, ERROR) for r in self.results)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def by_outcome(self, outcome: str) -> list[CaseResult]:
        return [r for r in self.results if r.verdict.outcome == outcome]


@lru_cache(maxsize=8)
def _suite(name: str, seed: int) -> tuple[OracleCase, ...]:
    return tuple(build_suite(name, seed))


_expected_cache: dict[tuple[str, int, str], Expected] = {}


def expected(case: OracleCase, suite: str, seed: int) -> Expected:
    """The reference's answers, computed once per case and process."""
    key = (suite, seed, case.id)
    if key not in _expected_cache:
        prepare_expected([case], suite, seed)
    return _expected_cache[key]


def prepare_expected(cases: list[OracleCase], suite: str, seed: int) -> None:
    """Compute the answers of every case not yet cached, in padded batches."""
    missing = [c for c in cases if (suite, seed, c.id) not in _expected_cache]
    for case, exp in zip(missing, expected_for_cases(missing)):
        _expected_cache[(suite, seed, case.id)] = exp


def cases_for(suite: str, seed: int, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[OracleCase]:
    cases = select(list(_suite(suite, seed)), list(include), list(exclude))
    prepare_expected(cases, suite, seed)
    return cases


def verdict_for(case: OracleCase, exp: Expected, response: Response, tol=None) -> Verdict:
    if response.kind == "unsupported":
        return Verdict(SKIP, message=f"unsupported: {response.reason}")
    if response.kind == "error":
        return Verdict(ERROR, message=f"the implementation reported an error: {response.reason}")
    return judge(case, exp, response, tol or tolerance_for("float64"))


def run_check(command: str, suite: str = "quick", seed: int = 0, timeout: float = 30.0,
              include: Iterable[str] = (), exclude: Iterable[str] = (),
              on_result: Optional[Callable[[CaseResult], None]] = None, cwd: Optional[str] = None,
              max_line_bytes: int = MAX_LINE_BYTES) -> Report:
    """Ask the command about every case of the suite.

    Raises runner.StartError when it cannot start: not found, or, before it has read any request,
    it exits without reading the first one on STARTUP_ATTEMPTS starts in a row. Raises
    runner.GaveUp (carrying the report so far) after MAX_CONSECUTIVE_TIMEOUTS timeouts in a row
    with cases left to ask. A line that is not the response to its request is that case's ERROR,
    and a fresh process answers the next case.
    """
    cases = cases_for(suite, seed, include, exclude)
    report = Report(suite, seed, command)
    impl = Implementation(command, timeout=timeout, cwd=cwd, max_line_bytes=max_line_bytes)
    started = False  # the program has read a request: from then on a death is that case's ERROR
    timeouts: list[str] = []
    try:
        impl.start()
        for index, case in enumerate(cases):
            exp = expected(case, suite, seed)
            request = dumps(encode_request(case.id, case.net, case.params, case.x, case.y))
            attempts = 0
            while True:
                t0 = time.perf_counter()
                timed_out = False
                try:
                    line = impl.ask(request)
                    started = True
                    response = parse_response(parse_line(line), case.id, case.net, case.m)
                    verdict = verdict_for(case, exp, response)
                except ImplementationError as e:
                    if not started and e.before_reading:
                        attempts += 1
                        if attempts < STARTUP_ATTEMPTS:
                            continue  # a fresh process, the same first request
                        raise StartError(f"cannot start {command!r}: on {attempts} starts in a row it {e}") from None
                    started, timed_out = True, e.timed_out
                    verdict = Verdict(ERROR, message=str(e))
                except NotTheResponse as e:
                    impl.kill()  # out of step with its requests: a fresh process for the next case
                    verdict = Verdict(ERROR, message=f"{e}; the next case goes to a fresh process")
                except ProtocolError as e:
                    verdict = Verdict(ERROR, message=str(e))
                break
            result = CaseResult(case, verdict, time.perf_counter() - t0)
            report.results.append(result)
            if on_result:
                on_result(result)
            timeouts = timeouts + [case.id] if timed_out else []
            left = len(cases) - index - 1
            if len(timeouts) >= MAX_CONSECUTIVE_TIMEOUTS and left:
                raise GaveUp(f"gave up on {command!r}: {len(timeouts)} requests in a row got no answer within "
                             f"{timeout:g} s ({', '.join(timeouts)}), so {left} more case(s) were not asked; "
                             f"if it is only slow, raise --timeout", report)
    finally:
        impl.close()
    return report


def _to_wire(value):
    """A Python implementation's answer as the JSON it would have sent."""
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return value.tolist()
    return value


def _python_response(fn, case: OracleCase) -> Response:
    try:
        out = fn(case.net, [p for p in case.params], case.x.copy(), case.y.copy())
    except NotImplementedError as e:
        return Response(case.id, "unsupported", reason=str(e) or "NotImplementedError")
    answer = dict(out) if isinstance(out, dict) else {"grads": out}
    grads = answer.get("grads")
    if isinstance(grads, (list, tuple)) and all(isinstance(g, (list, tuple)) and len(g) == 2 for g in grads):
        answer["grads"] = [{"W": W, "b": b} for W, b in grads]  # (dW, db) pairs, e.g. manual_bp's Layer
    elif not isinstance(grads, (list, tuple)):
        raise ProtocolError("the function must return a list of (dW, db) pairs or a dict with 'grads'")
    return parse_response({"id": case.id, **_to_wire(answer)}, case.id, case.net, case.m)


def check_implementation(fn: Callable, suite: str = "quick", seed: int = 0,
                         include: Iterable[str] = (), exclude: Iterable[str] = ()) -> Report:
    """Judge a Python backprop `fn(net, params, x, y)` on a suite.

    `fn` gets a `bp_spec.Network`, a list of `Layer(W, b)` (W is (n_l, n_{l−1})), x (m, n_0)
    and y (m, n_L); it returns a list of (∂C/∂W, ∂C/∂b) pairs, or a dict with "grads" and
    optionally "cost", "z", "a", "deltas". Raising NotImplementedError skips a case; any other
    exception is an ERROR for that case.
    """
    report = Report(suite, seed, getattr(fn, "__qualname__", repr(fn)))
    for case in cases_for(suite, seed, include, exclude):
        exp = expected(case, suite, seed)
        t0 = time.perf_counter()
        try:
            verdict = verdict_for(case, exp, _python_response(fn, case))
        except ProtocolError as e:
            verdict = Verdict(ERROR, message=str(e))
        except Exception as e:  # noqa: BLE001  (their bug, reported as the case's ERROR)
            verdict = Verdict(ERROR, message=f"raised {type(e).__name__}: {e}")
        report.results.append(CaseResult(case, verdict, time.perf_counter() - t0))
    return report


def failure_lines(report: Report) -> list[str]:
    """Root causes first, each FAIL with what follows from it, then ERRORs."""
    lines = []
    for r in report.by_outcome(FAIL):
        root = r.verdict.root
        lines.append(f"FAIL {root.line(r.case.id)}")
        followers = [f for f in r.verdict.findings if not f.root]
        if followers:
            names = ", ".join(f"{f.check.equation} {f.check.quantity} at layer {f.check.layer}"
                              if f.check.layer else f"{f.check.equation} {f.check.quantity}" for f in followers)
            lines.append(f"     follows from it: {names}")
    for r in report.by_outcome(ERROR):
        lines.append(f"ERROR {r.case.id}: {r.verdict.message}")
    return lines


def assert_backprop_correct(fn: Callable, suite: str = "quick", seed: int = 0, **kwargs) -> Report:
    """For pytest: raise AssertionError naming every root cause unless `fn` passes the suite."""
    report = check_implementation(fn, suite=suite, seed=seed, **kwargs)
    if not report.ok:
        raise AssertionError("backprop disagrees with the reference:\n" + "\n".join(failure_lines(report)))
    return report
