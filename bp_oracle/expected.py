"""The expected answers for a case, computed by the jax.grad reference in float64.

Besides z, a, δ, the cost and the gradients, an `Expected` carries what the judge needs to
recognise known bugs without running anything: ∇_a C_x per example (for "σ' missing in BP1")
and σ'(z^L) (for "an extra σ'"), and, for cases with a unit exactly on a kink, the answers under
the other one-sided slope (relu'(0) = 1, leaky_relu'(0) = 0.01), which are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Optional, Sequence

import numpy as np

from autodiff_ref.padded import PaddedShape, padded_reference_traces, shape_for
from autodiff_ref.reference import (COST_TERMS, activation_derivative, cost_gradient_wrt_output,
                                    reference_trace)
from bp_spec import Layer, get_activation_spec

from . import answer_cache
from .suites import OracleCase


@dataclass
class Expected:
    """The reference's answers for one case; lists run over layers 1..L.

    `grad_a_cost` and `sigma_prime_L` only serve the judge's hints, so a live check computes them
    on the first failure (`with_hint_data`), not for every case."""

    z: list[np.ndarray]
    a: list[np.ndarray]
    delta: list[np.ndarray]
    cost: float
    grads: list[Layer]
    grad_a_cost: Optional[np.ndarray] = None  # ∇_a C_x per example, (m, n_L)
    sigma_prime_L: Optional[np.ndarray] = None  # σ'(z^L) for an elementwise output, (m, n_L)
    # for a case with units exactly on a kink: activation → the answers with σ'(kink) taken as the
    # other one-sided slope, and (the spec's convention, that other slope); the right answers are
    # then every affine blend in between (bp_oracle.judge)
    conventions: dict[str, "Expected"] = field(default_factory=dict)
    kink_slopes: dict[str, tuple[float, float]] = field(default_factory=dict)
    pending_hint_data: Optional[Callable[[], tuple]] = field(default=None, repr=False, compare=False)
    pending_conventions: Optional[Callable[[], tuple]] = field(default=None, repr=False, compare=False)

    def with_hint_data(self) -> "Expected":
        if self.pending_hint_data is not None:
            self.grad_a_cost, self.sigma_prime_L = self.pending_hint_data()
            self.pending_hint_data = None
        return self

    def with_conventions(self) -> "Expected":
        """The answers at the other ends of the kinks' subgradients, computed when first needed
        (an answer that matches the reference's own convention never needs them)."""
        if self.pending_conventions is not None:
            self.conventions, self.kink_slopes = self.pending_conventions()
            self.pending_conventions = None
        return self


def _hint_data(case: OracleCase, a_L: np.ndarray, z_L: np.ndarray) -> tuple:
    """∇_a C_x per example and σ'(z^L) (for an elementwise output), both by the reference."""
    net = case.net
    grad_a = cost_gradient_wrt_output(net.cost, a_L, case.y) if net.cost in COST_TERMS else None
    output = net.activations[-1]
    sigma_prime = None if get_activation_spec(output).output_only else activation_derivative(output, z_L)
    return grad_a, sigma_prime


def _kinks_hit(case: OracleCase, z: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    """For each kinked activation with a pre-activation exactly on its kink: (the spec's
    convention there, the one-sided slope at the other end of its subgradients)."""
    hit = {}
    for name, z_l in zip(case.net.activations, z):
        for kink in get_activation_spec(name).kinks:
            if kink.slopes_known and np.any(z_l == kink.at):
                lo, hi = kink.subgradients
                hit[name] = (kink.convention, hi if kink.convention == lo else lo)
    return hit


def expected_from_trace(case: OracleCase, ref) -> Expected:
    """The answers of one case from the reference's record of it (z, a, δ, cost, gradients)."""
    net = case.net
    exp = Expected(ref.z, ref.a, ref.delta, ref.cost, ref.grads,
                   pending_hint_data=lambda: _hint_data(case, ref.a[-1], ref.z[-1]))
    hit = _kinks_hit(case, ref.z)
    if hit:
        def conventions():
            answers = {}
            for name, (_, other_slope) in hit.items():
                # one activation's slope changed at a time: the answers are affine in each (judge.py)
                other = reference_trace(net, case.params, case.x, case.y, kink_slopes={name: other_slope})
                answers[name] = Expected(other.z, other.a, other.delta, other.cost, other.grads)
            return answers, dict(hit)
        exp.pending_conventions = conventions
    return exp


def expected_for(case: OracleCase) -> Expected:
    """One case by the plain reference (one compilation per network shape)."""
    return expected_from_trace(case, reference_trace(case.net, case.params, case.x, case.y))


# Wider than this, a network is computed by the plain reference, one compilation per shape: padding
# [784, 30, 10] to a square 1536-wide shape, 64 networks per call, would take gigabytes for one case.
PADDED_MAX_WIDTH = 128
# A suite's narrow networks are padded to one shape per class of width (each class to its widest
# rung, and to the deepest and largest-batch rung among them): one trace and compilation per class
# instead of one per rung the cases happen to meet. Tracing the padded reference costs about a
# second a shape; computing a few dozen small networks at a larger padded shape costs far less.
WIDTH_CLASSES = (24, 96, 192)


def _shared_shapes(numbered: Sequence[tuple[int, OracleCase]]) -> dict[PaddedShape, list[tuple[int, OracleCase]]]:
    """(position, case) pairs grouped by the padded shape they are computed at."""
    groups: dict[int, list[tuple[int, OracleCase]]] = {}
    for k, c in numbered:
        width = next(w for w in WIDTH_CLASSES if max(c.net.sizes) <= w)
        groups.setdefault(width, []).append((k, c))
    shapes = {}
    for width, members in groups.items():
        rungs = [shape_for(c.net, c.m) for _, c in members]
        shapes[PaddedShape(max(r.depth for r in rungs), width, max(r.batch for r in rungs))] = members
    return shapes


def expected_for_cases(cases: Sequence[OracleCase]) -> list[Expected]:
    """Many cases by the padded reference (it agrees with the plain reference to rounding,
    tests/reference/test_padded_reference.py), the few wide ones by the plain reference; or, where
    the answers to these very cases are kept (bp_oracle/answer_cache.py), from there."""
    kept = answer_cache.load(cases)
    if kept is not None:
        return [expected_from_trace(c, t) for c, t in zip(cases, kept)]
    computed = reference_answers(cases)
    answer_cache.store(cases, computed)
    return [expected_from_trace(c, t) for c, t in zip(cases, computed)]


def reference_answers(cases: Sequence[OracleCase]) -> list:
    """The reference's trace of every case, computed now (no kept answers): padded where narrow."""
    traces = {}  # by position: one list may hold a case twice, its numbers rounded to two dtypes
    narrow = {k: c for k, c in enumerate(cases) if max(c.net.sizes) <= PADDED_MAX_WIDTH}
    for shape, members in _shared_shapes(list(narrow.items())).items():
        found = padded_reference_traces([(c.net, c.params, c.x, c.y) for _, c in members], shape=shape)
        traces.update(zip((k for k, _ in members), found))
    return [traces[k] if k in traces else reference_trace(c.net, c.params, c.x, c.y) for k, c in enumerate(cases)]


# --- to and from JSON (the vector files) -----------------------------------------------------


def _rows(arr: np.ndarray):
    return np.asarray(arr, dtype=np.float64).tolist()


def expected_to_json(e: Expected) -> dict:
    e.with_hint_data().with_conventions()
    out = {
        "z": [_rows(v) for v in e.z], "a": [_rows(v) for v in e.a],
        "deltas": [_rows(v) for v in e.delta], "cost": float(e.cost),
        "grads": [{"W": _rows(W), "b": _rows(b)} for W, b in e.grads],
    }
    # hint data only where finite: ∇_a C is infinite where an output rounds to 0 or 1 under
    # cross-entropy, and JSON has no Infinity; a hint simply is not offered there
    if e.grad_a_cost is not None and np.all(np.isfinite(e.grad_a_cost)):
        out["grad_a_cost"] = _rows(e.grad_a_cost)
    if e.sigma_prime_L is not None and np.all(np.isfinite(e.sigma_prime_L)):
        out["sigma_prime_L"] = _rows(e.sigma_prime_L)
    if e.conventions:
        out["conventions"] = {k: expected_to_json(v) for k, v in sorted(e.conventions.items())}
        out["kink_slopes"] = {k: list(v) for k, v in sorted(e.kink_slopes.items())}
    return out


def expected_from_json(d: dict) -> Expected:
    arr = partial(np.asarray, dtype=np.float64)
    return Expected(
        [arr(v) for v in d["z"]], [arr(v) for v in d["a"]], [arr(v) for v in d["deltas"]],
        float(d["cost"]), [Layer(arr(g["W"]), arr(g["b"])) for g in d["grads"]],
        arr(d["grad_a_cost"]) if "grad_a_cost" in d else None,
        arr(d["sigma_prime_L"]) if "sigma_prime_L" in d else None,
        {k: expected_from_json(v) for k, v in d.get("conventions", {}).items()},
        {k: (float(v[0]), float(v[1])) for k, v in d.get("kink_slopes", {}).items()})
