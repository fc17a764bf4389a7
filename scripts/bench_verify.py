"""How many random networks a second `bp-oracle verify` checks, against one jit per network.

    python scripts/bench_verify.py                     # both ways, side by side, in one run
    python scripts/bench_verify.py --cases 5000 --baseline 30
    python scripts/bench_verify.py --calibrate         # the lower-precision tolerance table

Both ways check the same kind of case (`sweep_case`) end to end: draw the case, run manual_bp,
compute the reference, judge every tensor. The old way computes the reference with
`reference_trace`, one `jax.jit` per network (each new shape compiles); the new way is
`run_sweep`, the padded reference, many networks per compiled call. jax's persistent compilation
cache is left off, so "cold" includes every compilation; "warm" is a further sweep of new cases in
the same process (what a run with the CLI's persistent cache sees), twice: with the collector as
`bp-oracle verify` tunes it for its own process (bp_oracle/sweep/collector.py), and as a library
call leaves it, alternating. The old way runs in two halves, before and after the new, so that a
change of load on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import numpy as np

import manual_bp as mb
from bp_oracle.agreement import agreement
from autodiff_ref.reference import reference_trace
from bp_oracle.tolerance import PRECISION_MODELS, TOLERANCES, growth
from bp_oracle.sweep.collector import collector_tuned_for_sweeping
from bp_oracle.sweep.engine import SweepOptions, run_sweep, sweep_case


def one_jit_per_network(seed: int, indices) -> tuple[int, float]:
    """The sweep as it was: `reference_trace` (one jit per network shape) per case."""
    start, failed = time.perf_counter(), 0
    for index in indices:
        case = sweep_case(seed, index)
        checks = agreement(mb.backprop_trace(*case), reference_trace(*case), TOLERANCES["float64"])
        failed += not all(c.ok for c in checks)
    return failed, time.perf_counter() - start


def bench(args) -> None:
    half = args.baseline // 2
    # indices far from the padded sweep's, so no network is compiled twice by chance
    failed_a, t_a = one_jit_per_network(args.seed, range(10**6, 10**6 + half))
    cold = run_sweep(args.seed, range(args.cases), jobs=args.jobs)
    warm = {"as the CLI": [], "as a library": []}  # alternating, so that a change of load hits both
    for k in range(args.warm):
        for way in ("as the CLI", "as a library")[::1 if k % 2 == 0 else -1]:
            with collector_tuned_for_sweeping() if way == "as the CLI" else contextlib.nullcontext():
                warm[way].append(run_sweep(args.seed + 1 + len(warm[way]), range(args.cases), jobs=args.jobs))
    failed_b, t_b = one_jit_per_network(args.seed, range(10**6 + half, 10**6 + args.baseline))
    old = args.baseline / (t_a + t_b)
    print(f"one jit per network : {args.baseline:6d} networks in {t_a + t_b:7.1f} s = {old:8.2f} networks/s "
          f"({failed_a + failed_b} failed)")
    rows = [("padded, cold", cold)] + [(f"padded, warm, {way}", max(sweeps, key=lambda s: s.rate))
                                       for way, sweeps in warm.items()]
    for name, s in rows:
        print(f"{name:28s}: {len(s.results):6d} networks in {s.seconds:7.1f} s = {s.rate:8.1f} networks/s "
              f"({len(s.failures)} failed) = {s.rate / old:6.0f}× one jit per network")
    for way, sweeps in warm.items():
        print(f"warm {way}, every sweep: {', '.join(f'{s.rate:.0f}' for s in sweeps)} networks/s")
    print(f"(jobs={args.jobs}, seed {args.seed}; cold includes compiling the padded reference once)")


def model_ratio(r, u: float) -> float:
    """The case's worst error / (u·((g + κ)·max|ref| + g)): the error in units of the model."""
    g = growth(r.net.L, max(r.net.sizes), r.m)
    worst = 0.0
    for c in r.judged:
        scale = (c.comparison.bound - r.tolerance.atol) / r.tolerance.rtol
        worst = max(worst, c.comparison.error / (u * ((g + r.kappa) * scale + g)))
    return worst if r.error is None else float("inf")


def calibrate(args) -> None:
    """The worst model ratio of manual_bp per dtype, over `--seeds` sweeps of `--cases`; and for
    float64, the worst error / tolerance under its fixed policy."""
    worst, where, n = 0.0, "", 0
    for seed in range(1, args.seeds + 1 if args.only in (None, "float64") else 1):
        s = run_sweep(seed, range(args.cases), jobs=args.jobs)
        n += len(s.results)
        r = max(s.results, key=lambda r: r.margin)
        if r.margin > worst:
            worst, where = r.margin, r.replay
    t = TOLERANCES["float64"]
    if n:
        print(f"float64   fixed rtol {t.rtol:g}, atol {t.atol:g}: {n} networks, worst error/tolerance {worst:.2e} "
              f"at {where} ({1 / worst:.0f}× margin)", flush=True)
    for dtype, model in PRECISION_MODELS.items():
        if args.only not in (None, dtype):
            continue
        worst, n, beyond, where = 0.0, 0, 0, ""
        for seed in range(1, args.seeds + 1):
            s = run_sweep(seed, range(args.cases), SweepOptions(dtype=dtype), jobs=args.jobs)
            n += len(s.results)
            beyond += sum(r.beyond_dtype for r in s.results)
            failed = [r.replay for r in s.failures]
            if failed:
                print(f"  {dtype}: {len(failed)} failures at C = {model.safety:g}, e.g. {failed[0]}")
            for r in s.results:
                ratio = model_ratio(r, model.unit_roundoff)
                if ratio > worst:
                    worst, where = ratio, r.replay
        print(f"{dtype:9s} u = 2^{int(np.log2(model.unit_roundoff))}: {n} networks ({beyond} beyond the dtype), "
              f"worst ratio {worst:.3f} at {where}; C = {model.safety:g} is {model.safety / worst:.1f}× that "
              f"(needs ≥ {10 * worst:.2f})", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=2000, help="networks per padded sweep (default 2000)")
    p.add_argument("--baseline", type=int, default=20, help="networks for one-jit-per-network (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--warm", type=int, default=3, help="warm sweeps each way, best shown (default 3)")
    p.add_argument("--calibrate", action="store_true", help="measure the lower-precision tolerance model instead")
    p.add_argument("--seeds", type=int, default=5, help="with --calibrate: sweeps per dtype (default 5)")
    p.add_argument("--only", choices=["float64", *PRECISION_MODELS], help="with --calibrate: one dtype")
    args = p.parse_args(argv)
    if args.calibrate:
        calibrate(args)
    else:
        bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
