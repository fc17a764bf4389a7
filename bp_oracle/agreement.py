"""Compare a candidate's record (z, a, δ, cost, gradients) with the reference's, tensor by tensor,
each check labelled with the equation it tests.

Both `manual_bp.Trace` and `autodiff_ref.ReferenceTrace` have the fields this reads (z, a, delta,
cost, grads); a candidate that gives only gradients passes `None` for the rest.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .tolerance import Comparison, Tolerance, compare


class Check(NamedTuple):
    """One tensor judged: what it is, at which layer (1..L; None for the cost), by which equation."""

    quantity: str  # "z", "a", "cost", "delta", "dC/db", "dC/dW"
    layer: Optional[int]
    equation: str  # "forward", "BP1", "BP2", "BP3", "BP4"
    comparison: Comparison

    @property
    def ok(self) -> bool:
        return self.comparison.ok

    def describe(self) -> str:
        c = self.comparison
        where = f" at layer {self.layer}" if self.layer is not None else ""
        idx = f"[{', '.join(map(str, c.index))}]" if c.index else ""
        return (f"{self.equation} {self.quantity}{where}{idx}: got {c.got:.17g}, expected {c.expected:.17g}, "
                f"error {c.error:.3g} {'≤' if c.ok else '>'} tolerance {c.bound:.3g}")


def delta_equation(layer: int, L: int) -> str:
    """δ^L is BP1's; every hidden δ^l is BP2's."""
    return "BP1" if layer == L else "BP2"


def agreement(got, expected, tol: Tolerance) -> list[Check]:
    """Every available tensor of `got` judged against `expected`, in dependency order:
    forward (z, a, cost) → BP1/BP2 (δ) → BP3 (∂C/∂b) → BP4 (∂C/∂W)."""
    L = len(expected.grads)
    checks: list[Check] = []
    for name in ("z", "a"):
        values = getattr(got, name, None)
        if values is not None:
            for l, (g, e) in enumerate(zip(values, getattr(expected, name)), start=1):
                checks.append(Check(name, l, "forward", compare(g, e, tol)))
    cost = getattr(got, "cost", None)
    if cost is not None:
        checks.append(Check("cost", None, "forward", compare(np.float64(cost), np.float64(expected.cost), tol)))
    deltas = getattr(got, "delta", None)
    if deltas is not None:
        for l in range(L, 0, -1):  # BP1 first, then BP2 backwards: the order errors propagate in
            checks.append(Check("delta", l, delta_equation(l, L), compare(deltas[l - 1], expected.delta[l - 1], tol)))
    for l in range(L, 0, -1):
        checks.append(Check("dC/db", l, "BP3", compare(got.grads[l - 1][1], expected.grads[l - 1][1], tol)))
    for l in range(L, 0, -1):
        checks.append(Check("dC/dW", l, "BP4", compare(got.grads[l - 1][0], expected.grads[l - 1][0], tol)))
    return checks


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


class GradientsOnly(NamedTuple):
    """A candidate that reports gradients alone."""

    grads: list
