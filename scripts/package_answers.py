"""Write the reference's answers that ship with bp-oracle (bp_oracle/answers/).

The quick suite at seed 0, in float64 and float32 (whose cases are the float64 ones rounded), is
what `check_implementation(fn)` asks by default; with its answers
shipped, a fresh process asks jax nothing (bp_oracle/answer_cache.py). Rerun this after editing
autodiff_ref/, bp_spec/ or bp_oracle/expected.py: the file is named by a digest of that source,
and tests/oracle/test_answer_cache.py fails, naming this script, while it is stale.

    python scripts/package_answers.py
"""

from __future__ import annotations

import sys
import time

from bp_oracle import answer_cache
from bp_oracle.expected import reference_answers  # computes now: reads nothing kept or shipped
from bp_oracle.suites import build_suite, in_dtype

SHIPPED = [("quick", 0, "float64"), ("quick", 0, "float32")]  # (suite, seed, dtype)


def shipped_cases() -> list:
    return [case for suite, seed, dtype in SHIPPED for case in in_dtype(build_suite(suite, seed), dtype)]


def main() -> int:
    start = time.perf_counter()
    cases = shipped_cases()
    path = answer_cache.write_packaged(cases, reference_answers(cases))
    print(f"{path.relative_to(answer_cache.PACKAGED.parents[1])}: {len(cases)} cases, "
          f"{path.stat().st_size / 1024:.0f} KiB, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
