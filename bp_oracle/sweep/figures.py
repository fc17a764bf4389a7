"""`bp-oracle verify --report DIR`: a JSON summary of each sweep and two PNGs.

    summary.json     per dtype: the options, the tolerance model, the table, every failure
                     with its replay command and verdict, and one compact row per case
    errors.png       the distribution of normwise errors per dtype against its tolerance, and of
                     error / tolerance against the line at 1
    depth_width.png  normwise error against depth and against the widest layer, per dtype

and, for `--junit FILE`, JUnit XML: a testsuite per dtype, a testcase per network (a failure with
its verdict and replay line; a SKIP where the backprop raised NotImplementedError), and one per
derivative check of a plugin.

matplotlib comes with the `plots` extra (`pip install -e ".[plots]"`).
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Sequence

import numpy as np

from ..tolerance import PRECISION_MODELS, TOLERANCES
from .. import junit
from ..judge import ERROR, FAIL, PASS, SKIP
from ..triangulation import describe as describe_witness
from .engine import SweptNetwork, Summary

FLOOR = 1e-18  # an error of exactly 0 is drawn here on the log scales
COLOURS = {"float64": "tab:blue", "float32": "tab:orange", "float16": "tab:green", "bfloat16": "tab:red"}


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError('--report and --html need matplotlib for their plots: pip install -e ".[plots]"') from None


def _number(x: float):
    """JSON has no inf or NaN: write them as strings."""
    x = float(x)
    return x if math.isfinite(x) else str(x)


def _case_row(r: SweptNetwork) -> dict:
    return {"index": r.index, "L": r.net.L, "width": max(r.net.sizes), "m": r.m,
            "activations": list(r.net.activations), "cost": r.net.cost,
            "relative_error": _number(r.relative_error), "error_over_tolerance": _number(r.margin),
            "rtol": r.tolerance.rtol, "ok": r.ok, "near_kink": r.near_kink, "beyond_dtype": r.beyond_dtype,
            **({"skipped": r.skipped} if r.skipped is not None else {})}


def _failure(r: SweptNetwork) -> dict:
    worst = r.worst
    return {"index": r.index, "replay": r.replay, "network": r.net.to_dict(), "m": r.m,
            "verdict": r.side, "error": r.error, "judge": r.verdict.to_json(r.id, r.options.candidate_name),
            "failed_checks": [c.describe() for c in r.judged if not c.ok],
            "witnesses": [describe_witness(w, r.options.candidate_name) for w in r.witnesses],
            "worst": worst.describe() if worst else None}


def _tolerance_model(dtype: str) -> dict:
    if dtype == "float64":
        t = TOLERANCES["float64"]
        return {"policy": "fixed", "rtol": t.rtol, "atol": t.atol}
    m = PRECISION_MODELS[dtype]
    return {"policy": "rtol = C·u·(L·(n+m) + κ), atol = C·u·L·(n+m)", "u": m.unit_roundoff, "C": m.safety,
            "worst_seen": m.worst_seen, "cases_measured": m.cases_measured, "margin": m.margin,
            "measured_by": m.measured_by}


def summary_dict(summary: Summary, start: int) -> dict:
    results = summary.results
    table = []
    for (act, cost), row in summary.table().items():
        w = row.worst.worst if row.worst else None
        table.append({"activation": act, "cost": cost, "cases": row.cases, "failed": row.failed,
                      "skipped": row.skipped,
                      "near_kink": row.kinks, "beyond_dtype": row.beyond,
                      "worst": w.describe() if w else None,
                      "worst_error_over_tolerance": _number(row.worst.margin) if row.worst else 0.0,
                      "by_depth": {str(L): _number(v) for L, v in sorted(row.by_depth.items())}})
    return {
        "dtype": summary.options.dtype, "seed": summary.seed, "start": start, "cases": len(results),
        "backprop": summary.options.candidate_name, "plugins": list(summary.options.plugins),
        "failed": len(summary.failures), "skipped": len(summary.skips),
        "near_kink": sum(r.near_kink for r in results),
        "beyond_dtype": sum(r.beyond_dtype for r in results),
        "worst_error_over_tolerance": _number(max((r.margin for r in results), default=0.0)),
        "tolerance": _tolerance_model(summary.options.dtype),
        "table": table,
        "failures": [_failure(r) for r in summary.failures],
        "skips": [{"index": r.index, "replay": r.replay, "reason": r.skipped} for r in summary.skips],
        "beyond": [{"index": r.index, "replay": r.replay, "crossed_kink_layers": r.crossed_kink,
                    "saturated": r.saturated} for r in results if r.beyond_dtype],
        "per_case": [_case_row(r) for r in results],
    }


def report_json(summaries: Sequence[Summary], derivative_checks=(), allow_skip: bool = False) -> dict:
    """`verify --json REPORT`: the shape of check's and grade's JSON report (tool, implementation,
    ok, judged, counts, problems, cases), a case per network and dtype, each with its verdict as
    every command writes one (judge.CaseResult.to_json) and its replay line. No timings: the same
    sweep gives the same bytes, with any --jobs."""
    who = summaries[0].options.candidate_name if summaries else "manual_bp"
    results = [r for s in summaries for r in s.results]
    problems = [f"derivative of {c.name}: {c.describe()}" for c in derivative_checks if not c.ok]
    problems += [message for s in summaries for _, message in s.run_failures(allow_skip)]
    counts = {o: sum(r.outcome == o for r in results) for o in (PASS, FAIL, ERROR, SKIP)}
    return {
        "tool": "bp-oracle verify", "implementation": who, "seed": summaries[0].seed if summaries else None,
        "dtype": [s.options.dtype for s in summaries], "plugins": list(summaries[0].options.plugins) if summaries else [],
        "allow_skip": allow_skip, "ok": not problems and not counts[FAIL] and not counts[ERROR],
        "judged": counts[PASS] + counts[FAIL], "counts": counts, "problems": problems,
        "cases": [{**r.to_json(who), "dtype": r.options.dtype, "replay": r.replay} for r in results],
    }


def write_report_json(path: str, summaries: Sequence[Summary], derivative_checks=(), allow_skip: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report_json(summaries, derivative_checks, allow_skip), f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")


def write(folder: str, summaries: Sequence[Summary], start: int, derivative_checks=()) -> list[Path]:
    """Write summary.json and the PNGs into `folder` (made if missing); return their paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"machine": platform.platform(), "python": platform.python_version(),
           "derivative_checks": [c.describe() for c in derivative_checks],
           "sweeps": [summary_dict(s, start) for s in summaries]}
    paths = [out / "summary.json", out / "timing.json"]
    # summary.json holds no timings, so the same seed and version give it byte for byte, with
    # any --jobs; how long it took goes beside it
    paths[0].write_text(json.dumps(doc, indent=1) + "\n")
    timing = [{"dtype": s.options.dtype, "cases": len(s.results), "seconds": s.seconds,
               "networks_per_second": _number(s.rate)} for s in summaries]
    paths[1].write_text(json.dumps(timing, indent=1) + "\n")
    paths.append(_errors_png(out / "errors.png", summaries))
    paths.append(_depth_width_png(out / "depth_width.png", summaries))
    return paths


def junit_suites(summaries: Sequence[Summary], derivative_checks=(), allow_skip: bool = False,
                 html: str | None = None) -> list[junit.Suite]:
    """One <testsuite> per dtype, one <testcase> per network: a failure → <failure> (the judge's
    root cause and what follows, its failed tensors, the witnesses' verdict, the replay line), the
    candidate raising → <error>, NotImplementedError → <skipped>; SKIPs not accepted are one more
    failing test, "the run as a whole", as in check's. A plugin's derivative checks are a testsuite
    of their own."""
    suites = []
    if derivative_checks:
        suites.append(junit.Suite("bp-oracle.verify.derivatives", [
            junit.Case(f"derivative of {c.name}", PASS if c.ok else FAIL,
                       "" if c.ok else c.describe(), None if c.ok else c.describe(), "DERIVATIVE")
            for c in derivative_checks]))
    for summary in summaries:
        who = summary.options.candidate_name
        # what fails the run outside any network: a failing test of its own, as in check's JUnit
        cases = [junit.whole_run(message, "SKIP") for _, message in summary.run_failures(allow_skip)]
        for r in summary.results:
            name = f"{r.id} {' '.join(r.net.activations)} {r.net.cost} sizes={','.join(map(str, r.net.sizes))} m={r.m}"
            if r.skipped is not None:
                cases.append(junit.Case(name, SKIP, f"{who} raised NotImplementedError: {r.skipped}"))
            elif not r.ok:
                lines = r.verdict.failure_lines(r.id) if r.verdict.root else []
                lines += [c.describe() for c in r.judged if not c.ok]
                lines += [f"witness: {describe_witness(w, who)}" for w in r.witnesses]
                lines += [f"verdict: {r.side}", f"replay: {r.replay}"]
                error = r.error is not None
                cases.append(junit.Case(name, ERROR if error else FAIL, f"{r.side}; replay: {r.replay}",
                                        "\n".join(lines), "ERROR" if error else "DISAGREE"))
            else:
                cases.append(junit.Case(name, PASS))
        props = [("backprop", who), ("seed", str(summary.seed)), ("dtype", summary.options.dtype),
                 ("plugins", ",".join(summary.options.plugins)), *((("html_report", html),) if html else ())]
        suites.append(junit.Suite(f"bp-oracle.verify.{summary.options.dtype}", cases, props, summary.seconds))
    return suites


def write_junit(path: str, summaries: Sequence[Summary], derivative_checks=(), allow_skip: bool = False,
                html: str | None = None) -> None:
    junit.write(path, junit_suites(summaries, derivative_checks, allow_skip, html))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _judged(summary: Summary) -> list[SweptNetwork]:
    return [r for r in summary.results if r.error is None and r.skipped is None]


DEPTHS = range(1, 6)  # the depth columns of the table: the sweep draws depth 1..5
TABLE_CAPTION = ("err/tol: the worst tensor's error ÷ its tolerance (fails above 1); L=1…5: the worst err/tol at each "
                 "depth; kinks: networks within 1e-2 of a kink")


def table_rows(summary: Summary) -> tuple[list[str], list[tuple[list[str], bool]]]:
    """The summary table of a sweep (console and HTML): its columns, and per activation × cost its
    cells as text and whether a network there failed."""
    dtype = summary.options.dtype
    rows = summary.table()
    skips = any(row.skipped for row in rows.values())
    columns = ["activation", "cost", "cases", "failed"] + (["SKIP"] if skips else []) + ["kinks"]
    if dtype != "float64":
        columns.append("beyond")
    columns += ["worst err", "tol", "err/tol"] + [f"L={L}" for L in DEPTHS]
    out = []
    for (act, cost), row in rows.items():
        w = row.worst.worst if row.worst else None
        cells = [act, cost, str(row.cases), str(row.failed)] + ([str(row.skipped)] if skips else []) + [str(row.kinks)]
        if dtype != "float64":
            cells.append(str(row.beyond))
        if row.worst is None:  # every network of the row SKIPped
            cells += ["–", "–", "–"]
        elif w is None or row.worst.error:
            cells += ["error", "", "inf"]
        else:
            c = w.comparison
            cells += [f"{c.error:.1e}", f"{c.bound:.1e}", f"{c.margin:.1e}"]
        cells += [f"{row.by_depth[L]:.0e}" if L in row.by_depth else "–" for L in DEPTHS]
        out.append((cells, bool(row.failed)))
    return columns, out


def plot_png(which: str, summaries: Sequence[Summary]) -> bytes:
    """One of the report's plots ("errors" or "depth_width") as PNG bytes (for the HTML page)."""
    import io

    buffer = io.BytesIO()
    {"errors": _errors_png, "depth_width": _depth_width_png}[which](buffer, summaries)
    return buffer.getvalue()


def _errors_png(path: Path, summaries: Sequence[Summary]) -> Path:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for s in summaries:
        dtype, colour = s.options.dtype, COLOURS.get(s.options.dtype, "black")
        results = _judged(s)
        # the last bin holds everything beyond it: a failure by 10^9 must still show up in the picture
        rel = np.clip([r.relative_error for r in results], FLOOR, 99.0)
        margin = np.clip([r.margin for r in results], FLOOR, 99.0)
        bins = np.logspace(-18, 2, 81)
        left.hist(rel, bins=bins, histtype="step", color=colour, label=f"{dtype} ({len(results)} networks)")
        rtols = [r.tolerance.rtol for r in results]
        if rtols:  # rtol grows with the network (and with κ near saturated outputs): median, 5–95 %
            lo, mid, hi = np.quantile(rtols, [0.05, 0.5, 0.95])
            left.axvline(mid, color=colour, linestyle="--", linewidth=1.2)
            if hi > lo:
                left.axvspan(lo, hi, color=colour, alpha=0.08)
        right.hist(margin, bins=bins, histtype="step", color=colour, label=dtype)
    left.set_xscale("log")
    left.set_xlabel("normwise error per network: max over tensors of max|got − ref| / max|ref|")
    left.set_ylabel("networks")
    left.set_title("normwise errors per dtype; dashed: median rtol, band: 5–95 % of rtols", fontsize=10)
    left.legend(fontsize=8, loc="upper left")
    right.axvline(1.0, color="black", linewidth=1.5)
    right.text(1.3, right.get_ylim()[1] * 0.9, "fails →", fontsize=9)
    right.set_xscale("log")
    right.set_xlabel("worst error / tolerance per network (the judged quantity; the last bin: ≥ 10²)")
    right.set_title(f"margin to tolerance (0 drawn at {FLOOR:g})", fontsize=10)
    right.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return path


def _depth_width_png(path: Path, summaries: Sequence[Summary]) -> Path:
    """Top: normwise error against depth and width (solid: worst, dashed: median rtol).
    Bottom: error / tolerance, the judged quantity, against the same, with the line at 1."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4), sharex="col")
    rng = np.random.default_rng(0)  # jitter only, so points at one depth do not hide each other
    for s in summaries:
        dtype, colour = s.options.dtype, COLOURS.get(s.options.dtype, "black")
        results = _judged(s)
        if not results:
            continue
        rel = np.clip([r.relative_error for r in results], FLOOR, 1e3)
        margin = np.clip([r.margin for r in results], FLOOR, 1e3)
        rtol = np.array([r.tolerance.rtol for r in results])
        for col, key in enumerate(("depth", "width")):
            x = np.array([r.net.L if key == "depth" else max(r.net.sizes) for r in results], dtype=float)
            jitter = x + rng.uniform(-0.25, 0.25, x.size)
            xs = np.unique(x)
            axes[0, col].scatter(jitter, rel, s=5, alpha=0.35, color=colour, label=dtype)
            axes[0, col].plot(xs, [np.max(rel[x == v]) for v in xs], color=colour, linewidth=1.2)
            axes[0, col].plot(xs, [np.median(rtol[x == v]) for v in xs], color=colour, linewidth=1.2, linestyle="--")
            axes[1, col].scatter(jitter, margin, s=5, alpha=0.35, color=colour, label=dtype)
            axes[1, col].plot(xs, [np.max(margin[x == v]) for v in xs], color=colour, linewidth=1.2)
    for col, label in enumerate(("depth L", "widest layer n")):
        axes[1, col].axhline(1.0, color="black", linewidth=1.5)
        axes[1, col].set_xlabel(label)
        for row in (0, 1):
            axes[row, col].set_yscale("log")
            axes[row, col].grid(alpha=0.3)
        axes[1, col].set_ylim(FLOOR / 3, 30)  # the line at 1 inside the frame
    axes[0, 0].set_ylabel("normwise error per network")
    axes[1, 0].set_ylabel("worst error / tolerance (fails above 1)")
    axes[0, 0].set_title("error vs depth (solid: worst; dashed: median rtol)", fontsize=10)
    axes[0, 1].set_title("error vs width", fontsize=10)
    axes[0, 0].legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return path
