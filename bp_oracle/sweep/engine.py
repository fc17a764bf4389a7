"""`bp-oracle verify`: a seeded random sweep of manual_bp against the jax.grad reference.

Case `index` of seed `seed` is drawn from `numpy.random.default_rng([seed, index])` alone, so any
case can be replayed on its own (`--replay SEED:INDEX`) and a sweep can be split by index range
without changing a single case.

The sweep runs in blocks of `BLOCK` cases. In a block, the reference of every case comes from
the padded reference (`autodiff_ref/padded.py`, many networks per compiled call); the candidate
(manual_bp by default) runs network by network, in the sweep's dtype; each case is judged tensor
by tensor (`bp_oracle/agreement.py`) with its dtype's tolerance (`bp_oracle/tolerance.py`); and
every disagreement is handed to a third witness, finite differences along the disagreement
(`autodiff_ref/witnesses.py`), which says which side is wrong. A case's numbers depend on nothing but (seed, index) and the options: not on its block,
its neighbours in a padded call, or the process that ran it. So `--jobs N` and any sharding
reproduce a single run exactly.
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from multiprocessing import get_context
from typing import Callable, Iterable, Sequence

import numpy as np

from autodiff_ref.padded import padded_reference_traces_started
from autodiff_ref.witnesses import KINK_MARGIN, Witness, disagreement_witnesses
from bp_spec import ACTIVATIONS, COSTS, Network, admissible_output_activations, output_only
from bp_spec.cases import Case, make_case, random_network
from bp_spec.kinks import crossed_kinks, near_kink

from .. import custom
from ..agreement import Check, GradientsOnly, agreement, agreements, tensor_of
from ..expected import expected_from_trace
from ..judge import ERROR, FAIL, PASS, SKIP, CaseResult, Finding, Verdict, judge
from ..suites import OracleCase
from ..tolerance import beyond_resolution, cost_conditioning, tolerance_for_case
from ..triangulation import which_side
from .collector import tune_for_sweeping
from .precision import finfo, in_dtype, run_candidate, unit_roundoff

BLOCK = 128  # cases per unit of work (two padded calls of 64)
BACKWARD = ("BP1", "BP2", "BP3", "BP4")


# --- the cases ---------------------------------------------------------------------------------


def sweep_case(seed: int, index: int, focus: Sequence[str] = ()) -> Case:
    """Case `index` of the sweep with `seed`: the same numbers on every machine and every run.

    `focus` names registered activations or costs (custom.py) that every network must use: the
    network is drawn as usual (from the built-in names and `focus`), then made to use them, from
    a second generator, so a sweep without focus draws exactly the networks it always did.
    """
    rng = np.random.default_rng([seed, index])
    # names registered by plugins are drawn only by the sweeps that focus on them
    net = random_network(rng, exclude=[name for name in custom.REGISTERED if name not in focus])
    if focus:
        net = _using(net, focus, np.random.default_rng([seed, index, 1]))
    m = int(rng.integers(1, 9))
    scale = (0.5, 1.0, 2.0)[int(rng.integers(3))]  # = rng.choice([0.5, 1.0, 2.0]), the same draw, 4.5 µs less
    return make_case(net, m, seed=int(rng.integers(2**32)), weight_scale=scale)


def _valid(sizes, activations, net: Network) -> Network | None:
    try:
        return Network(sizes, activations, net.cost, net.l2, net.l1)
    except ValueError:
        return None


def _using(net: Network, focus: Sequence[str], rng: np.random.Generator) -> Network:
    """`net` changed as little as possible so that it uses every name in `focus`."""
    for name in focus:
        if name in COSTS and name not in ACTIVATIONS:
            if net.cost != name:
                outputs = admissible_output_activations(name)
                out = net.activations[-1] if net.activations[-1] in outputs else outputs[rng.integers(len(outputs))]
                sizes = list(net.sizes)
                if out in output_only():
                    sizes[-1] = max(sizes[-1], 2)
                net = Network(sizes, net.activations[:-1] + (out,), name, net.l2, net.l1)
            continue
        if name in net.activations:
            continue
        options = []
        for l in range(net.L):
            if net.activations[l] in focus:  # keep what an earlier name of `focus` placed
                continue
            acts = list(net.activations)
            acts[l] = name
            candidate = _valid(net.sizes, acts, net)
            if candidate is not None:
                options.append(candidate)
        if options:
            net = options[rng.integers(len(options))]
        else:  # no layer can take it (one layer, an output the cost needs): add a hidden layer
            width = int(rng.integers(1, 13))
            net = Network((net.sizes[0], width) + net.sizes[1:], (name,) + net.activations, net.cost, net.l2, net.l1)
    return net


# --- the options of a sweep --------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOptions:
    """What a sweep checks, and how; all of it goes into every replay command.

    dtype: the precision the candidate runs in (the reference is always float64).
    backprop: the candidate, "module:function" or "path/to/file.py:function" (or, from Python,
        the function itself) taking (net, params, x, y) and returning a `Trace` or a list of
        (∂C/∂W, ∂C/∂b); None for manual_bp.
    plugins: modules or files that register activations or costs (custom.py); every network of
        the sweep then uses what they registered.
    """

    dtype: str = "float64"
    backprop: str | Callable | None = None
    plugins: tuple[str, ...] = ()

    @property
    def candidate_name(self) -> str:
        if callable(self.backprop):
            return f"{self.backprop.__module__}:{self.backprop.__qualname__}"
        return self.backprop or "manual_bp"

    def flags(self) -> str:
        """The command-line options that reproduce these settings."""
        parts = [] if self.dtype == "float64" else [f"--dtype {self.dtype}"]
        parts += [f"--plugin {p}" for p in self.plugins]
        if self.backprop:
            parts.append(f"--backprop {self.candidate_name}")
        return " ".join(parts)


@dataclass
class _Setup:
    """What a process needs to run cases: the candidate function and the focus names."""

    candidate: Callable | None
    focus: tuple[str, ...]


_SETUP: dict[SweepOptions, _Setup] = {}
custom.DERIVED.append(_SETUP)  # plugins loaded for a sweep are forgotten with their registrations


def setup(options: SweepOptions) -> _Setup:
    """Load the plugins and the candidate once per process (and per options)."""
    if options not in _SETUP:
        focus = custom.load_plugins(options.plugins)
        backprop = options.backprop
        candidate = custom.load_function(backprop) if isinstance(backprop, str) else backprop
        _SETUP[options] = _Setup(candidate, focus)
    return _SETUP[options]


# --- one case's result -------------------------------------------------------------------------


@dataclass
class SweptNetwork(CaseResult):
    """One network of the sweep judged (its id is "SEED:INDEX"): everything a report needs, and
    nothing that needs jax. `verdict` is, for a network whose tensors disagree, the judge's, as
    `bp-oracle check` gives it (the root cause's equation, layer and hint, what follows from it),
    with the finite-difference witnesses and which side they say is wrong; None while every
    tensor agrees."""

    seed: int = 0
    index: int = 0
    checks: list[Check] = field(default_factory=list)
    options: SweepOptions = field(default_factory=SweepOptions)
    kappa: float = 0.0  # the cost gradient's conditioning at the outputs (tolerance.py)
    near_kink: bool = False  # a pre-activation (or a weight under l1) within KINK_MARGIN of a kink
    crossed_kink: list[int] = field(default_factory=list)  # layers where rounding crossed a kink
    saturated: bool = False  # an output the dtype cannot resolve under cross-entropy (tolerance.py)
    error: str | None = None  # the candidate raised this
    skipped: str | None = None  # the candidate raised NotImplementedError (with this message): a SKIP
    # each wrong tensor whole, (got, reference) in float64 by (quantity, layer): the HTML report's heatmaps
    wrong: dict = field(default_factory=dict, repr=False)

    @property
    def beyond_dtype(self) -> bool:
        """The dtype cannot resolve this case's backward pass: BP1–BP4 are not judged."""
        return bool(self.crossed_kink) or self.saturated

    @property
    def judged(self) -> list[Check]:
        if self.beyond_dtype:
            return [c for c in self.checks if c.equation not in BACKWARD]
        return self.checks

    @property
    def ok(self) -> bool:
        """Judged and right (a SKIP is not ok, nor a failure: see `Summary.skips`): every tensor
        agrees, or the judge accepted the disagreement (another subgradient at a kink)."""
        if self.error is not None or self.skipped is not None:
            return False
        return all(c.ok for c in self.judged) or (self.verdict is not None and self.verdict.outcome == PASS)

    @property
    def outcome(self) -> str:
        if self.skipped is not None:
            return SKIP
        if self.error is not None:
            return ERROR
        return PASS if self.ok else FAIL

    @property
    def witnesses(self) -> list[Witness]:
        return self.verdict.witnesses if self.verdict is not None else []

    @property
    def side(self) -> str:
        """For a failure: which side is wrong, and who says so."""
        return self.verdict.side if self.verdict is not None else ""

    @property
    def failed(self) -> bool:
        return not self.ok and self.skipped is None

    @property
    def worst(self) -> Check | None:
        return max(self.judged, key=lambda c: c.comparison.margin, default=None)

    @property
    def margin(self) -> float:
        """error / tolerance of the worst judged tensor (below 1 passes)."""
        if self.error is not None:
            return np.inf
        worst = self.worst
        return worst.comparison.margin if worst else 0.0

    @property
    def relative_error(self) -> float:
        """Normwise: max over judged tensors of max|got − ref| / max|ref|."""
        tol, worst = self.tolerance, 0.0
        if self.error is not None:
            return np.inf
        for c in self.judged:
            scale = (c.comparison.bound - tol.atol) / tol.rtol
            error = c.comparison.error
            worst = max(worst, error / scale if scale > 0 else (0.0 if error == 0 else np.inf))
        return worst

    @property
    def replay(self) -> str:
        flags = self.options.flags()
        return f"bp-oracle verify --replay {self.seed}:{self.index}" + (f" {flags}" if flags else "")


# --- running cases -----------------------------------------------------------------------------


def _as_record(result):
    """A `Trace`-like record from whatever the candidate returned."""
    if hasattr(result, "grads"):
        return result
    return GradientsOnly([tuple(layer) for layer in result])


def verify_cases(seed: int, indices: Sequence[int], options: SweepOptions = SweepOptions()) -> list[SweptNetwork]:
    """Check the cases `indices` of the sweep `seed`: padded reference, candidate, judge, witness."""
    run = setup(options)
    dtype = options.dtype
    cases = [sweep_case(seed, i, run.focus) for i in indices]
    pairs = [in_dtype(case, dtype) for case in cases]
    # jax computes the reference on its own threads while the candidate runs here: the block's
    # reference is dispatched first and waited for after (3,000 networks warm: see docs/benchmarks.md)
    # (cases drawn here, so the reference need not check them again)
    finish = padded_reference_traces_started([exact for _, exact in pairs], checked=True)
    answers = []  # the candidate's record, or what it raised, judged below in the same way
    for low, _ in pairs:
        try:
            answers.append(_as_record(run_candidate(run.candidate, low, dtype)))
        except Exception as e:  # noqa: BLE001  (NotImplementedError is a SKIP, anything else an error)
            answers.append(e)
    refs = finish()
    results = []
    for index, case, (_, exact), ref in zip(indices, cases, pairs, refs):
        net, m = case.net, case.x.shape[0]
        kappa = cost_conditioning(net.cost, net.activations[-1], ref.a[-1])
        tol = tolerance_for_case(dtype, net.L, max(net.sizes), m, kappa)
        results.append(SweptNetwork(f"{seed}:{index}", net, m, tolerance=tol, seed=seed, index=index,
                                    options=options, kappa=kappa,
                                    near_kink=near_kink(net, ref.z, KINK_MARGIN, params=exact[1]),
                                    saturated=beyond_resolution(net.cost, net.activations[-1], ref.a[-1], unit_roundoff(dtype),
                                                                float(finfo(dtype).smallest_normal))))
    block = _block_agreements(results, refs, answers)
    witness_items = []
    for k, (result, (_, exact), ref, answer) in enumerate(zip(results, pairs, refs, answers)):
        net, tol = result.net, result.tolerance
        try:
            if isinstance(answer, Exception):
                raise answer
            got = answer
            with np.errstate(all="ignore"):  # a non-finite result fails its check, quietly
                result.checks = block[k] if k in block else agreement(got, ref, tol)
            if getattr(got, "z", None) is not None:
                result.crossed_kink = crossed_kinks(net, got.z, ref.z)
            result.wrong = {(c.quantity, c.layer): (tensor_of(got, c.quantity, c.layer),
                                                    tensor_of(ref, c.quantity, c.layer))
                            for c in result.judged if not c.ok}
        except NotImplementedError as e:  # the candidate does not do this network: a SKIP, as in check
            result.skipped = str(e) or "NotImplementedError"
            result.checks = []
        except Exception as e:  # noqa: BLE001  (the candidate's bug is a finding, not a crash)
            result.error = f"{type(e).__name__}: {e}"
            message = f"{options.candidate_name} raised {result.error}"
            result.verdict = Verdict(ERROR, message=message, side=message)
        if result.failed and result.error is None:
            result.verdict = _judged(result, exact, ref, answer)
            if not result.ok:
                for c in result.judged:
                    if not c.ok and c.quantity in ("delta", "dC/dW", "dC/db"):
                        witness_items.append((result, exact, c))
    _witness(witness_items)
    for result in results:
        if result.verdict is not None and result.verdict.outcome == FAIL:
            result.verdict.side = which_side(result.witnesses, options.candidate_name)
    return results


def _judged(result: SweptNetwork, exact: Case, ref, answer) -> Verdict:
    """The verdict of `bp-oracle check`'s judge on a network whose tensors disagree: the root
    cause in the order errors propagate, its equation, layer and hint, and what follows from it.
    Where the dtype cannot resolve the backward pass only the forward pass is judged, so only its
    failures are named."""
    if result.beyond_dtype:
        findings = [Finding(c, c.equation) for c in result.judged if not c.ok]
        findings[0].root = True
        return Verdict(FAIL, findings)
    net, params, x, y = exact
    case = OracleCase(result.id, net, params, x, y, ())
    got = SimpleNamespace(**{q: getattr(answer, q, None) for q in ("z", "a", "delta", "cost")}, grads=answer.grads)
    with np.errstate(all="ignore"):  # a non-finite answer is a failing tensor, quietly
        verdict = judge(case, expected_from_trace(case, ref), got, result.tolerance)
    for f in verdict.findings:  # the whole tensors are kept (result.wrong) for the first failures only
        f.got = f.expected = None
    return verdict


def _block_agreements(results: list[SweptNetwork], refs, answers) -> dict[int, list[Check]]:
    """The checks of every network that answered, judged in one pass (agreements), by position;
    none when an answer does not even have the reference's shapes: then each network is judged
    alone below, and the one that is wrong says so in its own result."""
    answered = [k for k, answer in enumerate(answers) if not isinstance(answer, Exception)]
    try:
        with np.errstate(all="ignore"):  # a non-finite result fails its check, quietly
            checks = agreements([(answers[k], refs[k], results[k].tolerance) for k in answered])
    except Exception:  # noqa: BLE001  (judged again one by one below, where the error is the candidate's)
        return {}
    return dict(zip(answered, checks))


def _witness(items) -> None:
    """Finite differences along every disagreement of δ or a gradient, all at once."""
    if not items:
        return
    witnesses = disagreement_witnesses([(exact, c.quantity, c.layer, *result.wrong[(c.quantity, c.layer)])
                                        for result, exact, c in items])
    for (result, *_), witness in zip(items, witnesses):
        result.verdict.witnesses.append(witness)


# --- a sweep -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One activation × cost cell of the summary table, with its worst case per depth."""

    cases: int = 0
    failed: int = 0
    skipped: int = 0
    kinks: int = 0
    beyond: int = 0
    worst: SweptNetwork | None = None
    by_depth: dict[int, float] = field(default_factory=dict)

    def add(self, result: SweptNetwork) -> None:
        self.cases += 1
        if result.skipped is not None:  # not judged: no error to rank
            self.skipped += 1
            return
        self.failed += not result.ok
        self.kinks += result.near_kink
        self.beyond += result.beyond_dtype
        if self.worst is None or result.margin > self.worst.margin:
            self.worst = result
        L = result.net.L
        self.by_depth[L] = max(self.by_depth.get(L, 0.0), result.margin)


@dataclass
class Summary:
    seed: int
    options: SweepOptions = field(default_factory=SweepOptions)
    results: list[SweptNetwork] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[SweptNetwork]:
        return [r for r in self.results if r.failed]

    @property
    def skips(self) -> list[SweptNetwork]:
        """Cases the candidate raised NotImplementedError on: SKIPs, failing the run unless accepted."""
        return [r for r in self.results if r.skipped is not None]

    def run_failures(self, allow_skip: bool) -> list[tuple[str, str]]:
        """What fails the sweep outside any one network, as (what, message): SKIPs not accepted,
        and a sweep that judged nothing. The command's output and its JUnit XML say the same."""
        who, skips, found = self.options.candidate_name, self.skips, []
        if skips and not allow_skip:
            found.append(("SKIPs not accepted", f"{len(skips)} network(s) were SKIPped ({who} raised "
                                                 f"NotImplementedError): accept them with --allow-skip"))
        if skips and len(skips) == len(self.results):
            found.append(("nothing judged", f"nothing was judged: {who} raised NotImplementedError on every network"))
        return found

    @property
    def rate(self) -> float:
        """Networks checked per second, end to end (compilation included)."""
        return len(self.results) / self.seconds if self.seconds > 0 else float("nan")

    def table(self) -> dict[tuple[str, str], Row]:
        """A row per (activation, cost): a network counts once in the row of each activation it uses."""
        rows: dict[tuple[str, str], Row] = defaultdict(Row)
        for r in self.results:
            for name in sorted(set(r.net.activations)):
                rows[(name, r.net.cost)].add(r)
        return dict(sorted(rows.items()))


def blocks(indices: Sequence[int], size: int = BLOCK) -> list[list[int]]:
    indices = list(indices)
    return [indices[k:k + size] for k in range(0, len(indices), size)]


# jax settings a worker takes from its parent, so that it computes, and finds its compilations
# in the persistent cache, exactly as the parent would
_JAX_SETTINGS = ("jax_numpy_rank_promotion", "jax_compilation_cache_dir",
                 "jax_persistent_cache_min_compile_time_secs")


def _worker_init(options: SweepOptions, settings: dict) -> None:
    import jax

    for name, value in settings.items():
        jax.config.update(name, value)
    setup(options)
    tune_for_sweeping()  # the worker is ours, and only sweeps (collector.py)


# failing networks whose wrong tensors a sweep keeps: the HTML page draws that many in full
# (html_report.failing_cases.FULL_CASES) and lists the rest by line, so keeping every one would only fill
# memory in a long sweep of a broken backprop
WRONG_TENSORS_KEPT = 20


def _collect(summary: Summary, results: list[SweptNetwork], kept: int) -> int:
    """Add a block's results to the summary; `kept` failures so far have kept their wrong tensors,
    and how many have after this block is returned."""
    for r in results:
        if r.wrong:
            if kept < WRONG_TENSORS_KEPT:
                kept += 1
            else:
                r.wrong = {}
        summary.results.append(r)
    return kept


def run_sweep(seed: int, indices: Iterable[int], options: SweepOptions = SweepOptions(), jobs: int = 1,
              on_progress: Callable[[int], None] | None = None, block: int = BLOCK) -> Summary:
    """Check every case in `indices`, in blocks of `block`, on `jobs` processes; results in
    index order, the same whatever `jobs` and `block` are. `on_progress(n)` is called as each
    block of n cases is done. With jobs > 1, a `backprop` given as a function must be importable
    by its module and name (the workers import it)."""
    start = time.perf_counter()
    summary = Summary(seed, options)
    work, kept = blocks(indices, block), 0
    if jobs <= 1 or len(work) <= 1:
        for block in work:
            kept = _collect(summary, verify_cases(seed, block, options), kept)
            if on_progress:
                on_progress(len(block))
    else:
        setup(options)  # fail here, in one line, on a bad plugin or backprop, before any worker starts
        import jax

        settings = {name: getattr(jax.config, name) for name in _JAX_SETTINGS}
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                                 initializer=_worker_init, initargs=(options, settings)) as pool:
            futures = [pool.submit(verify_cases, seed, block, options) for block in work]
            for block, future in zip(work, futures):
                kept = _collect(summary, future.result(), kept)
                if on_progress:
                    on_progress(len(block))
    summary.seconds = time.perf_counter() - start
    return summary


def verify_case(seed: int, index: int, options: SweepOptions = SweepOptions()) -> SweptNetwork:
    """One case of a sweep, exactly as the sweep checks it."""
    return verify_cases(seed, [index], options)[0]
