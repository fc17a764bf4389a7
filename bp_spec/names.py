"""The names a network is written in: its activations and costs, and what the spec says of each.

This is the vocabulary both sides share, with no math in it. An activation's entry says where
σ maps (a cost that takes ln a needs (0, 1)), where σ has kinks and which derivative the spec
takes there, and whether σ may only sit on the output layer. A cost's entry says which output
activations it admits, what targets y it takes, and with which output activations BP1 simplifies
(Nielsen, ch. 3: δ^L = a − y). manual_bp's NumPy functions and autodiff_ref's jax functions are
looked up by these names; registering a new activation or cost starts here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

# The built-in activations' parameters: part of their definition, so both sides read them here.
LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0

# d|w|/dw at w = 0, for the L1 term l1 Σ|w|: the spec takes +1 there (as jax does).
L1_SLOPE_AT_ZERO = 1.0


@dataclass(frozen=True)
class Kink:
    """A point where σ is not differentiable: its one-sided slopes, and the value σ'(at) the
    spec (and the reference, jax) takes there. Any slope between `left` and `right` is a
    subgradient. A user's activation may declare a kink's place alone (slopes None)."""

    at: float
    left: Optional[float] = None
    right: Optional[float] = None
    convention: Optional[float] = None

    @property
    def slopes_known(self) -> bool:
        return None not in (self.left, self.right, self.convention)

    @property
    def subgradients(self) -> tuple[float, float]:
        """The closed interval of slopes between the one-sided ones."""
        return (min(self.left, self.right), max(self.left, self.right))


@dataclass(frozen=True)
class ActivationSpec:
    """An activation's name and what the spec says of it.

    Arguments:
        name: the name used in a `Network`.
        output_range: the open interval σ maps into.
        kinks: the points where σ is not differentiable.
        output_only: σ couples the neurons of a layer (softmax): allowed on the output layer only,
            where BP1 takes its Jacobian form; BP2's Hadamard product does not cover it.
    """

    name: str
    output_range: tuple[float, float] = (-math.inf, math.inf)
    kinks: tuple[Kink, ...] = ()
    output_only: bool = False


TARGET_KINDS = ("real", "unit", "distribution")


@dataclass(frozen=True)
class CostSpec:
    """A per-example cost's name and what the spec says of it.

    Arguments:
        name: the name used in a `Network`.
        targets: what y may be: "real" (any finite number), "unit" (each y_j in [0, 1]) or
            "distribution" (each row non-negative and summing to 1, e.g. one-hot).
        output_activations: the output activations it admits, or None for any whose range fits.
        needs_output_in_unit_interval: the cost takes ln a or ln(1 − a).
        simplified_outputs: output activations with which BP1 simplifies so that nothing divides
            by the outputs (cross-entropy on sigmoid: δ^L = a − y, ch. 3, eq. 66).
    """

    name: str
    targets: str = "real"
    output_activations: Optional[frozenset[str]] = None
    needs_output_in_unit_interval: bool = False
    simplified_outputs: frozenset[str] = frozenset()

    def __post_init__(self):
        if self.targets not in TARGET_KINDS:
            raise ValueError(f"cost {self.name!r}: targets must be one of {', '.join(TARGET_KINDS)}, "
                             f"got {self.targets!r}")


ACTIVATIONS: dict[str, ActivationSpec] = {
    a.name: a
    for a in (
        ActivationSpec("sigmoid", output_range=(0.0, 1.0)),
        ActivationSpec("tanh", output_range=(-1.0, 1.0)),
        # relu'(0) = 0 and leaky_relu'(0) = 1: jax's conventions, which the reference follows
        ActivationSpec("relu", output_range=(0.0, math.inf), kinks=(Kink(0.0, 0.0, 1.0, 0.0),)),
        ActivationSpec("leaky_relu", kinks=(Kink(0.0, LEAKY_RELU_SLOPE, 1.0, 1.0),)),
        # elu with α = 1 has equal one-sided slopes at 0: no kink in its first derivative
        ActivationSpec("elu", output_range=(-ELU_ALPHA, math.inf)),
        ActivationSpec("softplus", output_range=(0.0, math.inf)),
        ActivationSpec("identity"),
        ActivationSpec("softmax", output_range=(0.0, 1.0), output_only=True),
    )
}

COSTS: dict[str, CostSpec] = {
    c.name: c
    for c in (
        CostSpec("quadratic"),
        CostSpec("cross_entropy", targets="unit", needs_output_in_unit_interval=True,
                 simplified_outputs=frozenset({"sigmoid", "softmax"})),
        CostSpec("log_likelihood", targets="distribution", needs_output_in_unit_interval=True,
                 output_activations=frozenset({"softmax", "sigmoid"}),
                 simplified_outputs=frozenset({"softmax", "sigmoid"})),
    )
}


def get_activation_spec(name) -> ActivationSpec:
    """The activation registered as `name`, or a ValueError that lists the known names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


def get_cost_spec(name) -> CostSpec:
    """The cost registered as `name`, or a ValueError that lists the known names."""
    try:
        return COSTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cost {name!r}; known: {', '.join(COSTS)}") from None


def hidden_activations() -> list[str]:
    """The activations a hidden layer may use (all but the output-only ones)."""
    return [name for name, spec in ACTIVATIONS.items() if not spec.output_only]


def output_only() -> frozenset[str]:
    return frozenset(name for name, spec in ACTIVATIONS.items() if spec.output_only)


def cost_fits_output(cost: str, output_activation: str) -> Optional[str]:
    """Why `cost` cannot sit on an `output_activation` layer, or None if it can."""
    c, sigma = get_cost_spec(cost), get_activation_spec(output_activation)
    if c.output_activations is not None and output_activation not in c.output_activations:
        return f"{cost} needs a {' or '.join(sorted(c.output_activations))} output layer, got {output_activation}"
    if c.needs_output_in_unit_interval:
        lo, hi = sigma.output_range
        if lo < 0 or hi > 1:
            return (f"{cost} needs outputs in (0, 1); the output activation {output_activation} "
                    f"ranges over ({lo:g}, {hi:g}): use sigmoid or softmax")
    return None


def admissible_output_activations(cost: str) -> list[str]:
    """The registered activations that may feed `cost` at the output layer."""
    return [name for name in ACTIVATIONS if cost_fits_output(cost, name) is None]


def _check_new(registry: dict, name, what: str, replace: bool) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{what} names must be identifiers, got {name!r}")
    if name in registry and not replace:
        raise ValueError(f"{what} {name!r} is already registered")


def register_activation_spec(spec: ActivationSpec, *, replace: bool = False) -> None:
    """Add an activation's name to the vocabulary (each side then registers its function)."""
    if not isinstance(spec, ActivationSpec):
        raise TypeError(f"register_activation_spec needs an ActivationSpec, got {type(spec).__name__}")
    _check_new(ACTIVATIONS, spec.name, "activation", replace)
    ACTIVATIONS[spec.name] = spec


def register_cost_spec(spec: CostSpec, *, replace: bool = False) -> None:
    """Add a cost's name to the vocabulary (each side then registers its function)."""
    if not isinstance(spec, CostSpec):
        raise TypeError(f"register_cost_spec needs a CostSpec, got {type(spec).__name__}")
    _check_new(COSTS, spec.name, "cost", replace)
    COSTS[spec.name] = spec
