"""Where the spec's functions have kinks, and where a computation comes near one or crosses it.

A kink (names.Kink) is a point where σ is not differentiable (relu and leaky_relu at 0; |w| of the
l1 term at w = 0). Near one, finite differences mix two slopes and the derivative is a matter of
convention; on its far side, rounding has made two computations take different slopes. Both sides
of the proof and the oracle ask these questions of plain arrays, so the geometry is defined once,
here, in NumPy: no derivative is taken.
"""

from __future__ import annotations

import numpy as np

from .names import get_activation_spec
from .network import Network


def kinks_of(name: str) -> tuple[float, ...]:
    """The points where activation `name`'s derivative jumps."""
    return tuple(kink.at for kink in get_activation_spec(name).kinks)


def sides_differ(z, z_other, kink: float) -> np.ndarray:
    """Elementwise: z and z_other lie on different sides of `kink` (one on it, the other not,
    counts as different: the slope taken there is the convention, not a one-sided slope)."""
    return ((z > kink) != (z_other > kink)) | ((z < kink) != (z_other < kink))


def near_kink(net: Network, z: list, margin: float, params=None) -> bool:
    """True when a pre-activation of a kinked activation lies within `margin` of its kink, or,
    with l1 > 0 and params given, a weight lies within `margin` of 0 (|w| has a kink there):
    where finite differences and derivative conventions are not to be trusted."""
    for name, z_l in zip(net.activations, z):
        for kink in kinks_of(name):
            if np.any(np.abs(np.asarray(z_l) - kink) <= margin):
                return True
    if net.l1 and params is not None:
        return any(np.any(np.abs(np.asarray(W)) <= margin) for W, _ in params)
    return False


def crossed_kinks(net: Network, z_got, z_ref) -> list[int]:
    """Layers (1..L) where the candidate's z and the reference's z lie on different sides of a
    kink of the layer's activation: rounding moved a pre-activation across it, so the two
    computations take different slopes there, and their δ and gradients need not agree."""
    layers = []
    for l, (name, got, ref) in enumerate(zip(net.activations, z_got, z_ref), start=1):
        got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        if any(np.any(sides_differ(got, ref, kink)) for kink in kinks_of(name)):
            layers.append(l)
    return layers
