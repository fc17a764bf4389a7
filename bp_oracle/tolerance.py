"""The tolerance policy: per tensor, normwise, with an absolute floor.

    accept  ⇔  max|got − expected| ≤ rtol · max|expected| + atol

Why this form: a bare per-element rtol fails whenever an entry cancels to near zero (its
relative error is then large while its absolute error is still at rounding level), so it is
flaky on correct code. Measuring the worst entry against the largest entry of the same tensor
asks for what backprop actually guarantees: errors at rounding level relative to the tensor's
scale. The atol floor covers tensors that are exactly or nearly zero (dead ReLUs, a − y = 0),
where rounding residues of 1e-17 would otherwise fail against max|expected| = 0.

The float64 numbers are justified by measurement (docs/conventions.md, "Tolerance policy"): on correct code
the worst normwise error seen is about 1e-14, so rtol = 1e-9 leaves 10⁵ of margin, while an
error of 1e-7 relative in one layer is still 100× over it and fails. The lower precisions are
the same policy with rtol and atol from an error model, unit roundoff × a growth factor, whose
constant is calibrated by measurement (`PRECISION_MODELS`, `tolerance_for_case`, below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from bp_spec import get_cost_spec


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def bound(self, expected: np.ndarray) -> float:
        expected = np.asarray(expected)
        scale = float(np.abs(expected).max()) if expected.size else 0.0
        return self.rtol * scale + self.atol


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-9, atol=1e-12),
    "float32": Tolerance(rtol=2e-4, atol=1e-6),
}


def tolerance_for(dtype) -> Tolerance:
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    try:
        return TOLERANCES[name]
    except KeyError:
        raise ValueError(f"no tolerance for dtype {name}; known: {', '.join(TOLERANCES)}") from None


class Comparison(NamedTuple):
    """The verdict on one tensor: its worst entry, got and expected there, and the bound."""

    ok: bool
    error: float
    bound: float
    index: tuple[int, ...]
    got: float
    expected: float

    @property
    def margin(self) -> float:
        """error / bound: below 1 passes; how close to the line a passing case came."""
        return self.error / self.bound if self.bound > 0 else (0.0 if self.error == 0 else np.inf)


def compare(got, expected, tol: Tolerance) -> Comparison:
    """Judge one tensor by the policy above. Shapes must match exactly; NaN/Inf in `got` fail."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise ValueError(f"shape {got.shape} does not match expected {expected.shape}")
    bound = tol.bound(expected)
    if got.size == 0:
        return Comparison(True, 0.0, bound, (), 0.0, 0.0)
    # array methods, not np.max/np.argmax: a sweep compares some 16 small tensors a network, and
    # the functions' dispatch was a third of the time (verify: 48,050 compares, 1.25 → 0.6 s)
    diff = np.abs(got - expected).reshape(-1)
    diff[~np.isfinite(diff)] = np.inf  # NaN or ±inf (in got, or in expected): never within any tolerance
    flat = int(diff.argmax())  # the first worst entry: the first non-finite one if any
    error = float(diff[flat])
    return Comparison(error <= bound, error, bound, _index(flat, got.shape), float(got.flat[flat]),
                      float(expected.flat[flat]))


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    # every tensor judged is a matrix, a vector or a scalar: np.unravel_index only for the rest
    # (it was a fifth of a sweep's judging, 48,000 calls for 3,000 networks)
    if len(shape) == 2:
        return divmod(flat, shape[1])
    if len(shape) == 1:
        return (flat,)
    if not shape:
        return ()
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def compare_many(pairs: Sequence[tuple], tol: Tolerance | Sequence[Tolerance]) -> list[Comparison]:
    """`compare` of every (got, expected) pair, the very same answers, in a dozen NumPy calls for
    all of them instead of a dozen each: the tensors are laid end to end and each one's largest
    |expected| and worst |got − expected| found by segment (np.maximum.reduceat). A sweep judges
    16 small tensors a network; one by one they were a quarter of its time (measured with scripts/bench_verify.py).
    `tol` is one tolerance for every pair, or one per pair (a block of networks judged at once)."""
    tols = [tol] * len(pairs) if hasattr(tol, "rtol") else list(tol)  # one (any object with rtol, atol), or one a pair
    if len(tols) != len(pairs):
        raise ValueError(f"{len(tols)} tolerances for {len(pairs)} pairs")
    got = [np.asarray(g, dtype=np.float64) for g, _ in pairs]
    expected = [np.asarray(e, dtype=np.float64) for _, e in pairs]
    if any(g.shape != e.shape or g.size == 0 for g, e in zip(got, expected)):
        # an error to raise, or an empty tensor
        return [compare(g, e, t) for g, e, t in zip(got, expected, tols)]
    if not got:
        return []
    sizes = np.array([g.size for g in got])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    g_all = np.concatenate([g.ravel() for g in got])
    e_all = np.concatenate([e.ravel() for e in expected])
    diff = np.abs(g_all - e_all)
    diff[~np.isfinite(diff)] = np.inf
    worst = np.maximum.reduceat(diff, starts)
    rtol, atol = np.array([(t.rtol, t.atol) for t in tols]).T
    bounds = rtol * np.maximum.reduceat(np.abs(e_all), starts) + atol
    hits = np.flatnonzero(diff == np.repeat(worst, sizes))
    first = hits[np.searchsorted(hits, starts)]  # the first worst entry of each tensor
    out = []
    for k, (g, flat, err, bound) in enumerate(zip(got, first.tolist(), worst.tolist(), bounds.tolist())):
        out.append(Comparison(err <= bound, err, bound, _index(flat - int(starts[k]), g.shape),
                              float(g_all[flat]), float(e_all[flat])))
    return out


# --- lower precisions: an error model, calibrated ------------------------------------------
#
# manual_bp run in a dtype of unit roundoff u (float32, float16, bfloat16) is judged against the
# float64 reference on the same (rounded) inputs, per tensor, by the policy above with
#
#     rtol = C · u · (g + κ),   atol = C · u · g,   g = L · (n + m)
#
# g, the growth factor: every z^l and every BP2 product is a dot product of length ≤ n (the
#     widest layer), whose rounding error is at most about n·u of its terms (Higham's γ_n), and
#     BP3/BP4 average over the m examples; L layers add their errors forward and again backward.
# κ, the conditioning of BP1 at the outputs where it takes the general form δ^L = J_σᵀ ∇_a C:
#     cross-entropy's ∇_a C = (a − y)/(a(1 − a)) takes 1 − a, whose relative condition number is
#     a/(1 − a), so κ = max over the outputs of a/(1 − a). It is 0 wherever the spec knows a
#     simplified BP1 (cross-entropy on sigmoid or softmax, log-likelihood): with the built-in
#     activations, always; it matters for a registered output activation (custom.py).
# atol, on the problem's own scale (costs and parameters O(1)): a tensor that is small because
#     of cancellation (a bias gradient, a mean of δ that nearly cancels) carries the rounding
#     error of the terms that cancelled, not of its own size.
# C, the safety factor, is set by measurement: at least 10 × the worst ratio
#     error / (u·((g + κ)·max|ref| + g)) seen on manual_bp over the calibration sweeps below.
#
# float64 keeps the fixed policy above, looser than this model would be (32·u·g ≤ 4e-13 here).
#
# Cases the model cannot judge are flagged, reported and left out of the verdict of BP1–BP4
# (their forward pass is still judged): a pre-activation that rounding moved across a kink of
# its activation (relu's 0: the two sides take different slopes), and, where BP1 divides by
# the outputs (cross-entropy, but not on a sigmoid), an output the dtype cannot resolve: below
# its smallest normal number (a underflows, so 1 − a_k summed from such outputs can round to 0),
# or, in the general form, within u of 1 (u·κ ≥ 1: 1 − a rounds to 0).
# `bp_oracle/sweep/engine.py` applies them (`beyond_resolution`).


def growth(depth: int, width: int, batch: int) -> int:
    """g = L · (n + m): the number of roundings an entry's error can gather (see above)."""
    return depth * (width + batch)


@dataclass(frozen=True)
class PrecisionModel:
    """The calibrated error model of one dtype (see above)."""

    dtype: str
    unit_roundoff: float
    safety: float  # C
    worst_seen: float  # the largest error / (u·((g + κ)·scale + g)) measured on manual_bp
    cases_measured: int
    measured_by: str  # the command that measured it

    def tolerance(self, depth: int, width: int, batch: int, kappa: float = 0.0) -> Tolerance:
        g = growth(depth, width, batch)
        return Tolerance(rtol=self.safety * self.unit_roundoff * (g + kappa),
                         atol=self.safety * self.unit_roundoff * g)

    @property
    def margin(self) -> float:
        """How far the calibrated C sits above the worst error measured (≥ 10 by policy)."""
        return self.safety / self.worst_seen


_CALIBRATION = "python scripts/bench_verify.py --calibrate"

PRECISION_MODELS: dict[str, PrecisionModel] = {
    m.dtype: m
    for m in (
        PrecisionModel("float32", 2.0 ** -24, safety=32.0, worst_seen=3.057, cases_measured=20000,
                       measured_by=_CALIBRATION),
        PrecisionModel("float16", 2.0 ** -11, safety=8.0, worst_seen=0.641, cases_measured=20000,
                       measured_by=_CALIBRATION),
        PrecisionModel("bfloat16", 2.0 ** -8, safety=10.0, worst_seen=0.772, cases_measured=20000,
                       measured_by=_CALIBRATION),
    )
}

from .dtypes import DTYPES  # noqa: E402,F401  (the dtypes a request or a sweep can be made in)

# A fixed row per lower dtype for callers that want one number: the model at the largest
# network of the default sweep (L = 5, n = 12, m = 8, κ = 0). float32's row above predates the
# model and is kept as it was (it is looser). `tolerance_for_case` is what the sweep uses.
for _name in ("float16", "bfloat16"):
    TOLERANCES[_name] = PRECISION_MODELS[_name].tolerance(5, 12, 8)


# ∇_a C's conditioning at the outputs, per cost (κ above), where BP1 takes the general form.
COST_CONDITIONING = {
    "cross_entropy": lambda a: a / (1 - a),
}


def _general_bp1(cost: str, output_activation: str) -> bool:
    """Whether BP1 is δ^L = J_σᵀ ∇_a C here: the spec knows no simplified form of it for this
    pair (bp_spec.names.CostSpec.simplified_outputs). A fact of the case, not of any program."""
    return output_activation not in get_cost_spec(cost).simplified_outputs


def cost_conditioning(cost: str, output_activation: str, a_L: np.ndarray) -> float:
    """κ of the model for these outputs (float64, from the reference): 0 for costs without one."""
    kappa = COST_CONDITIONING.get(cost)
    if kappa is None or not _general_bp1(cost, output_activation) or np.size(a_L) == 0:
        return 0.0
    with np.errstate(divide="ignore"):
        return float(np.max(kappa(np.asarray(a_L, dtype=np.float64))))


# Where BP1 divides by the outputs: the general form divides by a(1 − a); cross-entropy's derived
# form on softmax still divides by 1 − a_k, computed as a sum of the other outputs.
# Only cross-entropy on sigmoid (δ^L = a − y) divides by nothing.
NO_DIVISION_BP1 = {("cross_entropy", "sigmoid")}


def beyond_resolution(cost: str, output_activation: str, a_L: np.ndarray, unit_roundoff: float,
                      smallest_normal: float) -> bool:
    """An output the dtype cannot resolve, where BP1 divides by the outputs: one below the
    dtype's smallest normal number (it underflows, and 1 − a as a sum of such outputs rounds to
    0), or, for the general form, one within u of 1 (u·κ ≥ 1)."""
    if cost not in COST_CONDITIONING or (cost, output_activation) in NO_DIVISION_BP1 or np.size(a_L) == 0:
        return False
    a = np.asarray(a_L, dtype=np.float64)
    return bool(np.min(a) < smallest_normal or cost_conditioning(cost, output_activation, a) * unit_roundoff >= 1)


def tolerance_for_case(dtype: str, depth: int, width: int, batch: int, kappa: float = 0.0) -> Tolerance:
    """The tolerance a case of this size is judged by in `dtype`: float64's fixed policy, or the
    calibrated model of a lower precision."""
    if dtype == "float64":
        return TOLERANCES["float64"]
    try:
        model = PRECISION_MODELS[dtype]
    except KeyError:
        raise ValueError(f"no tolerance for dtype {dtype}; known: float64, {', '.join(PRECISION_MODELS)}") from None
    return model.tolerance(depth, width, batch, kappa)


# --- a case of an outside implementation, in a dtype ---------------------------------------


def case_tolerance(dtype: str, net, m: int, a_L: np.ndarray) -> Tolerance:
    """The tolerance a request in `dtype` is judged by: float64's fixed policy, or the calibrated
    error model of the lower precision sized by the case (depth, widest layer, batch, and the
    conditioning of BP1 at these outputs). It depends on the case alone, never on how any
    implementation computes it."""
    return tolerance_for_case(dtype, net.L, max(net.sizes), m, cost_conditioning(net.cost, net.activations[-1], a_L))


def beyond_dtype(dtype: str, net, exp) -> str | None:
    """Why a case cannot be judged in `dtype` (None if it can), from the reference's answers:
    a number past what the dtype holds (with room for the sums that make it), a pre-activation
    that rounding can move across a kink (it is not on the kink, but within the tolerance of
    it), or an output the dtype cannot resolve where BP1 divides by it (`beyond_resolution`).
    Such cases are not sent in that dtype: 'conforms' speaks only of cases judged."""
    if dtype == "float64":
        return None
    from .dtypes import finfo, unit_roundoff

    info = finfo(dtype)
    values = [*exp.z, *exp.a, *exp.delta, *(t for layer in exp.grads for t in layer), np.float64(exp.cost)]
    if max(float(np.max(np.abs(v))) if np.size(v) else 0.0 for v in values) > float(info.max) / 64:
        return f"a value past what {dtype} holds"
    tol = case_tolerance(dtype, net, exp.a[0].shape[0], exp.a[-1])
    from bp_spec import get_activation_spec

    for name, z in zip(net.activations, exp.z):
        for kink in get_activation_spec(name).kinks:
            gap = np.abs(np.asarray(z) - kink.at)
            if np.any((gap > 0) & (gap <= tol.rtol * float(np.max(np.abs(z))) + tol.atol)):
                return f"a pre-activation of {name} within {dtype}'s rounding of its kink"
    if beyond_resolution(net.cost, net.activations[-1], exp.a[-1], unit_roundoff(dtype), float(info.smallest_normal)):
        return f"an output {dtype} cannot resolve where BP1 divides by it"
    return None
