"""bp_spec: the network definition every side shares, and nothing else.

Names of activations and costs and what the spec says of each (`names`), the `Network` spec with
its input checks (`network`), how cases are drawn (`cases`) and the plan of SGD (`schedule`).
No math: manual_bp (NumPy) and autodiff_ref (jax) each implement the functions these names stand
for, and bp_oracle judges one against the other. Imports nothing of theirs.
"""

from .cases import Case, RngDraw, make_case, random_network, targets
from .names import (ACTIVATIONS, COSTS, ELU_ALPHA, L1_SLOPE_AT_ZERO, LEAKY_RELU_SLOPE, ActivationSpec,
                    CostSpec, Kink, admissible_output_activations, get_activation_spec, get_cost_spec,
                    hidden_activations, output_only, register_activation_spec, register_cost_spec)
from .network import Layer, Network

__all__ = [
    "ACTIVATIONS", "COSTS", "ELU_ALPHA", "L1_SLOPE_AT_ZERO", "LEAKY_RELU_SLOPE", "ActivationSpec", "Case",
    "CostSpec", "Kink", "Layer", "Network", "RngDraw", "admissible_output_activations",
    "get_activation_spec", "get_cost_spec", "hidden_activations", "make_case", "output_only",
    "random_network", "register_activation_spec", "register_cost_spec", "targets",
]
