"""Benchmark: manual_bp's `backprop` side by side with `jax.jit(jax.grad)` of the reference.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_backprop.py [--large] [--threads 1]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_backprop.py --workspace [--baseline DIR]

One process, everything interleaved (manual_bp, jax, and a big float64/float32 np.matmul that
measures this machine's GEMM peak under the same load), round after round; medians and the
per-round ratio manual/jax are reported, so a neighbour's load slows both sides alike. Prints
markdown tables (the ones in docs/benchmarks.md) and writes the finite-difference plot. `--threads 1`
gives both sides (and the GEMM peak) one thread: the fair comparison when other jobs hold the
cores, where OpenBLAS's threaded products stall waiting for a descheduled thread. Needs
matplotlib for the plot and threadpoolctl for the BLAS report and `--threads`.

What is measured, per network (sigmoid layers, cross-entropy cost: Nielsen's network2.py):
- time of one `manual_bp.backprop` (input checks included) and of one call of the jitted
  `jax.grad` of `autodiff_ref.reference.mean_cost` on device-resident inputs; jax's first call
  (trace + compile) is reported apart;
- GFLOP/s counting the matrix products only: per layer 2·m·n_in·n_out for z = a Wᵀ, again for
  BP4 (δᵀ a), and again for BP2 (δ W) on every layer but the first;
- peak memory of one backprop by tracemalloc (which sees NumPy's allocations) plus the inputs
  already resident, against the minimum any backprop must hold: params, x, y, the gradients, and
  the stored z^l and a^l of every layer;
- finite differences against backprop as the parameter count grows (Nielsen's argument: central
  differences cost two forward passes per parameter, backprop about one forward and one backward
  pass for all of them, so the ratio grows linearly with the parameter count).

`--workspace` measures instead, without jax, manual_bp's default `backprop` (new arrays, nothing
kept) against its opt-in `backprop(..., workspace=Workspace())` on `[1024]×5` m=1024 and
`[4096]×3` m=2048, float64 and float32, interleaved in one process; `--baseline DIR` adds the
`backprop` of the manual_bp found in DIR (another checkout, e.g. `git worktree add /tmp/bp_head
HEAD` before a change), imported beside this one. Per-round ratios are reported with their range.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import manual_bp as mb

NETWORKS = [([784, 30, 10], 10), ([784, 100, 100, 10], 128), ([1024] * 5, 1024)]
LARGE_NETWORK = ([4096] * 3, 2048)
# the two configurations issue #13 names: hidden activation, output activation, cost
CONFIGS = {"sigmoid/quadratic": ("sigmoid", "sigmoid", "quadratic"),
           "relu+softmax/log_likelihood": ("relu", "softmax", "log_likelihood"),
           "sigmoid/cross_entropy": ("sigmoid", "sigmoid", "cross_entropy")}  # Nielsen's network2.py
DEFAULT_CONFIGS = ("sigmoid/quadratic", "relu+softmax/log_likelihood")
FD_HIDDEN = [1, 2, 4, 8, 16, 30, 64, 100, 200]  # [784, h, 10], batch 10
FD_FULL_UP_TO = 25_000  # parameters: below this, also time the full finite-difference gradient
GEMM_N = 2048
ROOT = Path(__file__).resolve().parent.parent


# --- the machine -----------------------------------------------------------------------------


def machine(with_jax: bool = True) -> dict[str, str]:
    """CPU model and count, NumPy and its BLAS (kernel, threads), jax, and the OpenBLAS variables."""
    info = {"cpu": platform.processor() or platform.machine(), "cores": str(os.cpu_count())}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                           if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    info["python"] = platform.python_version()
    info["numpy"] = np.__version__
    try:
        from threadpoolctl import threadpool_info
        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        info["blas"] = "; ".join(f"{p['internal_api']} {p.get('version')} kernel {p.get('architecture')}, "
                                 f"{p['num_threads']} threads" for p in blas) or "none found"
    except ImportError:
        info["blas"] = "threadpoolctl not installed (see np.show_config())"
    if with_jax:
        import jax
        info["jax"] = f"{jax.__version__} ({jax.default_backend()})"
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        info[var] = os.environ.get(var, "unset")
    info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


# --- timing ----------------------------------------------------------------------------------


def calls_per_sample(fn, min_seconds: float) -> int:
    """How many calls make one sample last at least min_seconds (perf_counter's resolution and
    Python's call overhead vanish in it)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, int(min_seconds / max(once, 1e-7)))


def interleaved(fns: dict, rounds: int, min_seconds: float) -> dict[str, np.ndarray]:
    """Seconds per call of each fn, one sample per fn per round, the order rotating each round
    so no fn always runs after the same neighbour. Returns name → samples (one per round)."""
    names = list(fns)
    for fn in fns.values():  # warm-up: caches, BLAS threads, allocator
        fn(), fn()
    counts = {name: calls_per_sample(fns[name], min_seconds) for name in names}
    samples = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                fn, n = fns[name], counts[name]
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - start) / n)
    finally:
        gc.enable()
    return {name: np.array(s) for name, s in samples.items()}


def gemm(dtype):
    """A big square np.matmul (into a preallocated output) and its FLOP count: the peak."""
    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((GEMM_N, GEMM_N)).astype(dtype) for _ in range(2))
    C = np.empty_like(A)
    return (lambda: np.matmul(A, B, out=C)), 2 * GEMM_N ** 3


def backprop_flops(sizes, m) -> int:
    """FLOPs of backprop's matrix products: forward and BP4 on every layer, BP2 on all but the first."""
    per_layer = [2 * m * n_in * n_out for n_in, n_out in zip(sizes, sizes[1:])]
    return 2 * sum(per_layer) + sum(per_layer[1:])


# --- the two sides -----------------------------------------------------------------------------


def problem(sizes, m, dtype, config="sigmoid/quadratic", seed=0):
    hidden, output, cost = CONFIGS[config]
    net = mb.Network(sizes, [hidden] * (len(sizes) - 2) + [output], cost)
    params = net.init_params(seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((m, sizes[0])).astype(dtype)
    y = np.eye(sizes[-1], dtype=dtype)[rng.integers(sizes[-1], size=m)]  # one-hot targets
    return net, params, x, y


def jax_side(net, params, x, y):
    """The jitted jax.grad of the reference's cost, its inputs already on the device, and the
    seconds its first call took (trace + compile + one run)."""
    import jax
    import jax.numpy as jnp

    from autodiff_ref.reference import mean_cost

    jax.config.update("jax_enable_x64", True)  # this benchmark's own process: the reference in float64

    grad = jax.jit(jax.grad(mean_cost, argnums=2), static_argnums=(0, 1))
    jparams = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    jx, jy = jnp.asarray(x), jnp.asarray(y)

    def call():
        return jax.block_until_ready(grad(net.activations, net.cost, jparams, jx, jy, net.l2, net.l1))

    start = time.perf_counter()
    call()
    return call, time.perf_counter() - start


def peak_memory(net, params, x, y) -> tuple[int, int]:
    """(measured peak bytes, minimum bytes) of one backprop, inputs counted on both sides."""
    inputs = sum(W.nbytes + b.nbytes for W, b in params) + x.nbytes + y.nbytes
    item, m = x.dtype.itemsize, x.shape[0]
    stored = sum(2 * m * n * item for n in net.sizes[1:])  # z^l and a^l, l = 1..L
    gradients = sum(W.nbytes + b.nbytes for W, b in params)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        grads = mb.backprop(net, params, x, y)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    del grads
    return inputs + peak, inputs + gradients + stored


def kernel_cost(fn, calls: int) -> tuple[float, float]:
    """Minor page faults and kernel (sys) seconds per call: the price of memory the allocator
    handed back to the OS and must fault in again (about 4 KiB and a few µs each in this VM)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(calls):
        fn()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_minflt - before.ru_minflt) / calls, (after.ru_stime - before.ru_stime) / calls


@contextlib.contextmanager
def busy_cores(n: int):
    """n processes that keep a core each busy (a shared machine's neighbours), for the duration."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5)  # let them be scheduled
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def compare_sides(rows_out, sizes, m, dtype, rounds, gemm_fns, config="sigmoid/quadratic", loaded=False):
    """Time manual_bp, jax and the GEMMs interleaved on one network; append its row to rows_out.
    With `loaded`, time manual_bp and jax again while every core is kept busy by another process."""
    net, params, x, y = problem(sizes, m, dtype, config)
    jax_call, first_call = jax_side(net, params, x, y)
    manual = lambda: mb.backprop(net, params, x, y)  # noqa: E731
    ref = [(np.asarray(gW), np.asarray(gb)) for gW, gb in jax_call()]
    got = manual()
    scale = max(float(np.max(np.abs(r))) for layer in ref for r in layer)
    diff = max(float(np.max(np.abs(g - r))) for gl, rl in zip(got, ref) for g, r in zip(gl, rl))
    assert got[0].W.dtype == dtype and ref[0][0].dtype == dtype, "a side changed the dtype"

    fns = {"manual": manual, "jax": jax_call, "gemm64": gemm_fns[np.float64][0]}
    if dtype != np.float64:
        fns["gemm32"] = gemm_fns[dtype][0]
    flops = backprop_flops(sizes, m)
    t = interleaved(fns, rounds, min_seconds=0.05 if flops < 1e9 else 0.0)  # small: many calls per sample
    med = {k: float(np.median(v)) for k, v in t.items()}
    gemm64 = gemm_fns[np.float64][1] / med["gemm64"] / 1e9  # GFLOP/s, in this network's rounds
    gemm32 = gemm_fns[np.float32][1] / med["gemm32"] / 1e9 if "gemm32" in med else None
    ratios = t["manual"] / t["jax"]  # paired: the same round, the same load
    mem_peak, mem_min = peak_memory(net, params, x, y)
    faults, sys_seconds = kernel_cost(manual, max(3, int(0.2 / med["manual"])))
    under_load = {}
    if loaded:
        with busy_cores(os.cpu_count() or 1):
            busy = interleaved({"manual": manual, "jax": jax_call}, rounds, min_seconds=0.05 if flops < 1e9 else 0.0)
        under_load = {k: float(np.median(v)) for k, v in busy.items()}
    rows_out.append(dict(
        config=config, loaded_manual=under_load.get("manual"), loaded_jax=under_load.get("jax"),
        net=f"{sizes} m={m}", dtype=np.dtype(dtype).name, manual=med["manual"], jax=med["jax"],
        ratio=float(np.median(ratios)), ratio_lo=float(np.percentile(ratios, 25)),
        ratio_hi=float(np.percentile(ratios, 75)), compile=first_call,
        gflops=flops / med["manual"] / 1e9, jax_gflops=flops / med["jax"] / 1e9,
        gemm64=gemm64, gemm32=gemm32, mem_peak=mem_peak, mem_min=mem_min,
        rel_diff=diff / scale, rounds=rounds, load=os.getloadavg()[0], faults=faults, sys=sys_seconds))
    r = rows_out[-1]
    print(f"  {r['config']:<28} {r['net']:<32} {r['dtype']}: manual {fmt_time(r['manual'])}, jax {fmt_time(r['jax'])}, "
          f"ratio {r['ratio']:.2f} [{r['ratio_lo']:.2f}–{r['ratio_hi']:.2f}], "
          f"{r['gflops'] / gemm64:.2f} of this block's f64 GEMM, memory {r['mem_peak'] / r['mem_min']:.2f}× min",
          file=sys.stderr, flush=True)


# --- the default path against the opt-in workspace -----------------------------------------------

WORKSPACE_NETWORKS = [([1024] * 5, 1024), ([4096] * 3, 2048)]


def load_baseline(folder: Path):
    """The manual_bp package of another checkout, imported as `manual_bp_baseline` beside this
    one (its relative imports resolve inside it; bp_spec is this checkout's)."""
    import importlib.util

    package = Path(folder).resolve() / "manual_bp"
    spec = importlib.util.spec_from_file_location("manual_bp_baseline", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def compare_paths(rows_out, sizes, m, dtype, rounds, config, baseline=None):
    """Time `backprop` (new arrays), `backprop(..., workspace=)` and the baseline's `backprop`
    interleaved on one network; check they give the same bits; append its row to rows_out."""
    net, params, x, y = problem(sizes, m, dtype, config)
    workspace = mb.Workspace()
    fns = {"default": lambda: mb.backprop(net, params, x, y),
           "workspace": lambda: mb.backprop(net, params, x, y, workspace=workspace)}
    if baseline is not None:
        fns["baseline"] = lambda: baseline.backprop(net, params, x, y)
    answers = {name: [np.concatenate([g.W.ravel(), g.b.ravel()]) for g in fn()] for name, fn in fns.items()}
    same_bits = all(np.array_equal(a, b) for answer in answers.values() for a, b in zip(answer, answers["default"]))
    t = interleaved(fns, rounds, min_seconds=0.0)
    row = dict(config=config, net=f"{sizes} m={m}", dtype=np.dtype(dtype).name, rounds=rounds, same_bits=same_bits,
               load=os.getloadavg()[0], **{name: float(np.median(v)) for name, v in t.items()})
    ratios = {"default / workspace": t["default"] / t["workspace"]}
    if baseline is not None:
        ratios["workspace / baseline"] = t["workspace"] / t["baseline"]
        ratios["default / baseline"] = t["default"] / t["baseline"]
    row["ratios"] = {k: (float(np.median(v)), float(np.min(v)), float(np.max(v))) for k, v in ratios.items()}
    row["faults"] = {name: kernel_cost(fn, 3)[0] for name, fn in fns.items()}
    rows_out.append(row)
    print(f"  {row['net']:<24} {row['dtype']}: " + ", ".join(f"{k} {fmt_time(row[k])}" for k in fns) + "; "
          + ", ".join(f"{k} {v[0]:.3f} [{v[1]:.3f}–{v[2]:.3f}]" for k, v in row["ratios"].items())
          + ("" if same_bits else "; NOT THE SAME BITS"), file=sys.stderr, flush=True)


def report_paths(info, rows, command) -> str:
    lines = ["Command: `" + command + "`", "", "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    has_baseline = "baseline" in rows[0]
    head = ["configuration", "network", "dtype", "rounds", "default `backprop`", "`workspace=`"]
    head += ["baseline `backprop`"] if has_baseline else []
    head += [f"**{k}** (median, min–max over rounds)" for k in rows[0]["ratios"]]
    head += ["page faults a call", "same bits", "load (1 min)"]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        names = ["default", "workspace"] + (["baseline"] if has_baseline else [])
        cells = [r["config"], r["net"], r["dtype"], str(r["rounds"])] + [fmt_time(r[n]) for n in names]
        cells += [f"**{v[0]:.3f}** ({v[1]:.3f}–{v[2]:.3f})" for v in r["ratios"].values()]
        cells += [" / ".join(f"{r['faults'][n]:,.0f}" for n in names), "yes" if r["same_bits"] else "**no**",
                  f"{r['load']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_paths(args, command: str) -> int:
    info = machine(with_jax=False)
    info["threads"] = ("OpenBLAS's default" if args.threads is None
                       else f"{args.threads}: process pinned to cores {sorted(os.sched_getaffinity(0))}")
    baseline = load_baseline(Path(args.baseline)) if args.baseline else None
    if baseline is not None:
        head = subprocess.run(["git", "-C", args.baseline, "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True).stdout.strip()
        info["baseline"] = f"{args.baseline}: {head[:80] or 'not a git checkout'}"
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), file=sys.stderr)
    rows = []
    for config in args.config or ["sigmoid/quadratic"]:
        for sizes, m in WORKSPACE_NETWORKS:
            big = backprop_flops(sizes, m) > 1e11
            for dtype in (np.float64, np.float32):
                compare_paths(rows, sizes, m, dtype, max(3, args.rounds // 2) if big else args.rounds, config, baseline)
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(report_paths(info, rows, command))
    return 0


# --- finite differences ----------------------------------------------------------------------


def forward_cost(net, params, x, y) -> float:
    """C by manual_bp's forward pass alone: what finite differences evaluate."""
    zs, activations = mb.feedforward(net, params, x)
    return mb.total_cost(net, params, zs[-1], activations[-1], y)


def central_differences(net, params, x, y, indices, eps=1e-5) -> np.ndarray:
    """∂C/∂θ ≈ (C(θ + ε) − C(θ − ε)) / 2ε for each (layer, 'W' or 'b', flat index) in indices,
    perturbing the parameter in place and restoring it."""
    out = np.empty(len(indices))
    for i, (l, which, k) in enumerate(indices):
        theta = params[l][0 if which == "W" else 1].reshape(-1)  # a view: perturbs params
        saved = theta[k]
        theta[k] = saved + eps
        c_plus = forward_cost(net, params, x, y)
        theta[k] = saved - eps
        c_minus = forward_cost(net, params, x, y)
        theta[k] = saved
        out[i] = (c_plus - c_minus) / (2 * eps)
    return out


def all_indices(params):
    return [(l, which, k) for l, (W, b) in enumerate(params)
            for which, arr in (("W", W), ("b", b)) for k in range(arr.size)]


def fd_versus_backprop(sample: int, rounds: int, seed=0) -> list[dict]:
    """For [784, h, 10] (batch 10) of growing h: backprop's time, and central differences' time
    for all P parameters, extrapolated from a random sample of them (each parameter costs the same
    two forward passes), timed in chunks interleaved with backprop; while P ≤ FD_FULL_UP_TO the
    full finite-difference gradient is also timed once, to check the extrapolation."""
    rows, rng = [], np.random.default_rng(seed)
    for h in FD_HIDDEN:
        net, params, x, y = problem([784, h, 10], 10, np.float64, "sigmoid/cross_entropy", seed)
        everything = all_indices(params)
        P = len(everything)
        picked = [everything[i] for i in rng.choice(P, size=min(sample, P), replace=False)]
        chunk = max(1, len(picked) // rounds)
        chunks = [picked[i:i + chunk] for i in range(0, len(picked) - chunk + 1, chunk)]
        next_chunk = iter(range(10 ** 9))

        def fd_chunk():
            return central_differences(net, params, x, y, chunks[next(next_chunk) % len(chunks)])

        t = interleaved({"backprop": lambda: mb.backprop(net, params, x, y),
                         "forward": lambda: forward_cost(net, params, x, y),
                         "fd_chunk": fd_chunk}, rounds, 0.02)
        fd = central_differences(net, params, x, y, picked)
        grads = mb.backprop(net, params, x, y)
        exact = np.array([grads[l][0 if w == "W" else 1].reshape(-1)[k] for l, w, k in picked])
        row = dict(h=h, P=P, backprop=float(np.median(t["backprop"])), forward=float(np.median(t["forward"])),
                   fd_sampled=len(picked), fd_extrapolated=float(np.median(t["fd_chunk"])) / chunk * P,
                   fd_max_abs_diff=float(np.max(np.abs(fd - exact))), fd_full=None)
        if P <= FD_FULL_UP_TO:
            start = time.perf_counter()
            central_differences(net, params, x, y, everything)
            row["fd_full"] = time.perf_counter() - start
        rows.append(row)
        print(f"  [784, {h}, 10]: {P} parameters, FD/backprop ≈ {row['fd_extrapolated'] / row['backprop']:,.0f}",
              file=sys.stderr, flush=True)
    return rows


def plot_fd(rows, path: Path) -> float:
    """The plot, written to path; returns the fitted exponent of ratio ∝ P^exponent."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = np.array([r["P"] for r in rows], dtype=float)
    ratio = np.array([r["fd_extrapolated"] / r["backprop"] for r in rows])
    exponent = float(np.polyfit(np.log(P), np.log(ratio), 1)[0])  # 1 means linear growth
    slope = float(np.exp(np.mean(np.log(ratio / P))))  # the line ratio = slope × P, fitted in logs
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.loglog(P, ratio, "o", label="central differences / backprop (sampled, extrapolated)")
    full = [(r["P"], r["fd_full"] / r["backprop"]) for r in rows if r["fd_full"] is not None]
    if full:
        ax.loglog(*zip(*full), "x", ms=9, color="C3", label="same, every parameter timed")
    grid = np.geomspace(P.min(), P.max(), 50)
    ax.loglog(grid, slope * grid, "--", color="gray", label=f"ratio = {slope:.2f} × parameters  (log-log fit: P^{exponent:.2f})")
    ax.set_xlabel("parameters of [784, h, 10]  (h = " + ", ".join(str(r["h"]) for r in rows) + ")")
    ax.set_ylabel("time of the gradient by finite differences\n÷ time of one backprop")
    ax.set_title("Central differences vs backprop: the ratio grows linearly", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return exponent


# --- the report --------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def report(info, rows, fd_rows, plot_path, command) -> str:
    # the machine's peak: the best median of the big np.matmul over the whole run (it was timed
    # in every network's rounds; a neighbour's load can only lower a median)
    peak64 = max(r["gemm64"] for r in rows)
    peak32 = max((r["gemm32"] for r in rows if r["gemm32"]), default=float("nan"))
    info[f"GEMM peak ({GEMM_N}² np.matmul, best median of the run)"] = \
        f"float64 {peak64:.0f} GFLOP/s, float32 {peak32:.0f} GFLOP/s"
    lines = ["Command: `" + command + "`", "", "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += ["", "| configuration | network | dtype | manual_bp | jax.jit(grad) | manual / jax (IQR over rounds) | "
              "jax first call (trace + compile) | max rel. diff | load (1 min) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['net']} | {r['dtype']} | {fmt_time(r['manual'])} | {fmt_time(r['jax'])} | "
                     f"**{r['ratio']:.2f}** ({r['ratio_lo']:.2f}–{r['ratio_hi']:.2f}) | {fmt_time(r['compile'])} | "
                     f"{r['rel_diff']:.0e} | {r['load']:.1f} |")
    if any(r["loaded_manual"] for r in rows):
        lines += ["", f"Under load: every core ({os.cpu_count()}) kept busy by another process while the same calls "
                  "are timed (medians); the goal is loaded / quiet ≤ 2 for manual_bp.", "",
                  "| configuration | network | dtype | manual quiet | manual loaded | **manual loaded / quiet** | "
                  "jax quiet | jax loaded | jax loaded / quiet |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['config']} | {r['net']} | {r['dtype']} | {fmt_time(r['manual'])} | "
                         f"{fmt_time(r['loaded_manual'])} | **{r['loaded_manual'] / r['manual']:.2f}** | "
                         f"{fmt_time(r['jax'])} | {fmt_time(r['loaded_jax'])} | {r['loaded_jax'] / r['jax']:.2f} |")
    lines += ["", "| configuration | network | dtype | manual GFLOP/s | jax GFLOP/s | manual / f64 peak (/ f32 peak) | "
              "jax / f64 peak (/ f32 peak) | f64 GEMM in these rounds | page faults, sys time per call | "
              "peak memory / minimum |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f32 = r["dtype"] != "float64"

        def fraction(gflops, bold="**"):
            return f"{bold}{gflops / peak64:.2f}{bold}" + (f" ({gflops / peak32:.2f})" if f32 else "")
        lines.append(
            f"| {r['config']} | {r['net']} | {r['dtype']} | {r['gflops']:.1f} | {r['jax_gflops']:.1f} | {fraction(r['gflops'])} | "
            f"{fraction(r['jax_gflops'], '')} | {r['gemm64']:.0f} GFLOP/s | {r['faults']:,.0f}, {fmt_time(r['sys'])} | "
            f"{r['mem_peak'] / 2**20:.1f} / {r['mem_min'] / 2**20:.1f} MiB = **{r['mem_peak'] / r['mem_min']:.2f}×** |")
    if fd_rows:
        lines += ["", f"Finite differences vs backprop ([784, h, 10], batch 10, float64, one BLAS thread); "
                  f"plot: `{plot_path}`", "",
                  "| h | parameters | backprop | forward cost | FD sampled params | FD time (extrapolated) | "
                  "FD time (every parameter) | FD / backprop | max abs(FD − backprop) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in fd_rows:
            full = fmt_time(r["fd_full"]) if r["fd_full"] is not None else "not run"
            lines.append(f"| {r['h']} | {r['P']:,} | {fmt_time(r['backprop'])} | {fmt_time(r['forward'])} | "
                         f"{r['fd_sampled']} | {fmt_time(r['fd_extrapolated'])} | {full} | "
                         f"{r['fd_extrapolated'] / r['backprop']:,.0f} | {r['fd_max_abs_diff']:.0e} |")
    return "\n".join(lines)


def limit_blas_threads(n: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def limit_threads(n: int):
    """Both sides on n cores: the process is pinned to n of them (XLA sizes its thread pool from
    the cores it may use, and ignores its old thread flags), and OpenBLAS gets n threads through
    threadpoolctl (a context to hold for the whole run). Call before jax is imported."""
    from threadpoolctl import threadpool_limits
    assert "jax" not in sys.modules, "XLA's thread pool must be sized before jax is imported"
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    return threadpool_limits(limits=n, user_api="blas")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", action="store_true", help="also [4096]×3 at batch 2048 (minutes)")
    parser.add_argument("--quick", action="store_true",
                        help="only the two small networks ([784,30,10] m=10, [784,100,100,10] m=128), no FD sweep "
                             "(about a minute): for measuring one change")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per network (default 15)")
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS), default=None,
                        help=f"activations and cost (repeatable; default: {', '.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--loaded", action="store_true",
                        help="also time manual_bp and jax with every core kept busy by other processes (cliffs)")
    parser.add_argument("--fd-sample", type=int, default=300, help="parameters timed per FD network")
    parser.add_argument("--no-fd", action="store_true", help="skip the finite-difference sweep")
    parser.add_argument("--plot", default="docs/fd_vs_backprop.png", help="where the FD plot goes")
    parser.add_argument("--workspace", action="store_true",
                        help="instead: the default backprop against backprop(..., workspace=) on [1024]x5 and "
                             "[4096]x3 (minutes; no jax)")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="with --workspace: also time the backprop of the manual_bp checked out in DIR")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS and XLA threads for both sides (default: the libraries' own, all cores); "
                             "1 keeps the comparison meaningful when other jobs oversubscribe the cores")
    args = parser.parse_args(argv)
    command = "python " + " ".join([os.path.relpath(__file__, ROOT)] + (argv if argv is not None else sys.argv[1:]))
    with limit_threads(args.threads) if args.threads is not None else contextlib.nullcontext():
        return run_paths(args, command) if args.workspace else run(args, command)


def run(args, command: str) -> int:
    info = machine()
    info["threads"] = ("libraries' defaults" if args.threads is None
                       else f"{args.threads}: process pinned to cores {sorted(os.sched_getaffinity(0))}, "
                            f"OpenBLAS limited to {args.threads}")
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), file=sys.stderr)
    gemm_fns = {dtype: gemm(dtype) for dtype in (np.float64, np.float32)}
    rows = []
    networks = NETWORKS[:2] if args.quick else NETWORKS + ([LARGE_NETWORK] if args.large else [])
    for config in args.config or DEFAULT_CONFIGS:
        for sizes, m in networks:
            big = backprop_flops(sizes, m) > 1e11
            for dtype in (np.float64, np.float32):
                compare_sides(rows, sizes, m, dtype, max(3, args.rounds // 3) if big else args.rounds, gemm_fns,
                              config, args.loaded)
    fd_rows = []
    if not (args.no_fd or args.quick):
        # one BLAS thread: these products are tiny, and a second thread only adds stalls when a
        # neighbour holds the other core; both sides of the ratio run alike
        with limit_blas_threads(1):
            fd_rows = fd_versus_backprop(args.fd_sample, args.rounds)
        info["FD/backprop ∝ P^k, fitted k"] = f"{plot_fd(fd_rows, ROOT / args.plot):.2f}"
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(report(info, rows, fd_rows, args.plot, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
