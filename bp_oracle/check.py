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

from bp_spec import Layer

from .expected import Expected, expected_for_cases
from .dtypes import storage
from .judge import ERROR, FAIL, PASS, SKIP, CaseResult, Verdict, judge
from .protocol import NotTheResponse, ProtocolError, Response, dumps, encode_request, parse_line, parse_response
from .runner import (MAX_CONSECUTIVE_TIMEOUTS, MAX_LINE_BYTES, STARTUP_ATTEMPTS, GaveUp, Implementation,
                     ImplementationError, StartError)
from .suites import OracleCase, build_suite, in_dtype, select
from .tolerance import DTYPES, Tolerance, beyond_dtype, case_tolerance


@dataclass(frozen=True)
class Plan:
    """What a check asks and how it judges.

    suite, seed: which cases (a pure function of suite, seed, supports and dtype).
    include, exclude: features that select among them.
    dtype: the type every number of a request is in (each exactly representable), and the
        precision the implementation is judged at: float64's fixed tolerance, or the calibrated
        error model of a lower precision sized per case (bp_oracle.tolerance).
    supports: the features the implementation declares (activations, costs, l2, l1): every case
        is then drawn inside them, and a SKIP among them is a failure. None: everything.
    allow_skip: without `supports`, accept SKIPs (otherwise any SKIP fails the check).
    rtol, atol: a tolerance for every case instead of the per-case one (the report says so).
    witness: for every FAIL, central differences of the cost along each wrong δ or gradient
        (autodiff_ref.witnesses) say which side is wrong, as `bp-oracle verify` does (the
        finite-difference function compiles once per padded shape: slower).
    """

    suite: str = "quick"
    seed: int = 0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    dtype: str = "float64"
    supports: tuple[str, ...] | None = None
    allow_skip: bool = False
    rtol: float | None = None
    atol: float | None = None
    witness: bool = False

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")
        if (self.rtol is None) != (self.atol is None):
            raise ValueError("give both rtol and atol to override the tolerance, or neither")
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if value is not None and not (value >= 0 and np.isfinite(value)):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")

    @property
    def override(self) -> Tolerance | None:
        return None if self.rtol is None else Tolerance(float(self.rtol), float(self.atol))

    def tolerance(self, case: OracleCase, exp: Expected) -> Tolerance:
        return self.override or case_tolerance(self.dtype, case.net, case.m, exp.a[-1])


def plan_of(suite="quick", seed=0, include=(), exclude=(), dtype="float64", supports=None, allow_skip=False,
            rtol=None, atol=None, witness=False) -> Plan:
    """A `Plan` from the loose arguments of the public functions."""
    if isinstance(supports, str):
        supports = supports.split(",")
    return Plan(suite, int(seed), tuple(include), tuple(exclude), dtype,
                None if supports is None else tuple(sorted(str(s).strip() for s in supports if str(s).strip())),
                bool(allow_skip), rtol, atol, bool(witness))


@dataclass
class CheckedCase(CaseResult):
    """A suite's case judged (check, grade, the pytest fixture): the case itself, as asked."""

    case: OracleCase | None = None

    @classmethod
    def of(cls, case: OracleCase, verdict: Verdict, seconds: float = 0.0,
           tolerance: Tolerance | None = None) -> "CheckedCase":
        return cls(case.id, case.net, case.m, verdict, tolerance, seconds, case=case)


@dataclass
class Report:
    suite: str
    seed: int
    implementation: str
    results: list[CheckedCase] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    not_asked: dict[str, str] = field(default_factory=dict)  # case id → why the dtype cannot judge it
    problems: list[str] = field(default_factory=list)  # what fails the run outside any case (grade's stray lines)
    tool: str = "check"  # or "grade"

    def count(self, outcome: str) -> int:
        return sum(r.verdict.outcome == outcome for r in self.results)

    @property
    def judged(self) -> int:
        """Cases whose answer was compared with the reference's (PASS or FAIL)."""
        return self.count(PASS) + self.count(FAIL)

    @property
    def nothing_judged(self) -> str | None:
        """The run's problem when cases were asked and none could be judged, or None."""
        if self.judged == 0 and self.results:
            return "nothing was judged: no case got an answer that could be compared with the reference"
        return None

    @property
    def skip_problem(self) -> str | None:
        """Why the SKIPs (answers 'unsupported') fail the check, or None if they do not."""
        skips = self.count(SKIP)
        if not skips:
            return None
        if self.plan.supports is not None:
            return (f"{skips} case(s) inside the declared features (--supports {','.join(self.plan.supports)}) "
                    f"were SKIPped: what is declared must be answered")
        if self.plan.allow_skip:
            return None
        return (f"{skips} case(s) were SKIPped (answered 'unsupported'): declare what the implementation "
                f"supports with --supports FEATURE[,FEATURE…] (e.g. --supports sigmoid,quadratic) to be asked "
                f"only about that, or accept the skips with --allow-skip")

    @property
    def ok(self) -> bool:
        """Conforms: at least one case judged, every case judged and right (PASS), but for SKIPs
        accepted with `allow_skip`. 'Conforms' never covers a case it did not ask about."""
        return (self.judged > 0 and not any(r.verdict.outcome in (FAIL, ERROR) for r in self.results)
                and self.skip_problem is None and not self.problems)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def by_outcome(self, outcome: str) -> list[CheckedCase]:
        return [r for r in self.results if r.verdict.outcome == outcome]

    def summary(self) -> str:
        """One line: how many cases, what was asked and how it was judged, the counts, the verdict."""
        counts = ", ".join(f"{self.count(o)} {o}" for o in (PASS, FAIL, ERROR, SKIP))
        verdict = "conforms" if self.ok else "does NOT conform"
        plan, how = self.plan, [self.plan.dtype]
        if plan.override:
            how.append(f"tolerance OVERRIDDEN to rtol {plan.rtol:g}, atol {plan.atol:g}")
        if plan.supports is not None:
            how.append(f"supports {','.join(plan.supports)}")
        if self.not_asked:
            how.append(f"{len(self.not_asked)} case(s) {plan.dtype} cannot judge not asked")
        return (f"{self.tool}: {len(self.results)} cases of suite {self.suite!r} (seed {self.seed}, "
                f"{'; '.join(how)}): {counts}; {self.judged} judged: {verdict}")

    __str__ = summary


@lru_cache(maxsize=8)
def _suite(name: str, seed: int, supports, dtype: str) -> tuple[OracleCase, ...]:
    return tuple(in_dtype(build_suite(name, seed, supports), dtype))


_expected_cache: dict[tuple, Expected] = {}


def _key(plan: Plan, case: OracleCase) -> tuple:
    return (plan.suite, plan.seed, plan.supports, plan.dtype, case.id)


def expected(case: OracleCase, plan: Plan) -> Expected:
    """The reference's answers, computed once per case and process."""
    if _key(plan, case) not in _expected_cache:
        prepare_expected([case], plan)
    return _expected_cache[_key(plan, case)]


def prepare_expected(cases: list[OracleCase], plan: Plan) -> None:
    """Compute the answers of every case not yet cached, in padded batches."""
    missing = [c for c in cases if _key(plan, c) not in _expected_cache]
    for case, exp in zip(missing, expected_for_cases(missing)):
        _expected_cache[_key(plan, case)] = exp


def selected_cases(plan: Plan) -> list[OracleCase]:
    """The suite's cases the plan's --include/--exclude select (an unknown feature is a ValueError),
    before any answer is computed."""
    return select(list(_suite(plan.suite, plan.seed, plan.supports, plan.dtype)), list(plan.include),
                  list(plan.exclude))


def plan_cases(plan: Plan) -> tuple[list[OracleCase], dict[str, str]]:
    """The cases a plan asks about, with their answers computed, and those of the suite its dtype
    cannot judge (id → why: bp_oracle.tolerance.beyond_dtype), which are not asked."""
    cases = selected_cases(plan)
    prepare_expected(cases, plan)
    asked, not_asked = [], {}
    for case in cases:
        why = beyond_dtype(plan.dtype, case.net, expected(case, plan))
        if why:
            not_asked[case.id] = why
        else:
            asked.append(case)
    return asked, not_asked


def verdict_for(case: OracleCase, exp: Expected, response: Response, tol: Tolerance | None = None) -> Verdict:
    if response.kind == "unsupported":
        return Verdict(SKIP, message=f"unsupported: {response.reason}")
    if response.kind == "error":
        return Verdict(ERROR, message=f"the implementation reported an error: {response.reason}")
    return judge(case, exp, response, tol or case_tolerance("float64", case.net, case.m, exp.a[-1]))


def run_check(command: str, suite: str = "quick", seed: int = 0, timeout: float = 30.0,
              include: Iterable[str] = (), exclude: Iterable[str] = (),
              on_result: Optional[Callable[[CheckedCase], None]] = None, cwd: Optional[str] = None,
              max_line_bytes: int = MAX_LINE_BYTES, on_start: Optional[Callable[[int], None]] = None,
              **plan) -> Report:
    """Ask the command about every case of the suite (keyword arguments of `Plan`: dtype,
    supports, allow_skip, rtol, atol).

    Raises runner.StartError when it cannot start: not found, or, before it has read any request,
    it exits without reading the first one on STARTUP_ATTEMPTS starts in a row. Raises
    runner.GaveUp (carrying the report so far) after MAX_CONSECUTIVE_TIMEOUTS timeouts in a row
    with cases left to ask. A line that is not the response to its request is that case's ERROR,
    and a fresh process answers the next case. `on_start(n)` is told how many cases will be asked.
    """
    plan = plan_of(suite, seed, include, exclude, **plan)
    impl = Implementation(command, timeout=timeout, cwd=cwd, max_line_bytes=max_line_bytes)
    started = False  # the program has read a request: from then on a death is that case's ERROR
    timeouts: list[str] = []
    try:
        impl.start()  # before any answer is computed: a program that is not there is told at once
        cases, not_asked = plan_cases(plan)
        report = Report(suite, seed, command, plan=plan, not_asked=not_asked)
        if on_start:
            on_start(len(cases))
        for index, case in enumerate(cases):
            exp = expected(case, plan)
            request = dumps(encode_request(case.id, case.net, case.params, case.x, case.y, plan.dtype))
            attempts = 0
            while True:
                t0 = time.perf_counter()
                timed_out = False
                try:
                    line = impl.ask(request)
                    started = True
                    response = parse_response(parse_line(line), case.id, case.net, case.m)
                    verdict = verdict_for(case, exp, response, plan.tolerance(case, exp))
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
            result = CheckedCase.of(case, verdict, time.perf_counter() - t0, plan.tolerance(case, exp))
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
    if plan.witness:
        add_witnesses(report)
    return report


WITNESSED = ("delta", "dC/dW", "dC/db")  # the derivatives finite differences of the cost can witness


def add_witnesses(report: Report) -> None:
    """Finite differences along every wrong δ and gradient of every FAIL, all at once (grouped by
    padded shape), and which side they say is wrong: the same witness `bp-oracle verify` uses."""
    from autodiff_ref.witnesses import disagreement_witnesses

    from .triangulation import which_side

    items, owners = [], []
    for r in report.by_outcome(FAIL):
        case = r.case
        for f in r.verdict.findings:
            if (f.check.quantity in WITNESSED and f.got is not None and f.expected is not None
                    and f.got.shape == f.expected.shape):
                items.append(((case.net, case.params, case.x, case.y), f.check.quantity, f.check.layer,
                              f.got, f.expected))
                owners.append(r.verdict)
    for verdict, witness in zip(owners, disagreement_witnesses(items) if items else []):
        verdict.witnesses.append(witness)
    for r in report.by_outcome(FAIL):
        r.verdict.side = which_side(r.verdict.witnesses, "the implementation")


def _to_wire(value):
    """A Python implementation's answer as the JSON it would have sent."""
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return value.tolist()
    return value


def _python_response(fn, case: OracleCase, dtype: str = "float64") -> Response:
    cast = (lambda v: v.copy()) if dtype == "float64" else (lambda v: v.astype(storage(dtype)))  # noqa: E731
    try:
        out = fn(case.net, [Layer(cast(W), cast(b)) for W, b in case.params], cast(case.x), cast(case.y))
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
                         include: Iterable[str] = (), exclude: Iterable[str] = (), *, dtype: str = "float64",
                         supports: Iterable[str] | str | None = None, allow_skip: bool = False,
                         rtol: float | None = None, atol: float | None = None, witness: bool = False) -> Report:
    """Judge a Python backprop `fn(net, params, x, y)` on a suite.

    `fn` gets a `bp_spec.Network` (`.sizes`, `.activations`, `.cost`, `.l2`, `.l1`), a list of
    `Layer(W, b)` (W is (n_l, n_{l−1})), x (m, n_0) and y (m, n_L), all arrays in `dtype`; it
    returns a list of (∂C/∂W, ∂C/∂b) pairs, or a dict with "grads" and optionally "cost", "z",
    "a", "deltas". Raising NotImplementedError is a SKIP for that case (see `Plan` for how SKIPs,
    `supports` and `allow_skip` decide the verdict, and what `witness` adds); any other exception
    is an ERROR for that case.
    """
    plan = plan_of(suite, seed, include, exclude, dtype, supports, allow_skip, rtol, atol, witness)
    cases, not_asked = plan_cases(plan)
    report = Report(suite, seed, getattr(fn, "__qualname__", repr(fn)), plan=plan, not_asked=not_asked)
    for case in cases:
        exp = expected(case, plan)
        t0 = time.perf_counter()
        try:
            verdict = verdict_for(case, exp, _python_response(fn, case, plan.dtype), plan.tolerance(case, exp))
        except ProtocolError as e:
            verdict = Verdict(ERROR, message=str(e))
        except Exception as e:  # noqa: BLE001  (their bug, reported as the case's ERROR)
            verdict = Verdict(ERROR, message=f"raised {type(e).__name__}: {e}")
        report.results.append(CheckedCase.of(case, verdict, time.perf_counter() - t0, plan.tolerance(case, exp)))
    if plan.witness:
        add_witnesses(report)
    return report


def failure_lines(report: Report) -> list[str]:
    """Root causes first, each FAIL with what follows from it, then ERRORs."""
    lines = []
    for r in report.by_outcome(FAIL):
        lines += r.verdict.failure_lines(r.case.id)
        lines += [f"     {line}" for line in r.verdict.witness_lines("the implementation")]
    for r in report.by_outcome(ERROR):
        lines.append(f"ERROR {r.case.id}: {r.verdict.message}")
    lines += [f"ERROR {p}" for p in report.problems]
    if report.skip_problem:
        lines.append(f"SKIP {report.skip_problem}")
    if report.nothing_judged:
        lines.append(report.nothing_judged)
    return lines


def assert_backprop_correct(fn: Callable, suite: str = "quick", seed: int = 0, **kwargs) -> Report:
    """For pytest: raise AssertionError naming every root cause unless `fn` passes the suite."""
    report = check_implementation(fn, suite=suite, seed=seed, **kwargs)
    if not report.ok:
        raise AssertionError("backprop does not conform:\n" + "\n".join(failure_lines(report)))
    return report
