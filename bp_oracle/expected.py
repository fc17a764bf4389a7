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

from autodiff_ref.padded import padded_reference_traces
from autodiff_ref.reference import (COST_TERMS, activation_derivative, cost_gradient_wrt_output,
                                    reference_trace)
from bp_spec import Layer, get_activation_spec

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
    conventions: dict[str, "Expected"] = field(default_factory=dict)
    pending_hint_data: Optional[Callable[[], tuple]] = field(default=None, repr=False, compare=False)

    def with_hint_data(self) -> "Expected":
        if self.pending_hint_data is not None:
            self.grad_a_cost, self.sigma_prime_L = self.pending_hint_data()
            self.pending_hint_data = None
        return self


def _hint_data(case: OracleCase, a_L: np.ndarray, z_L: np.ndarray) -> tuple:
    """∇_a C_x per example and σ'(z^L) (for an elementwise output), both by the reference."""
    net = case.net
    grad_a = cost_gradient_wrt_output(net.cost, a_L, case.y) if net.cost in COST_TERMS else None
    output = net.activations[-1]
    sigma_prime = None if get_activation_spec(output).output_only else activation_derivative(output, z_L)
    return grad_a, sigma_prime


def _other_slopes(case: OracleCase, z: list[np.ndarray]) -> dict[str, float]:
    """For each kinked activation with a pre-activation exactly on its kink: the one-sided slope
    that is not the spec's convention there (an implementation may take either side)."""
    other = {}
    for name, z_l in zip(case.net.activations, z):
        for kink in get_activation_spec(name).kinks:
            if kink.slopes_known and np.any(z_l == kink.at):
                other[name] = kink.right if kink.convention == kink.left else kink.left
    return other


def _from_trace(case: OracleCase, ref) -> Expected:
    net = case.net
    exp = Expected(ref.z, ref.a, ref.delta, ref.cost, ref.grads,
                   pending_hint_data=lambda: _hint_data(case, ref.a[-1], ref.z[-1]))
    slopes = _other_slopes(case, ref.z)
    if slopes:
        label = " and ".join(f"{name}'({get_activation_spec(name).kinks[0].at:g}) = {slope:g}"
                             for name, slope in slopes.items())
        other = reference_trace(net, case.params, case.x, case.y, kink_slopes=slopes)
        exp.conventions[label] = Expected(other.z, other.a, other.delta, other.cost, other.grads)
    return exp


def expected_for(case: OracleCase) -> Expected:
    """One case by the plain reference (one compilation per network shape)."""
    return _from_trace(case, reference_trace(case.net, case.params, case.x, case.y))


def expected_for_cases(cases: Sequence[OracleCase]) -> list[Expected]:
    """Many cases by the padded reference (a handful of compilations for a whole suite); it agrees
    with the plain reference to rounding (tests/reference/test_padded_reference.py)."""
    traces = padded_reference_traces([(c.net, c.params, c.x, c.y) for c in cases])
    return [_from_trace(case, ref) for case, ref in zip(cases, traces)]


# --- to and from JSON (the vector files) -----------------------------------------------------


def _rows(arr: np.ndarray):
    return np.asarray(arr, dtype=np.float64).tolist()


def expected_to_json(e: Expected) -> dict:
    e.with_hint_data()
    out = {
        "z": [_rows(v) for v in e.z], "a": [_rows(v) for v in e.a],
        "deltas": [_rows(v) for v in e.delta], "cost": float(e.cost),
        "grads": [{"W": _rows(W), "b": _rows(b)} for W, b in e.grads],
    }
    if e.grad_a_cost is not None:
        out["grad_a_cost"] = _rows(e.grad_a_cost)
    if e.sigma_prime_L is not None:
        out["sigma_prime_L"] = _rows(e.sigma_prime_L)
    if e.conventions:
        out["conventions"] = {k: expected_to_json(v) for k, v in sorted(e.conventions.items())}
    return out


def expected_from_json(d: dict) -> Expected:
    arr = partial(np.asarray, dtype=np.float64)
    return Expected(
        [arr(v) for v in d["z"]], [arr(v) for v in d["a"]], [arr(v) for v in d["deltas"]],
        float(d["cost"]), [Layer(arr(g["W"]), arr(g["b"])) for g in d["grads"]],
        arr(d["grad_a_cost"]) if "grad_a_cost" in d else None,
        arr(d["sigma_prime_L"]) if "sigma_prime_L" in d else None,
        {k: expected_from_json(v) for k, v in d.get("conventions", {}).items()})
