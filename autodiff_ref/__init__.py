"""autodiff_ref: the float64 jax.grad reference that manual_bp is proven against.

Every public function computes in float64 (jax's x64 on around its own work only): importing or
using the reference leaves jax's configuration as it found it (`_x64.py`).
"""

from ._x64 import in_float64
from .reference import (ReferenceTrace, reference_cost, reference_forward, reference_gradients,
                        reference_trace)
from .witnesses import FiniteDifferences, finite_difference_gradients, forward_mode_gradients

__all__ = [
    "FiniteDifferences", "ReferenceTrace", "in_float64", "reference_forward", "finite_difference_gradients",
    "forward_mode_gradients", "reference_cost", "reference_gradients",
    "reference_trace",
]
