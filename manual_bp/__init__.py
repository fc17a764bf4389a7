"""manual_bp: backpropagation's four equations (BP1–BP4) written by hand in NumPy.

Importing this package never imports jax: it is the hand-written side of the proof.
"""

from .activations import ACTIVATIONS, Activation, get_activation, register_activation
from .backprop import (Trace, backprop, backprop_per_example, backprop_trace, feedforward,
                       output_layer_error, total_cost)
from .costs import COSTS, Cost, get_cost, register_cost
from .equations import (backpropagate_error, bias_gradient, output_error,
                        regularisation_gradient, weight_gradient)
from .network import Layer, Network

__all__ = [
    "ACTIVATIONS", "COSTS", "Activation", "Cost", "Layer", "Network", "Trace",
    "backprop", "backprop_per_example", "backprop_trace", "backpropagate_error", "bias_gradient",
    "feedforward", "get_activation", "get_cost", "output_error", "output_layer_error",
    "register_activation", "register_cost", "regularisation_gradient", "total_cost",
    "weight_gradient",
]
__version__ = "0.1.0"
