#!/usr/bin/env python3
"""What each suite costs and what it catches: a benchmark, not a test.

For each suite (quick, default, full):

- times `bp-oracle check --impl "python3 scripts/examples/numpy_backprop.py" --suite S` end to
  end, as a user runs it (the console script in its own process, with the CLI's persistent jax
  compilation cache): the median of --runs runs for quick and default, one run for full;
- counts the catalogued bugs of scripts/examples/buggy_backprop.py the suite catches (at least
  one FAIL), each run with the flags the catalogue test gives it (tests/oracle/
  test_oracle_external.py). These runs are in this process (the reference's answers computed
  once per suite) and stop at a bug's first FAIL, so only a bug that is never caught costs a whole
  suite.

Prints a markdown table.

    python scripts/bench_suites.py [--runs 3] [--suites quick,default,full] [--python python3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "scripts" / "examples"


def bp_oracle_command() -> list[str]:
    """The console script next to this interpreter (the venv's), else the module."""
    script = Path(sys.executable).parent / "bp-oracle"
    if script.exists():
        return [str(script)]
    found = shutil.which("bp-oracle")
    return [found] if found else [sys.executable, "-m", "bp_oracle.cli"]


def time_cli(suite: str, impl: str) -> tuple[float, int]:
    """Seconds for one `bp-oracle check` of the correct example, end to end, and its exit code."""
    t0 = time.perf_counter()
    proc = subprocess.run([*bp_oracle_command(), "check", "--impl", impl, "--suite", suite],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        print(f"warning: {suite}: exit {proc.returncode}: " + " | ".join(tail), file=sys.stderr)
    return seconds, proc.returncode


def catalogue() -> dict:
    out = subprocess.run([sys.executable, str(EXAMPLES / "buggy_backprop.py"), "--list"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def flags_for(bug: dict) -> str:
    """The flags the catalogue test uses: the trace part the blame needs."""
    if bug["equation"] == "forward":
        return "--with-forward"
    if bug["equation"] in ("BP1", "BP2") or bug.get("blame_needs_deltas"):
        return "--with-deltas"
    return ""


class Caught(Exception):
    def __init__(self, case_id: str):
        self.case_id = case_id


def first_fail(name: str, bug: dict, suite: str) -> str | None:
    """The id of the first case of `suite` the bug FAILs, or None if it never does."""
    from bp_oracle import FAIL, run_check

    def stop(result):
        if result.verdict.outcome == FAIL:
            raise Caught(result.case.id)

    command = f"{sys.executable} {EXAMPLES / 'buggy_backprop.py'} --bug {name} {flags_for(bug)}"
    try:
        run_check(command, suite, on_result=stop, dtype=bug["needs"].get("dtype", "float64"))
    except Caught as c:
        return c.case_id
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs for quick and default (median)")
    parser.add_argument("--suites", default="quick,default,full")
    parser.add_argument("--python", default="python3", help="the interpreter in the --impl command")
    args = parser.parse_args(argv)
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    impl = f"{args.python} scripts/examples/numpy_backprop.py"

    from autodiff_ref.cache import enable_persistent_cache  # as the CLI does, for the bug runs
    from bp_oracle.suites import build_suite

    enable_persistent_cache()
    bugs = catalogue()
    rows = []
    for suite in suites:
        n_cases = len(build_suite(suite))
        runs = 1 if suite == "full" else max(1, args.runs)
        timings, codes = [], set()
        for _ in range(runs):
            seconds, code = time_cli(suite, impl)
            timings.append(seconds)
            codes.add(code)
        print(f"{suite}: {n_cases} cases, check {', '.join(f'{t:.1f}' for t in timings)} s", file=sys.stderr)
        t0 = time.perf_counter()
        firsts = {name: first_fail(name, bug, suite) for name, bug in bugs.items()}
        bug_seconds = time.perf_counter() - t0
        missed = sorted(name for name, first in firsts.items() if first is None)
        positions = {name: int(first.rsplit("-", 1)[1]) + 1 for name, first in firsts.items() if first is not None}
        latest = max(positions, key=positions.get) if positions else None
        rows.append((suite, n_cases, timings, codes, len(bugs) - len(missed), len(bugs), missed,
                     statistics.median(positions.values()) if positions else None,
                     f"{positions[latest]} ({latest})" if latest else None, bug_seconds))

    print("| suite | cases | `bp-oracle check` of numpy_backprop.py, wall s (median of runs) | exit | "
          "bugs caught | a bug's first FAIL at request: median; latest (bug) | not caught | bug runs, s |")
    print("|---|---|---|---|---|---|---|---|")
    for suite, n, timings, codes, caught, total, missed, median_pos, latest, bug_s in rows:
        times = f"{statistics.median(timings):.1f} ({len(timings)} run{'s' if len(timings) > 1 else ''}: " \
                f"{', '.join(f'{t:.1f}' for t in timings)})"
        first = f"{median_pos:g}; {latest}" if median_pos is not None else "–"
        print(f"| {suite} | {n} | {times} | {'/'.join(map(str, sorted(codes)))} | {caught}/{total} | {first} | "
              f"{', '.join(missed) or '–'} | {bug_s:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
