"""The tolerance policy: per tensor, normwise, with an absolute floor.

    accept  ⇔  max|got − expected| ≤ rtol · max|expected| + atol

Why this form: a bare per-element rtol fails whenever an entry cancels to near zero (its
relative error is then large while its absolute error is still at rounding level), so it is
flaky on correct code. Measuring the worst entry against the largest entry of the same tensor
asks for what backprop actually guarantees: errors at rounding level relative to the tensor's
scale. The atol floor covers tensors that are exactly or nearly zero (dead ReLUs, a − y = 0),
where rounding residues of 1e-17 would otherwise fail against max|expected| = 0.

The float64 numbers are justified by measurement (README, "Tolerance policy"): on correct code
the worst normwise error seen is about 1e-14, so rtol = 1e-9 leaves 10⁵ of margin, while an
error of 1e-7 relative in one layer is still 100× over it and fails. The lower-precision rows
are the same policy with rtol set from their unit roundoff (see `derived_tolerance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def bound(self, expected: np.ndarray) -> float:
        scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
        return self.rtol * scale + self.atol


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-9, atol=1e-12),
    "float32": Tolerance(rtol=2e-4, atol=1e-6),
}


def tolerance_for(dtype) -> Tolerance:
    name = np.dtype(dtype).name
    try:
        return TOLERANCES[name]
    except KeyError:
        raise ValueError(f"no tolerance for dtype {name}; known: {', '.join(TOLERANCES)}") from None


@dataclass(frozen=True)
class Comparison:
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
    diff = np.abs(got - expected)
    diff = np.where(np.isfinite(diff), diff, np.inf)
    flat = int(np.argmax(diff))
    index = tuple(int(i) for i in np.unravel_index(flat, got.shape))
    error = float(diff.flat[flat])
    return Comparison(error <= bound, error, bound, index, float(got.flat[flat]), float(expected.flat[flat]))
