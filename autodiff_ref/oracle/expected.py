"""The expected answers for a case, computed by the jax.grad reference in float64.

Besides z, a, δ, the cost and the gradients, an `Expected` carries what the judge needs to
recognise known bugs without running anything: ∇_a C_x per example (for "σ' missing in BP1")
and σ'(z^L) (for "an extra σ'"), and, for cases with a unit exactly on a kink, the answers under
the other derivative convention (relu'(0) = 1, leaky_relu'(0) = 0.01), which are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from manual_bp.network import Layer

from ..padded import padded_reference_traces
from ..reference import JAX_ACTIVATIONS, _trace, reference_trace
from .suites import OracleCase

# The other side of each kink: `where(z >= 0, z, 0)` differentiates to 1 at z = 0, where
# jax.nn.relu gives 0; `where(z > 0, …)` gives leaky_relu the slope α at 0 instead of 1.
OTHER_KINK_CONVENTIONS = {
    "relu": ("relu'(0) = 1", lambda z: jnp.where(z >= 0, z, 0.0)),
    "leaky_relu": ("leaky_relu'(0) = 0.01", lambda z: jnp.where(z > 0, z, 0.01 * z)),
}
for _name, (_label, _fn) in OTHER_KINK_CONVENTIONS.items():
    JAX_ACTIVATIONS.setdefault(f"{_name}@other-kink", _fn)

# ∇_a C_x of each cost written in a alone (the reference takes logs from z instead)
COST_OF_OUTPUT = {
    "quadratic": lambda a, y: 0.5 * jnp.sum((a - y) ** 2),
    "cross_entropy": lambda a, y: -jnp.sum(jnp.where(y == 0, 0.0, y * jnp.log(a))
                                           + jnp.where(y == 1, 0.0, (1 - y) * jnp.log1p(-a))),
    "log_likelihood": lambda a, y: -jnp.sum(jnp.where(y == 0, 0.0, y * jnp.log(a))),
}


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


def _elementwise_derivative(name: str, z: np.ndarray) -> Optional[np.ndarray]:
    if name == "softmax":
        return None
    f = JAX_ACTIVATIONS[name]
    return np.asarray(jax.vmap(jax.vmap(jax.grad(f)))(jnp.asarray(z)))


def _hint_data(case: OracleCase, a_L: np.ndarray, z_L: np.ndarray) -> tuple:
    """∇_a C_x per example (by jax.grad of the cost written in a) and σ'(z^L)."""
    grad_a = None
    if case.net.cost in COST_OF_OUTPUT:
        grad_a = np.asarray(jax.vmap(jax.grad(COST_OF_OUTPUT[case.net.cost]))(jnp.asarray(a_L), jnp.asarray(case.y)))
    return grad_a, _elementwise_derivative(case.net.activations[-1], z_L)


def _on_kink(case: OracleCase, z: list[np.ndarray]) -> list[str]:
    """Names of kinked activations with a pre-activation exactly on the kink."""
    return [name for name, z_l in zip(case.net.activations, z)
            if name in OTHER_KINK_CONVENTIONS and np.any(z_l == 0.0)]


def _from_trace(case: OracleCase, ref) -> Expected:
    net = case.net
    exp = Expected(ref.z, ref.a, ref.delta, ref.cost, ref.grads,
                   pending_hint_data=lambda: _hint_data(case, ref.a[-1], ref.z[-1]))
    kinked = _on_kink(case, ref.z)
    if kinked:
        other = tuple(f"{a}@other-kink" if a in kinked else a for a in net.activations)
        label = " and ".join(OTHER_KINK_CONVENTIONS[a][0] for a in dict.fromkeys(kinked))
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in case.params]
        zs, as_, deltas, C, grads = _trace(other, net.cost, params, jnp.asarray(case.x),
                                           jnp.asarray(case.y), net.l2, net.l1)
        exp.conventions[label] = Expected(
            [np.asarray(v) for v in zs], [np.asarray(v) for v in as_], [np.asarray(v) for v in deltas],
            float(C), [Layer(np.asarray(gW), np.asarray(gb)) for gW, gb in grads])
    return exp


def expected_for(case: OracleCase) -> Expected:
    """One case by the plain reference (one compilation per network shape)."""
    return _from_trace(case, reference_trace(case.net, case.params, case.x, case.y))


def expected_for_cases(cases: Sequence[OracleCase]) -> list[Expected]:
    """Many cases by the padded reference (a handful of compilations for a whole suite); it agrees
    with the plain reference to rounding (tests/test_padded_reference.py)."""
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
