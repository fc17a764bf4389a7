"""Soak: a long seeded sweep of manual_bp against the float64 jax.grad reference, across dtypes,
that must end with zero failures (a false failure here means a tolerance or a reference bug).

    python scripts/soak.py                      # 100,000 float64 + 10,000 each in float32, float16, bfloat16
    python scripts/soak.py --cases 2000 --low 500 --seed 3

Prints one line per dtype (networks, failures, seconds, networks/s) and exits 1 on any failure.
Each dtype runs in its own `bp-oracle verify` process, so the numbers are what a user sees.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time


def run(dtype: str, cases: int, seed: int) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bp_oracle.cli", "verify", "--cases", str(cases),
                           "--seed", str(seed), "--dtype", dtype, "--no-progress"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    last = [line for line in proc.stdout.splitlines() if "networks (indices" in line]
    return proc.returncode, seconds, (last[-1] if last else proc.stdout[-400:] + proc.stderr[-400:])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=100_000, help="float64 networks (default 100,000)")
    p.add_argument("--low", type=int, default=10_000, help="networks per low precision (default 10,000)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    plan = [("float64", args.cases)] + [(d, args.low) for d in ("float32", "float16", "bfloat16")]
    total, failed_runs = 0, 0
    for dtype, n in plan:
        code, seconds, line = run(dtype, n, args.seed)
        total += n
        failed_runs += code != 0
        print(f"{dtype:9s} {n:>7,} networks  exit {code}  {seconds:7.1f} s  {n / seconds:6.0f} networks/s  | {line.strip()}",
              flush=True)
    print(f"soak: {total:,} networks, seed {args.seed}: {'no failures' if not failed_runs else f'{failed_runs} dtype(s) FAILED'}")
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
