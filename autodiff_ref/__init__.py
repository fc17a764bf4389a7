"""autodiff_ref: the float64 jax.grad reference that manual_bp is proven against.

Importing it turns on jax's float64 mode before any array is built.
"""

from . import _x64  # noqa: F401  (first: float64 on before anything else touches jax)
from .reference import (ReferenceTrace, reference_cost, reference_gradients, reference_trace)
from .witnesses import (FiniteDifferences, finite_difference_gradients, forward_mode_gradients,
                        near_kink)

__all__ = [
    "FiniteDifferences", "ReferenceTrace", "finite_difference_gradients",
    "forward_mode_gradients", "near_kink", "reference_cost", "reference_gradients",
    "reference_trace",
]
