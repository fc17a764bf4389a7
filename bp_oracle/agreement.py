"""Compare a candidate's record (z, a, δ, cost, gradients) with the reference's, tensor by tensor,
each check labelled with the equation it tests.

Both `manual_bp.Trace` and `autodiff_ref.ReferenceTrace` have the fields this reads (z, a, delta,
cost, grads); a candidate that gives only gradients passes `None` for the rest.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np

from .tolerance import Comparison, Tolerance, compare_many


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
    return agreements([(got, expected, tol)])[0]


def agreements(items: Sequence[tuple]) -> list[list[Check]]:
    """`agreement` of every (got, expected, tol), the very same checks, all tensors of all of them
    judged in one `compare_many` (a sweep's block of 128 networks: 86 → 63 µs a network, timeit)."""
    per_item = [_judged(got, expected) for got, expected, _ in items]
    tols = [tol for (_, _, tol), judged in zip(items, per_item) for _ in judged]
    comparisons = iter(compare_many([(g, e) for judged in per_item for *_, g, e in judged], tols))
    return [[Check(q, l, eq, next(comparisons)) for q, l, eq, _, _ in judged] for judged in per_item]


def _judged(got, expected) -> list[tuple]:
    """(quantity, layer, equation, got, expected) of every tensor `got` has, in dependency order."""
    L = len(expected.grads)
    judged: list[tuple] = []
    for name in ("z", "a"):
        values = getattr(got, name, None)
        if values is not None:
            for l, (g, e) in enumerate(zip(values, getattr(expected, name)), start=1):
                judged.append((name, l, "forward", g, e))
    cost = getattr(got, "cost", None)
    if cost is not None:
        judged.append(("cost", None, "forward", np.float64(cost), np.float64(expected.cost)))
    deltas = getattr(got, "delta", None)
    if deltas is not None:
        for l in range(L, 0, -1):  # BP1 first, then BP2 backwards: the order errors propagate in
            judged.append(("delta", l, delta_equation(l, L), deltas[l - 1], expected.delta[l - 1]))
    for l in range(L, 0, -1):
        judged.append(("dC/db", l, "BP3", got.grads[l - 1][1], expected.grads[l - 1][1]))
    for l in range(L, 0, -1):
        judged.append(("dC/dW", l, "BP4", got.grads[l - 1][0], expected.grads[l - 1][0]))
    return judged


def tensor_of(record, quantity: str, layer: Optional[int]) -> np.ndarray:
    """The tensor a check judges, taken from a record (z, a, delta, cost, grads), as float64."""
    if quantity == "cost":
        value = record.cost
    elif quantity in ("z", "a", "delta"):
        value = getattr(record, quantity)[layer - 1]
    else:
        value = record.grads[layer - 1][0 if quantity == "dC/dW" else 1]
    return np.asarray(value, dtype=np.float64)


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


class GradientsOnly(NamedTuple):
    """A candidate that reports gradients alone."""

    grads: list
